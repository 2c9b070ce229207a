// Which providers exist: [providers.NAME] tables of the TOML config, plus the official SDKs' environment conventions.
#pragma once

#include "core/config.hpp"
#include "provider/protocol.hpp"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sg::provider {

using env_map = std::map<std::string, std::string>;

/// The process environment as a map; call at start-up.
env_map environment_map(char** envp);

/// Models and the provider that serves each, for the OpenAI-compatible surface. Immutable, thread-safe.
class model_catalog {
 public:
  struct entry {
    std::string provider;
    std::string kind;
    std::string default_model;
    std::vector<std::string> allowed_models;
  };
  struct route {
    std::string provider;
    std::string model;  ///< empty: the provider's default
  };

  model_catalog(std::string default_provider, std::vector<entry> entries)
      : default_provider_(std::move(default_provider)), entries_(std::move(entries)) {}

  /// "demo", "NAME" (its default model), "NAME/MODEL", a model some provider allows or defaults to,
  /// else the default provider when it accepts any model; nullopt when nothing serves `model`.
  std::optional<route> resolve(std::string_view model) const;
  /// The ids GET /v1/models lists.
  std::vector<std::string> model_ids() const;
  const std::vector<entry>& entries() const { return entries_; }
  const std::string& default_provider() const { return default_provider_; }

 private:
  std::string default_provider_;
  std::vector<entry> entries_;
};

/// Parses an AWS shared credentials file (INI) and returns `profile`'s keys; pure.
std::optional<std::vector<std::string>> parse_aws_credentials(std::string_view text, std::string_view profile);

/// The settings of every upstream provider: the config file's tables first, then, for each built-in
/// name (openai, anthropic, bedrock, ollama) the file does not define, the SDK conventions of `env`.
/// Reads files (the config, ~/.aws/credentials): start-up only. Throws std::invalid_argument.
std::vector<provider_settings> load_provider_settings(const std::string& config_file, const env_map& env);

struct provider_set {
  std::map<std::string, std::shared_ptr<provider>> providers;  ///< always holds "demo"
  std::shared_ptr<const model_catalog> catalog;
};

/// Builds every provider on one shared HTTP client; `cfg.provider` must name one of them.
/// Start-up only; throws std::invalid_argument with a message fit for the user.
provider_set build_providers(const core::config& cfg, const env_map& env);

}  // namespace sg::provider
