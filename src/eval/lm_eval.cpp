// LM checkpoints: perplexity and next-token agreement under perturbed prompts.
//
// Alignment (docs/evaluation.md): an example's text is split at a word boundary into a
// prompt (the first max(1, floor(words · prompt_fraction)) whitespace-separated words) and a
// continuation (the rest, starting with its whitespace). Only the prompt is perturbed; the
// continuation is tokenized on its own, so the scored tokens are the same under every
// perturbation and perplexities are comparable. The model reads [bos] + prompt + continuation
// (lm_sequence, as in training: a prompt keeps at most its last max_length/2 tokens and the
// continuation at most the rest, whatever the prompt's length); the scored tokens are the
// continuation's, and the "next token" is the argmax after the last prompt token. Texts of
// fewer than two words are not scored. Sequences are batched by exact length like the
// classifier's (shard.h), so the scores do not depend on ranks or batch sizes.
#include <chrono>
#include <cmath>

#include <spdlog/spdlog.h>

#include "search_attack.h"
#include "shard.h"
#include "sturdy/core/error.h"
#include "sturdy/data/loader.h"

namespace sturdy::eval::detail {
namespace {

// One sequence to score: its tokens, and the first position whose next token is scored.
struct LmItem {
  std::vector<int32_t> ids;  // empty: the example is not scored
  int64_t first = -1;
  bool operator==(const LmItem& o) const { return first == o.first && ids == o.ids; }
};

// The clean split of every local example (continuation tokens are shared by every pass).
std::vector<LmText> split_all(const EvalModel& m, const Shard& shard, double prompt_fraction) {
  std::vector<LmText> texts;
  texts.reserve(shard.examples.size());
  for (const Example& e : shard.examples) {
    texts.push_back(split_lm_text(m.tokenizer, e.text, prompt_fraction, m.max_length));
  }
  return texts;
}

LmItem make_item(const EvalModel& m, const LmText& t, const std::string& prompt) {
  LmItem item;
  if (t.continuation.empty()) return item;
  LmSequence s = lm_sequence(m.tokenizer, m.tokenizer.encode(prompt), t.continuation, m.max_length);
  item.first = std::max<int64_t>(s.prompt_length, 1) - 1;
  if (item.first + 1 >= static_cast<int64_t>(s.ids.size())) return LmItem{};  // nothing left to score
  item.ids = std::move(s.ids);
  return item;
}

// Per-item NLL, scored-token count and next-token argmax (-1 for unscored items), in item
// order; items equal to an earlier one or to reference[i / k] are copied.
struct LocalScores {
  std::vector<double> nll;
  std::vector<int64_t> tokens;
  std::vector<int32_t> next_token;
};

LocalScores score(const EvalModel& m, const std::vector<LmItem>& items, const BatchLimits& limits, EvalWork& work,
                  const std::vector<LmItem>* reference = nullptr, const LocalScores* reference_scores = nullptr,
                  int64_t k = 1) {
  c10::InferenceMode inference;
  BatchInvariantGuard invariant;
  const auto t0 = std::chrono::steady_clock::now();
  const size_t n = items.size();
  LocalScores s{std::vector<double>(n, 0.0), std::vector<int64_t>(n, 0), std::vector<int32_t>(n, -1)};
  std::vector<std::vector<int32_t>> keys(n), seqs(n);
  std::vector<int64_t> from_reference(n, -1);
  for (size_t i = 0; i < n; ++i) {
    seqs[i] = items[i].ids;
    keys[i] = items[i].ids;
    keys[i].push_back(static_cast<int32_t>(items[i].first));
    if (reference && items[i] == (*reference)[i / static_cast<size_t>(k)]) {
      from_reference[i] = static_cast<int64_t>(i) / k;
    }
  }
  const auto first = first_occurrences(keys);
  std::vector<int64_t> todo;
  for (size_t i = 0; i < n; ++i) {
    if (!items[i].ids.empty() && from_reference[i] < 0 && first[i] == static_cast<int64_t>(i)) {
      todo.push_back(static_cast<int64_t>(i));
    }
  }
  for_each_length_batch(
      seqs, limits,
      [&](const torch::Tensor& ids, const std::vector<int64_t>& members) {
        const auto logp = torch::log_softmax(forward_float64(m.model, ids), -1);  // (B,L,V)
        const auto lp = logp.accessor<double, 3>();
        const auto next = logp.argmax(-1);
        const auto next_a = next.accessor<int64_t, 2>();
        const int64_t length = ids.size(1);
        for (size_t r = 0; r < members.size(); ++r) {
          const LmItem& item = items[members[r]];
          double nll = 0;
          for (int64_t t = item.first; t + 1 < length; ++t) nll -= lp[static_cast<int64_t>(r)][t][item.ids[t + 1]];
          s.nll[members[r]] = nll;
          s.tokens[members[r]] = length - 1 - item.first;
          s.next_token[members[r]] = static_cast<int32_t>(next_a[static_cast<int64_t>(r)][item.first]);
        }
        work.tokens += ids.numel();
        work.forwarded += ids.size(0);
      },
      &todo);
  for (size_t i = 0; i < n; ++i) {
    if (items[i].ids.empty()) continue;
    int64_t from = -1;
    const LocalScores* src = &s;
    if (from_reference[i] >= 0) {
      from = from_reference[i];
      src = reference_scores;
    } else if (first[i] != static_cast<int64_t>(i)) {
      from = first[i];
    }
    if (from < 0) continue;
    s.nll[i] = src->nll[from];
    s.tokens[i] = src->tokens[from];
    s.next_token[i] = src->next_token[from];
  }
  work.sequences += static_cast<int64_t>(n);
  work.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return s;
}

// Per-draw scores in corpus order (draw v of local example j at j·k + v), on every rank.
std::vector<LmScores> gather(const Shard& shard, const LocalScores& local, int64_t k, const dist::Context& ctx) {
  const int64_t n = shard.n;
  LmScores all;
  all.nll.assign(static_cast<size_t>(k * n), 0.0);
  all.tokens.assign(static_cast<size_t>(k * n), 0);
  all.next_token.assign(static_cast<size_t>(k * n), 0);
  for (size_t j = 0; j < shard.examples.size(); ++j) {
    for (int64_t v = 0; v < k; ++v) {
      const size_t from = j * static_cast<size_t>(k) + static_cast<size_t>(v);
      const size_t to = static_cast<size_t>(v * n + shard.examples[j].index);
      all.nll[to] = local.nll[from];
      all.tokens[to] = local.tokens[from];
      all.next_token[to] = local.next_token[from];
    }
  }
  combine(all.nll, ctx);
  combine(all.tokens, ctx);
  combine(all.next_token, ctx);
  std::vector<LmScores> draws(static_cast<size_t>(k));
  for (int64_t v = 0; v < k; ++v) {
    draws[v].nll.assign(all.nll.begin() + v * n, all.nll.begin() + (v + 1) * n);
    draws[v].tokens.assign(all.tokens.begin() + v * n, all.tokens.begin() + (v + 1) * n);
    draws[v].next_token.assign(all.next_token.begin() + v * n, all.next_token.begin() + (v + 1) * n);
  }
  return draws;
}

}  // namespace

nlohmann::json evaluate_lm(const EvalModel& m, const Shard& shard, const Suite& suite, EvalWork& work,
                           std::vector<AdversarialRecord>& adversarial, const dist::Context& ctx) {
  STURDY_USAGE_CHECK(m.model->config().causal, "LM evaluation needs a causal model (model.causal: true)");
  const BatchLimits limits{suite.batch_size, suite.batch_tokens};
  const std::vector<LmText> texts = split_all(m, shard, suite.lm.prompt_fraction);

  struct Pass {
    const perturb::Perturber* perturber;
    int64_t k;
  };
  const auto runs = perturbation_runs(suite);
  const auto worst = worst_case_perturber(suite);
  std::vector<Pass> passes;
  for (const auto& run : runs) passes.push_back({run.perturber.get(), run.k});
  if (worst) passes.push_back({worst.get(), suite.worst_case.k > 0 ? suite.worst_case.k : suite.k});
  // Draw v of example id perturbs the prompt: apply(prompt, seed, epoch 0, id, view v).
  PassPipeline<std::vector<LmItem>> pipeline(passes.size(), [&](size_t i) {
    std::vector<LmItem> items;
    items.reserve(texts.size() * static_cast<size_t>(passes[i].k));
    for (size_t j = 0; j < texts.size(); ++j) {
      for (int64_t v = 0; v < passes[i].k; ++v) {
        const std::string prompt =
            texts[j].continuation.empty()
                ? std::string()
                : passes[i].perturber->apply(texts[j].prompt, suite.seed, 0,
                                             static_cast<uint64_t>(shard.examples[j].id), static_cast<uint64_t>(v));
        items.push_back(make_item(m, texts[j], prompt));
      }
    }
    return items;
  });

  std::vector<LmItem> clean_items;
  for (const LmText& t : texts) clean_items.push_back(make_item(m, t, t.prompt));
  const LocalScores clean_local = score(m, clean_items, limits, work);
  const LmScores clean = gather(shard, clean_local, 1, ctx)[0];
  auto draws_of = [&](size_t i) {
    const auto items = pipeline.take(i);
    return gather(shard, score(m, items, limits, work, &clean_items, &clean_local, passes[i].k), passes[i].k, ctx);
  };

  int64_t scored = 0;
  for (int32_t t : clean.next_token) scored += t >= 0;
  nlohmann::json r;
  r["clean"] = {{"perplexity", perplexity({clean})}, {"scored_examples", scored}};
  r["perturbations"] = nlohmann::json::array();
  for (size_t i = 0; i < runs.size(); ++i) {
    const auto& run = runs[i];
    const auto draws = draws_of(i);
    r["perturbations"].push_back({{"name", run.name},
                                  {"kind", run.kind},
                                  {"rate", run.rate},
                                  {"k", run.k},
                                  {"perplexity", perplexity(draws)},
                                  {"top1_agreement", top1_agreement(clean, draws)},
                                  {"worst_case_top1_agreement", worst_case_top1_agreement(clean, draws)}});
    spdlog::info("[{}/{}] {} {} @ {}: perplexity {:.3f}, top-1 agreement {:.4f}", i + 1, passes.size(), run.kind,
                 run.name, run.rate, perplexity(draws), top1_agreement(clean, draws));
  }
  if (worst) {
    const int64_t k = passes.back().k;
    const auto draws = draws_of(passes.size() - 1);
    r["worst_case"] = {{"recipe", suite.worst_case.recipe},
                       {"k", k},
                       {"top1_agreement", worst_case_top1_agreement(clean, draws)},
                       {"perplexity", perplexity(draws)}};
  }
  r["attacks"] = nlohmann::json::array();
  if (!suite.attacks.empty()) spdlog::info("embedding attacks are defined for classifiers; skipped for the LM head");
  // Search attacks on the prompt, against the clean top-1 next token (their forwards are not
  // text passes: a separate tally).
  EvalWork search_work;
  for (const auto& spec : suite.search_attacks) {
    r["attacks"].push_back(
        lm_search_attack(m, shard, texts, clean_local.next_token, spec, suite, search_work, adversarial, ctx));
  }
  return r;
}

}  // namespace sturdy::eval::detail
