// Lexicon file formats: keyboard/OCR JSON maps, Unicode confusables, misspelling lists,
// distractor phrases, a WordNet dict directory; plus the optional shared data files.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "sturdy/core/error.h"
#include "sturdy/core/utf8.h"
#include "sturdy/perturb/perturber.h"
#include "shared_data.h"

namespace sturdy::perturb {
namespace {
namespace fs = std::filesystem;

class LexiconFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sturdy_lex_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    const fs::path p = dir_ / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }
  fs::path dir_;
};

TEST_F(LexiconFiles, KeyboardJsonAcceptsStringsAndLists) {
  CharMap map;
  load_char_map_json(write("kb.json", R"({"a": ["s", "q", "multi"], "%": "$"})"), map);
  EXPECT_EQ(*map.find('a'), U"sq");  // multi-character entries are skipped
  EXPECT_EQ(*map.find('%'), U"$");
  EXPECT_EQ(map.find('b'), nullptr);
  EXPECT_THROW(load_char_map_json(write("bad.json", R"({"ab": ["x"]})"), map), UsageError);
  EXPECT_THROW(load_char_map_json(write("broken.json", "{"), map), UsageError);
  EXPECT_THROW(load_char_map_json((dir_ / "missing.json").string(), map), UsageError);
}

TEST_F(LexiconFiles, OcrJsonMapsSequences) {
  SeqMap map;
  load_seq_map_json(write("ocr.json", R"({"rn": ["m"], "0": ["o", "O"]})"), map);
  ASSERT_EQ(map.size(), 2u);
  ASSERT_NE(map.starting_with('r'), nullptr);
  EXPECT_EQ(map.rules()[(*map.starting_with('r'))[0]].to[0], U"m");
  LexiconPaths paths;
  paths.ocr = write("ocr2.json", R"({"rn": ["m"]})");
  const Perturber p({{"ocr", 1.0}}, Lexicons::load(paths));
  EXPECT_EQ(p.apply("corn", 1, 0, 0, 0), "com");
}

TEST_F(LexiconFiles, ConfusablesInBothFormats) {
  CharMap uts;
  load_confusables(write("confusables.txt",
                         "\xEF\xBB\xBF# confusables.txt\n"
                         "0430 ;\t0061 ;\tMA\t# ( а → a ) CYRILLIC SMALL LETTER A → LATIN SMALL LETTER A\n"
                         "0021 ;\t01C3 ;\tMA\t# punctuation is not used\n"
                         "1D41A ;\t0061 ;\tMA\t# styled mathematical letters are not used\n"
                         "2474 ;\t0028 0031 0029 ;\tMA\t# many-to-one is not used\n"),
                   uts);
  ASSERT_NE(uts.find('a'), nullptr);
  EXPECT_EQ(*uts.find('a'), U"\u0430");
  EXPECT_EQ(uts.size(), 1u);
  CharMap sets;
  load_confusables(write("homoglyphs.txt", "# sets\noο\u043E\n!ǃ\n"), sets);
  EXPECT_EQ(*sets.find('o'), U"\u03BF\u043E");
  EXPECT_EQ(sets.find('!'), nullptr);
  EXPECT_THROW(load_confusables(write("bad.txt", "XYZ ; 0061 ; MA\n"), uts), UsageError);
}

TEST_F(LexiconFiles, MisspellingsInThreeFormats) {
  WordTable table;
  load_misspellings(write("wiki.json", R"({"recieve": "receive", "teh": "the"})"), table);
  load_misspellings(write("birkbeck.json", R"({"receive": ["Receive", "receve"], "new_york": ["nyc"]})"), table);
  load_misspellings(write("list.txt", "receive recive\nthe hte\nreceive recive\n"), table);
  EXPECT_EQ(table.at("receive"), (std::vector<std::u32string>{U"recieve", U"receve", U"recive"}));
  EXPECT_EQ(table.at("the"), (std::vector<std::u32string>{U"teh", U"hte"}));
  EXPECT_EQ(table.count("new_york"), 0u);  // multi-word entries are skipped
  EXPECT_THROW(load_misspellings(write("bad.json", "[1, 2]"), table), UsageError);
}

TEST_F(LexiconFiles, DistractorPhrases) {
  LexiconPaths paths;
  paths.distractors = write("d.txt", "# comment\nzebra crossing\n");
  const Perturber p({{"distractor", 1.0}}, Lexicons::load(paths));
  const std::string out = p.apply("hi", 1, 0, 0, 0);
  EXPECT_TRUE(out == "hi zebra crossing" || out == "zebra crossing hi") << out;
  paths.distractors = write("empty.txt", "# nothing\n");
  EXPECT_THROW(Lexicons::load(paths), UsageError);
}

