// Markdown report and plot-script call (see report.h).
#include "sturdy/eval/report.h"

#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "sturdy/core/error.h"
#include "sturdy/perturb/recipe.h"

namespace fs = std::filesystem;

namespace sturdy::eval {
namespace {

using nlohmann::json;

// A number with 3 decimals, "–" for a missing value.
std::string num(const json& j, const char* key, int decimals = 3) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_number()) return "–";
  return fmt::format("{:.{}f}", j[key].get<double>(), decimals);
}

std::string perturbation_key(const json& p) {
  const std::string name = p.value("name", "?");
  const double rate = p.value("rate", 0.0);
  if (p.value("kind", "op") == "recipe") return fmt::format("{} (recipe ×{:g})", name, rate);
  return fmt::format("{} @ {:g}", name, rate);
}

bool is_search(const json& a) {
  const std::string kind = a.value("kind", "pgd");
  return kind == "char_search" || kind == "word_search";
}

// A search attack's row: kind, ops and budgets.
std::string search_key(const json& a) {
  std::string ops;
  for (const auto& op : a.value("ops", json::array())) ops += (ops.empty() ? "" : ",") + op.get<std::string>();
  return fmt::format("{} ({}; ≤{:g}% words, ≤{} queries)", a.value("kind", "?"), ops,
                     100.0 * a.value("max_word_share", 0.0), a.value("max_queries", 0));
}

// A relative radius is the row key, so models of different embedding scales line up.
std::string attack_key(const json& a) {
  if (is_search(a)) return search_key(a);
  const auto rel = a.find("epsilon_relative");
  if (rel != a.end() && rel->is_number()) {
    return fmt::format("{} {} ε={:g}×scale ({} steps)", a.value("kind", "pgd"), a.value("norm", "?"),
                       rel->get<double>(), a.value("steps", 0));
  }
  return fmt::format("{} {} ε={:g} ({} steps)", a.value("kind", "pgd"), a.value("norm", "?"),
                     a.value("epsilon", 0.0), a.value("steps", 0));
}

// Keys in order of first appearance over all inputs, and the entry of each input per key.
std::vector<std::string> union_keys(const std::vector<ReportInput>& inputs, const char* list,
                                    std::string (*key_of)(const json&)) {
  std::vector<std::string> keys;
  std::set<std::string> seen;
  for (const auto& in : inputs) {
    if (!in.result.contains(list)) continue;
    for (const auto& e : in.result[list]) {
      const std::string k = key_of(e);
      if (seen.insert(k).second) keys.push_back(k);
    }
  }
  return keys;
}

const json* find_entry(const json& result, const char* list, std::string (*key_of)(const json&),
                       const std::string& key) {
  if (!result.contains(list)) return nullptr;
  for (const auto& e : result[list]) {
    if (key_of(e) == key) return &e;
  }
  return nullptr;
}

bool is_lm(const json& r) { return r.value("head", "classifier") == "lm" || r["clean"].contains("perplexity"); }

// Mean of `key` over the perturbation entries (NaN when none).
double mean_over(const json& r, const char* list, const char* key) {
  if (!r.contains(list) || r[list].empty()) return std::nan("");
  double sum = 0;
  int n = 0;
  for (const auto& e : r[list]) {
    if (e.contains(key) && e[key].is_number()) {
      sum += e[key].get<double>();
      ++n;
    }
  }
  return n == 0 ? std::nan("") : sum / n;
}

std::string fmt_or_dash(double v, int decimals = 3) {
  return std::isnan(v) ? "–" : fmt::format("{:.{}f}", v, decimals);
}

