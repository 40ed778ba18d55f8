// SHA-256 through OpenSSL's EVP interface.
#include "sturdy/core/sha256.h"

#include <openssl/evp.h>

#include <cstdio>
#include <memory>
#include <vector>

#include "sturdy/core/error.h"

namespace sturdy {
namespace {

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
struct FileDeleter {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) {
    STURDY_CHECK(ctx_ && EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) == 1,
                 "EVP sha256 init failed");
  }
  void update(const void* data, size_t n) {
    STURDY_CHECK(EVP_DigestUpdate(ctx_.get(), data, n) == 1, "EVP sha256 update failed");
  }
  std::string hex() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    STURDY_CHECK(EVP_DigestFinal_ex(ctx_.get(), digest, &len) == 1, "EVP sha256 final failed");
    static const char* kHex = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < len; ++i) {
      out.push_back(kHex[digest[i] >> 4]);
      out.push_back(kHex[digest[i] & 15]);
    }
    return out;
  }

 private:
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx_;
};

}  // namespace

std::string sha256_hex(std::string_view data) {
  Sha256 h;
  h.update(data.data(), data.size());
  return h.hex();
}

std::string sha256_file(const std::string& path) {
  std::unique_ptr<std::FILE, FileDeleter> f(std::fopen(path.c_str(), "rb"));
  if (!f) throw UsageError(fmt::format("{}: cannot open for reading", path));
  Sha256 h;
  std::vector<char> buf(1 << 20);
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f.get())) > 0) h.update(buf.data(), n);
  if (std::ferror(f.get())) throw RuntimeError(fmt::format("{}: read error", path));
  return h.hex();
}

}  // namespace sturdy
