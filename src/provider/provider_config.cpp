// Provider tables and environment conventions into settings, then protocols on one shared HTTP client.
#include "provider/provider_config.hpp"

#include "core/log.hpp"
#include "provider/anthropic/anthropic_protocol.hpp"
#include "provider/backend/backend_protocol.hpp"
#include "provider/bedrock/bedrock_protocol.hpp"
#include "provider/demo/demo_provider.hpp"
#include "provider/ollama/ollama_protocol.hpp"
#include "provider/openai/openai_protocol.hpp"
#include "provider/upstream_provider.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

namespace sg::provider {
namespace {

const char* const kinds[] = {"openai", "anthropic", "bedrock", "ollama"};

bool is_kind(std::string_view k) {
  return std::find(std::begin(kinds), std::end(kinds), k) != std::end(kinds);
}

std::string env_or(const env_map& env, std::initializer_list<const char*> names, std::string otherwise = {}) {
  for (auto* n : names)
    if (auto it = env.find(n); it != env.end() && !it->second.empty()) return it->second;
  return otherwise;
}

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::ostringstream o;
  o << in.rdbuf();
  return o.str();
}

// AWS credentials: the environment's keys, else a profile of the shared credentials file.
// A profile or credentials file named in the config wins over the environment, as in the SDKs.
void resolve_aws(provider_settings& s, const env_map& env, std::string profile, std::string file) {
  if (!s.access_key_id.empty()) return;
  auto id = env_or(env, {"AWS_ACCESS_KEY_ID"});
  auto secret = env_or(env, {"AWS_SECRET_ACCESS_KEY"});
  bool configured = !profile.empty() || !file.empty();
  if (!configured && !id.empty() && !secret.empty()) {
    s.access_key_id = id;
    s.secret_access_key = secret;
    s.session_token = env_or(env, {"AWS_SESSION_TOKEN"});
    return;
  }
  if (profile.empty()) profile = env_or(env, {"AWS_PROFILE"}, "default");
  if (file.empty()) file = env_or(env, {"AWS_SHARED_CREDENTIALS_FILE"});
  if (file.empty()) {
    auto home = env_or(env, {"HOME"});
    if (!home.empty()) file = home + "/.aws/credentials";
  }
  if (file.empty()) return;
  if (auto keys = parse_aws_credentials(read_file(file), profile)) {
    s.access_key_id = (*keys)[0];
    s.secret_access_key = (*keys)[1];
    s.session_token = (*keys)[2];
  }
}

void apply_env_defaults(provider_settings& s, const env_map& env) {
  if (s.kind == "openai") {
    if (s.base_url.empty()) s.base_url = env_or(env, {"OPENAI_BASE_URL"}, "https://api.openai.com/v1");
    if (s.api_key_env.empty()) s.api_key_env = "OPENAI_API_KEY";
  } else if (s.kind == "anthropic") {
    if (s.base_url.empty()) s.base_url = env_or(env, {"ANTHROPIC_BASE_URL"}, "https://api.anthropic.com");
    if (s.api_key_env.empty()) s.api_key_env = "ANTHROPIC_API_KEY";
  } else if (s.kind == "ollama") {
    if (s.base_url.empty()) s.base_url = ollama::base_url_from_host(env_or(env, {"OLLAMA_HOST"}));
  } else if (s.kind == "bedrock") {
    if (s.region.empty()) s.region = env_or(env, {"AWS_REGION", "AWS_DEFAULT_REGION"});
    if (s.base_url.empty())
      s.base_url = env_or(env, {"STREAMGATE_BEDROCK_ENDPOINT", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "AWS_ENDPOINT_URL"});
  }
  if (!s.api_key_env.empty() && s.api_key.empty()) s.api_key = env_or(env, {s.api_key_env.c_str()});
}

provider_settings convention(std::string_view kind, const env_map& env) {
  provider_settings s;
  s.name = std::string(kind);
  s.kind = s.name;
  if (kind == "openai") s.default_model = env_or(env, {"OPENAI_MODEL"}, "gpt-4o-mini");
  else if (kind == "anthropic") s.default_model = env_or(env, {"ANTHROPIC_MODEL"}, "claude-3-5-haiku-latest");
  else if (kind == "bedrock") s.default_model = env_or(env, {"BEDROCK_MODEL_ID"}, "anthropic.claude-3-5-haiku-20241022-v1:0");
  else if (kind == "ollama") s.default_model = env_or(env, {"OLLAMA_MODEL"}, "llama3.2");
  apply_env_defaults(s, env);
  if (kind == "bedrock") resolve_aws(s, env, {}, {});
  return s;
}

template <class T>
std::optional<T> get(const toml::table& t, const std::string& where, const char* key) {
  auto* n = t.get(key);
  if (!n) return std::nullopt;
  if constexpr (std::is_same_v<T, std::string>) {
    if (auto v = n->value<std::string>()) return *v;
  } else {
    if (auto v = n->value<std::int64_t>(); v && *v >= 0) return static_cast<T>(*v);
  }
  throw std::invalid_argument("config: " + where + "." + key + " has the wrong type");
}

provider_settings from_table(const std::string& name, const toml::table& t, const env_map& env) {
  std::string where = "providers." + name;
  static const char* const known[] = {"kind", "type", "base_url", "endpoint", "url", "api_key_env", "default_model",
                                      "allowed_models", "max_tokens", "max_retries", "retry_base_ms",
                                      "max_retry_wait_ms", "timeout_ms", "connect_timeout_ms", "first_byte_timeout_ms",
                                      "idle_timeout_ms", "headers", "region", "profile", "credentials_file", "api"};
  for (auto& [k, v] : t)
    if (std::find_if(std::begin(known), std::end(known), [&](const char* x) { return k.str() == x; }) == std::end(known))
      throw std::invalid_argument("config: unknown key " + where + "." + std::string(k.str()));
  provider_settings s;
  s.name = name;
  s.configured = true;
  auto kind = get<std::string>(t, where, "kind");
  auto type = get<std::string>(t, where, "type");  // the same key under the name the backend docs use
  if (kind && type && *kind != *type)
    throw std::invalid_argument("config: " + where + " names two kinds: kind = \"" + *kind + "\", type = \"" + *type + "\"");
  s.kind = kind ? *kind : type ? *type : is_kind(name) ? name : "";
  if (!is_kind(s.kind) && s.kind != "http")
    throw std::invalid_argument("config: " + where + (type && !kind ? ".type" : ".kind") +
                                " must be http, openai, anthropic, bedrock or ollama");
  s.base_url = get<std::string>(t, where, "base_url")
                   .value_or(get<std::string>(t, where, "endpoint").value_or(get<std::string>(t, where, "url").value_or("")));
  if (s.kind == "http") {
    s.base_url = backend::substitute_env(s.base_url, env, where + ".url");
    if (s.base_url.empty()) throw std::invalid_argument("config: " + where + ".url is required for type = \"http\"");
    // A team's backend may not be safe to call twice for one question: retries only when asked for.
    s.max_retries = 0;
    s.limits = {std::chrono::milliseconds(30'000), std::chrono::milliseconds(30'000), std::chrono::milliseconds(30'000)};
  }
  if (auto* h = t.get("headers")) {
    auto* ht = h->as_table();
    if (!ht) throw std::invalid_argument("config: " + where + ".headers must be a table of strings");
    if (s.kind != "http") throw std::invalid_argument("config: " + where + ".headers is only for type = \"http\"");
    for (auto& [k, v] : *ht) {
      auto value = v.value<std::string>();
      auto key = std::string(k.str());
      if (!value) throw std::invalid_argument("config: " + where + ".headers." + key + " must be a string");
      auto text = backend::substitute_env(*value, env, where + ".headers." + key);
      auto bad = [](const std::string& x) { return x.find_first_of("\r\n") != std::string::npos; };
      if (key.empty() || bad(key) || bad(text) || key.find_first_of(" :") != std::string::npos)
        throw std::invalid_argument("config: " + where + ".headers." + key + " is not a valid header");
      s.headers.emplace_back(key, std::move(text));
    }
  }
  if (auto v = get<std::int64_t>(t, where, "timeout_ms"))
    s.limits = {std::chrono::milliseconds(*v), std::chrono::milliseconds(*v), std::chrono::milliseconds(*v)};
  s.api_key_env = get<std::string>(t, where, "api_key_env").value_or("");
  s.default_model = get<std::string>(t, where, "default_model").value_or("");
  if (auto* a = t.get("allowed_models")) {
    auto* arr = a->as_array();
    if (!arr) throw std::invalid_argument("config: " + where + ".allowed_models must be an array of strings");
    for (auto& m : *arr) {
      auto v = m.value<std::string>();
      if (!v) throw std::invalid_argument("config: " + where + ".allowed_models must be an array of strings");
      s.allowed_models.push_back(*v);
    }
  }
  if (auto v = get<std::uint32_t>(t, where, "max_tokens")) s.max_tokens = *v;
  if (auto v = get<int>(t, where, "max_retries")) s.max_retries = *v;
  if (auto v = get<std::int64_t>(t, where, "retry_base_ms")) s.retry_base_ms = *v;
  if (auto v = get<std::int64_t>(t, where, "max_retry_wait_ms")) s.max_retry_wait_ms = *v;
  if (auto v = get<std::int64_t>(t, where, "connect_timeout_ms")) s.limits.connect = std::chrono::milliseconds(*v);
  if (auto v = get<std::int64_t>(t, where, "first_byte_timeout_ms")) s.limits.first_byte = std::chrono::milliseconds(*v);
  if (auto v = get<std::int64_t>(t, where, "idle_timeout_ms")) s.limits.idle = std::chrono::milliseconds(*v);
  s.region = get<std::string>(t, where, "region").value_or("");
  s.bedrock_api = get<std::string>(t, where, "api").value_or("auto");
  apply_env_defaults(s, env);
  if (s.kind == "bedrock")
    resolve_aws(s, env, get<std::string>(t, where, "profile").value_or(""),
                get<std::string>(t, where, "credentials_file").value_or(""));
  if (s.kind == "ollama" && s.base_url.empty()) s.base_url = ollama::base_url_from_host({});
  return s;
}

std::unique_ptr<protocol> make_protocol(const provider_settings& s) {
  if (s.kind == "http") return std::make_unique<backend::backend_protocol>(s);
  if (s.kind == "openai") return std::make_unique<openai::openai_protocol>(s);
  if (s.kind == "anthropic") return std::make_unique<anthropic::anthropic_protocol>(s);
  if (s.kind == "bedrock") return std::make_unique<bedrock::bedrock_protocol>(s);
  return std::make_unique<ollama::ollama_protocol>(s);
}

}  // namespace

env_map environment_map(char** envp) {
  env_map out;
  for (char** e = envp; e && *e; ++e) {
    const char* eq = std::strchr(*e, '=');
    if (eq) out.emplace(std::string(*e, static_cast<std::size_t>(eq - *e)), eq + 1);
  }
  return out;
}

std::optional<model_catalog::route> model_catalog::resolve(std::string_view model) const {
  auto find = [&](std::string_view name) -> const entry* {
    for (auto& e : entries_)
      if (e.provider == name) return &e;
    return nullptr;
  };
  if (model.empty()) return route{default_provider_, {}};
  if (auto* e = find(model)) return route{e->provider, {}};
  if (auto slash = model.find('/'); slash != std::string_view::npos)
    if (auto* e = find(model.substr(0, slash)); e && e->kind != "demo") {
      auto m = std::string(model.substr(slash + 1));
      if (e->allowed_models.empty() || std::count(e->allowed_models.begin(), e->allowed_models.end(), m))
        return route{e->provider, m};
      return std::nullopt;
    }
  auto named = [&](const entry& e) {
    return e.default_model == model || std::count(e.allowed_models.begin(), e.allowed_models.end(), model);
  };
  if (auto* d = find(default_provider_); d && named(*d)) return route{d->provider, std::string(model)};
  for (auto& e : entries_)
    if (named(e)) return route{e.provider, std::string(model)};
  if (auto* d = find(default_provider_); d && d->kind != "demo" && d->allowed_models.empty())
    return route{d->provider, std::string(model)};
  return std::nullopt;
}

std::vector<std::string> model_catalog::model_ids() const {
  std::vector<std::string> out;
  for (auto& e : entries_) {
    out.push_back(e.provider);
    if (e.kind == "demo") continue;
    auto models = e.allowed_models;
    if (!e.default_model.empty() && !std::count(models.begin(), models.end(), e.default_model))
      models.insert(models.begin(), e.default_model);
    for (auto& m : models) out.push_back(e.provider + "/" + m);
  }
  return out;
}

std::optional<std::vector<std::string>> parse_aws_credentials(std::string_view text, std::string_view profile) {
  std::string section;
  std::string id, secret, token;
  bool found = false;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    auto nl = text.find('\n', pos);
    auto line = trim(text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos));
    pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[' && line.back() == ']') {
      section = trim(std::string_view(line).substr(1, line.size() - 2));
      if (section.rfind("profile ", 0) == 0) section = trim(std::string_view(section).substr(8));
      if (section == profile) found = true;
      continue;
    }
    if (section != profile) continue;
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    auto k = trim(std::string_view(line).substr(0, eq));
    auto v = trim(std::string_view(line).substr(eq + 1));
    if (k == "aws_access_key_id") id = v;
    else if (k == "aws_secret_access_key") secret = v;
    else if (k == "aws_session_token") token = v;
  }
  if (!found || id.empty() || secret.empty()) return std::nullopt;
  return std::vector<std::string>{id, secret, token};
}

