// `sturdy generate --checkpoint C [--tokenizer T] [--prompt P] [--max-new-tokens N]
//                  [--temperature t] [--top-p p] [--seed s] [--samples K --output F]`: text
// from an LM head, and
// `sturdy export --checkpoint C --output DIR [--tokenizer T]`: a Hugging Face Llama folder.
//
// C is a Sturdy checkpoint or run folder, a llama2.c .bin or a safetensors folder. The model
// reads [bos] + prompt and appends one token at a time until eos/bos, N new tokens or
// model.max_seq_len. No KV cache: every step runs the whole sequence again (fine for small
// models; O(T^2) per token for big ones). Temperature 0 is greedy; otherwise top-p
// (nucleus) sampling as in llama2.c, with draws from Rng{seed, step}, so a seed repeats.
// --samples K draws K texts as one batch, sample i with seed + i (so it equals a single run
// with --seed seed+i), and writes them to --output, one per line (newlines become spaces):
// a corpus for `sturdy prepare --format text --documents line` (docs/robustness.md).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <numeric>
#include <optional>

#include "commands.h"
#include "sturdy/ckpt/pretrained.h"
#include "sturdy/core/atomic_file.h"
#include "sturdy/core/error.h"
#include "sturdy/core/rng.h"
#include "sturdy/distributed/device.h"
#include "sturdy/text/tokenizer.h"

