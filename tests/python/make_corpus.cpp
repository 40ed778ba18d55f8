// Writes a small corpus v1 with known contents (non-ASCII text, an empty example,
// labels, large ids) and a JSON file describing what it wrote, for h5py_read_corpus.py.
// Also writes OUT.h5 with ".unlabelled.h5" appended: the same texts, no labels.
// Usage: make_test_corpus OUT.h5 EXPECTED.json
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "sturdy/core/error.h"
#include "sturdy/data/corpus.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: make_test_corpus OUT.h5 EXPECTED.json\n";
    return 2;
  }
  const std::vector<std::string> labels{"négatif", "positive", "neutral"};
  const std::vector<std::string> texts{
      "it 's a charming and often affecting journey .", "crème brûlée, naïve café ☕", "",
      "日本語のテキストと emoji 🙂", "tab\tand\nnewline", "x"};
  nlohmann::json expected;
  expected["label_names"] = labels;
  expected["source"] = "tests/python/make_corpus.cpp";
  expected["source_sha256"] = std::string(64, 'a');
  try {
    sturdy::CorpusWriter writer(argv[1], labels, expected["source"], expected["source_sha256"]);
    for (size_t i = 0; i < texts.size(); ++i) {
      const auto label = static_cast<int32_t>(i % labels.size());
      const int64_t id = (int64_t{1} << 40) + static_cast<int64_t>(i) * 7;
      writer.add(texts[i], label, id);
      expected["examples"].push_back({{"text", texts[i]}, {"label", label}, {"id", id}});
    }
    writer.finish();
    sturdy::CorpusWriter unlabelled(std::string(argv[1]) + ".unlabelled.h5", {}, "lines.txt", "");
    for (size_t i = 0; i < texts.size(); ++i) unlabelled.add(texts[i], -1, static_cast<int64_t>(i));
    unlabelled.finish();
  } catch (const sturdy::Error& e) {
    std::cerr << e.what() << "\n";
    return static_cast<int>(e.code());
  }
  std::ofstream(argv[2]) << expected.dump(2) << "\n";
  return 0;
}
