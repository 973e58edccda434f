// ServeOptions: everything `kytkin serve` is configured with, one struct per component.
//
// Sources, later overriding earlier: the embedded defaults below, a TOML file (--config FILE),
// then command-line flags. An unknown key, a value of the wrong type or out of range, or an
// unknown flag stops start-up with a message naming the key or flag. Every key is documented
// in README.md ("Configuration") with its default; keep the two in step.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "iso8583/framing.h"
#include "switch/issuer_link.h"
#include "switch/settlement_config.h"

namespace kytkin {

// How ISO 8583 messages are delimited on a TCP stream: "binary2" (2-byte big-endian length),
// "ascii4" (4 ASCII digits) or "none" (iso8583/framing.h). A listener needs a length prefix,
// so validation rejects "none" for [[iso_listener]].
using iso8583::Framing;
using iso8583::FramingName;

// "host:port"; port 0 means "any free port" (the bound port is printed and written to
// DATA_DIR/ports.json). IPv6 hosts in brackets: "[::1]:8583".
struct HostPort {
  HostPort() = default;
  HostPort(std::string h, uint16_t p) : host(std::move(h)), port(p) {}

  std::string host = "0.0.0.0";
  uint16_t port = 0;
  std::string ToString() const;
};
// Parses "host:port" (host may be empty for all interfaces: ":8583" means "0.0.0.0:8583").
Result<HostPort> ParseHostPort(std::string_view text);

// One ISO 8583 TCP listener ([[iso_listener]] in TOML; the flag --iso-listen sets the first).
struct IsoListenerOptions {
  // Name used in metrics labels and logs; unique among listeners.
  std::string name = "pos";
  // Address to listen on.
  HostPort listen{"0.0.0.0", 8583};
  // Dialect of the ISO 8583 codec (iso8583/), e.g. "iso87-ascii".
  std::string dialect = "iso87-ascii";
  // Length prefix of each frame.
  Framing framing = Framing::kBinary2;
  // Open connections at most; connection number connections_max + 1 is accepted and closed at
  // once. Range 1..100000.
  uint32_t connections_max = 1024;
  // A connection that sends nothing and has nothing in flight for this long is closed.
  // Milliseconds; 0 disables. Range 0..86400000.
  uint32_t idle_timeout_ms = 300'000;
  // Largest message (without its length prefix) accepted; a larger announced length closes the
  // connection, because the stream cannot be re-synchronised. Bytes, range 64..65535.
  uint32_t frame_bytes_max = 8192;
  // Requests of one connection handed to the pipeline and not yet answered; at this many the
  // connection stops reading (back-pressure). Range 1..4096.
  uint32_t in_flight_max = 64;
};

// The gRPC server ([grpc]).
struct GrpcOptions {
  // Address to listen on.
  HostPort listen{"0.0.0.0", 50051};
  // Largest request message accepted. Bytes, range 1024..67108864.
  uint32_t message_bytes_max = 4 * 1024 * 1024;
};

// The HTTP ops server ([http]): /healthz, /readyz, /metrics, /api/v1/...
struct HttpOptions {
  // Address to listen on.
  HostPort listen{"0.0.0.0", 8080};
  // Largest request body accepted; larger answers 413. Bytes, range 0..67108864.
  uint32_t body_bytes_max = 1024 * 1024;
  // Time allowed to read one request, and to write its response. Milliseconds, 100..3600000.
  uint32_t request_timeout_ms = 10'000;
  // Open connections at most; more are accepted and closed at once. Range 1..100000.
  uint32_t connections_max = 256;
};

// Ledger and journal knobs ([ledger]); passed on to storage/ as they are.
struct LedgerOptions {
  // Most decisions made durable by one write + fdatasync. The group is whatever arrived while
  // the previous sync ran (no timer: a lone request is committed at once). Range 1..65536.
  uint32_t group_commit_records_max = 4096;
  // fdatasync before answering. Only tests and benchmarks turn it off: without it an
  // "approved" answer can be lost in a power cut.
  bool sync = true;
  // An authorization hold not captured within this time expires and releases the funds.
  // Seconds, range 60..31536000 (default 7 days).
  uint32_t hold_expiry_s = 7 * 24 * 3600;
  // Request keys whose dedupe entry stays in memory (~100 bytes each) after its batch is
  // durable; an older key costs one RocksDB point read when a retransmission or a follow-up
  // (capture, reversal, settlement item) names it. storage::StoreOptions::dedupe_window_entries
  // says why the default is 0. Entries, range 0..4194304 (~400 MiB at the maximum).
  uint32_t dedupe_window_entries = 0;
};

// Authorization rules ([authorization]).
struct AuthorizationOptions {
  // Largest card-present sale allowed without PIN data when the merchant category has no entry
  // below; above it a request without PIN answers 55. Minor units, >= 0.
  int64_t pinless_limit_minor_default = 5000;
  // Per merchant category code (four digits, e.g. "5411") the same limit. Minor units, >= 0.
  std::map<std::string, int64_t> pinless_limit_minor_by_mcc;
};

// Routing to remote issuers ([routing]; the links are [[issuer_link]] tables, IssuerLinkOptions).
struct RoutingOptions {
  // The routing table file (README, "Routing table file"), read at start-up and on reload
  // (SIGHUP, POST /api/v1/routing/reload). Empty (default): no table, every card is authorized
  // on kytkin's own ledger (on-us).
  std::string table_file;
  // Store-and-forward retries of one advice: the first repeat after saf_retry_initial_ms,
  // doubling up to saf_retry_max_ms. Milliseconds; defaults 1000 and 60000; 10 <= initial <=
  // max <= 3600000.
  uint32_t saf_retry_initial_ms = 1000;
  uint32_t saf_retry_max_ms = 60'000;
  // Sends of one advice (the first included) without an acknowledgement before it is parked
  // (kept, shown on /metrics and GET /api/v1/saf, not sent again). Range 1..1000, default 10.
  uint32_t saf_attempts_max = 10;
  // DE 41 (ans 8) of what an issuer gets for a gRPC call whose merchant names no terminal: the
  // routed 0100/0200, its 0120 after a stand-in, and the 0420/0220 of its Reverse/Capture (a
  // follow-up always carries its original's DE 41). 1-8 of [A-Za-z0-9 -]; default "ONLINE".
  std::string online_terminal_id = "ONLINE";
};

struct ServeOptions {
  // Directory of the RocksDB store and ports.json; created if missing.
  std::string data_dir = "./data";
  // Worker threads, each running one io_context. 0 in TOML means "number of cores". Range
  // 0..256. The default is the number of cores.
  uint32_t threads = 0;
  // Seed demo merchants, terminals and cards on start (and print them).
  bool demo = false;
  // ISO 8583 listeners; at least one. Default: one, "pos", on 0.0.0.0:8583.
  std::vector<IsoListenerOptions> iso_listeners = std::vector<IsoListenerOptions>(1);
  GrpcOptions grpc;
  HttpOptions http;
  LedgerOptions ledger;
  AuthorizationOptions authorization;
  // Acquirer batch settlement ([settlement], settlement_config.h).
  SettlementConfig settlement;
  RoutingOptions routing;
  // Client links to issuer hosts, by the link ids the routing table names. Default none.
  std::vector<IssuerLinkOptions> issuer_links;

