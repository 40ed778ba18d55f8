// Enum-like configuration values: one `enum class` per value set, and ONE table per enum
// (ChoiceTable<E>: the name of every enumerator, in declaration order, and the config key
// it belongs to). The table is the only place a name is written: parsing, the error's list
// and "did you mean", dump_config and the CLI help (choice_help<E>()) all read it.
//
// Choice<E> is the field type of such a value. parse_config parses each one once, at the
// config boundary (an unknown name is a UsageError naming the file, the key, every name
// of the table and the closest one); code then compares with the enum or switches on
// value() (a switch over every enumerator, no default, so the compiler flags a missing
// case). A Choice may also be set from a string in code (tests, a ModelConfig built by
// hand): a table name becomes its enumerator; any other text is kept as given, compares
// and prints as that text, and value() throws the same UsageError, naming the table's key,
// where it is first used.
#pragma once

#include <cstddef>
#include <iterator>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

namespace sturdy {

template <class E>
struct ChoiceName {
  E value;
  const char* name;
};

// Specialised once per enum, beside it: `key` (the config key, for messages) and `names`
// (every enumerator once, in declaration order; checked at compile time).
template <class E>
struct ChoiceTable;

namespace detail {
// "<where>: '<text>' is not one of a, b, c; did you mean 'b'?" (UsageError).
[[noreturn]] void throw_not_a_choice(std::string_view where, std::string_view text,
                                     const std::vector<std::string>& names);
std::string join_names(const std::vector<std::string>& names, std::string_view separator);

template <class E>
constexpr bool table_in_enum_order() {
  const auto& names = ChoiceTable<E>::names;
  for (size_t i = 0; i < std::size(names); ++i) {
    if (static_cast<size_t>(names[i].value) != i) return false;
  }
  return true;
}
}  // namespace detail

// The table's names, in order.
template <class E>
const std::vector<std::string>& choice_names() {
  static_assert(detail::table_in_enum_order<E>(),
                "ChoiceTable<E>::names must list every enumerator once, in declaration order");
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& n : ChoiceTable<E>::names) out.push_back(n.name);
    return out;
  }();
  return names;
}

// The name of `value` ("?" for a value outside the table).
template <class E>
const char* choice_name(E value) {
  static_assert(detail::table_in_enum_order<E>(),
                "ChoiceTable<E>::names must list every enumerator once, in declaration order");
  const auto i = static_cast<size_t>(value);
  return i < std::size(ChoiceTable<E>::names) ? ChoiceTable<E>::names[i].name : "?";
}

// The enumerator named `text`, if any.
template <class E>
std::optional<E> find_choice(std::string_view text) {
  for (const auto& n : ChoiceTable<E>::names) {
    if (text == n.name) return n.value;
  }
  return std::nullopt;
}

// The enumerator named `text`; UsageError "<where>: '<text>' is not one of ...; did you mean
// '...'?" otherwise. `where` is the config key by default; a YAML file prefixes its name, a
// CLI option gives its own (--objective).
template <class E>
E parse_choice(std::string_view text, std::string_view where = ChoiceTable<E>::key) {
  if (const auto value = find_choice<E>(text)) return *value;
  detail::throw_not_a_choice(where, text, choice_names<E>());
}

// CLI help: the names joined by " | " ("erm | augment | ..."), or by `separator`.
template <class E>
std::string choice_help(std::string_view separator = " | ") {
  return detail::join_names(choice_names<E>(), separator);
}

// A config field holding one enumerator of E (see the top of this file).
template <class E>
class Choice {
 public:
  using Enum = E;

  Choice() = default;  // empty: no value (a pretrained model that carries no tokenizer)
  Choice(E value) : value_(value), text_(choice_name(value)) {}
  Choice(const char* text) : Choice(std::string_view(text)) {}
  Choice(const std::string& text) : Choice(std::string_view(text)) {}
  Choice(std::string_view text) : value_(find_choice<E>(text)), text_(text) {}

  bool has_value() const { return value_.has_value(); }
  bool empty() const { return !value_ && text_.empty(); }
  void clear() { *this = Choice(); }

  // The enumerator; UsageError naming ChoiceTable<E>::key when the text is not a name.
  E value() const {
    if (!value_) detail::throw_not_a_choice(ChoiceTable<E>::key, text_, choice_names<E>());
    return *value_;
  }
  // The table name (or the text held when it is none; "" when empty).
  const std::string& name() const { return text_; }
  operator const std::string&() const { return text_; }

  friend bool operator==(const Choice& a, const Choice& b) { return a.value_ == b.value_ && a.text_ == b.text_; }
  friend bool operator==(const Choice& a, E b) { return a.value_ == b; }
  friend bool operator==(E a, const Choice& b) { return b == a; }
  friend bool operator==(const Choice& a, const char* b) { return a.text_ == b; }
  friend bool operator==(const char* a, const Choice& b) { return b == a; }
  friend bool operator==(const Choice& a, const std::string& b) { return a.text_ == b; }
  friend bool operator==(const std::string& a, const Choice& b) { return b == a; }
  friend bool operator!=(const Choice& a, const Choice& b) { return !(a == b); }
  friend bool operator!=(const Choice& a, E b) { return !(a == b); }
  friend bool operator!=(E a, const Choice& b) { return !(a == b); }
  friend bool operator!=(const Choice& a, const char* b) { return !(a == b); }
  friend bool operator!=(const char* a, const Choice& b) { return !(a == b); }
  friend bool operator!=(const Choice& a, const std::string& b) { return !(a == b); }
  friend bool operator!=(const std::string& a, const Choice& b) { return !(a == b); }
  friend std::ostream& operator<<(std::ostream& out, const Choice& c) { return out << c.text_; }

