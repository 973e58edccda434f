// kytkin load: the operators' load benchmark (see switch/load_runner.h for what it measures).
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "iso8583/dialect.h"
#include "iso8583/framing.h"
#include "switch/cli.h"
#include "switch/cli_flags.h"
#include "switch/load_runner.h"

namespace kytkin::cli {
namespace {

constexpr std::string_view kUsage =
    "usage: kytkin load [flags]\n"
    "\n"
    "Drives a running kytkin on this machine (127.0.0.1 only) over ISO 8583 or gRPC. First it\n"
    "creates its cards through the gRPC Admin service, then offers --rate requests/s on a fixed\n"
    "schedule (open loop: each latency counts from when the request was due) or, with --rate 0\n"
    "or --closed-loop, keeps every connection's pipeline full to find the maximum throughput.\n"
    "Prints progress once a second and a final report; a run whose achieved rate falls more\n"
    "than 1% short of the offered rate is INVALID (exit code 3).\n\nflags:\n";

int Fail(std::string_view message, int code = 2) {
  std::cerr << "kytkin load: " << message << "\n";
  return code;
}

// "127.0.0.1:PORT" or "localhost:PORT" -> PORT; anything else is refused.
Result<uint16_t> LoopbackPort(std::string_view flag, const std::string& address) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos) {
    return Status::InvalidArgument(std::string(flag) + ": expected 127.0.0.1:PORT");
  }
  std::string host = address.substr(0, colon);
  if (host != "127.0.0.1" && host != "localhost") {
    return Status::InvalidArgument(std::string(flag) +
                                   ": only 127.0.0.1 targets (a load test stays on this machine)");
  }
  int port = std::atoi(address.c_str() + colon + 1);
  if (port <= 0 || port > 65535) return Status::InvalidArgument(std::string(flag) + ": bad port");
  return static_cast<uint16_t>(port);
}

// The first number after `"key":` in ports.json ({"iso8583":{"pos":P},"grpc":G,"http":H}).
uint16_t PortAfter(const std::string& json, std::string_view key) {
  size_t at = json.find("\"" + std::string(key) + "\"");
  if (at == std::string::npos) return 0;
  at = json.find_first_of("0123456789", at + key.size() + 2);
  if (at == std::string::npos) return 0;
  return static_cast<uint16_t>(std::atoi(json.c_str() + at));
}

}  // namespace

