// Routing lookup cost: a 100,000-range BIN table (6 to 11 digits, nested lengths), random PANs
// from a fixed seed, half of them under a range of the table. Target: <= 100 ns per lookup.
//
//   build/bin/routing_bench --benchmark_min_time=1
#include <algorithm>
#include <cstdio>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "routing/routing_table.h"
#include "routing/table_file.h"
#include "routing/table_holder.h"

namespace kytkin::routing {
namespace {

constexpr size_t kRanges = 100'000;
constexpr size_t kIssuers = 50;
constexpr size_t kPans = 1 << 16;  // a power of two, cycled through with a mask
constexpr uint64_t kSeed = 20261126;

struct Workload {
  std::string text;               // the table as a file
  RoutingTable table;             // the same table, parsed
  std::vector<std::string> pans;  // 16 digits each
  LinkHealth links;
};

std::string Digits(std::mt19937_64& rng, size_t n) {
  std::string s(n, '0');
  for (char& c : s) c = static_cast<char>('0' + rng() % 10);
  return s;
}

// Share of ranges per length 6..11: 8-digit BINs dominate current tables.
constexpr double kLengthShare[] = {0.30, 0.05, 0.45, 0.10, 0.05, 0.05};

Workload MakeWorkload() {
  std::mt19937_64 rng(kSeed);
  Workload w;
  w.text = "unknown_bin 15\nissuer onus on_us\n";
  for (size_t i = 0; i < kIssuers; ++i) {
    const std::string id = "issuer" + std::to_string(i);
    w.text += "issuer " + id + " primary=" + id + "-a backup=" + id + "-b\n";
    w.links.Set(id + "-a", i % 10 != 0);  // every tenth issuer runs on its backup
    w.links.Set(id + "-b", true);
  }
  std::vector<std::string> lows;
  for (size_t li = 0; li < 6; ++li) {
    const size_t n = kBinDigitsMin + li;
    const size_t count = static_cast<size_t>(kRanges * kLengthShare[li]);
    // Distinct starts, first digit 2..6 like the card brands, then disjoint ranges of width 1..10.
    std::set<std::string> starts;
    while (starts.size() < count) {
      starts.insert(std::to_string(2 + rng() % 5) + Digits(rng, n - 1));
    }
    std::string previous_high;
    for (const std::string& low : starts) {
      if (!previous_high.empty() && low <= previous_high) continue;
      std::string high = low;
      const int widen = static_cast<int>(rng() % 10);
      while (high.back() < '9' && high.back() - low.back() < widen) ++high.back();
      if (auto next = starts.upper_bound(low); next != starts.end() && high >= *next) high = low;
      w.text +=
          "bin " + low + (high == low ? "" : "-" + high) + " " +
          (rng() % 20 == 0 ? std::string("onus") : "issuer" + std::to_string(rng() % kIssuers)) +
          "\n";
      lows.push_back(low);
      previous_high = high;
    }
  }
  w.text +=
      "rule gambling mcc=7995,7800-7802 decline=57\n"
      "rule atm-cash channel=atm currency=EUR amount_min=1000.00 decline=61\n"
      "rule big-online channel=ecommerce currency=EUR amount_min=5000.00 route=onus\n"
      "rule moto-issuer7 channel=moto bin_issuer=issuer7 route=issuer8\n"
      "rule fuel mcc=5542 currency=EUR amount_max=1.00 decline=13\n";
  auto table = ParseRoutingTable(w.text);
  if (!table.ok()) {
    std::fprintf(stderr, "workload table invalid: %s\n", table.status().ToString().c_str());
    std::abort();
  }
  w.table = std::move(table).value();
  for (size_t i = 0; i < kPans; ++i) {
    if (i % 2 == 0) {
      const std::string& low = lows[rng() % lows.size()];
      w.pans.push_back(low + Digits(rng, 16 - low.size()));
    } else {
      w.pans.push_back(Digits(rng, 16));
    }
  }
  return w;
}

const Workload& TheWorkload() {
  static const Workload* workload = new Workload(MakeWorkload());
  return *workload;
}

void BM_BinLookup(benchmark::State& state) {
  const Workload& w = TheWorkload();
  const BinTable& bins = w.table.bins();
  size_t i = 0;
  size_t hits = 0;
  for (auto _ : state) {
    // Match and use the value (the issuer index), as Route does.
    const BinMatch match = bins.Match(w.pans[i++ & (kPans - 1)]);
    hits += match.range != nullptr;
    benchmark::DoNotOptimize(match.value);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.counters["ranges"] = static_cast<double>(bins.size());
  state.counters["hit_ratio"] = static_cast<double>(hits) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_BinLookup);

// The per-length binary search the index replaces, for comparison.
void BM_BinLookupBySearch(benchmark::State& state) {
  const Workload& w = TheWorkload();
  const BinTable& bins = w.table.bins();
  size_t i = 0;
  for (auto _ : state) {
    const BinRange* range = bins.FindBySearch(w.pans[i++ & (kPans - 1)]);
    benchmark::DoNotOptimize(range ? range->value : 0);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_BinLookupBySearch);

// A whole routing decision: BIN lookup, five rules, link health (100 links).
void BM_Route(benchmark::State& state) {
  const Workload& w = TheWorkload();
  const Channel channels[] = {Channel::kPos, Channel::kEcommerce, Channel::kAtm, Channel::kMoto};
  size_t i = 0;
  for (auto _ : state) {
    const size_t k = i++ & (kPans - 1);
    const RouteRequest request{w.pans[k], channels[k & 3], static_cast<uint16_t>(5411 + (k & 7)),
                               Amount(static_cast<int64_t>(k * 37 % 900000), 978)};
    benchmark::DoNotOptimize(w.table.Route(request, w.links));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_Route);

RoutingTableHolder& TheHolder() {
  static RoutingTableHolder* holder = [] {
    auto* h = new RoutingTableHolder();
    if (!h->ReloadFromText(TheWorkload().text).ok()) std::abort();
    return h;
  }();
  return *holder;
}

// What a request pays with reloads possible: load the current table (atomic shared_ptr), route.
void BM_HolderCurrentAndRoute(benchmark::State& state) {
  const Workload& w = TheWorkload();
  RoutingTableHolder* holder = &TheHolder();
  size_t i = 0;
  for (auto _ : state) {
    const size_t k = i++ & (kPans - 1);
    const auto table = holder->Current();
    const RouteRequest request{w.pans[k], Channel::kPos, 5411, Amount(1000, 978)};
    benchmark::DoNotOptimize(table->Route(request, w.links));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_HolderCurrentAndRoute)->Threads(1)->Threads(2);

// The same through a per-thread RoutingTableReader (one atomic load per request).
void BM_ReaderGetAndRoute(benchmark::State& state) {
  const Workload& w = TheWorkload();
  RoutingTableReader reader(TheHolder());
  size_t i = 0;
  for (auto _ : state) {
    const size_t k = i++ & (kPans - 1);
    const RouteRequest request{w.pans[k], Channel::kPos, 5411, Amount(1000, 978)};
    benchmark::DoNotOptimize(reader.Get().Route(request, w.links));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_ReaderGetAndRoute)->Threads(1)->Threads(2);

// A reload of the 100,000-range file from memory: parse, validate, index.
void BM_ParseTable(benchmark::State& state) {
  const Workload& w = TheWorkload();
  for (auto _ : state) {
    auto table = ParseRoutingTable(w.text);
    if (!table.ok()) state.SkipWithError("parse failed");
    benchmark::DoNotOptimize(table);
  }
  state.counters["bytes"] = static_cast<double>(w.text.size());
}
BENCHMARK(BM_ParseTable)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace kytkin::routing

BENCHMARK_MAIN();
