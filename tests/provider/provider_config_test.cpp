// Provider configuration: TOML tables, the SDKs' environment conventions, AWS profiles, the model catalog.
#include "local_server.hpp"
#include "provider/provider_config.hpp"
#include "provider/upstream_provider.hpp"

#include <gtest/gtest.h>

namespace sg::provider {
namespace {

const provider_settings* find(const std::vector<provider_settings>& v, std::string_view name) {
  for (auto& s : v)
    if (s.name == name) return &s;
  return nullptr;
}

TEST(ProviderConfig, ConventionsWithoutAConfigFile) {
  auto v = load_provider_settings("", {{"OPENAI_API_KEY", "sk-1"},
                                       {"OPENAI_BASE_URL", "http://127.0.0.1:9/v1"},
                                       {"ANTHROPIC_API_KEY", "ak"},
                                       {"OLLAMA_HOST", "0.0.0.0:7777"}});
  auto* o = find(v, "openai");
  ASSERT_TRUE(o);
  EXPECT_EQ(o->api_key, "sk-1");
  EXPECT_EQ(o->base_url, "http://127.0.0.1:9/v1");
  auto* a = find(v, "anthropic");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->base_url, "https://api.anthropic.com");
  EXPECT_EQ(a->api_key, "ak");
  EXPECT_EQ(find(v, "ollama")->base_url, "http://127.0.0.1:7777");
  EXPECT_FALSE(find(v, "bedrock")) << "no region, no Bedrock";
}

TEST(ProviderConfig, BedrockFromEnvironmentKeys) {
  auto v = load_provider_settings("", {{"AWS_REGION", "eu-west-1"},
                                       {"AWS_ACCESS_KEY_ID", "AKID"},
                                       {"AWS_SECRET_ACCESS_KEY", "SECRET"},
                                       {"AWS_SESSION_TOKEN", "TOKEN"},
                                       {"STREAMGATE_BEDROCK_ENDPOINT", "http://127.0.0.1:5"}});
  auto* b = find(v, "bedrock");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->region, "eu-west-1");
  EXPECT_EQ(b->access_key_id, "AKID");
  EXPECT_EQ(b->session_token, "TOKEN");
  EXPECT_EQ(b->base_url, "http://127.0.0.1:5");
}

TEST(ProviderConfig, AwsCredentialsProfiles) {
  std::string text = "[default]\naws_access_key_id = A1\naws_secret_access_key = S1\n\n"
                     "# comment\n[work]\naws_access_key_id=A2\naws_secret_access_key=S2\naws_session_token=T2\n";
  auto d = parse_aws_credentials(text, "default");
  ASSERT_TRUE(d);
  EXPECT_EQ((*d)[0], "A1");
  auto w = parse_aws_credentials(text, "work");
  ASSERT_TRUE(w);
  EXPECT_EQ((*w)[2], "T2");
  EXPECT_FALSE(parse_aws_credentials(text, "missing"));
  auto path = test::write_temp_file(text);
  auto v = load_provider_settings("", {{"AWS_REGION", "us-west-2"}, {"AWS_SHARED_CREDENTIALS_FILE", path},
                                       {"AWS_PROFILE", "work"}});
  std::remove(path.c_str());
  ASSERT_TRUE(find(v, "bedrock"));
  EXPECT_EQ(find(v, "bedrock")->access_key_id, "A2");
}

TEST(ProviderConfig, TomlTables) {
  auto path = test::write_temp_file(R"(
provider = "local"
[providers.local]
kind = "openai"
base_url = "http://127.0.0.1:8000/v1"
api_key_env = "LOCAL_KEY"
default_model = "qwen"
allowed_models = ["qwen", "llama"]
max_retries = 0
first_byte_timeout_ms = 1500

[providers.anthropic]
base_url = "http://127.0.0.1:8001"
max_tokens = 64

[providers.bedrock]
region = "us-east-1"
endpoint = "http://127.0.0.1:8002"
api = "converse"
)");
  auto v = load_provider_settings(path, {{"LOCAL_KEY", "k"}, {"ANTHROPIC_API_KEY", "ak"}, {"AWS_ACCESS_KEY_ID", "A"},
                                         {"AWS_SECRET_ACCESS_KEY", "S"}});
  auto* l = find(v, "local");
  ASSERT_TRUE(l);
  EXPECT_EQ(l->kind, "openai");
  EXPECT_EQ(l->api_key, "k");
  EXPECT_EQ(l->allowed_models, (std::vector<std::string>{"qwen", "llama"}));
  EXPECT_EQ(l->max_retries, 0);
  EXPECT_EQ(l->limits.first_byte, std::chrono::milliseconds(1500));
  auto* a = find(v, "anthropic");
  EXPECT_EQ(a->base_url, "http://127.0.0.1:8001");
  EXPECT_EQ(a->max_tokens, 64u);
  EXPECT_EQ(a->api_key, "ak");
  auto* b = find(v, "bedrock");
  EXPECT_EQ(b->bedrock_api, "converse");
  EXPECT_EQ(b->access_key_id, "A");
  EXPECT_TRUE(find(v, "openai")) << "built-in names still come from the environment";
  std::remove(path.c_str());
}

TEST(ProviderConfig, BadTablesAreStartUpErrors) {
  auto bad_kind = test::write_temp_file("[providers.x]\nkind = \"nope\"\n");
  EXPECT_THROW(load_provider_settings(bad_kind, {}), std::invalid_argument);
  auto bad_key = test::write_temp_file("[providers.openai]\nbase_urll = \"x\"\n");
  EXPECT_THROW(load_provider_settings(bad_key, {}), std::invalid_argument);
  std::remove(bad_kind.c_str());
  std::remove(bad_key.c_str());
}

TEST(ProviderConfig, UnknownDefaultProviderIsAStartUpError) {
  core::config cfg;
  cfg.provider = "nonesuch";
  EXPECT_THROW(build_providers(cfg, {}), std::invalid_argument);
  cfg.provider = "ollama";
  auto set = build_providers(cfg, {});
  EXPECT_TRUE(set.providers.count("demo"));
  EXPECT_TRUE(set.providers.count("ollama"));
  EXPECT_EQ(set.catalog->default_provider(), "ollama");
}

TEST(ModelCatalog, ResolvesNamesPrefixesAndAllowLists) {
  model_catalog c("openai", {{"demo", "demo", "", {}},
                             {"openai", "openai", "gpt-4o-mini", {}},
                             {"local", "openai", "qwen", {"qwen", "llama"}},
                             {"anthropic", "anthropic", "claude-x", {}}});
  auto r = c.resolve("demo");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->provider, "demo");
  r = c.resolve("anthropic/claude-y");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->provider, "anthropic");
  EXPECT_EQ(r->model, "claude-y");
  r = c.resolve("llama");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->provider, "local");
  EXPECT_FALSE(c.resolve("local/mistral"));
  r = c.resolve("gpt-4.1");
  ASSERT_TRUE(r) << "the default provider takes any model";
  EXPECT_EQ(r->provider, "openai");
  model_catalog demo_only("demo", {{"demo", "demo", "", {}}});
  EXPECT_FALSE(demo_only.resolve("gpt-4.1"));
  auto ids = c.model_ids();
  EXPECT_NE(std::find(ids.begin(), ids.end(), "local/llama"), ids.end());
  EXPECT_NE(std::find(ids.begin(), ids.end(), "openai/gpt-4o-mini"), ids.end());
}

}  // namespace
}  // namespace sg::provider
