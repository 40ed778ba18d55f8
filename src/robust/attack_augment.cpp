// objective.kind attack_augment (see attack_augment.h and docs/robustness.md).
#include "sturdy/robust/attack_augment.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "sturdy/core/error.h"
#include "sturdy/core/rng.h"
#include "sturdy/core/utf8.h"
#include "sturdy/perturb/augment.h"

namespace sturdy::robust {
namespace {

constexpr uint64_t kAttackRowsKey = 0x61747472;   // "attr": which examples are attacked
constexpr uint64_t kAttackEditsKey = 0x61747465;  // "atte": the candidate edits of an epoch

perturb::WordEditor make_editor(const Config& config) {
  try {
    return perturb::WordEditor(config.objective.edit_ops, config.objective.edit_draws,
                               augment_lexicons(config.augment));
  } catch (const UsageError& e) {
    throw UsageError(fmt::format("objective.edit_ops: {}", e.what()));
  }
}

// The model in eval mode for the scope (dropout off while candidates are scored), restored after.
class EvalModeScope {
 public:
  explicit EvalModeScope(Transformer& model) : model_(model), training_(model->is_training()) { model_->eval(); }
  ~EvalModeScope() { model_->train(training_); }
  EvalModeScope(const EvalModeScope&) = delete;
  EvalModeScope& operator=(const EvalModeScope&) = delete;

