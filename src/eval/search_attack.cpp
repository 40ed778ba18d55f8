// Black-box search attacks (see search_attack.h).
#include "search_attack.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "sturdy/core/atomic_file.h"
#include "sturdy/core/error.h"
#include "sturdy/core/utf8.h"

namespace sturdy::eval::detail {
namespace {

// The probability of each sequence's answer and its argmax, for sequences batched by exact
// length (a sequence's result does not depend on its batch). Equal (sequence, answer) pairs
// are scored once.
struct Scores {
  std::vector<double> prob;
  std::vector<int32_t> argmax;
};

Scores score(const EvalModel& m, bool lm, const std::vector<std::vector<int32_t>>& seqs,
             const std::vector<int32_t>& answers, const BatchLimits& limits, EvalWork& work) {
  c10::InferenceMode inference;
  BatchInvariantGuard invariant;
  const size_t n = seqs.size();
  Scores s{std::vector<double>(n, 0.0), std::vector<int32_t>(n, 0)};
  std::vector<std::vector<int32_t>> keys(seqs);
  for (size_t i = 0; i < n; ++i) keys[i].push_back(answers[i]);
  const auto first = first_occurrences(keys);
  std::vector<int64_t> todo;
  for (size_t i = 0; i < n; ++i) {
    if (first[i] == static_cast<int64_t>(i)) todo.push_back(static_cast<int64_t>(i));
  }
  for_each_length_batch(
      seqs, limits,
      [&](const torch::Tensor& ids, const std::vector<int64_t>& members) {
        torch::Tensor logits = forward_float64(m.model, ids);
        if (lm) logits = logits.select(1, ids.size(1) - 1);  // (B, V): the next token after the prompt
        const auto probs = torch::softmax(logits, -1);
        const auto pa = probs.accessor<double, 2>();
        const auto best = probs.argmax(-1);
        const auto ba = best.accessor<int64_t, 1>();
        for (size_t r = 0; r < members.size(); ++r) {
          const int64_t i = members[r];
          s.prob[i] = pa[static_cast<int64_t>(r)][answers[i]];
          s.argmax[i] = static_cast<int32_t>(ba[static_cast<int64_t>(r)]);
        }
        work.tokens += ids.numel();
        work.forwarded += ids.size(0);
      },
      &todo);
  for (size_t i = 0; i < n; ++i) {
    if (first[i] != static_cast<int64_t>(i)) {
      s.prob[i] = s.prob[first[i]];
      s.argmax[i] = s.argmax[first[i]];
    }
  }
  work.sequences += static_cast<int64_t>(n);
  return s;
}

// One example's search.
struct Search {
  perturb::WordPieces pieces;
  std::vector<std::vector<std::u32string>> edits;  // per word (empty: not editable)
  std::vector<int64_t> order;                      // editable words, most important first
  size_t next = 0;                                  // position in `order`
  int64_t budget_words = 0, changed = 0, queries = 0;
  double prob = 0;   // current probability of the answer
  int32_t argmax = 0;
  bool done = false, success = false;
};

}  // namespace

SearchOutcome search_attack(const EvalModel& m, bool lm, const std::vector<SearchItem>& items,
                            const SequenceOf& sequence_of, const SearchAttackSpec& spec,
                            const perturb::WordEditor& editor, uint64_t seed, const BatchLimits& limits,
                            EvalWork& work) {
  const size_t n = items.size();
  std::vector<Search> searches;
  searches.reserve(n);
  for (const auto& item : items) {
    Search s{perturb::WordPieces(item.text), {}, {}, 0, 0, 0, 0, 0.0, 0, false, false};
    const auto words = static_cast<int64_t>(s.pieces.words.size());
    s.budget_words = std::max<int64_t>(1, static_cast<int64_t>(std::floor(spec.max_word_share * static_cast<double>(words))));
    for (int64_t w = 0; w < words; ++w) {
      s.edits.push_back(editor.edits(s.pieces.words[static_cast<size_t>(w)], seed, item.id, static_cast<uint64_t>(w)));
    }
    searches.push_back(std::move(s));
  }

  // The unedited texts, and the leave-one-out texts of every editable word (in text order,
  // as many as the query budget allows after the first query).
  std::vector<std::vector<int32_t>> seqs;
  std::vector<int32_t> answers;
  std::vector<std::pair<size_t, int64_t>> owner;  // (item, word; -1 = unedited)
  for (size_t i = 0; i < n; ++i) {
    Search& s = searches[i];
    seqs.push_back(sequence_of(i, s.pieces.render()));
    answers.push_back(items[i].answer);
    owner.emplace_back(i, -1);
    s.queries = 1;
    const std::u32string nothing;
    for (size_t w = 0; w < s.edits.size(); ++w) {
      if (s.edits[w].empty() || s.queries >= spec.max_queries) continue;
      seqs.push_back(sequence_of(i, s.pieces.render(static_cast<int64_t>(w), &nothing)));
      answers.push_back(items[i].answer);
      owner.emplace_back(i, static_cast<int64_t>(w));
      ++s.queries;
    }
  }
  const Scores first = score(m, lm, seqs, answers, limits, work);
  std::vector<std::vector<std::pair<double, int64_t>>> importance(n);
  for (size_t r = 0; r < seqs.size(); ++r) {
    const auto [i, w] = owner[r];
    if (w < 0) {
      searches[i].prob = first.prob[r];
      searches[i].argmax = first.argmax[r];
    } else {
      importance[i].emplace_back(first.prob[r], w);  // lower probability without it: more important
    }
  }
  for (size_t i = 0; i < n; ++i) {
    Search& s = searches[i];
    std::stable_sort(importance[i].begin(), importance[i].end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& [p, w] : importance[i]) s.order.push_back(w);
    // Already wrong (or an LM whose answer is not its own argmax): nothing to search.
    s.done = s.argmax != items[i].answer || s.order.empty();
  }

  // Greedy rounds: every active search scores the candidates of its next word.
  for (;;) {
    seqs.clear();
    answers.clear();
    std::vector<std::tuple<size_t, int64_t, size_t>> cand;  // (item, word, candidate)
    for (size_t i = 0; i < n; ++i) {
      Search& s = searches[i];
      while (!s.done) {
        if (s.next >= s.order.size() || s.changed >= s.budget_words) {
          s.done = true;
          break;
        }
        const int64_t w = s.order[s.next];
        const auto& options = s.edits[static_cast<size_t>(w)];
        if (s.queries + static_cast<int64_t>(options.size()) > spec.max_queries) {
          s.done = true;  // the next word's candidates would exceed the query budget
          break;
        }
        for (size_t c = 0; c < options.size(); ++c) {
          seqs.push_back(sequence_of(i, s.pieces.render(w, &options[c])));
          answers.push_back(items[i].answer);
          cand.emplace_back(i, w, c);
        }
        s.queries += static_cast<int64_t>(options.size());
        ++s.next;
        break;
      }
    }
    if (seqs.empty()) break;
    const Scores round = score(m, lm, seqs, answers, limits, work);
    size_t r = 0;
    while (r < cand.size()) {
      const size_t i = std::get<0>(cand[r]);
      const int64_t w = std::get<1>(cand[r]);
      size_t best = r;
      size_t end = r;
      while (end < cand.size() && std::get<0>(cand[end]) == i) {
        if (round.prob[end] < round.prob[best]) best = end;
        ++end;
      }
      Search& s = searches[i];
      if (round.prob[best] < s.prob) {
        s.pieces.words[static_cast<size_t>(w)] = s.edits[static_cast<size_t>(w)][std::get<2>(cand[best])];
        ++s.changed;
        s.prob = round.prob[best];
        s.argmax = round.argmax[best];
        if (s.argmax != items[i].answer) s.done = s.success = true;
      }
      r = end;
    }
  }

  SearchOutcome out;
  for (size_t i = 0; i < n; ++i) {
    const Search& s = searches[i];
    out.final_answer.push_back(s.argmax);
    out.success.push_back(s.success ? 1 : 0);
    out.queries.push_back(s.queries);
    out.words.push_back(static_cast<int64_t>(s.pieces.words.size()));
    out.changed.push_back(s.changed);
    out.text.push_back(s.pieces.render());
  }
  return out;
}

SearchMetrics search_metrics(const std::vector<int32_t>& attacked, const std::vector<int32_t>& success,
                             const std::vector<int32_t>& final_correct, const std::vector<int64_t>& queries,
                             const std::vector<double>& changed_share, bool over_all_examples) {
  SearchMetrics m;
  const size_t n = attacked.size();
  int64_t correct = 0, counted = 0;
  double share = 0;
  std::vector<int64_t> q;
  for (size_t i = 0; i < n; ++i) {
    if (over_all_examples || attacked[i]) {
      ++counted;
      correct += final_correct[i];
    }
    if (!attacked[i]) continue;
    ++m.attacked;
    q.push_back(queries[i]);
    if (success[i]) {
      ++m.successes;
      share += changed_share[i];
    }
  }
  m.accuracy_under_attack = counted == 0 ? 0.0 : static_cast<double>(correct) / static_cast<double>(counted);
  m.attack_success_rate = m.attacked == 0 ? 0.0 : static_cast<double>(m.successes) / static_cast<double>(m.attacked);
  m.mean_words_changed = m.successes == 0 ? 0.0 : share / static_cast<double>(m.successes);
  if (!q.empty()) {
    m.mean_queries = static_cast<double>(std::accumulate(q.begin(), q.end(), int64_t{0})) / static_cast<double>(q.size());
    std::sort(q.begin(), q.end());
    const size_t h = q.size() / 2;
    m.median_queries = q.size() % 2 ? static_cast<double>(q[h]) : 0.5 * static_cast<double>(q[h - 1] + q[h]);
  }
  return m;
}

void dump_adversarial(const std::string& path, const std::vector<AdversarialRecord>& local,
                      const dist::Context& ctx) {
  std::string mine;
  for (const auto& r : local) {
    mine += nlohmann::json{{"attack", r.attack}, {"attack_index", r.attack_index}, {"index", r.index}, {"id", r.id}, {"label", r.label},
                           {"original", r.original}, {"text", r.text}}
                .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    mine += '\n';
  }
  std::string all = mine;
  if (ctx.world_size() > 1) {
    int size = static_cast<int>(mine.size());
    std::vector<int> sizes(static_cast<size_t>(ctx.world_size()), 0), offsets(sizes.size(), 0);
    STURDY_MPI_CHECK(MPI_Gather(&size, 1, MPI_INT, sizes.data(), 1, MPI_INT, 0, ctx.world()));
    int total = 0;
    for (size_t r = 0; r < sizes.size(); ++r) {
      offsets[r] = total;
      total += sizes[r];
    }
    all.assign(ctx.is_root() ? static_cast<size_t>(total) : 0, '\0');
    STURDY_MPI_CHECK(MPI_Gatherv(mine.data(), size, MPI_CHAR, all.data(), sizes.data(), offsets.data(), MPI_CHAR, 0,
                                 ctx.world()));
  }
  if (!ctx.is_root()) return;
  // Attack order (records are appended attack by attack on every rank), then corpus order;
  // without the helper "index" field.
  std::vector<nlohmann::json> rows;
  size_t start = 0;
  while (start < all.size()) {
    const size_t end = all.find('\n', start);
    rows.push_back(nlohmann::json::parse(all.substr(start, end - start)));
    start = end + 1;
  }
  std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
    const auto ka = std::make_pair(a["attack_index"].template get<int64_t>(), a["index"].template get<int64_t>());
    const auto kb = std::make_pair(b["attack_index"].template get<int64_t>(), b["index"].template get<int64_t>());
    return ka < kb;
  });
  std::string text;
  for (auto& row : rows) {
    row.erase("index");
    row.erase("attack_index");
    text += row.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  }
  write_file_atomically(path, text);
}