std::vector<provider_settings> load_provider_settings(const std::string& config_file, const env_map& env) {
  std::vector<provider_settings> out;
  if (!config_file.empty()) {
    toml::table tbl;
    try {
      tbl = toml::parse_file(config_file);
    } catch (const toml::parse_error& e) {
      std::ostringstream o;
      o << "config " << config_file << ":" << e.source().begin.line << ": " << e.description();
      throw std::invalid_argument(o.str());
    }
    if (auto* ps = tbl.get("providers")) {
      auto* t = ps->as_table();
      if (!t) throw std::invalid_argument("config: [providers] must be a table of tables");
      for (auto& [name, node] : *t) {
        auto* pt = node.as_table();
        if (!pt) throw std::invalid_argument("config: providers." + std::string(name.str()) + " must be a table");
        if (name.str() == "demo") throw std::invalid_argument("config: 'demo' is built in; use [demo] for its pace");
        out.push_back(from_table(std::string(name.str()), *pt, env));
      }
    }
  }
  for (auto* k : kinds) {
    if (std::any_of(out.begin(), out.end(), [&](auto& s) { return s.name == k; })) continue;
    auto s = convention(k, env);
    if (s.kind == "bedrock" && s.region.empty()) continue;  // no region, no Bedrock (unless configured)
    out.push_back(std::move(s));
  }
  return out;
}

