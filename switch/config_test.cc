#include "switch/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace kytkin {
namespace {

using Args = std::vector<std::string_view>;

Result<ServeOptions> FromFlags(const Args& args) { return ServeOptionsFromFlags(args); }

TEST(ConfigTest, EmbeddedDefaults) {
  Result<ServeOptions> o = FromFlags({});
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->data_dir, "./data");
  ASSERT_EQ(o->iso_listeners.size(), 1u);
  EXPECT_EQ(o->iso_listeners[0].listen.ToString(), "0.0.0.0:8583");
  EXPECT_EQ(o->iso_listeners[0].dialect, "iso87-ascii");
  EXPECT_EQ(o->iso_listeners[0].framing, Framing::kBinary2);
  EXPECT_EQ(o->grpc.listen.ToString(), "0.0.0.0:50051");
  EXPECT_EQ(o->http.listen.ToString(), "0.0.0.0:8080");
  EXPECT_FALSE(o->demo);
  EXPECT_EQ(o->threads, 0u);
  EXPECT_GE(o->EffectiveThreads(), 1u);
}

TEST(ConfigTest, ParseHostPort) {
  Result<HostPort> a = ParseHostPort("127.0.0.1:0");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 0);
  Result<HostPort> b = ParseHostPort("[::1]:65535");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->host, "::1");
  EXPECT_EQ(b->port, 65535);
  EXPECT_EQ(b->ToString(), "[::1]:65535");
  Result<HostPort> c = ParseHostPort(":8583");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->host, "0.0.0.0");
  EXPECT_FALSE(ParseHostPort("localhost").ok());
  EXPECT_FALSE(ParseHostPort("host:65536").ok());
  EXPECT_FALSE(ParseHostPort("host:").ok());
  EXPECT_FALSE(ParseHostPort("host:12x").ok());
  EXPECT_FALSE(ParseHostPort("::1:80").ok());
}

TEST(ConfigTest, FullTomlDocument) {
  constexpr std::string_view kText = R"(
data_dir = "/var/lib/kytkin"
threads = 3
demo = true

[[iso_listener]]
name = "shops"
listen = "127.0.0.1:9583"
dialect = "iso87-hex"
framing = "ascii4"
connections_max = 10
idle_timeout_ms = 1000
frame_bytes_max = 2048
in_flight_max = 8

[[iso_listener]]
listen = "127.0.0.1:9584"

[grpc]
listen = "127.0.0.1:50052"
message_bytes_max = 65536

[http]
listen = "127.0.0.1:8081"
body_bytes_max = 100
request_timeout_ms = 500
connections_max = 5

[ledger]
group_commit_records_max = 64
sync = false
hold_expiry_s = 3600
dedupe_window_entries = 65536

[authorization]
pinless_limit_minor_default = 2500
[authorization.pinless_limit_minor_by_mcc]
"5411" = 10000
"5812" = 0
)";
  Result<ServeOptions> o = ParseServeToml(kText, "test.toml");
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->data_dir, "/var/lib/kytkin");
  EXPECT_EQ(o->threads, 3u);
  EXPECT_TRUE(o->demo);
  ASSERT_EQ(o->iso_listeners.size(), 2u);
  const IsoListenerOptions& l = o->iso_listeners[0];
  EXPECT_EQ(l.name, "shops");
  EXPECT_EQ(l.listen.ToString(), "127.0.0.1:9583");
  EXPECT_EQ(l.dialect, "iso87-hex");
  EXPECT_EQ(l.framing, Framing::kAscii4);
  EXPECT_EQ(l.connections_max, 10u);
  EXPECT_EQ(l.idle_timeout_ms, 1000u);
  EXPECT_EQ(l.frame_bytes_max, 2048u);
  EXPECT_EQ(l.in_flight_max, 8u);
  EXPECT_EQ(o->iso_listeners[1].name, "pos2");  // defaults for the second listener
  EXPECT_EQ(o->iso_listeners[1].framing, Framing::kBinary2);
  EXPECT_EQ(o->grpc.listen.port, 50052);
  EXPECT_EQ(o->grpc.message_bytes_max, 65536u);
  EXPECT_EQ(o->http.listen.port, 8081);
  EXPECT_EQ(o->http.body_bytes_max, 100u);
  EXPECT_EQ(o->http.request_timeout_ms, 500u);
  EXPECT_EQ(o->http.connections_max, 5u);
  EXPECT_EQ(o->ledger.group_commit_records_max, 64u);
  EXPECT_FALSE(o->ledger.sync);
  EXPECT_EQ(o->ledger.hold_expiry_s, 3600u);
  EXPECT_EQ(o->ledger.dedupe_window_entries, 65536u);
  EXPECT_EQ(o->authorization.pinless_limit_minor_default, 2500);
  EXPECT_EQ(o->authorization.pinless_limit_minor_by_mcc.at("5411"), 10000);
  EXPECT_EQ(o->authorization.pinless_limit_minor_by_mcc.at("5812"), 0);
  EXPECT_TRUE(ValidateServeOptions(*o).ok());
}

