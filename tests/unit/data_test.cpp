// Tests for src/data: the HDF5 corpus writer/reader (round trip, validation of damaged
// files) and the importers behind `sturdy prepare` (formats, bad rows, atomic outputs,
// train/valid split, WordNet).
#include <hdf5.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "sturdy/core/error.h"
#include "sturdy/core/rng.h"
#include "sturdy/data/corpus.h"
#include "sturdy/data/importers.h"
#include "shared_data.h"

namespace fs = std::filesystem;
using namespace sturdy;

namespace {

class DataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           (std::string("sturdy_data_test_") + info->name() + "_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    // Every hid_t is RAII: nothing stays open after readers/writers are gone, also after errors.
    EXPECT_EQ(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL), 0) << "leaked HDF5 handles";
    fs::remove_all(dir_);
  }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::string write(const std::string& name, const std::string& content) const {
    std::ofstream(path(name), std::ios::binary) << content;
    return path(name);
  }
  static std::string slurp(const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  fs::path dir_;
};

// Runs fn and returns the UsageError message; fails the test when nothing (or something else) is thrown.
template <typename Fn>
std::string usage_error(Fn fn) {
  try {
    fn();
  } catch (const UsageError& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected UsageError, got: " << e.what();
    return {};
  }
  ADD_FAILURE() << "expected UsageError, nothing was thrown";
  return {};
}

std::vector<Example> read_all(const CorpusReader& reader) {
  std::vector<int64_t> all(static_cast<size_t>(reader.size()));
  for (int64_t i = 0; i < reader.size(); ++i) all[i] = i;
  return reader.read(all);
}

const std::vector<std::string> kTexts{"a charming journey", "", "crème brûlée — naïve café ☕",
                                      "日本語のテキスト", "x"};

std::string make_corpus(const std::string& p) {
  CorpusWriter writer(p, {"negative", "positive"}, "input.tsv", "abc123");
  for (size_t i = 0; i < kTexts.size(); ++i) writer.add(kTexts[i], static_cast<int32_t>(i % 2), 100 + i);
  writer.finish();
  return p;
}

// --- corpus -----------------------------------------------------------------------------

TEST_F(DataTest, CorpusRoundTrip) {
  CorpusReader reader(make_corpus(path("c.h5")));
  const CorpusInfo& info = reader.info();
  EXPECT_EQ(info.num_examples, 5);
  EXPECT_EQ(info.num_classes, 2);
  EXPECT_EQ(info.label_names, (std::vector<std::string>{"negative", "positive"}));
  EXPECT_EQ(info.source, "input.tsv");
  EXPECT_EQ(info.source_sha256, "abc123");
  size_t total = 0;
  for (const auto& t : kTexts) total += t.size();
  EXPECT_EQ(info.total_bytes, static_cast<int64_t>(total));
  std::vector<Example> all = read_all(reader);
  ASSERT_EQ(all.size(), kTexts.size());
  for (size_t i = 0; i < kTexts.size(); ++i) {
    EXPECT_EQ(all[i].index, static_cast<int64_t>(i));
    EXPECT_EQ(all[i].text, kTexts[i]);
    EXPECT_EQ(all[i].label, static_cast<int32_t>(i % 2));
    EXPECT_EQ(all[i].id, static_cast<int64_t>(100 + i));
    EXPECT_EQ(reader.label(i), static_cast<int32_t>(i % 2));
    EXPECT_EQ(reader.id(i), static_cast<int64_t>(100 + i));
  }
  // Any order, duplicates allowed; results come back in request order.
  std::vector<Example> some = reader.read({4, 0, 2, 0});
  EXPECT_EQ(some[0].text, kTexts[4]);
  EXPECT_EQ(some[1].text, kTexts[0]);
  EXPECT_EQ(some[2].text, kTexts[2]);
  EXPECT_EQ(some[3].text, kTexts[0]);
  EXPECT_EQ(reader.read_one(3).text, kTexts[3]);
  EXPECT_THROW(reader.read({5}), RuntimeError);
  EXPECT_FALSE(fs::exists(path("c.h5.tmp")));
}

