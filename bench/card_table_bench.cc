// The card look-up an authorization makes (storage/ private tables, like a unit test of them):
// a 64-hex-char token to its card, in random order over N cards, through the compact CardTable
// (parse the hex into the 32 raw bytes, probe the index, compare the record) and, as the
// reference, through the unordered_map<std::string, Card> the store used before.
//
//   build/bin/card_table_bench --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include <algorithm>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "storage/compact_records.h"
#include "storage/store.h"

namespace kytkin::storage {
namespace {

constexpr uint64_t kSeed = 42;
constexpr size_t kLookupsPerPass = 1 << 16;  // tokens looked up per benchmark pass, in order

std::string PanDigits(uint64_t n) {
  std::string payload = std::to_string(n);
  payload = "400000" + std::string(9 - std::min<size_t>(9, payload.size()), '0') + payload;
  payload.push_back(Pan::LuhnCheckDigit(payload));
  return payload;
}

// N cards and a random sequence of their tokens to look up.
struct Population {
  std::vector<Card> cards;
  std::vector<std::string> lookups;
};

const Population& PopulationOf(size_t n) {
  static std::unordered_map<size_t, Population> made;
  auto it = made.find(n);
  if (it != made.end()) return it->second;
  Population p;
  const std::string key(32, 'k');
  p.cards.reserve(n);
  for (uint64_t i = 1; i <= n; ++i) {
    const std::string digits = PanDigits(i);
    Card c;
    c.token = CardTokenFor(key, digits);
    c.masked_pan = digits.substr(0, 6) + "******" + digits.substr(digits.size() - 4);
    c.account_id = i;
    c.expiry_year = 2030;
    c.expiry_month = 12;
    p.cards.push_back(std::move(c));
  }
  std::mt19937_64 rng(kSeed);
  p.lookups.reserve(kLookupsPerPass);
  for (size_t i = 0; i < kLookupsPerPass; ++i) p.lookups.push_back(p.cards[rng() % n].token);
  return made.emplace(n, std::move(p)).first->second;
}

void BM_CompactCardTable(benchmark::State& state) {
  const Population& p = PopulationOf(static_cast<size_t>(state.range(0)));
  CardTable table;
  for (const Card& c : p.cards) table.Insert(*PackCard(c));
  uint64_t sum = 0;
  for (auto _ : state) {
    for (const std::string& token : p.lookups) {
      auto key = ParseCardToken(token);
      const CardRecord* r = table.Find(*key);
      sum += r->account_id;
    }
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * p.lookups.size()));
  state.counters["table_MiB"] = static_cast<double>(table.MemoryBytes()) / (1 << 20);
}

void BM_UnorderedMapOfStrings(benchmark::State& state) {
  const Population& p = PopulationOf(static_cast<size_t>(state.range(0)));
  std::unordered_map<std::string, Card> map;
  for (const Card& c : p.cards) map[c.token] = c;
  uint64_t sum = 0;
  for (auto _ : state) {
    for (const std::string& token : p.lookups) sum += map.find(token)->second.account_id;
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * p.lookups.size()));
}

// The hex -> raw bytes step alone (part of every compact look-up by token).
void BM_ParseCardToken(benchmark::State& state) {
  const Population& p = PopulationOf(100'000);
  uint64_t sum = 0;
  for (auto _ : state) {
    for (const std::string& token : p.lookups) sum += (*ParseCardToken(token))[0];
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * p.lookups.size()));
}

BENCHMARK(BM_ParseCardToken)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CompactCardTable)->Arg(100'000)->Arg(1'000'000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_UnorderedMapOfStrings)->Arg(100'000)->Arg(1'000'000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace kytkin::storage

BENCHMARK_MAIN();
