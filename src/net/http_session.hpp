// One HTTP/1.1 connection: REST answers, SSE streams, or an upgrade to a WebSocket session.
#pragma once

#include "core/asio.hpp"
#include "core/net_address.hpp"
#include "net/stream_types.hpp"
#include "gateway/admission.hpp"
#include "gateway/app.hpp"
#include "gateway/http_api.hpp"
#include "gateway/openai_api.hpp"
#include "gateway/security.hpp"
#include "net/chunk_frame.hpp"
#include "net/outbound_pump.hpp"
#include "net/ws_session.hpp"
#include "stream/stream.hpp"

#include <array>
#include <memory>
#include <optional>

namespace sg::io {

/// The socket's peer, as the listener saw it when it accepted the connection.
struct accepted_peer {
  net::ip::address address;
  core::address_names names;  // its text, and its per-address limit key (its /64 for IPv6)
  bool is_proxy = false;  // in --trusted-proxies: limits apply per forwarded client
};

/// `Stream` is plain_stream or tls_stream (see net/stream_types.hpp).
template <class Stream>
class basic_http_session final : public std::enable_shared_from_this<basic_http_session<Stream>>,
                                 public stream::subscriber {
 public:
  /// `tls_context` keeps the TLS context of a TLS stream alive (null for plain streams).
  /// `admission` is what the listener decided: the connection's slot, or the refusal to answer.
  basic_http_session(Stream&& stream, gateway::app& app, std::shared_ptr<void> tls_context, gateway::admission admission,
                     accepted_peer peer);
  ~basic_http_session() override;
  void run();

  // stream::subscriber (SSE mode) — any thread.
  void deliver(proto::event_ptr ev) override;

 private:
  void do_read();
  void on_read_header(error_code ec, std::size_t bytes);
  void on_read(error_code ec, std::size_t bytes);
  void refuse();
  void linger(error_code ec);
  void handle_request(gateway::request req);
  void upgrade(gateway::request req, gateway::principal who, bool bearer_subprotocol);  // ws_upgrade.cpp
  using ws_client = typename basic_ws_session<ws_transport_t<Stream>>::client;
  void upgrade_admitted(gateway::request req, gateway::principal who, bool bearer_subprotocol, ws_client c,
                        std::shared_ptr<void> slots);
  void send(gateway::response res);
  void on_write(bool close, error_code ec, std::size_t bytes);
  void do_close();
  void identify_client(const gateway::request& req);

  // SSE
  void openai_request(const gateway::request& req, const gateway::target& t);
  void watch_client();
  void start_stream(const gateway::request& req);
  void resume_stream(const gateway::request& req, const std::string& id, const gateway::target& t);
  void begin_sse(const gateway::request& req, std::shared_ptr<stream::stream> s, std::uint64_t after);
  /// Writes the held header alone, when no chunk of the body has taken it along.
  void send_held_head();
  /// The held header's bytes for a write that takes it along; it is no longer held.
  net::const_buffer take_held_head() {
    sse_head_held_ = false;
    return net::buffer(sse_head_);
  }
  void sse_enqueue(proto::event_ptr ev);
  void sse_write();
  void on_sse_write(bool last, error_code ec, std::size_t);
  void arm_heartbeat();
  void end_sse(bool keep_alive);
  /// Drops what waits, queues nothing more, and ends the response from a handler: the stream's lock
  /// may be held by the caller, and ending the response unsubscribes.
  void end_sse_from_handler();

  void on_handshake(error_code ec, std::size_t used);
  void on_shutdown(error_code ec);

  std::shared_ptr<void> tls_context_;
  Stream stream_;
  beast::flat_buffer buffer_;
  gateway::app& app_;
  std::optional<http::request_parser<http::string_body>> parser_;
  net::ip::address peer_;                  // the socket's remote address
  std::string source_ip_;                  // the client of the current request (a trusted proxy's client)
  std::string ip_key_;                     // the client's per-address limit key (its /64 for IPv6)
  bool secure_ = false;                    // the client reached us over HTTPS (directly or via a trusted proxy)
  std::string issued_key_;                 // a new anonymous key, sent as a cookie with the current answer
  bool peer_is_proxy_ = false;             // the peer is in --trusted-proxies: limits apply per forwarded client
  bool client_rate_checked_ = false;       // the forwarded client's new-connection rate was taken
  std::shared_ptr<gateway::connection_slot> slot_;  // counts this socket against the connection limits
  std::optional<proto::error_info> refusal_;      // set: answer this and close, read nothing
  std::array<char, 512> linger_buf_{};
  gateway::principal who_;                 // the caller of the current request
  std::string limit_key_;                  // whose limits the current request counts against
  std::optional<std::string> cors_origin_;  // Access-Control-Allow-Origin for the current request

  // SSE state: once the header is out, the session only writes events until the stream ends.
  bool sse_ = false;
  std::string sse_head_;          // the response's header, serialized; written with the first chunk
  bool sse_head_held_ = false;    // sse_head_ has not been given to a write yet
  bool sse_head_writing_ = false;  // sse_head_ is being written alone (send_held_head)
  bool sse_keep_alive_ = false;
  bool sse_done_ = false;
  bool sse_ending_ = false;
  bool sse_overflow_ = false;  // too slow: the response is being ended, nothing more is queued
  std::shared_ptr<stream::stream> sse_stream_;
  std::uint64_t sse_last_seq_ = 0;
  outbound_pump pump_;
  std::vector<net::const_buffer> sse_buffers_;       // their bytes, one chunk of the body, in its frame
  chunk_size_line sse_chunk_size_{};                 // the size line of the chunk being written
  bool sse_replaying_ = false;                       // subscribing: the replay is written in one go after it
  std::optional<http::response<http::empty_body>> sse_res_;
  std::optional<http::response_serializer<http::empty_body>> sse_sr_;
  gateway::openai_api::event_formatter sse_format_;  // set: events are written in this format, not as SSE
  std::string sse_formatted_;                        // the formatted events being written, kept between writes
  bool sse_cancel_on_close_ = false;                 // the stream has no other reader: a lost client cancels it
  bool watching_ = false;                            // a read is pending only to see the client leave
  std::shared_ptr<stream::stream> awaited_stream_;   // a non-streamed completion's stream, until it answers
  bool read_after_watch_ = false;                    // the response ended: read the next request once it returns
  net::steady_timer heartbeat_;
};

using http_session = basic_http_session<plain_stream>;
using tls_http_session = basic_http_session<tls_stream>;

}  // namespace sg::io
