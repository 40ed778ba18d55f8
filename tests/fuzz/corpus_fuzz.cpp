// libFuzzer target for reading damaged or foreign HDF5 corpora (scripts/fuzz.sh corpus).
//
// The input does not hold HDF5 bytes: it describes a corpus (fuzz_h5.h says why): which
// attributes exist and with which types and values (format, version, num_examples,
// num_classes, label_names, ...), which datasets exist (/text/bytes, /text/offsets, /label,
// /id) with which dtype, rank and extent (including extents of 2^20..2^45 elements that were
// never written) and which values (well-formed offsets from lengths, or raw numbers). The
// target writes it with the HDF5 API, opens it with CorpusReader and reads every example.
// Checked on every input:
//   * the reader works or throws a sturdy::Error with a one-line message; sizes from the file
//     are checked before anything is allocated (ASan aborts on a huge allocation);
//   * every example read is valid UTF-8 with a label in [0, num_classes), and what the reader
//     reports agrees with what was written when the description was well formed.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_h5.h"
#include "fuzz_util.h"
#include "sturdy/core/utf8.h"
#include "sturdy/data/corpus.h"

namespace {

std::vector<int64_t> values(FuzzedDataProvider& in, size_t n, bool raw, int64_t lo, int64_t hi) {
  std::vector<int64_t> v(n);
  for (auto& x : v) x = raw ? in.ConsumeIntegral<int64_t>() : in.ConsumeIntegralInRange<int64_t>(lo, hi);
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  const std::string path = sturdy_fuzz::scratch_path("corpus.h5");
  const uint16_t present = in.ConsumeIntegral<uint16_t>();  // bit set = drop that part
  const size_t n = in.ConsumeIntegralInRange<size_t>(0, 40);
  const int64_t classes = in.ConsumeIntegralInRange<int64_t>(0, 5);
  std::vector<std::string> texts;
  for (size_t i = 0; i < n; ++i) texts.push_back(in.ConsumeRandomLengthString(24));
  std::string all;
  std::vector<int64_t> offsets{0};
  for (const auto& t : texts) {
    all += t;
    offsets.push_back(static_cast<int64_t>(all.size()));
  }
  std::vector<int64_t> bytes(all.begin(), all.end());
  for (auto& b : bytes) b &= 0xFF;
  {
    sturdy_fuzz::QuietH5 quiet;
    hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (file < 0) sturdy_fuzz::fail("corpus_fuzz", "cannot create the scratch file");
    std::vector<std::string> names;
    const size_t name_count = (present & 0x400) ? in.ConsumeIntegralInRange<size_t>(0, 6) : static_cast<size_t>(classes);
    for (size_t i = 0; i < name_count; ++i) names.push_back(in.ConsumeRandomLengthString(8));
    if (!(present & 0x001)) {
      sturdy_fuzz::write_strings_attr(file, "format", {(present & 0x800) ? in.ConsumeRandomLengthString(16) : "sturdy-corpus"},
                                      in.ConsumeBool(), true);
    }
    if (!(present & 0x002)) sturdy_fuzz::write_int_attr(file, "version", sturdy_fuzz::pick_type(in, H5T_STD_I32LE), (present & 0x1000) ? in.ConsumeIntegral<int64_t>() : 1);
    if (!(present & 0x004)) sturdy_fuzz::write_int_attr(file, "num_examples", sturdy_fuzz::pick_type(in, H5T_STD_I64LE), (present & 0x2000) ? in.ConsumeIntegral<int64_t>() : static_cast<int64_t>(n));
    if (!(present & 0x008)) sturdy_fuzz::write_int_attr(file, "num_classes", sturdy_fuzz::pick_type(in, H5T_STD_I64LE), classes);
    if (!(present & 0x010)) sturdy_fuzz::write_strings_attr(file, "label_names", names, in.ConsumeBool(), false);
    if (!(present & 0x020)) sturdy_fuzz::write_strings_attr(file, "source", {in.ConsumeRandomLengthString(8)}, in.ConsumeBool(), true);
    sturdy_fuzz::write_strings_attr(file, "source_sha256", {""}, false, true);
    const bool raw = present & 0x4000;
    if (!(present & 0x040)) sturdy_fuzz::write_dataset(file, "text/bytes", sturdy_fuzz::pick_type(in, H5T_STD_U8LE), in, bytes);
    if (!(present & 0x080)) {
      sturdy_fuzz::write_dataset(file, "text/offsets", sturdy_fuzz::pick_type(in, H5T_STD_I64LE), in,
                                 raw ? values(in, n + 1, true, 0, 0) : offsets);
    }
    if (!(present & 0x100) && classes > 0) {
      sturdy_fuzz::write_dataset(file, "label", sturdy_fuzz::pick_type(in, H5T_STD_I32LE), in,
                                 values(in, n, raw, 0, classes - 1));
    }
    if (!(present & 0x200)) sturdy_fuzz::write_dataset(file, "id", sturdy_fuzz::pick_type(in, H5T_STD_I64LE), in, values(in, n, true, 0, 0));
    H5Fclose(file);
  }
  sturdy_fuzz::accepts("corpus_fuzz", [&] {
    sturdy::CorpusReader reader(path);
    const int64_t count = std::min<int64_t>(reader.size(), 4096);
    std::vector<int64_t> forward, backward;
    for (int64_t i = 0; i < count; ++i) forward.push_back(i);
    for (int64_t i = count - 1; i >= 0; i -= 3) backward.push_back(i);
    for (const auto* indices : {&forward, &backward}) {
      for (const auto& ex : reader.read(*indices)) {
        if (!sturdy::utf8::is_valid(ex.text)) sturdy_fuzz::fail("corpus_fuzz", "invalid UTF-8 returned");
        if (reader.info().num_classes > 0 && (ex.label < 0 || ex.label >= reader.info().num_classes)) {
          sturdy_fuzz::fail("corpus_fuzz", "label out of range returned");
        }
      }
    }
  });
  return 0;
}
