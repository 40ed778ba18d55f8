// Tests for pretrained weights (src/model/{safetensors,llama2c,pretrained}.cpp and the
// LibTorch-free header parsers *_header.cpp): llama2.c files written here by an independent
// writer (both header versions, shared and separate classifier) give the logits of the model
// they came from; safetensors export -> import is bitwise exact; the HF q/k permutation turns
// rotate_half RoPE into Sturdy's interleaved RoPE; damaged and hostile files are UsageErrors
// naming the field, on one line; model.init_from semantics.
// stories260K end to end: tests/integration/generate_stories.py.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>

#include <unistd.h>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "sturdy/ckpt/checkpoint.h"
#include "sturdy/ckpt/pretrained.h"
#include "sturdy/config/config.h"
#include "sturdy/core/error.h"
#include "sturdy/model/llama2c.h"
#include "sturdy/model/safetensors.h"
#include "sturdy/train/optimizer.h"

namespace fs = std::filesystem;

namespace sturdy {
namespace {

ModelConfig lm_config() {
  ModelConfig c;
  c.vocab_size = 40;
  c.dim = 24;
  c.layers = 2;
  c.heads = 4;
  c.kv_heads = 2;
  c.ffn = 40;
  c.dropout = 0.0;
  c.head = "lm";
  c.causal = true;
  c.max_seq_len = 16;
  return c;
}

fs::path temp_dir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("sturdy_pretrained_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

torch::Tensor logits_of(Transformer& model) {
  torch::NoGradGuard no_grad;
  model->eval();
  torch::manual_seed(7);
  const auto ids = torch::randint(model->config().vocab_size, {2, 9}, torch::kLong);
  return model->forward(ids, torch::ones({2, 9}, torch::kBool));
}

std::map<std::string, torch::Tensor> params_of(Transformer& model) {
  std::map<std::string, torch::Tensor> out;
  for (auto& np : named_parameters(*model)) out[np.name] = np.tensor.detach();
  return out;
}

// --- an independent llama2.c writer (export.py's legacy_export / version1_export order) ---

void put_i32(std::string& out, int32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); }
void put_floats(std::string& out, const torch::Tensor& t) {
  const auto c = t.detach().to(torch::kFloat).contiguous();
  out.append(static_cast<const char*>(c.data_ptr()), c.numel() * 4);
}

std::string llama2c_bytes(Transformer& model, int version, bool shared) {
  const ModelConfig& c = model->config();
  auto p = params_of(model);
  auto each = [&](const std::string& suffix) {
    std::vector<torch::Tensor> v;
    for (int64_t i = 0; i < c.layers; ++i) v.push_back(p.at("layers." + std::to_string(i) + "." + suffix));
    return v;
  };
  std::string out;
  auto all = [&](const std::vector<torch::Tensor>& v) {
    for (const auto& t : v) put_floats(out, t);
  };
  if (version == 1) {
    put_i32(out, 0x616b3432);
    put_i32(out, 1);
  }
  for (int64_t v : {c.dim, c.ffn, c.layers, c.heads, c.kv_heads,
                    version == 0 && !shared ? -c.vocab_size : c.vocab_size, c.max_seq_len}) {
    put_i32(out, static_cast<int32_t>(v));
  }
  if (version == 1) {
    out.push_back(shared ? 1 : 0);
    out.resize(256, '\0');
    all(each("attention_norm.weight"));
    all(each("ffn_norm.weight"));
    put_floats(out, p.at("norm.weight"));
    put_floats(out, p.at("tok_embeddings.weight"));
    for (const char* s : {"attention.wq.weight", "attention.wk.weight", "attention.wv.weight", "attention.wo.weight",
                          "feed_forward.w1.weight", "feed_forward.w2.weight", "feed_forward.w3.weight"}) {
      all(each(s));
    }
  } else {
    put_floats(out, p.at("tok_embeddings.weight"));
    all(each("attention_norm.weight"));
    for (const char* s : {"attention.wq.weight", "attention.wk.weight", "attention.wv.weight", "attention.wo.weight"}) {
      all(each(s));
    }
    all(each("ffn_norm.weight"));
    for (const char* s : {"feed_forward.w1.weight", "feed_forward.w2.weight", "feed_forward.w3.weight"}) all(each(s));
    put_floats(out, p.at("norm.weight"));
    const int64_t hd = c.dim / c.heads;
    put_floats(out, torch::full({c.max_seq_len, hd / 2}, 0.5));  // freq_cis_real/imag: ignored
    put_floats(out, torch::full({c.max_seq_len, hd / 2}, -0.5));
  }
  if (!shared) put_floats(out, p.at("output.weight"));
  return out;
}

void write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string usage_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const UsageError& e) {
    return e.what();
  }
  return "(no UsageError)";
}

