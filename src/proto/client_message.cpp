// Client message validation: every field is type-checked and bounded; faults name the field.
#include "proto/client_message.hpp"

#include <boost/json.hpp>

namespace sg::proto {
namespace {

constexpr std::size_t max_id_len = 256;
constexpr std::size_t max_history = 1000;

parse_error fail(error_code code, std::string message, std::string field = {}, std::string request_id = {}) {
  parse_error e;
  e.error.code = code;
  e.error.message = std::move(message);
  e.error.field = std::move(field);
  e.error.retryable = false;
  e.request_id = std::move(request_id);
  return e;
}

// Reads an optional string field; returns false (and sets err) if present but not a string.
bool opt_string(const boost::json::object& o, std::string_view key, std::string& out, std::size_t max_len,
                parse_error& err, const std::string& rid) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return true;
  if (!it->value().is_string()) {
    err = fail(error_code::bad_request, std::string(key) + " must be a string", std::string(key), rid);
    return false;
  }
  auto& s = it->value().get_string();
  if (s.size() > max_len) {
    err = fail(error_code::bad_request, std::string(key) + " is too long", std::string(key), rid);
    return false;
  }
  out.assign(s.data(), s.size());
  return true;
}

bool req_string(const boost::json::object& o, std::string_view key, std::string& out, std::size_t max_len,
                parse_error& err, const std::string& rid) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) {
    err = fail(error_code::bad_request, std::string(key) + " is required", std::string(key), rid);
    return false;
  }
  if (!opt_string(o, key, out, max_len, err, rid)) return false;
  if (out.empty()) {
    err = fail(error_code::bad_request, std::string(key) + " must not be empty", std::string(key), rid);
    return false;
  }
  return true;
}

std::string request_id_of(const boost::json::object& o) {
  auto it = o.find("requestId");
  if (it != o.end() && it->value().is_string() && it->value().get_string().size() <= max_id_len)
    return std::string(it->value().get_string());
  return {};
}

}  // namespace

result<stream_request, parse_error> parse_stream_request(const boost::json::object& o) {
  stream_request r;
  parse_error err;
  r.request_id = request_id_of(o);
  const auto& rid = r.request_id;
  if (!opt_string(o, "requestId", r.request_id, max_id_len, err, rid)) return err;
  if (!req_string(o, "projectId", r.project_id, max_id_len, err, rid)) return err;
  if (!req_string(o, "userInput", r.user_input, 64 * 1024, err, rid)) return err;
  if (!opt_string(o, "provider", r.provider, 64, err, rid)) return err;
  if (!opt_string(o, "model", r.model, max_id_len, err, rid)) return err;
  if (auto it = o.find("chat_history"); it != o.end() && !it->value().is_null()) {
    if (!it->value().is_array()) return fail(error_code::bad_request, "chat_history must be an array", "chat_history", rid);
    const auto& arr = it->value().get_array();
    if (arr.size() > max_history) return fail(error_code::bad_request, "chat_history is too long", "chat_history", rid);
    for (std::size_t i = 0; i < arr.size(); ++i) {
      std::string field = "chat_history[" + std::to_string(i) + "]";
      if (!arr[i].is_object()) return fail(error_code::bad_request, field + " must be an object", field, rid);
      const auto& m = arr[i].get_object();
      chat_message cm;
      if (!req_string(m, "role", cm.role, 32, err, rid)) {
        err.error.field = field + ".role";
        return err;
      }
      if (cm.role != "user" && cm.role != "assistant" && cm.role != "system")
        return fail(error_code::bad_request, field + ".role must be user, assistant or system", field + ".role", rid);
      if (!opt_string(m, "content", cm.content, 64 * 1024, err, rid)) {
        err.error.field = field + ".content";
        return err;
      }
      r.history.push_back(std::move(cm));
    }
  }
  return r;
}

result<client_message, parse_error> parse_client_message(std::string_view text) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  if (ec) return fail(error_code::bad_request, "message is not valid JSON: " + ec.message());
  if (!v.is_object()) return fail(error_code::bad_request, "message must be a JSON object");
  const auto& o = v.get_object();
  std::string rid = request_id_of(o);

  auto it = o.find("action");
  if (it == o.end()) return fail(error_code::unknown_action, "message has no action", "action", rid);
  if (!it->value().is_string()) return fail(error_code::bad_request, "action must be a string", "action", rid);
  std::string_view action = it->value().get_string();

  if (action == "stream") {
    auto r = parse_stream_request(o);
    if (!r) return r.error();
    return client_message{std::move(*r)};
  }
  if (action == "cancel") {
    cancel_request c;
    c.request_id = rid;
    parse_error err;
    if (!req_string(o, "streamId", c.stream_id, max_id_len, err, rid)) return err;
    return client_message{std::move(c)};
  }
  if (action == "resume") {
    resume_request r;
    r.request_id = rid;
    parse_error err;
    if (!req_string(o, "streamId", r.stream_id, max_id_len, err, rid)) return err;
    auto ls = o.find("lastSeq");
    if (ls != o.end() && !ls->value().is_null()) {
      const auto& lv = ls->value();
      if (lv.is_uint64()) {
        r.last_seq = lv.get_uint64();
      } else if (lv.is_int64() && lv.get_int64() >= 0) {
        r.last_seq = static_cast<std::uint64_t>(lv.get_int64());
      } else if (lv.is_double() && lv.get_double() >= 0 && lv.get_double() < 9e15 &&
                 static_cast<double>(static_cast<std::uint64_t>(lv.get_double())) == lv.get_double()) {
        r.last_seq = static_cast<std::uint64_t>(lv.get_double());
      } else {
        return fail(error_code::bad_request, "lastSeq must be a non-negative integer", "lastSeq", rid);
      }
    }
    return client_message{std::move(r)};
  }
  if (action == "ping") return client_message{ping_request{rid}};
  return fail(error_code::unknown_action, "unknown action '" + std::string(action.substr(0, 64)) + "'", "action", rid);
}

}  // namespace sg::proto
