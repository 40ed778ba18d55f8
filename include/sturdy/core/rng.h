// Counter-based random numbers.
//
// Every random decision in the data path is a pure function of a key such as
// (seed, epoch, example_id, view, op), so the same text comes out on any rank, in
// any thread, in any order. `Rng` is a SplitMix64 stream started from a hashed key:
// cheap to create per example, and its output depends only on the key.
#pragma once

#include <cstdint>
#include <initializer_list>

namespace sturdy {

// One SplitMix64 finalisation step: a bijective 64-bit mixer.
inline uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Hashes a key tuple into one 64-bit seed; order of the parts matters.
inline uint64_t hash_key(std::initializer_list<uint64_t> parts) {
  uint64_t h = 0x243F6A8885A308D3ull;  // pi, a nothing-up-my-sleeve start
  for (uint64_t p : parts) h = mix64(h ^ mix64(p));
  return h;
}

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  Rng(std::initializer_list<uint64_t> key) : state_(hash_key(key)) {}

  uint64_t next_u64() {
    state_ += 0x9E3779B97F4A7C15ull;
    uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
  // Uniform integer in [0, n); n > 0. Lemire's multiply-shift (bias < 2^-64 * n).
  uint64_t below(uint64_t n) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(next_u64()) * n) >> 64);
  }
  bool bernoulli(double p) { return uniform() < p; }

  uint64_t state() const { return state_; }
  void set_state(uint64_t s) { state_ = s; }

 private:
  uint64_t state_;
};

}  // namespace sturdy
