#include "switch/config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>
#include "switch/settlement_config_toml.h"

namespace kytkin {

std::string HostPort::ToString() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Result<HostPort> ParseHostPort(std::string_view text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    return Status::InvalidArgument("'" + std::string(text) + "' is not HOST:PORT");
  }
  std::string_view host = text.substr(0, colon);
  const std::string_view port_text = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return Status::InvalidArgument("'" + std::string(text) +
                                   "': an IPv6 host goes in brackets, [::1]:8583");
  }
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
      port > 65535) {
    return Status::InvalidArgument("'" + std::string(text) + "': port must be 0..65535");
  }
  return HostPort{host.empty() ? "0.0.0.0" : std::string(host), static_cast<uint16_t>(port)};
}

uint32_t ServeOptions::EffectiveThreads() const {
  if (threads != 0) return threads;
  const unsigned cores = std::thread::hardware_concurrency();
  return cores == 0 ? 1 : cores;
}

namespace {

// ledger.dedupe_window_entries at most: ~100 bytes each in memory, so ~400 MiB.
constexpr uint32_t kDedupeWindowEntriesMax = 4'194'304;

// Reads the keys of one TOML table into option fields, remembering which keys it consumed so
// that anything left over is reported as unknown.
class TableReader {
 public:
  TableReader(const toml::table& table, std::string prefix, std::string_view source)
      : table_(table), prefix_(std::move(prefix)), source_(source) {}

  Status String(std::string_view key, std::string& out) {
    const toml::node* node = Take(key);
    if (node == nullptr) return Status::Ok();
    const auto* value = node->as_string();
    if (value == nullptr) return Error(key, *node, "must be a string");
    out = value->get();
    return Status::Ok();
  }

  Status Address(std::string_view key, HostPort& out) {
    const toml::node* node = Take(key);
    if (node == nullptr) return Status::Ok();
    const auto* value = node->as_string();
    if (value == nullptr) return Error(key, *node, "must be a \"HOST:PORT\" string");
    Result<HostPort> parsed = ParseHostPort(value->get());
    if (!parsed.ok()) return Error(key, *node, parsed.status().message());
    out = *parsed;
    return Status::Ok();
  }

  Status Uint(std::string_view key, uint32_t& out) {
    const toml::node* node = Take(key);
    if (node == nullptr) return Status::Ok();
    const auto* value = node->as_integer();
    if (value == nullptr || value->get() < 0 || value->get() > UINT32_MAX) {
      return Error(key, *node, "must be a non-negative integer");
    }
    out = static_cast<uint32_t>(value->get());
    return Status::Ok();
  }

  Status Int64(std::string_view key, int64_t& out) {
    const toml::node* node = Take(key);
    if (node == nullptr) return Status::Ok();
    const auto* value = node->as_integer();
    if (value == nullptr || value->get() < 0) {
      return Error(key, *node, "must be a non-negative integer");
    }
    out = value->get();
    return Status::Ok();
  }

  Status Bool(std::string_view key, bool& out) {
    const toml::node* node = Take(key);
    if (node == nullptr) return Status::Ok();
    const auto* value = node->as_boolean();
    if (value == nullptr) return Error(key, *node, "must be true or false");
    out = value->get();
    return Status::Ok();
  }

  Status FramingValue(std::string_view key, Framing& out) {
    const toml::node* node = Take(key);
    if (node == nullptr) return Status::Ok();
    const auto* value = node->as_string();
    for (Framing f : {Framing::kBinary2, Framing::kAscii4, Framing::kNone}) {
      if (value != nullptr && value->get() == FramingName(f)) {
        out = f;
        return Status::Ok();
      }
    }
    return Error(key, *node, "must be \"binary2\", \"ascii4\" or \"none\"");
  }

