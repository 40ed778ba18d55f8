// Writing a file so that readers see the old content or the new one, never half of it:
// the text goes to PATH.tmp, is flushed, and is renamed over PATH.
#pragma once

#include <string>
#include <string_view>

namespace sturdy {

// Creates PATH's parent folders. RuntimeError naming the file when a write fails (disk full)
// or the rename does; the temporary file is removed then and PATH is left as it was.
void write_file_atomically(const std::string& path, std::string_view content);

}  // namespace sturdy
