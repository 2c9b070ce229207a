// Title suggestions shaped from key phrases, so the demo's output depends on what was asked.
#include "provider/demo/title_generator.hpp"

#include "core/text.hpp"

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
      "under", "characters", "words", "short", "long", "beginner", "beginners", "guide", "home", "best", "top",
      // Verbs that often end a request ("why remote teams matter") and would join its phrase.
      "matter", "matters", "works", "explain", "explained", "learn", "learned", "improve", "build"};
  return s;
}

bool is_upper(char c) { return std::isupper(static_cast<unsigned char>(c)) != 0; }

// "GraphQL", "iOS", "AI": a capital after the first letter means the writer chose the spelling.
bool keeps_spelling(std::string_view w) {
  return std::any_of(w.begin() + (w.empty() ? 0 : 1), w.end(), is_upper);
}

// Words a title leaves in lower case unless they open it (or a hyphenated compound).
bool small_word(std::string_view w) {
  static const std::unordered_set<std::string> s = {"a", "an", "the", "and", "or", "nor", "but", "of", "to", "in",
                                                    "on", "at", "by", "for", "as", "via", "vs"};
  return s.count(core::ascii_lower(w)) > 0;
}

// Calls `f(part, first)` for each part of `phrase` split at spaces and hyphens.
template <class F>
std::string map_parts(std::string_view phrase, F f) {
  std::string out;
  std::size_t i = 0;
  bool first = true;
  while (i <= phrase.size()) {
    std::size_t j = phrase.find_first_of(" -", i);
    if (j == std::string_view::npos) j = phrase.size();
    out += f(phrase.substr(i, j - i), first);
    first = false;
    if (j < phrase.size()) out += phrase[j];
    i = j + 1;
  }
  return out;
}

// "real-time analytics" -> "Real-Time Analytics", "state-of-the-art" -> "State-of-the-Art";
// spellings like "GraphQL" or "iOS" stay as written.
std::string title_case(std::string_view phrase) {
  return map_parts(phrase, [](std::string_view w, bool first) {
    std::string out(w);
    if (out.empty() || keeps_spelling(w)) return out;
    out = core::ascii_lower(w);
    if (first || !small_word(w)) out[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(out[0])));
    return out;
  });
}

// The phrase inside a sentence: "Resilient Networks" -> "resilient networks", "AI" stays.
std::string in_sentence(std::string_view phrase) {
  return map_parts(phrase, [](std::string_view w, bool) { return keeps_spelling(w) ? std::string(w) : core::ascii_lower(w); });
}

// Whether a phrase names more than one thing, judged by its last word (its head noun):
// "resilient networks" and "APIs" are plural, "business", "analysis", "kubernetes" and "news" are not.
bool is_plural(std::string_view phrase) {
  std::size_t cut = phrase.find_last_of(" -");
  std::string_view written = cut == std::string_view::npos ? phrase : phrase.substr(cut + 1);
  // "APIs", "GPUs": an acronym with a plural s.
  if (written.size() >= 3 && written.back() == 's' &&
      std::all_of(written.begin(), written.end() - 1, [](char c) { return is_upper(c) || std::isdigit(static_cast<unsigned char>(c)); }))
    return true;
  std::string head = core::ascii_lower(written);
  static const std::unordered_set<std::string> irregular = {"people", "children", "men", "women", "mice", "feet",
                                                            "teeth", "geese", "criteria", "phenomena", "data"};
  static const std::unordered_set<std::string> singular = {
      "news", "series", "species", "kubernetes", "chaos", "canvas", "atlas", "bias", "lens", "gas", "yes",
      "always", "perhaps", "whereas", "sometimes", "mathematics", "physics", "economics", "politics", "ethics",
      "analytics", "logistics", "athletics", "gymnastics", "robotics", "genetics", "linguistics", "statistics"};
  if (irregular.count(head)) return true;
  if (singular.count(head) || head.size() < 4 || head.back() != 's') return false;
  auto ends = [&](std::string_view suffix) { return head.ends_with(suffix); };
  return !(ends("ss") || ends("us") || ends("is") || ends("'s") || ends("ics"));
}

bool word_char(unsigned char c) { return std::isalnum(c) || c == '\'' || c >= 0x80; }

// A word of the input: as written, lower-cased for comparison, and whether punctuation (not
// just spaces) came between it and the word before.
struct word {
  std::string text;
  std::string key;
  bool after_break = false;
};

