// The cost of a remote hop through the MUX: an 0100 sent on an IssuerLink to an in-process issuer
// simulator with zero latency, answered and matched, against the same exchange over a plain
// blocking client (TerminalConnection) as the floor. Closed loop, one request at a time, and the
// MUX with `depth` requests in flight.
//
//   build/bin/issuer_link_bench --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>

#include "switch/issuer_link.h"
#include "switch/issuer_sim.h"
#include "switch/terminal_client.h"

namespace kytkin {
namespace {

namespace asio = boost::asio;

constexpr std::string_view kPan = "4111111111111111";

iso8583::Message Authorization(const iso8583::Dialect& dialect) {
  TerminalRequest r;
  r.operation = CardOperation::kAuthorize;
  r.pan = std::string(kPan);
  r.amount = Amount(100, 978);
  r.stan = 1;
  r.transmission_time = "1127003000";
  iso8583::Message m(dialect);
  if (!BuildTerminalRequest(r, TerminalIdentity{}, m).ok()) std::abort();
  return m;
}

std::unique_ptr<IssuerSim> StartSim() {
  IssuerSimOptions options;
  options.unknown_card_balance_minor = int64_t{1} << 60;  // never runs out during a run
  auto sim = IssuerSim::Start(options);
  if (!sim.ok()) std::abort();
  return std::move(*sim);
}

// The floor: the same request and answer over one blocking connection, no MUX.
void BM_DirectExchange(benchmark::State& state) {
  auto sim = StartSim();
  const iso8583::Dialect& dialect = *iso8583::FindDialect("iso87-ascii");
  auto connection = TerminalConnection::Connect("127.0.0.1", sim->port(), dialect,
                                                iso8583::Framing::kBinary2, 2000);
  if (!connection.ok()) return state.SkipWithError("connect failed");
  iso8583::Message request = Authorization(dialect);
  iso8583::Message response(dialect);
  for (auto _ : state) {
    if (!(*connection)->Exchange(request, response).ok()) return state.SkipWithError("exchange");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DirectExchange)->UseRealTime();

// Through the MUX: `depth` requests in flight, each iteration one request answered.
void BM_MuxHop(benchmark::State& state) {
  const int depth = static_cast<int>(state.range(0));
  auto sim = StartSim();
  asio::io_context io(1);
  auto guard = asio::make_work_guard(io);
  std::thread thread([&] { io.run(); });
  IssuerLinkOptions options;
  options.id = "bench";
  options.port = sim->port();
  options.echo_interval_ms = 0;
  options.in_flight_max = 4096;
  auto link = IssuerLink::Create(options, io);
  if (!link.ok()) std::abort();
  (*link)->Start();
  while (!(*link)->up()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const iso8583::Message request = Authorization(*iso8583::FindDialect("iso87-ascii"));
  std::atomic<int64_t> answered{0};
  std::atomic<int64_t> failed{0};
  auto done = [&](const IssuerReply& reply) {
    if (reply.outcome != IssuerOutcome::kAnswered) failed.fetch_add(1);
    answered.fetch_add(1, std::memory_order_release);
  };
  int64_t sent = 0;
  for (int i = 0; i < depth; ++i, ++sent) (*link)->Send(request, done);
  for (auto _ : state) {
    // Keep `depth` in flight: wait for one answer, send one more.
    // Yield, not spin: the simulator and the link need both cores of the 2-core machine.
    while (answered.load(std::memory_order_acquire) < sent - depth + 1) std::this_thread::yield();
    (*link)->Send(request, done);
    ++sent;
  }
  while (answered.load() < sent) std::this_thread::yield();
  if (failed.load() != 0) state.SkipWithError("some requests were not answered");
  state.SetItemsProcessed(state.iterations());
  (*link)->Stop();
  guard.reset();
  io.stop();
  thread.join();
}
BENCHMARK(BM_MuxHop)->Arg(1)->Arg(16)->UseRealTime();

}  // namespace
}  // namespace kytkin

BENCHMARK_MAIN();
