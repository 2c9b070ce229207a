// Executors, timers and the namespace aliases for code that runs on Asio but speaks no protocol:
// include this where an executor, a timer or a post is all that is needed, and core/asio.hpp only
// where sockets, HTTP or WebSocket are.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/system/error_code.hpp>

namespace sg {
namespace net = boost::asio;
using error_code = boost::system::error_code;

namespace core {
/// True if the calling thread is inside `ex` now, so a handler for it may run inline: `ex` is an
/// io_context run by one thread (a shard) and this is that thread, or a strand this thread is in.
inline bool running_in(const net::io_context::executor_type& ex) { return ex.running_in_this_thread(); }
inline bool running_in(const net::any_io_executor& ex) {
  if (auto* io = ex.target<net::io_context::executor_type>()) return io->running_in_this_thread();
  if (auto* st = ex.target<net::strand<net::io_context::executor_type>>()) return st->running_in_this_thread();
  return false;
}
}  // namespace core
}  // namespace sg
