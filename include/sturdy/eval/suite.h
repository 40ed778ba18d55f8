// Evaluation suites: what `sturdy eval` measures, as YAML in configs/eval/NAME.yaml.
//
//   name: standard
//   seed: 1                 # perturbation / attack seed (the same for every model compared)
//   k: 5                    # draws per perturbation (worst-case@K, flip rate)
//   max_examples: 0         # 0 = the whole corpus, N = its first N examples
//   batch_size: 256         # at most this many sequences per forward
//   batch_tokens: 8192      # and at most this many tokens (sequences are grouped by length)
//   perturbations:
//     - {op: keyboard, rates: [0.05, 0.1, 0.2]}     # one op at each rate
//     - {recipe: typos, rates: [1.0]}               # a recipe, its rates scaled by each factor
//   worst_case: {recipe: mixed, k: 5}
//   attacks:
//     - {kind: pgd, norm: l2, epsilons: [0.5, 1, 2], steps: 10, step_size: 0, scope: example,
//        init: zero, init_magnitude: 0}             # step_size 0: 2.5·ε/steps
//     - {kind: pgd, norm: l2, epsilons_relative: [0.05, 0.1, 0.2], steps: 10}
//                              # ε = factor × the model's embedding scale (AttackSpec::scale_of)
//     - {kind: char_search, max_word_share: 0.3, max_queries: 500, draws: 2,
//        ops: [swap, delete, insert, keyboard, homoglyph, ocr]}   # a black-box search attack
//     - {kind: word_search, ops: [synonym, misspell], draws: 8}
//   extra_sets:
//     - {name: sst2-test, path: data/test.tsv, format: tsv, text_field: sentence, label_field: label}
//   lm: {prompt_fraction: 0.5}
//
// Loading is strict: an unknown key is a UsageError naming the file, the place and the
// closest valid key. Full description in docs/evaluation.md.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sturdy/robust/adversarial.h"

namespace sturdy::eval {

// One entry of `perturbations`: exactly one of op / recipe.
struct PerturbationSpec {
  std::string op;              // a single perturbation op (perturb::op_names())
  std::string recipe;          // or a recipe name / path
  std::vector<double> rates;   // op: the op's rate; recipe: factor on every op's rate (clamped to 1)
  int64_t k = 0;               // draws; 0 = the suite's k
  std::string name() const { return op.empty() ? recipe : op; }
};

struct WorstCaseSpec {
  std::string recipe;  // "" = no worst-case section
  int64_t k = 0;       // 0 = the suite's k
};

struct AttackSpec {
  std::string kind = "pgd";
  robust::AdvNorm norm = robust::AdvNorm::kL2;
  robust::AdvScope scope = robust::AdvScope::kExample;
  std::vector<double> epsilons;           // absolute radii
  std::vector<double> epsilons_relative;  // radii as factors of the embedding scale (scale_of)
  int64_t steps = 10;
  double step_size = 0.0;  // 0: 2.5 · ε / steps (reaches the sphere from the centre)
  robust::AdvInit init;    // random start; default none (δ₀ = 0)
  // The embedding scale a relative ε multiplies, from the clean embeddings' mean norms:
  // l2 per example: the mean Frobenius norm of an example's embeddings; l2 per token: the
  // mean l2 norm of one token's embedding; linf: that per-token norm / sqrt(dim), the size
  // of a typical coordinate.
  double scale_of(double mean_example_norm, double mean_token_norm, int64_t dim) const;
  // α for one ε.
  double step_for(double epsilon) const {
    return step_size > 0 ? step_size : 2.5 * epsilon / static_cast<double>(steps);
  }
};

// A black-box search attack (docs/evaluation.md, "Search attacks"): words ranked by how much
// deleting each lowers the model's probability of its answer (leave-one-out, every candidate
// of an example in batched forwards), then greedily, in that order, each word replaced by the
// candidate of perturb::WordEditor that lowers it most, until the answer changes or a budget
// is spent. The answer is the label (classifier) or the clean top-1 next token after the
// prompt (LM; only prompt words are edited).
struct SearchAttackSpec {
  std::string kind;              // char_search | word_search
  std::vector<std::string> ops;  // char_search: character edits; word_search: synonym, misspell
  int64_t draws = 0;             // per op and word (0: 2 for char_search, 8 for word_search)
  double max_word_share = 0.3;   // at most this share of an example's words changed (at least one word)
  int64_t max_queries = 500;     // model queries (sequences scored) per example, importance included
  // The defaults: char_search [swap, delete, insert, keyboard, homoglyph, ocr], draws 2;
  // word_search [synonym, misspell], draws 8.
  static SearchAttackSpec defaults(const std::string& kind);
};

// A fixed test set (e.g. a published adversarial set): an HDF5 corpus, or a file that
// `sturdy prepare` can import (format/text_field/label_field as in ImportOptions).
struct ExtraSetSpec {
  std::string name;
  std::string path;
  std::string format;       // "" = from the extension; h5 files are read directly
  std::string text_field;
  std::string label_field;
};

struct LmSpec {
  double prompt_fraction = 0.5;  // share of an example's words that form the (perturbed) prompt
};

struct Suite {
  std::string name = "default";
  std::string description;
  std::string origin;        // the file it came from
  uint64_t seed = 1;
  int64_t k = 5;
  int64_t max_examples = 0;
  int64_t batch_size = 256;    // sequences per forward, at most
  int64_t batch_tokens = 8192;  // tokens per forward, at most (one sequence always fits)
  std::string lexicon_dir;   // "" = built-in lexicons and /usr/share/wordnet
  std::vector<PerturbationSpec> perturbations;
  WorstCaseSpec worst_case;
  std::vector<AttackSpec> attacks;                // embedding-space PGD
  std::vector<SearchAttackSpec> search_attacks;   // the char_search / word_search entries of `attacks`
  std::vector<ExtraSetSpec> extra_sets;
  LmSpec lm;
};

// `name_or_path`: a file path when it exists or ends in .yaml/.yml; else NAME.yaml in
// ./configs/eval, then in the source tree's configs/eval. UsageError listing the suites
// found when absent.
Suite load_suite(const std::string& name_or_path);
Suite parse_suite(const std::string& yaml_text, const std::string& origin);
// Where suite names are looked up (./configs/eval when it exists, else the source tree's).
std::string default_suite_dir();

}  // namespace sturdy::eval
