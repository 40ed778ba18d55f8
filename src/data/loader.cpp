// Prefetching batch loader (see loader.h).
#include "sturdy/data/loader.h"

#include <chrono>

#include "sturdy/core/error.h"
#include "sturdy/core/rng.h"
#include "sturdy/text/prompt.h"

namespace sturdy {

namespace {
// ids (B, longest) padded with pad_id, mask true at real tokens (an empty row is one pad token
// with mask true, so pooling stays defined), and the real-token count.
Batch padded_batch(const std::vector<std::vector<int32_t>>& rows, int32_t pad_id) {
  const int64_t b = static_cast<int64_t>(rows.size());
  int64_t longest = 1;
  for (const auto& r : rows) longest = std::max<int64_t>(longest, static_cast<int64_t>(r.size()));
  Batch batch;
  batch.ids = torch::full({b, longest}, pad_id, torch::kInt64);
  batch.mask = torch::zeros({b, longest}, torch::kBool);
  auto ids = batch.ids.accessor<int64_t, 2>();
  auto mask = batch.mask.accessor<bool, 2>();
  for (int64_t i = 0; i < b; ++i) {
    const auto& r = rows[i];
    for (size_t t = 0; t < r.size(); ++t) {
      ids[i][t] = r[t];
      mask[i][t] = true;
    }
    if (r.empty()) mask[i][0] = true;
    batch.tokens += std::max<int64_t>(1, static_cast<int64_t>(r.size()));
  }
  return batch;
}
}  // namespace

Batch make_batch(const Tokenizer& tokenizer, const std::vector<std::string>& texts,
                 const std::vector<int32_t>& labels, int64_t max_length, const EncodeFn& encode) {
  const int64_t b = static_cast<int64_t>(texts.size());
  std::vector<std::vector<int32_t>> encoded(b);
  for (int64_t i = 0; i < b; ++i) {
    encoded[i] = encode ? encode(static_cast<size_t>(i), texts[i]) : tokenizer.encode(texts[i]);
    if (static_cast<int64_t>(encoded[i].size()) > max_length) encoded[i].resize(max_length);
  }
  Batch batch = padded_batch(encoded, tokenizer.pad_id());
  if (!labels.empty()) {
    batch.labels = torch::empty({b}, torch::kInt64);
    auto l = batch.labels.accessor<int64_t, 1>();
    for (int64_t i = 0; i < b; ++i) l[i] = labels[i];
  }
  batch.texts = texts;
  return batch;
}

int64_t lm_prompt_cap(int64_t max_length) { return std::max<int64_t>(1, max_length / 2); }
int64_t lm_continuation_cap(int64_t max_length) { return std::max<int64_t>(0, max_length - lm_prompt_cap(max_length)); }

LmText split_lm_text(const Tokenizer& tokenizer, std::string_view text, double prompt_fraction, int64_t max_length) {
  LmText out;
  const size_t cut = prompt_end(text, prompt_fraction);
  if (cut == 0) {  // fewer than two words: read, nothing scored
    out.prompt = std::string(text);
    return out;
  }
  out.prompt = std::string(text.substr(0, cut));
  out.continuation = tokenizer.encode(text.substr(cut));
  const auto cap = static_cast<size_t>(lm_continuation_cap(max_length));
  if (out.continuation.size() > cap) out.continuation.resize(cap);
  return out;
}

LmSequence lm_sequence(const Tokenizer& tokenizer, std::vector<int32_t> prompt, const std::vector<int32_t>& continuation,
                       int64_t max_length) {
  const auto max_prompt = static_cast<size_t>(lm_prompt_cap(max_length));
  const int32_t bos = tokenizer.bos_id();
  if (bos >= 0) prompt.insert(prompt.begin(), bos);
  if (prompt.size() > max_prompt) prompt.erase(prompt.begin(), prompt.end() - static_cast<std::ptrdiff_t>(max_prompt));
  LmSequence out;
  out.prompt_length = static_cast<int64_t>(prompt.size());
  out.ids = std::move(prompt);
  out.ids.insert(out.ids.end(), continuation.begin(), continuation.end());
  return out;
}

Batch make_lm_batch(const Tokenizer& tokenizer, const std::vector<LmText>& texts, int64_t max_length,
                    const EncodeFn& encode_prompt) {
  const int64_t b = static_cast<int64_t>(texts.size());
  std::vector<std::vector<int32_t>> seqs(b);
  std::vector<int64_t> prompt_len(b);
  for (int64_t i = 0; i < b; ++i) {
    LmSequence s = lm_sequence(tokenizer,
                               encode_prompt ? encode_prompt(static_cast<size_t>(i), texts[i].prompt)
                                             : tokenizer.encode(texts[i].prompt),
                               texts[i].continuation, max_length);
    prompt_len[i] = s.prompt_length;
    seqs[i] = std::move(s.ids);
  }
  Batch batch = padded_batch(seqs, tokenizer.pad_id());
  batch.labels = torch::full(batch.ids.sizes(), kIgnoreLabel, torch::kInt64);
  auto labels = batch.labels.accessor<int64_t, 2>();
  for (int64_t i = 0; i < b; ++i) {
    // Position t predicts token t + 1: the continuation starts at prompt_len.
    const auto& s = seqs[i];
    for (int64_t t = std::max<int64_t>(prompt_len[i], 1); t < static_cast<int64_t>(s.size()); ++t) {
      labels[i][t - 1] = s[t];
    }
    batch.texts.push_back(texts[i].prompt);
  }
  return batch;
}

Loader::Loader(std::string corpus_path, std::shared_ptr<const Tokenizer> tokenizer,
               std::shared_ptr<const GlobalSampler> sampler, LoaderOptions options,
               TextTransform transform, TextTransform view_transform)
    : corpus_path_(std::move(corpus_path)),
      tokenizer_(std::move(tokenizer)),
      sampler_(std::move(sampler)),
      options_(options),
      transform_(std::move(transform)),
      view_transform_(std::move(view_transform)) {}

Loader::~Loader() { stop(); }

void Loader::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

void Loader::start(int64_t step) {
  stop();
  std::lock_guard<std::mutex> lock(mutex_);
  stopping_ = false;
  ready_.clear();
  error_ = nullptr;
  start_step_ = step;
  next_job_ = 0;
  for (int64_t w = 0; w < options_.workers; ++w) threads_.emplace_back(&Loader::work, this, static_cast<int>(w));
}

namespace {

torch::Tensor tensor_to(const torch::Tensor& t, const torch::Device& device) {
  if (!t.defined()) return t;
  return t.to(device, /*non_blocking=*/t.is_pinned());
}

}  // namespace

Batch to_device(Batch batch, const torch::Device& device) {
  if (device.is_cpu()) return batch;
  batch.ids = tensor_to(batch.ids, device);
  batch.mask = tensor_to(batch.mask, device);
  batch.labels = tensor_to(batch.labels, device);
  if (batch.perturbed) batch.perturbed = std::make_shared<Batch>(to_device(*batch.perturbed, device));
  return batch;
}

void pin_batch(Batch& batch) {
  for (auto* t : {&batch.ids, &batch.mask, &batch.labels}) {
    if (t->defined() && t->numel() > 0) *t = t->pin_memory();
  }
  if (batch.perturbed) pin_batch(*batch.perturbed);
}

Batch Loader::produce(const CorpusReader& reader, int64_t job) const {
  Batch batch = produce_texts(reader, job);
  if (options_.pin_memory) pin_batch(batch);
  return batch;
}

Batch Loader::produce_texts(const CorpusReader& reader, int64_t job) const {
  const int64_t step = start_step_ + job / options_.accumulation;
  const int64_t micro = job % options_.accumulation;
  const auto indices =
      sampler_->rank_batch(step, options_.rank, options_.world, options_.micro_batch, micro);
  const int64_t epoch = sampler_->epoch_of(step);
  std::vector<Example> examples = reader.read(indices);
  if (options_.lm) return produce_lm(std::move(examples), step, micro, epoch);
  std::vector<std::string> texts;
  std::vector<int32_t> labels;
  std::vector<int64_t> ids;
  for (auto& e : examples) {
    texts.push_back(transform_ ? transform_(e.text, static_cast<uint64_t>(e.id), epoch) : std::move(e.text));
    if (e.label >= 0) labels.push_back(e.label);
    ids.push_back(e.id);
  }
  if (!labels.empty() && labels.size() != texts.size()) {
    throw UsageError(fmt::format("{}: some examples have labels and some do not", corpus_path_));
  }
  Batch batch = make_batch(*tokenizer_, texts, labels, options_.max_length, encoder(ids, epoch, 0));
  if (view_transform_) {
    std::vector<std::string> views;
    for (size_t i = 0; i < texts.size(); ++i) views.push_back(view_transform_(texts[i], ids[i], epoch));
    batch.perturbed =
        std::make_shared<Batch>(make_batch(*tokenizer_, views, labels, options_.max_length, encoder(ids, epoch, 1)));
    batch.perturbed->example_ids = ids;
  }
  batch.example_ids = std::move(ids);
  batch.step = step;
  batch.micro = micro;
  batch.epoch = epoch;
  return batch;
}

EncodeFn Loader::encoder(const std::vector<int64_t>& ids, int64_t epoch, uint64_t view) const {
  const SubwordSampling s = options_.subword;
  if (!s.enabled()) return {};
  const Tokenizer* tokenizer = tokenizer_.get();
  // ids by value: the function may outlive the caller's vector (a micro-batch of int64s).
  return [tokenizer, s, ids, epoch, view](size_t i, std::string_view text) {
    const uint64_t key = hash_key({s.seed, 0x5357u /* 'SW' */, static_cast<uint64_t>(epoch),
                                   static_cast<uint64_t>(ids[i]), view});
    return tokenizer->encode_sampled(text, s.nbest, s.alpha, key);
  };
}

Batch Loader::produce_lm(std::vector<Example> examples, int64_t step, int64_t micro, int64_t epoch) const {
  std::vector<LmText> texts;
  std::vector<int64_t> ids;
  for (auto& e : examples) {
    LmText t = split_lm_text(*tokenizer_, e.text, options_.prompt_fraction, options_.max_length);
    if (transform_) t.prompt = transform_(t.prompt, static_cast<uint64_t>(e.id), epoch);
    texts.push_back(std::move(t));
    ids.push_back(e.id);
  }
  Batch batch = make_lm_batch(*tokenizer_, texts, options_.max_length, encoder(ids, epoch, 0));
  if (view_transform_) {
    for (size_t i = 0; i < texts.size(); ++i) texts[i].prompt = view_transform_(texts[i].prompt, ids[i], epoch);
    batch.perturbed =
        std::make_shared<Batch>(make_lm_batch(*tokenizer_, texts, options_.max_length, encoder(ids, epoch, 1)));
    batch.perturbed->example_ids = ids;
  }
  batch.example_ids = std::move(ids);
  batch.step = step;
  batch.micro = micro;
  batch.epoch = epoch;
  return batch;
}

void Loader::work(int worker) {
  try {
    CorpusReader reader(corpus_path_);  // one reader per thread
    for (int64_t job = worker;; job += options_.workers) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [&] { return stopping_ || job < next_job_ + options_.prefetch; });
        if (stopping_) return;
      }
      const auto t0 = std::chrono::steady_clock::now();
      Batch batch = produce(reader, job);
      const double spent = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      {
        std::lock_guard<std::mutex> lock(mutex_);
        ready_.emplace(job, std::move(batch));
        produce_seconds_ += spent;
      }
      cv_.notify_all();
    }
  } catch (...) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!error_) error_ = std::current_exception();
    cv_.notify_all();
  }
}

Batch Loader::next() {
  const auto t0 = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(mutex_);
  STURDY_CHECK(!threads_.empty(), "Loader::next() before Loader::start()");
  cv_.wait(lock, [&] { return error_ != nullptr || ready_.count(next_job_) > 0; });
  if (ready_.count(next_job_) == 0) std::rethrow_exception(error_);
  Batch batch = std::move(ready_[next_job_]);
  ready_.erase(next_job_);
  ++next_job_;
  wait_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  lock.unlock();
  cv_.notify_all();
  return batch;
}

double Loader::take_produce_seconds() {
  std::lock_guard<std::mutex> lock(mutex_);
  const double p = produce_seconds_;
  produce_seconds_ = 0;
  return p;
}

double Loader::take_wait_seconds() {
  std::lock_guard<std::mutex> lock(mutex_);
  const double w = wait_seconds_;
  wait_seconds_ = 0;
  return w;
}

}  // namespace sturdy
