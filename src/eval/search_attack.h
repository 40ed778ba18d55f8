// Internal to src/eval: the black-box search attacks (char_search, word_search; suite.h
// SearchAttackSpec, docs/evaluation.md "Search attacks"), for the classifier and the LM head.
//
// Per example: one query for the unedited text; leave-one-out importance of every word that
// has candidate edits (one query each); then, in importance order, the word's candidates
// (perturb::WordEditor) are scored and the one that lowers the probability of the answer most
// replaces it, if it lowers it at all. The search stops when the answer changes (success),
// when max_word_share of the words are changed, when the words run out, or when the next
// word's candidates would exceed max_queries.
//
// All examples of a rank advance together, one word per round, and every round's sequences
// are scored in exact-length batches (shard.h), so an example's search depends on its own
// scores only: results are the same for any world size and batch size. Candidate edits are
// keyed by (seed, example id, word index), never by rank or order.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "shard.h"
#include "sturdy/data/loader.h"
#include "sturdy/eval/metrics.h"
#include "sturdy/eval/suite.h"
#include "sturdy/perturb/word_edits.h"

namespace sturdy::eval::detail {

// One example to attack.
struct SearchItem {
  std::u32string text;  // what the attack edits: the classifier's text, or the LM's prompt
  int32_t answer = 0;   // the label, or the clean top-1 next token
  uint64_t id = 0;      // example id (keys the edits)
};

// The sequence the model scores for an edited text of item `item` (classifier tokens, or an
// LM's [bos] + prompt, whose last position predicts the next token).
using SequenceOf = std::function<std::vector<int32_t>(size_t item, const std::string& text)>;

// Per item, in item order.
struct SearchOutcome {
  std::vector<int32_t> final_answer;  // the model's argmax for the final text
  std::vector<uint8_t> success;       // the answer changed
  std::vector<int64_t> queries;       // sequences scored for this item
  std::vector<int64_t> words;         // words in the edited text
  std::vector<int64_t> changed;       // words replaced in the final text
  std::vector<std::string> text;      // the final text (UTF-8)
};

// `lm`: read the last position of (B, L, V) logits; else the (B, C) classifier logits.
SearchOutcome search_attack(const EvalModel& m, bool lm, const std::vector<SearchItem>& items,
                            const SequenceOf& sequence_of, const SearchAttackSpec& spec,
                            const perturb::WordEditor& editor, uint64_t seed, const BatchLimits& limits,
                            EvalWork& work);

// R.json fields of one search attack from per-example vectors in corpus order (attacked: the
// examples searched; success among them; final_correct: answer kept (classifier: final
// prediction == label, for every example)). Sums and medians over the attacked examples.
struct SearchMetrics {
  double accuracy_under_attack = 0;  // classifier: share of all examples right after the attack;
                                     // LM: share of attacked examples whose top-1 is unchanged
  double attack_success_rate = 0;    // successes / attacked
  double mean_words_changed = 0;     // share of words changed, mean over successful attacks
  double mean_queries = 0;           // over attacked examples
  double median_queries = 0;
  int64_t attacked = 0;
  int64_t successes = 0;
};
SearchMetrics search_metrics(const std::vector<int32_t>& attacked, const std::vector<int32_t>& success,
                             const std::vector<int32_t>& final_correct, const std::vector<int64_t>& queries,
                             const std::vector<double>& changed_share, bool over_all_examples);

// Writes the successful adversarial texts as JSONL ({"attack", "id", "label", "original",
// "text"} per line; attacks in suite order, then corpus order), gathered on rank 0, which
// writes `path` atomically: `sturdy prepare --input path` reads it (text and label fields).
// Collective.
struct AdversarialRecord {
  std::string attack;        // the attack's kind (char_search, word_search)
  int64_t attack_index = 0;  // its position among the suite's search attacks (the file's order)
  int64_t index = 0;         // corpus position (the order within an attack)
  int64_t id = 0;
  std::string label;  // label name ("" for an LM)
  std::string original;
  std::string text;
};
void dump_adversarial(const std::string& path, const std::vector<AdversarialRecord>& local,
                      const dist::Context& ctx);

// One search attack of the suite on the classifier: every example the model gets right is
// searched; returns its R.json entry (every rank gets the same) and appends this rank's
// successful adversarial texts to `records`. Collective.
nlohmann::json classifier_search_attack(const EvalModel& m, const Shard& shard, const Predictions& clean,
                                        const SearchAttackSpec& spec, const Suite& suite, EvalWork& work,
                                        std::vector<AdversarialRecord>& records, const dist::Context& ctx);

// The same on the LM head: every scored example's prompt is searched for edits that change
// the top-1 next token (`clean_next[j]`, -1 = not scored, for local example j). Collective.
nlohmann::json lm_search_attack(const EvalModel& m, const Shard& shard, const std::vector<LmText>& texts,
                                const std::vector<int32_t>& clean_next, const SearchAttackSpec& spec,
                                const Suite& suite, EvalWork& work, std::vector<AdversarialRecord>& records,
                                const dist::Context& ctx);

}  // namespace sturdy::eval::detail
