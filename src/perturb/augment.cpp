// Augmentation transform (see augment.h).
#include "sturdy/perturb/augment.h"

#include <filesystem>

#include "sturdy/core/rng.h"
#include "sturdy/perturb/recipe.h"

namespace sturdy {

std::string default_recipe_dir() {
  if (std::filesystem::is_directory("configs/perturb")) return "configs/perturb";
  return perturb::source_recipe_dir();
}

std::shared_ptr<const perturb::Lexicons> augment_lexicons(const AugmentConfig& augment) {
  return augment.lexicon_dir.empty() ? perturb::Lexicons::builtin()
                                     : perturb::Lexicons::load(perturb::LexiconPaths::from_dir(augment.lexicon_dir));
}

std::shared_ptr<const perturb::Perturber> make_augment_perturber(const AugmentConfig& augment) {
  auto lexicons = augment_lexicons(augment);
  if (!augment.recipe.empty()) {
    return std::make_shared<const perturb::Perturber>(
        perturb::Perturber::from_recipe(augment.recipe, default_recipe_dir(), lexicons));
  }
  perturb::validate_ops(augment.ops, "config", "augment.ops");  // names augment.ops[i].op in the message
  return std::make_shared<const perturb::Perturber>(augment.ops, lexicons);
}

TextTransform make_augment_transform(const Config& config) {
  if (config.augment.probability <= 0) return nullptr;
  std::shared_ptr<const perturb::Perturber> perturber = make_augment_perturber(config.augment);
  const double p = config.augment.probability;
  const uint64_t seed = config.run.seed;
  return [perturber, p, seed](std::string_view text, uint64_t id, uint64_t epoch) {
    Rng coin{seed, epoch, id, kAugmentKey};
    if (!coin.bernoulli(p)) return std::string(text);
    return perturber->apply(text, seed, epoch, id, /*view=*/0);
  };
}

TextTransform make_view_transform(const Config& config) {
  std::shared_ptr<const perturb::Perturber> perturber = make_augment_perturber(config.augment);
  const uint64_t seed = config.run.seed;
  return [perturber, seed](std::string_view text, uint64_t id, uint64_t epoch) {
    return perturber->apply(text, seed, epoch, id, /*view=*/1);
  };
}

}  // namespace sturdy
