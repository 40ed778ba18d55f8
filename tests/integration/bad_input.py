"""Bad-input catalogue: the real `sturdy` binary fed broken files, configs and command lines.

    bad_input.py path/to/sturdy WORKDIR [disk-full]

With `disk-full` only the full-disk case runs: it mounts a tiny tmpfs, so it needs root and
exits 77 (CTest: skipped) with the reason otherwise.

Every case asserts
  * the documented exit code (README): 2 for bad usage, config or input; 3 for runtime failures
    (I/O, a full disk, every checkpoint damaged);
  * ONE clear line on stderr: exactly one distinct `error:` line (several ranks may print the same
    one), naming the problem (the expected words: file, key, row, rank, dataset); stderr ends with
    a newline, and without mpirun the error line is its last line (nothing spills onto a second);
  * no crash, sanitizer report, Python-style traceback or "internal error";
  * pre-existing output unchanged: an existing corpus at the --output path, or the run folder
    with its earlier checkpoint, hashed before and after.
A failing case prints what it saw; the test fails when any case does. docs/reliability.md lists
the cases."""
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import time

import h5py
import numpy as np

from common import mpirun_prefix, write_toy_tsv

sturdy, work = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
DISK_FULL = sys.argv[3:] == ["disk-full"]
SKIP = 77
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
os.chdir(work)
t_start = time.time()

BASE_CONFIG = """
run: {{name: bad-input, output_dir: runs/base, seed: 1}}
data: {{train: {corpus}, max_length: 16, micro_batch: 4, global_batch: 8}}
model: {{dim: 16, layers: 1, heads: 2, kv_heads: 2, ffn: 32, dropout: 0.0}}
optim: {{lr: 1.0e-3, warmup: 0, epochs: 1, max_steps: 2}}
checkpoint: {{every_steps: 0, keep: 2, resume: auto}}
log: {{every_steps: 1}}
"""


def sh(cmd, env=None):
    e = dict(os.environ)
    e.setdefault("OMP_NUM_THREADS", "1")
    if env:
        e.update(env)
    return subprocess.run(cmd, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          errors="replace", timeout=300)


def must(cmd):
    p = sh(cmd)
    if p.returncode != 0:
        sys.exit(f"setup failed (exit {p.returncode}): {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")


def tree_hash(path):
    """relative path -> sha256 for every file under `path` (or the file itself)."""
    if os.path.isfile(path):
        return {"": hashlib.sha256(open(path, "rb").read()).hexdigest()}
    out = {}
    for root, _, files in os.walk(path):
        for f in files:
            full = os.path.join(root, f)
            out[os.path.relpath(full, path)] = hashlib.sha256(open(full, "rb").read()).hexdigest()
    return out


def write(path, data, mode="w"):
    with open(path, mode) as f:
        f.write(data)
    return os.path.abspath(path)


# --- fixtures -------------------------------------------------------------------------------
write_toy_tsv("toy.tsv", 40)
must([sturdy, "prepare", "--input", "toy.tsv", "--output", "toy.h5"])
TOY = os.path.abspath("toy.h5")
CONFIG = write("base.yaml", BASE_CONFIG.format(corpus=TOY))
must([sturdy, "train", "--config", CONFIG])  # runs/base/checkpoints/step_00000002
BASE_RUN = os.path.abspath("runs/base")
shutil.copy(TOY, "existing.h5")  # an earlier corpus that a failed prepare must leave alone
EXISTING = os.path.abspath("existing.h5")


def corpus_variant(name, edit):
    """A copy of toy.h5 changed with h5py, as a damaged corpus someone else wrote."""
    path = os.path.abspath(name)
    shutil.copy(TOY, path)
    with h5py.File(path, "r+") as f:
        edit(f)
    return path


def replace(f, name, data):
    del f[name]
    f[name] = data


def copy_run(name):
    dst = os.path.abspath(f"runs/{name}")
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(BASE_RUN, dst)
    return dst


def ckpt(run):
    return os.path.join(run, "checkpoints", "step_00000002")


def train(*sets, config=None, ranks=0, variant=None):
    cmd = (mpirun_prefix(ranks) if ranks else []) + [sturdy, "train", "--config", config or CONFIG]
    if variant is not None:
        cmd += ["--variant", variant]
    for s in sets:
        cmd += ["--set", s]
    return cmd


