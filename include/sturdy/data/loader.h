// Prefetching batch loader: corpus -> (perturb) -> tokenize -> padded tensors.
//
// Worker threads prepare this rank's micro-batches in order, `prefetch` ahead of
// the trainer, so reading, perturbation and tokenization overlap with compute.
// Batches are padded to their longest example (dynamic padding), not to max_length.
// The position is a global step, so a resume only needs the step.
#pragma once

#include <torch/torch.h>

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "sturdy/data/corpus.h"
#include "sturdy/data/sampler.h"
#include "sturdy/perturb/text_transform.h"
#include "sturdy/text/tokenizer.h"

namespace sturdy {

struct Batch {
  torch::Tensor ids;     // (B, T) int64, padded with the tokenizer's pad id
  torch::Tensor mask;    // (B, T) bool, true at real tokens
  torch::Tensor labels;  // classifier: (B) int64 (empty tensor when the corpus has no labels);
                         // LM: (B, T) int64 next-token targets, kIgnoreLabel where nothing is scored
  std::vector<int64_t> example_ids;  // stable ids, for keyed perturbation
  std::vector<std::string> texts;    // the texts as tokenized (after augmentation)
  std::shared_ptr<Batch> perturbed;  // a perturbed view of the same examples (consistency)
  int64_t tokens = 0;    // real (non-pad) tokens
  int64_t step = 0;
  int64_t micro = 0;
  int64_t epoch = 0;
};

// The batch's tensors (and its perturbed view's) on `device`. From pinned host memory
// (LoaderOptions::pin_memory) the copies are non-blocking: they queue on the device's
// current stream, behind nothing the host waits for. The CPU device returns `batch` as is.
Batch to_device(Batch batch, const torch::Device& device);

// Moves the batch's tensors (and its view's) into page-locked host memory.
void pin_batch(Batch& batch);

// Tokenizes text `index` of a batch; empty: Tokenizer::encode.
using EncodeFn = std::function<std::vector<int32_t>(size_t index, std::string_view text)>;

// Tokenizes `texts` into a padded batch (truncating to max_length tokens; an empty text
// becomes a single pad token with mask true so pooling stays defined).
Batch make_batch(const Tokenizer& tokenizer, const std::vector<std::string>& texts,
                 const std::vector<int32_t>& labels, int64_t max_length, const EncodeFn& encode = {});

// LM batches (model.head lm). Each text is split by prompt_end() into a prompt and a
// continuation; the model reads [bos] + prompt + continuation, where the prompt keeps its last
// max(1, max_length/2) tokens and the continuation at most max_length minus that many, a cap
// that does not depend on the prompt, so a perturbed prompt never changes which tokens are
// scored. labels[i][t] is the token at t + 1 for every position t that predicts a continuation
// token, kIgnoreLabel elsewhere (prompt, padding, texts of fewer than two words).
inline constexpr int64_t kIgnoreLabel = -100;
struct LmText {
  std::string prompt;                  // as the model reads it (perturbed or not)
  std::vector<int32_t> continuation;   // token ids, already capped by lm_continuation_cap
};
int64_t lm_prompt_cap(int64_t max_length);
int64_t lm_continuation_cap(int64_t max_length);
// Splits `text` with `prompt_fraction` and tokenizes the continuation (capped).
LmText split_lm_text(const Tokenizer& tokenizer, std::string_view text, double prompt_fraction, int64_t max_length);
// One LM row: [bos] + the prompt's last tokens (lm_prompt_cap in all) + the continuation.
// Position t predicts token t + 1; the scored positions are max(prompt_length, 1) - 1 onwards.
struct LmSequence {
  std::vector<int32_t> ids;
  int64_t prompt_length = 0;  // bos included
};
LmSequence lm_sequence(const Tokenizer& tokenizer, std::vector<int32_t> prompt, const std::vector<int32_t>& continuation,
                       int64_t max_length);
// `encode_prompt` tokenizes the prompts (the continuation is tokenized by split_lm_text).
Batch make_lm_batch(const Tokenizer& tokenizer, const std::vector<LmText>& texts, int64_t max_length,
                    const EncodeFn& encode_prompt = {});

// Subword regularisation in the loader (augment.subword_alpha): every training text, and the
// consistency view, is tokenized by Tokenizer::encode_sampled keyed by (seed, epoch, example
// id, view), so the segmentation, like the perturbation, does not depend on ranks or threads.
struct SubwordSampling {
  double alpha = 0;   // 0: off
  int64_t nbest = 0;
  uint64_t seed = 0;
  bool enabled() const { return alpha > 0 && nbest > 1; }
};

struct LoaderOptions {
  int64_t micro_batch = 32;
  int64_t accumulation = 1;  // micro-batches per rank per step
  int64_t max_length = 64;
  int64_t prefetch = 4;
  int64_t workers = 1;
  bool lm = false;               // LM batches (make_lm_batch); transforms perturb the prompt only
  double prompt_fraction = 0.5;  // LM: share of words in the prompt (data.prompt_fraction)
  SubwordSampling subword;       // augment.subword_alpha / subword_nbest, run.seed
  bool pin_memory = false;       // batches in page-locked memory (for copies to a GPU)
  int rank = 0;
  int world = 1;
};

class Loader {
 public:
  // `transform` rewrites each text (augmentation); `view_transform`, when set, makes a
  // second, perturbed view of every batch (Batch::perturbed) from the transformed text.
  Loader(std::string corpus_path, std::shared_ptr<const Tokenizer> tokenizer,
         std::shared_ptr<const GlobalSampler> sampler, LoaderOptions options,
         TextTransform transform = nullptr, TextTransform view_transform = nullptr);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // Positions the loader at global step `step` (micro-batch 0) and starts the workers.
  void start(int64_t step);
  // The next micro-batch in order; rethrows a worker's exception.
  Batch next();
  // Seconds the trainer spent waiting in next() since the last call.
  double take_wait_seconds();
  // Seconds the workers spent preparing batches (read, perturb, tokenize, pad) since the
  // last call: the data pipeline's CPU cost, whether or not it overlapped with compute.
  double take_produce_seconds();

 private:
  void stop();
  void work(int worker);
  Batch produce(const CorpusReader& reader, int64_t job) const;  // produce_texts, pinned if asked
  Batch produce_texts(const CorpusReader& reader, int64_t job) const;
  Batch produce_lm(std::vector<Example> examples, int64_t step, int64_t micro, int64_t epoch) const;
  // The loader's tokenization of view `view` (0: the training text, 1: the consistency view).
  EncodeFn encoder(const std::vector<int64_t>& ids, int64_t epoch, uint64_t view) const;

  std::string corpus_path_;
  std::shared_ptr<const Tokenizer> tokenizer_;
  std::shared_ptr<const GlobalSampler> sampler_;
  LoaderOptions options_;
  TextTransform transform_;
  TextTransform view_transform_;

  std::mutex mutex_;
  std::condition_variable cv_;
  std::map<int64_t, Batch> ready_;
  std::exception_ptr error_;
  int64_t start_step_ = 0;
  int64_t next_job_ = 0;      // the job next() returns next
  bool stopping_ = false;
  double wait_seconds_ = 0;
  double produce_seconds_ = 0;
  std::vector<std::thread> threads_;
};

}  // namespace sturdy