namespace sturdy::apps {
namespace {

struct GenerateOptions {
  std::string checkpoint, tokenizer, prompt;
  std::optional<TokenizerKind> tokenizer_kind;  // default: from the tokenizer file's name
  int64_t max_new_tokens = 256;
  double temperature = 1.0;
  double top_p = 0.9;
  uint64_t seed = 1;
  int64_t samples = 1;
  std::string output;
  DeviceKind device = DeviceKind::kAuto;  // run.device's choices
};

// Index drawn from probs (V) by top-p sampling with the uniform u in [0, 1).
int64_t sample_top_p(const torch::Tensor& probs, double top_p, double u) {
  const auto sorted = probs.sort(/*dim=*/0, /*descending=*/true);
  const auto p = std::get<0>(sorted).contiguous();
  const auto index = std::get<1>(sorted).contiguous();
  const float* pp = p.data_ptr<float>();
  const int64_t n = p.numel();
  // Smallest prefix whose mass exceeds top_p (at least one token).
  double mass = 0;
  int64_t keep = 0;
  while (keep < n) {
    mass += pp[keep++];
    if (mass > top_p) break;
  }
  double target = u * mass, cum = 0;
  for (int64_t i = 0; i < keep; ++i) {
    cum += pp[i];
    if (target < cum) return index[i].item<int64_t>();
  }
  return index[keep - 1].item<int64_t>();
}

// The next token from the last position's logits (V, float): greedy or top-p with u.
int64_t pick_next(const torch::Tensor& logits, const GenerateOptions& o, uint64_t seed, int64_t step) {
  if (o.temperature == 0) return logits.argmax().item<int64_t>();
  const auto probs = torch::softmax(logits / o.temperature, 0);
  return sample_top_p(probs, o.top_p, Rng{seed, static_cast<uint64_t>(step)}.uniform());
}

// --samples K: K rows in one batch (same prompt, so the same length; a finished row keeps
// running but is ignored), written to o.output one text per line, atomically.
void generate_samples(const GenerateOptions& o, Transformer& model, const Tokenizer& tokenizer,
                      const std::vector<int32_t>& prompt, int64_t limit) {
  STURDY_USAGE_CHECK(!o.output.empty(), "generate: --samples needs --output FILE (one text per line)");
  const int64_t k = o.samples;
  std::vector<std::vector<int32_t>> rows(k, prompt);
  std::vector<bool> done(k, false);
  const auto t0 = std::chrono::steady_clock::now();
  int64_t produced = 0;
  for (int64_t step = 0; step < o.max_new_tokens && static_cast<int64_t>(prompt.size()) + step < limit; ++step) {
    const int64_t t = static_cast<int64_t>(rows[0].size());
    auto input = torch::empty({k, t}, torch::kInt64);
    auto in = input.accessor<int64_t, 2>();
    for (int64_t i = 0; i < k; ++i) for (int64_t j = 0; j < t; ++j) in[i][j] = rows[i][j];
    input = input.to(model->device());
    const auto logits = model->forward(input, torch::ones_like(input, torch::kBool))
                            .select(1, t - 1).narrow(1, 0, tokenizer.vocab_size()).to(torch::kCPU, torch::kFloat);
    bool any = false;
    for (int64_t i = 0; i < k; ++i) {
      int64_t next = tokenizer.pad_id();
      if (!done[i]) {
        next = pick_next(logits[i], o, o.seed + static_cast<uint64_t>(i), step);
        if (next == tokenizer.eos_id() || next == tokenizer.bos_id()) {
          done[i] = true;
        } else {
          ++produced;
        }
      }
      rows[i].push_back(static_cast<int32_t>(next));
      any = any || !done[i];
    }
    if (!any) break;
  }
  std::string text;
  for (int64_t i = 0; i < k; ++i) {
    // The row up to its stop token, decoded; newlines become spaces (one text per line).
    auto& r = rows[i];
    size_t end = prompt.size();
    while (end < r.size() && r[end] != tokenizer.eos_id() && r[end] != tokenizer.bos_id() &&
           !(done[i] && r[end] == tokenizer.pad_id())) {
      ++end;
    }
    std::vector<int32_t> ids(r.begin(), r.begin() + static_cast<std::ptrdiff_t>(end));
    std::string line = tokenizer.decode(ids);
    std::replace(line.begin(), line.end(), '\n', ' ');
    std::replace(line.begin(), line.end(), '\r', ' ');
    text += line;
    text += '\n';
  }
  write_file_atomically(o.output, text);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "wrote %lld samples to %s: %lld tokens in %.2f s (%.1f tokens/s)\n",
               static_cast<long long>(k), o.output.c_str(), static_cast<long long>(produced), seconds,
               seconds > 0 ? produced / seconds : 0.0);
}

void generate(const GenerateOptions& o) {
  STURDY_USAGE_CHECK(o.max_new_tokens >= 0, "generate: --max-new-tokens must be >= 0");
  STURDY_USAGE_CHECK(o.temperature >= 0, "generate: --temperature must be >= 0");
  STURDY_USAGE_CHECK(o.top_p > 0 && o.top_p <= 1, "generate: --top-p must be in (0, 1]");
  STURDY_USAGE_CHECK(o.samples >= 1, "generate: --samples must be >= 1");
  const PretrainedModel pretrained = read_pretrained(o.checkpoint);
  STURDY_USAGE_CHECK(pretrained.config.head == ModelHead::kLm,
                     "generate: {} has a '{}' head; generation needs a language-model head (model.head: lm)",
                     o.checkpoint, pretrained.config.head);
  const auto tokenizer = make_tokenizer(pretrained_tokenizer(pretrained, o.tokenizer, o.tokenizer_kind));
  STURDY_USAGE_CHECK(tokenizer->vocab_size() <= pretrained.config.vocab_size,
                     "generate: the tokenizer has {} tokens but the model only {}", tokenizer->vocab_size(),
                     pretrained.config.vocab_size);
  Transformer model = build_pretrained(pretrained);
  model->to(dist::select_device(o.device, DistBackend::kAuto, 0, 1));
  torch::NoGradGuard no_grad;

  std::vector<int32_t> ids = tokenizer->encode(o.prompt);
  if (tokenizer->bos_id() >= 0) ids.insert(ids.begin(), tokenizer->bos_id());
  STURDY_USAGE_CHECK(!ids.empty(), "generate: empty prompt and the tokenizer has no bos token to start from");
  const int64_t limit = pretrained.config.max_seq_len;
  STURDY_USAGE_CHECK(static_cast<int64_t>(ids.size()) < limit,
                     "generate: the prompt has {} tokens; the model reads at most {}", ids.size(), limit);
  if (!o.output.empty()) return generate_samples(o, model, *tokenizer, ids, limit);

  std::string shown = tokenizer->decode(ids);
  std::fputs(shown.c_str(), stdout);
  std::fflush(stdout);
  const auto t0 = std::chrono::steady_clock::now();
  int64_t produced = 0;
  for (int64_t step = 0; step < o.max_new_tokens && static_cast<int64_t>(ids.size()) < limit; ++step) {
    const auto input =
        torch::tensor(std::vector<int64_t>(ids.begin(), ids.end()), torch::kInt64).view({1, -1}).to(model->device());
    const auto mask = torch::ones_like(input, torch::kBool);
    // Last position's logits over the tokenizer's ids (a padded model vocabulary is cut).
    const auto logits =
        model->forward(input, mask)[0][-1].narrow(0, 0, tokenizer->vocab_size()).to(torch::kCPU, torch::kFloat);
    const int64_t next = pick_next(logits, o, o.seed, step);
    if (next == tokenizer->eos_id() || next == tokenizer->bos_id()) break;  // llama2.c stops at bos too
    ids.push_back(static_cast<int32_t>(next));
    ++produced;
    // Print what the new token added (decoding the whole sequence keeps multi-byte characters
    // and the tokenizer's leading-space rule right).
    const std::string text = tokenizer->decode(ids);
    if (text.compare(0, shown.size(), shown) == 0) {
      std::fputs(text.c_str() + shown.size(), stdout);
      std::fflush(stdout);
      shown = text;
    }
  }
  const std::string text = tokenizer->decode(ids);
  if (text.compare(0, shown.size(), shown) == 0) std::fputs(text.c_str() + shown.size(), stdout);
  std::fputs("\n", stdout);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "%lld tokens in %.2f s (%.1f tokens/s)\n", static_cast<long long>(produced), seconds,
               seconds > 0 ? produced / seconds : 0.0);
}

}  // namespace

