// libFuzzer target for configuration loading (scripts/fuzz.sh config -runs=1000000).
//
// Input: the YAML text, then zero or more `--set` overrides, separated by NUL bytes
// ("yaml\0run.seed=3\0optim.lr=x"). Checked on every input:
//   * parse_config either returns or throws a sturdy::Error (a UsageError: exit 2) whose
//     message is one line; YAML::Exception, std::bad_cast etc. must not escape;
//   * an accepted configuration dumps to YAML that loads again to the same dump
//     (the resolved config.yaml a run writes is itself a valid config).
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "sturdy/config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t nul = input.find('\0', start);
    parts.push_back(input.substr(start, nul == std::string::npos ? std::string::npos : nul - start));
    if (nul == std::string::npos) break;
    start = nul + 1;
  }
  const std::string yaml = parts[0];
  const std::vector<std::string> overrides(parts.begin() + 1, parts.end());
  sturdy::Config config;
  const bool ok = sturdy_fuzz::accepts("config_fuzz", [&] { config = sturdy::parse_config(yaml, "fuzz.yaml", overrides); });
  if (!ok) return 0;
  const std::string dumped = sturdy::dump_config(config);
  sturdy::Config again;
  if (!sturdy_fuzz::accepts("config_fuzz", [&] { again = sturdy::parse_config(dumped, "dump.yaml"); })) {
    sturdy_fuzz::fail("config_fuzz", "the resolved dump does not load again:\n" + dumped);
  }
  if (sturdy::dump_config(again) != dumped) {
    sturdy_fuzz::fail("config_fuzz", "dump -> load -> dump changed:\n" + dumped + "---\n" + sturdy::dump_config(again));
  }
  return 0;
}
