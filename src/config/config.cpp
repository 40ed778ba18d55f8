// Strict YAML configuration loading (see config.h).
//
// Every field is listed once, in `for_each_field`; loading, overrides, the
// resolved dump and the list of valid keys all walk that one table, so a new key
// is added in one place.
#include "sturdy/config/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "sturdy/core/error.h"

namespace sturdy {
namespace {

// Calls f(section, key, field&) for every configuration field, in dump order.
template <class Config_, class F>
void for_each_field(Config_& c, F&& f) {
  f("run", "name", c.run.name);
  f("run", "output_dir", c.run.output_dir);
  f("run", "seed", c.run.seed);
  f("run", "device", c.run.device);

  f("data", "train", c.data.train);
  f("data", "valid", c.data.valid);
  f("data", "max_length", c.data.max_length);
  f("data", "micro_batch", c.data.micro_batch);
  f("data", "global_batch", c.data.global_batch);
  f("data", "prefetch", c.data.prefetch);
  f("data", "workers", c.data.workers);
  f("data", "bucket_window", c.data.bucket_window);
  f("data", "prompt_fraction", c.data.prompt_fraction);

  f("tokenizer", "kind", c.tokenizer.kind);
  f("tokenizer", "path", c.tokenizer.path);

  f("model", "vocab_size", c.model.vocab_size);
  f("model", "dim", c.model.dim);
  f("model", "layers", c.model.layers);
  f("model", "heads", c.model.heads);
  f("model", "kv_heads", c.model.kv_heads);
  f("model", "ffn", c.model.ffn);
  f("model", "dropout", c.model.dropout);
  f("model", "causal", c.model.causal);
  f("model", "head", c.model.head);
  f("model", "pooling", c.model.pooling);
  f("model", "num_classes", c.model.num_classes);
  f("model", "max_seq_len", c.model.max_seq_len);
  f("model", "rope_theta", c.model.rope_theta);
  f("model", "norm_eps", c.model.norm_eps);
  f("model", "init_from", c.model.init_from);

  f("augment", "recipe", c.augment.recipe);
  f("augment", "ops", c.augment.ops);
  f("augment", "probability", c.augment.probability);
  f("augment", "lexicon_dir", c.augment.lexicon_dir);
  f("augment", "subword_alpha", c.augment.subword_alpha);
  f("augment", "subword_nbest", c.augment.subword_nbest);

  f("objective", "kind", c.objective.kind);
  f("objective", "steps", c.objective.steps);
  f("objective", "step_size", c.objective.step_size);
  f("objective", "epsilon", c.objective.epsilon);
  f("objective", "init", c.objective.init);
  f("objective", "norm", c.objective.norm);
  f("objective", "lambda", c.objective.lambda);
  f("objective", "replays", c.objective.replays);
  f("objective", "fraction", c.objective.fraction);
  f("objective", "edit_ops", c.objective.edit_ops);
  f("objective", "edit_draws", c.objective.edit_draws);
  f("objective", "max_word_share", c.objective.max_word_share);
  f("objective", "layer", c.objective.layer);
  f("objective", "epsilon_relative", c.objective.epsilon_relative);
  f("objective", "noise", c.objective.noise);
  f("objective", "sigma", c.objective.sigma);
  f("objective", "flood", c.objective.flood);

  f("optim", "lr", c.optim.lr);
  f("optim", "weight_decay", c.optim.weight_decay);
  f("optim", "beta1", c.optim.beta1);
  f("optim", "beta2", c.optim.beta2);
  f("optim", "eps", c.optim.eps);
  f("optim", "warmup", c.optim.warmup);
  f("optim", "schedule", c.optim.schedule);
  f("optim", "grad_clip", c.optim.grad_clip);
  f("optim", "epochs", c.optim.epochs);
  f("optim", "max_steps", c.optim.max_steps);

  f("precision", "dtype", c.precision.dtype);

  f("dist", "backend", c.dist.backend);
  f("dist", "bucket_mb", c.dist.bucket_mb);
  f("dist", "overlap", c.dist.overlap);
  f("dist", "timeout_s", c.dist.timeout_s);
  f("dist", "check_every", c.dist.check_every);

  f("checkpoint", "every_steps", c.checkpoint.every_steps);
  f("checkpoint", "every_minutes", c.checkpoint.every_minutes);
  f("checkpoint", "keep", c.checkpoint.keep);
  f("checkpoint", "resume", c.checkpoint.resume);

  f("eval", "every_steps", c.eval.every_steps);
  f("eval", "suite", c.eval.suite);

  f("log", "every_steps", c.log.every_steps);

  f("guard", "max_bad_steps", c.guard.max_bad_steps);
  f("guard", "spike_zscore", c.guard.spike_zscore);
  f("guard", "spike_window", c.guard.spike_window);
}

struct KeyTable {
  std::vector<std::string> sections;                         // in order
  std::map<std::string, std::vector<std::string>> keys;      // section -> keys
  std::vector<std::string> dotted;                           // "section.key"
};

const KeyTable& key_table() {
  static const KeyTable table = [] {
    KeyTable t;
    Config c;
    for_each_field(c, [&](const char* section, const char* key, auto&) {
      if (t.keys.find(section) == t.keys.end()) t.sections.push_back(section);
      t.keys[section].push_back(key);
      t.dotted.push_back(std::string(section) + "." + key);
    });
    return t;
  }();
  return table;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string did_you_mean(const std::string& key, const std::vector<std::string>& valid) {
  const std::string best = closest_key(key, valid);
  return best.empty() ? "" : fmt::format(" (did you mean '{}'?)", best);
}

std::string type_name(const std::string&) { return "a string"; }
std::string type_name(int64_t) { return "an integer"; }
std::string type_name(uint64_t) { return "a non-negative integer"; }
std::string type_name(double) { return "a number"; }
std::string type_name(bool) { return "true or false"; }

// Converts one scalar node into `field`; throws UsageError naming origin and key.
template <class T>
void convert_scalar(const YAML::Node& node, T& field, const std::string& origin,
                    const std::string& dotted) {
  if (!node.IsScalar()) {
    throw UsageError(fmt::format("{}: {}: expected {}, got a {}", origin, dotted,
                                 type_name(field), node.IsMap() ? "mapping" : "sequence"));
  }
  try {
    field = node.as<T>();
  } catch (const YAML::Exception&) {
    throw UsageError(fmt::format("{}: {}: expected {}, got '{}'", origin, dotted,
                                 type_name(field), node.Scalar()));
  }
}

void convert_field(const YAML::Node& node, std::string& field, const std::string& origin,
                   const std::string& dotted) {
  if (node.IsNull()) {
    field.clear();
    return;
  }
  convert_scalar(node, field, origin, dotted);
}
void convert_field(const YAML::Node& node, int64_t& field, const std::string& origin,
                   const std::string& dotted) {
  convert_scalar(node, field, origin, dotted);
}
void convert_field(const YAML::Node& node, uint64_t& field, const std::string& origin,
                   const std::string& dotted) {
  if (node.IsScalar() && !node.Scalar().empty() && node.Scalar()[0] == '-') {
    throw UsageError(fmt::format("{}: {}: expected a non-negative integer, got '{}'", origin,
                                 dotted, node.Scalar()));
  }
  convert_scalar(node, field, origin, dotted);
}
void convert_field(const YAML::Node& node, double& field, const std::string& origin,
                   const std::string& dotted) {
  convert_scalar(node, field, origin, dotted);
}
void convert_field(const YAML::Node& node, bool& field, const std::string& origin,
                   const std::string& dotted) {
  convert_scalar(node, field, origin, dotted);
}
// An enum-like value: parsed here, once, through its table (choice.h).
template <class E>
void convert_field(const YAML::Node& node, Choice<E>& field, const std::string& origin, const std::string& dotted) {
  if (!node.IsScalar() && !node.IsNull()) {
    throw UsageError(fmt::format("{}: {}: expected one of {}, got a {}", origin, dotted,
                                 detail::join_names(choice_names<E>(), ", "), node.IsMap() ? "mapping" : "sequence"));
  }
  field = parse_choice<E>(node.IsNull() ? std::string() : node.Scalar(), origin + ": " + dotted);
}
void convert_field(const YAML::Node& node, std::vector<PerturbOpSpec>& field,
                   const std::string& origin, const std::string& dotted) {
  field.clear();
  if (node.IsNull()) return;
  if (!node.IsSequence()) {
    throw UsageError(fmt::format("{}: {}: expected a list like [{{op: keyboard, rate: 0.1}}]",
                                 origin, dotted));
  }
  for (size_t i = 0; i < node.size(); ++i) {
    const YAML::Node item = node[i];
    const std::string where = fmt::format("{}[{}]", dotted, i);
    if (!item.IsMap()) {
      throw UsageError(fmt::format("{}: {}: expected a mapping {{op: NAME, rate: R}}", origin, where));
    }
    PerturbOpSpec spec;
    for (const auto& kv : item) {
      const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : std::string("?");
      if (key == "op") {
        convert_scalar(kv.second, spec.op, origin, where + ".op");
      } else if (key == "rate") {
        convert_scalar(kv.second, spec.rate, origin, where + ".rate");
      } else {
        throw UsageError(fmt::format("{}: {}: unknown key '{}'{}", origin, where, key,
                                     did_you_mean(key, {"op", "rate"})));
      }
    }
    if (spec.op.empty()) throw UsageError(fmt::format("{}: {}: missing 'op'", origin, where));
    field.push_back(spec);
  }
}

// A list of names (objective.edit_ops): a YAML sequence of strings.
void convert_field(const YAML::Node& node, std::vector<std::string>& field, const std::string& origin,
                   const std::string& dotted) {
  field.clear();
  if (node.IsNull()) return;
  if (!node.IsSequence()) {
    throw UsageError(fmt::format("{}: {}: expected a list like [delete, synonym]", origin, dotted));
  }
  for (size_t i = 0; i < node.size(); ++i) {
    std::string name;
    convert_scalar(node[i], name, origin, fmt::format("{}[{}]", dotted, i));
    field.push_back(name);
  }
}

void emit_field(YAML::Emitter& out, const std::string& v) {
  if (v.empty()) {
    out << YAML::Null;
  } else {
    out << YAML::DoubleQuoted << v;
  }
}
template <class E>
void emit_field(YAML::Emitter& out, const Choice<E>& v) {
  emit_field(out, v.name());
}
void emit_field(YAML::Emitter& out, int64_t v) { out << v; }
void emit_field(YAML::Emitter& out, uint64_t v) { out << v; }
// The shortest text that parses back to the same double (fmt's "{}"): 0.09 stays "0.09", not
// "0.089999999999999997" as a fixed 17 digits would write it.
std::string shortest(double v) { return fmt::format("{}", v); }
void emit_field(YAML::Emitter& out, double v) { out << shortest(v); }
void emit_field(YAML::Emitter& out, bool v) { out << YAML::TrueFalseBool << v; }
void emit_field(YAML::Emitter& out, const std::vector<std::string>& names) {
  out << YAML::Flow << YAML::BeginSeq;
  for (const auto& name : names) out << name;
  out << YAML::EndSeq << YAML::Block;
}
void emit_field(YAML::Emitter& out, const std::vector<PerturbOpSpec>& ops) {
  out << YAML::Flow << YAML::BeginSeq;
  for (const auto& op : ops) {
    out << YAML::BeginMap << YAML::Key << "op" << YAML::Value << op.op << YAML::Key << "rate"
        << YAML::Value << shortest(op.rate) << YAML::EndMap;
  }
  out << YAML::EndSeq << YAML::Block;
}

// Sets `dotted` ("section.key") to `value` in the YAML tree before conversion; `where` starts
// the message when the key is unknown ("--set k=v", "F: variant 'x'"). --set and variants.yaml
// both go through here.
void set_key(YAML::Node& root, const std::string& dotted, const YAML::Node& value, const std::string& where) {
  const auto dot = dotted.find('.');
  const auto& table = key_table();
  if (dot == std::string::npos ||
      std::find(table.dotted.begin(), table.dotted.end(), dotted) == table.dotted.end()) {
    std::string hint = did_you_mean(dotted, table.dotted);
    if (hint.empty() && dot == std::string::npos) hint = " (keys are section.key)";
    throw UsageError(fmt::format("{}: unknown key '{}'{}", where, dotted, hint));
  }
  const std::string section = dotted.substr(0, dot);
  const std::string key = dotted.substr(dot + 1);
  if (!root[section] || root[section].IsNull()) root[section] = YAML::Node(YAML::NodeType::Map);
  root[section][key] = value;
}

// Applies "section.key=value" (a --set argument) to the YAML tree before conversion.
void apply_override(YAML::Node& root, const std::string& override_text) {
  const auto eq = override_text.find('=');
  if (eq == std::string::npos) {
    throw UsageError(fmt::format("--set {}: expected section.key=value", override_text));
  }
  const std::string dotted = override_text.substr(0, eq);
  const std::string value = override_text.substr(eq + 1);
  const std::string where = "--set " + override_text;
  const auto& table = key_table();
  if (std::find(table.dotted.begin(), table.dotted.end(), dotted) == table.dotted.end()) {
    set_key(root, dotted, YAML::Node(), where);  // throws the unknown-key message before the value is parsed
  }
  YAML::Node parsed;
  try {
    parsed = YAML::Load(value);
  } catch (const YAML::Exception& e) {
    throw UsageError(fmt::format("--set {}: cannot parse value: {}", override_text, e.msg));
  }
  set_key(root, dotted, parsed, where);
}

}  // namespace

std::string closest_key(const std::string& key, const std::vector<std::string>& valid) {
  std::string best;
  size_t best_distance = std::max<size_t>(3, key.size() / 2) + 1;
  for (const auto& v : valid) {
    const size_t d = edit_distance(key, v);
    if (d < best_distance) {
      best_distance = d;
      best = v;
    }
  }
  if (!best.empty()) return best;
  // Spelled-out names of abbreviated keys in the same section: optim.learning_rate -> optim.lr
  // (the initials of its words), data.max_len -> data.max_length (a prefix).
  const auto dot = key.rfind('.');
  const std::string section = dot == std::string::npos ? "" : key.substr(0, dot + 1);
  const std::string leaf = key.substr(section.size());
  std::string initials;
  for (size_t i = 0; i < leaf.size(); ++i) {
    if (i == 0 || leaf[i - 1] == '_') initials += leaf[i];
  }
  for (const auto& v : valid) {
    if (v.compare(0, section.size(), section) != 0) continue;
    const std::string v_leaf = v.substr(section.size());
    if (v_leaf.find('.') != std::string::npos || v_leaf.size() < 2 || leaf.size() < 2) continue;
    if (v_leaf == initials || v_leaf.rfind(leaf, 0) == 0 || leaf.rfind(v_leaf + "_", 0) == 0) return v;
  }
  return best;
}

namespace {

// A mapping key as text; keys must be plain scalars ("? [a, b]: 1" is valid YAML, not a key here).
std::string key_text(const YAML::Node& key, const std::string& origin) {
  if (!key.IsScalar()) {
    throw UsageError(fmt::format("{}:{}: keys must be plain names, not a {}", origin, key.Mark().line + 1,
                                 key.IsMap() ? "mapping" : key.IsSequence() ? "sequence" : "null"));
  }
  return key.Scalar();
}

// One variant of variants.yaml: its overrides of the base, in file order.
struct Variant {
  std::string name;
  std::string origin;  // "DIR/variants.yaml: variant 'NAME'", the start of messages about it
  std::vector<std::pair<std::string, YAML::Node>> overrides;  // "section.key" -> value
};

std::string read_file(const std::string& path, const std::string& what) {
  std::ifstream in(path);
  if (!in) throw UsageError(fmt::format("{}: cannot open {}", path, what));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Reads every variant of the variants.yaml beside `config_path` (layout: docs/configuration.md,
// "Variants"): a mapping of variant names, each a mapping of section.key to a value (or empty).
// Every entry's shape is checked, not only the one asked for; keys and values are checked when
// a variant is applied.
std::vector<Variant> read_variants(const std::string& config_path) {
  const std::string file = variants_path(config_path);
  std::ifstream in(file);
  if (!in) {
    throw UsageError(fmt::format("{}: cannot open the variants file (--variant reads variants.yaml beside {})",
                                 file, config_path));
  }
  std::stringstream text;
  text << in.rdbuf();
  YAML::Node root;
  try {
    root = YAML::Load(text.str());
  } catch (const YAML::ParserException& e) {
    throw UsageError(fmt::format("{}:{}:{}: YAML syntax error: {}", file, e.mark.line + 1, e.mark.column + 1, e.msg));
  }
  if (root.IsNull()) return {};
  if (!root.IsMap()) {
    throw UsageError(fmt::format("{}: expected a mapping of variant names to overrides "
                                 "(NAME: {{section.key: value, ...}})", file));
  }
  std::vector<Variant> out;
  for (const auto& entry : root) {
    Variant v;
    v.name = key_text(entry.first, file);
    v.origin = fmt::format("{}: variant '{}'", file, v.name);
    for (const auto& seen : out) {
      if (seen.name == v.name) {
        throw UsageError(fmt::format("{}:{}: variant '{}' is listed twice", file, entry.first.Mark().line + 1, v.name));
      }
    }
    const YAML::Node& body = entry.second;
    if (!body.IsNull() && !body.IsMap()) {
      throw UsageError(fmt::format("{}:{}: variant '{}' must be a mapping of section.key: value, not a {}", file,
                                   entry.first.Mark().line + 1, v.name, body.IsSequence() ? "sequence" : "scalar"));
    }
    if (body.IsMap()) {
      for (const auto& kv : body) v.overrides.emplace_back(key_text(kv.first, file), kv.second);
    }
    out.push_back(std::move(v));
  }
  return out;
}

Variant find_variant(const std::string& config_path, const std::string& name) {
  const std::vector<Variant> all = read_variants(config_path);
  std::vector<std::string> names;
  for (const auto& v : all) {
    if (v.name == name) return v;
    names.push_back(v.name);
  }
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
  throw UsageError(fmt::format("{}: unknown variant '{}'{}; {}", variants_path(config_path), name,
                               did_you_mean(name, names), names.empty() ? "the file lists none" : "variants: " + list));
}

// Converts one YAML scalar to text for run.name / run.output_dir ("" when it is not a scalar:
// conversion then reports the type).
std::string scalar_or_empty(const YAML::Node& node) { return node && node.IsScalar() ? node.Scalar() : ""; }

Config parse_config_unguarded(const std::string& yaml_text, const std::string& origin,
                              const std::vector<std::string>& overrides, const Variant* variant);

// Runs `f`, turning every error into one UsageError line (messages quote the user's text: keys,
// values, --set arguments).
template <class F>
auto guarded(const std::string& origin, F&& f) -> decltype(f()) {
  auto one_line = [](const std::string& text) {
    std::string out;
    for (const char c : text) {
      if (c == '\n') out += "\\n";
      else if (c == '\r') out += "\\r";
      else if (static_cast<unsigned char>(c) < 0x20 && c != '\t') out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
      else out += c;
    }
    return out;
  };
  try {
    return f();
  } catch (const UsageError& e) {
    throw UsageError(one_line(e.what()));
  } catch (const YAML::Exception& e) {
    // Anything yaml-cpp raises that the checks below did not turn into a message of their own.
    throw UsageError(one_line(fmt::format("{}: invalid YAML: {}", origin, e.msg)));
  }
}

}  // namespace

std::string variants_path(const std::string& config_path) {
  const auto slash = config_path.rfind('/');
  return slash == std::string::npos ? "variants.yaml" : config_path.substr(0, slash + 1) + "variants.yaml";
}

std::vector<std::string> list_variants(const std::string& config_path) {
  return guarded(variants_path(config_path), [&] {
    std::vector<std::string> names;
    for (const auto& v : read_variants(config_path)) names.push_back(v.name);
    return names;
  });
}

Config parse_config(const std::string& yaml_text, const std::string& origin,
                    const std::vector<std::string>& overrides) {
  return guarded(origin, [&] { return parse_config_unguarded(yaml_text, origin, overrides, nullptr); });
}

namespace {

Config parse_config_unguarded(const std::string& yaml_text, const std::string& origin,
                              const std::vector<std::string>& overrides, const Variant* variant) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::ParserException& e) {
    throw UsageError(fmt::format("{}:{}:{}: YAML syntax error: {}", origin, e.mark.line + 1,
                                 e.mark.column + 1, e.msg));
  }
  if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  if (!root.IsMap()) throw UsageError(fmt::format("{}: expected a mapping of sections at the top", origin));

  const auto& table = key_table();
  // Unknown sections and keys are errors that name the closest valid one.
  for (const auto& section_kv : root) {
    const std::string section = key_text(section_kv.first, origin);
    auto it = table.keys.find(section);
    if (it == table.keys.end()) {
      throw UsageError(fmt::format("{}:{}: unknown section '{}'{}", origin,
                                   section_kv.first.Mark().line + 1, section,
                                   did_you_mean(section, table.sections)));
    }
    if (section_kv.second.IsNull()) continue;
    if (!section_kv.second.IsMap()) {
      throw UsageError(fmt::format("{}: section '{}' must be a mapping", origin, section));
    }
    for (const auto& kv : section_kv.second) {
      const std::string key = key_text(kv.first, origin);
      if (std::find(it->second.begin(), it->second.end(), key) == it->second.end()) {
        throw UsageError(fmt::format("{}:{}: unknown key '{}.{}'{}", origin,
                                     kv.first.Mark().line + 1, section, key,
                                     did_you_mean(section + "." + key, table.dotted)));
      }
    }
  }
  // Where each value came from, for conversion messages: the variant's keys name the variants
  // file and the variant; the base file's and --set's keep `origin`.
  std::map<std::string, std::string> key_origin;
  if (variant != nullptr) {
    const YAML::Node& base = root;  // const: reading a missing key adds nothing
    const std::string base_name = base["run"] && base["run"]["name"] ? scalar_or_empty(base["run"]["name"]) : RunConfig{}.name;
    for (const auto& [dotted, value] : variant->overrides) {
      set_key(root, dotted, value, variant->origin);
      key_origin[dotted] = variant->origin;
    }
    // A variant runs under its own name and folder unless it chooses them (--set still can).
    if (!key_origin.count("run.name")) set_key(root, "run.name", YAML::Node(base_name + "-" + variant->name), origin);
    if (!key_origin.count("run.output_dir")) {
      const YAML::Node& named = root;
      set_key(root, "run.output_dir", YAML::Node("runs/" + scalar_or_empty(named["run"]["name"])), origin);
    }
  }
  for (const auto& o : overrides) {
    apply_override(root, o);
    key_origin.erase(o.substr(0, o.find('=')));
  }

  Config config;
  for_each_field(config, [&](const char* section, const char* key, auto& field) {
    const YAML::Node s = root[section];
    if (!s || s.IsNull()) return;
    const YAML::Node node = s[key];
    if (!node) return;
    const std::string dotted = std::string(section) + "." + key;
    const auto from = key_origin.find(dotted);
    convert_field(node, field, from == key_origin.end() ? origin : from->second, dotted);
  });
  validate_config(config, variant == nullptr ? origin : fmt::format("{} (variant '{}')", origin, variant->name));
  return config;
}

}  // namespace

Config load_config(const std::string& path, const std::vector<std::string>& overrides, const std::string& variant) {
  const std::string text = read_file(path, "config file");
  return guarded(path, [&] {
    if (variant.empty()) return parse_config_unguarded(text, path, overrides, nullptr);
    const Variant v = find_variant(path, variant);
    return parse_config_unguarded(text, path, overrides, &v);
  });
}

std::string dump_config(const Config& config) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  std::string open_section;
  for_each_field(config, [&](const char* section, const char* key, const auto& field) {
    if (open_section != section) {
      if (!open_section.empty()) out << YAML::EndMap;
      out << YAML::Key << section << YAML::Value << YAML::BeginMap;
      open_section = section;
    }
    out << YAML::Key << key << YAML::Value;
    emit_field(out, field);
  });
  if (!open_section.empty()) out << YAML::EndMap;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

void validate_config(const Config& c, const std::string& origin) {
  auto fail = [&](const std::string& msg) { throw UsageError(fmt::format("{}: {}", origin, msg)); };
  auto positive = [&](const char* key, double v) {
    if (!(v > 0)) fail(fmt::format("{} must be > 0 (got {})", key, v));
  };
  auto non_negative = [&](const char* key, double v) {
    if (!(v >= 0)) fail(fmt::format("{} must be >= 0 (got {})", key, v));
  };
  positive("data.max_length", c.data.max_length);
  positive("data.micro_batch", c.data.micro_batch);
  positive("data.global_batch", c.data.global_batch);
  positive("data.prefetch", c.data.prefetch);
  positive("data.workers", c.data.workers);
  non_negative("data.bucket_window", c.data.bucket_window);
  if (!(c.data.prompt_fraction >= 0 && c.data.prompt_fraction < 1)) {
    fail(fmt::format("data.prompt_fraction must be in [0, 1) (got {})", c.data.prompt_fraction));
  }
  if (c.data.global_batch % c.data.micro_batch != 0) {
    fail(fmt::format("data.global_batch ({}) must be a multiple of data.micro_batch ({})",
                     c.data.global_batch, c.data.micro_batch));
  }
  if (c.tokenizer.kind != TokenizerKind::kBytes && c.tokenizer.path.empty()) {
    fail(fmt::format("tokenizer.path is required for tokenizer.kind {}", c.tokenizer.kind));
  }
  non_negative("model.vocab_size", c.model.vocab_size);
  positive("model.dim", c.model.dim);
  positive("model.layers", c.model.layers);
  positive("model.heads", c.model.heads);
  positive("model.kv_heads", c.model.kv_heads);
  positive("model.ffn", c.model.ffn);
  if (c.model.dropout < 0 || c.model.dropout >= 1) fail(fmt::format("model.dropout must be in [0, 1) (got {})", c.model.dropout));
  non_negative("model.num_classes", c.model.num_classes);
  if (c.augment.probability < 0 || c.augment.probability > 1) {
    fail(fmt::format("augment.probability must be in [0, 1] (got {})", c.augment.probability));
  }
  if (c.augment.probability > 0 && c.augment.recipe.empty() && c.augment.ops.empty()) {
    fail("augment.probability > 0 needs augment.recipe or augment.ops");
  }
  non_negative("augment.subword_alpha", c.augment.subword_alpha);
  if (c.augment.subword_alpha > 0) {
    if (c.augment.subword_nbest < 2) {
      fail(fmt::format("augment.subword_nbest must be at least 2 when augment.subword_alpha > 0 (got {})",
                       c.augment.subword_nbest));
    }
    if (c.tokenizer.kind != TokenizerKind::kSentencepiece) {
      fail(fmt::format("augment.subword_alpha > 0 needs tokenizer.kind sentencepiece (a unigram model); {} "
                       "has one segmentation per text", c.tokenizer.kind));
    }
  }
  for (const auto& op : c.augment.ops) {
    if (op.rate < 0 || op.rate > 1) fail(fmt::format("augment.ops: rate of '{}' must be in [0, 1] (got {})", op.op, op.rate));
  }
  positive("objective.steps", c.objective.steps);
  non_negative("objective.step_size", c.objective.step_size);
  non_negative("objective.epsilon", c.objective.epsilon);
  non_negative("objective.init", c.objective.init);
  non_negative("objective.lambda", c.objective.lambda);
  positive("objective.replays", c.objective.replays);
  positive("objective.edit_draws", c.objective.edit_draws);
  non_negative("objective.epsilon_relative", c.objective.epsilon_relative);
  non_negative("objective.sigma", c.objective.sigma);
  non_negative("objective.flood", c.objective.flood);
  if (c.objective.layer < 0 || c.objective.layer > c.model.layers) {
    fail(fmt::format("objective.layer must be in 0..model.layers ({}) (got {}): 0 is the embedding output, L the "
                     "output of block L", c.model.layers, c.objective.layer));
  }
  if (c.objective.layer > 0 || c.objective.epsilon_relative > 0) {
    switch (c.objective.kind.value()) {
      case ObjectiveKind::kFgm: case ObjectiveKind::kPgd: case ObjectiveKind::kFreeAt:
      case ObjectiveKind::kFreeLb: case ObjectiveKind::kSmart: break;
      case ObjectiveKind::kR3f:
        if (c.objective.epsilon_relative > 0) fail("objective.epsilon_relative: r3f has no epsilon (its noise scale is objective.sigma)");
        break;
      default:
        fail(fmt::format("objective.{} applies to fgm, pgd, freeat, freelb, smart{}, not objective.kind {}",
                         c.objective.layer > 0 ? "layer" : "epsilon_relative",
                         c.objective.layer > 0 ? " and r3f" : "", c.objective.kind));
    }
  }
  if (!(c.objective.max_word_share > 0 && c.objective.max_word_share <= 1)) {
    fail(fmt::format("objective.max_word_share must be in (0, 1] (got {})", c.objective.max_word_share));
  }
  if (c.objective.kind == ObjectiveKind::kAttackAugment) {
    if (!(c.objective.fraction > 0 && c.objective.fraction <= 1)) {
      fail(fmt::format("objective.fraction must be in (0, 1] (got {})", c.objective.fraction));
    }
    if (c.objective.edit_ops.empty()) fail("objective.edit_ops is empty: objective.kind attack_augment needs at least one edit");
    if (c.model.head != ModelHead::kClassifier) {
      fail(fmt::format("objective.kind attack_augment needs model.head classifier (got {}): its search lowers the "
                       "probability of a class label",
                       c.model.head));
    }
  }
  positive("optim.lr", c.optim.lr);
  non_negative("optim.weight_decay", c.optim.weight_decay);
  if (c.optim.beta1 < 0 || c.optim.beta1 >= 1) fail(fmt::format("optim.beta1 must be in [0, 1) (got {})", c.optim.beta1));
  if (c.optim.beta2 < 0 || c.optim.beta2 >= 1) fail(fmt::format("optim.beta2 must be in [0, 1) (got {})", c.optim.beta2));
  positive("optim.eps", c.optim.eps);
  non_negative("optim.warmup", c.optim.warmup);
  non_negative("optim.grad_clip", c.optim.grad_clip);
  positive("optim.epochs", c.optim.epochs);
  non_negative("optim.max_steps", c.optim.max_steps);
  positive("dist.bucket_mb", c.dist.bucket_mb);
  positive("dist.timeout_s", c.dist.timeout_s);
  non_negative("dist.check_every", c.dist.check_every);
  non_negative("checkpoint.every_steps", c.checkpoint.every_steps);
  non_negative("checkpoint.every_minutes", c.checkpoint.every_minutes);
  positive("checkpoint.keep", c.checkpoint.keep);
  non_negative("eval.every_steps", c.eval.every_steps);
  positive("log.every_steps", c.log.every_steps);
  positive("guard.max_bad_steps", c.guard.max_bad_steps);
  non_negative("guard.spike_zscore", c.guard.spike_zscore);
  if (c.guard.spike_window < 10) fail(fmt::format("guard.spike_window must be >= 10 (got {})", c.guard.spike_window));
}

}  // namespace sturdy