// Each bad document must fail with a message naming the key.
TEST(ConfigTest, BadTomlNamesTheKey) {
  struct Case {
    std::string_view text;
    std::string_view expected;
  };
  const Case cases[] = {
      {"data_dirr = \"x\"", "data_dirr: unknown key"},
      {"threads = \"two\"", "threads: must be a non-negative integer"},
      {"threads = -1", "threads: must be a non-negative integer"},
      {"demo = 1", "demo: must be true or false"},
      {"[http]\nlisten = \"nope\"", "http.listen: 'nope' is not HOST:PORT"},
      {"[http]\nport = 80", "http.port: unknown key"},
      {"[grpc]\nlisten = 50051", "grpc.listen: must be a \"HOST:PORT\" string"},
      {"grpc = 1", "grpc: must be a table"},
      {"[[iso_listener]]\nframing = \"bcd\"", "iso_listener[0].framing: must be"},
      {"[[iso_listener]]\n[[iso_listener]]\nmax_connections = 3",
       "iso_listener[1].max_connections: unknown key"},
      {"[iso_listener]\nname = \"x\"", "iso_listener: must be an array of tables"},
      {"[ledger]\nsync = \"yes\"", "ledger.sync: must be true or false"},
      {"[ledger]\ndedupe_window_entries = -1",
       "ledger.dedupe_window_entries: must be a non-negative integer"},
      {"[ledger]\ndedupe_window = 5", "ledger.dedupe_window: unknown key"},
      {"[authorization.pinless_limit_minor_by_mcc]\n\"54\" = 1",
       "authorization.pinless_limit_minor_by_mcc.54: a merchant category code"},
      {"[authorization.pinless_limit_minor_by_mcc]\n\"5411\" = -5",
       "authorization.pinless_limit_minor_by_mcc.5411: must be a non-negative"},
      {"[authorization]\npinless = 1", "authorization.pinless: unknown key"},
      {"this is not toml", "test.toml:1:"},
  };
  for (const Case& c : cases) {
    Result<ServeOptions> o = ParseServeToml(c.text, "test.toml");
    ASSERT_FALSE(o.ok()) << c.text;
    EXPECT_NE(o.status().message().find(c.expected), std::string_view::npos)
        << c.text << " -> " << o.status().message();
  }
}

