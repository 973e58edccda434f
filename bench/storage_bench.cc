// Durable authorizations through the storage layer alone: funds check + pending hold + velocity
// + dedupe + journal record, synced with group commit (RocksDB, sync on, the default options).
//
// Two workloads, each with 1, 8 and 64 concurrent submitters:
//   closed_loop  each submitter has one request in flight (submit, wait for durable, repeat):
//                the latency one request sees.
//   pipelined    each submitter keeps kPipelineWindow requests in flight, as an event loop with
//                many terminals does: the throughput group commit reaches.
//   NO_SYNC_ref  pipelined with StoreOptions::unsafe_disable_sync: NOT durable, printed only to
//                show how much of the cost is CPU and how much is fdatasync.
// Printed: ops/s and commit latency (Submit to durable completion) p50/p99/p99.9 in µs.
//
//   KYTKIN_BENCH_SECONDS   seconds per case (default 2)
//   KYTKIN_BENCH_DIR       where the databases go (default the system temp dir)
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include "core/pan.h"
#include "storage/store.h"

namespace kytkin::storage {
namespace {

constexpr int kPipelineWindow = 256;             // requests in flight per pipelined submitter
constexpr int64_t kBalance = 1'000'000'000'000;  // minor units: never the limiting factor
constexpr uint16_t kEur = 978;

double BenchSeconds() {
  const char* v = std::getenv("KYTKIN_BENCH_SECONDS");
  return v && *v ? std::atof(v) : 2.0;
}

std::string BenchDir() {
  const char* v = std::getenv("KYTKIN_BENCH_DIR");
  std::string base = v && *v ? v : std::filesystem::temp_directory_path().string();
  std::string templ = base + "/kytkin-storage-bench-XXXXXX";
  if (!::mkdtemp(templ.data())) std::abort();
  return templ;
}

Pan BenchPan(int n) {
  std::string digits = std::to_string(n);
  std::string payload = "5100" + std::string(11 - digits.size(), '0') + digits;
  payload.push_back(Pan::LuhnCheckDigit(payload));
  return std::move(Pan::Parse(payload)).value();
}

int64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void RunAuthorizations(benchmark::State& state, int window, bool sync = true) {
  const int submitters = static_cast<int>(state.range(0));
  const std::string dir = BenchDir();
  StoreOptions options;
  options.data_dir = dir + "/db";
  options.card_key = std::string(32, 'b');
  options.unsafe_disable_sync = !sync;
  auto opened = Store::Open(options);
  if (!opened.ok()) {
    state.SkipWithError(opened.status().ToString().c_str());
    return;
  }
  std::unique_ptr<Store> store = std::move(opened).value();
  std::vector<Pan> pans;
  for (int i = 1; i <= submitters; ++i) {
    Account a;
    a.id = static_cast<uint64_t>(i);
    a.currency = kEur;
    if (!store->CreateAccount(a, kBalance).ok()) std::abort();
    Card c;
    c.account_id = a.id;
    c.expiry_year = 2099;
    c.expiry_month = 12;
    pans.push_back(BenchPan(i));
    if (!store->CreateCard(pans.back(), c).ok()) std::abort();
  }

  const double seconds = BenchSeconds();
  std::vector<std::vector<int64_t>> latencies(submitters);
  std::atomic<uint64_t> declined{0};
  std::atomic<uint64_t> failed{0};
  int64_t elapsed_us = 0;
  for (auto _ : state) {
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    const int64_t start = NowUs();
    for (int t = 0; t < submitters; ++t) {
      threads.emplace_back([&, t] {
        // Completions run one at a time on the store's committer thread, so `lat` needs no
        // lock; the window is an atomic the submitter waits on only when it is full.
        std::atomic<int> in_flight{0};
        auto& lat = latencies[t];
        lat.reserve(1 << 20);
        Request r;
        r.operation = Operation::kAuthorize;
        r.pan = pans[t];
        r.amount = Amount(1'000, kEur);
        r.terminal_id = "T" + std::to_string(t);
        r.merchant_id = "M000000000001";
        r.mti = "0100";
        for (uint64_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {
          for (int n = in_flight.load(); n >= window; n = in_flight.load()) in_flight.wait(n);
          in_flight.fetch_add(1);
          r.request_key = "t" + std::to_string(t) + "-" + std::to_string(i);
          r.stan = std::to_string(i % 1'000'000);
          const int64_t submitted = NowUs();
          r.received_monotonic_us = 0;
          Status s = store->Submit(r, [&, submitted](Result<Decision> d) {
            lat.push_back(NowUs() - submitted);
            if (!d.ok()) {
              ++failed;
            } else if (!d->approved()) {
              ++declined;
            }
            // Wake the submitter when the window opens, and when the last one is in.
            const int before = in_flight.fetch_sub(1);
            if (before == window || before == 1) in_flight.notify_one();
          });
          if (!s.ok()) {
            ++failed;
            in_flight.fetch_sub(1);
          }
        }
        for (int n = in_flight.load(); n != 0; n = in_flight.load()) in_flight.wait(n);
      });
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop = true;
    for (auto& th : threads) th.join();
    elapsed_us = NowUs() - start;
  }

  std::vector<int64_t> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) {
    if (all.empty()) return 0.0;
    return static_cast<double>(all[std::min(all.size() - 1, static_cast<size_t>(p * all.size()))]);
  };
  const double ops = static_cast<double>(all.size()) / (static_cast<double>(elapsed_us) / 1e6);
  state.counters["ops_per_s"] = ops;
  state.counters["p50_us"] = pct(0.50);
  state.counters["p99_us"] = pct(0.99);
  state.counters["p99.9_us"] = pct(0.999);
  state.counters["declined"] = static_cast<double>(declined.load());
  state.counters["failed"] = static_cast<double>(failed.load());
  std::printf(
      "%-12s submitters=%-3d window=%-4d ops=%zu  %.0f %s  "
      "commit latency p50=%.0fus p99=%.0fus p99.9=%.0fus  declined=%llu failed=%llu\n",
      !sync         ? "NO_SYNC_ref"
      : window == 1 ? "closed_loop"
                    : "pipelined",
      submitters, window, all.size(), ops,
      sync ? "durable authorizations/s" : "authorizations/s (NOT durable)", pct(0.50), pct(0.99),
      pct(0.999), static_cast<unsigned long long>(declined.load()),
      static_cast<unsigned long long>(failed.load()));
  std::fflush(stdout);
  store.reset();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

void BM_ClosedLoop(benchmark::State& state) { RunAuthorizations(state, 1); }
void BM_Pipelined(benchmark::State& state) { RunAuthorizations(state, kPipelineWindow); }
// Reference only, NOT durable: the same work without fdatasync, to separate CPU from sync cost.
void BM_PipelinedUnsafeNoSync(benchmark::State& state) {
  RunAuthorizations(state, kPipelineWindow, false);
}

BENCHMARK(BM_ClosedLoop)
    ->Arg(1)
    ->Arg(8)
    ->Arg(64)
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Pipelined)
    ->Arg(1)
    ->Arg(8)
    ->Arg(64)
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PipelinedUnsafeNoSync)
    ->Arg(64)
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace kytkin::storage

BENCHMARK_MAIN();
