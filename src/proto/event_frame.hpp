// An event rebuilt from the frame it was sent as: how a node replays a stream another node generated.
#pragma once

#include "proto/event.hpp"

#include <string>

namespace sg::proto {

/// Parses a stream event's JSON frame (as make_* wrote it) back into an event whose `json` is that
/// frame, byte for byte, with the fields merging and replay use (type, streamId, seq, content,
/// sessionId, dueUs). Null when the frame is not a stream event.
event_ptr parse_event_frame(std::string frame);

}  // namespace sg::proto
