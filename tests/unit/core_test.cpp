// Tests for src/core: UTF-8, counter-based RNG, sha256, errors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <set>

#include "sturdy/core/error.h"
#include "sturdy/core/machine.h"
#include "sturdy/core/rng.h"
#include "sturdy/core/sha256.h"
#include "sturdy/core/utf8.h"

namespace sturdy {
namespace {

TEST(Utf8, ValidatesAndRejects) {
  EXPECT_TRUE(utf8::is_valid("plain ascii"));
  EXPECT_TRUE(utf8::is_valid("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"));  // é € 😀
  EXPECT_EQ(utf8::find_invalid("ab\xFF" "cd"), 2u);
  EXPECT_EQ(utf8::find_invalid("\xC0\xAF"), 0u);          // overlong '/'
  EXPECT_EQ(utf8::find_invalid("x\xED\xA0\x80"), 1u);     // surrogate U+D800
  EXPECT_EQ(utf8::find_invalid("\xF4\x90\x80\x80"), 0u);  // above U+10FFFF
  EXPECT_EQ(utf8::find_invalid("abc\xE2\x82"), 3u);       // truncated
}

TEST(Utf8, RoundTripsCodePoints) {
  const std::string s = "na\xC3\xAFve \xE2\x80\x8B zero-width \xF0\x9D\x90\x80";
  const std::u32string cps = utf8::decode(s);
  EXPECT_EQ(cps[2], U'\u00EF');
  EXPECT_EQ(utf8::encode(cps), s);
}

TEST(Utf8, SanitizeReplacesEachBadByte) {
  const std::string out = utf8::sanitize("a\xFF\xFE" "b");
  EXPECT_TRUE(utf8::is_valid(out));
  EXPECT_EQ(out, "a\xEF\xBF\xBD\xEF\xBF\xBD" "b");
}

TEST(Rng, SameKeySameStreamDifferentKeyDifferentStream) {
  Rng a{1, 2, 3}, b{1, 2, 3}, c{1, 2, 4}, d{2, 1, 3};
  for (int i = 0; i < 100; ++i) {
    const uint64_t x = a.next_u64();
    EXPECT_EQ(x, b.next_u64());
    EXPECT_NE(x, c.next_u64());
    EXPECT_NE(x, d.next_u64());
  }
}

TEST(Rng, UniformAndBelowAreInRangeAndRoughlyUniform) {
  Rng r{42};
  std::vector<int> counts(10, 0);
  double sum = 0;
  const int n = 100000;
  for (int i = 0; i < n; ++i) {
    const double u = r.uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
    const uint64_t k = r.below(10);
    ASSERT_LT(k, 10u);
    counts[k]++;
  }
  EXPECT_NEAR(sum / n, 0.5, 0.01);
  for (int c : counts) EXPECT_NEAR(c, n / 10, n / 100);
}

TEST(Sha256, KnownVector) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_THROW(sha256_file("/nonexistent/file"), UsageError);
}

TEST(Errors, ExitCodes) {
  EXPECT_EQ(UsageError("x").code(), ExitCode::kUsage);
  EXPECT_EQ(RuntimeError("x").code(), ExitCode::kRuntime);
  try {
    STURDY_CHECK(1 + 1 == 3, "arithmetic {}", "broke");
    FAIL() << "no throw";
  } catch (const RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("arithmetic broke"), std::string::npos);
  }
}

}  // namespace
}  // namespace sturdy

#if defined(__GLIBC__)
namespace {
constexpr size_t kBlock = 8u << 20;  // above glibc's default mmap threshold, below the retained one

// Allocates and touches kBlock bytes; returns how many bytes of mmapped blocks that added.
size_t mmapped_by_one_block(void** out) {
  const size_t before = mallinfo2().hblkhd;
  void* p = std::malloc(kBlock);
  std::memset(p, 1, kBlock);
  *out = p;
  return mallinfo2().hblkhd - before;
}
}  // namespace

// Each test runs in its own process under ctest, so the mallopt settings do not leak between them.
TEST(Allocator, RetainedLargeBlocksComeFromTheHeapAndStayAfterFree) {
  unsetenv("STURDY_SYSTEM_MALLOC");
  ASSERT_TRUE(sturdy::retain_freed_memory());
  void* p = nullptr;
  EXPECT_EQ(mmapped_by_one_block(&p), 0u) << "an 8 MiB block was still mmapped";
  const size_t heap = mallinfo2().arena;
  std::free(p);
  EXPECT_EQ(mallinfo2().arena, heap) << "free() gave the block back to the system";
  EXPECT_GE(mallinfo2().fordblks, kBlock);
}

TEST(Allocator, SystemMallocKeepsGlibcDefaults) {
  setenv("STURDY_SYSTEM_MALLOC", "1", 1);
  EXPECT_FALSE(sturdy::retain_freed_memory());
  void* p = nullptr;
  EXPECT_GE(mmapped_by_one_block(&p), kBlock) << "glibc's default mmap threshold is 128 KiB";
  std::free(p);
  unsetenv("STURDY_SYSTEM_MALLOC");
}
#endif
