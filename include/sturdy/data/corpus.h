// HDF5 corpus, version 1 (a stable contract, docs/data.md; readable with h5py alone).
//
//   /            attrs format="sturdy-corpus", version=1, num_examples, num_classes,
//                      label_names (string array), source, source_sha256
//   /text/bytes    uint8[total_bytes]        UTF-8 text of all examples, concatenated
//   /text/offsets  int64[num_examples + 1]   example i is bytes[offsets[i]:offsets[i+1]]
//   /label         int32[num_examples]       present when num_classes > 0
//   /id            int64[num_examples]       stable example ids
//
// The writer streams to `<path>.tmp` and renames on `finish()`, so a failed
// import never leaves a half-written corpus. The reader loads offsets, labels and
// ids (small) and reads text byte ranges on demand, so a rank touches only its share.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sturdy {

struct Example {
  int64_t index = 0;  // position in the corpus
  int64_t id = 0;     // stable id (perturbations are keyed by it)
  int32_t label = -1; // -1 when the corpus has no labels
  std::string text;
};

struct CorpusInfo {
  int64_t num_examples = 0;
  int64_t num_classes = 0;
  std::vector<std::string> label_names;
  std::string source;
  std::string source_sha256;
  int64_t total_bytes = 0;
};

class CorpusWriter {
 public:
  // label_names empty -> unlabelled corpus (num_classes = 0).
  CorpusWriter(std::string path, std::vector<std::string> label_names, std::string source,
               std::string source_sha256);
  ~CorpusWriter();  // removes the temporary file when finish() was not called
  CorpusWriter(const CorpusWriter&) = delete;
  CorpusWriter& operator=(const CorpusWriter&) = delete;

  // Appends one example; text must be valid UTF-8, label in [0, num_classes) or -1 when unlabelled.
  void add(const std::string& text, int32_t label, int64_t id);
  int64_t size() const;
  // Writes all datasets to <path>.tmp, flushes, closes and renames to <path>.
  void finish();
  // finish() in two steps, so several outputs (train + valid) can all be written
  // before any is published: write_temp() completes and fsyncs <path>.tmp,
  // commit() renames it to <path>.
  void write_temp();
  void commit();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class CorpusReader {
 public:
  // Throws UsageError naming the file and the missing/invalid dataset or attribute.
  explicit CorpusReader(const std::string& path);
  ~CorpusReader();
  CorpusReader(CorpusReader&&) noexcept;
  CorpusReader& operator=(CorpusReader&&) noexcept;

  const CorpusInfo& info() const;
  const std::string& path() const;
  int64_t size() const { return info().num_examples; }
  int32_t label(int64_t index) const;
  int64_t id(int64_t index) const;
  const std::vector<int32_t>& labels() const;
  // Text length in bytes of every example, in corpus order (from the offsets; no text is
  // read): the key of length bucketing (data.bucket_window).
  std::vector<int64_t> text_bytes() const;

  // Reads examples by corpus index (any order); reads only their byte ranges.
  // Not thread-safe: use one reader per thread (HDF5 serialises calls anyway).
  std::vector<Example> read(const std::vector<int64_t>& indices) const;
  Example read_one(int64_t index) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sturdy