// --- llama2.c ------------------------------------------------------------------------------

TEST(Llama2c, BothVersionsGiveTheLogitsOfTheSourceModel) {
  const fs::path dir = temp_dir("llama2c");
  for (int version : {0, 1}) {
    for (bool shared : {true, false}) {
      SCOPED_TRACE("version " + std::to_string(version) + (shared ? " shared" : " separate"));
      torch::manual_seed(3);
      Transformer source(lm_config());
      if (shared) {
        torch::NoGradGuard no_grad;
        source->output->weight.copy_(source->tok_embeddings->weight);
      }
      const fs::path file = dir / ("model_v" + std::to_string(version) + (shared ? "s" : "u") + ".bin");
      write_file(file, llama2c_bytes(source, version, shared));

      Llama2cHeader h = read_llama2c_header(file.string());
      EXPECT_EQ(h.version, version);
      EXPECT_EQ(h.shared_classifier, shared);
      EXPECT_EQ(h.vocab_size, 40);
      const PretrainedModel p = read_pretrained(file.string());
      EXPECT_EQ(p.format, "llama2c");
      EXPECT_EQ(p.config.kv_heads, 2);
      EXPECT_EQ(p.config.ffn, 40);
      EXPECT_EQ(p.config.max_seq_len, 16);
      Transformer imported = build_pretrained(p);
      auto a = params_of(source), b = params_of(imported);
      ASSERT_EQ(a.size(), b.size());
      for (const auto& [name, t] : a) EXPECT_TRUE(torch::equal(t, b.at(name))) << name;
      EXPECT_TRUE(torch::equal(logits_of(source), logits_of(imported)));
    }
  }
  fs::remove_all(dir);
}

TEST(Llama2c, DamagedFilesNameTheField) {
  const fs::path dir = temp_dir("llama2c_bad");
  torch::manual_seed(3);
  Transformer source(lm_config());
  const std::string good = llama2c_bytes(source, 0, false);
  const std::string good_v1 = llama2c_bytes(source, 1, true);
  auto error_for = [&](const std::string& bytes) {
    const fs::path file = dir / "bad.bin";
    write_file(file, bytes);
    return usage_error([&] { read_pretrained(file.string()); });
  };
  auto with_i32 = [](std::string bytes, size_t offset, int32_t v) {
    std::memcpy(bytes.data() + offset, &v, 4);
    return bytes;
  };
  EXPECT_NE(error_for(good.substr(0, good.size() - 4)).find("file size"), std::string::npos);
  EXPECT_NE(error_for(good + "xxxx").find("file size"), std::string::npos);
  EXPECT_NE(error_for(good.substr(0, 10)).find("too short"), std::string::npos);
  EXPECT_NE(error_for(with_i32(good, 12, 0)).find("n_heads"), std::string::npos);
  EXPECT_NE(error_for(with_i32(good, 12, 5)).find("dim"), std::string::npos);        // 24 % 5 != 0
  EXPECT_NE(error_for(with_i32(good, 16, 3)).find("n_kv_heads"), std::string::npos);  // 4 % 3 != 0
  EXPECT_NE(error_for(with_i32(good, 0, 2000000000)).find("dim"), std::string::npos);
  EXPECT_NE(error_for(with_i32(good, 24, -1)).find("seq_len"), std::string::npos);
  // A huge but in-range header must fail on the size check, before allocating anything.
  EXPECT_NE(error_for(with_i32(with_i32(good, 0, 1 << 20), 4, 1 << 20)).find("file size"), std::string::npos);
  EXPECT_NE(error_for(with_i32(good_v1, 4, 2)).find("version 2"), std::string::npos);
  EXPECT_NE(error_for(good_v1.substr(0, 100)).find("too short"), std::string::npos);
  std::string bad_flag = good_v1;
  bad_flag[8 + 28] = 7;
  EXPECT_NE(error_for(bad_flag).find("shared_classifier"), std::string::npos);
  // The in-memory parser (the fuzzed entry point) gives what the file reader gives.
  EXPECT_EQ(parse_llama2c_header("x", good, good.size()).file_bytes, static_cast<int64_t>(good.size()));
  EXPECT_NE(usage_error([&] { parse_llama2c_header("x", good.substr(0, 20), good.size()); }).find("cannot read"),
            std::string::npos);
  fs::remove_all(dir);
}

