// The demo provider's deterministic title generator: key phrases in, title suggestions out.
#pragma once

#include "provider/provider.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace sg::provider::demo {

struct generated {
  std::string text;                 // the whole answer
  std::vector<std::string> tokens;  // text split into model-like tokens; their concatenation is `text`
  std::uint64_t input_tokens = 0;   // tokens in the prompt (system prompt, history, input)
};

/// Splits text into tokens the way a model streams them: a word with its leading space, or punctuation.
std::vector<std::string> tokenize(std::string_view text);

/// Ranks the key phrases of the input (weighted most), the prompt cards and the history.
std::vector<std::string> key_phrases(const request& req, std::size_t max_phrases = 3);

/// The answer for `req`: the same request always gives the same answer.
generated generate_titles(const request& req);

}  // namespace sg::provider::demo
