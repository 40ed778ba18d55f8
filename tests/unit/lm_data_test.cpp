// Tests for language-model windows (`sturdy prepare --format text --window N`,
// src/data/importers.cpp): every window fits, windows are greedy and cover the document in
// order, ids point at the window in the input, stride overlaps, documents (blank-line and
// per-line), over-long words cut at UTF-8 boundaries, the valid split keeps documents
// together, and option errors.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "sturdy/core/error.h"
#include "sturdy/core/utf8.h"
#include "sturdy/data/corpus.h"
#include "sturdy/data/importers.h"

namespace fs = std::filesystem;

namespace sturdy {
namespace {

class LmDataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sturdy_lm_data_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(path(name), std::ios::binary) << text;
    return path(name);
  }
  fs::path dir_;
};

std::vector<Example> read_all(const std::string& file) {
  CorpusReader reader(file);
  std::vector<Example> out;
  for (int64_t i = 0; i < reader.info().num_examples; ++i) out.push_back(reader.read_one(i));
  return out;
}

std::vector<std::string> words(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

int64_t word_count(std::string_view text) { return static_cast<int64_t>(words(std::string(text)).size()); }

const char* kStory =
    "Once upon a time, there was a little girl named Lily.\n"
    "She loved to play outside in the park.\n"
    "\n"
    "One day, she saw a big, red ball.  It was shiny and new.\n"
    "\n\n"
    "The end.\n";

TEST_F(LmDataTest, WindowsFitAreGreedyAndCoverEachDocumentInOrder) {
  ImportOptions o;
  o.input = write("story.txt", kStory);
  o.output = path("story.h5");
  o.window = 20;  // bytes (no tokenizer given)
  const ImportReport report = import_corpus(o);
  EXPECT_EQ(report.documents, 3);
  const auto windows = read_all(o.output);
  ASSERT_EQ(static_cast<int64_t>(windows.size()), report.examples);
  EXPECT_EQ(CorpusReader(o.output).info().num_classes, 0);

  std::vector<std::string> all_words;
  for (size_t i = 0; i < windows.size(); ++i) {
    const auto& w = windows[i];
    EXPECT_LE(static_cast<int64_t>(w.text.size()), o.window) << w.text;
    EXPECT_EQ(std::string(kStory).substr(static_cast<size_t>(w.id), w.text.size()), w.text);  // id = byte offset
    const auto ws = words(w.text);
    all_words.insert(all_words.end(), ws.begin(), ws.end());
    // Greedy: the next word of the same document would not have fitted.
    if (i + 1 < windows.size()) {
      const std::string next = words(windows[i + 1].text).front();
      const std::string story(kStory);
      const size_t gap = story.find_first_not_of(" \n", static_cast<size_t>(w.id) + w.text.size());
      const bool same_document = story.substr(w.id + w.text.size(), gap - w.id - w.text.size()).find("\n\n") ==
                                 std::string::npos;
      if (same_document) {
        EXPECT_GT(static_cast<int64_t>(gap + next.size() - w.id), o.window) << w.text;
      }
    }
  }
  EXPECT_EQ(all_words, words(kStory));  // nothing lost, nothing repeated, in order
}

TEST_F(LmDataTest, TokenizerCountsAndStrideOverlap) {
  ImportOptions o;
  o.input = write("story.txt", kStory);
  o.output = path("words.h5");
  o.window = 4;
  o.count_tokens = word_count;  // a stand-in tokenizer: one token per word
  import_corpus(o);
  auto windows = read_all(o.output);
  for (const auto& w : windows) EXPECT_LE(word_count(w.text), 4) << w.text;
  EXPECT_EQ(windows.front().text, "Once upon a time,");

  o.stride = 2;
  o.output = path("stride.h5");
  import_corpus(o);
  const auto strided = read_all(o.output);
  EXPECT_GT(strided.size(), windows.size());
  EXPECT_EQ(strided[0].text, "Once upon a time,");
  EXPECT_EQ(strided[1].text, "a time, there was");  // starts 2 words on
  for (const auto& w : strided) EXPECT_LE(word_count(w.text), 4) << w.text;
}

TEST_F(LmDataTest, DocumentsPerLineAndLongWordsCutAtCharacters) {
  ImportOptions o;
  o.input = write("lines.txt", "alpha beta\ngamma\n\ndelta\n");
  o.output = path("lines.h5");
  o.window = 100;
  o.documents = "line";
  EXPECT_EQ(import_corpus(o).documents, 3);
  const auto lines = read_all(o.output);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].text, "alpha beta");
  EXPECT_EQ(lines[1].text, "gamma");
  o.documents = "blank";
  EXPECT_EQ(import_corpus(o).documents, 2);
  EXPECT_EQ(read_all(o.output)[0].text, "alpha beta\ngamma");  // line breaks inside a document kept

  o.input = write("long.txt", "ééééé x\n");
  o.window = 4;
  import_corpus(o);
  const auto pieces = read_all(o.output);
  std::string joined;
  for (const auto& p : pieces) {
    EXPECT_LE(p.text.size(), 4u);
    EXPECT_EQ(utf8::find_invalid(p.text), std::string::npos);
    joined += p.text;
  }
  EXPECT_EQ(joined, "ééééé x");
}

TEST_F(LmDataTest, ValidSplitKeepsDocumentsTogether) {
  std::string text;
  for (int d = 0; d < 40; ++d) text += "doc" + std::to_string(d) + " one two three four five six seven\n\n";
  ImportOptions o;
  o.input = write("docs.txt", text);
  o.output = path("train.h5");
  o.valid_output = path("valid.h5");
  o.valid_fraction = 0.3;
  o.window = 12;
  import_corpus(o);
  std::set<std::string> train_docs, valid_docs;
  for (const auto& e : read_all(o.output)) train_docs.insert(text.substr(text.rfind("doc", e.id), 5));
  for (const auto& e : read_all(o.valid_output)) valid_docs.insert(text.substr(text.rfind("doc", e.id), 5));
  EXPECT_FALSE(valid_docs.empty());
  for (const auto& d : valid_docs) EXPECT_EQ(train_docs.count(d), 0u) << d;
}

TEST_F(LmDataTest, OptionErrorsNameTheOption) {
  ImportOptions o;
  o.input = write("story.txt", kStory);
  o.output = path("x.h5");
  auto error = [&] {
    try {
      import_corpus(o);
    } catch (const UsageError& e) {
      return std::string(e.what());
    }
    return std::string("(no UsageError)");
  };
  o.window = 8;
  o.stride = 9;
  EXPECT_NE(error().find("--stride"), std::string::npos);
  o.stride = 0;
  o.documents = "paragraph";
  EXPECT_NE(error().find("--documents"), std::string::npos);
  o.documents = "blank";
  o.window = -1;
  EXPECT_NE(error().find("--window"), std::string::npos);
  o.window = 8;
  o.format = "jsonl";
  EXPECT_NE(error().find("--window"), std::string::npos);
}

}  // namespace
}  // namespace sturdy