namespace {

nlohmann::json spec_json(const SearchAttackSpec& spec) {
  return {{"kind", spec.kind},
          {"ops", spec.ops},
          {"draws", spec.draws},
          {"max_word_share", spec.max_word_share},
          {"max_queries", spec.max_queries}};
}

// Per-example vectors of one attack in corpus order, summed over ranks.
struct AttackVectors {
  std::vector<int32_t> attacked, success, final_correct;
  std::vector<int64_t> queries;
  std::vector<double> changed_share;
  explicit AttackVectors(int64_t n)
      : attacked(static_cast<size_t>(n), 0), success(attacked), final_correct(attacked),
        queries(static_cast<size_t>(n), 0), changed_share(static_cast<size_t>(n), 0.0) {}
  void set(int64_t index, const SearchOutcome& o, size_t i, bool correct) {
    const auto at = static_cast<size_t>(index);
    attacked[at] = 1;
    success[at] = o.success[i];
    final_correct[at] = correct ? 1 : 0;
    queries[at] = o.queries[i];
    changed_share[at] = o.words[i] == 0 ? 0.0 : static_cast<double>(o.changed[i]) / static_cast<double>(o.words[i]);
  }
  void combine(const dist::Context& ctx) {
    detail::combine(attacked, ctx);
    detail::combine(success, ctx);
    detail::combine(final_correct, ctx);
    detail::combine(queries, ctx);
    detail::combine(changed_share, ctx);
  }
};

// The position of `spec` among the suite's search attacks (the dump file's order).
int64_t position_of(const SearchAttackSpec& spec, const Suite& suite) {
  for (size_t a = 0; a < suite.search_attacks.size(); ++a) {
    if (&suite.search_attacks[a] == &spec) return static_cast<int64_t>(a);
  }
  return static_cast<int64_t>(suite.search_attacks.size());
}

void log_attack(const SearchAttackSpec& spec, const char* what, const SearchMetrics& r, double seconds) {
  spdlog::info("{} ({}): {} {:.4f}, success rate {:.4f}, {:.1f}% of words changed, {:.1f} queries per example "
               "(median {:.0f}), {:.1f} s",
               spec.kind, fmt::join(spec.ops, ","), what, r.accuracy_under_attack, r.attack_success_rate,
               100.0 * r.mean_words_changed, r.mean_queries, r.median_queries, seconds);
}


// One search attack's R.json entry: the spec, then the metrics; `answer_key` names the share
// kept (accuracy for the classifier, top-1 agreement for the LM head).
nlohmann::json result_json(const SearchAttackSpec& spec, const SearchMetrics& r, const char* answer_key,
                           double seconds, int64_t examples) {
  nlohmann::json j = spec_json(spec);
  j.update({{answer_key, r.accuracy_under_attack},
            {"attack_success_rate", r.attack_success_rate},
            {"attacked", r.attacked},
            {"successes", r.successes},
            {"mean_words_changed", r.mean_words_changed},
            {"mean_queries", r.mean_queries},
            {"median_queries", r.median_queries},
            {"seconds", seconds},
            {"examples_per_second", seconds > 0 ? static_cast<double>(examples) / seconds : 0.0}});
  return j;
}

}  // namespace

