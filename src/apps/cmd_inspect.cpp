// `sturdy inspect FILE`: a summary of a corpus (.h5) or a checkpoint folder.
#include <cstdio>
#include <filesystem>

#include "commands.h"
#include "sturdy/ckpt/checkpoint.h"
#include "sturdy/core/error.h"
#include "sturdy/data/corpus.h"

namespace sturdy::apps {

void register_inspect(CLI::App& root, int* exit_code) {
  auto* cmd = root.add_subcommand("inspect", "Summary of a corpus or a checkpoint");
  auto path = std::make_shared<std::string>();
  cmd->add_option("path", *path, "Corpus file or checkpoint/run folder")->required();
  cmd->callback([=] {
    if (std::filesystem::is_directory(*path)) {
      const std::string dir = ckpt::resolve(*path);
      const auto st = ckpt::read_state(dir);
      std::printf("checkpoint %s\n  step %lld, epoch %lld, %lld samples consumed, world size %d, seed %llu\n"
                  "  labels: %s\n",
                  dir.c_str(), static_cast<long long>(st.step), static_cast<long long>(st.epoch),
                  static_cast<long long>(st.consumed_samples), st.world_size,
                  static_cast<unsigned long long>(st.seed), fmt::format("{}", fmt::join(st.label_names, ", ")).c_str());
    } else {
      const CorpusReader reader(*path);
      const auto& info = reader.info();
      std::printf("corpus %s\n  %lld examples, %lld bytes of text, %lld classes\n  source %s (sha256 %s)\n",
                  path->c_str(), static_cast<long long>(info.num_examples),
                  static_cast<long long>(info.total_bytes), static_cast<long long>(info.num_classes),
                  info.source.c_str(), info.source_sha256.c_str());
      if (info.num_classes > 0) {
        std::vector<int64_t> counts(info.num_classes, 0);
        for (int32_t l : reader.labels()) counts[l]++;
        for (int64_t c = 0; c < info.num_classes; ++c) {
          std::printf("  %-24s %lld\n", info.label_names[c].c_str(), static_cast<long long>(counts[c]));
        }
      }
      const int64_t show = std::min<int64_t>(3, info.num_examples);
      for (int64_t i = 0; i < show; ++i) {
        const auto e = reader.read_one(i);
        std::printf("  [%lld] id %lld label %d: %.100s\n", static_cast<long long>(i),
                    static_cast<long long>(e.id), e.label, e.text.c_str());
      }
    }
    *exit_code = 0;
  });
}

}  // namespace sturdy::apps
