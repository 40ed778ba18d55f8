// Perturber: op table, validation, and the deterministic apply loop.
#include "sturdy/perturb/perturber.h"

#include <algorithm>

#include "ops.h"
#include "sturdy/core/error.h"
#include "sturdy/core/rng.h"
#include "sturdy/core/utf8.h"

namespace sturdy::perturb {
namespace detail {

const std::vector<OpInfo>& op_table() {
  // The original 17 ops first (their names are a stable interface: recipes, configs and R.json
  // use them), then the later additions (lowercase, extra_space, contraction: the HELM
  // robustness perturbations).
  static const std::vector<OpInfo> table = {
      {"keyboard", op_keyboard, false},       {"swap", op_swap, false},
      {"delete", op_delete, false},           {"insert", op_insert, false},
      {"substitute", op_substitute, false},   {"ocr", op_ocr, false},
      {"homoglyph", op_homoglyph, false},     {"invisible", op_invisible, false},
      {"case", op_case, false},               {"space", op_space, false},
      {"punct", op_punct, false},             {"misspell", op_misspell, false},
      {"synonym", op_synonym, true},          {"word_drop", op_word_drop, false},
      {"word_swap", op_word_swap, false},     {"word_repeat", op_word_repeat, false},
      {"distractor", op_distractor, false},   {"lowercase", op_lowercase, false},
      {"extra_space", op_extra_space, false}, {"contraction", op_contraction, false},
  };
  return table;
}

}  // namespace detail

const std::vector<std::string>& op_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const auto& op : detail::op_table()) n.emplace_back(op.name);
    return n;
  }();
  return names;
}

Perturber::Perturber(std::vector<PerturbOpSpec> ops, std::shared_ptr<const Lexicons> lexicons, Mode mode)
    : specs_(std::move(ops)), lexicons_(std::move(lexicons)), mode_(mode) {
  STURDY_USAGE_CHECK(lexicons_ != nullptr, "Perturber: lexicons must not be null");
  validate_ops(specs_, "perturbation ops");
  const auto& table = detail::op_table();
  for (const auto& spec : specs_) {
    const auto it = std::find_if(table.begin(), table.end(), [&](const auto& op) { return spec.op == op.name; });
    op_index_.push_back(static_cast<int>(it - table.begin()));
    if (it->needs_wordnet) lexicons_->wordnet();  // fail now if WordNet is missing
  }
}

Perturber Perturber::from_recipe(const Recipe& recipe, std::shared_ptr<const Lexicons> lexicons) {
  return Perturber(recipe.ops, std::move(lexicons), recipe.mode);
}

Perturber Perturber::from_recipe(const std::string& name_or_path, const std::string& recipe_dir,
                                 std::shared_ptr<const Lexicons> lexicons) {
  return from_recipe(load_recipe(name_or_path, recipe_dir), std::move(lexicons));
}

std::u32string Perturber::apply(std::u32string_view text, uint64_t seed, uint64_t epoch, uint64_t id,
                                uint64_t view, PerturbStats* stats) const {
  const auto& table = detail::op_table();
  if (stats && stats->ops.size() < specs_.size()) stats->ops.resize(specs_.size());
  std::u32string cur(text), next;
  detail::OpContext ctx(*lexicons_);  // one scratch context for all ops of this call
  auto run = [&](size_t j) {
    if (specs_[j].rate <= 0.0) return;  // rate 0 is the identity, and costs nothing
    ctx.reset(Rng{seed, epoch, id, view, j}, specs_[j].rate);
    table[op_index_[j]].fn(cur, next, ctx);
    cur.swap(next);
    if (stats) {
      stats->ops[j].eligible += ctx.eligible;
      stats->ops[j].touched += ctx.touched;
    }
  };
  if (mode_ == Mode::kAll) {
    for (size_t j = 0; j < specs_.size(); ++j) run(j);
  } else if (!specs_.empty()) {
    Rng choose{seed, epoch, id, view, kChooseOpKey};
    run(choose.below(specs_.size()));
  }
  return cur;
}

std::string Perturber::apply(std::string_view text, uint64_t seed, uint64_t epoch, uint64_t id, uint64_t view,
                             PerturbStats* stats) const {
  // utf8::decode maps each invalid byte to U+FFFD: invalid input is sanitised, then perturbed.
  return utf8::encode(apply(std::u32string_view(utf8::decode(text)), seed, epoch, id, view, stats));
}

}  // namespace sturdy::perturb