TEST_F(DataTest, UnlabelledCorpus) {
  {
    CorpusWriter writer(path("u.h5"), {}, "lines.txt", "");
    writer.add("one", -1, 0);
    writer.add("two", -1, 1);
    EXPECT_THROW(writer.add("three", 0, 2), UsageError);
    writer.finish();
  }
  CorpusReader reader(path("u.h5"));
  EXPECT_EQ(reader.info().num_classes, 0);
  EXPECT_TRUE(reader.info().label_names.empty());
  EXPECT_TRUE(reader.labels().empty());
  EXPECT_EQ(reader.read_one(1).text, "two");
  EXPECT_EQ(reader.read_one(1).label, -1);
}

TEST_F(DataTest, EmptyCorpusRoundTrip) {
  {
    CorpusWriter writer(path("e.h5"), {"a"}, "", "");
    writer.finish();
  }
  CorpusReader reader(path("e.h5"));
  EXPECT_EQ(reader.size(), 0);
  EXPECT_TRUE(reader.read({}).empty());
}

TEST_F(DataTest, WriterRejectsBadExamplesAndCleansUp) {
  {
    CorpusWriter writer(path("w.h5"), {"a", "b"}, "", "");
    EXPECT_THROW(writer.add("bad \xff byte", 0, 0), UsageError);
    EXPECT_THROW(writer.add("ok", 2, 0), UsageError);
    EXPECT_THROW(writer.add("ok", -1, 0), UsageError);
    writer.add("ok", 1, 0);
    EXPECT_TRUE(fs::exists(path("w.h5.tmp")));
    // destroyed without finish(): nothing published, temporary removed
  }
  EXPECT_FALSE(fs::exists(path("w.h5")));
  EXPECT_FALSE(fs::exists(path("w.h5.tmp")));
  EXPECT_THROW(CorpusWriter(path("d.h5"), {"a", "a"}, "", ""), UsageError);
  EXPECT_THROW(CorpusWriter(path("no/such/dir/x.h5"), {}, "", ""), RuntimeError);
}

TEST_F(DataTest, RandomBatchesMatchAcrossManyChunks) {
  // Enough bytes for many 16 KiB chunks and several 1 MiB write blocks.
  std::vector<std::string> texts;
  Rng rng{7};
  for (int i = 0; i < 20000; ++i) texts.push_back(std::string(1 + rng.below(150), static_cast<char>('a' + i % 26)) + std::to_string(i));
  {
    CorpusWriter writer(path("big.h5"), {}, "", "");
    for (size_t i = 0; i < texts.size(); ++i) writer.add(texts[i], -1, static_cast<int64_t>(i));
    writer.finish();
  }
  CorpusReader reader(path("big.h5"));
  for (int batch = 0; batch < 20; ++batch) {
    std::vector<int64_t> indices;
    for (int k = 0; k < 64; ++k) indices.push_back(static_cast<int64_t>(rng.below(texts.size())));
    if (batch == 0) indices = {5, 6, 7, 8, 19999, 0};  // adjacent runs and both ends
    std::vector<Example> got = reader.read(indices);
    for (size_t k = 0; k < indices.size(); ++k) ASSERT_EQ(got[k].text, texts[indices[k]]) << indices[k];
  }
}

