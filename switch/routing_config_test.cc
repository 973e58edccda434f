// [routing] and [[issuer_link]] in the serve configuration.
#include <gtest/gtest.h>

#include "switch/config.h"

namespace kytkin {
namespace {

Result<ServeOptions> Parse(std::string_view text) {
  Result<ServeOptions> o = ParseServeToml(text, "k.toml");
  if (!o.ok()) return o;
  KYTKIN_RETURN_IF_ERROR(ValidateServeOptions(*o));
  return o;
}

TEST(RoutingConfigTest, DefaultsRouteNothing) {
  Result<ServeOptions> o = Parse("");
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_TRUE(o->routing.table_file.empty());
  EXPECT_TRUE(o->issuer_links.empty());
  EXPECT_EQ(o->routing.saf_retry_initial_ms, 1000u);
  EXPECT_EQ(o->routing.saf_retry_max_ms, 60'000u);
  EXPECT_EQ(o->routing.saf_attempts_max, 10u);
  EXPECT_EQ(o->routing.online_terminal_id, "ONLINE");
}

TEST(RoutingConfigTest, LinksAndRouting) {
  Result<ServeOptions> o = Parse(R"(
[routing]
table_file = "routes.txt"
saf_retry_initial_ms = 50
saf_retry_max_ms = 400
saf_attempts_max = 3
online_terminal_id = "WEBSHOP1"

[[issuer_link]]
id = "nb-a"
address = "10.0.0.1:9001"
dialect = "iso87-ascii"
framing = "ascii4"
connections = 2
in_flight_max = 8
request_deadline_ms = 1500
echo_interval_ms = 0
echo_failures_max = 3
reconnect_initial_ms = 20
reconnect_max_ms = 2000
terminal_id = "KYTK0001"
frame_bytes_max = 4096
key_fields = [41, 11, 7]

[[issuer_link]]
id = "nb-b"
address = "10.0.0.2:9001"
)");
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->routing.table_file, "routes.txt");
  EXPECT_EQ(o->routing.saf_retry_initial_ms, 50u);
  EXPECT_EQ(o->routing.saf_retry_max_ms, 400u);
  EXPECT_EQ(o->routing.saf_attempts_max, 3u);
  EXPECT_EQ(o->routing.online_terminal_id, "WEBSHOP1");
  ASSERT_EQ(o->issuer_links.size(), 2u);
  const IssuerLinkOptions& a = o->issuer_links[0];
  EXPECT_EQ(a.id, "nb-a");
  EXPECT_EQ(a.host, "10.0.0.1");
  EXPECT_EQ(a.port, 9001);
  EXPECT_EQ(a.framing, Framing::kAscii4);
  EXPECT_EQ(a.connections, 2u);
  EXPECT_EQ(a.in_flight_max, 8u);
  EXPECT_EQ(a.request_deadline_ms, 1500u);
  EXPECT_EQ(a.echo_interval_ms, 0u);
  EXPECT_EQ(a.echo_failures_max, 3u);
  EXPECT_EQ(a.reconnect_initial_ms, 20u);
  EXPECT_EQ(a.reconnect_max_ms, 2000u);
  EXPECT_EQ(a.terminal_id, "KYTK0001");
  EXPECT_EQ(a.frame_bytes_max, 4096u);
  EXPECT_EQ(a.key_fields, (std::vector<int>{41, 11, 7}));
  // The second link keeps IssuerLinkOptions' defaults.
  EXPECT_EQ(o->issuer_links[1].request_deadline_ms, 2000u);
  EXPECT_EQ(o->issuer_links[1].key_fields, (std::vector<int>{41, 11}));
}

TEST(RoutingConfigTest, BadValuesNameTheKey) {
  struct Case {
    const char* toml;
    const char* message;
  } cases[] = {
      {"[routing]\ntable = \"x\"\n", "routing.table: unknown key"},
      {"[[issuer_link]]\nid = \"a\"\naddress = \"h:1\"\nport = 3\n",
       "issuer_link[0].port: unknown key"},
      {"[[issuer_link]]\nid = \"a\"\naddress = \"nope\"\n", "issuer_link[0].address"},
      {"[[issuer_link]]\nid = \"a\"\naddress = \"h:1\"\nkey_fields = [\"x\"]\n",
       "issuer_link[0].key_fields"},
      {"[[issuer_link]]\nid = \"a\"\naddress = \"h:0\"\n", "issuer_link a: port must be 1..65535"},
      {"[[issuer_link]]\nid = \"a\"\naddress = \"h:1\"\nkey_fields = [41]\n",
       "key_fields must include 11"},
      {"[[issuer_link]]\nid = \"a\"\naddress = \"h:1\"\n[[issuer_link]]\nid = \"a\"\naddress = "
       "\"h:2\"\n",
       "issuer_link a: id is not unique"},
      {"[[issuer_link]]\nid = \"a b\"\naddress = \"h:1\"\n", "issuer_link: id must be"},
      {"[routing]\nsaf_attempts_max = 0\n", "routing.saf_attempts_max"},
      {"[routing]\nsaf_retry_initial_ms = 5000\nsaf_retry_max_ms = 1000\n",
       "routing.saf_retry_initial_ms"},
      {"[routing]\nonline_terminal_id = \"WEBSHOP12\"\n", "routing.online_terminal_id"},
      {"[routing]\nonline_terminal_id = \"\"\n", "routing.online_terminal_id"},
  };
  for (const Case& c : cases) {
    Result<ServeOptions> o = Parse(c.toml);
    ASSERT_FALSE(o.ok()) << c.toml;
    EXPECT_NE(o.status().message().find(c.message), std::string::npos)
        << c.toml << " -> " << o.status().ToString();
  }
}

}  // namespace
}  // namespace kytkin
