// LM checkpoints: perplexity and next-token agreement under perturbed prompts.
//
// Alignment (docs/evaluation.md): an example's text is split at a word boundary into a
// prompt (the first max(1, floor(words · prompt_fraction)) whitespace-separated words) and a
// continuation (the rest, starting with its whitespace). Only the prompt is perturbed; the
// continuation is tokenized on its own, so the scored tokens are the same under every
// perturbation and perplexities are comparable. The model reads [bos] + prompt + continuation;
// the scored tokens are the continuation's, and the "next token" is the argmax after the
// last prompt token. Batches are built like training's (make_lm_batch): a prompt keeps at
// most its last max_length/2 tokens and the continuation at most the rest, whatever the
// prompt's length. Texts of fewer than two words are not scored.
#include <cmath>

#include <spdlog/spdlog.h>

#include "shard.h"
#include "sturdy/core/error.h"
#include "sturdy/train/loader.h"

namespace sturdy::eval::detail {

LmScores lm_scores(const EvalModel& m, const Shard& shard, double prompt_fraction, const TextOf& perturb_prompt,
                   const dist::Context& ctx) {
  torch::NoGradGuard no_grad;
  LmScores s;
  s.nll.assign(shard.n, 0.0);
  s.tokens.assign(shard.n, 0);
  s.next_token.assign(shard.n, 0);
  for (const auto& batch_examples : shard.batches) {
    // The same batches as training (make_lm_batch): the continuation's tokens and cap do not
    // depend on the prompt, so every perturbation scores exactly the same tokens.
    const int64_t b = static_cast<int64_t>(batch_examples.size());
    std::vector<LmText> texts;
    for (const Example& e : batch_examples) {
      LmText t = split_lm_text(m.tokenizer, e.text, prompt_fraction, m.max_length);
      if (perturb_prompt && !t.continuation.empty()) {
        Example prompt = e;
        prompt.text = t.prompt;
        t.prompt = perturb_prompt(prompt);
      }
      texts.push_back(std::move(t));
    }
    const Batch batch = make_lm_batch(m.tokenizer, texts, m.max_length);
    auto logp = torch::log_softmax(m.model->forward(batch.ids, batch.mask).to(torch::kFloat64), -1);  // (B,T,V)
    auto lp = logp.accessor<double, 3>();
    auto next = logp.argmax(-1);
    auto next_a = next.accessor<int64_t, 2>();
    auto labels = batch.labels.accessor<int64_t, 2>();
    for (int64_t i = 0; i < b; ++i) {
      const int64_t idx = batch_examples[i].index;
      double nll = 0;
      int64_t tokens = 0, first = -1;
      for (int64_t t = 0; t < batch.labels.size(1); ++t) {
        if (labels[i][t] == kIgnoreLabel) continue;
        if (first < 0) first = t;  // the last prompt position predicts the first continuation token
        nll -= lp[i][t][labels[i][t]];
        ++tokens;
      }
      if (tokens == 0) {
        s.next_token[idx] = -1;
        continue;
      }
      s.nll[idx] = nll;
      s.tokens[idx] = tokens;
      s.next_token[idx] = static_cast<int32_t>(next_a[i][first]);
    }
  }
  combine(s.nll, ctx);
  combine(s.tokens, ctx);
  combine(s.next_token, ctx);
  return s;
}

nlohmann::json evaluate_lm(const EvalModel& m, const Shard& shard, const Suite& suite, const dist::Context& ctx) {
  STURDY_USAGE_CHECK(m.model->config().causal, "LM evaluation needs a causal model (model.causal: true)");
  const double frac = suite.lm.prompt_fraction;
  const LmScores clean = lm_scores(m, shard, frac, nullptr, ctx);
  int64_t scored = 0;
  for (int32_t t : clean.next_token) scored += t >= 0;
  nlohmann::json r;
  r["clean"] = {{"perplexity", perplexity({clean})}, {"scored_examples", scored}};
  auto draws_of = [&](const perturb::Perturber& p, int64_t k) {
    std::vector<LmScores> draws;
    for (int64_t v = 0; v < k; ++v) {
      draws.push_back(lm_scores(
          m, shard, frac,
          [&](const Example& e) {
            return p.apply(e.text, suite.seed, 0, static_cast<uint64_t>(e.id), static_cast<uint64_t>(v));
          },
          ctx));
    }
    return draws;
  };
  r["perturbations"] = nlohmann::json::array();
  for (const auto& run : perturbation_runs(suite)) {
    const auto draws = draws_of(*run.perturber, run.k);
    r["perturbations"].push_back({{"name", run.name},
                                  {"kind", run.kind},
                                  {"rate", run.rate},
                                  {"k", run.k},
                                  {"perplexity", perplexity(draws)},
                                  {"top1_agreement", top1_agreement(clean, draws)},
                                  {"worst_case_top1_agreement", worst_case_top1_agreement(clean, draws)}});
  }
  if (const auto worst = worst_case_perturber(suite)) {
    const int64_t k = suite.worst_case.k > 0 ? suite.worst_case.k : suite.k;
    const auto draws = draws_of(*worst, k);
    r["worst_case"] = {{"recipe", suite.worst_case.recipe},
                       {"k", k},
                       {"top1_agreement", worst_case_top1_agreement(clean, draws)},
                       {"perplexity", perplexity(draws)}};
  }
  r["attacks"] = nlohmann::json::array();
  if (!suite.attacks.empty()) spdlog::info("embedding attacks are defined for classifiers; skipped for the LM head");
  return r;
}

}  // namespace sturdy::eval::detail
