// sgbench ttft: time to first token over several paths to one stamping fake upstream (see ttft.cpp).
#pragma once

namespace sg::tools {

/// `argv[1]` is "ttft"; prints the samples as JSON on stdout. Throws on a bad option or a failed request.
int run_ttft(int argc, char** argv);

}  // namespace sg::tools
