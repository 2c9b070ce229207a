// The decisions of the SSE stream routes and the request rules the session applies, without I/O:
// the session only writes what these return.
#pragma once

#include "core/executor.hpp"
#include "gateway/admission.hpp"
#include "gateway/app.hpp"
#include "gateway/http_api.hpp"
#include "gateway/security.hpp"
#include "stream/remote_streams.hpp"
#include "stream/stream.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace sg::gateway {

/// Routes that need credentials (the rest: health, metrics, the web app, CORS preflights).
bool is_api(const target& t);
/// ?token= only where a browser cannot send a header: the WebSocket upgrade (`upgrade`, the request's
/// websocket::is_upgrade) and an EventSource GET.
bool accepts_query_token(const request& req, const target& t, bool upgrade);
bool accepts_event_stream(const request& req);
/// Every line of a header that may repeat, joined with ',' (their meaning as one list).
std::string joined_header(const request& req, std::string_view name);

/// What a stream route decided: an answer to send, or a stream to write as SSE after `after`.
struct sse_plan {
  std::optional<response> answer;
  std::shared_ptr<stream::stream> s;
  std::uint64_t after = 0;
};

/// POST /v1/streams: starts the stream; with Accept: text/event-stream the plan is to write it,
/// else the answer is 202 with its id.
/// `done` runs at once on a single node, later (on `ex`) in cluster mode.
void start_stream(app& a, const request& req, const principal& who, const std::string& limit_key,
                  net::any_io_executor ex, std::function<void(sse_plan)> done);

/// The header of an SSE answer for `stream_id` (chunked: the events follow as the body), with the
/// anonymous identity's cookie when one was issued and the CORS headers when the origin is allowed.
http::response<http::empty_body> sse_header(const request& req, const std::string& stream_id,
                                            const std::string& issued_key, bool secure,
                                            const std::optional<std::string>& cors_origin);

/// GET /v1/streams/{id}/events: resumes after Last-Event-ID or ?lastSeq=N. At or past a finished
/// stream's end the answer is 204 (EventSource stops reconnecting); past a running stream's end, 400.
/// The stream is looked up here, or in the shared log when another node generates it: `done` runs
/// at once on a single node, later (on `ex`) after a lookup.
void resume_stream(app& a, const request& req, const target& t, const std::string& id, const principal& who,
                   net::any_io_executor ex, std::function<void(sse_plan)> done);
/// resume_stream's decision once the lookup is done: `found` is what stream_manager::find_anywhere
/// found for `id` (null: none; an error: 503 `unavailable`).
sse_plan resume_plan(const request& req, const target& t, const std::string& id, stream::lookup found,
                     const principal& who);
/// The seq a resume starts after (Last-Event-ID or ?lastSeq; 0 when absent or malformed).
std::uint64_t resume_point(const request& req, const target& t);

/// The one reader of stream `id` left before its end (a completion's client, a POST's SSE answer):
/// the stream is cancelled, so nobody pays for an answer nobody will read. Any thread.
void abandon_stream(app& a, const std::string& id);

/// The connection slots a WebSocket holds for its life: the per-user one and, for a client behind a
/// trusted proxy (known only now), the per-address one. Empty when refused: `refusal` says why.
struct upgrade_slots {
  std::shared_ptr<void> slots;
  std::optional<proto::error_info> refusal;
};
upgrade_slots admit_upgrade(app& a, const principal& who, bool behind_proxy, const std::string& ip_key,
                            const std::string& source_ip, std::shared_ptr<connection_slot> slot);

}  // namespace sg::gateway