// --- safetensors ---------------------------------------------------------------------------

TEST(Safetensors, ExportImportRoundTripIsBitwiseExact) {
  const fs::path dir = temp_dir("st");
  torch::manual_seed(5);
  Transformer source(lm_config());
  export_safetensors(source, dir.string());
  ASSERT_TRUE(fs::exists(dir / "config.json"));
  const PretrainedModel p = read_pretrained(dir.string());
  EXPECT_EQ(p.format, "safetensors");
  EXPECT_EQ(p.tokenizer.kind, "");
  const ModelConfig& c = p.config;
  EXPECT_EQ(std::make_tuple(c.vocab_size, c.dim, c.layers, c.heads, c.kv_heads, c.ffn, c.max_seq_len),
            std::make_tuple(int64_t{40}, int64_t{24}, int64_t{2}, int64_t{4}, int64_t{2}, int64_t{40}, int64_t{16}));
  EXPECT_EQ(c.norm_eps, source->config().norm_eps);
  EXPECT_EQ(c.rope_theta, source->config().rope_theta);
  Transformer imported = build_pretrained(p);
  auto a = params_of(source), b = params_of(imported);
  for (const auto& [name, t] : a) EXPECT_TRUE(torch::equal(t, b.at(name))) << name;
  EXPECT_TRUE(torch::equal(logits_of(source), logits_of(imported)));

  // The file holds HF names, with q/k rows in HF's order (not Sturdy's).
  safetensors::Reader r((dir / "model.safetensors").string());
  const auto q = r.read("model.layers.1.self_attn.q_proj.weight");
  EXPECT_FALSE(torch::equal(q, a.at("layers.1.attention.wq.weight")));
  EXPECT_TRUE(torch::equal(hf_to_interleaved(q, 4), a.at("layers.1.attention.wq.weight")));
  EXPECT_EQ(r.metadata().at("format"), "pt");
  fs::remove_all(dir);
}

TEST(Safetensors, ShardedFolderWithIndex) {
  const fs::path dir = temp_dir("shards");
  torch::manual_seed(5);
  Transformer source(lm_config());
  export_safetensors(source, dir.string());
  safetensors::Reader whole((dir / "model.safetensors").string());
  std::vector<std::pair<std::string, torch::Tensor>> a, b;
  nlohmann::json map = nlohmann::json::object();
  for (const auto& t : whole.tensors()) {
    const bool first = t.name.find("layers.1.") == std::string::npos;
    (first ? a : b).emplace_back(t.name, whole.read(t.name));
    map[t.name] = first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
  }
  safetensors::write((dir / "model-00001-of-00002.safetensors").string(), a);
  safetensors::write((dir / "model-00002-of-00002.safetensors").string(), b);
  std::ofstream(dir / "model.safetensors.index.json") << nlohmann::json{{"weight_map", map}}.dump();
  fs::remove(dir / "model.safetensors");
  Transformer imported = build_pretrained(read_pretrained(dir.string()));
  EXPECT_TRUE(torch::equal(logits_of(source), logits_of(imported)));

  map["model.norm.weight"] = "../elsewhere.safetensors";  // shard names must stay in the folder
  std::ofstream(dir / "model.safetensors.index.json") << nlohmann::json{{"weight_map", map}}.dump();
  EXPECT_NE(usage_error([&] { read_pretrained(dir.string()); }).find("weight_map"), std::string::npos);
  // Names from the index are quoted on one line: a newline shows as \n.
  map["model.norm.weight"] = "model-00001-of-00002.safetensors";
  map["extra\nline"] = "model-00001-of-00002.safetensors";
  std::ofstream(dir / "model.safetensors.index.json") << nlohmann::json{{"weight_map", map}}.dump();
  const std::string e = usage_error([&] { read_pretrained(dir.string()); });
  EXPECT_NE(e.find("unexpected tensor 'extra\\nline'"), std::string::npos) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos) << e;
  fs::remove_all(dir);
}

