// kytkin issuer-sim: a remote issuer host for demos, tests and load runs (switch/issuer_sim.h).
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "core/pan.h"
#include "switch/cli.h"
#include "switch/cli_flags.h"
#include "switch/issuer_sim.h"

namespace kytkin::cli {
namespace {

constexpr std::string_view kUsage =
    "usage: kytkin issuer-sim [flags]\n"
    "\n"
    "Acts as an issuer's host: listens for ISO 8583 links from a switch and answers 0800\n"
    "sign-on/echo, 0100/0200, 0120/0121 advices and 0420/0421 reversal advices from its own\n"
    "in-memory ledger. Repeats are acknowledged without applying twice.\n"
    "\n"
    "Cards file (--cards): CSV lines PAN,CURRENCY_NUMERIC,BALANCE_MINOR, e.g.\n"
    "  4111111111111111,978,100000\n"
    "('#' starts a comment). Unknown cards are answered 14 unless --unknown-card-balance >= 0.\n"
    "\n"
    "Admin: SIGUSR1 takes the simulator down (links closed, new ones closed at once), SIGUSR2\n"
    "brings it up. SIGTERM/SIGINT stop it and print its counters as one JSON line on stdout.\n"
    "\nflags:\n";

int Fail(std::string_view message, int code = 2) {
  std::cerr << "kytkin issuer-sim: " << message << "\n";
  return code;
}

// A share in [0, 1] from text; false when it is not one.
bool ParseShare(const std::string& text, double* out) {
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || !(v >= 0.0 && v <= 1.0)) return false;
  *out = v;
  return true;
}

Status LoadCards(const std::string& path, IssuerSim& sim, size_t* count) {
  std::ifstream in(path);
  if (!in) return Status::NotFound("--cards: cannot open " + path);
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    const std::string where = path + ":" + std::to_string(number) + ": ";
    size_t a = line.find(','), b = a == std::string::npos ? a : line.find(',', a + 1);
    if (b == std::string::npos) {
      return Status::InvalidArgument(where + "expected PAN,CURRENCY_NUMERIC,BALANCE_MINOR");
    }
    auto pan = Pan::Parse(std::string_view(line).substr(0, a));
    if (!pan.ok()) return Status::InvalidArgument(where + std::string(pan.status().message()));
    char* end = nullptr;
    const std::string currency_text = line.substr(a + 1, b - a - 1);
    long currency = std::strtol(currency_text.c_str(), &end, 10);
    if (currency_text.empty() || *end != '\0' || currency <= 0 || currency > 999) {
      return Status::InvalidArgument(where + "currency must be an ISO 4217 numeric code");
    }
    const std::string balance_text = line.substr(b + 1);
    long long balance = std::strtoll(balance_text.c_str(), &end, 10);
    if (balance_text.empty() || *end != '\0') {
      return Status::InvalidArgument(where + "balance must be an integer in minor units");
    }
    sim.AddCard(pan->clear_digits(), Amount(balance, static_cast<uint16_t>(currency)));
    ++*count;
  }
  return Status::Ok();
}

Status WritePortFile(const std::string& path, uint16_t port) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << port << "\n";
    if (!out) return Status::IOError("--port-file: cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return Status::IOError("--port-file: cannot rename to " + path);
  }
  return Status::Ok();
}

}  // namespace