TEST_F(DataTest, OneReaderPerThreadReadsConcurrently) {
  // The prefetching loader opens one reader per worker thread (Debian's HDF5 is thread-safe).
  {
    CorpusWriter writer(path("t.h5"), {}, "", "");
    for (int i = 0; i < 5000; ++i) writer.add("example " + std::to_string(i), -1, i);
    writer.finish();
  }
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      CorpusReader reader(path("t.h5"));
      Rng rng{static_cast<uint64_t>(t)};
      for (int b = 0; b < 50; ++b) {
        std::vector<int64_t> indices;
        for (int k = 0; k < 64; ++k) indices.push_back(static_cast<int64_t>(rng.below(5000)));
        auto got = reader.read(indices);
        for (size_t k = 0; k < indices.size(); ++k) {
          mismatches[t] += got[k].text != "example " + std::to_string(indices[k]);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

// Damages a valid corpus with the raw HDF5 API, then checks the reader's message.
class DamagedCorpusTest : public DataTest {
 protected:
  template <typename Fn>
  std::string damage_and_open(Fn damage) {
    std::string p = make_corpus(path("c.h5"));
    hid_t file = H5Fopen(p.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    EXPECT_GE(file, 0);
    damage(file);
    H5Fclose(file);
    std::string message = usage_error([&] { CorpusReader reader(p); });
    EXPECT_NE(message.find(p), std::string::npos) << message;
    return message;
  }
  static void replace_with(hid_t file, const char* name, hid_t type, const void* data, hsize_t n) {
    H5Ldelete(file, name, H5P_DEFAULT);
    hid_t space = H5Screate_simple(1, &n, nullptr);
    hid_t ds = H5Dcreate2(file, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
    H5Dclose(ds);
    H5Sclose(space);
  }
};

TEST_F(DamagedCorpusTest, MissingDataset) {
  std::string m = damage_and_open([](hid_t f) { H5Ldelete(f, "/id", H5P_DEFAULT); });
  EXPECT_NE(m.find("/id is missing"), std::string::npos) << m;
  m = damage_and_open([](hid_t f) { H5Ldelete(f, "/text", H5P_DEFAULT); });
  EXPECT_NE(m.find("/text/bytes is missing"), std::string::npos) << m;
}

TEST_F(DamagedCorpusTest, WrongDtype) {
  std::vector<float> labels(5, 0.0f);
  std::string m = damage_and_open([&](hid_t f) { replace_with(f, "/label", H5T_NATIVE_FLOAT, labels.data(), 5); });
  EXPECT_NE(m.find("/label must have dtype int32"), std::string::npos) << m;
  std::vector<int32_t> offsets(6, 0);
  m = damage_and_open([&](hid_t f) { replace_with(f, "/text/offsets", H5T_NATIVE_INT32, offsets.data(), 6); });
  EXPECT_NE(m.find("/text/offsets must have dtype int64"), std::string::npos) << m;
}

TEST_F(DamagedCorpusTest, BadOffsets) {
  std::vector<int64_t> offsets{0, 18, 10, 40, 52, 53};
  std::string m = damage_and_open([&](hid_t f) { replace_with(f, "/text/offsets", H5T_NATIVE_INT64, offsets.data(), 6); });
  EXPECT_NE(m.find("/text/offsets decreases at entry 2"), std::string::npos) << m;
  std::vector<int64_t> starts_late{1, 18, 18, 40, 52, 53};
  m = damage_and_open([&](hid_t f) { replace_with(f, "/text/offsets", H5T_NATIVE_INT64, starts_late.data(), 6); });
  EXPECT_NE(m.find("must start at 0"), std::string::npos) << m;
  std::vector<int64_t> short_end{0, 18, 18, 40, 52, 52};
  m = damage_and_open([&](hid_t f) { replace_with(f, "/text/offsets", H5T_NATIVE_INT64, short_end.data(), 6); });
  EXPECT_NE(m.find("/text/offsets ends at 52"), std::string::npos) << m;
  std::vector<int64_t> too_few{0, 18};
  m = damage_and_open([&](hid_t f) { replace_with(f, "/text/offsets", H5T_NATIVE_INT64, too_few.data(), 2); });
  EXPECT_NE(m.find("/text/offsets has 2 entries"), std::string::npos) << m;
}

TEST_F(DamagedCorpusTest, LabelOutOfRange) {
  std::vector<int32_t> labels{0, 1, 2, 0, 1};
  std::string m = damage_and_open([&](hid_t f) { replace_with(f, "/label", H5T_NATIVE_INT32, labels.data(), 5); });
  EXPECT_NE(m.find("/label entry 2 is 2"), std::string::npos) << m;
}

TEST_F(DamagedCorpusTest, BadAttributes) {
  std::string m = damage_and_open([](hid_t f) { H5Adelete(f, "format"); });
  EXPECT_NE(m.find("'format' is missing"), std::string::npos) << m;
  m = damage_and_open([](hid_t f) {
    H5Adelete(f, "version");
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attr = H5Acreate2(f, "version", H5T_STD_I32LE, space, H5P_DEFAULT, H5P_DEFAULT);
    int v = 2;
    H5Awrite(attr, H5T_NATIVE_INT, &v);
    H5Aclose(attr);
    H5Sclose(space);
  });
  EXPECT_NE(m.find("'version' is 2"), std::string::npos) << m;
}

TEST_F(DataTest, ReaderRejectsNonCorpusFiles) {
  std::string m = usage_error([&] { CorpusReader r(path("missing.h5")); });
  EXPECT_NE(m.find("missing.h5"), std::string::npos);
  std::string p = write("text.h5", "not hdf5 at all\n");
  m = usage_error([&] { CorpusReader r(p); });
  EXPECT_NE(m.find("not an HDF5 file"), std::string::npos) << m;
}

// --- importers ---------------------------------------------------------------------------

TEST_F(DataTest, ImportTsvSst2Style) {
  ImportOptions o;
  o.input = write("train.tsv", "sentence\tlabel\nit 's a charming journey . \t1\nunflinchingly bleak \t0\n\nfine\t1\n");
  o.output = path("train.h5");
  ImportReport report = import_corpus(o);
  EXPECT_EQ(report.format, "tsv");
  EXPECT_EQ(report.examples, 3);
  EXPECT_EQ(report.skipped, 0);
  EXPECT_EQ(report.label_names, (std::vector<std::string>{"0", "1"}));
  CorpusReader reader(o.output);
  auto all = read_all(reader);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].text, "it 's a charming journey .");  // trimmed
  EXPECT_EQ(all[0].label, 1);
  EXPECT_EQ(all[0].id, 1);  // id = 0-based line number where the row starts
  EXPECT_EQ(all[2].id, 4);
  EXPECT_EQ(reader.info().source, o.input);
  EXPECT_EQ(reader.info().source_sha256.size(), 64u);
}

// A training set and the adversarial texts `sturdy eval --dump-adversarial` wrote for it, in
// one corpus: rows in input order, labels discovered over both, ids of the second file moved by
// 10^12 (unique, and still its line), a bad row named by its own file.
TEST_F(DataTest, ImportSeveralInputsIntoOneCorpus) {
  ImportOptions o;
  o.input = write("train.tsv", "sentence\tlabel\na charming journey\t1\nbleak\t0\n");
  o.more_inputs = {write("adv.jsonl",
                         "{\"attack\": \"char_search\", \"id\": 1, \"label\": \"1\", \"original\": \"a charming "
                         "journey\", \"text\": \"a charmimg journey\"}\n\n"
                         "{\"attack\": \"word_search\", \"id\": 2, \"label\": \"0\", \"original\": \"bleak\", "
                         "\"text\": \"dim\"}\n")};
  o.output = path("both.h5");
  const ImportReport report = import_corpus(o);
  EXPECT_EQ(report.examples, 4);
  EXPECT_EQ(report.label_names, (std::vector<std::string>{"0", "1"}));
  CorpusReader reader(o.output);
  const auto all = read_all(reader);
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0].text, "a charming journey");
  EXPECT_EQ(all[0].id, 1);
  EXPECT_EQ(all[1].id, 2);
  EXPECT_EQ(all[2].text, "a charmimg journey");  // the "text" field, not "original"
  EXPECT_EQ(all[2].label, 1);
  EXPECT_EQ(all[2].id, kInputIdStride + 0);  // line 1 of the second file
  EXPECT_EQ(all[3].text, "dim");
  EXPECT_EQ(all[3].label, 0);
  EXPECT_EQ(all[3].id, kInputIdStride + 2);  // line 3 (a blank line between)
  EXPECT_EQ(reader.info().source, o.input + " + " + o.more_inputs[0]);
  EXPECT_EQ(reader.info().source_sha256.size(), 64u);

  // The same files in the other order: the same rows, the other ids.
  ImportOptions swapped = o;
  swapped.input = o.more_inputs[0];
  swapped.more_inputs = {o.input};
  swapped.output = path("swapped.h5");
  EXPECT_EQ(import_corpus(swapped).examples, 4);
  EXPECT_EQ(read_all(CorpusReader(swapped.output))[2].id, kInputIdStride + 1);

  // Bad rows name their own file; labelled and unlabelled inputs do not mix; nor do several
  // inputs and windows.
  ImportOptions bad = o;
  bad.more_inputs = {write("bad.jsonl", "{\"text\": \"ok\", \"label\": \"1\"}\n{\"text\": \"\", \"label\": \"1\"}\n")};
  bad.output = path("bad.h5");
  std::string m = usage_error([&] { import_corpus(bad); });
  EXPECT_NE(m.find("bad.jsonl:2: empty text"), std::string::npos) << m;
  bad.more_inputs = {write("plain.txt", "just text\n")};
  m = usage_error([&] { import_corpus(bad); });
  EXPECT_NE(m.find("plain.txt is unlabelled (text)"), std::string::npos) << m;
  EXPECT_NE(m.find("all be labelled or all unlabelled"), std::string::npos) << m;
  ImportOptions windows;
  windows.input = write("w.txt", "one two three\n");
  windows.more_inputs = {windows.input};
  windows.window = 4;
  windows.output = path("w.h5");
  m = usage_error([&] { import_corpus(windows); });
  EXPECT_NE(m.find("--window"), std::string::npos) << m;
  EXPECT_FALSE(std::filesystem::exists(bad.output));
}

TEST_F(DataTest, ImportDiscoversLabelsNumericallyOrFixed) {
  ImportOptions o;
  o.input = write("l.tsv", "text\tlabel\na\t10\nb\t2\nc\t-1\n");
  o.output = path("l.h5");
  EXPECT_EQ(import_corpus(o).label_names, (std::vector<std::string>{"-1", "2", "10"}));
  o.input = write("s.tsv", "text\tlabel\na\tpos\nb\tneg\nc\t10\n");
  EXPECT_EQ(import_corpus(o).label_names, (std::vector<std::string>{"10", "neg", "pos"}));
  o.label_names = {"pos", "neg", "10", "unused"};
  EXPECT_EQ(import_corpus(o).label_names, o.label_names);
  CorpusReader reader(o.output);
  EXPECT_EQ(reader.labels(), (std::vector<int32_t>{0, 1, 2}));
}

TEST_F(DataTest, ImportCsvRfc4180) {
  // AG News style: no header, label column 0, text = title + description.
  ImportOptions o;
  o.input = write("ag.csv",
                  "\"3\",\"Fears for T N pension\",\"Unions say \"\"disappointed\"\", after talks.\"\r\n"
                  "\"4\",\"Two\nline title\",\"plain, with comma\"\n"
                  "1,unquoted title,unquoted description\n");
  o.output = path("ag.h5");
  o.format = "csv";
  o.has_header = false;
  o.text_field = "1,2";
  o.label_field = "0";
  ImportReport report = import_corpus(o);
  EXPECT_EQ(report.examples, 3);
  EXPECT_EQ(report.label_names, (std::vector<std::string>{"1", "3", "4"}));
  auto all = read_all(CorpusReader(o.output));
  EXPECT_EQ(all[0].text, "Fears for T N pension. Unions say \"disappointed\", after talks.");
  EXPECT_EQ(all[0].label, 1);
  EXPECT_EQ(all[1].text, "Two\nline title. plain, with comma");
  EXPECT_EQ(all[1].id, 1);
  EXPECT_EQ(all[2].id, 3);  // the quoted newline moved it to line 4
  EXPECT_EQ(all[2].label, 0);

  // With a header, columns by name.
  o.input = write("h.csv", "id,title,body,label\n7,\"A, b\",c,x\n");
  o.has_header = true;
  o.text_field = "title,body";
  o.label_field = "label";
  import_corpus(o);
  EXPECT_EQ(CorpusReader(o.output).read_one(0).text, "A, b. c");

  o.text_field = "nope";
  std::string m = usage_error([&] { import_corpus(o); });
  EXPECT_NE(m.find("'nope' is not a column"), std::string::npos) << m;
}

TEST_F(DataTest, ImportCsvBadQuotesNameTheLine) {
  ImportOptions o;
  o.input = write("bad.csv", "text,label\nok,1\n\"broken\"x,1\nfine,0\n\"never closed,1\n");
  o.output = path("bad.h5");
  std::string m = usage_error([&] { import_corpus(o); });
  EXPECT_NE(m.find(o.input + ":3: unexpected character after a closing quote"), std::string::npos) << m;
  o.skip_bad = true;
  ImportReport report = import_corpus(o);
  EXPECT_EQ(report.examples, 2);
  EXPECT_EQ(report.skipped, 2);  // line 3 and the unterminated field at line 5
}

// Found by import_fuzz: a lone CR after a closing quote ended the record without counting a
// line, so the next record started on the "same" line and got the same id.
TEST_F(DataTest, ImportCsvLoneCrAfterQuoteIsNotARecordEnd) {
  ImportOptions o;
  o.input = write("cr.csv", "\"a\"\rb,1\n\"c\"\r\nd,0\n");
  o.output = path("cr.h5");
  o.format = "csv";
  o.has_header = false;
  o.text_field = "0";
  o.label_field = "1";
  std::string m = usage_error([&] { import_corpus(o); });
  EXPECT_NE(m.find(o.input + ":1: unexpected character after a closing quote"), std::string::npos) << m;
  o.skip_bad = true;
  o.label_field = "none";
  const ImportReport report = import_corpus(o);
  EXPECT_EQ(report.examples, 2);  // "c" (CRLF still ends a record) and "d"
  EXPECT_EQ(report.skipped, 1);
  auto all = read_all(CorpusReader(o.output));
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].text, "c");
  EXPECT_EQ(all[0].id, 1);
  EXPECT_EQ(all[1].id, 2);
}