nlohmann::json classifier_search_attack(const EvalModel& m, const Shard& shard, const Predictions& clean,
                                        const SearchAttackSpec& spec, const Suite& suite, EvalWork& work,
                                        std::vector<AdversarialRecord>& records, const dist::Context& ctx) {
  const auto t0 = std::chrono::steady_clock::now();
  const perturb::WordEditor editor(spec.ops, spec.draws, perturb::Lexicons::builtin());
  std::vector<SearchItem> items;
  std::vector<size_t> local;  // shard position of each item
  for (size_t j = 0; j < shard.examples.size(); ++j) {
    const Example& e = shard.examples[j];
    const int32_t label = shard.labels[static_cast<size_t>(e.index)];
    if (clean.predicted[static_cast<size_t>(e.index)] != label) continue;  // already wrong: not attacked
    items.push_back({utf8::decode(e.text), label, static_cast<uint64_t>(e.id)});
    local.push_back(j);
  }
  const SequenceOf sequence_of = [&](size_t, const std::string& text) {
    return classifier_tokens(m.tokenizer, text, m.max_length);
  };
  const SearchOutcome o =
      search_attack(m, /*lm=*/false, items, sequence_of, spec, editor, suite.seed, {suite.batch_size, suite.batch_tokens}, work);
  AttackVectors v(shard.n);
  for (size_t j = 0; j < shard.examples.size(); ++j) {
    const Example& e = shard.examples[j];
    const size_t at = static_cast<size_t>(e.index);
    v.final_correct[at] = clean.predicted[at] == shard.labels[at] ? 1 : 0;  // overwritten for attacked examples
  }
  const int64_t attack_index = position_of(spec, suite);
  for (size_t i = 0; i < items.size(); ++i) {
    const Example& e = shard.examples[local[i]];
    v.set(e.index, o, i, o.final_answer[i] == items[i].answer);
    if (o.success[i]) {
      const int32_t label = items[i].answer;
      records.push_back({spec.kind, attack_index, e.index, e.id,
                         static_cast<size_t>(label) < m.label_names.size() ? m.label_names[static_cast<size_t>(label)]
                                                                           : std::to_string(label),
                         e.text, o.text[i]});
    }
  }
  v.combine(ctx);
  const double seconds = ctx.max(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  const SearchMetrics r = search_metrics(v.attacked, v.success, v.final_correct, v.queries, v.changed_share, true);
  log_attack(spec, "accuracy under attack", r, seconds);
  return result_json(spec, r, "accuracy_under_attack", seconds, shard.n);
}

nlohmann::json lm_search_attack(const EvalModel& m, const Shard& shard, const std::vector<LmText>& texts,
                                const std::vector<int32_t>& clean_next, const SearchAttackSpec& spec,
                                const Suite& suite, EvalWork& work, std::vector<AdversarialRecord>& records,
                                const dist::Context& ctx) {
  const auto t0 = std::chrono::steady_clock::now();
  const perturb::WordEditor editor(spec.ops, spec.draws, perturb::Lexicons::builtin());
  std::vector<SearchItem> items;
  std::vector<size_t> local;
  for (size_t j = 0; j < shard.examples.size(); ++j) {
    if (clean_next[j] < 0) continue;  // not scored (too short)
    items.push_back({utf8::decode(texts[j].prompt), clean_next[j], static_cast<uint64_t>(shard.examples[j].id)});
    local.push_back(j);
  }
  // [bos] + the prompt as the LM evaluation builds it; its last position predicts the next token.
  const SequenceOf sequence_of = [&](size_t i, const std::string& prompt) {
    LmSequence s = lm_sequence(m.tokenizer, m.tokenizer.encode(prompt), texts[local[i]].continuation, m.max_length);
    s.ids.resize(static_cast<size_t>(std::max<int64_t>(s.prompt_length, 1)));
    return s.ids;
  };
  const SearchOutcome o =
      search_attack(m, /*lm=*/true, items, sequence_of, spec, editor, suite.seed, {suite.batch_size, suite.batch_tokens}, work);
  AttackVectors v(shard.n);
  const int64_t attack_index = position_of(spec, suite);
  for (size_t i = 0; i < items.size(); ++i) {
    const Example& e = shard.examples[local[i]];
    v.set(e.index, o, i, o.final_answer[i] == items[i].answer);
    if (o.success[i]) {
      records.push_back({spec.kind, attack_index, e.index, e.id, "", texts[local[i]].prompt, o.text[i]});
    }
  }
  v.combine(ctx);
  const double seconds = ctx.max(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  const SearchMetrics r = search_metrics(v.attacked, v.success, v.final_correct, v.queries, v.changed_share, false);
  log_attack(spec, "top-1 agreement under attack", r, seconds);
  return result_json(spec, r, "top1_agreement_under_attack", seconds, shard.n);
}

}  // namespace sturdy::eval::detail