  // An array of non-negative integers ([41, 11]); `out` unchanged when absent.
  Status UintArray(std::string_view key, std::vector<uint32_t>& out) {
    const toml::node* node = Take(key);
    if (node == nullptr) return Status::Ok();
    const auto* array = node->as_array();
    if (array == nullptr) return Error(key, *node, "must be an array of integers");
    std::vector<uint32_t> values;
    for (const toml::node& element : *array) {
      const auto* value = element.as_integer();
      if (value == nullptr || value->get() < 0 || value->get() > UINT32_MAX) {
        return Error(key, *node, "must be an array of non-negative integers");
      }
      values.push_back(static_cast<uint32_t>(value->get()));
    }
    out = std::move(values);
    return Status::Ok();
  }

  // The sub-table at `key`, or null when absent; an error when `key` is not a table.
  Result<const toml::table*> Table(std::string_view key) {
    const toml::node* node = Take(key);
    if (node == nullptr) return static_cast<const toml::table*>(nullptr);
    if (!node->is_table()) return Error(key, *node, "must be a table, [" + Path(key) + "]");
    return node->as_table();
  }

  Result<const toml::array*> ArrayOfTables(std::string_view key) {
    const toml::node* node = Take(key);
    if (node == nullptr) return static_cast<const toml::array*>(nullptr);
    if (!node->is_array_of_tables()) {
      return Error(key, *node, "must be an array of tables, [[" + Path(key) + "]]");
    }
    return node->as_array();
  }

  // Errors on the first key nobody asked for.
  Status RejectUnknownKeys() {
    for (auto&& [key, node] : table_) {
      if (!taken_.contains(std::string(key.str()))) {
        return Error(key.str(), node, "unknown key");
      }
    }
    return Status::Ok();
  }

  Status Error(std::string_view key, const toml::node& node, std::string_view message) const {
    std::ostringstream out;
    out << source_ << ":" << node.source().begin.line << ": " << Path(key) << ": " << message;
    return Status::InvalidArgument(out.str());
  }

  std::string Path(std::string_view key) const { return prefix_ + std::string(key); }

 private:
  const toml::node* Take(std::string_view key) {
    taken_.insert(std::string(key));
    return table_.get(key);
  }