int RunIssuerSim(Args args) {
  std::string listen = "127.0.0.1:0", dialect = "iso87-ascii", framing_name = "binary2";
  std::string cards, port_file;
  std::string decline = "0", drop = "0", late = "0", disconnect = "0";
  int64_t latency_fixed_us = 0, latency_mean_us = 0, late_delay_us = 1'000'000;
  int64_t unknown_balance = -1, currency = 978, up_ms = 0, down_ms = 0, seed = 1;
  bool partial_approvals = false;
  FlagSet flags;
  flags.String("--listen", &listen, "address to listen on, HOST:PORT (port 0 = any free port)");
  flags.String("--dialect", &dialect, "ISO 8583 dialect");
  flags.String("--framing", &framing_name, "binary2 | ascii4");
  flags.String("--cards", &cards, "cards file (CSV PAN,CURRENCY_NUMERIC,BALANCE_MINOR)");
  flags.Int("--unknown-card-balance", &unknown_balance,
            "balance in minor units for cards not in --cards; -1 answers them 14");
  flags.Int("--currency", &currency, "ISO 4217 numeric currency of --unknown-card-balance");
  flags.String("--port-file", &port_file, "write the bound port to this file once listening");
  flags.Int("--latency-fixed-us", &latency_fixed_us, "fixed latency of every card answer, us");
  flags.Int("--latency-mean-us", &latency_mean_us,
            "mean of an exponential latency added to the fixed one, us");
  flags.String("--decline-share", &decline, "share 0..1 of 0100/0200 declined with 05");
  flags.String("--drop-share", &drop, "share 0..1 of card requests never answered");
  flags.String("--late-share", &late, "share 0..1 of card requests answered --late-delay-us late");
  flags.Int("--late-delay-us", &late_delay_us, "extra delay of a late answer, us");
  flags.String("--disconnect-share", &disconnect,
               "share 0..1 of card requests answered by closing the connection");
  flags.Int("--up-period-ms", &up_ms, "with --down-period-ms: alternate up and down periods");
  flags.Int("--down-period-ms", &down_ms, "length of a down period, ms");
  flags.Int("--seed", &seed, "seed of the latency and fault generator");
  flags.Bool("--partial-approvals", &partial_approvals,
             "approve a 0100 the funds do not cover for what is left: 10, DE 4 the amount");
  if (Status s = flags.Parse(args); !s.ok()) return Fail(s.message());
  if (flags.help_requested()) {
    std::cout << kUsage << flags.Help();
    return 0;
  }

  IssuerSimOptions options;
  auto colon = listen.rfind(':');
  if (colon == std::string::npos) return Fail("--listen: expected HOST:PORT");
  options.host = listen.substr(0, colon);
  char* end = nullptr;
  long port = std::strtol(listen.c_str() + colon + 1, &end, 10);
  if (*end != '\0' || port < 0 || port > 65535) return Fail("--listen: bad port");
  options.port = static_cast<uint16_t>(port);
  options.dialect = dialect;
  auto framing = iso8583::ParseFraming(framing_name);
  if (!framing.ok()) return Fail("--framing: " + std::string(framing.status().message()));
  options.framing = *framing;
  IssuerSimBehavior& b = options.behavior;
  if (!ParseShare(decline, &b.decline_share)) return Fail("--decline-share: expected 0..1");
  if (!ParseShare(drop, &b.drop_share)) return Fail("--drop-share: expected 0..1");
  if (!ParseShare(late, &b.late_share)) return Fail("--late-share: expected 0..1");
  if (!ParseShare(disconnect, &b.disconnect_share)) {
    return Fail("--disconnect-share: expected 0..1");
  }
  if (latency_fixed_us < 0) return Fail("--latency-fixed-us: must be >= 0");
  if (latency_mean_us < 0) return Fail("--latency-mean-us: must be >= 0");
  if (late_delay_us < 0) return Fail("--late-delay-us: must be >= 0");
  if (up_ms < 0 || down_ms < 0) return Fail("--up-period-ms/--down-period-ms: must be >= 0");
  if (currency <= 0 || currency > 999) return Fail("--currency: expected an ISO 4217 number");
  b.latency_fixed_us = latency_fixed_us;
  b.latency_exponential_mean_us = latency_mean_us;
  b.late_delay_us = late_delay_us;
  b.partial_approvals = partial_approvals;
  options.unknown_card_balance_minor = unknown_balance;
  options.currency = static_cast<uint16_t>(currency);
  options.up_period_ms = up_ms;
  options.down_period_ms = down_ms;
  options.seed = static_cast<uint64_t>(seed);

  // Signals are handled on this thread only; block them before the simulator's thread starts.
  boost::asio::io_context io;
  boost::asio::signal_set signals(io, SIGTERM, SIGINT, SIGUSR1);
  signals.add(SIGUSR2);

  auto started = IssuerSim::Start(options);
  if (!started.ok()) return Fail(started.status().message(), 1);
  IssuerSim& sim = **started;
  size_t card_count = 0;
  if (!cards.empty()) {
    if (Status s = LoadCards(cards, sim, &card_count); !s.ok()) return Fail(s.message(), 1);
  }
  if (!port_file.empty()) {
    if (Status s = WritePortFile(port_file, sim.port()); !s.ok()) return Fail(s.message(), 1);
  }
  std::cerr << "kytkin issuer-sim: listening on " << options.host << ":" << sim.port() << " ("
            << dialect << ", " << framing_name << "), " << card_count << " cards\n";

  std::function<void()> wait = [&] {
    signals.async_wait([&](boost::system::error_code ec, int signal) {
      if (ec) return;
      if (signal == SIGUSR1 || signal == SIGUSR2) {
        sim.SetDown(signal == SIGUSR1);
        std::cerr << "kytkin issuer-sim: " << (signal == SIGUSR1 ? "down" : "up") << "\n";
        wait();
        return;
      }
      io.stop();
    });
  };
  wait();
  io.run();
  sim.Stop();
  std::cout << sim.stats().ToJson() << "\n";
  return 0;
}

}  // namespace kytkin::cli