TEST_F(DataTest, ImportJsonl) {
  ImportOptions o;
  o.input = write("d.jsonl",
                  "{\"text\": \"caf\\u00e9 ok\", \"label\": \"b\"}\n"
                  "{\"text\": \"second\", \"label\": \"a\", \"extra\": 1}\n"
                  "\n"
                  "{\"text\": \"no label\"}\n"
                  "[1, 2]\n"
                  "{\"text\": 5, \"label\": \"a\"}\n"
                  "{\"text\": \"numeric label\", \"label\": 3}\n");
  o.output = path("d.h5");
  std::string m = usage_error([&] { import_corpus(o); });
  EXPECT_NE(m.find(o.input + ":4: missing field 'label'"), std::string::npos) << m;
  o.skip_bad = true;
  ImportReport report = import_corpus(o);
  EXPECT_EQ(report.examples, 3);
  EXPECT_EQ(report.skipped, 3);
  EXPECT_EQ(report.label_names, (std::vector<std::string>{"3", "a", "b"}));
  auto all = read_all(CorpusReader(o.output));
  EXPECT_EQ(all[0].text, "café ok");
  EXPECT_EQ(all[0].label, 2);
  EXPECT_EQ(all[2].label, 0);
  EXPECT_EQ(all[2].id, 6);
}

