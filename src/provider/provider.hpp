// The interface every model provider implements: start a generation, report deltas, honour cancel.
#pragma once

#include "core/executor.hpp"
#include "proto/client_message.hpp"
#include "proto/event.hpp"

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace sg::provider {

struct prompt_card {
  std::string kind;  // "instruction" | "example" | "style"
  std::string content;
};

struct request {
  std::string stream_id;
  std::string request_id;
  std::string project_id;
  std::string model;
  std::string user_input;
  std::vector<proto::chat_message> history;
  std::vector<prompt_card> cards;
  std::string system_prompt;  // built from the project's cards in the analyzing stage
  std::string sub;            // the caller's identity (the token's sub, or the anonymous one)
  std::string connection_id;  // the WebSocket connection that started it ("" over HTTP)
  std::string context_json;   // what the $connect integration kept for that connection ("" = none)
};

/// Receives a generation's results. Every call happens on the executor passed to start().
class sink {
 public:
  virtual ~sink() = default;
  /// The upstream request went out (the `generating` stage begins).
  virtual void on_request_sent() = 0;
  /// A stage the upstream reported itself (a streaming backend's progress event).
  virtual void on_progress(std::string_view /*stage*/, std::string_view /*step*/, int /*percent*/) {}
  /// A text delta; `due_us` is when a paced provider scheduled it (0 if not paced).
  virtual void on_delta(std::string text, std::int64_t due_us) = 0;
  /// The generation ended normally.
  virtual void on_done(proto::usage u) = 0;
  /// The generation failed; nothing more is delivered.
  virtual void on_error(proto::error_info e) = 0;
};

/// Cancellation shared by the stream and its provider. Thread-safe.
class cancellation {
 public:
  /// Registers what to run on cancel; runs it at once if already cancelled.
  void on_cancel(std::function<void()> fn);
  /// Cancels; the handler runs once, on the calling thread (it must only post).
  void cancel();
  bool cancelled() const;

 private:
  mutable std::mutex mu_;
  bool cancelled_ = false;
  std::function<void()> fn_;
};

class provider {
 public:
  virtual ~provider() = default;
  virtual std::string name() const = 0;
  /// Starts generating; results go to `out` on `ex`. Must return without blocking.
  virtual void start(std::shared_ptr<const request> req, std::shared_ptr<sink> out, net::any_io_executor ex,
                     std::shared_ptr<cancellation> cancel) = 0;
};

}  // namespace sg::provider
