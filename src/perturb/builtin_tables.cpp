// Built-in lexicon tables (see builtin_tables.h). Larger lists are loaded from files.
#include "builtin_tables.h"

#include <iterator>

namespace sturdy::perturb::builtin {

const KeyNeighbours kKeyboard[] = {
    {'1', "2"},      {'2', "13"},      {'3', "24"},      {'4', "35"},      {'5', "46"},
    {'6', "57"},     {'7', "68"},      {'8', "79"},      {'9', "80"},      {'0', "9"},
    {'q', "was"},    {'w', "qeasd"},   {'e', "wrsdf"},   {'r', "etdfg"},   {'t', "ryfgh"},
    {'y', "tughj"},  {'u', "yihjk"},   {'i', "uojkl"},   {'o', "ipkl"},    {'p', "ol"},
    {'a', "qwszx"},  {'s', "qweadzxc"}, {'d', "wersfxcv"}, {'f', "ertdgcvb"}, {'g', "rtyfhvbn"},
    {'h', "tyugjbnm"}, {'j', "yuihknm"}, {'k', "uiojlm"}, {'l', "iopk"},   {'z', "asx"},
    {'x', "zasdc"},  {'c', "xdfv"},    {'v', "cfgb"},    {'b', "vghn"},    {'n', "bhjm"},
    {'m', "njk"},
};
const size_t kKeyboardSize = std::size(kKeyboard);

const SeqPair kOcr[] = {
    {"rn", "m"}, {"m", "rn"}, {"cl", "d"}, {"d", "cl"}, {"vv", "w"}, {"w", "vv"},
    {"li", "h"}, {"h", "li"}, {"ni", "m"}, {"iii", "m"}, {"0", "o"}, {"o", "0"},
    {"0", "O"}, {"O", "0"},  {"O", "D"},  {"D", "O"},  {"1", "l"},  {"l", "1"},
    {"1", "I"}, {"I", "1"},  {"l", "I"},  {"I", "l"},  {"i", "l"},  {"l", "i"},
    {"5", "S"}, {"S", "5"},  {"s", "5"},  {"8", "B"},  {"B", "8"},  {"6", "b"},
    {"b", "6"}, {"9", "g"},  {"g", "9"},  {"9", "q"},  {"q", "9"},  {"2", "Z"},
    {"Z", "2"}, {"e", "c"},  {"c", "e"},  {"a", "o"},  {"o", "a"},  {"u", "v"},
    {"v", "u"}, {"n", "h"},  {"h", "n"},  {"r", "k"},  {"C", "G"},  {"G", "C"},
    {"E", "B"}, {"f", "t"},  {"t", "f"},  {"fi", "f"}, {"ri", "n"}, {"in", "m"},
};
const size_t kOcrSize = std::size(kOcr);

const SeqPair kHomoglyphs[] = {
    {"a", "а ɑ"}, {"c", "с ϲ"}, {"d", "ԁ"},   {"e", "е"},   {"g", "ɡ"},   {"h", "һ"},
    {"i", "і"},   {"j", "ј"},   {"l", "ӏ"},   {"n", "ո"},   {"o", "о ο"}, {"p", "р"},
    {"q", "ԛ"},   {"s", "ѕ"},   {"u", "υ"},   {"v", "ν"},   {"w", "ԝ"},   {"x", "х"},
    {"y", "у"},   {"A", "А Α"}, {"B", "В Β"}, {"C", "С"},   {"E", "Е Ε"}, {"H", "Н Η"},
    {"I", "І Ι"}, {"J", "Ј"},   {"K", "К Κ"}, {"M", "М Μ"}, {"N", "Ν"},   {"O", "О Ο"},
    {"P", "Р Ρ"}, {"S", "Ѕ"},   {"T", "Т Τ"}, {"X", "Х Χ"}, {"Y", "Υ Ү"}, {"Z", "Ζ"},
    {"3", "З"},   {"0", "О"},
};
const size_t kHomoglyphsSize = std::size(kHomoglyphs);

const char* const kMisspellings[] = {
    "absence absense abscence",       "accept acept",
    "accidentally accidentaly",       "accommodate accomodate acommodate",
    "achieve acheive",                "acquire aquire",
    "across accross",                 "address adress",
    "actually actualy",               "aggressive agressive",
    "apparently apparantly",          "argument arguement",
    "basically basicly",              "beautiful beatiful beautifull",
    "because becuase becasue",        "before befor",
    "beginning begining",             "believe beleive",
    "between betwen",                 "business buisness",
    "calendar calender",              "category catagory",
    "cemetery cemetary",              "changeable changable",
    "character charachter",           "coming comming",
    "committee commitee",             "completely completly",
    "conscious concious",             "definitely definately definatly",
    "describe discribe",              "different diffrent",
    "disappoint dissapoint",          "embarrass embarass",
    "environment enviroment",         "especially especialy",
    "exaggerate exagerate",           "excellent excelent",
    "existence existance",            "experience experiance",
    "familiar familar",               "finally finaly",
    "foreign foriegn",                "forward foward",
    "friend freind",                  "government goverment",
    "grammar grammer",                "guarantee garantee",
    "happened happend",               "harass harrass",
    "height heighth",                 "humorous humerous",
    "immediately immediatly",         "independent independant",
    "interesting intresting",         "knowledge knowlege",
    "library libary",                 "license lisence",
    "lightning lightening",           "maintenance maintainance",
    "millennium millenium",           "minuscule miniscule",
    "necessary neccessary necesary",  "noticeable noticable",
    "occasion occassion",             "occurred occured",
    "occurrence occurence",           "until untill",
    "original orignal",               "particularly particulary",
    "perform preform",                "performance preformance",
    "perseverance perseverence",      "personally personaly",
    "possession posession",           "possible possable",
    "probably probly probaly",        "pronunciation pronounciation",
    "publicly publically",            "really realy",
    "receive recieve",                "recommend recomend reccommend",
    "referred refered",               "relevant relevent",
    "religious religous",             "remember rember",
    "restaurant resturant",           "rhythm rythm",
    "schedule schedual",              "separate seperate",
    "sergeant sargent",               "similar similiar",
    "sincerely sincerly",             "successful succesful",
    "supposedly supposably",          "surprise suprise",
    "the teh",                        "their thier",
    "though thogh",                   "threshold threshhold",
    "tomorrow tommorow tommorrow",    "truly truely",
    "unfortunately unfortunatly",     "usually usualy",
    "weird wierd",                    "whether wether",
    "which wich",                     "writing writting",
    "written writen",                 "grateful greatful",
    "movie moive",                    "film flim",
    "because cuz",                    "funny funy",
    "story stroy",                    "really relly",
    "little litle",                   "would woudl",
    "there ther",                     "with wiht",
    "about abuot",                    "performances preformances",
};
const size_t kMisspellingsSize = std::size(kMisspellings);

const char* const kDistractors[] = {
    "and true is true",
    "and false is not true",
    "by the way",
    "as i said before",
    "just saying",
    "for what it's worth",
    "in other news, the weather was mild",
    "see you later",
    "@user123",
    "https://t.co/x7Yz2",
    "#random",
    "fwiw",
    "anyway",
    "to be honest",
};
const size_t kDistractorsSize = std::size(kDistractors);

const Contraction kContractions[] = {
    {"aren't", "are not"},     {"can't", "can not"},      {"couldn't", "could not"},
    {"didn't", "did not"},     {"doesn't", "does not"},   {"don't", "do not"},
    {"hadn't", "had not"},     {"hasn't", "has not"},     {"haven't", "have not"},
    {"he'd", "he would"},      {"he'll", "he will"},      {"he's", "he is"},
    {"i'd", "i would"},        {"i'll", "i will"},        {"i'm", "i am"},
    {"i've", "i have"},        {"isn't", "is not"},       {"it'll", "it will"},
    {"it's", "it is"},         {"let's", "let us"},       {"she'd", "she would"},
    {"she'll", "she will"},    {"she's", "she is"},       {"shouldn't", "should not"},
    {"that's", "that is"},     {"there's", "there is"},   {"they'd", "they would"},
    {"they'll", "they will"},  {"they're", "they are"},   {"they've", "they have"},
    {"wasn't", "was not"},     {"we'd", "we would"},      {"we'll", "we will"},
    {"we're", "we are"},       {"we've", "we have"},      {"weren't", "were not"},
    {"what's", "what is"},     {"where's", "where is"},   {"who's", "who is"},
    {"won't", "will not"},     {"wouldn't", "would not"}, {"you'd", "you would"},
    {"you'll", "you will"},    {"you're", "you are"},     {"you've", "you have"},
};
const size_t kContractionsSize = std::size(kContractions);

const char* const kStopwords[] = {
    "a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any", "are",
    "as", "at", "be", "because", "been", "before", "being", "below", "between", "both", "but",
    "by", "can", "could", "did", "do", "does", "doing", "down", "during", "each", "few", "for",
    "from", "further", "had", "has", "have", "having", "he", "her", "here", "hers", "herself",
    "him", "himself", "his", "how", "i", "if", "in", "into", "is", "it", "its", "itself",
    "just", "me", "more", "most", "my", "myself", "no", "nor", "not", "now", "of", "off", "on",
    "once", "only", "or", "other", "our", "ours", "out", "over", "own", "same", "she",
    "should", "so", "some", "such", "than", "that", "the", "their", "them", "then", "there",
    "these", "they", "this", "those", "through", "to", "too", "under", "until", "up", "very",
    "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom", "why",
    "will", "with", "would", "you", "your", "yours", "one", "s", "t", "n't", "'s", "us",
};
const size_t kStopwordsSize = std::size(kStopwords);

}  // namespace sturdy::perturb::builtin