TEST_F(DataTest, ImportTextAndLabelFirst) {
  ImportOptions o;
  o.input = write("lines.txt", "first line\n\n   \nsecond línea  \n");
  o.output = path("lines.h5");
  ImportReport report = import_corpus(o);
  EXPECT_EQ(report.format, "text");
  EXPECT_EQ(report.examples, 2);
  CorpusReader text(o.output);
  EXPECT_EQ(text.info().num_classes, 0);
  EXPECT_EQ(text.read_one(1).text, "second línea");
  EXPECT_EQ(text.read_one(1).id, 3);

  o.window = -1;  // (LM windows themselves: lm_data_test.cpp)
  std::string m = usage_error([&] { import_corpus(o); });
  EXPECT_NE(m.find("--window"), std::string::npos) << m;

  ImportOptions lf;
  lf.input = write("stsa.binary.dev", "0 one long string of cliches .\n1 a gem\n1\n");
  lf.output = path("lf.h5");
  m = usage_error([&] { import_corpus(lf); });
  EXPECT_NE(m.find("--format"), std::string::npos) << m;  // no extension to go by
  lf.format = "labelfirst";
  m = usage_error([&] { import_corpus(lf); });
  EXPECT_NE(m.find(lf.input + ":3: empty text"), std::string::npos) << m;
  lf.skip_bad = true;
  report = import_corpus(lf);
  EXPECT_EQ(report.examples, 2);
  EXPECT_EQ(report.skipped, 1);
  auto all = read_all(CorpusReader(lf.output));
  EXPECT_EQ(all[0].text, "one long string of cliches .");
  EXPECT_EQ(all[0].label, 0);
  EXPECT_EQ(all[1].label, 1);
}

