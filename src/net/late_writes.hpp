// One flush per shard for connections whose paced tokens are late: each such connection is noted
// once, and one posted handler writes all their queues after whatever the shard is running now.
#pragma once

#include "core/executor.hpp"

#include <functional>
#include <vector>

namespace sg::io {

/// One per io_context (an Asio service), for an io_context run by one thread (a shard).
///
/// A shard behind its pacer makes several overdue tokens per stream in one run of the pacer. A
/// connection that wrote each at once would spend a send per token; one that waited on an
/// asynchronous write would spend an operation, a completion and Beast's write state per frame.
/// Instead the connection notes itself here and writes nothing yet; the tokens made meanwhile merge
/// in its queue, and the flush writes each queue with the synchronous write, one frame per stream.
class late_writes final : public net::execution_context::service {
 public:
  static inline net::execution_context::id id;

  explicit late_writes(net::io_context& ioc);
  ~late_writes() override;

  /// The late writes of `ex`'s io_context. Call on that io_context's thread.
  static late_writes& of(const net::io_context::executor_type& ex) { return net::use_service<late_writes>(ex.context()); }

  /// Runs `flush` after what the shard runs now, with every other flush noted before it runs.
  /// `flush` holds its connection.
  void add(std::function<void()> flush);
  std::size_t waiting() const { return waiting_.size(); }

 private:
  void shutdown() override;
  void run();

  net::io_context& ioc_;
  std::vector<std::function<void()>> waiting_;
  std::vector<std::function<void()>> running_;  // kept apart: a flush may note another
  bool posted_ = false;
  bool stopped_ = false;
};

}  // namespace sg::io
