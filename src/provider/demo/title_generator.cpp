// Title suggestions shaped from key phrases, so the demo's output depends on what was asked.
#include "provider/demo/title_generator.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <map>
#include <unordered_set>

namespace sg::provider::demo {
namespace {

const std::unordered_set<std::string>& stopwords() {
  static const std::unordered_set<std::string> s = {
      "the", "and", "for", "are", "but", "not", "you", "all", "any", "can", "had", "her", "was", "one", "our",
      "out", "day", "get", "has", "him", "his", "how", "man", "new", "now", "old", "see", "two", "way", "who",
      "did", "its", "let", "put", "say", "she", "too", "use", "that", "with", "have", "this", "will", "your",
      "from", "they", "know", "want", "been", "good", "much", "some", "time", "very", "when", "come", "here",
      "just", "like", "long", "make", "many", "more", "only", "over", "such", "take", "than", "them", "well",
      "were", "what", "about", "would", "there", "their", "which", "could", "other", "into", "these", "those",
      "then", "also", "should", "because", "please", "give", "write", "title", "titles", "suggest", "need",
      "help", "create", "generate", "ideas", "idea", "blog", "post", "article", "hello", "each", "using",
      "being", "does", "doing", "done", "where", "while", "after", "before", "again", "most", "must", "own",
      "same", "both", "few", "why", "may", "might", "shall", "yes", "yet", "ever", "every", "something",
      "me", "my", "is", "it", "in", "on", "of", "to", "a", "an", "or", "be", "as", "at", "by", "we", "us",
      "do", "if", "so", "no", "up", "am", "i", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
      "under", "characters", "words", "short", "long", "beginner", "beginners", "guide", "home", "best", "top"};
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string title_case(std::string_view phrase) {
  std::string out(phrase);
  bool start = true;
  for (auto& c : out) {
    if (start && std::isalpha(static_cast<unsigned char>(c))) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    start = (c == ' ' || c == '-');
  }
  return out;
}

bool word_char(unsigned char c) { return std::isalnum(c) || c == '\'' || c >= 0x80; }

// Words of `text` in order, lower-cased; non-ASCII bytes stay inside words.
std::vector<std::string> words(std::string_view text) {
  std::vector<std::string> out;
  std::string cur;
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (word_char(c)) {
      cur += static_cast<char>(std::tolower(c));
    } else if (!cur.empty()) {
      out.push_back(std::move(cur));
      cur.clear();
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  for (auto& w : out) {
    while (!w.empty() && w.front() == '\'') w.erase(w.begin());
    while (!w.empty() && w.back() == '\'') w.pop_back();
  }
  std::erase_if(out, [](const std::string& w) { return w.empty(); });
  return out;
}

bool content_word(const std::string& w) { return w.size() >= 3 && !stopwords().count(w); }

std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string excerpt(std::string_view s, std::size_t n) {
  std::string out;
  for (char c : s) {
    if (out.size() >= n) break;
    out += (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
  }
  if (s.size() > n) {
    // Cut at a character boundary, then mark the cut.
    while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80) out.pop_back();
    if (!out.empty() && static_cast<unsigned char>(out.back()) >= 0xC0) out.pop_back();
    out += "...";
  }
  return out;
}

}  // namespace

std::vector<std::string> tokenize(std::string_view text) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t start = i;
    while (i < text.size() && (text[i] == ' ')) ++i;  // leading spaces ride with the next word
    if (i < text.size() && text[i] == '\n') {
      while (i < text.size() && text[i] == '\n') ++i;
    } else if (i < text.size() && word_char(static_cast<unsigned char>(text[i]))) {
      while (i < text.size() && word_char(static_cast<unsigned char>(text[i]))) ++i;
    } else if (i < text.size()) {
      ++i;
      while (i < text.size() && (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) ++i;
    }
    out.emplace_back(text.substr(start, i - start));
  }
  return out;
}

std::vector<std::string> key_phrases(const request& req, std::size_t max_phrases) {
  struct score {
    double value = 0;
    std::size_t first = 0;
  };
  std::map<std::string, score> scores;
  std::size_t order = 0;
  auto add = [&](std::string_view text, double weight, bool bigrams) {
    auto ws = words(text);
    for (std::size_t i = 0; i < ws.size(); ++i) {
      if (!content_word(ws[i])) continue;
      auto& s = scores.try_emplace(ws[i], score{0, order++}).first->second;
      s.value += weight;
      if (bigrams && i + 1 < ws.size() && content_word(ws[i + 1])) {
        auto& b = scores.try_emplace(ws[i] + " " + ws[i + 1], score{0, order++}).first->second;
        b.value += weight * 1.5;
      }
    }
  };
  add(req.user_input, 3.0, true);
  for (auto& c : req.cards) add(c.content, 1.0, false);
  for (auto& m : req.history)
    if (m.role == "user") add(m.content, 0.5, false);

  std::vector<std::pair<std::string, score>> ranked(scores.begin(), scores.end());
  std::stable_sort(ranked.begin(), ranked.end(), [](auto& a, auto& b) {
    if (a.second.value != b.second.value) return a.second.value > b.second.value;
    return a.second.first < b.second.first;
  });
  std::vector<std::string> out;
  for (auto& [phrase, s] : ranked) {
    if (out.size() >= max_phrases) break;
    // A phrase that repeats a word already chosen adds nothing to a title.
    bool overlaps = std::any_of(out.begin(), out.end(), [&](const std::string& o) {
      for (auto& w : words(phrase))
        for (auto& x : words(o))
          if (w == x) return true;
      return false;
    });
    if (!overlaps) out.push_back(phrase);
  }
  static const std::array<const char*, 3> fallback = {"fresh ideas", "everyday work", "the big picture"};
  for (std::size_t i = 0; out.size() < max_phrases; ++i) out.emplace_back(fallback[i % fallback.size()]);
  return out;
}

generated generate_titles(const request& req) {
  auto phrases = key_phrases(req, 3);
  std::string p1 = title_case(phrases[0]), p2 = title_case(phrases[1]), p3 = title_case(phrases[2]);
  std::uint64_t h = fnv1a(req.user_input);
  int lessons = 3 + static_cast<int>(h % 7);

  std::string t;
  t += "Here are 5 title ideas for \"" + excerpt(req.user_input, 60) + "\":\n\n";
  t += "1. **" + p1 + ": A Practical Guide**\n";
  t += "   Puts the core topic first and promises a concrete payoff.\n";
  t += "2. **Why " + p1 + " Matters More Than You Think**\n";
  t += "   A curiosity hook that frames " + lower(p1) + " as overlooked.\n";
  t += "3. **The " + p2 + " Playbook: " + std::to_string(lessons) + " Lessons on " + p1 + "**\n";
  t += "   A numbered promise signals a quick, skimmable read.\n";
  t += "4. **From " + p3 + " to " + p2 + ": What Actually Works**\n";
  t += "   A journey frame for readers who start from " + lower(p3) + ".\n";
  t += "5. **" + p1 + ", " + p2 + " and " + p3 + ", Explained**\n";
  t += "   Plain and searchable: the safest choice for search traffic.\n";
  if (!req.cards.empty()) {
    t += "\nShaped by " + std::to_string(req.cards.size()) + " prompt card" + (req.cards.size() == 1 ? "" : "s") +
         ": \"" + excerpt(req.cards.front().content, 48) + "\".";
  }

  generated g;
  g.tokens = tokenize(t);
  g.text = std::move(t);
  std::uint64_t in = tokenize(req.system_prompt).size() + tokenize(req.user_input).size();
  for (auto& m : req.history) in += tokenize(m.content).size();
  g.input_tokens = in;
  return g;
}

}  // namespace sg::provider::demo
