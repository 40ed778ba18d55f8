// bench_data: sentences per second of the perturbation engine on one core, per recipe.
//
//   bench_data [SST2_TRAIN_TSV] [--recipe-dir DIR] [--recipes a,b,...] [--min-seconds S]
//
// Reads the sentence column of a GLUE SST-2 TSV (header `sentence<TAB>label`), then for
// each recipe perturbs every sentence (example id = row, view 0, epoch 0) on one thread,
// repeating passes until --min-seconds have elapsed. Lexicons (WordNet included) are
// loaded before timing. Targets (issue 3): >= 100,000 sentences/s for character recipes,
// >= 20,000 for lexical ones. Prints a Markdown table and the machine it ran on.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "sturdy/core/error.h"
#include "sturdy/perturb/perturber.h"

namespace {

using Clock = std::chrono::steady_clock;

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  }
  return "unknown CPU";
}

std::vector<std::string> read_sst2(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  std::string line;
  bool header = true;
  while (std::getline(in, line)) {
    if (header) {
      header = false;
      if (line.rfind("sentence", 0) == 0) continue;
    }
    out.push_back(line.substr(0, line.find('\t')));
  }
  return out;
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace sturdy;
  std::string tsv = std::string(STURDY_SOURCE_DIR) + "/../shared/data/sst2/train.tsv";
  std::string recipe_dir = std::string(STURDY_SOURCE_DIR) + "/configs/perturb";
  std::string recipes_arg;
  double min_seconds = 1.0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_data: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--recipe-dir") {
      recipe_dir = value();
    } else if (a == "--recipes") {
      recipes_arg = value();
    } else if (a == "--min-seconds") {
      min_seconds = std::atof(value().c_str());
    } else if (a == "-h" || a == "--help") {
      std::printf("usage: bench_data [SST2_TRAIN_TSV] [--recipe-dir DIR] [--recipes a,b] [--min-seconds S]\n");
      return 0;
    } else {
      tsv = a;
    }
  }
  if (!std::filesystem::exists(tsv)) {
    std::printf("bench_data: skipped: %s not found (pass the path of GLUE SST-2 train.tsv)\n", tsv.c_str());
    return 0;
  }
  try {
    const std::vector<std::string> sentences = read_sst2(tsv);
    size_t bytes = 0;
    for (const auto& s : sentences) bytes += s.size();
    const std::vector<std::string> recipes =
        recipes_arg.empty() ? perturb::list_recipes(recipe_dir) : split_commas(recipes_arg);
    const auto lexicons = perturb::Lexicons::builtin();

    std::printf("# bench_data: perturbation throughput, one thread\n");
    std::printf("machine: %s, %u hardware threads\n", cpu_model().c_str(), std::thread::hardware_concurrency());
    std::printf("input: %s (%zu sentences, %.1f bytes/sentence)\n\n", tsv.c_str(), sentences.size(),
                static_cast<double>(bytes) / static_cast<double>(sentences.size()));
    std::printf("| recipe | mode | ops | sentences/s | us/sentence | MB/s | words touched |\n");
    std::printf("|---|---|---|---:|---:|---:|---:|\n");
    for (const auto& name : recipes) {
      const perturb::Perturber p = perturb::Perturber::from_recipe(name, recipe_dir, lexicons);
      size_t sink = 0;
      for (size_t i = 0; i < std::min<size_t>(sentences.size(), 2000); ++i) sink += p.apply(sentences[i], 1, 0, i, 0).size();
      perturb::PerturbStats stats;
      size_t done = 0;
      uint64_t pass = 0;
      const auto start = Clock::now();
      double elapsed = 0;
      do {
        for (size_t i = 0; i < sentences.size(); ++i) {
          sink += p.apply(sentences[i], 1, pass, i, 0, pass == 0 ? &stats : nullptr).size();
        }
        done += sentences.size();
        ++pass;
        elapsed = std::chrono::duration<double>(Clock::now() - start).count();
      } while (elapsed < min_seconds);
      uint64_t eligible = 0, touched = 0;
      for (const auto& op : stats.ops) eligible += op.eligible, touched += op.touched;
      std::string ops;
      for (const auto& op : p.ops()) ops += fmt::format("{}{}:{}", ops.empty() ? "" : " ", op.op, op.rate);
      std::printf("| %s | %s | %s | %.0f | %.2f | %.1f | %.1f%% |\n", name.c_str(), perturb::mode_name(p.mode()),
                  ops.c_str(), done / elapsed, 1e6 * elapsed / done, bytes * pass / elapsed / 1e6,
                  eligible ? 100.0 * touched / eligible : 0.0);
      if (sink == 42) std::printf(" ");  // keeps the work observable
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "bench_data: %s\n", e.what());
    return static_cast<int>(e.code());
  }
  return 0;
}