  const toml::table& table_;
  std::string prefix_;
  std::string_view source_;
  std::set<std::string> taken_;
};

Status ReadListener(const toml::table& table, std::string prefix, std::string_view source,
                    IsoListenerOptions& out) {
  TableReader r(table, std::move(prefix), source);
  KYTKIN_RETURN_IF_ERROR(r.String("name", out.name));
  KYTKIN_RETURN_IF_ERROR(r.Address("listen", out.listen));
  KYTKIN_RETURN_IF_ERROR(r.String("dialect", out.dialect));
  KYTKIN_RETURN_IF_ERROR(r.FramingValue("framing", out.framing));
  KYTKIN_RETURN_IF_ERROR(r.Uint("connections_max", out.connections_max));
  KYTKIN_RETURN_IF_ERROR(r.Uint("idle_timeout_ms", out.idle_timeout_ms));
  KYTKIN_RETURN_IF_ERROR(r.Uint("frame_bytes_max", out.frame_bytes_max));
  KYTKIN_RETURN_IF_ERROR(r.Uint("in_flight_max", out.in_flight_max));
  return r.RejectUnknownKeys();
}

// One [[issuer_link]]: the fields of IssuerLinkOptions; the host and port as one "address".
Status ReadIssuerLink(const toml::table& table, std::string prefix, std::string_view source,
                      IssuerLinkOptions& out) {
  TableReader r(table, std::move(prefix), source);
  KYTKIN_RETURN_IF_ERROR(r.String("id", out.id));
  HostPort address{out.host, out.port};
  KYTKIN_RETURN_IF_ERROR(r.Address("address", address));
  out.host = address.host;
  out.port = address.port;
  KYTKIN_RETURN_IF_ERROR(r.String("dialect", out.dialect));
  KYTKIN_RETURN_IF_ERROR(r.FramingValue("framing", out.framing));
  KYTKIN_RETURN_IF_ERROR(r.Uint("connections", out.connections));
  KYTKIN_RETURN_IF_ERROR(r.Uint("in_flight_max", out.in_flight_max));
  KYTKIN_RETURN_IF_ERROR(r.Uint("request_deadline_ms", out.request_deadline_ms));
  KYTKIN_RETURN_IF_ERROR(r.Uint("echo_interval_ms", out.echo_interval_ms));
  KYTKIN_RETURN_IF_ERROR(r.Uint("echo_failures_max", out.echo_failures_max));
  KYTKIN_RETURN_IF_ERROR(r.Uint("reconnect_initial_ms", out.reconnect_initial_ms));
  KYTKIN_RETURN_IF_ERROR(r.Uint("reconnect_max_ms", out.reconnect_max_ms));
  KYTKIN_RETURN_IF_ERROR(r.String("terminal_id", out.terminal_id));
  KYTKIN_RETURN_IF_ERROR(r.Uint("frame_bytes_max", out.frame_bytes_max));
  std::vector<uint32_t> key_fields;
  KYTKIN_RETURN_IF_ERROR(r.UintArray("key_fields", key_fields));
  if (!key_fields.empty()) out.key_fields.assign(key_fields.begin(), key_fields.end());
  return r.RejectUnknownKeys();
}

Status ReadDocument(const toml::table& root, std::string_view source, ServeOptions& out) {
  TableReader r(root, "", source);
  KYTKIN_RETURN_IF_ERROR(r.String("data_dir", out.data_dir));
  KYTKIN_RETURN_IF_ERROR(r.Uint("threads", out.threads));
  KYTKIN_RETURN_IF_ERROR(r.Bool("demo", out.demo));

  Result<const toml::array*> listeners = r.ArrayOfTables("iso_listener");
  if (!listeners.ok()) return listeners.status();
  if (*listeners != nullptr) {
    out.iso_listeners.clear();
    for (size_t i = 0; i < (*listeners)->size(); ++i) {
      IsoListenerOptions listener;
      if (i > 0) listener.name = "pos" + std::to_string(i + 1);
      KYTKIN_RETURN_IF_ERROR(ReadListener(*(*listeners)->get(i)->as_table(),
                                          "iso_listener[" + std::to_string(i) + "].", source,
                                          listener));
      out.iso_listeners.push_back(std::move(listener));
    }
  }

  Result<const toml::array*> links = r.ArrayOfTables("issuer_link");
  if (!links.ok()) return links.status();
  if (*links != nullptr) {
    out.issuer_links.clear();
    for (size_t i = 0; i < (*links)->size(); ++i) {
      IssuerLinkOptions link;
      KYTKIN_RETURN_IF_ERROR(ReadIssuerLink(
          *(*links)->get(i)->as_table(), "issuer_link[" + std::to_string(i) + "].", source, link));
      out.issuer_links.push_back(std::move(link));
    }
  }

  Result<const toml::table*> routing = r.Table("routing");
  if (!routing.ok()) return routing.status();
  if (*routing != nullptr) {
    TableReader t(**routing, "routing.", source);
    KYTKIN_RETURN_IF_ERROR(t.String("table_file", out.routing.table_file));
    KYTKIN_RETURN_IF_ERROR(t.Uint("saf_retry_initial_ms", out.routing.saf_retry_initial_ms));
    KYTKIN_RETURN_IF_ERROR(t.Uint("saf_retry_max_ms", out.routing.saf_retry_max_ms));
    KYTKIN_RETURN_IF_ERROR(t.Uint("saf_attempts_max", out.routing.saf_attempts_max));
    KYTKIN_RETURN_IF_ERROR(t.String("online_terminal_id", out.routing.online_terminal_id));
    KYTKIN_RETURN_IF_ERROR(t.RejectUnknownKeys());
  }

  Result<const toml::table*> grpc = r.Table("grpc");
  if (!grpc.ok()) return grpc.status();
  if (*grpc != nullptr) {
    TableReader g(**grpc, "grpc.", source);
    KYTKIN_RETURN_IF_ERROR(g.Address("listen", out.grpc.listen));
    KYTKIN_RETURN_IF_ERROR(g.Uint("message_bytes_max", out.grpc.message_bytes_max));
    KYTKIN_RETURN_IF_ERROR(g.RejectUnknownKeys());
  }

  Result<const toml::table*> http = r.Table("http");
  if (!http.ok()) return http.status();
  if (*http != nullptr) {
    TableReader h(**http, "http.", source);
    KYTKIN_RETURN_IF_ERROR(h.Address("listen", out.http.listen));
    KYTKIN_RETURN_IF_ERROR(h.Uint("body_bytes_max", out.http.body_bytes_max));
    KYTKIN_RETURN_IF_ERROR(h.Uint("request_timeout_ms", out.http.request_timeout_ms));
    KYTKIN_RETURN_IF_ERROR(h.Uint("connections_max", out.http.connections_max));
    KYTKIN_RETURN_IF_ERROR(h.RejectUnknownKeys());
  }

  Result<const toml::table*> ledger = r.Table("ledger");
  if (!ledger.ok()) return ledger.status();
  if (*ledger != nullptr) {
    TableReader l(**ledger, "ledger.", source);
    KYTKIN_RETURN_IF_ERROR(l.Uint("group_commit_records_max", out.ledger.group_commit_records_max));
    KYTKIN_RETURN_IF_ERROR(l.Bool("sync", out.ledger.sync));
    KYTKIN_RETURN_IF_ERROR(l.Uint("hold_expiry_s", out.ledger.hold_expiry_s));
    KYTKIN_RETURN_IF_ERROR(l.Uint("dedupe_window_entries", out.ledger.dedupe_window_entries));
    KYTKIN_RETURN_IF_ERROR(l.RejectUnknownKeys());
  }

  Result<const toml::table*> auth = r.Table("authorization");
  if (!auth.ok()) return auth.status();
  if (*auth != nullptr) {
    TableReader a(**auth, "authorization.", source);
    KYTKIN_RETURN_IF_ERROR(
        a.Int64("pinless_limit_minor_default", out.authorization.pinless_limit_minor_default));
    Result<const toml::table*> by_mcc = a.Table("pinless_limit_minor_by_mcc");
    if (!by_mcc.ok()) return by_mcc.status();
    if (*by_mcc != nullptr) {
      TableReader m(**by_mcc, "authorization.pinless_limit_minor_by_mcc.", source);
      for (auto&& [key, node] : **by_mcc) {
        const std::string mcc(key.str());
        const bool four_digits =
            mcc.size() == 4 && mcc.find_first_not_of("0123456789") == std::string::npos;
        if (!four_digits) {
          return m.Error(mcc, node, "a merchant category code is four digits, e.g. \"5411\"");
        }
        int64_t limit = 0;
        KYTKIN_RETURN_IF_ERROR(m.Int64(mcc, limit));
        out.authorization.pinless_limit_minor_by_mcc[mcc] = limit;
      }
    }
    KYTKIN_RETURN_IF_ERROR(a.RejectUnknownKeys());
  }

  Result<const toml::table*> settlement = r.Table("settlement");
  if (!settlement.ok()) return settlement.status();
  if (*settlement != nullptr) {
    KYTKIN_RETURN_IF_ERROR(ReadSettlementToml(**settlement, source, out.settlement));
  }
  return r.RejectUnknownKeys();
}

Status CheckRange(std::string_view field, uint64_t value, uint64_t min, uint64_t max) {
  if (value >= min && value <= max) return Status::Ok();
  return Status::InvalidArgument(std::string(field) + ": " + std::to_string(value) +
                                 " is out of range " + std::to_string(min) + ".." +
                                 std::to_string(max));
}

}  // namespace