// rotate_half RoPE (HF) on permuted rows == Sturdy's interleaved RoPE on the original rows,
// up to the same permutation of the head dimensions: attention scores are identical.
TEST(Safetensors, HfPermutationMatchesRotateHalfRope) {
  torch::manual_seed(9);
  const int64_t heads = 3, hd = 8, dim = 12, T = 5;
  const auto w = torch::randn({heads * hd, dim}, torch::kDouble);
  const auto wk = torch::randn({heads * hd, dim}, torch::kDouble);
  const auto x = torch::randn({T, dim}, torch::kDouble);
  const auto inv = torch::pow(10000.0, -torch::arange(0, hd, 2, torch::kDouble) / hd);
  const auto ang = torch::outer(torch::arange(T, torch::kDouble), inv);  // (T, hd/2)
  const auto cos = ang.cos(), sin = ang.sin();
  auto interleaved = [&](const torch::Tensor& q) {  // (T, heads, hd)
    const auto a = q.view({T, heads, hd / 2, 2}).select(-1, 0), b = q.view({T, heads, hd / 2, 2}).select(-1, 1);
    const auto c = cos.view({T, 1, hd / 2}), s = sin.view({T, 1, hd / 2});
    return torch::stack({a * c - b * s, a * s + b * c}, -1).view({T, heads, hd});
  };
  auto rotate_half = [&](const torch::Tensor& q) {
    const auto c = torch::cat({cos, cos}, -1).view({T, 1, hd}), s = torch::cat({sin, sin}, -1).view({T, 1, hd});
    const auto rot = torch::cat({-q.narrow(-1, hd / 2, hd / 2), q.narrow(-1, 0, hd / 2)}, -1);
    return q * c + rot * s;
  };
  auto scores = [&](const torch::Tensor& q, const torch::Tensor& k) {  // (heads, T, T)
    return torch::einsum("thd,shd->hts", {q, k});
  };
  const auto ours = scores(interleaved(x.matmul(w.t()).view({T, heads, hd})),
                           interleaved(x.matmul(wk.t()).view({T, heads, hd})));
  const auto w_hf = interleaved_to_hf(w, heads), wk_hf = interleaved_to_hf(wk, heads);
  const auto hf = scores(rotate_half(x.matmul(w_hf.t()).view({T, heads, hd})),
                         rotate_half(x.matmul(wk_hf.t()).view({T, heads, hd})));
  EXPECT_LT((ours - hf).abs().max().item<double>(), 1e-10);
  // ... and without the permutation they differ (the test can fail).
  const auto wrong = scores(rotate_half(x.matmul(w.t()).view({T, heads, hd})),
                            rotate_half(x.matmul(wk.t()).view({T, heads, hd})));
  EXPECT_GT((ours - wrong).abs().max().item<double>(), 1e-3);
  EXPECT_TRUE(torch::equal(hf_to_interleaved(w_hf, heads), w));
}

// A safetensors file from raw parts: header JSON text and a data buffer.
std::string st_bytes(const std::string& header, const std::string& data, uint64_t length_override = 0) {
  std::string out(8, '\0');
  uint64_t n = length_override ? length_override : header.size();
  std::memcpy(out.data(), &n, 8);
  return out + header + data;
}