TEST_F(LexiconFiles, WordNetReaderOnATinyDict) {
  // wndb(5): data lines "offset lex_filenum ss_type w_cnt(hex) word lex_id ... p_cnt ...",
  // index lines "lemma pos synset_cnt p_cnt [ptr...] sense_cnt tagsense_cnt offsets...".
  const std::string licence = "  1 This software and database is being provided\n";
  write("wn/data.noun", licence +
                            "00000100 05 n 03 film 0 movie 0 moving_picture 0 000 | a story\n"
                            "00000200 05 n 02 film 0 Photographic_film 0 000 | a coating\n"
                            "00000300 05 n 02 flick 0 film 1 000 | rare sense\n");
  write("wn/index.noun", licence + "film n 3 0 3 0 00000100 00000200 00000300\nmovie n 1 0 1 0 00000100\n");
  write("wn/data.adj", licence + "00000400 00 s 02 big(a) 0 large 0 000 | above average\n");
  write("wn/index.adj", licence + "big a 1 0 1 0 00000400\n");
  for (const char* f : {"data.verb", "index.verb", "data.adv", "index.adv"}) write(std::string("wn/") + f, licence);
  const WordNet wn((dir_ / "wn").string());
  ASSERT_NE(wn.synonyms("film"), nullptr);
  // Two senses only: "flick" (third sense) and proper/multi-word lemmas are left out.
  EXPECT_EQ(*wn.synonyms("film"), (std::vector<std::u32string>{U"movie"}));
  EXPECT_EQ(*wn.synonyms("movie"), (std::vector<std::u32string>{U"film"}));
  EXPECT_EQ(*wn.synonyms("big"), (std::vector<std::u32string>{U"large"}));
  EXPECT_EQ(wn.synonyms("large"), nullptr);  // not in the index
  LexiconPaths paths;
  paths.wordnet_dir = (dir_ / "nowhere").string();
  EXPECT_THROW(Perturber({{"synonym", 0.5}}, Lexicons::load(paths)), UsageError);
  paths.wordnet_dir = (dir_ / "wn").string();
  const Perturber p({{"synonym", 1.0}}, Lexicons::load(paths));
  EXPECT_EQ(p.apply("A Movie.", 1, 0, 0, 0), "A Film.");
}

TEST_F(LexiconFiles, PrimarySynonymsKeepTheMostTaggedPartOfSpeech) {
  // "run": the verb has more tagged senses (tagsense_cnt 9 > 2), so its substitutes come from
  // the verb synsets only; "fast": adj and adv tie (3 = 3), so the first in noun, verb, adj,
  // adv order (adj) wins; "quick" has no tagged senses anywhere: the first listed (adj).
  const std::string licence = "  1 This software and database is being provided\n";
  write("wn/data.noun", licence + "00000100 04 n 02 run 0 tally 0 000 | a score\n");
  write("wn/index.noun", licence + "run n 1 0 1 2 00000100\n");
  write("wn/data.verb", licence + "00000200 38 v 02 run 0 scat 0 000 | move fast\n");
  write("wn/index.verb", licence + "run v 1 0 1 9 00000200\n");
  write("wn/data.adj", licence + "00000300 00 a 02 fast 0 quick 0 000 | rapid\n");
  write("wn/index.adj", licence + "fast a 1 0 1 3 00000300\nquick a 1 0 1 0 00000300\n");
  write("wn/data.adv", licence + "00000400 02 r 02 fast 0 rapidly 0 000 | quickly\n");
  write("wn/index.adv", licence + "fast r 1 0 1 3 00000400\n");
  const WordNet wn((dir_ / "wn").string());
  // synonyms() keeps every part of speech (what the synonym op draws from) ...
  EXPECT_EQ(*wn.synonyms("run"), (std::vector<std::u32string>{U"tally", U"scat"}));
  EXPECT_EQ(*wn.synonyms("fast"), (std::vector<std::u32string>{U"quick", U"rapidly"}));
  // ... primary_synonyms() only the primary one.
  EXPECT_EQ(*wn.primary_synonyms("run"), (std::vector<std::u32string>{U"scat"}));
  EXPECT_EQ(*wn.primary_synonyms("fast"), (std::vector<std::u32string>{U"quick"}));
  EXPECT_EQ(*wn.primary_synonyms("quick"), (std::vector<std::u32string>{U"fast"}));
  EXPECT_EQ(wn.primary_synonyms("tally"), nullptr);
}

TEST_F(LexiconFiles, FromDirFindsNamedFiles) {
  write("keyboard.json", R"({"a": ["s"]})");
  write("misspellings_extra.txt", "the teh\n");
  write("notes.txt", "not a lexicon\n");
  const LexiconPaths paths = LexiconPaths::from_dir(dir_.string());
  EXPECT_EQ(paths.keyboard, (dir_ / "keyboard.json").string());
  EXPECT_EQ(paths.ocr, "");
  EXPECT_EQ(paths.misspellings, (std::vector<std::string>{(dir_ / "misspellings_extra.txt").string()}));
  EXPECT_THROW(LexiconPaths::from_dir((dir_ / "absent").string()), UsageError);
}

// The larger public lists in ../shared/data (optional; never copied into the repository).
TEST(SharedLexicons, LoadAndPerturbWithTheFullLists) {
  const std::string data = shared_data_dir();
  if (!fs::exists(data + "/misspellings") || !fs::exists(data + "/confusables")) {
    GTEST_SKIP() << data << "/{misspellings,confusables} not present (optional shared data; STURDY_SHARED_DATA)";
  }
  const LexiconPaths paths = LexiconPaths::from_dir(data);
  EXPECT_EQ(paths.misspellings.size(), 3u);
  const auto lex = Lexicons::load(paths);
  EXPECT_GT(lex->misspellings().size(), 10000u);
  EXPECT_GT(lex->homoglyphs().size(), 100u);
  EXPECT_EQ(lex->keyboard().size(), 40u);
  EXPECT_EQ(lex->ocr().size(), 12u);
  ASSERT_NE(lex->homoglyphs().find('a'), nullptr);
  const Perturber p({{"misspell", 1.0}, {"homoglyph", 0.5}, {"keyboard", 0.3}, {"ocr", 0.3}}, lex);
  for (uint64_t id = 0; id < 100; ++id) {
    const std::string out = p.apply("Their performance was definitely believable, I recieved it.", 1, 0, id, 0);
    EXPECT_TRUE(utf8::is_valid(out));
    EXPECT_EQ(out.find("Their performance"), std::string::npos) << out;
  }
}

}  // namespace
}  // namespace sturdy::perturb
