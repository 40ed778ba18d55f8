// llama2.c tokenizer (tok*.bin as written by llama2.c's tokenizer.py):
//   int32 max_token_length, then per token: float32 score, int32 length, bytes[length].
// The file does not store the vocabulary size: tokens run to the end of the file.
// ids follow llama2.c: unk=0, bos=1, eos=2; no pad piece exists, so pad is 0 (unk),
// which is never attended to (padded positions are masked).
//
// encode() reproduces llama2.c's encode(): a dummy-prefix space, one token per
// UTF-8 character (byte-fallback <0xXX> tokens when the character is not in the
// vocabulary), then repeatedly merge the adjacent pair whose concatenated piece
// has the highest score (leftmost on ties). We use a heap instead of llama2.c's
// rescans (same result, O(n log n)).
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <queue>
#include <string>
#include <system_error>
#include <unordered_map>

#include <fmt/format.h>

#include "sturdy/core/error.h"
#include "sturdy/text/tokenizer.h"

namespace sturdy {
namespace {

constexpr int32_t kUnk = 0;
constexpr int32_t kBos = 1;
constexpr int32_t kEos = 2;
constexpr char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD

// Bytes of the UTF-8 sequence starting with `lead`, in llama2.c's lenient way
// (a stray continuation or invalid lead is one byte; truncated sequences are cut
// by the caller at the end of the text).
size_t utf8_length(unsigned char lead) {
  if (lead < 0xC0) return 1;
  if (lead < 0xE0) return 2;
  if (lead < 0xF0) return 3;
  return 4;
}

// "<0xAB>" -> 0xAB; -1 for any other piece.
int parse_byte_piece(const std::string& piece) {
  if (piece.size() != 6 || piece.compare(0, 3, "<0x") != 0 || piece[5] != '>') return -1;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  const int hi = hex(piece[3]), lo = hex(piece[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

class Llama2cTokenizer final : public Tokenizer {
 public:
  explicit Llama2cTokenizer(const std::string& path) : path_(path) {
    load();
    // First occurrence wins for duplicate pieces (llama2.c's bsearch is unspecified there).
    lookup_.reserve(pieces_.size());
    for (size_t id = 0; id < pieces_.size(); ++id) {
      lookup_.emplace(pieces_[id], static_cast<int32_t>(id));
      const int byte = parse_byte_piece(pieces_[id]);
      if (byte >= 0 && byte_piece_id_[byte] < 0) byte_piece_id_[byte] = static_cast<int32_t>(id);
      byte_value_.push_back(byte);
    }
    for (int b = 0; b < 256; ++b) {
      if (byte_piece_id_[b] < 0) byte_piece_id_[b] = kUnk;  // no byte fallback in this vocabulary
    }
  }

  std::string kind() const override { return choice_name(TokenizerKind::kLlama2c); }
  int64_t vocab_size() const override { return static_cast<int64_t>(pieces_.size()); }
  int32_t pad_id() const override { return kUnk; }
  int32_t bos_id() const override { return kBos; }
  int32_t eos_id() const override { return kEos; }

  std::vector<int32_t> encode(std::string_view text) const override {
    std::vector<int32_t> ids;
    if (text.empty()) return ids;
    ids.reserve(text.size() + 1);
    push_characters(" ", ids);  // the dummy prefix (sentencepiece's add_dummy_prefix)
    push_characters(text, ids);
    merge(ids);
    return ids;
  }

  // Pieces concatenated; <0xXX> pieces become raw bytes. A leading space is dropped
  // from the first piece of the text and from the piece after each bos (the dummy
  // prefix), so decode(encode(t)) == t. eos/bos produce nothing; unk and ids
  // outside the vocabulary produce U+FFFD.
  std::string decode(const std::vector<int32_t>& ids) const override {
    std::string text;
    bool at_start = true;
    for (const int32_t id : ids) {
      if (id == kBos) {
        at_start = true;
        continue;
      }
      if (id == kEos) continue;
      if (id == kUnk || id < 0 || id >= vocab_size()) {
        text += kReplacement;
        at_start = false;
        continue;
      }
      const int byte = byte_value_[id];
      if (byte >= 0) {
        if (!(at_start && byte == ' ')) text.push_back(static_cast<char>(byte));
      } else {
        const std::string& piece = pieces_[id];
        text.append(piece, at_start && !piece.empty() && piece[0] == ' ' ? 1 : 0);
      }
      at_start = false;
    }
    return text;
  }

 private:
  void load();

  // One id per UTF-8 character (or per byte through <0xXX> pieces when absent).
  void push_characters(std::string_view text, std::vector<int32_t>& ids) const {
    std::string character;
    for (size_t i = 0; i < text.size();) {
      const size_t n = std::min(utf8_length(static_cast<unsigned char>(text[i])), text.size() - i);
      character.assign(text.data() + i, n);
      const auto it = lookup_.find(character);
      if (it != lookup_.end()) {
        ids.push_back(it->second);
      } else {
        for (size_t k = 0; k < n; ++k) {
          ids.push_back(byte_piece_id_[static_cast<unsigned char>(text[i + k])]);
        }
      }
      i += n;
    }
  }

  // Best-score-first pair merging over a doubly linked list of symbols.
  void merge(std::vector<int32_t>& ids) const {
    const int n = static_cast<int>(ids.size());
    if (n < 2) return;
    std::vector<int> prev(n), next(n);
    for (int i = 0; i < n; ++i) {
      prev[i] = i - 1;
      next[i] = i + 1 < n ? i + 1 : -1;
    }
    struct Candidate {
      float score;
      int left, right;  // symbol positions; stale when either changed since
      int32_t left_id, right_id, merged_id;
    };
    // Highest score first; on ties the leftmost pair, as llama2.c's left-to-right scan.
    auto worse = [](const Candidate& a, const Candidate& b) {
      return a.score < b.score || (a.score == b.score && a.left > b.left);
    };
    std::priority_queue<Candidate, std::vector<Candidate>, decltype(worse)> heap(worse);
    std::string joined;
    auto consider = [&](int left, int right) {
      if (left < 0 || right < 0) return;
      joined.assign(pieces_[ids[left]]).append(pieces_[ids[right]]);
      const auto it = lookup_.find(joined);
      if (it == lookup_.end()) return;
      heap.push({scores_[it->second], left, right, ids[left], ids[right], it->second});
    };
    for (int i = 0; i + 1 < n; ++i) consider(i, i + 1);
    std::vector<char> alive(n, 1);
    while (!heap.empty()) {
      const Candidate c = heap.top();
      heap.pop();
      if (!alive[c.left] || !alive[c.right] || next[c.left] != c.right ||
          ids[c.left] != c.left_id || ids[c.right] != c.right_id) {
        continue;  // one side was merged into something else since this was pushed
      }
      ids[c.left] = c.merged_id;
      alive[c.right] = 0;
      next[c.left] = next[c.right];
      if (next[c.right] >= 0) prev[next[c.right]] = c.left;
      consider(prev[c.left], c.left);
      consider(c.left, next[c.left]);
    }
    int out = 0;
    for (int i = 0; i < n; ++i) {
      if (alive[i]) ids[out++] = ids[i];
    }
    ids.resize(out);
  }

  std::string path_;
  std::vector<std::string> pieces_;
  std::vector<float> scores_;
  std::vector<int> byte_value_;  // per id: the raw byte of a <0xXX> piece, else -1
  std::unordered_map<std::string, int32_t> lookup_;
  int32_t byte_piece_id_[256] = {};
  int32_t max_token_length_ = 0;
};

// The file is untrusted: every length is checked against the bytes left before
// anything is allocated, and errors name the file and byte offset.
void Llama2cTokenizer::load() {
  for (auto& id : byte_piece_id_) id = -1;
  std::ifstream in(path_, std::ios::binary);
  if (!in) {
    const std::error_code ec(errno, std::generic_category());
    throw UsageError(fmt::format("tokenizer.path: cannot read '{}' ({})", path_, ec.message()));
  }
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  STURDY_USAGE_CHECK(!in.bad(), "tokenizer.path: read error in '{}'", path_);
  const size_t size = data.size();
  size_t offset = 0;
  auto fail = [&](const std::string& what) {
    throw UsageError(fmt::format("tokenizer.path: '{}' is not a llama2.c tokenizer: {} at byte {}",
                                 path_, what, offset));
  };
  auto read_bytes = [&](void* dst, size_t n, const char* what) {
    if (size - offset < n) fail(fmt::format("truncated {} ({} of {} bytes left)", what, size - offset, n));
    std::memcpy(dst, data.data() + offset, n);
    offset += n;
  };
  read_bytes(&max_token_length_, sizeof(int32_t), "max_token_length");
  if (max_token_length_ <= 0) {
    offset = 0;
    fail(fmt::format("max_token_length {} is not positive", max_token_length_));
  }
  while (offset < size) {
    const size_t record = offset;
    float score = 0;
    int32_t length = 0;
    read_bytes(&score, sizeof(float), "token score");
    read_bytes(&length, sizeof(int32_t), "token length");
    if (length < 0 || static_cast<size_t>(length) > size - offset) {
      offset = record + sizeof(float);
      fail(fmt::format("token {} has length {} but {} bytes remain", pieces_.size(), length,
                       size - offset - sizeof(int32_t)));
    }
    if (!(score == score)) {  // NaN would break the merge order
      offset = record;
      fail(fmt::format("token {} has a NaN score", pieces_.size()));
    }
    pieces_.emplace_back(data.data() + offset, static_cast<size_t>(length));
    scores_.push_back(score);
    offset += static_cast<size_t>(length);
  }
  if (pieces_.size() < 3) fail(fmt::format("{} tokens (need at least unk, bos, eos)", pieces_.size()));
}

}  // namespace

std::unique_ptr<Tokenizer> load_llama2c_tokenizer(const std::string& tok_bin_path) {
  return std::make_unique<Llama2cTokenizer>(tok_bin_path);
}

}  // namespace sturdy