TEST(Safetensors, DamagedFilesNameTheField) {
  const fs::path dir = temp_dir("st_bad");
  auto error_for = [&](const std::string& bytes) {
    const fs::path file = dir / "bad.safetensors";
    write_file(file, bytes);
    return usage_error([&] { safetensors::Reader r(file.string()); });
  };
  const std::string data(16, '\1');
  auto entry = [](const std::string& dtype, const std::string& shape, const std::string& offsets) {
    return R"({"a": {"dtype": ")" + dtype + R"(", "shape": )" + shape + R"(, "data_offsets": )" + offsets + "}}";
  };
  // The well-formed file reads back.
  {
    const fs::path file = dir / "good.safetensors";
    write_file(file, st_bytes(entry("F32", "[2, 2]", "[0, 16]"), data));
    safetensors::Reader r(file.string());
    EXPECT_EQ(r.read("a").sizes(), (std::vector<int64_t>{2, 2}));
  }
  EXPECT_NE(error_for("abc").find("too short"), std::string::npos);
  EXPECT_NE(error_for(st_bytes(entry("F32", "[2, 2]", "[0, 16]"), data, 1ull << 62)).find("header length"),
            std::string::npos);
  EXPECT_NE(error_for(st_bytes("{not json", data)).find("JSON"), std::string::npos);
  EXPECT_NE(error_for(st_bytes(entry("F7", "[2, 2]", "[0, 16]"), data)).find("dtype"), std::string::npos);
  EXPECT_NE(error_for(st_bytes(entry("F32", "[2, 3]", "[0, 16]"), data)).find("data_offsets"), std::string::npos);
  EXPECT_NE(error_for(st_bytes(entry("F32", "[2, 2]", "[16, 32]"), data)).find("past"), std::string::npos);
  EXPECT_NE(error_for(st_bytes(entry("F32", "[-2, 2]", "[0, 16]"), data)).find("shape"), std::string::npos);
  EXPECT_NE(error_for(st_bytes(entry("F32", "[4294967296, 4294967296, 4294967296]", "[0, 16]"), data)).find("shape"),
            std::string::npos);
  EXPECT_NE(error_for(st_bytes(entry("F32", "[2, 2]", "[0, 16]"), data + "tail")).find("cover"), std::string::npos);
  EXPECT_NE(error_for(st_bytes(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                   "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})", data))
                .find("overlaps"), std::string::npos);
  EXPECT_NE(error_for(st_bytes(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                   "b": {"dtype": "F32", "shape": [1], "data_offsets": [12, 16]}})", data))
                .find("hole"), std::string::npos);
  EXPECT_NE(error_for(st_bytes(R"({"a": {"dtype": "F32", "shape": [4]}})", data)).find("data_offsets"),
            std::string::npos);
  fs::remove_all(dir);
}