def prepare(inp, *args, output=EXISTING):
    return [sturdy, "prepare", "--input", inp, "--output", output, *args]


# --- the catalogue ----------------------------------------------------------------------------
# (name, command, expected exit code, words the error line must contain, paths that must not
#  change, extra env)
cases = []


def case(name, cmd, rc, words, protect=(BASE_RUN,), env=None):
    cases.append((name, cmd, rc, words, protect, env))


# prepare: every row validated, an existing output untouched
bad_utf8 = write("bad_utf8.tsv", b"sentence\tlabel\nfine\t0\nbro\xffken\t1\n", "wb")
case("prepare: invalid UTF-8", prepare(bad_utf8), 2, ["bad_utf8.tsv:3", "UTF-8"], [EXISTING])
empty = write("empty_text.tsv", "sentence\tlabel\nfine\t0\n   \t1\n")
case("prepare: empty text", prepare(empty), 2, ["empty_text.tsv:3", "empty text"], [EXISTING])
labels = write("labels.tsv", "sentence\tlabel\nfine\tpos\nhmm\tmaybe\n")
case("prepare: label outside --labels", prepare(labels, "--labels", "neg,pos"), 2,
     ["labels.tsv:3", "unknown label 'maybe'"], [EXISTING])
short = write("short.tsv", "sentence\tlabel\nfine\t0\nno label column\n")
case("prepare: missing column", prepare(short), 2, ["short.tsv:3", "missing field"], [EXISTING])
csv = write("quote.csv", 'text,label\n"fine",0\n"never closed,1\n')
case("prepare: unterminated CSV quote", prepare(csv), 2, ["quote.csv:3", "unterminated"], [EXISTING])
jl = write("rows.jsonl", '{"text": "fine", "label": 0}\n[1, 2]\n')
case("prepare: JSONL row not an object", prepare(jl), 2, ["rows.jsonl:2", "not a JSON object"], [EXISTING])
jl2 = write("nokey.jsonl", '{"text": "fine", "label": 0}\n{"label": 1}\n')
case("prepare: JSONL row without text", prepare(jl2), 2, ["nokey.jsonl:2", "'text'"], [EXISTING])
case("prepare: unknown --format", prepare("toy.tsv", "--format", "xml"), 2, ["--format", "xml"], [EXISTING])
dat = write("rows.dat", "x\n")
case("prepare: no format from the name", prepare(dat), 2, ["rows.dat", "--format"], [EXISTING])
case("prepare: missing input", prepare("nowhere.tsv"), 2, ["nowhere.tsv", "cannot open"], [EXISTING])
plain = write("plain.txt", "just text\n")
case("prepare: a labelled and an unlabelled input", prepare("toy.tsv", "--input", plain), 2,
     ["plain.txt is unlabelled", "all be labelled or all unlabelled"], [EXISTING])
adv_bad = write("adv_bad.jsonl", '{"text": "fine", "label": "0"}\n{"text": "", "label": "1"}\n')
case("prepare: bad row of the second input", prepare("toy.tsv", "--input", adv_bad), 2, ["adv_bad.jsonl:2", "empty text"],
     [EXISTING])
nothing = write("nothing.tsv", "")
case("prepare: empty input", prepare(nothing), 2, ["nothing.tsv", "empty"], [EXISTING])
case("prepare: unknown column", prepare("toy.tsv", "--text-field", "body"), 2, ["--text-field", "body"],
     [EXISTING])
case("prepare: output folder missing", prepare("toy.tsv", output="no/such/dir/out.h5"), 3,
     ["no/such/dir/out.h5", "cannot create"], [EXISTING])

# damaged or foreign HDF5 corpora: named file and object, the run folder untouched
not_h5 = write("text.h5", "this is not HDF5\n")
case("corpus: not an HDF5 file", train(f"data.train={not_h5}"), 2, ["text.h5", "not an HDF5 file"])
case("corpus: missing file", train("data.train=missing.h5"), 2, ["missing.h5", "not found"])
no_id = corpus_variant("no_id.h5", lambda f: f.__delitem__("id"))
case("corpus: missing dataset", train(f"data.train={no_id}"), 2, ["no_id.h5", "/id is missing"])
float_label = corpus_variant("float_label.h5", lambda f: replace(f, "label", np.array(f["label"], np.float32)))
case("corpus: wrong dtype", train(f"data.train={float_label}"), 2, ["float_label.h5", "/label", "int32"])


