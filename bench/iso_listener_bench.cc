// ISO 8583 listener throughput over loopback: one connection, `depth` requests pipelined per
// round trip, an echo handler that answers inline (no pipeline, no ledger). Measures what the
// socket layer costs per request: framing, slot copy, coalesced writes.
//
//   build/bin/iso_listener_bench --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <string>
#include <thread>

#include "switch/iso_listener.h"

namespace kytkin {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

class EchoHandler : public IsoHandler {
 public:
  void Handle(const IsoRequest& request, IsoCompletion done) override {
    done.response().assign(request.message.begin(), request.message.end());
    done.Send();
  }
};

// A 0100-sized message (about 200 bytes) repeated `depth` times per round trip.
void BM_IsoEchoPipelined(benchmark::State& state) {
  const int depth = static_cast<int>(state.range(0));
  metrics::Registry metrics;
  EchoHandler handler;
  asio::io_context server_context(1);
  asio::io_context* contexts[] = {&server_context};
  IsoListenerOptions options;
  options.listen = {"127.0.0.1", 0};
  options.in_flight_max = 4096;
  auto listener = IsoListener::Open(options, server_context, contexts, handler, metrics);
  if (!listener.ok()) {
    state.SkipWithError(std::string(listener.status().message()).c_str());
    return;
  }
  (*listener)->Start();
  auto guard = asio::make_work_guard(server_context);
  std::thread server_thread([&] { server_context.run(); });

  asio::io_context client_context;
  tcp::socket socket(client_context);
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), (*listener)->port()));
  socket.set_option(tcp::no_delay(true));
  const std::string message(200, 'x');
  std::string frame;
  frame.push_back(static_cast<char>(message.size() >> 8));
  frame.push_back(static_cast<char>(message.size() & 0xff));
  frame += message;
  std::string batch;
  for (int i = 0; i < depth; ++i) batch += frame;
  std::string answers(batch.size(), '\0');

  for (auto _ : state) {
    asio::write(socket, asio::buffer(batch));
    asio::read(socket, asio::buffer(answers));
  }
  state.SetItemsProcessed(state.iterations() * depth);
  const double requests = static_cast<double>(
      metrics.GetCounter("kytkin_iso_requests_total", "", {{"listener", "pos"}}).value());
  state.counters["requests_per_read"] =
      requests /
      static_cast<double>(
          metrics.GetCounter("kytkin_iso_reads_total", "", {{"listener", "pos"}}).value());
  state.counters["requests_per_write"] =
      requests /
      static_cast<double>(
          metrics.GetCounter("kytkin_iso_writes_total", "", {{"listener", "pos"}}).value());

  socket.close();
  (*listener)->CloseAll();
  guard.reset();
  server_context.stop();
  server_thread.join();
}
BENCHMARK(BM_IsoEchoPipelined)->Arg(1)->Arg(16)->Arg(256)->UseRealTime();

}  // namespace
}  // namespace kytkin

BENCHMARK_MAIN();