  // The effective thread count: `threads`, or the number of cores when it is 0.
  uint32_t EffectiveThreads() const;
};

// Parses a TOML document over `base` (keys absent from the text keep base's value; the
// [[iso_listener]] array, when present, replaces base's listeners). `source` names the text
// in messages ("kytkin.toml"). Errors name the key: "kytkin.toml: http.listen: ...".
Result<ServeOptions> ParseServeToml(std::string_view text, std::string_view source,
                                    const ServeOptions& base = ServeOptions{});

// Reads `path` and parses it as above.
Result<ServeOptions> LoadServeTomlFile(const std::string& path,
                                       const ServeOptions& base = ServeOptions{});

// Checks ranges and cross-field rules (unique listener names, framing "none" on a listener...).
Status ValidateServeOptions(const ServeOptions& options);

// The command line of `kytkin serve`: defaults, then --config FILE if given, then the other
// flags (--data-dir DIR, --iso-listen HOST:PORT, --grpc-listen HOST:PORT, --http-listen
// HOST:PORT, --threads N, --demo), then validation. Flags take "--flag value" or "--flag=value".
Result<ServeOptions> ServeOptionsFromFlags(std::span<const std::string_view> args);

// One line per flag, for --help.
std::string_view ServeFlagsHelp();

}  // namespace kytkin