def decreasing(f):
    o = np.array(f["text/offsets"])
    o[5], o[6] = o[6], o[5]
    replace(f, "text/offsets", o)


bad_offsets = corpus_variant("bad_offsets.h5", decreasing)
case("corpus: offsets not monotonic", train(f"data.train={bad_offsets}"), 2,
     ["bad_offsets.h5", "/text/offsets decreases at entry 6"])


def label7(f):
    lab = np.array(f["label"])
    lab[3] = 7
    replace(f, "label", lab)


big_label = corpus_variant("big_label.h5", label7)
case("corpus: label out of range", train(f"data.train={big_label}"), 2,
     ["big_label.h5", "/label entry 3 is 7", "[0, 3)"])


def bad_text(f):
    b = np.array(f["text/bytes"])
    b[:] = 0xFF
    replace(f, "text/bytes", b)


# Found only when an example is read: the run resumes from step 2 and must fail in step 3
# without touching the run folder (config.yaml is written after the first step).
bad_bytes = corpus_variant("bad_bytes.h5", bad_text)
case("corpus: invalid UTF-8 text", train(f"data.train={bad_bytes}", "optim.max_steps=4"), 2,
     ["bad_bytes.h5", "not valid UTF-8"])
with open(TOY, "rb") as f:
    half = f.read()[: os.path.getsize(TOY) // 2]
truncated = write("truncated.h5", half, "wb")
case("corpus: truncated file", train(f"data.train={truncated}"), 2, ["truncated.h5"])
names = corpus_variant("names.h5", lambda f: f.attrs.__setitem__("label_names", ["a", "b"]))
case("corpus: label_names do not match", train(f"data.train={names}"), 2, ["names.h5", "label_names"])
fmt_attr = corpus_variant("format.h5", lambda f: f.attrs.__setitem__("format", "something-else"))
case("corpus: foreign format attribute", train(f"data.train={fmt_attr}"), 2, ["format.h5", "format"])
count = corpus_variant("count.h5", lambda f: f.attrs.__setitem__("num_examples", np.int64(1) << 40))
case("corpus: absurd num_examples", train(f"data.train={count}"), 2, ["count.h5", "/text/offsets"])

# configuration: strict keys, types, ranges
unknown = write("unknown_key.yaml", open(CONFIG).read() + "optim2: {}\n")
case("config: unknown section", train(config=unknown), 2, ["unknown_key.yaml", "unknown section 'optim2'"])
typo = write("typo.yaml", open(CONFIG).read().replace("lr: 1.0e-3", "learning_rate: 1.0e-3"))
case("config: unknown key", train(config=typo), 2, ["typo.yaml", "optim.learning_rate", "did you mean 'optim.lr'"])
case("config: wrong value type", train("data.micro_batch=lots"), 2, ["data.micro_batch", "expected an integer", "lots"])
case("config: negative learning rate", train("optim.lr=-0.1"), 2, ["optim.lr must be > 0"])
case("config: global batch not a multiple", train("data.global_batch=10"), 2,
     ["data.global_batch (10)", "data.micro_batch (4)"])
case("config: --set without '='", train("optim.lr"), 2, ["--set optim.lr", "section.key=value"])
case("config: --set unknown key", train("optim.lrr=0.1"), 2, ["optim.lrr", "did you mean 'optim.lr'"])
broken = write("broken.yaml", "optim: {lr: [1,\n")
case("config: YAML syntax error", train(config=broken), 2, ["broken.yaml", "YAML syntax error"])
case("config: missing file", train(config="nowhere.yaml"), 2, ["nowhere.yaml", "cannot open"])
case("config: file name with a newline", train(config="no\nsuch.yaml"), 2, ["no\\nsuch.yaml", "cannot open"])
case("config: unknown objective kind", train("objective.kind=magic"), 2, ["objective.kind", "'magic'"])
case("config: unknown run.device", train("run.device=gpu"), 2, ["run.device", "'gpu'", "auto, cpu, cuda"])
if shutil.which("nvidia-smi") is None:  # this build's LibTorch is CPU-only (Debian's): cuda is refused up front
    case("config: run.device cuda without CUDA", train("run.device=cuda"), 2,
         ["run.device: cuda", "built without CUDA", "run.device: cpu"])
case("config: attack_augment with an LM head", train("objective.kind=attack_augment", "model.head=lm", "model.causal=true"),
     2, ["objective.kind attack_augment needs model.head classifier"])
case("config: attack_augment edit op that cannot edit a word",
     train("objective.kind=attack_augment", "objective.edit_ops=[delete, word_drop]"), 2,
     ["objective.edit_ops", "'word_drop' cannot edit a single word"])
case("config: attack_augment fraction out of range", train("objective.kind=attack_augment", "objective.fraction=0"),
     2, ["objective.fraction must be in (0, 1]"])
case("config: unknown perturbation op",
     train("augment.ops=[{op: swap, rate: 0.1}, {op: nope, rate: 0.1}]", "augment.probability=0.5"),
     2, ["augment.ops[1].op", "unknown perturbation op 'nope'"])
case("config: unknown recipe", train("augment.recipe=nope", "augment.probability=0.5"), 2, ["nope"])
case("config: missing tokenizer file", train("tokenizer.kind=llama2c", "tokenizer.path=missing_tok.bin"), 2,
     ["tokenizer.path", "missing_tok.bin"])
tok = write("tok.bin", struct.pack("<i", 8) + struct.pack("<fi", 0.0, 5) + b"<unk>" + struct.pack("<fi", 0.0, 99),
            "wb")
case("config: damaged llama2.c tokenizer", train("tokenizer.kind=llama2c", f"tokenizer.path={tok}"), 2,
     ["tok.bin", "llama2.c tokenizer", "byte"])
case("config: data.max_length above model.max_seq_len", train("data.max_length=1000"), 2,
     ["data.max_length (1000)", "model.max_seq_len"])
case("config: no training corpus", train("data.train="), 2, ["data.train"])

# variants (docs/configuration.md, "Variants"): variants.yaml beside the base config
write("variants.yaml", "small: {model.dim: 8}\nslow: {optim.lr: 1.0e-4}\n")
must(train("optim.max_steps=1", variant="small"))  # a good variant trains, in its own folder
if not os.path.isdir("runs/bad-input-small/checkpoints"):
    sys.exit("setup failed: --variant small did not write runs/bad-input-small")
case("variant: unknown name", train(variant="nope"), 2, ["variants.yaml", "unknown variant 'nope'", "small, slow"])
case("variant: close name", train(variant="slo"), 2, ["unknown variant 'slo'", "did you mean 'slow'"])


def variant_dir(name, variants):
    """A folder with a copy of the base config and (unless None) this variants.yaml."""
    os.makedirs(name, exist_ok=True)
    shutil.copy(CONFIG, os.path.join(name, "base.yaml"))
    if variants is not None:
        write(os.path.join(name, "variants.yaml"), variants)
    return os.path.abspath(os.path.join(name, "base.yaml"))


no_file = variant_dir("no_variants", None)
case("variant: variants.yaml missing", train(config=no_file, variant="small"), 2,
     ["no_variants/variants.yaml", "cannot open"])
case("variant: variants.yaml broken", train(config=variant_dir("broken_variants", "small: {model.dim: [8,\n"),
                                            variant="small"), 2, ["broken_variants/variants.yaml", "YAML syntax error"])
case("variant: not a mapping", train(config=variant_dir("list_variants", "- small\n- slow\n"), variant="small"), 2,
     ["list_variants/variants.yaml", "expected a mapping of variant names"])
bad_key = variant_dir("key_variants", "typo: {optim.lrr: 0.1}\n")
case("variant: unknown key", train(config=bad_key, variant="typo"), 2,
     ["key_variants/variants.yaml: variant 'typo'", "optim.lrr", "did you mean 'optim.lr'"])
bad_value = variant_dir("value_variants", "lots: {data.micro_batch: lots}\n")
case("variant: wrong value type", train(config=bad_value, variant="lots"), 2,
     ["value_variants/variants.yaml: variant 'lots'", "data.micro_batch", "expected an integer"])
case("variant: eval, unknown name", [sturdy, "eval", "--checkpoint", BASE_RUN, "--data", TOY, "--config", CONFIG,
                                     "--variant", "nope"], 2, ["variants.yaml", "unknown variant 'nope'"], [])
case("variant: eval without --config", [sturdy, "eval", "--checkpoint", BASE_RUN, "--variant", "small"], 2,
     ["--variant", "--config"], [])

a_file = write("a_file", "x")
case("config: unwritable output folder", train(f"run.output_dir={a_file}/run"), 3, ["a_file/run", "cannot create"])

# the command line itself (CLI11's errors, one line as every other)
case("usage: no subcommand", [sturdy], 2, ["subcommand"], [])
case("usage: missing required option", [sturdy, "eval"], 2, ["--checkpoint", "required"], [])
case("usage: option value of the wrong type", [sturdy, "eval", "--checkpoint", BASE_RUN, "--batch-size", "lots"], 2,
     ["--batch-size", "lots"], [])

# perturbation command line
case("perturb: unknown op", [sturdy, "perturb", "--ops", "nope:0.1", "--input", "toy.tsv"], 2, ["nope"], [])
case("perturb: unknown recipe", [sturdy, "perturb", "--recipe", "nope", "--input", "toy.tsv"], 2, ["nope"], [])

# several ranks
two = os.path.abspath("two.tsv")
write(two, "sentence\tlabel\napple pear\t0\nrun jump\t1\n")
must([sturdy, "prepare", "--input", two, "--output", "two.h5"])
case("mpi: more ranks than examples", train("data.train=two.h5", "data.micro_batch=1", "data.global_batch=3",
                                            ranks=3), 2, ["two.h5", "2 examples", "3"])
case("mpi: global batch not divisible by ranks", train(ranks=3), 2, ["data.global_batch (8)", "ranks (3)"])

# checkpoints: resume refuses what does not fit, damage is named, nothing is overwritten
case("checkpoint: another model shape", train("model.dim=32"), 2, ["step_00000002", "model.h5", "shape"])
trunc = copy_run("truncated")
with open(os.path.join(ckpt(trunc), "model.h5"), "r+b") as f:
    f.truncate(os.path.getsize(os.path.join(ckpt(trunc), "model.h5")) // 2)
case("checkpoint: truncated model.h5", train(f"run.output_dir={trunc}"), 3,
     ["model.h5", "sha256 mismatch", "every checkpoint is damaged"], [trunc])
garbage = copy_run("garbage_state")
write(os.path.join(ckpt(garbage), "state.json"), "{\"step\": 2,")
case("checkpoint: state.json not JSON", train(f"run.output_dir={garbage}"), 3, ["state.json", "not valid JSON"],
     [garbage])
escape = copy_run("escape")
write(os.path.join(escape, "checkpoints", "latest"), "../../base/checkpoints/step_00000002\n")
case("checkpoint: latest escapes the run folder", [sturdy, "eval", "--checkpoint", escape, "--data", TOY], 2,
     ["latest", "invalid checkpoint name"], [escape])
case("checkpoint: resume path missing", train("checkpoint.resume=nowhere/run"), 2,
     ["nowhere/run", "no checkpoint here"])
case("eval: missing checkpoint", [sturdy, "eval", "--checkpoint", "nowhere", "--data", TOY], 2,
     ["nowhere", "no checkpoint"], [])
case("inspect: not HDF5", [sturdy, "inspect", not_h5], 2, ["text.h5"], [])


# eval: a suite whose extra set (imported as `sturdy prepare` would, or read as HDF5) is bad
def eval_extra(name, path):
    suite = write(f"{name}.yaml", f"name: {name}\nk: 1\nextra_sets:\n  - {{name: extra, path: {path}}}\n")
    return [sturdy, "eval", "--checkpoint", BASE_RUN, "--data", TOY, "--suite", suite, "--output", f"{name}.json"]


case("eval: extra set with a bad row", eval_extra("extra_row", bad_utf8), 2, ["bad_utf8.tsv:3", "UTF-8"])
case("eval: extra set missing", eval_extra("extra_missing", "nowhere_extra.tsv"), 2, ["nowhere_extra.tsv"])
case("eval: extra set not HDF5", eval_extra("extra_not_h5", not_h5), 2, ["text.h5", "not an HDF5 file"])
case("eval: extra set with other labels", eval_extra("extra_labels", os.path.abspath("two.h5")), 2,
     ["two.h5", "labels"])

# gates (docs/evaluation.md, "Gate"): a bad gate file, path or baseline is exit 2 and leaves R.json alone
RESULT = write("R.json", json.dumps({
    "suite": "standard", "clean": {"accuracy": 0.8, "ece": 0.1},
    "perturbations": [{"name": "typos", "kind": "recipe", "rate": 1.0, "k": 5, "accuracy": 0.7},
                      {"name": "typos", "kind": "recipe", "rate": 2.0, "k": 5, "accuracy": 0.6}],
    "worst_case": {"recipe": "mixed", "k": 5, "accuracy": 0.6}}, indent=2))


def gate(name, text, *extra, results=RESULT):
    path = write(f"{name}.yaml", text)
    return [sturdy, "gate", "--results", results, "--gate", path, *extra]


case("gate: unknown key", gate("gate_key", "criteria:\n  - {metric: clean.accuracy, minimum: 0.8}\n"), 2,
     ["gate_key.yaml:2", "criteria[0]", "unknown key 'minimum'"], [RESULT])
case("gate: two tests in one criterion", gate("gate_two", "criteria:\n  - {metric: clean.ece, min: 0, max: 1}\n"), 2,
     ["gate_two.yaml:2", "criteria[0]", "one test per criterion"], [RESULT])
case("gate: threshold not a number", gate("gate_nan", "criteria:\n  - {metric: clean.accuracy, min: high}\n"), 2,
     ["gate_nan.yaml:2", "criteria[0].min", "expected a number", "high"], [RESULT])
case("gate: path not in R.json", gate("gate_path", "criteria:\n  - {metric: clean.acuracy, min: 0.8}\n"), 2,
     ["gate_path.yaml:2", "criteria[0].metric", "R.json", "no 'acuracy'", "did you mean 'accuracy'"], [RESULT])
case("gate: selector matches no entry",
     gate("gate_sel", "criteria:\n  - {metric: 'perturbations[name=typos,rate=3].accuracy', min: 0.5}\n"), 2,
     ["gate_sel.yaml:2", "criteria[0].metric", "no entry of perturbations has name=typos,rate=3", "rate=1"], [RESULT])
case("gate: selector matches two entries",
     gate("gate_two_entries", "criteria:\n  - {metric: 'perturbations[name=typos].accuracy', min: 0.5}\n"), 2,
     ["gate_two_entries.yaml:2", "matches 2 entries"], [RESULT])
case("gate: value not a number",
     gate("gate_text", "criteria:\n  - {metric: worst_case.recipe, min: 0.5}\n"), 2,
     ["gate_text.yaml:2", "criteria[0].metric", "'mixed'", "not a number"], [RESULT])
case("gate: relative without --baseline",
     gate("gate_rel", "criteria:\n  - {metric: clean.accuracy, max_drop_from_baseline: 0.01}\n"), 2,
     ["gate_rel.yaml:2", "criteria[0].max_drop_from_baseline", "--baseline"], [RESULT])
case("gate: baseline without the metric",
     gate("gate_base", "criteria:\n  - {metric: clean.ece, max_increase_over_baseline: 0.01}\n",
          "--baseline", write("R0.json", json.dumps({"clean": {"accuracy": 0.8}}))), 2,
     ["gate_base.yaml:2", "criteria[0].metric", "--baseline", "no 'ece'"], [RESULT])
case("gate: baseline not JSON", gate("gate_ok", "criteria:\n  - {metric: clean.accuracy, min: 0.5}\n",
                                     "--baseline", write("R0_broken.json", "{\"clean\": ")), 2,
     ["R0_broken.json", "--baseline", "not valid JSON"], [RESULT])
case("gate: results not an evaluation", gate("gate_ok", "criteria:\n  - {metric: clean.accuracy, min: 0.5}\n",
                                             results=write("other.json", "[1, 2]")), 2,
     ["other.json", "not an evaluation result"], [RESULT])
case("gate: gate file missing", [sturdy, "gate", "--results", RESULT, "--gate", "nowhere_gate.yaml"], 2,
     ["nowhere_gate.yaml", "cannot open"], [RESULT])
case("gate: YAML syntax error", gate("gate_yaml", "criteria: [{metric: clean.accuracy, min: 0.5}\n"), 2,
     ["gate_yaml.yaml", "YAML syntax error"], [RESULT])
# eval --gate: checked before the model is evaluated (against the suite's layout of R.json)
eval_suite = write("gate_suite.yaml", "name: gate\nk: 1\nperturbations:\n  - {recipe: typos, rates: [1]}\n")
case("eval --gate: path not in the suite's results",
     [sturdy, "eval", "--checkpoint", BASE_RUN, "--data", TOY, "--suite", eval_suite, "--output", "gated.json",
      "--gate", write("gate_eval.yaml", "criteria:\n  - {metric: 'perturbations[name=ocr].accuracy', min: 0.5}\n")],
     2, ["gate_eval.yaml:2", "criteria[0].metric", "gate_suite.yaml", "no entry of perturbations has name=ocr"])
case("eval --gate: relative without --baseline",
     [sturdy, "eval", "--checkpoint", BASE_RUN, "--data", TOY, "--gate", os.path.abspath("gate_rel.yaml")], 2,
     ["gate_rel.yaml", "--baseline"])
case("eval: --baseline without --gate", [sturdy, "eval", "--checkpoint", BASE_RUN, "--baseline", RESULT], 2,
     ["--baseline", "--gate"], [])

# a full disk (root only: a tiny tmpfs, as in resume_damage.py): an earlier corpus there survives.
# Its own CTest test (integration.bad_input_disk_full), so that a skip shows.
mounted = False
if DISK_FULL:
    cases.clear()
    mnt = os.path.abspath("tiny")
    os.makedirs(mnt, exist_ok=True)
    mounted = os.geteuid() == 0 and subprocess.call(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", mnt],
                                                     stderr=subprocess.DEVNULL) == 0
    if not mounted:
        print("SKIP: cannot mount a tmpfs here (needs root): the disk-full case did not run", flush=True)
        sys.exit(SKIP)
    shutil.copy(TOY, os.path.join(mnt, "corpus.h5"))
    big = os.path.abspath("big.tsv")
    with open(big, "w") as f:
        f.write("sentence\tlabel\n")
        for i in range(20000):
            f.write(f"row {i} with some words to fill the disk quickly\t{i % 3}\n")
    case("prepare: disk full", prepare(big, output=os.path.join(mnt, "corpus.h5")), 3,
         ["corpus.h5", "disk full"], [os.path.join(mnt, "corpus.h5")])

# --- run them ---------------------------------------------------------------------------------
BAD_SIGNS = ["internal error", "Traceback", "terminate called", "AddressSanitizer", "Segmentation fault",
             "core dumped", "what():"]
failures = []
try:
    for name, cmd, rc, words, protect, env in cases:
        before = {p: tree_hash(p) for p in protect}
        t0 = time.time()
        p = sh(cmd, env)
        after = {p_: tree_hash(p_) for p_ in protect}
        lines = [l.strip() for l in p.stderr.splitlines() if "error:" in l]
        distinct = sorted(set(l.split("error:", 1)[1].strip() for l in lines))
        problems = []
        if p.stderr and not p.stderr.endswith("\n"):
            problems.append(f"stderr does not end with a newline: ...{p.stderr[-60:]!r}")
        if cmd[0] != "mpirun" and lines and p.stderr.splitlines()[-1].strip() != lines[-1]:
            problems.append(f"the error line is not the last line of stderr: ...{p.stderr[-200:]!r}")
        if p.returncode != rc:
            problems.append(f"exit {p.returncode}, expected {rc}")
        if len(distinct) != 1:
            problems.append(f"{len(distinct)} distinct error lines, expected 1")
        for w in words:
            if not any(w in d for d in distinct):
                problems.append(f"error line lacks {w!r}")
        for s in BAD_SIGNS:
            if s in p.stderr or s in p.stdout:
                problems.append(f"output shows {s!r}")
        for path in protect:
            if before[path] != after[path]:
                changed = sorted(set(before[path].items()) ^ set(after[path].items()))
                problems.append(f"{path} changed: {changed[:4]}")
        status = "ok" if not problems else "FAIL: " + "; ".join(problems)
        print(f"[{time.time() - t0:5.1f}s] {name}: exit {p.returncode} | {distinct[0] if distinct else '-'} | {status}",
              flush=True)
        if problems:
            failures.append(name)
            print("  command:", " ".join(cmd), "\n  stderr:\n    " + "\n    ".join(p.stderr.splitlines()[-15:]),
                  flush=True)
finally:
    if mounted:
        subprocess.call(["umount", mnt])

print(f"{len(cases)} cases, {len(cases) - len(failures)} ok, {len(failures)} failed in {time.time() - t_start:.0f}s",
      flush=True)
if failures:
    print("failed:", ", ".join(failures))
sys.exit(1 if failures else 0)
