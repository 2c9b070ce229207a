// NDJSON framing over Boost.JSON: split on LF, tolerate CRLF, skip blank lines.
#include "provider/parse/ndjson_parser.hpp"

#include "provider/parse/parse_error.hpp"

#include <boost/json/parser.hpp>

#include <cstring>
#include <utility>

namespace sg::provider {
namespace {

bool is_blank(std::string_view s) noexcept {
  for (char c : s)
    if (c != ' ' && c != '\t' && c != '\r') return false;
  return true;
}

}  // namespace

struct ndjson_parser::impl {
  explicit impl(std::size_t max) : max_line_bytes(max) {}

  void feed(std::string_view chunk, std::vector<ndjson_item>& out) {
    const char* p = chunk.data();
    const char* const end = p + chunk.size();
    while (p != end) {
      const auto* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
      const char* stop = nl ? nl : end;
      const auto piece = static_cast<std::size_t>(stop - p);
      if (!discarding && line.size() + piece > max_line_bytes) {
        // Report once, then drop the rest of this line so one bad line cannot stall the stream.
        out.push_back(error_item(parse_errc::line_too_long, "line exceeds " +
                                                                 std::to_string(max_line_bytes) + " bytes",
                                 line_no + 1));
        discarding = true;
        line.clear();
      }
      if (!nl) {
        if (!discarding) line.append(p, piece);
        return;
      }
      if (discarding) {
        ++line_no;
        discarding = false;
      } else if (line.empty()) {
        complete_line({p, piece}, out);
      } else {
        line.append(p, piece);
        complete_line(line, out);
        line.clear();
      }
      p = nl + 1;
    }
  }

  void finish(std::vector<ndjson_item>& out) {
    if (!discarding && !line.empty()) complete_line(line, out);
    line.clear();
    discarding = false;
    line_no = 0;
  }

  void complete_line(std::string_view text, std::vector<ndjson_item>& out) {
    ++line_no;
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    if (is_blank(text)) return;
    parser.reset();
    boost::system::error_code ec;
    parser.write(text.data(), text.size(), ec);
    if (ec) {
      out.push_back(error_item(parse_errc::invalid_json, ec.message(), line_no));
      return;
    }
    ndjson_item item;
    item.value = parser.release();
    item.line = line_no;
    out.push_back(std::move(item));
  }

  static ndjson_item error_item(parse_errc e, std::string detail, std::size_t line) {
    ndjson_item item;
    item.error = make_error_code(e);
    item.detail = std::move(detail);
    item.line = line;
    return item;
  }

  std::size_t max_line_bytes;
  std::string line;         // a line split across chunks
  bool discarding = false;  // skipping the rest of an over-long line
  std::size_t line_no = 0;  // lines completed so far
  boost::json::parser parser;  // reused so its scratch buffers are allocated once
};

ndjson_parser::ndjson_parser(std::size_t max_line_bytes)
    : impl_(std::make_unique<impl>(max_line_bytes)) {}
ndjson_parser::~ndjson_parser() = default;
ndjson_parser::ndjson_parser(ndjson_parser&&) noexcept = default;
ndjson_parser& ndjson_parser::operator=(ndjson_parser&&) noexcept = default;

void ndjson_parser::feed(std::string_view chunk, std::vector<ndjson_item>& out) {
  impl_->feed(chunk, out);
}

std::vector<ndjson_item> ndjson_parser::feed(std::string_view chunk) {
  std::vector<ndjson_item> out;
  impl_->feed(chunk, out);
  return out;
}

void ndjson_parser::finish(std::vector<ndjson_item>& out) { impl_->finish(out); }

std::vector<ndjson_item> ndjson_parser::finish() {
  std::vector<ndjson_item> out;
  impl_->finish(out);
  return out;
}

}  // namespace sg::provider
