// The perturbation engine: applies a list of ops (a recipe) to one text, deterministically.
//
// View `view` of example `id` in epoch `epoch` under op j draws its randomness from
// Rng{seed, epoch, id, view, j} and from nothing else, so the same inputs give the same
// bytes on any rank, in any thread, in any order. A Perturber is immutable after
// construction and safe to share between threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sturdy/config/config.h"
#include "sturdy/perturb/lexicons.h"
#include "sturdy/perturb/recipe.h"

namespace sturdy::perturb {

// Every op name, in the order of docs/perturbations.md.
const std::vector<std::string>& op_names();

// Counts per op of one or more apply() calls: units the op could handle, and units it changed.
struct OpStats {
  uint64_t eligible = 0;
  uint64_t touched = 0;
};
struct PerturbStats {
  std::vector<OpStats> ops;  // one per op of the Perturber, in recipe order
};

// The key of the `one_of` choice: Rng{seed, epoch, id, view, kChooseOpKey}.
inline constexpr uint64_t kChooseOpKey = ~uint64_t{0};

class Perturber {
 public:
  // Validates op names and rates (UsageError naming the op); loads WordNet now when a
  // `synonym` op is present, so a missing WordNet fails here and not mid-training.
  Perturber(std::vector<PerturbOpSpec> ops, std::shared_ptr<const Lexicons> lexicons,
            Mode mode = Mode::kAll);
  static Perturber from_recipe(const Recipe& recipe, std::shared_ptr<const Lexicons> lexicons);
  // load_recipe(name_or_path, recipe_dir), then the constructor above.
  static Perturber from_recipe(const std::string& name_or_path, const std::string& recipe_dir,
                               std::shared_ptr<const Lexicons> lexicons);

  // Perturbed copy of `text`. Invalid UTF-8 is first sanitised (each invalid byte becomes
  // U+FFFD), so the result is always valid UTF-8. `stats`, when given, is accumulated into.
  std::string apply(std::string_view text, uint64_t seed, uint64_t epoch, uint64_t id,
                    uint64_t view, PerturbStats* stats = nullptr) const;
  // The same on code points (no sanitising needed: every char32_t string is encodable).
  std::u32string apply(std::u32string_view text, uint64_t seed, uint64_t epoch, uint64_t id,
                       uint64_t view, PerturbStats* stats = nullptr) const;

  const std::vector<PerturbOpSpec>& ops() const { return specs_; }
  Mode mode() const { return mode_; }
  const Lexicons& lexicons() const { return *lexicons_; }

 private:
  std::vector<PerturbOpSpec> specs_;
  std::vector<int> op_index_;  // index into the op table, per spec
  std::shared_ptr<const Lexicons> lexicons_;
  Mode mode_;
};

}  // namespace sturdy::perturb
