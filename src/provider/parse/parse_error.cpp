// Messages for the stream parsers' error codes.
#include "provider/parse/parse_error.hpp"

#include <string>

namespace sg::provider {
namespace {

class parse_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "sg.provider.parse"; }

  std::string message(int value) const override {
    switch (static_cast<parse_errc>(value)) {
      case parse_errc::line_too_long: return "line longer than the configured maximum";
      case parse_errc::event_too_large: return "event data larger than the configured maximum";
      case parse_errc::invalid_json: return "line is not a single valid JSON value";
    }
    return "unknown parse error";
  }
};

}  // namespace

const std::error_category& parse_category() noexcept {
  static const parse_category_impl category;
  return category;
}

}  // namespace sg::provider
