// The gateway's side of one WebSocket connection: what its actions do (start, resume, cancel, ping,
// the team's own routes), which streams it watches, its place in the connection registry and its
// row in the connection table. The session in net/ reads frames and hands their text here, and
// writes what comes back: it never calls the stream manager, the store or an integration itself.
#pragma once

#include "core/executor.hpp"
#include "gateway/app.hpp"
#include "gateway/security.hpp"
#include "proto/client_message.hpp"
#include "proto/event.hpp"
#include "stream/stream.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sg::gateway {

/// The connection, as its handler sees it. Every call is made on the connection's executor.
class ws_peer {
 public:
  /// Queues `ev` for the client; `replay`: re-sent for a resume, not the live flow. The peer asks
  /// ws_handler::admit before it queues.
  virtual void write(proto::event_ptr ev, bool replay) = 0;
  /// While on, events are queued and not written; off writes what waits. Held around a replay, so
  /// that its chunks merge and leave in as few writes as the live flow's backlog would.
  virtual void hold_writes(bool on) = 0;
  /// Starts the close handshake with `code` (a WebSocket close code); `reason` is also the cause logged.
  virtual void close_now(std::uint16_t code, std::string reason) = 0;
  virtual net::any_io_executor executor() = 0;
  /// The connection as a stream subscriber: what it watches holds it, and so does an answer on its way.
  virtual std::shared_ptr<stream::subscriber> self() = 0;

 protected:
  ~ws_peer() = default;
};

/// Who is at the other end, as the HTTP session worked it out (behind a trusted proxy, not the socket's peer).
struct ws_client {
  principal who;
  std::string source_ip;
  std::string limit_key;      // whose rate limits and quotas this connection's streams count against
  std::string user_agent;
  std::string connection_id;  // chosen before the upgrade (the $connect integration saw it); "" = make one
  std::string context_json;   // what the $connect integration returned for this connection ("" = none)
  bool admitted_by_route = false;  // the $connect integration let it in: $disconnect is owed even if the handshake fails
};

/// One per connection, owned by its session; used on the connection's executor only.
class ws_handler {
 public:
  ws_handler(app& a, ws_peer& peer);

  /// Before the handshake: who is connecting.
  void begin(ws_client c);
  /// The handshake succeeded: the connection joins the registry and the connection table, and is
  /// told its id. `handle` is the connection as the registry holds it.
  void opened(std::shared_ptr<connection_handle> handle);
  /// The connection is gone (or its handshake failed): it stops watching its streams, leaves the
  /// registry and the table, and $disconnect is told, once. `close_code` 1006 when the socket just ended.
  void closed(std::uint16_t close_code, std::string_view cause);

  /// A whole text message.
  void on_text(std::string_view text);
  /// A whole binary message: refused with an error, the connection stays.
  void on_binary();
  /// Whether `ev` goes out: a watched stream's events reach the client once, from a replay or from
  /// the live flow, never both. Updates what was queued for that stream.
  bool admit(const proto::event& ev, bool replay);

  const connection_identity& identity() const { return identity_; }

 private:
  void handle(proto::stream_request& r);
  void handle(proto::cancel_request& r);
  void handle(proto::resume_request& r);
  void handle(proto::ping_request& r);
  /// Sends the message to a route integration; its 2xx body comes back to this client as one frame.
  void call_route(std::string route, std::string_view text, std::string request_id, bool is_json);
  /// The $disconnect integration, once, with the close code.
  void notify_disconnect(std::uint16_t close_code);
  void send_error(proto::error_code code, std::string message, std::string_view request_id,
                  std::string_view stream_id = {});
  /// The stream if it exists and this caller may see it (another user's stream does not exist):
  /// at once when it is generated here (or the node is alone), after a lookup of the shared log
  /// when another node generates it.
  template <class Fn>
  void with_visible_stream(const std::string& id, std::uint64_t seen, const std::string& request_id, Fn fn);
  void started(const std::string& request_id, std::shared_ptr<stream::stream> s, bool reused);
  void cancel_found(const proto::cancel_request& r, std::shared_ptr<stream::stream> s);
  void resume_found(const proto::resume_request& r, std::shared_ptr<stream::stream> s);
  /// The answer to a resume from a point the stream no longer holds.
  void not_retained(const proto::resume_request& r);
  void watch(const std::shared_ptr<stream::stream>& s, std::uint64_t after);

  app& app_;
  ws_peer& peer_;
  connection_identity identity_;
  bool authenticated_ = false;  // the caller's sub (identity_.sub) is a token's, not an anonymous identity
  // The limit key when it is not the one limit_key() derives from the identity ("user:" + sub, or
  // "ip:" + the address): 8 bytes on an idle connection instead of a 32-byte string.
  std::unique_ptr<const std::string> limit_key_;
  std::string limit_key() const;
  std::unique_ptr<const std::string> context_json_;  // what the $connect integration returned; null = nothing
  bool owe_disconnect_ = false;  // $disconnect is called once for every connection let in
  bool registered_ = false;
  bool closed_ = false;
  unsigned route_calls_ = 0;  // route calls waiting for their answer

  struct subscription {
    std::shared_ptr<stream::stream> s;
    std::uint64_t last_enqueued = 0;
  };
  // What only a connection that has started, resumed or cancelled a stream holds: made then, so an
  // idle connection keeps one pointer instead of an empty map and vector.
  struct streams_state {
    std::unordered_map<std::string, subscription> subs;  // the streams it watches
    std::vector<std::weak_ptr<stream::stream>> started;  // the streams it started (for its limit)
  };
  std::unique_ptr<streams_state> streams_;
  streams_state& streams();  // made on first use
  const std::string& context_json() const;  // "" when the $connect integration returned nothing
};

}  // namespace sg::gateway
