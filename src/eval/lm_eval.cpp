// LM checkpoints: perplexity and next-token agreement under perturbed prompts.
//
// Alignment (docs/evaluation.md): an example's text is split at a word boundary into a
// prompt (the first max(1, floor(words · prompt_fraction)) whitespace-separated words) and a
// continuation (the rest, starting with its whitespace). Only the prompt is perturbed; the
// continuation is tokenized on its own, so the scored tokens are the same under every
// perturbation and perplexities are comparable. The model reads [bos] + prompt + continuation;
// the scored tokens are the continuation's, and the "next token" is the argmax after the
// last prompt token. A prompt keeps at most its last max_length/2 tokens; the continuation
// is cut to fill max_length. Texts of fewer than two words are not scored.
#include <cmath>

#include <spdlog/spdlog.h>

#include "shard.h"
#include "sturdy/core/error.h"
#include "sturdy/text/prompt.h"

namespace sturdy::eval::detail {

LmScores lm_scores(const EvalModel& m, const Shard& shard, double prompt_fraction, const TextOf& perturb_prompt,
                   const dist::Context& ctx) {
  torch::NoGradGuard no_grad;
  LmScores s;
  s.nll.assign(shard.n, 0.0);
  s.tokens.assign(shard.n, 0);
  s.next_token.assign(shard.n, 0);
  std::vector<int32_t> scored(shard.n, 0);
  const int64_t max_prompt = std::max<int64_t>(1, m.max_length / 2);
  const int32_t bos = m.tokenizer.bos_id();
  for (const auto& batch_examples : shard.batches) {
    const int64_t b = static_cast<int64_t>(batch_examples.size());
    std::vector<std::vector<int32_t>> seqs(b);
    std::vector<int64_t> prompt_len(b, 0), cont_len(b, 0);
    int64_t longest = 1;
    for (int64_t i = 0; i < b; ++i) {
      const Example& e = batch_examples[i];
      const size_t cut = prompt_end(e.text, prompt_fraction);
      if (cut == 0) continue;
      Example prompt = e;
      prompt.text = e.text.substr(0, cut);
      std::vector<int32_t> p = m.tokenizer.encode(perturb_prompt ? perturb_prompt(prompt) : prompt.text);
      if (bos >= 0) p.insert(p.begin(), bos);
      if (static_cast<int64_t>(p.size()) > max_prompt) p.erase(p.begin(), p.end() - max_prompt);
      std::vector<int32_t> c = m.tokenizer.encode(std::string_view(e.text).substr(cut));
      const int64_t room = m.max_length - static_cast<int64_t>(p.size());
      if (static_cast<int64_t>(c.size()) > room) c.resize(room);
      if (p.empty() || c.empty()) continue;
      prompt_len[i] = static_cast<int64_t>(p.size());
      cont_len[i] = static_cast<int64_t>(c.size());
      seqs[i] = std::move(p);
      seqs[i].insert(seqs[i].end(), c.begin(), c.end());
      longest = std::max<int64_t>(longest, static_cast<int64_t>(seqs[i].size()));
    }
    auto ids = torch::full({b, longest}, m.tokenizer.pad_id(), torch::kInt64);
    auto mask = torch::zeros({b, longest}, torch::kBool);
    auto ids_a = ids.accessor<int64_t, 2>();
    auto mask_a = mask.accessor<bool, 2>();
    for (int64_t i = 0; i < b; ++i) {
      for (size_t t = 0; t < seqs[i].size(); ++t) {
        ids_a[i][t] = seqs[i][t];
        mask_a[i][t] = true;
      }
      if (seqs[i].empty()) mask_a[i][0] = true;  // unscored row: one pad token
    }
    auto logp = torch::log_softmax(m.model->forward(ids, mask).to(torch::kFloat64), -1);  // (B,T,V)
    auto lp = logp.accessor<double, 3>();
    auto next = logp.argmax(-1);
    auto next_a = next.accessor<int64_t, 2>();
    for (int64_t i = 0; i < b; ++i) {
      const int64_t idx = batch_examples[i].index;
      if (cont_len[i] == 0) {
        s.next_token[idx] = -1;
        continue;
      }
      double nll = 0;
      for (int64_t j = 0; j < cont_len[i]; ++j) {
        const int64_t pos = prompt_len[i] - 1 + j;  // logits at pos predict token pos + 1
        nll -= lp[i][pos][seqs[i][pos + 1]];
      }
      s.nll[idx] = nll;
      s.tokens[idx] = cont_len[i];
      s.next_token[idx] = static_cast<int32_t>(next_a[i][prompt_len[i] - 1]);
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
