// HDF5 corpus v1: writer (streams text bytes, atomic rename) and validating reader
// (loads offsets/labels/ids, reads text byte ranges on demand). Layout: corpus.h.
#include "sturdy/data/corpus.h"

#include <fcntl.h>
#include <cerrno>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <numeric>
#include <set>

#include "sturdy/core/error.h"
#include "sturdy/core/h5.h"
#include "sturdy/core/utf8.h"

namespace sturdy {

namespace {

constexpr const char* kFormat = "sturdy-corpus";
constexpr int kVersion = 1;
// Text bytes: 8 KiB chunks, Fletcher32, no compression. Random access is the common case and
// each example costs a whole chunk read: measured on SST-2 train (docs/data.md), deflate
// halves the file but makes a cold 64-example random batch ~30x slower (12 ms vs 0.4 ms).
constexpr hsize_t kBytesChunk = 8 * 1024;
constexpr hsize_t kIntChunk = 64 * 1024;          // elements, for offsets/labels/ids
constexpr size_t kWriteBlock = 1 << 20;           // bytes buffered before a dataset extend
constexpr int kDeflateLevel = 4;
constexpr size_t kChunkCacheBytes = 32u << 20;    // reader's per-dataset chunk cache
constexpr size_t kChunkCacheSlots = 40009;        // prime, ~10x the chunks that fit in the cache
// Ranges closer than this are read with one H5Dread (the gap bytes are cheaper than a call).
constexpr int64_t kMergeGap = 4096;
// A dataset may claim at most this many times its stored bytes (deflate's best ratio is ~1032:1),
// plus kSlackBytes, before the reader refuses it instead of allocating for it.
constexpr long double kMaxInflation = 1100;
constexpr long double kSlackBytes = 1 << 20;

bool deflate_available() { return H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0; }

// Dataset creation properties: chunked, Fletcher32 checksums, deflate (when asked and the
// library has it) for the integer datasets, which are read whole once.
h5::Plist chunked_dcpl(hsize_t chunk, bool compress, const std::string& path) {
  h5::Plist dcpl(h5::check(H5Pcreate(H5P_DATASET_CREATE), "H5Pcreate", path));
  h5::check(H5Pset_chunk(dcpl.get(), 1, &chunk), "H5Pset_chunk", path);
  if (compress && deflate_available()) h5::check(H5Pset_deflate(dcpl.get(), kDeflateLevel), "H5Pset_deflate", path);
  h5::check(H5Pset_fletcher32(dcpl.get()), "H5Pset_fletcher32", path);
  return dcpl;
}

h5::Type utf8_string_type(const std::string& path) {
  h5::Type type(h5::check(H5Tcopy(H5T_C_S1), "H5Tcopy", path));
  h5::check(H5Tset_size(type.get(), H5T_VARIABLE), "H5Tset_size", path);
  h5::check(H5Tset_cset(type.get(), H5T_CSET_UTF8), "H5Tset_cset", path);
  return type;
}

void write_string_attr(hid_t obj, const char* name, const std::string& value, const std::string& path) {
  h5::Type type = utf8_string_type(path);
  h5::Space space(h5::check(H5Screate(H5S_SCALAR), "H5Screate", path));
  h5::Attr attr(h5::check(H5Acreate2(obj, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
                          "H5Acreate2", path));
  const char* data = value.c_str();
  h5::check(H5Awrite(attr.get(), type.get(), &data), "H5Awrite", path);
}

void write_string_array_attr(hid_t obj, const char* name, const std::vector<std::string>& values,
                             const std::string& path) {
  h5::Type type = utf8_string_type(path);
  hsize_t n = values.size();
  h5::Space space(h5::check(H5Screate_simple(1, &n, nullptr), "H5Screate_simple", path));
  h5::Attr attr(h5::check(H5Acreate2(obj, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
                          "H5Acreate2", path));
  std::vector<const char*> data;
  for (const auto& v : values) data.push_back(v.c_str());
  if (!data.empty()) h5::check(H5Awrite(attr.get(), type.get(), data.data()), "H5Awrite", path);
}

template <typename T>
void write_int_attr(hid_t obj, const char* name, hid_t file_type, hid_t mem_type, T value,
                    const std::string& path) {
  h5::Space space(h5::check(H5Screate(H5S_SCALAR), "H5Screate", path));
  h5::Attr attr(h5::check(H5Acreate2(obj, name, file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT),
                          "H5Acreate2", path));
  h5::check(H5Awrite(attr.get(), mem_type, &value), "H5Awrite", path);
}

// Writes a 1-D integer dataset in one go (chunked + compressed when non-empty).
template <typename T>
void write_int_dataset(hid_t loc, const char* name, hid_t file_type, hid_t mem_type,
                       const std::vector<T>& values, const std::string& path) {
  hsize_t n = values.size();
  h5::Space space(h5::check(H5Screate_simple(1, &n, nullptr), "H5Screate_simple", path));
  h5::Plist dcpl = n > 0 ? chunked_dcpl(std::min<hsize_t>(n, kIntChunk), true, path)
                         : h5::Plist(h5::check(H5Pcreate(H5P_DATASET_CREATE), "H5Pcreate", path));
  h5::Dataset ds(h5::check(H5Dcreate2(loc, name, file_type, space.get(), H5P_DEFAULT, dcpl.get(),
                                      H5P_DEFAULT),
                           "H5Dcreate2", path));
  if (n > 0) {
    h5::check(H5Dwrite(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()),
              "H5Dwrite", path);
  }
}

// Checks that `bytes` more fit beside `file` (posix_fallocate of a scratch file, then freed),
// so a full disk is a clear RuntimeError before HDF5 writes: libhdf5 cannot close a file whose
// write failed, and such a half-open file crashes its exit handler (the process dies with
// SIGSEGV after the message). Other fallocate errors (unsupported file system): go ahead.
void reserve_space(const std::string& file, uint64_t bytes) {
  const auto slash = file.find_last_of('/');
  const std::string scratch = (slash == std::string::npos ? std::string(".") : file.substr(0, slash)) + "/.sturdy-reserve";
  const int fd = ::open(scratch.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return;  // the HDF5 write reports the folder itself
  const int rc = ::posix_fallocate(fd, 0, static_cast<off_t>(bytes));
  ::close(fd);
  ::unlink(scratch.c_str());
  if (rc == ENOSPC || rc == EDQUOT) {
    throw RuntimeError(fmt::format("{}: {} KB more do not fit (disk full or quota exhausted); nothing was "
                                   "published", file, (bytes + 1023) / 1024));
  }
}

// Room for HDF5's own metadata (object headers, chunk indexes, attributes) on top of the data.
constexpr uint64_t kMetadataSlack = 256 * 1024;

}  // namespace

// ---------------------------------------------------------------------------------------
// Writer

struct CorpusWriter::Impl {
  std::string path, tmp_path;
  std::vector<std::string> label_names;
  std::string source, source_sha256;
  h5::File file;
  h5::Dataset bytes;
  std::string pending;  // text bytes not yet written to /text/bytes
  int64_t written = 0;  // bytes already in /text/bytes
  std::vector<int64_t> offsets{0};
  std::vector<int32_t> labels;
  std::vector<int64_t> ids;
  bool closed = false;     // everything written to tmp_path
  bool committed = false;  // renamed to path

  void flush_bytes() {
    if (pending.empty()) return;
    reserve_space(tmp_path, pending.size() + kMetadataSlack);
    hsize_t start = written, count = pending.size(), new_size = written + pending.size();
    h5::check(H5Dset_extent(bytes.get(), &new_size), "H5Dset_extent", tmp_path);
    h5::Space file_space(h5::check(H5Dget_space(bytes.get()), "H5Dget_space", tmp_path));
    h5::check(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, &start, nullptr, &count, nullptr),
              "H5Sselect_hyperslab", tmp_path);
    h5::Space mem_space(h5::check(H5Screate_simple(1, &count, nullptr), "H5Screate_simple", tmp_path));
    h5::check(H5Dwrite(bytes.get(), H5T_NATIVE_UINT8, mem_space.get(), file_space.get(), H5P_DEFAULT,
                       pending.data()),
              "H5Dwrite /text/bytes", tmp_path);
    written = static_cast<int64_t>(new_size);
    pending.clear();
  }
};

CorpusWriter::CorpusWriter(std::string path, std::vector<std::string> label_names, std::string source,
                           std::string source_sha256)
    : impl_(std::make_unique<Impl>()) {
  Impl& w = *impl_;
  w.path = std::move(path);
  w.tmp_path = w.path + ".tmp";
  w.label_names = std::move(label_names);
  w.source = std::move(source);
  w.source_sha256 = std::move(source_sha256);
  std::set<std::string> seen;
  for (const auto& name : w.label_names) {
    STURDY_USAGE_CHECK(!name.empty() && utf8::is_valid(name) && seen.insert(name).second,
                       "{}: label names must be non-empty, valid UTF-8 and unique (got '{}')", w.path,
                       utf8::sanitize(name));
  }

  h5::QuietErrors quiet;
  reserve_space(w.tmp_path, kMetadataSlack);
  w.file = h5::File(H5Fcreate(w.tmp_path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
  if (!w.file.valid()) {
    throw RuntimeError(fmt::format("{}: cannot create the corpus file (does the folder exist and is it "
                                   "writable?)", w.tmp_path));
  }
  h5::Group text(h5::check(H5Gcreate2(w.file.get(), "text", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                           "H5Gcreate2 /text", w.tmp_path));
  hsize_t zero = 0, unlimited = H5S_UNLIMITED;
  h5::Space space(h5::check(H5Screate_simple(1, &zero, &unlimited), "H5Screate_simple", w.tmp_path));
  h5::Plist dcpl = chunked_dcpl(kBytesChunk, false, w.tmp_path);
  w.bytes = h5::Dataset(h5::check(H5Dcreate2(text.get(), "bytes", H5T_STD_U8LE, space.get(), H5P_DEFAULT,
                                             dcpl.get(), H5P_DEFAULT),
                                  "H5Dcreate2 /text/bytes", w.tmp_path));
}

CorpusWriter::~CorpusWriter() {
  if (!impl_ || impl_->committed) return;
  impl_->bytes.reset();
  impl_->file.reset();
  std::remove(impl_->tmp_path.c_str());
}

void CorpusWriter::add(const std::string& text, int32_t label, int64_t id) {
  Impl& w = *impl_;
  STURDY_CHECK(!w.closed, "{}: add() after finish()", w.path);
  size_t bad = utf8::find_invalid(text);
  STURDY_USAGE_CHECK(bad == std::string::npos, "{}: example {} (id {}) is not valid UTF-8 at byte {}",
                     w.path, w.ids.size(), id, bad);
  const auto num_classes = static_cast<int64_t>(w.label_names.size());
  if (num_classes > 0) {
    STURDY_USAGE_CHECK(label >= 0 && label < num_classes, "{}: example {} (id {}): label {} not in [0, {})",
                       w.path, w.ids.size(), id, label, num_classes);
  } else {
    STURDY_USAGE_CHECK(label == -1, "{}: example {} (id {}): label {} given for an unlabelled corpus",
                       w.path, w.ids.size(), id, label);
  }
  w.pending += text;
  w.offsets.push_back(w.offsets.back() + static_cast<int64_t>(text.size()));
  if (num_classes > 0) w.labels.push_back(label);
  w.ids.push_back(id);
  if (w.pending.size() >= kWriteBlock) w.flush_bytes();
}

int64_t CorpusWriter::size() const { return static_cast<int64_t>(impl_->ids.size()); }

void CorpusWriter::write_temp() {
  Impl& w = *impl_;
  if (w.closed) return;
  h5::QuietErrors quiet;
  const std::string& p = w.tmp_path;
  reserve_space(p, w.pending.size() + w.offsets.size() * 8 + w.labels.size() * 4 + w.ids.size() * 8 +
                       2 * kMetadataSlack);
  w.flush_bytes();
  w.bytes.reset();
  {
    h5::Group text(h5::check(H5Gopen2(w.file.get(), "text", H5P_DEFAULT), "H5Gopen2 /text", p));
    write_int_dataset(text.get(), "offsets", H5T_STD_I64LE, H5T_NATIVE_INT64, w.offsets, p);
  }
  if (!w.label_names.empty()) write_int_dataset(w.file.get(), "label", H5T_STD_I32LE, H5T_NATIVE_INT32, w.labels, p);
  write_int_dataset(w.file.get(), "id", H5T_STD_I64LE, H5T_NATIVE_INT64, w.ids, p);

  hid_t root = w.file.get();
  write_string_attr(root, "format", kFormat, p);
  write_int_attr(root, "version", H5T_STD_I32LE, H5T_NATIVE_INT, kVersion, p);
  write_int_attr(root, "num_examples", H5T_STD_I64LE, H5T_NATIVE_INT64, static_cast<int64_t>(w.ids.size()), p);
  write_int_attr(root, "num_classes", H5T_STD_I64LE, H5T_NATIVE_INT64,
                 static_cast<int64_t>(w.label_names.size()), p);
  write_string_array_attr(root, "label_names", w.label_names, p);
  write_string_attr(root, "source", w.source, p);
  write_string_attr(root, "source_sha256", w.source_sha256, p);

  h5::check(H5Fflush(root, H5F_SCOPE_GLOBAL), "H5Fflush", p);
  h5::check(w.file.close(), "H5Fclose", p);
  // Make the bytes durable before the rename publishes them.
  int fd = ::open(p.c_str(), O_RDONLY);
  if (fd < 0 || ::fsync(fd) != 0) {
    if (fd >= 0) ::close(fd);
    throw RuntimeError(fmt::format("{}: fsync failed", p));
  }
  ::close(fd);
  w.closed = true;
}

void CorpusWriter::commit() {
  Impl& w = *impl_;
  STURDY_CHECK(w.closed, "{}: commit() before write_temp()", w.path);
  if (w.committed) return;
  if (std::rename(w.tmp_path.c_str(), w.path.c_str()) != 0) {
    throw RuntimeError(fmt::format("{}: cannot rename {} to it", w.path, w.tmp_path));
  }
  w.committed = true;
}

void CorpusWriter::finish() {
  write_temp();
  commit();
}

// ---------------------------------------------------------------------------------------
// Reader

namespace {

// Validation failures name the corpus file and the object; they are bad input (exit 2).
[[noreturn]] void invalid(const std::string& path, const std::string& what) {
  throw UsageError(fmt::format("{}: not a valid sturdy corpus v1: {}", path, what));
}

h5::Attr open_attr(hid_t obj, const char* name, const std::string& path) {
  if (H5Aexists(obj, name) <= 0) invalid(path, fmt::format("attribute '{}' is missing", name));
  h5::Attr attr(H5Aopen(obj, name, H5P_DEFAULT));
  if (!attr.valid()) invalid(path, fmt::format("attribute '{}' cannot be opened", name));
  return attr;
}

int64_t read_int_attr(hid_t obj, const char* name, const std::string& path) {
  h5::Attr attr = open_attr(obj, name, path);
  h5::Type type(H5Aget_type(attr.get()));
  h5::Space space(H5Aget_space(attr.get()));
  if (H5Tget_class(type.get()) != H5T_INTEGER || H5Sget_simple_extent_npoints(space.get()) != 1) {
    invalid(path, fmt::format("attribute '{}' must be one integer", name));
  }
  int64_t value = 0;
  if (H5Aread(attr.get(), H5T_NATIVE_INT64, &value) < 0) invalid(path, fmt::format("attribute '{}' unreadable", name));
  return value;
}

// Reads a string or string-array attribute (variable- or fixed-length strings).
std::vector<std::string> read_strings_attr(hid_t obj, const char* name, const std::string& path) {
  h5::Attr attr = open_attr(obj, name, path);
  h5::Type file_type(H5Aget_type(attr.get()));
  h5::Space space(H5Aget_space(attr.get()));
  if (H5Tget_class(file_type.get()) != H5T_STRING) invalid(path, fmt::format("attribute '{}' must be a string", name));
  hssize_t n = H5Sget_simple_extent_npoints(space.get());
  if (n < 0) invalid(path, fmt::format("attribute '{}' has a bad shape", name));
  std::vector<std::string> out;
  if (n == 0) return out;
  if (H5Tis_variable_str(file_type.get()) > 0) {
    h5::Type mem_type(H5Tcopy(H5T_C_S1));
    H5Tset_size(mem_type.get(), H5T_VARIABLE);
    H5Tset_cset(mem_type.get(), H5Tget_cset(file_type.get()));
    std::vector<char*> data(static_cast<size_t>(n), nullptr);
    if (H5Aread(attr.get(), mem_type.get(), data.data()) < 0) invalid(path, fmt::format("attribute '{}' unreadable", name));
    for (char* s : data) {
      out.emplace_back(s ? s : "");
      if (s) H5free_memory(s);
    }
  } else {
    size_t size = H5Tget_size(file_type.get());
    std::vector<char> data(size * static_cast<size_t>(n));
    if (H5Aread(attr.get(), file_type.get(), data.data()) < 0) invalid(path, fmt::format("attribute '{}' unreadable", name));
    for (hssize_t i = 0; i < n; ++i) {
      std::string s(data.data() + i * size, size);
      s.erase(std::find(s.begin(), s.end(), '\0'), s.end());  // nul-terminated or -padded
      while (!s.empty() && s.back() == ' ') s.pop_back();     // space-padded
      out.push_back(std::move(s));
    }
  }
  return out;
}

bool link_exists(hid_t file, const char* name) {
  // H5Lexists needs every parent to exist, so walk "/a/b" one component at a time.
  std::string walked;
  std::string full(name);
  size_t pos = 0;
  while (pos != std::string::npos) {
    size_t next = full.find('/', pos + 1);
    walked = full.substr(0, next);
    if (H5Lexists(file, walked.c_str(), H5P_DEFAULT) <= 0) return false;
    pos = next;
  }
  return true;
}

struct IntSpec {
  size_t size;
  bool is_signed;
  const char* dtype;
};

// Opens a rank-1 integer dataset with exactly the given element type; returns its length.
h5::Dataset open_int_dataset(hid_t file, const char* name, IntSpec spec, hid_t dapl, int64_t* length,
                             const std::string& path) {
  if (!link_exists(file, name)) invalid(path, fmt::format("dataset {} is missing", name));
  h5::Dataset ds(H5Dopen2(file, name, dapl));
  if (!ds.valid()) invalid(path, fmt::format("{} is not a dataset", name));
  h5::Type type(H5Dget_type(ds.get()));
  h5::Space space(H5Dget_space(ds.get()));
  bool ok = H5Tget_class(type.get()) == H5T_INTEGER && H5Tget_size(type.get()) == spec.size &&
            (H5Tget_sign(type.get()) == H5T_SGN_2) == spec.is_signed;
  if (!ok) invalid(path, fmt::format("dataset {} must have dtype {}", name, spec.dtype));
  if (H5Sget_simple_extent_ndims(space.get()) != 1) {
    invalid(path, fmt::format("dataset {} must be 1-dimensional", name));
  }
  hsize_t dim = 0;
  H5Sget_simple_extent_dims(space.get(), &dim, nullptr);
  // The extent is only a claim: a chunked dataset can declare 2^40 elements and store none
  // (reads return fill values). Before anything sized by it is allocated, it must be backed by
  // stored bytes (deflate shrinks at most ~1032:1; small datasets get slack).
  const hsize_t stored = H5Dget_storage_size(ds.get());
  const long double claimed = static_cast<long double>(dim) * static_cast<long double>(spec.size);
  if (claimed > static_cast<long double>(kMaxInflation) * stored + kSlackBytes) {
    invalid(path, fmt::format("dataset {} declares {} entries but stores only {} bytes (damaged or truncated "
                              "file?)", name, dim, stored));
  }
  *length = static_cast<int64_t>(dim);
  return ds;
}

template <typename T>
std::vector<T> read_all(const h5::Dataset& ds, hid_t mem_type, int64_t n, const char* name,
                        const std::string& path) {
  std::vector<T> values(static_cast<size_t>(n));
  if (n > 0 && H5Dread(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) < 0) {
    invalid(path, fmt::format("dataset {} cannot be read (damaged file?)", name));
  }
  return values;
}

}  // namespace

struct CorpusReader::Impl {
  std::string path;
  CorpusInfo info;
  h5::File file;
  h5::Dataset bytes;
  std::vector<int64_t> offsets;
  std::vector<int32_t> labels;
  std::vector<int64_t> ids;
  std::string buffer;  // scratch for merged byte ranges
};

CorpusReader::CorpusReader(const std::string& path) : impl_(std::make_unique<Impl>()) {
  Impl& r = *impl_;
  r.path = path;
  h5::QuietErrors quiet;
  if (::access(path.c_str(), R_OK) != 0) throw UsageError(fmt::format("{}: corpus file not found or not readable", path));
  if (H5Fis_hdf5(path.c_str()) <= 0) invalid(path, "not an HDF5 file");
  r.file = h5::File(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  if (!r.file.valid()) invalid(path, "the HDF5 file cannot be opened");
  hid_t root = r.file.get();

  auto format = read_strings_attr(root, "format", path);
  if (format.size() != 1 || format[0] != kFormat) invalid(path, "attribute 'format' must be \"sturdy-corpus\"");
  int64_t version = read_int_attr(root, "version", path);
  if (version != kVersion) {
    invalid(path, fmt::format("attribute 'version' is {}, this build reads version {}", version, kVersion));
  }
  CorpusInfo& info = r.info;
  info.num_examples = read_int_attr(root, "num_examples", path);
  info.num_classes = read_int_attr(root, "num_classes", path);
  if (info.num_examples < 0 || info.num_classes < 0) invalid(path, "num_examples and num_classes must be >= 0");
  info.label_names = read_strings_attr(root, "label_names", path);
  if (static_cast<int64_t>(info.label_names.size()) != info.num_classes) {
    invalid(path, fmt::format("attribute 'label_names' has {} entries but num_classes is {}",
                              info.label_names.size(), info.num_classes));
  }
  auto source = read_strings_attr(root, "source", path);
  auto sha = read_strings_attr(root, "source_sha256", path);
  info.source = source.empty() ? "" : source[0];
  info.source_sha256 = sha.empty() ? "" : sha[0];

  const int64_t n = info.num_examples;
  int64_t len = 0;
  {
    h5::Plist dapl(h5::check(H5Pcreate(H5P_DATASET_ACCESS), "H5Pcreate", path));
    h5::check(H5Pset_chunk_cache(dapl.get(), kChunkCacheSlots, kChunkCacheBytes, 1.0), "H5Pset_chunk_cache",
              path);
    r.bytes = open_int_dataset(root, "/text/bytes", {1, false, "uint8"}, dapl.get(), &len, path);
    info.total_bytes = len;
  }
  {
    h5::Dataset ds = open_int_dataset(root, "/text/offsets", {8, true, "int64"}, H5P_DEFAULT, &len, path);
    if (len - 1 != n) invalid(path, fmt::format("dataset /text/offsets has {} entries, expected num_examples + 1 = {}", len, static_cast<uint64_t>(n) + 1));
    r.offsets = read_all<int64_t>(ds, H5T_NATIVE_INT64, len, "/text/offsets", path);
    if (r.offsets.front() != 0) invalid(path, "dataset /text/offsets must start at 0");
    for (int64_t i = 0; i < n; ++i) {
      if (r.offsets[i + 1] < r.offsets[i]) {
        invalid(path, fmt::format("dataset /text/offsets decreases at entry {} ({} -> {})", i + 1, r.offsets[i],
                                  r.offsets[i + 1]));
      }
    }
    if (r.offsets.back() != info.total_bytes) {
      invalid(path, fmt::format("dataset /text/offsets ends at {} but /text/bytes holds {} bytes", r.offsets.back(),
                                info.total_bytes));
    }
  }
  if (info.num_classes > 0) {
    h5::Dataset ds = open_int_dataset(root, "/label", {4, true, "int32"}, H5P_DEFAULT, &len, path);
    if (len != n) invalid(path, fmt::format("dataset /label has {} entries, expected {}", len, n));
    r.labels = read_all<int32_t>(ds, H5T_NATIVE_INT32, len, "/label", path);
    for (int64_t i = 0; i < n; ++i) {
      if (r.labels[i] < 0 || r.labels[i] >= info.num_classes) {
        invalid(path, fmt::format("dataset /label entry {} is {}, outside [0, {})", i, r.labels[i], info.num_classes));
      }
    }
  }
  {
    h5::Dataset ds = open_int_dataset(root, "/id", {8, true, "int64"}, H5P_DEFAULT, &len, path);
    if (len != n) invalid(path, fmt::format("dataset /id has {} entries, expected {}", len, n));
    r.ids = read_all<int64_t>(ds, H5T_NATIVE_INT64, len, "/id", path);
  }
}

CorpusReader::~CorpusReader() = default;
CorpusReader::CorpusReader(CorpusReader&&) noexcept = default;
CorpusReader& CorpusReader::operator=(CorpusReader&&) noexcept = default;

const CorpusInfo& CorpusReader::info() const { return impl_->info; }
const std::string& CorpusReader::path() const { return impl_->path; }
const std::vector<int32_t>& CorpusReader::labels() const { return impl_->labels; }

std::vector<int64_t> CorpusReader::text_bytes() const {
  const auto& o = impl_->offsets;
  std::vector<int64_t> bytes(o.size() - 1);
  for (size_t i = 0; i + 1 < o.size(); ++i) bytes[i] = o[i + 1] - o[i];
  return bytes;
}

int32_t CorpusReader::label(int64_t index) const {
  STURDY_CHECK(index >= 0 && index < size(), "{}: index {} out of range [0, {})", impl_->path, index, size());
  return impl_->labels.empty() ? -1 : impl_->labels[index];
}

int64_t CorpusReader::id(int64_t index) const {
  STURDY_CHECK(index >= 0 && index < size(), "{}: index {} out of range [0, {})", impl_->path, index, size());
  return impl_->ids[index];
}

std::vector<Example> CorpusReader::read(const std::vector<int64_t>& indices) const {
  Impl& r = *impl_;
  std::vector<Example> out(indices.size());
  // Visit the requested examples in file order and merge nearby byte ranges, so a
  // random batch costs one H5Dread per cluster of examples instead of one per example.
  std::vector<size_t> order(indices.size());
  std::iota(order.begin(), order.end(), size_t{0});
  for (int64_t index : indices) {
    STURDY_CHECK(index >= 0 && index < size(), "{}: index {} out of range [0, {})", r.path, index, size());
  }
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return indices[a] < indices[b]; });

  h5::QuietErrors quiet;
  h5::Space file_space(h5::check(H5Dget_space(r.bytes.get()), "H5Dget_space", r.path));
  size_t begin = 0;
  while (begin < order.size()) {
    const int64_t range_start = r.offsets[indices[order[begin]]];
    int64_t range_end = r.offsets[indices[order[begin]] + 1];
    size_t end = begin + 1;
    while (end < order.size() && r.offsets[indices[order[end]]] <= range_end + kMergeGap) {
      range_end = std::max(range_end, r.offsets[indices[order[end]] + 1]);
      ++end;
    }
    hsize_t start = static_cast<hsize_t>(range_start), count = static_cast<hsize_t>(range_end - range_start);
    r.buffer.resize(count);
    if (count > 0) {
      h5::check(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, &start, nullptr, &count, nullptr),
                "H5Sselect_hyperslab", r.path);
      h5::Space mem_space(h5::check(H5Screate_simple(1, &count, nullptr), "H5Screate_simple", r.path));
      if (H5Dread(r.bytes.get(), H5T_NATIVE_UINT8, mem_space.get(), file_space.get(), H5P_DEFAULT,
                  r.buffer.data()) < 0) {
        throw RuntimeError(fmt::format("{}: cannot read /text/bytes[{}:{}] (damaged file: checksum error?)",
                                       r.path, range_start, range_end));
      }
    }
    for (size_t k = begin; k < end; ++k) {
      const int64_t index = indices[order[k]];
      Example& ex = out[order[k]];
      ex.index = index;
      ex.id = r.ids[index];
      ex.label = r.labels.empty() ? -1 : r.labels[index];
      ex.text.assign(r.buffer, static_cast<size_t>(r.offsets[index] - range_start),
                     static_cast<size_t>(r.offsets[index + 1] - r.offsets[index]));
      size_t bad = utf8::find_invalid(ex.text);
      if (bad != std::string::npos) {
        invalid(r.path, fmt::format("example {} in /text/bytes is not valid UTF-8 at byte {}", index, bad));
      }
    }
    begin = end;
  }
  return out;
}

Example CorpusReader::read_one(int64_t index) const { return std::move(read({index}).front()); }

}  // namespace sturdy
