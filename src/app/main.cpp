// streamgate's entry point: configuration, then the server. Wiring only.
#include "core/config.hpp"
#include "core/log.hpp"
#include "gateway/server.hpp"

#include <csignal>
#include <cstdio>
#include <exception>
#include <iostream>

extern char** environ;

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  sg::core::parse_outcome opts;
  try {
    opts = sg::core::load_config(argc, argv, environ);
    if (opts.show_help) {
      std::cout << sg::core::help_text();
      return 0;
    }
    if (opts.show_version) {
      std::cout << "streamgate 0.1.0\n";
      return 0;
    }
    sg::core::set_log_level(sg::core::parse_log_level(opts.cfg.log_level));
  } catch (const std::exception& e) {
    std::cerr << "streamgate: " << e.what() << "\n";
    return 2;
  }
  try {
    sg::gateway::server srv(opts.cfg);
    return srv.run();
  } catch (const std::exception& e) {
    sg::core::log_error("fatal", {{"error", e.what()}});
    return 1;
  }
}
