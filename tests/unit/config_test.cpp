// Tests for src/config: strict loading, closest-key hints, overrides, dump round trip, variants.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "sturdy/config/config.h"
#include "sturdy/core/error.h"

namespace sturdy {
namespace {

std::string error_of(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
  try {
    parse_config(yaml, "test.yaml", overrides);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

TEST(Config, DefaultsAndValues) {
  const Config c = parse_config("run: {name: x, seed: 7}\nmodel: {dim: 64, causal: true}\n", "t");
  EXPECT_EQ(c.run.name, "x");
  EXPECT_EQ(c.run.seed, 7u);
  EXPECT_EQ(c.model.dim, 64);
  EXPECT_TRUE(c.model.causal);
  EXPECT_EQ(c.model.layers, 2);  // default kept
}

TEST(Config, UnknownKeyNamesClosestValidKey) {
  const std::string e = error_of("optim:\n  learning_rat: 0.1\n  lr: 0.1\n");
  EXPECT_NE(e.find("test.yaml:2"), std::string::npos) << e;
  EXPECT_NE(e.find("optim.learning_rat"), std::string::npos) << e;
  const std::string e2 = error_of("optim: {lrr: 0.1}");
  EXPECT_NE(e2.find("did you mean 'optim.lr'"), std::string::npos) << e2;
  const std::string e3 = error_of("modle: {dim: 3}");
  EXPECT_NE(e3.find("did you mean 'model'"), std::string::npos) << e3;
}

TEST(Config, WrongTypeNamesKey) {
  const std::string e = error_of("data: {micro_batch: lots}");
  EXPECT_NE(e.find("data.micro_batch"), std::string::npos) << e;
  EXPECT_NE(e.find("lots"), std::string::npos) << e;
  EXPECT_NE(error_of("run: {seed: -1}").find("run.seed"), std::string::npos);
}

TEST(Config, ValidationNamesKey) {
  EXPECT_NE(error_of("optim: {lr: -1}").find("optim.lr"), std::string::npos);
  EXPECT_NE(error_of("data: {micro_batch: 3, global_batch: 8}").find("data.global_batch"),
            std::string::npos);
  EXPECT_NE(error_of("objective: {kind: magic}").find("objective.kind"), std::string::npos);
  EXPECT_NE(error_of("tokenizer: {kind: sentencepiece}").find("tokenizer.path"), std::string::npos);
}

TEST(Config, OverridesApplyAndAreChecked) {
  const Config c = parse_config("optim: {lr: 0.1}", "t", {"optim.lr=0.5", "model.causal=true",
                                                         "run.name=abc"});
  EXPECT_DOUBLE_EQ(c.optim.lr, 0.5);
  EXPECT_TRUE(c.model.causal);
  EXPECT_EQ(c.run.name, "abc");
  const std::string e = error_of("", {"optim.lrr=0.5"});
  EXPECT_NE(e.find("did you mean 'optim.lr'"), std::string::npos) << e;
  EXPECT_NE(error_of("", {"novalue"}).find("section.key=value"), std::string::npos);
}

TEST(Config, AugmentOps) {
  const Config c = parse_config(
      "augment: {probability: 0.5, ops: [{op: keyboard, rate: 0.1}, {op: swap, rate: 0.05}]}", "t");
  ASSERT_EQ(c.augment.ops.size(), 2u);
  EXPECT_EQ(c.augment.ops[1].op, "swap");
  EXPECT_DOUBLE_EQ(c.augment.ops[1].rate, 0.05);
  EXPECT_NE(error_of("augment: {ops: [{op: swap, rat: 0.1}]}").find("augment.ops[0]"), std::string::npos);
}

TEST(Config, SubwordSampling) {
  const std::string sp = "tokenizer: {kind: sentencepiece, path: t.model}\n";
  const Config c = parse_config(sp + "augment: {subword_alpha: 0.1, subword_nbest: 16}", "t");
  EXPECT_DOUBLE_EQ(c.augment.subword_alpha, 0.1);
  EXPECT_EQ(c.augment.subword_nbest, 16);
  EXPECT_EQ(parse_config("", "t").augment.subword_alpha, 0.0);  // off by default
  EXPECT_NE(error_of(sp + "augment: {subword_alpha: -0.1}").find("augment.subword_alpha"), std::string::npos);
  EXPECT_NE(error_of(sp + "augment: {subword_alpha: 0.1, subword_nbest: 1}").find("augment.subword_nbest"),
            std::string::npos);
  const std::string e = error_of("augment: {subword_alpha: 0.1}");  // bytes: one segmentation
  EXPECT_NE(e.find("augment.subword_alpha"), std::string::npos) << e;
  EXPECT_NE(e.find("sentencepiece"), std::string::npos) << e;
}

TEST(Config, AttackAugmentOptionsAreCheckedNamingTheKey) {
  const std::string kind = "objective: {kind: attack_augment, ";
  const Config c = parse_config(kind + "fraction: 0.5, edit_ops: [delete, synonym], edit_draws: 2, max_word_share: 0.2}", "t");
  EXPECT_EQ(c.objective.kind, ObjectiveKind::kAttackAugment);
  EXPECT_EQ(c.objective.edit_ops, (std::vector<std::string>{"delete", "synonym"}));
  EXPECT_EQ(c.objective.edit_draws, 2);
  EXPECT_DOUBLE_EQ(c.objective.max_word_share, 0.2);
  EXPECT_EQ(parse_config("", "t", {"objective.edit_ops=[swap]"}).objective.edit_ops, std::vector<std::string>{"swap"});
  const Config d = parse_config("", "t");  // defaults: the ops of both search attacks, one draw, 30 % of the words
  EXPECT_EQ(d.objective.edit_ops.size(), 8u);
  EXPECT_EQ(d.objective.edit_draws, 1);
  EXPECT_DOUBLE_EQ(d.objective.max_word_share, 0.3);
  const auto names = [](const std::string& e, const std::string& what) {
    EXPECT_NE(e.find("test.yaml"), std::string::npos) << e;
    EXPECT_NE(e.find(what), std::string::npos) << e;
  };
  names(error_of(kind + "fraction: 0}"), "objective.fraction must be in (0, 1] (got 0)");
  names(error_of(kind + "fraction: 1.5}"), "objective.fraction");
  names(error_of(kind + "max_word_share: 0}"), "objective.max_word_share must be in (0, 1]");
  names(error_of("objective: {max_word_share: 2}"), "objective.max_word_share");
  names(error_of(kind + "edit_draws: 0}"), "objective.edit_draws must be > 0");
  names(error_of(kind + "edit_ops: []}"), "objective.edit_ops is empty");
  names(error_of(kind + "edit_ops: delete}"), "objective.edit_ops: expected a list");
  names(error_of(kind + "edit_ops: [[delete]]}"), "objective.edit_ops[0]: expected a string");
  const std::string lm = error_of(kind + "}\nmodel: {head: lm, causal: true}");
  names(lm, "objective.kind attack_augment needs model.head classifier (got lm)");
  // Other kinds ignore the fraction's range (consistency checks it when the objective is made).
  EXPECT_EQ(error_of("objective: {kind: erm, fraction: 0}"), "");
}

TEST(Config, DumpRoundTrips) {
  const Config c = parse_config("run: {name: rt, seed: 3}\noptim: {lr: 0.000123}\n"
                                "augment: {probability: 0.2, ops: [{op: ocr, rate: 0.3}]}\n"
                                "objective: {edit_ops: [delete, misspell]}", "t");
  const std::string dumped = dump_config(c);
  const Config back = parse_config(dumped, "dump");
  EXPECT_EQ(dump_config(back), dumped);
  EXPECT_EQ(back.run.name, "rt");
  EXPECT_DOUBLE_EQ(back.optim.lr, 0.000123);
  ASSERT_EQ(back.augment.ops.size(), 1u);
  EXPECT_EQ(back.augment.ops[0].op, "ocr");
  EXPECT_EQ(back.objective.edit_ops, (std::vector<std::string>{"delete", "misspell"}));
  // Numbers are written in their shortest exact form, and read back bit for bit.
  const Config d = parse_config("augment: {subword_alpha: 0.1, ops: [{op: swap, rate: 0.09}]}\n"
                                "tokenizer: {kind: sentencepiece, path: t.model}\noptim: {lr: 1.0e-5}", "t");
  const std::string text = dump_config(d);
  EXPECT_NE(text.find("rate: 0.09}"), std::string::npos) << text;
  EXPECT_NE(text.find("subword_alpha: 0.1\n"), std::string::npos) << text;
  const Config e = parse_config(text, "dump");
  EXPECT_EQ(e.augment.ops[0].rate, 0.09);
  EXPECT_EQ(e.augment.subword_alpha, 0.1);
  EXPECT_EQ(e.optim.lr, 1.0e-5);
}

TEST(Config, SyntaxErrorHasLine) {
  const std::string e = error_of("run:\n  name: [unclosed\n");
  EXPECT_NE(e.find("test.yaml:"), std::string::npos) << e;
  EXPECT_NE(e.find("syntax"), std::string::npos) << e;
}

// --- variants (configs/*/variants.yaml) ---------------------------------------------------------

const std::string kConfigs = std::string(STURDY_SOURCE_DIR) + "/configs/";

// The same value: scalars that both read as numbers compare as numbers (2.0e-3 == 0.002), other
// scalars as text; sequences and mappings element by element.
bool same_value(const YAML::Node& a, const YAML::Node& b) {
  if (a.IsNull() || b.IsNull()) return a.IsNull() == b.IsNull();
  if (a.IsScalar() && b.IsScalar()) {
    char* end_a = nullptr;
    char* end_b = nullptr;
    const double x = std::strtod(a.Scalar().c_str(), &end_a);
    const double y = std::strtod(b.Scalar().c_str(), &end_b);
    if (!a.Scalar().empty() && !b.Scalar().empty() && *end_a == '\0' && *end_b == '\0') return x == y;
    return a.Scalar() == b.Scalar();
  }
  if (a.IsSequence() && b.IsSequence()) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (!same_value(a[i], b[i])) return false;
    return true;
  }
  if (a.IsMap() && b.IsMap()) {
    if (a.size() != b.size()) return false;
    for (const auto& kv : a)
      if (!b[kv.first.Scalar()] || !same_value(kv.second, b[kv.first.Scalar()])) return false;
    return true;
  }
  return false;
}

// Every variant of every variants file resolves to a valid config in which its overrides hold.
TEST(ConfigVariants, EveryVariantResolvesWithItsOverrides) {
  for (const std::string task : {"sst2", "stories"}) {
    const std::string base_path = kConfigs + task + "/base.yaml";
    const YAML::Node file = YAML::LoadFile(kConfigs + task + "/variants.yaml");
    ASSERT_TRUE(file.IsMap()) << task;
    const std::vector<std::string> names = list_variants(base_path);
    ASSERT_EQ(names.size(), file.size()) << task;
    ASSERT_GT(names.size(), 0u) << task;
    const Config base = load_config(base_path);
    size_t i = 0;
    for (const auto& entry : file) {
      const std::string name = entry.first.Scalar();
      SCOPED_TRACE(task + " variant " + name);
      EXPECT_EQ(names[i++], name);  // list_variants keeps the file's order
      Config c;
      ASSERT_NO_THROW(c = load_config(base_path, {}, name));
      EXPECT_NO_THROW(validate_config(c, name));
      const YAML::Node resolved = YAML::Load(dump_config(c));
      bool sets_name = false;
      for (const auto& kv : entry.second) {
        const std::string dotted = kv.first.Scalar();
        const auto dot = dotted.find('.');
        ASSERT_NE(dot, std::string::npos) << dotted;
        const YAML::Node got = resolved[dotted.substr(0, dot)][dotted.substr(dot + 1)];
        EXPECT_TRUE(same_value(got, kv.second)) << dotted << ": resolved " << YAML::Dump(got) << ", variant says "
                                                << YAML::Dump(kv.second);
        sets_name = sets_name || dotted.rfind("run.", 0) == 0;
      }
      if (!sets_name) {
        EXPECT_EQ(c.run.name, base.run.name + "-" + name);
        EXPECT_EQ(c.run.output_dir, "runs/" + base.run.name + "-" + name);
      }
      // What the variant leaves alone is the base's: the tokenizer (SST-2 learns only with the
      // sentencepiece model of base.yaml, not with bytes) and the model's width.
      EXPECT_EQ(c.tokenizer.kind, base.tokenizer.kind);
      EXPECT_EQ(c.model.dim, base.model.dim);
      // --set still wins over the variant (layer and relative ε apply only to the adversarial
      // objectives and r3f: an erm override resets them too).
      const Config over = load_config(base_path,
                                      {"objective.kind=erm", "objective.layer=0", "objective.epsilon_relative=0",
                                       "run.name=x"}, name);
      EXPECT_EQ(over.objective.kind, "erm");
      EXPECT_EQ(over.objective.layer, 0);
    }
  }
  EXPECT_EQ(load_config(kConfigs + "sst2/base.yaml", {}, "freelb").tokenizer.kind, "sentencepiece");
}

// A scratch folder with base.yaml and (optionally) variants.yaml.
struct VariantDir {
  std::filesystem::path dir;
  explicit VariantDir(const std::string& variants, bool with_variants = true) {
    dir = std::filesystem::temp_directory_path() /
          ("sturdy_config_test_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "base.yaml") << "run: {name: b, output_dir: runs/b}\noptim: {lr: 0.1}\n";
    if (with_variants) std::ofstream(dir / "variants.yaml") << variants;
  }
  ~VariantDir() { std::filesystem::remove_all(dir); }
  std::string base() const { return (dir / "base.yaml").string(); }
  std::string error(const std::string& variant, const std::vector<std::string>& overrides = {}) const {
    try {
      load_config(base(), overrides, variant);
    } catch (const UsageError& e) {
      return e.what();
    }
    return "";
  }
};

TEST(ConfigVariants, OrderAndDerivedNames) {
  const VariantDir d("fast: {optim.lr: 0.5, log.every_steps: 3}\nnamed: {run.name: other}\nplain: {}\nempty:\n");
  const Config fast = load_config(d.base(), {}, "fast");
  EXPECT_DOUBLE_EQ(fast.optim.lr, 0.5);
  EXPECT_EQ(fast.log.every_steps, 3);
  EXPECT_EQ(fast.run.name, "b-fast");
  EXPECT_EQ(fast.run.output_dir, "runs/b-fast");
  EXPECT_DOUBLE_EQ(load_config(d.base(), {"optim.lr=0.7"}, "fast").optim.lr, 0.7);  // --set after the variant
  const Config set_name = load_config(d.base(), {"run.name=mine"}, "fast");
  EXPECT_EQ(set_name.run.name, "mine");
  EXPECT_EQ(set_name.run.output_dir, "runs/b-fast");
  EXPECT_EQ(load_config(d.base(), {"run.output_dir=out"}, "fast").run.output_dir, "out");
  const Config named = load_config(d.base(), {}, "named");
  EXPECT_EQ(named.run.name, "other");
  EXPECT_EQ(named.run.output_dir, "runs/other");
  EXPECT_DOUBLE_EQ(load_config(d.base(), {}, "plain").optim.lr, 0.1);
  EXPECT_EQ(load_config(d.base(), {}, "empty").run.name, "b-empty");
  EXPECT_EQ(load_config(d.base()).run.name, "b");  // no variant: the base as it is
  EXPECT_EQ(list_variants(d.base()), (std::vector<std::string>{"fast", "named", "plain", "empty"}));
}

TEST(ConfigVariants, UnknownVariantListsTheNames) {
  const VariantDir d("erm: {}\nfreelb: {objective.kind: freelb}\n");
  const std::string e = d.error("freelbb");
  EXPECT_NE(e.find("variants.yaml"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown variant 'freelbb'"), std::string::npos) << e;
  EXPECT_NE(e.find("did you mean 'freelb'"), std::string::npos) << e;
  EXPECT_NE(e.find("erm, freelb"), std::string::npos) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos) << e;
}

TEST(ConfigVariants, MissingVariantsFile) {
  const VariantDir d("", false);
  const std::string e = d.error("erm");
  EXPECT_NE(e.find((d.dir / "variants.yaml").string()), std::string::npos) << e;
  EXPECT_NE(e.find("cannot open"), std::string::npos) << e;
  EXPECT_NO_THROW(load_config(d.base()));  // needed only with a variant
}

TEST(ConfigVariants, BadKeyOrValueNamesFileVariantAndKey) {
  const VariantDir d("ok: {}\nbad_key: {optim.lrr: 0.1}\nbad_value: {data.micro_batch: lots}\n"
                     "section: {objective: {kind: fgm}}\nbad_range: {optim.lr: -1}\n");
  const std::string file = (d.dir / "variants.yaml").string();
  const std::string k = d.error("bad_key");
  EXPECT_NE(k.find(file + ": variant 'bad_key'"), std::string::npos) << k;
  EXPECT_NE(k.find("unknown key 'optim.lrr'"), std::string::npos) << k;
  EXPECT_NE(k.find("did you mean 'optim.lr'"), std::string::npos) << k;
  const std::string v = d.error("bad_value");
  EXPECT_NE(v.find(file + ": variant 'bad_value'"), std::string::npos) << v;
  EXPECT_NE(v.find("data.micro_batch: expected an integer, got 'lots'"), std::string::npos) << v;
  const std::string s = d.error("section");
  EXPECT_NE(s.find("variant 'section'"), std::string::npos) << s;
  EXPECT_NE(s.find("unknown key 'objective'"), std::string::npos) << s;
  const std::string r = d.error("bad_range");
  EXPECT_NE(r.find("variant 'bad_range'"), std::string::npos) << r;
  EXPECT_NE(r.find("optim.lr must be > 0"), std::string::npos) << r;
  EXPECT_NO_THROW(load_config(d.base(), {}, "ok"));  // another variant's mistake is not this one's
}

TEST(ConfigVariants, StructureIsChecked) {
  const std::string list = VariantDir("- erm\n- fgm\n").error("erm");
  EXPECT_NE(list.find("expected a mapping of variant names"), std::string::npos) << list;
  const std::string seq = VariantDir("erm: {}\nfgm: [objective.kind=fgm]\n").error("erm");
  EXPECT_NE(seq.find("variant 'fgm' must be a mapping"), std::string::npos) << seq;
  const std::string syntax = VariantDir("erm: {optim.lr: [1,\n").error("erm");
  EXPECT_NE(syntax.find("variants.yaml:"), std::string::npos) << syntax;
  EXPECT_NE(syntax.find("YAML syntax error"), std::string::npos) << syntax;
  const std::string twice = VariantDir("erm: {}\nerm: {optim.lr: 1}\n").error("erm");
  EXPECT_NE(twice.find("variant 'erm' is listed twice"), std::string::npos) << twice;
  const std::string empty = VariantDir("# nothing yet\n").error("erm");
  EXPECT_NE(empty.find("unknown variant 'erm'"), std::string::npos) << empty;
}

// --- enum-like values (choice.h) ---------------------------------------------------------

// Calls f(E{}) for every enum of a config value, each with its table.
template <class F>
void for_each_choice_enum(F&& f) {
  f(TokenizerKind{});
  f(ModelHead{});
  f(Pooling{});
  f(ObjectiveKind{});
  f(AdvNorm{});
  f(LrSchedule{});
  f(Precision{});
  f(DistBackend{});
}

// "section: {key: value}" for the table's config key "section.key" (a tokenizer gets a path).
template <class E>
std::string yaml_for(const std::string& value) {
  const std::string key = ChoiceTable<E>::key;
  const auto dot = key.find('.');
  return key.substr(0, dot) + ": {" + key.substr(dot + 1) + ": " + value +
         (key == "tokenizer.kind" ? ", path: t.model}\n" : "}\n");
}

TEST(Choice, EveryTableRoundTrips) {
  for_each_choice_enum([](auto e) {
    using E = decltype(e);
    const auto& names = choice_names<E>();
    ASSERT_EQ(names.size(), std::size(ChoiceTable<E>::names)) << ChoiceTable<E>::key;
    for (size_t i = 0; i < names.size(); ++i) {
      const E value = ChoiceTable<E>::names[i].value;
      EXPECT_EQ(static_cast<size_t>(value), i) << names[i];
      EXPECT_EQ(names[i], choice_name(value));
      EXPECT_EQ(parse_choice<E>(names[i]), value) << names[i];
      // name -> Choice -> enum, enum -> Choice -> name
      const Choice<E> from_name(names[i]);
      EXPECT_TRUE(from_name.has_value());
      EXPECT_EQ(from_name.value(), value);
      EXPECT_EQ(Choice<E>(value).name(), names[i]);
      EXPECT_TRUE(from_name == value && from_name == names[i] && from_name == Choice<E>(value));
      EXPECT_EQ(fmt::format("{}", from_name), names[i]);
      // ... and through the YAML config: loaded, dumped under its key, loaded again.
      const std::string key = ChoiceTable<E>::key;
      const std::string leaf = key.substr(key.find('.') + 1);
      const Config c = parse_config(yaml_for<E>(names[i]), "t");
      const std::string dumped = dump_config(c);
      EXPECT_NE(dumped.find("  " + leaf + ": \"" + names[i] + "\"\n"), std::string::npos) << key << "\n" << dumped;
      EXPECT_EQ(dump_config(parse_config(dumped, "dump")), dumped) << key;
    }
  });
  // The fields read their own tables.
  const Config c = parse_config("model: {head: lm, pooling: first}\nobjective: {kind: smart, norm: linf}\n"
                                "optim: {schedule: cosine}\nprecision: {dtype: bf16}\ndist: {backend: mpi}\n", "t");
  EXPECT_EQ(parse_config(yaml_for<TokenizerKind>("llama2c"), "t").tokenizer.kind, TokenizerKind::kLlama2c);
  EXPECT_EQ(c.model.head, ModelHead::kLm);
  EXPECT_EQ(c.model.pooling, Pooling::kFirst);
  EXPECT_EQ(c.objective.kind, ObjectiveKind::kSmart);
  EXPECT_EQ(c.objective.norm, AdvNorm::kLinf);
  EXPECT_EQ(c.optim.schedule, LrSchedule::kCosine);
  EXPECT_EQ(c.precision.dtype, Precision::kBf16);
  EXPECT_EQ(c.dist.backend, DistBackend::kMpi);
}

TEST(Choice, UnknownValueNamesKeyListsEveryNameAndSuggestsTheClosest) {
  EXPECT_EQ(error_of("objective: {kind: freelbb}"),
            "test.yaml: objective.kind: 'freelbb' is not one of erm, augment, consistency, fgm, pgd, freeat, "
            "freelb, smart, attack_augment, r3f; did you mean 'freelb'?");
  for_each_choice_enum([](auto e) {
    using E = decltype(e);
    const std::string key = ChoiceTable<E>::key;
    const auto& names = choice_names<E>();
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
    for (const auto& name : names) {
      const std::string typo = name + "x";
      const std::string from_file = error_of(yaml_for<E>(typo));
      const std::string from_set = error_of("", {key + "=" + typo});
      for (const std::string& error : {from_file, from_set}) {
        EXPECT_NE(error.find("test.yaml: " + key + ": '" + typo + "' is not one of " + list), std::string::npos)
            << error;
        EXPECT_NE(error.find("did you mean '" + name + "'?"), std::string::npos) << error;
      }
    }
    // Nothing close: the list alone. A mapping or null: the key and the list.
    const std::string far = error_of(yaml_for<E>("zzzzzzzzzzzz"));
    EXPECT_NE(far.find(key + ": 'zzzzzzzzzzzz' is not one of " + list), std::string::npos) << far;
    EXPECT_EQ(far.find("did you mean"), std::string::npos) << far;
    for (const std::string value : {"{a: 1}", "[a]", "null", "''"}) {
      const std::string error = error_of(yaml_for<E>(value));
      EXPECT_NE(error.find("test.yaml: " + key + ": "), std::string::npos) << value << ": " << error;
      EXPECT_NE(error.find(list), std::string::npos) << value << ": " << error;
    }
  });
}

TEST(Choice, TextSetInCodeFailsWhereItIsUsedNamingTheKey) {
  ModelConfig m;
  m.head = "regression";  // as a test or a hand-built config may: kept, compared and printed as given
  EXPECT_FALSE(m.head.has_value());
  EXPECT_EQ(m.head, "regression");
  EXPECT_NE(m.head, ModelHead::kClassifier);
  EXPECT_NE(m.head, ModelHead::kLm);
  try {
    static_cast<void>(m.head.value());
    FAIL() << "expected UsageError";
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()), "model.head: 'regression' is not one of classifier, lm");
  }
  m.head = "lm";  // a table name is its enumerator
  EXPECT_EQ(m.head.value(), ModelHead::kLm);
  TokenizerConfig t;
  t.kind.clear();  // a pretrained model that carries no tokenizer
  EXPECT_TRUE(t.kind.empty());
  EXPECT_EQ(t.kind, "");
  EXPECT_THROW(static_cast<void>(t.kind.value()), UsageError);
}

TEST(Choice, CliHelpListsExactlyTheTableNames) {
  EXPECT_EQ(choice_help<ObjectiveKind>(),
            "erm | augment | consistency | fgm | pgd | freeat | freelb | smart | attack_augment | r3f");
  EXPECT_EQ(choice_help<TokenizerKind>(), "bytes | sentencepiece | llama2c");
  for_each_choice_enum([](auto e) {
    using E = decltype(e);
    const std::string help = choice_help<E>();
    std::vector<std::string> listed;
    for (size_t pos = 0;;) {
      const size_t bar = help.find(" | ", pos);
      listed.push_back(help.substr(pos, bar == std::string::npos ? std::string::npos : bar - pos));
      if (bar == std::string::npos) break;
      pos = bar + 3;
    }
    EXPECT_EQ(listed, choice_names<E>()) << help;
  });
}

}  // namespace
}  // namespace sturdy