TEST_F(DataTest, BadRowsNameFileAndLine) {
  ImportOptions o;
  o.input = write("b.tsv", "sentence\tlabel\ngood\t1\nbad \xC3\x28 utf8\t0\nmissing label\n\t1\nok\tmaybe\n");
  o.output = path("b.h5");
  std::string m = usage_error([&] { import_corpus(o); });
  EXPECT_NE(m.find(o.input + ":3: invalid UTF-8"), std::string::npos) << m;
  o.skip_bad = true;
  o.label_names = {"0", "1"};
  ImportReport report = import_corpus(o);
  EXPECT_EQ(report.examples, 1);
  EXPECT_EQ(report.skipped, 4);  // utf-8, missing field, empty text, unknown label
  o.skip_bad = false;
  o.input = write("u.tsv", "sentence\tlabel\ngood\t1\nok\tmaybe\n");
  m = usage_error([&] { import_corpus(o); });
  EXPECT_NE(m.find(o.input + ":3: unknown label 'maybe' (expected one of: 0, 1)"), std::string::npos) << m;
}

TEST_F(DataTest, FailedImportLeavesExistingOutputUntouched) {
  ImportOptions o;
  o.output = write("out.h5", "previous corpus");
  o.valid_output = write("valid.h5", "previous valid");
  o.valid_fraction = 0.5;
  o.input = write("bad.tsv", "sentence\tlabel\ngood\t1\n\t1\n");
  EXPECT_THROW(import_corpus(o), UsageError);
  EXPECT_EQ(slurp(o.output), "previous corpus");
  EXPECT_EQ(slurp(o.valid_output), "previous valid");
  EXPECT_FALSE(fs::exists(o.output + ".tmp"));
  EXPECT_FALSE(fs::exists(o.valid_output + ".tmp"));
  o.input = path("does_not_exist.tsv");
  EXPECT_THROW(import_corpus(o), UsageError);
  EXPECT_EQ(slurp(o.output), "previous corpus");
}