// Found while splitting the header parser out for safetensors_fuzz: a deeply nested shape
// crashed the reader (nlohmann's dump() recursing in the error message: SIGSEGV), a tensor
// name with a newline gave a two-line message, and sizes [0, 2^62, 4] passed (0 bytes) although
// LibTorch cannot compute their strides.
TEST(Safetensors, HostileHeadersGiveOneLineErrors) {
  const fs::path dir = temp_dir("st_hostile");
  const fs::path file = dir / "bad.safetensors";
  auto error_for = [&](const std::string& header) {
    write_file(file, st_bytes(header, ""));
    return usage_error([&] { safetensors::Reader r(file.string()); });
  };
  const size_t depth = 1000000;
  const std::string deep = R"({"a": {"dtype": "F32", "shape": [)" + std::string(depth, '[') + std::string(depth, ']') +
                           R"(], "data_offsets": [0, 0]}})";
  EXPECT_NE(error_for(deep).find("shape (an array of 1 values, some nested) has an invalid size"), std::string::npos);
  const std::string newline = error_for(R"({"a\nb": {"dtype": "F32", "shape": [1], "data_offsets": [0, 0]}})");
  EXPECT_EQ(newline.find('\n'), std::string::npos) << newline;
  EXPECT_NE(newline.find("tensor 'a\\nb'"), std::string::npos) << newline;
  EXPECT_NE(error_for(R"({"a": {"dtype": "F32", "shape": [0, 4611686018427387904, 4], "data_offsets": [0, 0]}})")
                .find("is too large"), std::string::npos);
  const std::string empty_ok = R"({"a": {"dtype": "F32", "shape": [0, 3], "data_offsets": [0, 0]}})";
  write_file(file, st_bytes(empty_ok, ""));
  EXPECT_EQ(safetensors::Reader(file.string()).read("a").sizes(), (std::vector<int64_t>{0, 3}));
  // The file reader and the in-memory parser (the fuzzed entry point) agree.
  const std::string good = st_bytes(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", "12345678");
  write_file(file, good);
  EXPECT_EQ(safetensors::parse_file_start("x", good, good.size()).tensors.size(), 1u);
  EXPECT_EQ(safetensors::read_header(file.string()).data_start, safetensors::parse_file_start("x", good, good.size()).data_start);
  fs::remove_all(dir);
}

TEST(Safetensors, HfFolderProblemsNameTheFileAndKey) {
  const fs::path dir = temp_dir("hf_bad");
  torch::manual_seed(5);
  Transformer source(lm_config());
  export_safetensors(source, dir.string());
  auto config = nlohmann::json::parse(std::ifstream(dir / "config.json"));
  auto with_config = [&](const nlohmann::json& j) {
    std::ofstream(dir / "config.json") << j.dump();
    return usage_error([&] { read_pretrained(dir.string()); });
  };
  auto c = config;
  c.erase("hidden_size");
  EXPECT_NE(with_config(c).find("hidden_size"), std::string::npos);
  c = config;
  c["hidden_size"] = 48;  // shapes in the file no longer match
  EXPECT_NE(with_config(c).find("shape"), std::string::npos);
  c = config;
  c["rope_scaling"] = {{"type", "linear"}};
  EXPECT_NE(with_config(c).find("rope_scaling"), std::string::npos);
  c = config;
  c["hidden_act"] = "gelu";
  EXPECT_NE(with_config(c).find("hidden_act"), std::string::npos);
  // An extra tensor (a bias) is refused.
  with_config(config);
  safetensors::Reader r((dir / "model.safetensors").string());
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (const auto& t : r.tensors()) tensors.emplace_back(t.name, r.read(t.name));
  tensors.emplace_back("model.layers.0.self_attn.q_proj.bias", torch::zeros({24}));
  safetensors::write((dir / "model.safetensors").string(), tensors);
  EXPECT_NE(usage_error([&] { read_pretrained(dir.string()); }).find("q_proj.bias"), std::string::npos);
  fs::remove_all(dir);
}

// --- Sturdy checkpoints ---------------------------------------------------------------------

TEST(SturdyCheckpoint, RunFolderImportsWithItsConfigAndTokenizer) {
  const fs::path run = temp_dir("run");
  torch::manual_seed(13);
  Config config;
  config.model = lm_config();
  config.tokenizer.kind = "bytes";
  Transformer source(config.model);
  auto params = named_parameters(*source);
  AdamW optimizer(params, config.optim);
  ckpt::TrainState state;
  state.step = 3;
  state.config_yaml = dump_config(config);
  ckpt::save(run.string(), params, optimizer.state(), state);

  const PretrainedModel p = read_pretrained(run.string());
  EXPECT_EQ(p.format, "sturdy");
  EXPECT_EQ(p.tokenizer.kind, "bytes");
  EXPECT_EQ(p.config.kv_heads, 2);
  Transformer imported = build_pretrained(p);
  EXPECT_TRUE(torch::equal(logits_of(source), logits_of(imported)));
  fs::remove_all(run);
}

// --- model.init_from -----------------------------------------------------------------------

TEST(InitFrom, ClassifierGetsTheBodyAndKeepsAFreshHead) {
  const fs::path dir = temp_dir("init");
  torch::manual_seed(5);
  Transformer lm(lm_config());
  export_safetensors(lm, dir.string());

  ModelConfig cc = lm_config();
  cc.head = "classifier";
  cc.num_classes = 3;
  cc.causal = false;
  torch::manual_seed(11);
  Transformer classifier(cc);
  const auto fresh_w = classifier->classifier->weight.detach().clone();
  const LoadReport report = load_pretrained(classifier, dir.string());
  EXPECT_EQ(report.fresh, (std::vector<std::string>{"classifier.weight", "classifier.bias"}));
  auto a = params_of(lm), b = params_of(classifier);
  for (const auto& name : report.loaded) EXPECT_TRUE(torch::equal(a.at(name), b.at(name))) << name;
  EXPECT_EQ(report.loaded.size(), a.size() - 1);  // everything but output.weight
  EXPECT_TRUE(torch::equal(fresh_w, classifier->classifier->weight));

  // Config that differs from the file: the error names the key and the value to set.
  ModelConfig wrong = cc;
  wrong.dim = 32;
  Transformer other(wrong);
  const std::string e = usage_error([&] { load_pretrained(other, dir.string()); });
  EXPECT_NE(e.find("set model.dim: 24 (now 32)"), std::string::npos) << e;
  wrong = cc;
  wrong.norm_eps = 1e-6;
  Transformer other_eps(wrong);
  EXPECT_NE(usage_error([&] { load_pretrained(other_eps, dir.string()); }).find("model.norm_eps"), std::string::npos);

  // A tensor of the wrong shape: one line with the parameter and both shapes.
  PretrainedModel p = read_pretrained(dir.string());
  p.tensors.emplace_back("classifier.weight", torch::zeros({5, 24}));
  const std::string shape_error = usage_error([&] { load_pretrained(classifier, p); });
  EXPECT_NE(shape_error.find("'classifier.weight' has shape [5, 24] in the file but [3, 24]"), std::string::npos)
      << shape_error;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace sturdy