std::string header(const std::vector<ReportInput>& inputs, const std::string& first) {
  std::string h = "| " + first + " |", rule = "|---|";
  for (const auto& in : inputs) {
    h += " " + in.label + " |";
    rule += "---:|";
  }
  return h + "\n" + rule + "\n";
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

std::vector<ReportInput> read_results(const std::vector<std::string>& paths) {
  STURDY_USAGE_CHECK(!paths.empty(), "sturdy report: give at least one R.json");
  std::vector<ReportInput> inputs;
  std::map<std::string, int> used;
  for (const auto& path : paths) {
    std::ifstream f(path);
    STURDY_USAGE_CHECK(static_cast<bool>(f), "{}: cannot open", path);
    ReportInput in;
    in.path = path;
    try {
      in.result = json::parse(f);
    } catch (const json::exception& e) {
      throw UsageError(fmt::format("{}: not valid JSON: {}", path, e.what()));
    }
    STURDY_USAGE_CHECK(in.result.is_object() && in.result.contains("clean"),
                       "{}: not an evaluation result (no \"clean\" section; written by sturdy eval?)", path);
    in.label = in.result.value("run_name", "");
    if (in.label.empty() || in.label == "sturdy") {
      // RUN/checkpoints/step_X -> RUN
      const fs::path ck(in.result.value("checkpoint", path));
      in.label = ck.parent_path().parent_path().filename().string();
      if (in.label.empty()) in.label = fs::path(path).stem().string();
    }
    if (const int n = used[in.label]++; n > 0) in.label += fmt::format(" #{}", n + 1);
    inputs.push_back(std::move(in));
  }
  return inputs;
}

std::string render_markdown(const std::vector<ReportInput>& inputs, const std::vector<std::string>& images) {
  std::ostringstream md;
  const bool lm = !inputs.empty() && is_lm(inputs.front().result);
  md << "# Robustness report\n\n";
  md << fmt::format("Written by `sturdy report` from {} evaluation result(s). Definitions: docs/evaluation.md.\n\n",
                    inputs.size());

  md << "## Methods\n\n";
  md << "| method | objective | augmentation | dataset | examples | suite | seed | result |\n";
  md << "|---|---|---|---|---:|---|---:|---|\n";
  for (const auto& in : inputs) {
    const json& r = in.result;
    std::string aug = "none";
    if (r.contains("augment") && r["augment"].is_object()) {
      aug = fmt::format("{} (p={:g})", r["augment"].value("recipe", "ops"), r["augment"].value("probability", 0.0));
    }
    md << fmt::format("| {} | {} | {} | `{}` | {} | {} | {} | `{}` |\n", in.label, r.value("objective", "?"), aug,
                      r.value("dataset", "?"), r.value("num_examples", 0), r.value("suite", "?"),
                      r.value("seed", 0), in.path);
  }

  md << "\n## Summary: robustness vs training cost\n\n";
  if (lm) {
    md << "| method | clean perplexity | mean perturbed perplexity | mean top-1 agreement | train s | train tok/s |\n";
    md << "|---|---:|---:|---:|---:|---:|\n";
    for (const auto& in : inputs) {
      const json& r = in.result;
      md << fmt::format("| {} | {} | {} | {} | {} | {} |\n", in.label, num(r["clean"], "perplexity", 2),
                        fmt_or_dash(mean_over(r, "perturbations", "perplexity"), 2),
                        fmt_or_dash(mean_over(r, "perturbations", "top1_agreement")),
                        num(r.value("cost", json::object()), "train_seconds", 1),
                        num(r.value("cost", json::object()), "train_tokens_per_second", 0));
    }
  } else {
    md << "| method | clean acc | ECE | severe err | mean perturbed acc | mean worst-case@K | mean flip rate "
          "| worst case (recipe) | mean acc under attack | train s | train tok/s |\n";
    md << "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for (const auto& in : inputs) {
      const json& r = in.result;
      const json cost = r.value("cost", json::object());
      std::string wc = "–";
      if (r.contains("worst_case") && r["worst_case"].is_object()) {
        wc = fmt::format("{} ({}@{})", num(r["worst_case"], "accuracy"), r["worst_case"].value("recipe", "?"),
                         r["worst_case"].value("k", 0));
      }
      md << fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", in.label,
                        num(r["clean"], "accuracy"), num(r["clean"], "ece"), num(r["clean"], "severe_error_rate"),
                        fmt_or_dash(mean_over(r, "perturbations", "accuracy")),
                        fmt_or_dash(mean_over(r, "perturbations", "worst_case_accuracy")),
                        fmt_or_dash(mean_over(r, "perturbations", "flip_rate")), wc,
                        fmt_or_dash(mean_over(r, "attacks", "accuracy_under_attack")), num(cost, "train_seconds", 1),
                        num(cost, "train_tokens_per_second", 0));
    }
  }

  const auto pkeys = union_keys(inputs, "perturbations", perturbation_key);
  if (!pkeys.empty()) {
    if (lm) {
      md << "\n## Perturbations: perplexity / top-1 agreement\n\n";
    } else {
      md << "\n## Perturbations: accuracy / worst-case@K / flip rate\n\n"
            "Each cell: mean accuracy over K draws / share correct on the clean input and all K draws / "
            "share of draws whose prediction differs from the clean one.\n\n";
    }
    md << header(inputs, "perturbation (K)");
    for (const auto& key : pkeys) {
      std::string k_text;
      std::string row;
      for (const auto& in : inputs) {
        const json* e = find_entry(in.result, "perturbations", perturbation_key, key);
        if (!e) {
          row += " – |";
          continue;
        }
        if (k_text.empty()) k_text = fmt::format(" ({})", e->value("k", 0));
        row += lm ? fmt::format(" {} / {} |", num(*e, "perplexity", 2), num(*e, "top1_agreement"))
                  : fmt::format(" {} / {} / {} |", num(*e, "accuracy"), num(*e, "worst_case_accuracy"),
                                num(*e, "flip_rate"));
      }
      md << "| " << key << k_text << " |" << row << "\n";
    }
  }

  std::vector<std::string> akeys, skeys;
  for (const auto& key : union_keys(inputs, "attacks", attack_key)) {
    (key.find("_search (") != std::string::npos ? skeys : akeys).push_back(key);
  }
  if (!skeys.empty()) {
    md << (lm ? "\n## Search attacks: top-1 agreement under attack / success rate / words changed / queries\n\n"
              : "\n## Search attacks: accuracy under attack / success rate / words changed / queries\n\n")
       << "Black-box word-by-word searches (docs/evaluation.md, \"Search attacks\"): words changed is the mean "
          "share over successful attacks, queries the mean per attacked example.\n\n";
    md << header(inputs, "attack");
    for (const auto& key : skeys) {
      md << "| " << key << " |";
      for (const auto& in : inputs) {
        const json* e = find_entry(in.result, "attacks", attack_key, key);
        md << (e ? fmt::format(" {} / {} / {:.1f}% / {:.1f} |",
                               num(*e, lm ? "top1_agreement_under_attack" : "accuracy_under_attack"),
                               num(*e, "attack_success_rate"), 100.0 * e->value("mean_words_changed", 0.0),
                               e->value("mean_queries", 0.0))
                 : std::string(" – |"));
      }
      md << "\n";
    }
  }
  if (!akeys.empty()) {
    md << "\n## Embedding attacks: accuracy under attack / attack success rate\n\n"
          "Success rate = examples correct before the attack and wrong after it / examples correct before it.\n\n";
    md << header(inputs, "attack");
    for (const auto& key : akeys) {
      md << "| " << key << " |";
      for (const auto& in : inputs) {
        const json* e = find_entry(in.result, "attacks", attack_key, key);
        md << (e ? fmt::format(" {} / {} |", num(*e, "accuracy_under_attack"), num(*e, "attack_success_rate"))
                 : std::string(" – |"));
      }
      md << "\n";
    }
    md << "| *ε scale: mean embedding norm per example / per token* |";
    for (const auto& in : inputs) {
      const json scale = in.result.value("attack_scale", json::object());
      md << fmt::format(" {} / {} |", num(scale, "mean_example_embedding_norm", 2),
                        num(scale, "mean_token_embedding_norm", 3));
    }
    md << "\n";
  }

  auto name_key = [](const json& e) { return e.value("name", std::string("?")); };
  std::vector<std::string> xkeys;
  for (const auto& in : inputs) {
    if (!in.result.contains("extra_sets")) continue;
    for (const auto& e : in.result["extra_sets"]) {
      if (std::find(xkeys.begin(), xkeys.end(), name_key(e)) == xkeys.end()) xkeys.push_back(name_key(e));
    }
  }
  if (!xkeys.empty()) {
    md << "\n## Extra test sets: accuracy / ECE\n\n" << header(inputs, "set");
    for (const auto& key : xkeys) {
      md << "| " << key << " |";
      for (const auto& in : inputs) {
        const json* found = nullptr;
        if (in.result.contains("extra_sets")) {
          for (const auto& e : in.result["extra_sets"]) {
            if (name_key(e) == key) found = &e;
          }
        }
        md << (found ? fmt::format(" {} / {} |", num(*found, "accuracy"), num(*found, "ece")) : std::string(" – |"));
      }
      md << "\n";
    }
  }

  const bool any_gate = std::any_of(inputs.begin(), inputs.end(), [](const ReportInput& in) {
    return in.result.contains("gate") && in.result["gate"].is_object();
  });
  if (any_gate) {
    md << "\n## Gate\n\n"
          "Thresholds of a gate file (`sturdy eval --gate`, `sturdy gate`); a relative bound is the baseline's value "
          "minus or plus the allowed change.\n";
    for (const auto& in : inputs) {
      if (!in.result.contains("gate") || !in.result["gate"].is_object()) continue;
      const json& g = in.result["gate"];
      const json criteria = g.value("criteria", json::array());
      md << fmt::format("\n### {}: {}\n\n", in.label,
                        g.value("passed", false)
                            ? fmt::format("passed ({} criteria)", criteria.size())
                            : fmt::format("**FAILED** ({} of {} criteria)", g.value("failed", 0), criteria.size()));
      md << fmt::format("Gate file `{}`", g.value("file", "?"));
      if (g.contains("baseline") && g["baseline"].is_string()) md << fmt::format(", baseline `{}`", g["baseline"].get<std::string>());
      md << ".\n\n| metric | test | value | bound | baseline | result |\n|---|---|---:|---:|---:|---|\n";
      for (const auto& c : criteria) {
        const std::string test = c.value("test", "?");
        const bool lower = test == "min" || test == "max_drop_from_baseline";
        std::string test_text = fmt::format("{} {:g}", test, c.value("threshold", 0.0));
        md << fmt::format("| `{}` | {} | {} | {} {} | {} | {} |\n", c.value("metric", "?"), test_text,
                          num(c, "value", 4), lower ? "≥" : "≤", num(c, "bound", 4), num(c, "baseline", 4),
                          c.value("passed", false) ? "pass" : "**FAIL**");
      }
    }
  }

  if (!images.empty()) {
    md << "\n## Plots\n\n";
    for (const auto& img : images) md << fmt::format("![{}]({})\n\n", fs::path(img).stem().string(), img);
  }
  md << "\n## Reading this report\n\n"
        "- *Worst-case@K* counts an example only if the model is right on the clean text and on every one of "
        "the K perturbed versions: it is the accuracy a user sees when the noise is adversarially unlucky.\n"
        "- *Flip rate* is instability, independent of the label: a low flip rate with a low accuracy means the "
        "model is consistently wrong, a high one that its answer depends on the noise.\n"
        "- Compare methods at equal clean accuracy, and put the gain against the training cost column.\n";
  return md.str();
}