// Words of `text` in order. A hyphen or dot between two letters or digits joins ("real-time",
// "node.js", "3.5"); non-ASCII bytes stay inside words.
std::vector<word> scan(std::string_view text) {
  std::vector<word> out;
  std::string cur;
  bool pending_break = false;
  auto flush = [&] {
    while (!cur.empty() && cur.front() == '\'') cur.erase(cur.begin());
    while (!cur.empty() && cur.back() == '\'') cur.pop_back();
    if (cur.empty()) return;
    out.push_back({cur, core::ascii_lower(cur), pending_break || out.empty()});
    pending_break = false;
    cur.clear();
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    bool joiner = (c == '-' || c == '.') && !cur.empty() && std::isalnum(static_cast<unsigned char>(cur.back())) &&
                  i + 1 < text.size() && std::isalnum(static_cast<unsigned char>(text[i + 1]));
    if (word_char(c) || joiner) {
      cur += static_cast<char>(c);
      continue;
    }
    flush();
    if (c != ' ' && c != '\t') pending_break = true;
  }
  flush();
  return out;
}

// Lower-cased words, for comparing phrases.
std::vector<std::string> words(std::string_view text) {
  std::vector<std::string> out;
  for (auto& w : scan(text)) out.push_back(w.key);
  return out;
}

bool content_word(const word& w) {
  if (stopwords().count(w.key)) return false;
  if (w.key.size() >= 3) return true;
  // Two-letter acronyms ("AI", "UX") count; two-letter words do not.
  return w.text.size() == 2 && std::all_of(w.text.begin(), w.text.end(), [](char c) { return is_upper(c); });
}

// The parts of a word split at hyphens: "real-time" -> {"real", "time"}.
std::vector<std::string> parts(const std::string& key) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i <= key.size()) {
    std::size_t j = key.find('-', i);
    if (j == std::string::npos) j = key.size();
    out.push_back(key.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

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
    std::string text;  // as first written
  };
  std::map<std::string, score> scores;
  std::size_t order = 0;
  auto add = [&](std::vector<const word*> run, double weight) {
    std::string key, text;
    for (auto* w : run) {
      key += (key.empty() ? "" : " ") + w->key;
      text += (text.empty() ? "" : " ") + w->text;
    }
    auto& s = scores.try_emplace(key, score{0, order++, text}).first->second;
    // A phrase of several words says more than any one of them.
    s.value += weight * (1.0 + 0.5 * static_cast<double>(run.size() - 1));
  };
  // The input's phrases are runs of content words between stop words and punctuation, kept whole
  // up to four words ("distributed systems design"); longer runs are cut into threes.
  auto ws = scan(req.user_input);
  std::vector<const word*> run;
  auto end_run = [&] {
    if (run.size() > 1) {
      constexpr std::size_t whole = 4, chunk = 3;
      std::size_t step = run.size() <= whole ? run.size() : chunk;
      for (std::size_t i = 0; i < run.size(); i += step) {
        auto from = run.begin() + static_cast<std::ptrdiff_t>(i);
        add(std::vector<const word*>(from, from + static_cast<std::ptrdiff_t>(std::min(step, run.size() - i))), 3.0);
      }
    }
    run.clear();
  };
  for (auto& w : ws) {
    if (w.after_break || !content_word(w)) end_run();
    if (!content_word(w)) continue;
    run.push_back(&w);
    add({&w}, 3.0);
  }
  end_run();
  auto add_words = [&](std::string_view text, double weight) {
    auto more = scan(text);
    for (auto& w : more)
      if (content_word(w)) add({&w}, weight);
  };
  for (auto& c : req.cards) add_words(c.content, 1.0);
  for (auto& m : req.history)
    if (m.role == "user") add_words(m.content, 0.5);

  std::vector<std::pair<std::string, score>> ranked(scores.begin(), scores.end());
  std::stable_sort(ranked.begin(), ranked.end(), [](auto& a, auto& b) {
    if (a.second.value != b.second.value) return a.second.value > b.second.value;
    return a.second.first < b.second.first;
  });
  std::vector<std::string> out, chosen_keys;
  for (auto& [key, s] : ranked) {
    if (out.size() >= max_phrases) break;
    // A phrase that repeats a word (or part of a compound) already chosen adds nothing to a title.
    bool overlaps = std::any_of(chosen_keys.begin(), chosen_keys.end(), [&](const std::string& o) {
      for (auto& w : words(key))
        for (auto& x : words(o))
          for (auto& wp : parts(w))
            for (auto& xp : parts(x))
              if (wp == xp) return true;
      return false;
    });
    if (overlaps) continue;
    out.push_back(s.text);
    chosen_keys.push_back(key);
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
  t += "2. **Why " + p1 + (is_plural(phrases[0]) ? " Matter" : " Matters") + " More Than You Think**\n";
  t += "   A curiosity hook that frames " + in_sentence(phrases[0]) + " as overlooked.\n";
  t += "3. **The " + p2 + " Playbook: " + std::to_string(lessons) + " Lessons on " + p1 + "**\n";
  t += "   A numbered promise signals a quick, skimmable read.\n";
  t += "4. **From " + p3 + " to " + p2 + ": What Actually Works**\n";
  t += "   A journey frame for readers who start from " + in_sentence(phrases[2]) + ".\n";
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