void register_generate(CLI::App& root, int* exit_code) {
  auto* cmd = root.add_subcommand("generate", "Text from a language-model checkpoint (Sturdy, llama2.c .bin, safetensors)");
  auto o = std::make_shared<GenerateOptions>();
  cmd->add_option("--checkpoint", o->checkpoint,
                  "Sturdy checkpoint/run folder, llama2.c .bin, or Hugging Face safetensors folder")->required();
  cmd->add_option("--tokenizer", o->tokenizer,
                  "Tokenizer file (tok*.bin or .model; default: the one the checkpoint carries)");
  add_choice_option<TokenizerKind>(cmd, "--tokenizer-kind", o->tokenizer_kind, "{} (default: from the name)");
  cmd->add_option("--prompt", o->prompt, "Text to continue (default: empty, start from bos)");
  cmd->add_option("--max-new-tokens", o->max_new_tokens, "Tokens to generate at most (default 256)");
  cmd->add_option("--temperature", o->temperature, "Sampling temperature; 0 = greedy (default 1)");
  cmd->add_option("--top-p", o->top_p, "Nucleus sampling mass (default 0.9)");
  cmd->add_option("--seed", o->seed, "Sampling seed (default 1)");
  cmd->add_option("--samples", o->samples, "Texts to draw as one batch, sample i with seed + i (needs --output)");
  cmd->add_option("--output", o->output, "Write the samples here, one per line (a corpus for prepare --format text)");
  add_choice_option<DeviceKind>(cmd, "--device", o->device, "{} (default auto: a GPU when LibTorch has CUDA and sees one)");
  cmd->callback([o, exit_code] {
    generate(*o);
    *exit_code = 0;
  });
}

void register_export(CLI::App& root, int* exit_code) {
  auto* cmd = root.add_subcommand("export", "Write an LM checkpoint as a Hugging Face Llama folder (safetensors)");
  auto checkpoint = std::make_shared<std::string>();
  auto output = std::make_shared<std::string>();
  auto tok = std::make_shared<std::string>();
  auto tok_kind = std::make_shared<std::optional<TokenizerKind>>();
  cmd->add_option("--checkpoint", *checkpoint, "Sturdy checkpoint/run folder, llama2.c .bin or safetensors folder")
      ->required();
  cmd->add_option("--output", *output, "Folder for config.json, model.safetensors and the tokenizer")->required();
  cmd->add_option("--tokenizer", *tok, "Tokenizer file to copy beside (default: the one the checkpoint carries)");
  add_choice_option<TokenizerKind>(cmd, "--tokenizer-kind", *tok_kind, "{} (default: from the name)");
  cmd->callback([=] {
    const PretrainedModel pretrained = read_pretrained(*checkpoint);
    TokenizerConfig tokenizer;
    if (!tok->empty() || !pretrained.tokenizer.kind.empty()) tokenizer = pretrained_tokenizer(pretrained, *tok, *tok_kind);
    int32_t bos = 1, eos = 2;
    if (!tokenizer.kind.empty()) {
      const auto t = make_tokenizer(tokenizer);
      bos = t->bos_id();
      eos = t->eos_id();
    }
    Transformer model = build_pretrained(pretrained);
    export_safetensors(model, *output, tokenizer, bos, eos);
    std::printf("wrote %s (config.json, model.safetensors%s)\n", output->c_str(),
                tokenizer.path.empty() || tokenizer.kind == TokenizerKind::kBytes
                    ? ""
                    : fmt::format(", {}", hf_tokenizer_file(tokenizer.kind.value())).c_str());
    *exit_code = 0;
  });
}

}  // namespace sturdy::apps