 private:
  Transformer& model_;
  bool training_;
};

}  // namespace

bool attack_augment_selects(uint64_t seed, double fraction, int64_t epoch, int64_t id) {
  return Rng{seed, static_cast<uint64_t>(epoch), static_cast<uint64_t>(id), kAttackRowsKey}.uniform() < fraction;
}

AttackAugment::AttackAugment(const Config& config, std::shared_ptr<const Tokenizer> tokenizer)
    : tokenizer_(std::move(tokenizer)), editor_(make_editor(config)), seed_(config.run.seed),
      fraction_(config.objective.fraction), max_word_share_(config.objective.max_word_share),
      max_length_(config.data.max_length), flood_(config.objective.flood) {
  STURDY_CHECK(tokenizer_ != nullptr, "attack_augment needs the tokenizer");
}

std::string AttackAugment::name() const { return choice_name(ObjectiveKind::kAttackAugment); }

MicroStepResult AttackAugment::micro_step(Transformer& model, const Batch& batch, double scale,
                                          const BeforeBackward& before_backward) {
  STURDY_USAGE_CHECK(batch.labels.defined() && batch.labels.dim() == 1,
                     "objective.kind attack_augment needs labelled classifier batches (model.head classifier)");
  const int64_t b = batch.ids.size(0);
  STURDY_CHECK(static_cast<int64_t>(batch.texts.size()) == b && static_cast<int64_t>(batch.example_ids.size()) == b,
               "attack_augment: a batch of {} rows with {} texts and {} ids", b, batch.texts.size(),
               batch.example_ids.size());
  std::vector<int64_t> rows;
  for (int64_t i = 0; i < b; ++i) {
    if (attack_augment_selects(seed_, fraction_, batch.epoch, batch.example_ids[static_cast<size_t>(i)])) {
      rows.push_back(i);
    }
  }
  last_.clear();
  // The clean term; its backward also leaves ∂L/∂e, which ranks the words.
  auto e = model->embed(batch.ids);
  if (!rows.empty()) e.retain_grad();
  const CeTerm clean = ce_term(model->head(model->encode(e, batch.mask), batch.mask), batch.labels, flood_);
  before_backward(rows.empty());
  (clean.objective * scale).backward();
  const double clean_sum = clean.plain.item<double>();
  if (rows.empty()) return {clean_sum, clean_sum};

  last_ = search(model, batch, rows, e.detach(), e.grad());
  std::vector<std::string> texts;
  std::vector<int32_t> labels;
  const auto label_of = batch.labels.to(torch::kCPU);
  for (const auto& a : last_) {
    if (a.edited.empty()) continue;  // nothing lowered the label's probability: no second copy
    texts.push_back(a.text);
    labels.push_back(static_cast<int32_t>(label_of[a.row].item<int64_t>()));
  }
  // When no text changed, the step has had its last backward without starting the all-reduce;
  // the trainer's allreduce() then runs all of it.
  if (texts.empty()) return {clean_sum, clean_sum};
  const Batch adv_batch = make_batch(*tokenizer_, texts, labels, max_length_);
  const auto device = batch.ids.device();
  const CeTerm adv = ce_term(model->forward(adv_batch.ids.to(device), adv_batch.mask.to(device)),
                             adv_batch.labels.to(device), flood_);
  before_backward(true);
  (adv.objective * scale).backward();
  return {clean_sum, clean_sum + adv.objective.item<double>()};
}

std::vector<AttackedExample> AttackAugment::search(Transformer& model, const Batch& batch,
                                                   const std::vector<int64_t>& rows, const torch::Tensor& embeddings,
                                                   const torch::Tensor& grad) const {
  STURDY_CHECK(grad.defined(), "attack_augment: the clean backward left no gradient on the embeddings");
  // −g·e per position: the loss rises by about this much when the token's embedding is removed.
  const auto saliency = (-(grad * embeddings).sum(-1)).to(torch::kCPU, torch::kFloat64).contiguous();
  const auto score_at = saliency.accessor<double, 2>();
  const auto lengths = batch.mask.sum(1).to(torch::kCPU, torch::kInt64);
  const auto length_at = lengths.accessor<int64_t, 1>();
  const auto label_of = batch.labels.to(torch::kCPU, torch::kInt64);
  const auto label_at = label_of.accessor<int64_t, 1>();
  const uint64_t edit_seed = hash_key({seed_, kAttackEditsKey, static_cast<uint64_t>(batch.epoch)});

  struct Work {
    perturb::WordPieces pieces;
    std::vector<std::vector<std::u32string>> edits;  // of the ranked words, in `ranked` order
  };
  std::vector<AttackedExample> out;
  std::vector<Work> work;
  std::vector<std::string> texts;  // scored in one forward
  std::vector<int64_t> label_for;  // the label each scored text is scored against
  struct Candidate {
    size_t example, word;  // index into out / its ranked words
    size_t edit;
  };
  std::vector<Candidate> candidates;  // texts[out.size() + k] is candidates[k]
  for (const int64_t row : rows) {
    AttackedExample a;
    a.row = row;
    a.id = batch.example_ids[static_cast<size_t>(row)];
    Work w{perturb::WordPieces(utf8::decode(batch.texts[static_cast<size_t>(row)])), {}};
    const auto n = static_cast<int64_t>(w.pieces.words.size());
    a.words = n;
    // Token positions of word k: from the end of word k - 1's prefix to the end of its own
    // (the gap before a word goes with it, as sentencepiece's "▁" does), cut at the row's length.
    std::vector<std::pair<double, int64_t>> scored;
    std::vector<std::vector<std::u32string>> edits_of(static_cast<size_t>(n));
    std::u32string prefix = w.pieces.gaps[0];
    int64_t start = 0;
    const int64_t length = length_at[row];
    for (int64_t k = 0; k < n && start < length; ++k) {
      prefix += w.pieces.words[static_cast<size_t>(k)];
      const auto end = std::clamp(static_cast<int64_t>(tokenizer_->encode(utf8::encode(prefix)).size()), start, length);
      auto edits = editor_.edits(w.pieces.words[static_cast<size_t>(k)], edit_seed, static_cast<uint64_t>(a.id),
                                 static_cast<uint64_t>(k));
      if (end > start && !edits.empty()) {
        double s = 0;
        for (int64_t t = start; t < end; ++t) s += score_at[row][t];
        scored.emplace_back(s, k);
        edits_of[static_cast<size_t>(k)] = std::move(edits);
      }
      start = end;
      prefix += w.pieces.gaps[static_cast<size_t>(k) + 1];
    }
    std::stable_sort(scored.begin(), scored.end(), [](const auto& x, const auto& y) { return x.first > y.first; });
    const auto budget = std::max<int64_t>(1, static_cast<int64_t>(std::floor(max_word_share_ * static_cast<double>(n))));
    for (const auto& [s, k] : scored) {
      if (static_cast<int64_t>(a.ranked.size()) >= budget) break;
      a.ranked.push_back(k);
      w.edits.push_back(std::move(edits_of[static_cast<size_t>(k)]));
    }
    a.text = batch.texts[static_cast<size_t>(row)];
    out.push_back(std::move(a));
    work.push_back(std::move(w));
  }
  // One forward: the clean texts first, then every candidate of every ranked word.
  for (size_t i = 0; i < out.size(); ++i) {
    texts.push_back(out[i].text);
    label_for.push_back(label_at[out[i].row]);
  }
  for (size_t i = 0; i < out.size(); ++i) {
    for (size_t j = 0; j < out[i].ranked.size(); ++j) {
      for (size_t c = 0; c < work[i].edits[j].size(); ++c) {
        texts.push_back(work[i].pieces.render(out[i].ranked[j], &work[i].edits[j][c]));
        label_for.push_back(label_at[out[i].row]);
        candidates.push_back({i, j, c});
      }
    }
  }
  if (candidates.empty()) return out;  // no word to edit: nothing is scored
  std::vector<double> prob(texts.size());
  {
    EvalModeScope eval_mode(model);
    c10::InferenceMode inference;
    // Rows of one token length go through the model together, unpadded (a padded batch of every
    // candidate spends most of its work on padding: candidates are as long as their sentence,
    // and sentences differ), at most kRowsPerForward at a time. A row's probability then does
    // not depend on which other rows share the batch's padding.
    const Batch scored = make_batch(*tokenizer_, texts, {}, max_length_);
    const auto device = batch.ids.device();
    const auto row_lengths = scored.mask.sum(1).to(torch::kInt64).contiguous();
    const int64_t* len = row_lengths.data_ptr<int64_t>();
    std::vector<int64_t> order(texts.size());
    std::iota(order.begin(), order.end(), int64_t{0});
    std::stable_sort(order.begin(), order.end(), [len](int64_t x, int64_t y) { return len[x] < len[y]; });
    constexpr size_t kRowsPerForward = 256;
    for (size_t begin = 0; begin < order.size();) {
      size_t end = begin;
      while (end < order.size() && end - begin < kRowsPerForward && len[order[end]] == len[order[begin]]) ++end;
      const std::vector<int64_t> members(order.begin() + static_cast<std::ptrdiff_t>(begin),
                                         order.begin() + static_cast<std::ptrdiff_t>(end));
      const auto index = torch::tensor(members, torch::kInt64);
      const auto ids = scored.ids.index_select(0, index).narrow(1, 0, std::max<int64_t>(1, len[order[begin]])).to(device);
      std::vector<int64_t> labels;
      for (const int64_t m : members) labels.push_back(label_for[static_cast<size_t>(m)]);
      const auto logits = model->forward(ids, torch::ones(ids.sizes(), ids.options().dtype(torch::kBool)));
      const auto p = torch::softmax(logits.to(torch::kFloat64), -1)
                         .gather(1, torch::tensor(labels, torch::kInt64).to(device).view({-1, 1}))
                         .to(torch::kCPU)
                         .contiguous();
      const double* data = p.data_ptr<double>();
      for (size_t r = 0; r < members.size(); ++r) prob[static_cast<size_t>(members[r])] = data[r];
      begin = end;
    }
  }
  for (size_t i = 0; i < out.size(); ++i) out[i].clean_prob = out[i].best_prob = prob[i];
  // Per ranked word, its best candidate (the first on a tie), kept when it lowers the probability.
  std::vector<std::vector<std::pair<double, size_t>>> best(out.size());
  for (size_t i = 0; i < out.size(); ++i) best[i].assign(out[i].ranked.size(), {2.0, 0});
  for (size_t k = 0; k < candidates.size(); ++k) {
    const auto& c = candidates[k];
    const double p = prob[out.size() + k];
    auto& slot = best[c.example][c.word];
    if (p < slot.first) slot = {p, c.edit};
  }
  for (size_t i = 0; i < out.size(); ++i) {
    AttackedExample& a = out[i];
    perturb::WordPieces& pieces = work[i].pieces;
    for (size_t j = 0; j < a.ranked.size(); ++j) {
      const auto [p, c] = best[i][j];
      if (p >= 2.0) continue;  // the word had no candidate
      a.best_prob = std::min(a.best_prob, p);
      if (p < a.clean_prob) {
        pieces.words[static_cast<size_t>(a.ranked[j])] = work[i].edits[j][c];
        a.edited.push_back(a.ranked[j]);
      }
    }
    std::sort(a.edited.begin(), a.edited.end());
    if (!a.edited.empty()) a.text = pieces.render();
  }
  return out;
}

}  // namespace sturdy::robust
