// Where the optional public test data lives (SST-2, stories260K, the large lexicon lists):
// $STURDY_SHARED_DATA when set, otherwise the folder CMake compiled in (cache variable
// STURDY_SHARED_DATA, default ../shared/data next to the checkout). Tests that need a file
// from it skip with the path in the message when it is absent; nothing else depends on it.
#pragma once

#include <cstdlib>
#include <string>

inline std::string shared_data_dir() {
  const char* env = std::getenv("STURDY_SHARED_DATA");
  return env != nullptr && *env != '\0' ? std::string(env) : std::string(STURDY_SHARED_DATA);
}