TEST(ConfigTest, ValidationNamesTheField) {
  struct Case {
    void (*mutate)(ServeOptions&);
    std::string_view expected;
  };
  const Case cases[] = {
      {[](ServeOptions& o) { o.iso_listeners[0].in_flight_max = 0; },
       "iso_listener[0].in_flight_max: 0 is out of range 1..4096"},
      {[](ServeOptions& o) { o.iso_listeners[0].in_flight_max = 4097; },
       "iso_listener[0].in_flight_max: 4097"},
      {[](ServeOptions& o) { o.iso_listeners[0].frame_bytes_max = 63; },
       "iso_listener[0].frame_bytes_max"},
      {[](ServeOptions& o) {
         o.iso_listeners[0].framing = Framing::kAscii4;
         o.iso_listeners[0].frame_bytes_max = 10000;
       },
       "iso_listener[0].frame_bytes_max: 10000 is out of range 64..9999"},
      {[](ServeOptions& o) { o.iso_listeners[0].framing = Framing::kNone; },
       "iso_listener[0].framing"},
      {[](ServeOptions& o) { o.iso_listeners[0].connections_max = 0; },
       "iso_listener[0].connections_max"},
      {[](ServeOptions& o) { o.iso_listeners.push_back(o.iso_listeners[0]); },
       "iso_listener[1].name: 'pos' is empty or not unique"},
      {[](ServeOptions& o) { o.iso_listeners.clear(); }, "iso_listener: at least one"},
      {[](ServeOptions& o) { o.threads = 257; }, "threads: 257"},
      {[](ServeOptions& o) { o.http.request_timeout_ms = 99; }, "http.request_timeout_ms"},
      {[](ServeOptions& o) { o.ledger.group_commit_records_max = 0; },
       "ledger.group_commit_records_max"},
      {[](ServeOptions& o) { o.ledger.hold_expiry_s = 59; }, "ledger.hold_expiry_s"},
      {[](ServeOptions& o) { o.ledger.dedupe_window_entries = 4'194'305; },
       "ledger.dedupe_window_entries: 4194305 is out of range 0..4194304"},
      {[](ServeOptions& o) { o.data_dir.clear(); }, "data_dir"},
  };
  for (const Case& c : cases) {
    ServeOptions o;
    c.mutate(o);
    Status s = ValidateServeOptions(o);
    ASSERT_FALSE(s.ok()) << c.expected;
    EXPECT_NE(s.message().find(c.expected), std::string_view::npos) << s.message();
  }
  // The limits themselves are accepted (limit, not limit + 1).
  ServeOptions edge;
  edge.iso_listeners[0].in_flight_max = 4096;
  edge.iso_listeners[0].frame_bytes_max = 65535;
  edge.threads = 256;
  edge.ledger.dedupe_window_entries = 4'194'304;
  EXPECT_TRUE(ValidateServeOptions(edge).ok());
}

class ConfigFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        std::filesystem::temp_directory_path() /
        ("kytkin_config_test_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
         "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Write(std::string_view text) {
    const std::string path = (dir_ / "kytkin.toml").string();
    std::ofstream(path) << text;
    return path;
  }
  std::filesystem::path dir_;
};

TEST_F(ConfigFileTest, FlagsOverrideTheFile) {
  const std::string path = Write(
      "data_dir = \"/from/file\"\nthreads = 4\n[http]\nlisten = \"127.0.0.1:1\"\n"
      "[grpc]\nlisten = \"127.0.0.1:2\"\n");
  // --config comes last on the line but still applies first.
  Result<ServeOptions> o =
      FromFlags({"--data-dir", "/from/flag", "--http-listen=127.0.0.1:0", "--threads", "2",
                 "--iso-listen", "127.0.0.1:0", "--demo", "--config", path});
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->data_dir, "/from/flag");
  EXPECT_EQ(o->http.listen.ToString(), "127.0.0.1:0");
  EXPECT_EQ(o->grpc.listen.ToString(), "127.0.0.1:2");  // from the file
  EXPECT_EQ(o->iso_listeners[0].listen.ToString(), "127.0.0.1:0");
  EXPECT_EQ(o->threads, 2u);
  EXPECT_TRUE(o->demo);
}

TEST_F(ConfigFileTest, BadFlagsNameTheFlag) {
  struct Case {
    Args args;
    std::string_view expected;
  };
  const std::string bad_file = Write("[http]\nlisten = \"x\"\n");
  const Case cases[] = {
      {{"--nope"}, "unknown flag --nope"},
      {{"--data-dir"}, "--data-dir: needs a value"},
      {{"--demo=yes"}, "--demo: takes no value"},
      {{"--threads", "two"}, "--threads: 'two' is not a number"},
      {{"--threads", "999"}, "threads: 999 is out of range"},
      {{"--grpc-listen", "50051"}, "--grpc-listen: '50051' is not HOST:PORT"},
      {{"stray"}, "unexpected argument 'stray'"},
      {{"--config", "/nonexistent/kytkin.toml"}, "--config: cannot open"},
      {{"--config", bad_file}, "kytkin.toml:2: http.listen"},
  };
  for (const Case& c : cases) {
    Result<ServeOptions> o = FromFlags(c.args);
    ASSERT_FALSE(o.ok()) << c.expected;
    EXPECT_NE(o.status().message().find(c.expected), std::string_view::npos)
        << o.status().message();
  }
}

}  // namespace
}  // namespace kytkin
