// Counters and gauges in the Prometheus text format, read without locks where they are atomics.
#include "gateway/metrics.hpp"

#include "gateway/cluster_link.hpp"
#include "gateway/integrations.hpp"
#include "net/send_batch.hpp"
#include "store/store.hpp"
#include "stream/stream_manager.hpp"

#include <sstream>

namespace sg::gateway {
namespace {
void metric(std::ostringstream& o, const char* name, const char* type, const char* help, double value,
            const char* labels = "") {
  o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n'
    << name << labels << ' ' << value << '\n';
}
}  // namespace

std::string render_metrics(app& a) {
  std::ostringstream o;
  auto& s = a.stats;
  auto& c = a.streams->counters();
  o << "# HELP streamgate_connections_active Open client connections by transport.\n"
    << "# TYPE streamgate_connections_active gauge\n"
    << "streamgate_connections_active{transport=\"websocket\"} " << s.ws_open.load() << '\n'
    << "streamgate_connections_active{transport=\"sse\"} " << s.sse_open.load() << '\n';
  metric(o, "streamgate_sockets_open", "gauge", "Client sockets open, of every kind (HTTP, SSE, WebSocket, TLS).",
         double(s.open_sockets.load()));
  metric(o, "streamgate_sockets_max", "gauge", "The socket cap in force (--max-connections).", double(a.max_connections));
  metric(o, "streamgate_capacity_refusals_total", "counter", "Connections closed at accept: the socket cap was reached.",
         double(s.capacity_refusals));
  metric(o, "streamgate_request_timeouts_total", "counter",
         "Connections closed because a request's header or body (or the next request) came too slowly.",
         double(s.request_timeouts));
  metric(o, "streamgate_store_errors_total", "counter", "Store operations that failed (the database full or unusable).",
         double(a.store->errors()));
  metric(o, "streamgate_store_reads_in_place_total", "counter",
         "Store reads run on the thread that asked for them (SQLite's read-only connection per thread), not on a store thread.",
         double(a.store->reads_here()));
  metric(o, "streamgate_project_cache_hits_total", "counter",
         "Streams whose project and cards came from memory, unchanged since they were read (SQLite on one node).",
         double(a.streams->project_cache_hits()));
  metric(o, "streamgate_question_batches_total", "counter",
         "Store transactions that wrote the questions of the streams started within 100 ms of each other.",
         double(a.streams->question_batches()));
  metric(o, "streamgate_questions_written_total", "counter",
         "Questions (with their answer's row) written by those transactions.", double(a.streams->questions_written()));
  metric(o, "streamgate_answer_end_batches_total", "counter",
         "Store transactions that saved the answers of the streams ended within 20 ms of each other.",
         double(a.streams->answer_end_batches()));
  metric(o, "streamgate_answer_ends_saved_total", "counter", "Ended answers saved by those transactions.",
         double(a.streams->answer_ends_saved()));
  metric(o, "streamgate_answer_checkpoints_total", "counter",
         "Store transactions that wrote the text running answers had added (one a second at most).",
         double(a.streams->checkpoints()));
  metric(o, "streamgate_answer_checkpoints_skipped_total", "counter",
         "Answer checkpoints skipped because the one before still waited for the store.",
         double(a.streams->checkpoints_skipped()));
  metric(o, "streamgate_send_batches_total", "counter",
         "io_uring submissions that sent the WebSocket frames of a pacer's run together.",
         double(io::send_batch::submissions()));
  metric(o, "streamgate_batched_sends_total", "counter", "WebSocket frames (or their queued tails) sent by those submissions.",
         double(io::send_batch::sends()));
  metric(o, "streamgate_batched_short_sends_total", "counter",
         "Of those, sends the socket did not take whole (a slow reader, or an error): the rest went through its flush.",
         double(io::send_batch::short_sends()));
  metric(o, "streamgate_websocket_accepted_total", "counter", "WebSocket upgrades accepted.", double(s.ws_accepted));
  metric(o, "streamgate_http_requests_total", "counter", "HTTP requests read.", double(s.http_requests));
  metric(o, "streamgate_streams_running", "gauge", "Streams generating now.", double(a.streams->running()));
  metric(o, "streamgate_streams_retained", "gauge", "Streams held for resume, running or finished.",
         double(a.streams->retained()));
  metric(o, "streamgate_streams_retained_bytes", "gauge", "Memory held by finished streams kept for resume.",
         double(a.streams->retained_bytes()));
  metric(o, "streamgate_streams_evicted_total", "counter",
         "Finished streams dropped before their retention ended, to stay within --retained-max-bytes.",
         double(a.streams->evicted()));
  if (a.cluster) {
    auto f = a.cluster->stats();
    metric(o, "streamgate_cluster_redis_up", "gauge", "1 while Redis answers on both of this node's connections.",
           f.redis_up ? 1.0 : 0.0);
    metric(o, "streamgate_cluster_mirrored_streams", "gauge", "Streams of other nodes watched from this node.",
           double(f.mirrored_streams));
    metric(o, "streamgate_cluster_unsaved_streams", "gauge",
           "This node's streams with events not yet in the shared log.", double(f.unsaved_streams));
    metric(o, "streamgate_cluster_log_events_total", "counter", "Events appended to the shared log.",
           double(f.log_events));
    metric(o, "streamgate_cluster_log_batches_total", "counter", "Round trips that carried them.",
           double(f.log_batches));
    metric(o, "streamgate_cluster_log_failures_total", "counter",
           "Batches that failed (Redis unreachable) and were written again later.", double(f.log_failures));
    metric(o, "streamgate_cluster_reaped_nodes_total", "counter", "Dead nodes whose streams this node ended.",
           double(f.reaped_nodes));
    metric(o, "streamgate_cluster_interrupted_streams_total", "counter",
           "Streams ended with `interrupted` by this node: those of dead nodes, and its own after it was taken for dead.", double(f.interrupted_streams));
    metric(o, "streamgate_cluster_routed_requests_total", "counter",
           "Cancels and management-API calls sent to the node that holds the stream or connection.",
           double(f.routed_requests));
  }
  o << "# HELP streamgate_streams_total Streams by outcome.\n# TYPE streamgate_streams_total counter\n"
    << "streamgate_streams_total{outcome=\"started\"} " << c.started.load() << '\n'
    << "streamgate_streams_total{outcome=\"completed\"} " << c.completed.load() << '\n'
    << "streamgate_streams_total{outcome=\"cancelled\"} " << c.cancelled.load() << '\n'
    << "streamgate_streams_total{outcome=\"failed\"} " << c.failed.load() << '\n';
  metric(o, "streamgate_chunks_total", "counter", "Text deltas produced by providers.", double(c.chunks));
  metric(o, "streamgate_events_sent_total", "counter", "Events written to clients.", double(s.events_sent));
  metric(o, "streamgate_merged_chunks_total", "counter", "Chunks merged into a lagging client's queued chunk.",
         double(s.merged_chunks));
  metric(o, "streamgate_slow_client_closes_total", "counter", "Clients closed for exceeding the outbound cap.",
         double(s.slow_closes));
  metric(o, "streamgate_bad_messages_total", "counter", "Client messages answered with an error.",
         double(s.bad_messages));
  o << "# HELP streamgate_rate_limited_total Requests refused by a rate limit or quota.\n"
    << "# TYPE streamgate_rate_limited_total counter\n"
    << "streamgate_rate_limited_total{limit=\"connections\"} " << s.rate_limited_connections.load() << '\n'
    << "streamgate_rate_limited_total{limit=\"stream_starts\"} " << c.rate_limited_starts.load() << '\n'
    << "streamgate_rate_limited_total{limit=\"concurrent_streams\"} " << c.rate_limited_concurrency.load() << '\n'
    << "streamgate_rate_limited_total{limit=\"tokens\"} " << c.rate_limited_tokens.load() << '\n';
  metric(o, "streamgate_auth_failures_total", "counter", "Requests refused for a missing or bad token.",
         double(s.auth_failures));
  metric(o, "streamgate_origin_refusals_total", "counter", "Requests refused for their Origin.",
         double(s.origin_refusals));
  metric(o, "streamgate_admin_refusals_total", "counter", "Management API calls refused.", double(s.admin_refusals));
  metric(o, "streamgate_outbound_queue_bytes", "gauge", "Bytes queued for clients, all connections.",
         double(s.outbound_bytes.load()));
  c.ttft.render(o, "streamgate_time_to_first_token_seconds", "Stream start to its first text delta.");
  c.inter_chunk.render(o, "streamgate_inter_chunk_seconds", "Time between consecutive deltas of a stream.");
  s.chunk_lateness.render(o, "streamgate_chunk_lateness_seconds",
                          "A chunk written to its socket minus when the provider's schedule made it due (demo).");
  s.event_loop_lag.render(o, "streamgate_event_loop_lag_seconds",
                          "How long after its tick an I/O thread's pacing timer ran: the thread's wake-up and "
                          "the work ahead of it (recorded while streams are paced: demo).");
  a.store->op_latency().render(o, "streamgate_store_op_seconds", "Duration of each store operation (SQLite, or PostgreSQL with its round trips).");
  o << "# HELP streamgate_upstream_requests_total Requests sent to model providers.\n"
    << "# TYPE streamgate_upstream_requests_total counter\n";
  for (auto& [p, n] : a.streams->upstream().requests())
    o << "streamgate_upstream_requests_total{provider=\"" << p << "\"} " << n << '\n';
  o << "# HELP streamgate_upstream_errors_total Streams that failed, by provider and error code.\n"
    << "# TYPE streamgate_upstream_errors_total counter\n";
  for (auto& [p, code, n] : a.streams->upstream().errors())
    o << "streamgate_upstream_errors_total{provider=\"" << p << "\",code=\"" << code << "\"} " << n << '\n';
  if (a.routes) a.routes->render_metrics(o);
  metric(o, "streamgate_store_last_op_seconds", "gauge", "Duration of the last store operation.",
         double(a.store->last_op_us()) / 1e6);
  return o.str();
}

}  // namespace sg::gateway
