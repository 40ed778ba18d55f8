// Pretrained weights: format detection, Hugging Face Llama mapping, model.init_from and
// export (see include/sturdy/ckpt/pretrained.h and docs/model.md).
#include "sturdy/ckpt/pretrained.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "sturdy/ckpt/checkpoint.h"
#include "sturdy/core/error.h"
#include "sturdy/core/printable.h"
#include "sturdy/model/llama2c.h"
#include "sturdy/model/named_parameter.h"
#include "sturdy/model/safetensors.h"

namespace fs = std::filesystem;

namespace sturdy {
namespace {

using Shape = std::vector<int64_t>;

// HF Llama name suffix (after "model.layers.{i}.") -> Sturdy name suffix (after "layers.{i}.").
const std::vector<std::pair<std::string, std::string>>& hf_layer_names() {
  static const std::vector<std::pair<std::string, std::string>> names = {
      {"self_attn.q_proj.weight", "attention.wq.weight"},
      {"self_attn.k_proj.weight", "attention.wk.weight"},
      {"self_attn.v_proj.weight", "attention.wv.weight"},
      {"self_attn.o_proj.weight", "attention.wo.weight"},
      {"mlp.gate_proj.weight", "feed_forward.w1.weight"},
      {"mlp.down_proj.weight", "feed_forward.w2.weight"},
      {"mlp.up_proj.weight", "feed_forward.w3.weight"},
      {"input_layernorm.weight", "attention_norm.weight"},
      {"post_attention_layernorm.weight", "ffn_norm.weight"},
  };
  return names;
}

// (HF name, Sturdy name, shape) of an LM-head model, in Sturdy's registration order.
struct NamePair {
  std::string hf, sturdy;
  Shape shape;
};
std::vector<NamePair> lm_names(const ModelConfig& c) {
  const int64_t hd = c.dim / c.heads, Q = c.heads * hd, KV = c.kv_heads * hd;
  const std::map<std::string, Shape> shapes = {
      {"attention.wq.weight", {Q, c.dim}},      {"attention.wk.weight", {KV, c.dim}},
      {"attention.wv.weight", {KV, c.dim}},     {"attention.wo.weight", {c.dim, Q}},
      {"feed_forward.w1.weight", {c.ffn, c.dim}}, {"feed_forward.w2.weight", {c.dim, c.ffn}},
      {"feed_forward.w3.weight", {c.ffn, c.dim}}, {"attention_norm.weight", {c.dim}},
      {"ffn_norm.weight", {c.dim}}};
  std::vector<NamePair> out;
  out.push_back({"model.embed_tokens.weight", "tok_embeddings.weight", {c.vocab_size, c.dim}});
  for (int64_t i = 0; i < c.layers; ++i) {
    const std::string hf = "model.layers." + std::to_string(i) + ".", st = "layers." + std::to_string(i) + ".";
    for (const auto& [h, s] : hf_layer_names()) out.push_back({hf + h, st + s, shapes.at(s)});
  }
  out.push_back({"model.norm.weight", "norm.weight", {c.dim}});
  out.push_back({"lm_head.weight", "output.weight", {c.vocab_size, c.dim}});
  return out;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string shape_str(c10::IntArrayRef shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

// --- Hugging Face folder -------------------------------------------------------------

int64_t json_int(const nlohmann::json& j, const std::string& file, const char* key, int64_t fallback) {
  if (!j.contains(key) || j.at(key).is_null()) {
    STURDY_USAGE_CHECK(fallback > 0, "{}: missing required key '{}'", file, key);
    return fallback;
  }
  const auto& v = j.at(key);
  STURDY_USAGE_CHECK(v.is_number_integer() && v.get<int64_t>() > 0 && v.get<int64_t>() <= (int64_t{1} << 24),
                     "{}: '{}' must be an integer in 1..2^24 (got {})", file, key, v.dump());
  return v.get<int64_t>();
}

double json_double(const nlohmann::json& j, const std::string& file, const char* key, double fallback) {
  if (!j.contains(key) || j.at(key).is_null()) return fallback;
  const auto& v = j.at(key);
  STURDY_USAGE_CHECK(v.is_number() && v.get<double>() > 0 && std::isfinite(v.get<double>()),
                     "{}: '{}' must be a positive number (got {})", file, key, v.dump());
  return v.get<double>();
}

ModelConfig read_hf_config(const std::string& file) {
  std::ifstream in(file);
  STURDY_USAGE_CHECK(in.good(), "{}: cannot open (a Hugging Face model folder needs config.json)", file);
  const auto j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  STURDY_USAGE_CHECK(!j.is_discarded() && j.is_object(), "{}: not a JSON object", file);
  auto string_is = [&](const char* key, std::initializer_list<const char*> allowed) {
    if (!j.contains(key) || j.at(key).is_null()) return;
    const auto& v = j.at(key);
    for (const char* a : allowed) {
      if (v.is_string() && v.get<std::string>() == a) return;
    }
    throw UsageError(fmt::format("{}: '{}' is {}; only {} is supported", file, key, v.dump(), *allowed.begin()));
  };
  string_is("model_type", {"llama"});
  string_is("hidden_act", {"silu"});
  for (const char* key : {"attention_bias", "mlp_bias"}) {
    STURDY_USAGE_CHECK(!j.contains(key) || j.at(key) == false, "{}: '{}' is {}; biases are not supported", file,
                       key, j.at(key).dump());
  }
  STURDY_USAGE_CHECK(!j.contains("rope_scaling") || j.at("rope_scaling").is_null(),
                     "{}: 'rope_scaling' {} is not supported (plain RoPE only)", file,
                     j.contains("rope_scaling") ? j.at("rope_scaling").dump() : "");
  ModelConfig c;
  c.dim = json_int(j, file, "hidden_size", 0);
  c.ffn = json_int(j, file, "intermediate_size", 0);
  c.layers = json_int(j, file, "num_hidden_layers", 0);
  c.heads = json_int(j, file, "num_attention_heads", 0);
  c.kv_heads = json_int(j, file, "num_key_value_heads", c.heads);
  c.vocab_size = json_int(j, file, "vocab_size", 0);
  c.max_seq_len = json_int(j, file, "max_position_embeddings", 2048);
  c.norm_eps = json_double(j, file, "rms_norm_eps", 1e-6);  // HF LlamaConfig's default
  c.rope_theta = json_double(j, file, "rope_theta", 10000.0);
  STURDY_USAGE_CHECK(c.dim % c.heads == 0 && c.heads % c.kv_heads == 0 && (c.dim / c.heads) % 2 == 0,
                     "{}: hidden_size {}, num_attention_heads {}, num_key_value_heads {} do not fit (heads must "
                     "divide hidden_size into even head sizes, key/value heads must divide heads)",
                     file, c.dim, c.heads, c.kv_heads);
  if (j.contains("head_dim") && !j.at("head_dim").is_null()) {
    STURDY_USAGE_CHECK(j.at("head_dim") == c.dim / c.heads, "{}: 'head_dim' {} differs from hidden_size / "
                       "num_attention_heads = {} (not supported)", file, j.at("head_dim").dump(), c.dim / c.heads);
  }
  c.head = ModelHead::kLm;
  c.causal = true;
  c.dropout = 0.0;
  c.init_from.clear();
  return c;
}

bool hf_tied(const std::string& file) {
  std::ifstream in(file);
  const auto j = nlohmann::json::parse(in, nullptr, false);
  return j.is_object() && j.contains("tie_word_embeddings") && j.at("tie_word_embeddings") == true;
}

// The shard files of a folder: model.safetensors, or those named by model.safetensors.index.json.
std::map<std::string, std::string> hf_weight_map(const fs::path& dir, const std::string& single) {
  std::map<std::string, std::string> map;  // tensor name -> file path ("" = look in `single`)
  const fs::path index = dir / "model.safetensors.index.json";
  if (!single.empty() || !fs::exists(index)) return map;
  std::ifstream in(index);
  const auto j = nlohmann::json::parse(in, nullptr, false);
  STURDY_USAGE_CHECK(!j.is_discarded() && j.is_object() && j.contains("weight_map") && j["weight_map"].is_object(),
                     "{}: no 'weight_map' object", index.string());
  for (const auto& [name, shard] : j["weight_map"].items()) {
    STURDY_USAGE_CHECK(shard.is_string(), "{}: weight_map['{}'] is not a file name", index.string(), printable(name));
    const std::string f = shard.get<std::string>();
    STURDY_USAGE_CHECK(!f.empty() && f.find('/') == std::string::npos && f != "." && f != "..",
                       "{}: weight_map['{}'] = '{}' must be a file name in the same folder", index.string(),
                       printable(name), printable(f));
    map[name] = (dir / f).string();
  }
  return map;
}

PretrainedModel read_hf(const std::string& path) {
  PretrainedModel p;
  p.path = path;
  p.format = "safetensors";
  const bool is_file = fs::is_regular_file(path);
  const fs::path dir = is_file ? fs::path(path).parent_path() : fs::path(path);
  std::string single = is_file ? path : "";
  if (!is_file && fs::exists(dir / "model.safetensors")) single = (dir / "model.safetensors").string();
  const std::string config_file = (dir / "config.json").string();
  p.config = read_hf_config(config_file);
  const auto weight_map = hf_weight_map(dir, single);
  STURDY_USAGE_CHECK(!single.empty() || !weight_map.empty(),
                     "{}: no model.safetensors or model.safetensors.index.json", dir.string());

  std::map<std::string, std::unique_ptr<safetensors::Reader>> readers;
  auto reader_for = [&](const std::string& hf_name) -> safetensors::Reader& {
    std::string file = single;
    if (file.empty()) {
      const auto it = weight_map.find(hf_name);
      STURDY_USAGE_CHECK(it != weight_map.end(), "{}: weight_map has no tensor '{}'", dir.string(), hf_name);
      file = it->second;
    }
    auto& r = readers[file];
    if (!r) r = std::make_unique<safetensors::Reader>(file);
    return *r;
  };

  const bool tied = hf_tied(config_file);
  std::set<std::string> expected;
  for (const NamePair& n : lm_names(p.config)) {
    std::string hf = n.hf;
    if (hf == "lm_head.weight") {
      const bool present = single.empty() ? weight_map.count(hf) > 0 : reader_for(hf).find(hf) != nullptr;
      if (!present) {
        STURDY_USAGE_CHECK(tied, "{}: no tensor 'lm_head.weight' and tie_word_embeddings is not true in {}",
                           dir.string(), config_file);
        hf = "model.embed_tokens.weight";
      }
    }
    expected.insert(hf);
    safetensors::Reader& r = reader_for(hf);
    const safetensors::TensorInfo* info = r.find(hf);
    STURDY_USAGE_CHECK(info != nullptr, "{}: no tensor '{}' (needed for a Llama model)", r.path(), hf);
    STURDY_USAGE_CHECK(info->shape == n.shape, "{}: tensor '{}' has shape {} but config.json implies {}", r.path(),
                       hf, shape_str(info->shape), shape_str(n.shape));
    STURDY_USAGE_CHECK(info->dtype == "F32" || info->dtype == "F16" || info->dtype == "BF16" || info->dtype == "F64",
                       "{}: tensor '{}' has dtype {}; weights must be F32, F16, BF16 or F64", r.path(), hf, info->dtype);
    auto t = r.read(hf).to(torch::kFloat);
    if (ends_with(n.sturdy, "attention.wq.weight")) t = hf_to_interleaved(t, p.config.heads);
    if (ends_with(n.sturdy, "attention.wk.weight")) t = hf_to_interleaved(t, p.config.kv_heads);
    p.tensors.emplace_back(n.sturdy, t);
  }
  // Anything else in the files is a sign that this is not a plain Llama model.
  for (const auto& [file, reader] : readers) {
    for (const auto& t : reader->tensors()) {
      if (expected.count(t.name) || ends_with(t.name, "rotary_emb.inv_freq")) continue;
      throw UsageError(fmt::format("{}: unexpected tensor '{}' (not a plain Llama model?)", file, printable(t.name)));
    }
  }
  for (const auto& [name, file] : weight_map) {
    STURDY_USAGE_CHECK(expected.count(name) || ends_with(name, "rotary_emb.inv_freq"),
                       "{}: unexpected tensor '{}' (not a plain Llama model?)", file, printable(name));
  }

  if (fs::exists(dir / "tokenizer.model")) {
    p.tokenizer = {TokenizerKind::kSentencepiece, (dir / "tokenizer.model").string()};
  } else if (fs::exists(dir / "tokenizer.bin")) {
    p.tokenizer = {TokenizerKind::kLlama2c, (dir / "tokenizer.bin").string()};
  } else {
    p.tokenizer.kind.clear();
  }
  return p;
}

// --- llama2.c and Sturdy checkpoints ---------------------------------------------------

PretrainedModel read_llama2c_model(const std::string& path) {
  PretrainedModel p;
  p.path = path;
  p.format = "llama2c";
  Llama2cHeader h;
  p.tensors = read_llama2c(path, &h);
  ModelConfig& c = p.config;
  c.vocab_size = h.vocab_size;
  c.dim = h.dim;
  c.layers = h.n_layers;
  c.heads = h.n_heads;
  c.kv_heads = h.n_kv_heads;
  c.ffn = h.hidden_dim;
  c.max_seq_len = h.seq_len;
  c.rope_theta = 10000.0;  // llama2.c's run.c
  c.norm_eps = 1e-5;
  c.head = ModelHead::kLm;
  c.causal = true;
  c.dropout = 0.0;
  p.tokenizer.kind.clear();
  return p;
}

PretrainedModel read_sturdy(const std::string& path) {
  PretrainedModel p;
  p.path = path;
  p.format = "sturdy";
  const std::string dir = ckpt::resolve(path);
  const auto state = ckpt::read_state(dir);
  const Config config = parse_config(state.config_yaml, dir + "/state.json:config");
  p.config = config.model;
  p.config.init_from.clear();
  p.tokenizer = config.tokenizer;
  Transformer model(p.config);
  auto params = named_parameters(*model);
  ckpt::load_model(dir, params);
  for (auto& np : params) p.tensors.emplace_back(np.name, np.tensor.detach());
  return p;
}

bool is_head_parameter(const std::string& name) {
  return name == "output.weight" || name.rfind("classifier.", 0) == 0;
}

}  // namespace

torch::Tensor hf_to_interleaved(const torch::Tensor& w, int64_t heads) {
  const int64_t rows = w.size(0), in = w.size(1), hd = rows / heads;
  return w.reshape({heads, 2, hd / 2, in}).transpose(1, 2).reshape({rows, in});
}

torch::Tensor interleaved_to_hf(const torch::Tensor& w, int64_t heads) {
  const int64_t rows = w.size(0), in = w.size(1), hd = rows / heads;
  return w.reshape({heads, hd / 2, 2, in}).transpose(1, 2).reshape({rows, in});
}

PretrainedModel read_pretrained(const std::string& path) {
  STURDY_USAGE_CHECK(fs::exists(path), "{}: no such file or folder", path);
  if (fs::is_directory(path)) {
    const fs::path dir(path);
    if (fs::exists(dir / "config.json") &&
        (fs::exists(dir / "model.safetensors") || fs::exists(dir / "model.safetensors.index.json"))) {
      return read_hf(path);
    }
    if (fs::exists(dir / "state.json") || fs::exists(dir / "checkpoints") || fs::exists(dir / "latest")) {
      return read_sturdy(path);
    }
    throw UsageError(fmt::format("{}: neither a Hugging Face folder (config.json + model.safetensors) nor a "
                                 "Sturdy checkpoint or run folder", path));
  }
  if (ends_with(path, ".safetensors")) return read_hf(path);
  return read_llama2c_model(path);
}

void check_pretrained_config(const ModelConfig& c, const PretrainedModel& p) {
  const ModelConfig& f = p.config;
  auto same = [&](const char* key, auto have, auto want) {
    STURDY_USAGE_CHECK(have == want, "model.init_from {} has {} {}: set model.{}: {} (now {})", p.path, key, want,
                       key, want, have);
  };
  same("vocab_size", c.vocab_size, f.vocab_size);
  same("dim", c.dim, f.dim);
  same("layers", c.layers, f.layers);
  same("heads", c.heads, f.heads);
  same("kv_heads", c.kv_heads, f.kv_heads);
  same("ffn", c.ffn, f.ffn);
  same("rope_theta", c.rope_theta, f.rope_theta);
  same("norm_eps", c.norm_eps, f.norm_eps);
  if (c.max_seq_len > f.max_seq_len) {
    spdlog::warn("model.max_seq_len ({}) is longer than the {} positions {} was trained on", c.max_seq_len,
                 f.max_seq_len, p.path);
  }
}

LoadReport load_pretrained(Transformer& model, const PretrainedModel& p) {
  check_pretrained_config(model->config(), p);
  std::map<std::string, torch::Tensor> by_name(p.tensors.begin(), p.tensors.end());
  LoadReport report;
  torch::NoGradGuard no_grad;
  for (auto& np : named_parameters(*model)) {
    const auto it = by_name.find(np.name);
    if (it == by_name.end()) {
      STURDY_USAGE_CHECK(is_head_parameter(np.name), "model.init_from {}: no tensor for parameter '{}'", p.path,
                         np.name);
      report.fresh.push_back(np.name);
      continue;
    }
    STURDY_USAGE_CHECK(it->second.sizes() == np.tensor.sizes(),
                       "model.init_from {}: parameter '{}' has shape {} in the file but {} in the model", p.path,
                       np.name, shape_str(it->second.sizes()), shape_str(np.tensor.sizes()));
    np.tensor.copy_(it->second);
    report.loaded.push_back(np.name);
  }
  return report;
}

LoadReport load_pretrained(Transformer& model, const std::string& path) {
  return load_pretrained(model, read_pretrained(path));
}

TokenizerConfig pretrained_tokenizer(const PretrainedModel& p, const std::string& path,
                                     std::optional<TokenizerKind> kind) {
  if (path.empty() && !kind) {
    STURDY_USAGE_CHECK(!p.tokenizer.kind.empty(), "{} carries no tokenizer: pass --tokenizer (a llama2.c tok*.bin or "
                       "a sentencepiece .model)", p.path);
    return p.tokenizer;
  }
  TokenizerConfig t;
  t.path = path;
  if (kind) {
    t.kind = *kind;
  } else {
    if (path == "bytes") {
      t = {TokenizerKind::kBytes, ""};
    } else if (ends_with(path, ".model")) {
      t.kind = TokenizerKind::kSentencepiece;
    } else if (ends_with(path, ".bin")) {
      t.kind = TokenizerKind::kLlama2c;
    } else {
      throw UsageError(fmt::format("--tokenizer {}: cannot tell its kind from the name; pass --tokenizer-kind "
                                   "sentencepiece|llama2c", path));
    }
  }
  return t;
}

const char* hf_tokenizer_file(TokenizerKind kind) {
  switch (kind) {
    case TokenizerKind::kBytes: return "";
    case TokenizerKind::kSentencepiece: return "tokenizer.model";
    case TokenizerKind::kLlama2c: return "tokenizer.bin";
  }
  return "";
}

Transformer build_pretrained(const PretrainedModel& p) {
  Transformer model(p.config);
  load_pretrained(model, p);
  model->eval();
  return model;
}

void export_safetensors(Transformer& model, const std::string& dir, const TokenizerConfig& tokenizer, int32_t bos_id,
                        int32_t eos_id) {
  const ModelConfig& c = model->config();
  STURDY_USAGE_CHECK(c.head == ModelHead::kLm, "export: model.head is '{}'; only language-model heads (lm) export to a "
                     "Hugging Face Llama folder", c.head);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw RuntimeError(fmt::format("{}: cannot create folder: {}", dir, ec.message()));

  std::map<std::string, torch::Tensor> params;
  for (auto& np : named_parameters(*model)) params[np.name] = np.tensor.detach().to(torch::kCPU, torch::kFloat);
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (const NamePair& n : lm_names(c)) {
    auto t = params.at(n.sturdy);
    if (ends_with(n.sturdy, "attention.wq.weight")) t = interleaved_to_hf(t, c.heads);
    if (ends_with(n.sturdy, "attention.wk.weight")) t = interleaved_to_hf(t, c.kv_heads);
    tensors.emplace_back(n.hf, t.contiguous());
  }
  safetensors::write((fs::path(dir) / "model.safetensors").string(), tensors, {{"format", "pt"}});

  const nlohmann::json config = {
      {"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"},
      {"hidden_size", c.dim}, {"intermediate_size", c.ffn}, {"num_hidden_layers", c.layers},
      {"num_attention_heads", c.heads}, {"num_key_value_heads", c.kv_heads}, {"vocab_size", c.vocab_size},
      {"max_position_embeddings", c.max_seq_len}, {"rms_norm_eps", c.norm_eps}, {"rope_theta", c.rope_theta},
      {"hidden_act", "silu"}, {"tie_word_embeddings", false}, {"attention_bias", false},
      {"torch_dtype", "float32"}, {"bos_token_id", bos_id}, {"eos_token_id", eos_id},
  };
  const fs::path config_path = fs::path(dir) / "config.json";
  {
    std::ofstream out(config_path.string() + ".tmp");
    out << config.dump(2) << '\n';
    if (!out) throw RuntimeError(fmt::format("{}: write failed", config_path.string()));
  }
  fs::rename(config_path.string() + ".tmp", config_path);

  if (!tokenizer.path.empty() && tokenizer.kind != TokenizerKind::kBytes) {
    const fs::path to = fs::path(dir) / hf_tokenizer_file(tokenizer.kind.value());
    if (!fs::equivalent(tokenizer.path, to, ec)) {
      fs::copy_file(tokenizer.path, to, fs::copy_options::overwrite_existing, ec);
      if (ec) throw RuntimeError(fmt::format("{}: cannot copy the tokenizer from {}: {}", to.string(), tokenizer.path,
                                             ec.message()));
    }
  }
}

}  // namespace sturdy