std::string plot_script_path() {
  if (fs::exists("scripts/plot_report.py")) return "scripts/plot_report.py";
  return (fs::path(perturb::source_recipe_dir()).parent_path().parent_path() / "scripts" / "plot_report.py")
      .string();
}

ReportFiles write_report(const std::vector<std::string>& result_paths, const std::string& output_dir) {
  const auto inputs = read_results(result_paths);
  fs::create_directories(output_dir);
  ReportFiles files;
  const char* env_python = std::getenv("STURDY_PYTHON");
  const std::string python = env_python && *env_python ? env_python : "/usr/bin/python3";
  const std::string script = plot_script_path();
  const std::vector<std::string> plot_names = {"accuracy_vs_rate.png", "attacks.png", "robustness_vs_cost.png"};
  for (const auto& name : plot_names) fs::remove(fs::path(output_dir) / name);  // no stale plots
  if (!fs::exists(script)) {
    files.plot_message = fmt::format("plot script {} not found; plots skipped", script);
  } else {
    std::string cmd = shell_quote(python) + " " + shell_quote(script) + " --output " + shell_quote(output_dir);
    for (const auto& in : inputs) cmd += " --label " + shell_quote(in.label) + " " + shell_quote(in.path);
    const int status = std::system(cmd.c_str());
    const int rc = status == -1 ? -1 : (WIFEXITED(status) ? WEXITSTATUS(status) : 128);
    if (rc == 4) {
      files.plot_message = fmt::format("matplotlib is not available to {} (apt-get install python3-matplotlib, or "
                                       "set STURDY_PYTHON); plots skipped, Markdown written",
                                       python);
    } else if (rc != 0) {
      files.plot_message = fmt::format("{} {} failed (exit {}); plots skipped, Markdown written", python, script, rc);
    }
  }
  for (const auto& name : plot_names) {
    if (fs::exists(fs::path(output_dir) / name)) files.images.push_back(name);
  }
  files.markdown = (fs::path(output_dir) / "report.md").string();
  std::ofstream md(files.markdown);
  md << render_markdown(inputs, files.images);
  if (!md) throw RuntimeError(fmt::format("{}: cannot write", files.markdown));
  return files;
}

}  // namespace sturdy::eval