Result<ServeOptions> ParseServeToml(std::string_view text, std::string_view source,
                                    const ServeOptions& base) {
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    std::ostringstream out;
    out << source << ":" << e.source().begin.line << ": " << e.description();
    return Status::InvalidArgument(out.str());
  }
  ServeOptions options = base;
  KYTKIN_RETURN_IF_ERROR(ReadDocument(root, source, options));
  return options;
}

Result<ServeOptions> LoadServeTomlFile(const std::string& path, const ServeOptions& base) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("--config: cannot open '" + path + "'");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Status::IOError("--config: cannot read '" + path + "'");
  return ParseServeToml(text.str(), path, base);
}

Status ValidateServeOptions(const ServeOptions& o) {
  if (o.data_dir.empty()) return Status::InvalidArgument("data_dir: must not be empty");
  KYTKIN_RETURN_IF_ERROR(CheckRange("threads", o.threads, 0, 256));
  KYTKIN_RETURN_IF_ERROR(ValidateSettlementConfig(o.settlement));
  if (o.iso_listeners.empty()) {
    return Status::InvalidArgument("iso_listener: at least one listener is needed");
  }
  std::set<std::string> names;
  for (size_t i = 0; i < o.iso_listeners.size(); ++i) {
    const IsoListenerOptions& l = o.iso_listeners[i];
    const std::string p = "iso_listener[" + std::to_string(i) + "].";
    if (l.name.empty() || !names.insert(l.name).second) {
      return Status::InvalidArgument(p + "name: '" + l.name + "' is empty or not unique");
    }
    if (l.dialect.empty()) return Status::InvalidArgument(p + "dialect: must not be empty");
    if (l.framing == Framing::kNone) {
      return Status::InvalidArgument(p +
                                     "framing: a listener needs a length prefix, "
                                     "\"binary2\" or \"ascii4\"");
    }
    KYTKIN_RETURN_IF_ERROR(CheckRange(p + "connections_max", l.connections_max, 1, 100'000));
    KYTKIN_RETURN_IF_ERROR(CheckRange(p + "idle_timeout_ms", l.idle_timeout_ms, 0, 86'400'000));
    // ascii4 cannot announce more than 9999 bytes.
    const uint64_t frame_max = l.framing == Framing::kAscii4 ? 9999 : 65535;
    KYTKIN_RETURN_IF_ERROR(CheckRange(p + "frame_bytes_max", l.frame_bytes_max, 64, frame_max));
    KYTKIN_RETURN_IF_ERROR(CheckRange(p + "in_flight_max", l.in_flight_max, 1, 4096));
  }
  KYTKIN_RETURN_IF_ERROR(
      CheckRange("grpc.message_bytes_max", o.grpc.message_bytes_max, 1024, 64 << 20));
  KYTKIN_RETURN_IF_ERROR(CheckRange("http.body_bytes_max", o.http.body_bytes_max, 0, 64 << 20));
  KYTKIN_RETURN_IF_ERROR(
      CheckRange("http.request_timeout_ms", o.http.request_timeout_ms, 100, 3'600'000));
  KYTKIN_RETURN_IF_ERROR(CheckRange("http.connections_max", o.http.connections_max, 1, 100'000));
  KYTKIN_RETURN_IF_ERROR(
      CheckRange("ledger.group_commit_records_max", o.ledger.group_commit_records_max, 1, 65536));
  KYTKIN_RETURN_IF_ERROR(
      CheckRange("ledger.hold_expiry_s", o.ledger.hold_expiry_s, 60, 365 * 24 * 3600));
  KYTKIN_RETURN_IF_ERROR(CheckRange("ledger.dedupe_window_entries", o.ledger.dedupe_window_entries,
                                    0, kDedupeWindowEntriesMax));
  KYTKIN_RETURN_IF_ERROR(
      CheckRange("routing.saf_retry_max_ms", o.routing.saf_retry_max_ms, 10, 3'600'000));
  KYTKIN_RETURN_IF_ERROR(CheckRange("routing.saf_retry_initial_ms", o.routing.saf_retry_initial_ms,
                                    10, o.routing.saf_retry_max_ms));
  KYTKIN_RETURN_IF_ERROR(
      CheckRange("routing.saf_attempts_max", o.routing.saf_attempts_max, 1, 1000));
  {
    const std::string& id = o.routing.online_terminal_id;
    const bool id_ok =
        !id.empty() && id.size() <= 8 && std::all_of(id.begin(), id.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) || c == ' ' || c == '-';
        });
    if (!id_ok) {
      return Status::InvalidArgument("routing.online_terminal_id: must be 1-8 of [A-Za-z0-9 -]");
    }
  }
  std::set<std::string> link_ids;
  for (const IssuerLinkOptions& link : o.issuer_links) {
    KYTKIN_RETURN_IF_ERROR(ValidateIssuerLinkOptions(link));
    if (!link_ids.insert(link.id).second) {
      return Status::InvalidArgument("issuer_link " + link.id + ": id is not unique");
    }
  }
  return Status::Ok();
}

std::string_view ServeFlagsHelp() {
  return "  --config FILE           TOML configuration (see README, Configuration)\n"
         "  --data-dir DIR          data directory (default ./data)\n"
         "  --iso-listen HOST:PORT  first ISO 8583 listener (default 0.0.0.0:8583)\n"
         "  --grpc-listen HOST:PORT gRPC server (default 0.0.0.0:50051)\n"
         "  --http-listen HOST:PORT HTTP ops server (default 0.0.0.0:8080)\n"
         "  --threads N             worker threads (default: number of cores)\n"
         "  --demo                  seed and print demo merchants and cards\n";
}

Result<ServeOptions> ServeOptionsFromFlags(std::span<const std::string_view> args) {
  // Split into (flag, value) pairs first, so --config applies before every other flag
  // wherever it appears.
  struct Flag {
    std::string name;
    std::string value;
    bool has_value;
  };
  std::vector<Flag> flags;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (!arg.starts_with("--")) {
      return Status::InvalidArgument("unexpected argument '" + std::string(arg) + "'");
    }
    const size_t eq = arg.find('=');
    Flag flag{std::string(arg.substr(0, eq)), "", eq != std::string_view::npos};
    if (flag.has_value) flag.value = std::string(arg.substr(eq + 1));
    constexpr std::string_view kKnown[] = {"--config",      "--data-dir",    "--iso-listen",
                                           "--grpc-listen", "--http-listen", "--threads",
                                           "--demo"};
    if (std::find(std::begin(kKnown), std::end(kKnown), flag.name) == std::end(kKnown)) {
      return Status::InvalidArgument("unknown flag " + flag.name);
    }
    const bool takes_value = flag.name != "--demo";
    if (takes_value && !flag.has_value) {
      if (i + 1 >= args.size()) return Status::InvalidArgument(flag.name + ": needs a value");
      flag.value = std::string(args[++i]);
      flag.has_value = true;
    }
    if (!takes_value && flag.has_value) {
      return Status::InvalidArgument(flag.name + ": takes no value");
    }
    flags.push_back(std::move(flag));
  }

  ServeOptions options;
  for (const Flag& f : flags) {
    if (f.name != "--config") continue;
    Result<ServeOptions> loaded = LoadServeTomlFile(f.value, options);
    if (!loaded.ok()) return loaded.status();
    options = std::move(loaded).value();
  }
  for (const Flag& f : flags) {
    auto address = [&](HostPort& out) -> Status {
      Result<HostPort> parsed = ParseHostPort(f.value);
      if (!parsed.ok())
        return Status::InvalidArgument(f.name + ": " + std::string(parsed.status().message()));
      out = *parsed;
      return Status::Ok();
    };
    if (f.name == "--config") {
      continue;
    } else if (f.name == "--data-dir") {
      options.data_dir = f.value;
    } else if (f.name == "--iso-listen") {
      if (options.iso_listeners.empty()) options.iso_listeners.emplace_back();
      KYTKIN_RETURN_IF_ERROR(address(options.iso_listeners.front().listen));
    } else if (f.name == "--grpc-listen") {
      KYTKIN_RETURN_IF_ERROR(address(options.grpc.listen));
    } else if (f.name == "--http-listen") {
      KYTKIN_RETURN_IF_ERROR(address(options.http.listen));
    } else if (f.name == "--threads") {
      unsigned n = 0;
      auto [end, ec] = std::from_chars(f.value.data(), f.value.data() + f.value.size(), n);
      if (f.value.empty() || ec != std::errc() || end != f.value.data() + f.value.size()) {
        return Status::InvalidArgument("--threads: '" + f.value + "' is not a number");
      }
      options.threads = n;
    } else if (f.name == "--demo") {
      options.demo = true;
    } else {
      return Status::InvalidArgument("unknown flag " + f.name);
    }
  }
  KYTKIN_RETURN_IF_ERROR(ValidateServeOptions(options));
  return options;
}

}  // namespace kytkin
