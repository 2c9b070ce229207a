// The Redis keys and channels of cluster mode, in one place (docs/cluster.md lists them).
// A stream's keys share the hash tag {streamId}, so on a Redis Cluster they live on one shard; a
// node's keys share {nodeId}, so that one script can check its heartbeat and take its streams.
#pragma once

#include <string>
#include <string_view>

namespace sg::cluster::keys {

/// Redis Stream of the stream's events: entry id 0-<seq>, one field `e` holding the frame.
inline std::string log(std::string_view stream_id) { return "sg:{" + std::string(stream_id) + "}:log"; }
/// Hash: node, owner, project, provider, state (running | ended), lastSeq.
inline std::string meta(std::string_view stream_id) { return "sg:{" + std::string(stream_id) + "}:meta"; }
/// Pub/Sub channel of the stream's live events: "<seq> <frame>".
inline std::string events(std::string_view stream_id) { return "sg:{" + std::string(stream_id) + "}:ev"; }
/// The node's heartbeat: present while the node lives (PX node-ttl-ms), its value a JSON summary.
inline std::string node(std::string_view node_id) { return "sg:node:{" + std::string(node_id) + "}"; }
/// Set of every node that has joined and not yet left or been reaped.
inline constexpr std::string_view nodes = "sg:nodes";
/// Set of the streams a node is generating.
inline std::string node_streams(std::string_view node_id) { return node(node_id) + ":streams"; }
/// Set of the streams another node ended when it took this one for dead: read and deleted by the
/// node at its next heartbeat, if it lives after all.
inline std::string node_reaped(std::string_view node_id) { return node(node_id) + ":reaped"; }
/// Set of the WebSocket connections a node holds.
inline std::string node_connections(std::string_view node_id) { return node(node_id) + ":conns"; }
/// Pub/Sub channel of requests to a node: cancel a stream, send to or close a connection.
inline std::string control(std::string_view node_id) { return "sg:ctl:" + std::string(node_id); }
/// Held by the node that ends a dead node's streams, so only one does.
inline std::string reaping(std::string_view node_id) { return "sg:reap:{" + std::string(node_id) + "}"; }

/// Hash per WebSocket connection (the connection table): node, sourceIp, userAgent, sub,
/// connectedAt, lastActiveAt; its TTL is pushed forward while the connection lives.
inline std::string connection(std::string_view connection_id) { return "sg:conn:" + std::string(connection_id); }

/// The limits' keys (cluster/limits.cpp): sg:lim:{LIMIT_KEY}:starts | streams | tokens | req:…

}  // namespace sg::cluster::keys
