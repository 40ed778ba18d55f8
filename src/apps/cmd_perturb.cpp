// `sturdy perturb`: preview of the perturbation engine.
//
// Reads lines (stdin or --input) and prints, for line i (0-based; its example id is i),
// the original and K perturbed views k = 0..K-1 drawn with Rng{seed, epoch, i, k, op}:
//
//   id=0<TAB>the original line
//   k=0<TAB>view 0
//   k=1<TAB>view 1
//
// or one JSON object per line with --jsonl: {"id":0,"text":"...","views":["...", ...]}.
// The same command with the same seed prints the same bytes.
#include <filesystem>
#include <fstream>
#include <iostream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "sturdy/core/error.h"
#include "sturdy/core/utf8.h"
#include "sturdy/perturb/perturber.h"

namespace sturdy {
namespace {

struct PerturbOptions {
  std::string recipe;
  std::string ops;
  uint64_t seed = 1;
  uint64_t k = 3;
  uint64_t epoch = 0;
  std::string input;
  std::string recipe_dir;
  bool jsonl = false;
  std::string lexicon_dir;
  perturb::LexiconPaths lexicons;
};

// --recipe-dir, else ./configs/perturb when it exists, else the source tree's.
std::string resolve_recipe_dir(const std::string& given) {
  if (!given.empty()) return given;
  if (std::filesystem::is_directory("configs/perturb")) return "configs/perturb";
  return perturb::source_recipe_dir();
}

void run_perturb(const PerturbOptions& o) {
  STURDY_USAGE_CHECK(o.recipe.empty() != o.ops.empty(),
                     "sturdy perturb: give exactly one of --recipe NAME or --ops SPEC (e.g. keyboard:0.1,swap:0.05)");
  perturb::LexiconPaths paths = o.lexicon_dir.empty() ? o.lexicons : perturb::LexiconPaths::from_dir(o.lexicon_dir);
  if (!o.lexicon_dir.empty()) {  // explicit file options win over the directory's
    if (!o.lexicons.keyboard.empty()) paths.keyboard = o.lexicons.keyboard;
    if (!o.lexicons.ocr.empty()) paths.ocr = o.lexicons.ocr;
    if (!o.lexicons.confusables.empty()) paths.confusables = o.lexicons.confusables;
    if (!o.lexicons.misspellings.empty()) paths.misspellings = o.lexicons.misspellings;
    if (!o.lexicons.distractors.empty()) paths.distractors = o.lexicons.distractors;
    if (o.lexicons.wordnet_dir != perturb::LexiconPaths{}.wordnet_dir) paths.wordnet_dir = o.lexicons.wordnet_dir;
  }
  auto lex = perturb::Lexicons::load(paths);
  const perturb::Perturber perturber =
      o.recipe.empty() ? perturb::Perturber(perturb::parse_ops_spec(o.ops), lex, perturb::Mode::kAll)
                       : perturb::Perturber::from_recipe(o.recipe, resolve_recipe_dir(o.recipe_dir), lex);

  std::ifstream file;
  if (!o.input.empty()) {
    file.open(o.input, std::ios::binary);
    STURDY_USAGE_CHECK(file.good(), "{}: cannot open --input", o.input);
  }
  std::istream& in = o.input.empty() ? std::cin : file;
  std::ostream& out = std::cout;
  std::string line;
  for (uint64_t id = 0; std::getline(in, line); ++id) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (o.jsonl) {
      nlohmann::json j;
      j["id"] = id;
      j["text"] = utf8::sanitize(line);
      j["views"] = nlohmann::json::array();
      for (uint64_t k = 0; k < o.k; ++k) j["views"].push_back(perturber.apply(line, o.seed, o.epoch, id, k));
      out << j.dump() << '\n';
    } else {
      out << "id=" << id << '\t' << utf8::sanitize(line) << '\n';
      for (uint64_t k = 0; k < o.k; ++k) {
        out << "k=" << k << '\t' << perturber.apply(line, o.seed, o.epoch, id, k) << '\n';
      }
    }
  }
  out.flush();
  if (!out) throw RuntimeError("sturdy perturb: writing to stdout failed");
}

}  // namespace

namespace apps {

void register_perturb(CLI::App& root, int* exit_code) {
  auto opts = std::make_shared<PerturbOptions>();
  CLI::App* cmd = root.add_subcommand("perturb", "Print K perturbed versions of each input line");
  cmd->add_option("--recipe", opts->recipe, "Recipe name (configs/perturb/NAME.yaml) or path to a recipe YAML");
  cmd->add_option("--ops", opts->ops, "Ops with rates instead of a recipe, e.g. keyboard:0.1,swap:0.05");
  cmd->add_option("--seed", opts->seed, "Seed (default 1)");
  cmd->add_option("--k", opts->k, "Perturbed views per line (default 3)");
  cmd->add_option("--epoch", opts->epoch, "Epoch of the draws (default 0)");
  cmd->add_option("--input", opts->input, "Input file, one example per line (default: stdin)");
  cmd->add_option("--recipe-dir", opts->recipe_dir,
                  "Recipe directory (default: ./configs/perturb, else the source tree's)");
  cmd->add_flag("--jsonl", opts->jsonl, "One JSON object per input line: {id, text, views}");
  cmd->add_option("--lexicon-dir", opts->lexicon_dir,
                  "Directory of lexicon files (keyboard.json, ocr.json, confusables.txt, misspellings*, "
                  "distractors.txt, wordnet/) or the shared data folder");
  cmd->add_option("--keyboard-map", opts->lexicons.keyboard, "Keyboard neighbour map (JSON)");
  cmd->add_option("--ocr-map", opts->lexicons.ocr, "OCR confusion map (JSON)");
  cmd->add_option("--confusables", opts->lexicons.confusables, "Unicode confusables.txt or homoglyph sets");
  cmd->add_option("--misspellings", opts->lexicons.misspellings, "Misspelling list (JSON or text); repeatable");
  cmd->add_option("--wordnet-dir", opts->lexicons.wordnet_dir, "WordNet dict directory (default /usr/share/wordnet)");
  cmd->add_option("--distractors", opts->lexicons.distractors, "Distractor phrases, one per line");
  cmd->callback([opts, exit_code] {
    run_perturb(*opts);
    *exit_code = 0;
  });
}

}  // namespace apps
}  // namespace sturdy