TEST_F(DataTest, ValidSplitIsDisjointAndDeterministic) {
  std::string tsv = "sentence\tlabel\n";
  for (int i = 0; i < 1000; ++i) tsv += "example " + std::to_string(i) + "\t" + std::to_string(i % 3) + "\n";
  ImportOptions o;
  o.input = write("all.tsv", tsv);
  o.output = path("train.h5");
  o.valid_output = path("valid.h5");
  o.valid_fraction = 0.2;
  o.seed = 5;
  ImportReport report = import_corpus(o);
  EXPECT_EQ(report.examples + report.valid_examples, 1000);
  EXPECT_GT(report.valid_examples, 150);
  EXPECT_LT(report.valid_examples, 250);
  auto ids = [](const std::string& p) {
    CorpusReader r(p);
    std::vector<int64_t> out;
    for (int64_t i = 0; i < r.size(); ++i) out.push_back(r.id(i));
    return out;
  };
  std::vector<int64_t> train = ids(o.output), valid = ids(o.valid_output);
  std::set<int64_t> all(train.begin(), train.end());
  for (int64_t id : valid) EXPECT_TRUE(all.insert(id).second) << "id in both splits: " << id;
  EXPECT_EQ(all.size(), 1000u);
  EXPECT_EQ(CorpusReader(o.valid_output).info().label_names, report.label_names);
  // Same seed, same split; another seed, another split.
  import_corpus(o);
  EXPECT_EQ(ids(o.output), train);
  EXPECT_EQ(ids(o.valid_output), valid);
  o.seed = 6;
  import_corpus(o);
  EXPECT_NE(ids(o.valid_output), valid);
}

TEST_F(DataTest, ImportRealSst2Dev) {
  const std::string dev = shared_data_dir() + "/sst2/dev.tsv";
  if (!fs::exists(dev)) GTEST_SKIP() << dev << " not present (optional shared data; STURDY_SHARED_DATA)";
  ImportOptions o;
  o.input = dev;
  o.output = path("dev.h5");
  ImportReport report = import_corpus(o);
  EXPECT_EQ(report.examples, 872);
  EXPECT_EQ(report.label_names, (std::vector<std::string>{"0", "1"}));
  EXPECT_EQ(CorpusReader(o.output).read_one(0).text, "it 's a charming and often affecting journey .");
}