provider_set build_providers(const core::config& cfg, const env_map& env) {
  provider_set set;
  auto settings = load_provider_settings(cfg.config_file, env);
  auto client = std::make_shared<httpc::client>(httpc::options_from_env(env));
  std::vector<model_catalog::entry> entries{{"demo", "demo", "", {}}};
  set.providers["demo"] = std::make_shared<demo::demo_provider>(cfg.demo_ttft_ms, cfg.demo_tokens_per_second);
  // Only what the operator chose is callable: a [providers.*] table, the default provider, or a name in
  // --enable-providers. An API key that happens to be in the environment enables nothing by itself.
  std::set<std::string> enabled{cfg.provider};
  for (std::string_view list = cfg.enable_providers; !list.empty();) {
    auto comma = list.find(',');
    auto item = list.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) enabled.emplace(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  std::erase_if(settings, [&](const provider_settings& s) { return !s.configured && !enabled.count(s.name); });
  for (auto& name : enabled)
    if (name != "demo" && std::none_of(settings.begin(), settings.end(), [&](auto& s) { return s.name == name; }) &&
        name != cfg.provider)
      throw std::invalid_argument("--enable-providers: unknown provider '" + name + "'");
  for (auto& s : settings) {
    if (s.kind == "bedrock" && s.access_key_id.empty())
      core::log_warn("no AWS credentials for provider", {{"provider", s.name}});
    entries.push_back({s.name, s.kind, s.default_model, s.allowed_models});
    auto p = make_protocol(s);
    auto name = s.name;  // the right side of = is evaluated first and moves s
    set.providers[name] = std::make_shared<upstream_provider>(std::move(s), std::move(p), client);
  }
  if (!set.providers.count(cfg.provider)) {
    std::string names;
    for (auto& [n, p] : set.providers) names += (names.empty() ? "" : ", ") + n;
    std::string hint = cfg.provider == "bedrock" ? " (bedrock needs a region: AWS_REGION or [providers.bedrock] region)" : "";
    throw std::invalid_argument("unknown provider '" + cfg.provider + "'" + hint + "; known: " + names);
  }
  set.catalog = std::make_shared<model_catalog>(cfg.provider, std::move(entries));
  return set;
}

}  // namespace sg::provider