 private:
  std::optional<E> value_;
  std::string text_;  // choice_name(*value_), or the text that names no enumerator
};

// --- the value sets -------------------------------------------------------------------

enum class TokenizerKind { kBytes, kSentencepiece, kLlama2c };
template <>
struct ChoiceTable<TokenizerKind> {
  static constexpr const char* key = "tokenizer.kind";
  static constexpr ChoiceName<TokenizerKind> names[] = {
      {TokenizerKind::kBytes, "bytes"},
      {TokenizerKind::kSentencepiece, "sentencepiece"},
      {TokenizerKind::kLlama2c, "llama2c"},
  };
};

enum class ModelHead { kClassifier, kLm };
template <>
struct ChoiceTable<ModelHead> {
  static constexpr const char* key = "model.head";
  static constexpr ChoiceName<ModelHead> names[] = {
      {ModelHead::kClassifier, "classifier"},
      {ModelHead::kLm, "lm"},
  };
};

enum class Pooling { kMean, kLast, kFirst };
template <>
struct ChoiceTable<Pooling> {
  static constexpr const char* key = "model.pooling";
  static constexpr ChoiceName<Pooling> names[] = {
      {Pooling::kMean, "mean"},
      {Pooling::kLast, "last"},
      {Pooling::kFirst, "first"},
  };
};

enum class ObjectiveKind { kErm, kAugment, kConsistency, kFgm, kPgd, kFreeAt, kFreeLb, kSmart, kAttackAugment, kR3f };
template <>
struct ChoiceTable<ObjectiveKind> {
  static constexpr const char* key = "objective.kind";
  static constexpr ChoiceName<ObjectiveKind> names[] = {
      {ObjectiveKind::kErm, "erm"},
      {ObjectiveKind::kAugment, "augment"},
      {ObjectiveKind::kConsistency, "consistency"},
      {ObjectiveKind::kFgm, "fgm"},
      {ObjectiveKind::kPgd, "pgd"},
      {ObjectiveKind::kFreeAt, "freeat"},
      {ObjectiveKind::kFreeLb, "freelb"},
      {ObjectiveKind::kSmart, "smart"},
      {ObjectiveKind::kAttackAugment, "attack_augment"},
      {ObjectiveKind::kR3f, "r3f"},
  };
};

// objective.noise: the distribution of R3F's noise (per element: N(0, σ²) or U(-σ, σ)).
enum class NoiseKind { kNormal, kUniform };
template <>
struct ChoiceTable<NoiseKind> {
  static constexpr const char* key = "objective.noise";
  static constexpr ChoiceName<NoiseKind> names[] = {
      {NoiseKind::kNormal, "normal"},
      {NoiseKind::kUniform, "uniform"},
  };
};

// The norm of an adversarial perturbation: objective.norm, and the attacks of an eval suite
// (robust::AdvNorm is this enum).
enum class AdvNorm { kL2, kLinf };
template <>
struct ChoiceTable<AdvNorm> {
  static constexpr const char* key = "objective.norm";
  static constexpr ChoiceName<AdvNorm> names[] = {
      {AdvNorm::kL2, "l2"},
      {AdvNorm::kLinf, "linf"},
  };
};

enum class LrSchedule { kLinear, kConstant, kCosine };
template <>
struct ChoiceTable<LrSchedule> {
  static constexpr const char* key = "optim.schedule";
  static constexpr ChoiceName<LrSchedule> names[] = {
      {LrSchedule::kLinear, "linear"},
      {LrSchedule::kConstant, "constant"},
      {LrSchedule::kCosine, "cosine"},
  };
};

enum class Precision { kFp32, kBf16 };
template <>
struct ChoiceTable<Precision> {
  static constexpr const char* key = "precision.dtype";
  static constexpr ChoiceName<Precision> names[] = {
      {Precision::kFp32, "fp32"},
      {Precision::kBf16, "bf16"},
  };
};

// run.device: where the model, batches and every objective's tensors live. auto: CUDA
// when LibTorch was built with it and a GPU is visible, else the CPU.
enum class DeviceKind { kAuto, kCpu, kCuda };
template <>
struct ChoiceTable<DeviceKind> {
  static constexpr const char* key = "run.device";
  static constexpr ChoiceName<DeviceKind> names[] = {
      {DeviceKind::kAuto, "auto"},
      {DeviceKind::kCpu, "cpu"},
      {DeviceKind::kCuda, "cuda"},
  };
};

enum class DistBackend { kAuto, kMpi, kNccl };
template <>
struct ChoiceTable<DistBackend> {
  static constexpr const char* key = "dist.backend";
  static constexpr ChoiceName<DistBackend> names[] = {
      {DistBackend::kAuto, "auto"},
      {DistBackend::kMpi, "mpi"},
      {DistBackend::kNccl, "nccl"},
  };
};

}  // namespace sturdy

// fmt::format("{}", choice) writes its name.
namespace fmt {
template <class E>
struct formatter<sturdy::Choice<E>> : formatter<string_view> {
  template <class Context>
  auto format(const sturdy::Choice<E>& c, Context& ctx) const {
    return formatter<string_view>::format(string_view(c.name()), ctx);
  }
};
}  // namespace fmt