int RunLoad(Args args) {
  load::LoadOptions options;
  std::string protocol = "iso8583", iso, grpc, ports_json, json_path, mix, zipf = "0.99";
  int64_t rate = static_cast<int64_t>(options.rate_per_s);
  int64_t duration = static_cast<int64_t>(options.duration_s);
  int64_t warmup = static_cast<int64_t>(options.warmup_s), threads = options.threads;
  int64_t connections = options.connections, depth = options.depth;
  int64_t timeout_ms = static_cast<int64_t>(options.timeout_ms), cards = options.cards;
  int64_t seed = static_cast<int64_t>(options.seed);
  bool closed_loop = false, quiet = false;
  FlagSet flags;
  flags.String("--protocol", &protocol, "iso8583 | grpc");
  flags.String("--ports-json", &ports_json,
               "DATA_DIR/ports.json of the target kytkin (sets --iso and --grpc)");
  flags.String("--iso", &iso, "ISO 8583 listener, 127.0.0.1:PORT");
  flags.String("--grpc", &grpc, "gRPC port, 127.0.0.1:PORT (cards are created through it)");
  flags.String("--dialect", &options.dialect, "ISO 8583 dialect");
  flags.String("--framing", &options.framing, "binary2 | ascii4");
  flags.Int("--rate", &rate, "requests/s offered on a fixed schedule; 0 = closed loop");
  flags.Bool("--closed-loop", &closed_loop, "same as --rate 0: find the maximum throughput");
  flags.Int("--duration", &duration, "measured seconds");
  flags.Int("--warmup", &warmup, "seconds before the measurement, not counted");
  flags.Int("--threads", &threads, "load generator threads");
  flags.Int("--connections", &connections,
            "connections per thread (gRPC: channels, each its own TCP connection)");
  flags.Int("--depth", &depth, "requests in flight per connection (pipelining)");
  flags.Int("--timeout-ms", &timeout_ms, "an unanswered request times out after this");
  flags.Int("--cards", &cards, "funded cards, used with a Zipf skew");
  flags.String("--zipf", &zipf, "Zipf exponent of card use (0 = uniform)");
  flags.String("--mix", &mix,
               "shares, e.g. authorize=60,purchase=20,reversal=5,balance=5,unknown=5,nofunds=5");
  flags.Bool("--skip-setup", &options.skip_setup, "do not create the cards (they exist)");
  flags.Int("--seed", &seed, "random seed (operations, cards, amounts)");
  flags.String("--json", &json_path, "also write the report as JSON to this file");
  flags.Bool("--quiet", &quiet, "no progress lines");
  flags.Int("--server-pid", &options.server_pid,
            "pid of the kytkin serve under test: its RSS on every progress line (a soak)");
  int64_t report_interval = 0;
  flags.Int("--report-interval", &report_interval,
            "soak: seconds per interval line (rate, p50/p99, errors, server RSS); the --json "
            "report carries the series. 0 = off");
  if (Status s = flags.Parse(args); !s.ok()) return Fail(s.message());
  if (flags.help_requested()) {
    std::cout << kUsage << flags.Help();
    return 0;
  }

  if (protocol == "iso8583") {
    options.protocol = load::LoadProtocol::kIso8583;
  } else if (protocol == "grpc") {
    options.protocol = load::LoadProtocol::kGrpc;
  } else {
    return Fail("--protocol: iso8583 or grpc");
  }
  if (!ports_json.empty()) {
    std::ifstream in(ports_json);
    if (!in) return Fail("--ports-json: cannot read " + ports_json);
    std::stringstream text;
    text << in.rdbuf();
    options.iso_port = PortAfter(text.str(), "iso8583");
    options.grpc_port = PortAfter(text.str(), "grpc");
  }
  if (!iso.empty()) {
    auto port = LoopbackPort("--iso", iso);
    if (!port.ok()) return Fail(port.status().message());
    options.iso_port = *port;
  }
  if (!grpc.empty()) {
    auto port = LoopbackPort("--grpc", grpc);
    if (!port.ok()) return Fail(port.status().message());
    options.grpc_port = *port;
  }
  if (options.grpc_port == 0) return Fail("--grpc (or --ports-json) is required");
  if (options.protocol == load::LoadProtocol::kIso8583 && options.iso_port == 0) {
    return Fail("--iso (or --ports-json) is required for --protocol iso8583");
  }
  if (iso8583::FindDialect(options.dialect) == nullptr) return Fail("--dialect: unknown dialect");
  if (!iso8583::ParseFraming(options.framing).ok()) return Fail("--framing: binary2 | ascii4");
  if (closed_loop) rate = 0;
  if (rate < 0 || static_cast<uint64_t>(rate) > load::kRateMax) {
    return Fail("--rate: 0.." + std::to_string(load::kRateMax));
  }
  if (duration < 1 || static_cast<uint64_t>(duration) > load::kDurationMax_s) {
    return Fail("--duration: 1.." + std::to_string(load::kDurationMax_s) + " seconds");
  }
  if (warmup < 0 || warmup > 3600) return Fail("--warmup: 0..3600 seconds");
  if (threads < 1 || threads > load::kThreadsMax) return Fail("--threads: 1..64");
  if (connections < 1 || connections > load::kConnectionsPerThreadMax) {
    return Fail("--connections: 1..1024");
  }
  if (depth < 1 || depth > load::kDepthMax) return Fail("--depth: 1..1024");
  if (options.server_pid < 0) return Fail("--server-pid: a process id");
  if (timeout_ms < 1 || timeout_ms > 60'000) return Fail("--timeout-ms: 1..60000");
  if (report_interval < 0 || report_interval > duration) {
    return Fail("--report-interval: 0..--duration seconds");
  }
  options.report_interval_s = static_cast<uint64_t>(report_interval);
  if (cards < 1 || cards > load::kCardsMax) return Fail("--cards: 1..10000000");
  char* end = nullptr;
  double zipf_s = std::strtod(zipf.c_str(), &end);
  if (end == zipf.c_str() || *end != '\0' || zipf_s < 0 || zipf_s > 5) {
    return Fail("--zipf: a number 0..5");
  }
  if (!mix.empty()) {
    auto parsed = load::OperationMix::Parse(mix);
    if (!parsed.ok()) return Fail("--mix: " + std::string(parsed.status().message()));
    options.mix = *parsed;
  }
  options.rate_per_s = static_cast<uint64_t>(rate);
  options.duration_s = static_cast<uint64_t>(duration);
  options.warmup_s = static_cast<uint64_t>(warmup);
  options.threads = static_cast<uint32_t>(threads);
  options.connections = static_cast<uint32_t>(connections);
  options.depth = static_cast<uint32_t>(depth);
  options.timeout_ms = static_cast<uint64_t>(timeout_ms);
  options.cards = static_cast<uint32_t>(cards);
  options.zipf_s = zipf_s;
  options.seed = static_cast<uint64_t>(seed);

  if (!options.skip_setup) {
    if (Status s = load::CreateLoadCards(options, std::cout); !s.ok()) {
      return Fail(s.message(), 1);
    }
  }
  auto report = load::RunLoad(options, quiet ? nullptr : &std::cout);
  if (!report.ok()) return Fail(report.status().message(), 1);
  std::cout << load::ReportText(*report);
  if (!json_path.empty()) {
    std::ofstream out(json_path);
    out << load::ReportJson(*report, options);
    if (!out) return Fail("--json: cannot write " + json_path, 1);
  }
  return report->valid ? 0 : 3;
}

}  // namespace kytkin::cli
