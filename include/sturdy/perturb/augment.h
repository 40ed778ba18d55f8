// Text augmentation for training: the `augment:` config section as a loader transform.
//
// Example `id` in epoch `e` is perturbed with probability augment.probability, decided by
// Rng{seed, e, id, kAugmentKey}; the perturbation itself is view 0 of the recipe. Both are
// pure functions of (seed, epoch, id), so augmentation does not depend on ranks or threads.
#pragma once

#include <memory>
#include <string>

#include "sturdy/config/config.h"
#include "sturdy/perturb/perturber.h"
#include "sturdy/perturb/text_transform.h"

namespace sturdy {

inline constexpr uint64_t kAugmentKey = 0x617567ull;  // "aug"

// The lexicons of augment.lexicon_dir (the built-in ones when it is empty).
std::shared_ptr<const perturb::Lexicons> augment_lexicons(const AugmentConfig& augment);

// The perturber the augment section names (recipe or ops, lexicons from augment.lexicon_dir).
std::shared_ptr<const perturb::Perturber> make_augment_perturber(const AugmentConfig& augment);

// nullptr when augment.probability is 0.
TextTransform make_augment_transform(const Config& config);

// Always perturbs, with view 1 of the augment recipe/ops: the x̃ of the consistency objective.
TextTransform make_view_transform(const Config& config);

// Where recipe names are looked up: ./configs/perturb when it exists, else the source tree's.
std::string default_recipe_dir();

}  // namespace sturdy
