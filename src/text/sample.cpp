// Seeded sentence sampling for tokenizer training (compiled into sturdy_text and the
// sentencepiece plugin alike).
#include <algorithm>

#include "sturdy/core/rng.h"
#include "sturdy/text/tokenizer.h"

namespace sturdy {

// The `max_sentences` indices with the smallest hash of (seed, index): a seeded
// uniform sample that depends on nothing but its arguments, returned in corpus order.
std::vector<int64_t> sample_sentence_indices(int64_t count, int64_t max_sentences, uint64_t seed) {
  std::vector<int64_t> indices(static_cast<size_t>(std::max<int64_t>(count, 0)));
  for (int64_t i = 0; i < count; ++i) indices[i] = i;
  if (max_sentences <= 0 || count <= max_sentences) return indices;
  std::vector<std::pair<uint64_t, int64_t>> keyed(indices.size());
  for (int64_t i = 0; i < count; ++i) keyed[i] = {hash_key({seed, static_cast<uint64_t>(i)}), i};
  std::nth_element(keyed.begin(), keyed.begin() + max_sentences, keyed.end());
  indices.resize(static_cast<size_t>(max_sentences));
  for (int64_t i = 0; i < max_sentences; ++i) indices[i] = keyed[i].second;
  std::sort(indices.begin(), indices.end());
  return indices;
}

}  // namespace sturdy
