// model_dump OUT.h5: writes seeded Transformer models, a padded batch and their eval-mode
// outputs to HDF5 for tests/python/model_crosscheck.py, which re-implements the model in
// plain torch. One group per case:
//   /<case>            attrs: the ModelConfig fields (vocab_size, dim, ..., head, pooling, causal)
//   /<case>/params/<checkpoint name>   float32, e.g. params/layers.0.attention.wq.weight
//   /<case>/ids int64 (B,T), /<case>/mask uint8 (B,T), /<case>/hidden float32 (B,T,D) from
//   encode(), /<case>/output float32 (B,C) or (B,T,V) from forward().
// Weights are redrawn at unit scale (not the N(0, 0.02^2) training init) so that attention
// is peaked and a wrong rotary pairing, mask or head grouping shows in the outputs.
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <hdf5.h>
#include <torch/torch.h>

#include "sturdy/core/error.h"
#include "sturdy/model/transformer.h"

namespace {

// Owns one HDF5 identifier; closes it with the matching H5?close.
class H5Id {
 public:
  H5Id(hid_t id, herr_t (*close)(hid_t), const char* what) : id_(id), close_(close) {
    STURDY_CHECK(id >= 0, "HDF5 call failed: {}", what);
  }
  H5Id(const H5Id&) = delete;
  H5Id& operator=(const H5Id&) = delete;
  ~H5Id() { close_(id_); }
  hid_t get() const { return id_; }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

void h5_check(herr_t status, const char* what) { STURDY_CHECK(status >= 0, "HDF5 call failed: {}", what); }

void write_tensor(hid_t loc, const std::string& name, const torch::Tensor& tensor) {
  auto t = tensor.detach().to(torch::kCPU).contiguous();
  hid_t file_type = H5T_IEEE_F32LE, mem_type = H5T_NATIVE_FLOAT;
  if (t.scalar_type() == torch::kLong) {
    file_type = H5T_STD_I64LE;
    mem_type = H5T_NATIVE_INT64;
  } else if (t.scalar_type() == torch::kBool) {
    t = t.to(torch::kUInt8);
    file_type = H5T_STD_U8LE;
    mem_type = H5T_NATIVE_UINT8;
  } else {
    t = t.to(torch::kFloat);
  }
  std::vector<hsize_t> dims(t.sizes().begin(), t.sizes().end());
  H5Id space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose,
             "H5Screate_simple");
  H5Id dataset(H5Dcreate2(loc, name.c_str(), file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT,
                          H5P_DEFAULT),
               H5Dclose, name.c_str());
  h5_check(H5Dwrite(dataset.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.data_ptr()),
           name.c_str());
}

void write_attr(hid_t loc, const char* name, hid_t mem_type, hid_t file_type, const void* value) {
  H5Id space(H5Screate(H5S_SCALAR), H5Sclose, "H5Screate");
  H5Id attr(H5Acreate2(loc, name, file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose, name);
  h5_check(H5Awrite(attr.get(), mem_type, value), name);
}
void write_attr(hid_t loc, const char* name, int64_t value) {
  write_attr(loc, name, H5T_NATIVE_INT64, H5T_STD_I64LE, &value);
}
void write_attr(hid_t loc, const char* name, double value) {
  write_attr(loc, name, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, &value);
}
void write_attr(hid_t loc, const char* name, const std::string& value) {
  H5Id type(H5Tcopy(H5T_C_S1), H5Tclose, "H5Tcopy");
  h5_check(H5Tset_size(type.get(), value.size()), "H5Tset_size");
  write_attr(loc, name, type.get(), type.get(), value.c_str());
}

struct Case {
  std::string name, head, pooling;
  bool causal;
  int64_t kv_heads;
};

void dump_case(hid_t file, const Case& spec, const torch::Tensor& ids, const torch::Tensor& mask) {
  sturdy::ModelConfig c;
  c.vocab_size = 61;
  c.dim = 32;
  c.layers = 2;
  c.heads = 4;
  c.kv_heads = spec.kv_heads;
  c.ffn = 48;
  c.dropout = 0.1;  // eval mode: must have no effect
  c.causal = spec.causal;
  c.head = spec.head;
  c.pooling = spec.pooling;
  c.num_classes = 3;
  c.max_seq_len = 16;
  c.rope_theta = 10000.0;
  c.norm_eps = 1e-5;
  sturdy::Transformer model(c);
  model->eval();
  {
    torch::NoGradGuard no_grad;
    for (auto& p : model->named_parameters()) {
      auto& w = p.value();
      const auto& name = p.key();
      if (name.find("norm") != std::string::npos) {
        w.normal_(1.0, 0.2);
      } else if (w.dim() == 1) {
        w.normal_(0.0, 0.5);
      } else if (name == "tok_embeddings.weight") {
        w.normal_(0.0, 1.0);
      } else {
        w.normal_(0.0, 1.0 / std::sqrt(static_cast<double>(w.size(1))));
      }
    }
  }
  torch::NoGradGuard no_grad;
  const auto hidden = model->encode(model->embed(ids), mask);
  const auto output = model(ids, mask);

  H5Id group(H5Gcreate2(file, spec.name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose,
             spec.name.c_str());
  const hid_t g = group.get();
  write_attr(g, "vocab_size", c.vocab_size);
  write_attr(g, "dim", c.dim);
  write_attr(g, "layers", c.layers);
  write_attr(g, "heads", c.heads);
  write_attr(g, "kv_heads", c.kv_heads);
  write_attr(g, "ffn", c.ffn);
  write_attr(g, "num_classes", c.num_classes);
  write_attr(g, "max_seq_len", c.max_seq_len);
  write_attr(g, "causal", static_cast<int64_t>(c.causal));
  write_attr(g, "rope_theta", c.rope_theta);
  write_attr(g, "norm_eps", c.norm_eps);
  write_attr(g, "head", c.head);
  write_attr(g, "pooling", c.pooling);
  {
    H5Id params(H5Gcreate2(g, "params", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose, "params");
    for (const auto& p : model->named_parameters()) write_tensor(params.get(), p.key(), p.value());
  }
  write_tensor(g, "ids", ids);
  write_tensor(g, "mask", mask);
  write_tensor(g, "hidden", hidden);
  write_tensor(g, "output", output);
  std::printf("%-24s %lld parameters, output %s\n", spec.name.c_str(),
              static_cast<long long>(model->num_parameters()), c10::str(output.sizes()).c_str());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: model_dump OUT.h5\n");
    return 2;
  }
  try {
    torch::manual_seed(20240601);
    // B = 4, T = 7, real lengths 7, 4, 1, 0 (right padding; the last row is all padding).
    const auto ids = torch::randint(61, {4, 7}, torch::kLong);
    const auto lengths = torch::tensor({7, 4, 1, 0}, torch::kLong);
    const auto mask = torch::arange(7, torch::kLong).unsqueeze(0) < lengths.unsqueeze(1);
    const std::vector<Case> cases{
        {"classifier_mean_mha", "classifier", "mean", false, 4},
        {"classifier_last_causal_gqa", "classifier", "last", true, 2},
        {"classifier_first_mqa", "classifier", "first", false, 1},
        {"lm_causal_gqa", "lm", "mean", true, 2},
        {"lm_bidirectional_mha", "lm", "mean", false, 4},
    };
    H5Id file(H5Fcreate(argv[1], H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose, argv[1]);
    for (const auto& spec : cases) {
      torch::manual_seed(7);
      dump_case(file.get(), spec, ids, mask);
    }
  } catch (const sturdy::Error& e) {
    std::fprintf(stderr, "model_dump: %s\n", e.what());
    return static_cast<int>(e.code());
  }
  return 0;
}