// --- WordNet ----------------------------------------------------------------------------

TEST_F(DataTest, WordnetFromFakeDataFile) {
  fs::create_directories(path("wn"));
  write("wn/data.noun",
        "  1 This software and database is being provided to you, the LICENSEE, by\n"
        "  2 Princeton University under the following license.\n"
        "01317541 05 n 01 dog 0 001 @ 01317000 n 0000 | a domesticated carnivore; \"the dog barked\"  \n"
        "01318000 05 n 01 cat 0 000 | a small feline  \n"
        "01319000 05 n 01 eel 0 000 | an elongated fish; \"eels swim\"; \"more\"  \n"
        "12345678 20 n 02 oak 0 oak_tree 0 000 | a tree of the genus Quercus  \n"
        "07654321 13 n 01 bread 0 000 | food made from dough  \n"
        "07654322 20 n 01 fern 0 000 | \"only an example\"  \n");
  ImportOptions o;
  o.format = "wordnet";
  o.wordnet_dir = path("wn");
  o.output = path("wn.h5");
  o.label_names = {"noun.plant", "noun.animal"};
  std::string m = usage_error([&] { import_corpus(o); });
  EXPECT_NE(m.find("data.noun:8: the gloss has no definition"), std::string::npos) << m;
  o.skip_bad = true;
  ImportReport report = import_corpus(o);
  EXPECT_EQ(report.examples, 4);
  EXPECT_EQ(report.skipped, 1);
  EXPECT_EQ(report.label_names, o.label_names);
  auto all = read_all(CorpusReader(o.output));
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0].text, "a domesticated carnivore");
  EXPECT_EQ(all[0].label, 1);
  EXPECT_EQ(all[0].id, 101317541);  // pos (1 = noun) * 1e8 + synset offset
  EXPECT_EQ(all[2].text, "an elongated fish");
  EXPECT_EQ(all[3].text, "a tree of the genus Quercus");
  EXPECT_EQ(all[3].label, 0);

  // Subsampling keeps max_per_class per class, deterministically per seed.
  o.wordnet_max_per_class = 2;
  auto kept_ids = [&] {
    import_corpus(o);
    std::vector<int64_t> ids;
    for (const auto& e : read_all(CorpusReader(o.output))) ids.push_back(e.id);
    return ids;
  };
  std::vector<int64_t> first = kept_ids();
  EXPECT_EQ(first.size(), 3u);  // 2 animals + 1 plant
  EXPECT_EQ(kept_ids(), first);

  o.label_names = {"noun.unicorn"};
  m = usage_error([&] { import_corpus(o); });
  EXPECT_NE(m.find("'noun.unicorn' is not a WordNet lexicographer file"), std::string::npos) << m;
  o.label_names = {"verb.motion"};
  m = usage_error([&] { import_corpus(o); });
  EXPECT_NE(m.find("data.verb"), std::string::npos) << m;
}

TEST_F(DataTest, WordnetRealDemoCorpus) {
  if (!fs::exists("/usr/share/wordnet/data.noun")) GTEST_SKIP() << "/usr/share/wordnet not installed (wordnet-base)";
  ImportOptions o;
  o.format = "wordnet";
  o.output = path("wordnet.h5");
  ImportReport report = import_corpus(o);
  EXPECT_EQ(report.label_names, wordnet_default_classes());
  EXPECT_GT(report.examples, 10000);
  EXPECT_LE(report.examples, 30000);
  CorpusReader reader(o.output);
  std::vector<int64_t> counts(reader.info().num_classes, 0);
  for (int32_t l : reader.labels()) ++counts[l];
  std::string summary;
  for (size_t c = 0; c < counts.size(); ++c) {
    EXPECT_GT(counts[c], 500) << report.label_names[c];
    EXPECT_LE(counts[c], o.wordnet_max_per_class) << report.label_names[c];
    summary += report.label_names[c] + "=" + std::to_string(counts[c]) + " ";
  }
  std::cout << "wordnet demo corpus: " << report.examples << " examples: " << summary << "\n";
}

}  // namespace
