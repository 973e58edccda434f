// Memory of the store's card cache: imports N cards (each with its own cardholder account and an
// opening balance, as `kytkin accounts import` does) into a fresh RocksDB store through
// Store::Import in chunks, then reopens the store (the cache rebuilt from disk, as a restarted
// server has it) and reports the process's resident set.
//
// Printed: import rate (rows/s, durable), RSS after the import, RSS after the reopen, and the
// RSS per card above the empty process. The target: <= 2 GiB with 10,000,000 cards.
// After the reopen, where the memory is (Store::GetMemoryUsage): the card table, the account
// table, RocksDB (memtables, block cache, index/filter blocks), and the rest of the RSS above
// the empty process (transfers, allocator overhead and free lists).
//
//   KYTKIN_BENCH_CARDS    cards to import (default 1,000,000; the published number uses 10^7)
//   KYTKIN_BENCH_DIR      where the database goes (default the system temp dir)
//   KYTKIN_BENCH_OPENING  opening balance per account, minor units (default 100,000; 0 imports
//                         no opening-balance transfers, to see what the transfers cost)
//   KYTKIN_BENCH_HOLDS    authorization holds taken after the import (default 0), one per card
//                         from card 1 on, so the reopen has that many open holds to load
//   KYTKIN_BENCH_OPEN_DIR an existing data dir (card key 32 x 'm', as here): no import, only
//                         open it and print where the open spent its time (Store::OpenStats),
//                         e.g. twice on a data dir from before the open-hold index: the first
//                         open builds it by a full scan, the second reads only the open holds
//
// After the reopen it prints Store::OpenStats: what the open read and how long each part took.
#include <benchmark/benchmark.h>
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/pan.h"
#include "storage/store.h"

namespace kytkin::storage {
namespace {

constexpr size_t kChunkRows = 10'000;  // rows per Import call (one durable write)
constexpr uint64_t kHoldWindow = 256;  // KYTKIN_BENCH_HOLDS: authorizations in flight
constexpr int64_t kOpeningBalanceMinor = 100'000;
constexpr uint16_t kEur = 978;
constexpr uint64_t kDefaultCards = 1'000'000;
constexpr double kBytesPerMib = 1024.0 * 1024.0;

uint64_t CardsToImport() {
  const char* v = std::getenv("KYTKIN_BENCH_CARDS");
  return v && *v ? std::strtoull(v, nullptr, 10) : kDefaultCards;
}

int64_t OpeningBalanceMinor() {
  const char* v = std::getenv("KYTKIN_BENCH_OPENING");
  return v && *v ? std::strtoll(v, nullptr, 10) : kOpeningBalanceMinor;
}

uint64_t HoldsToTake() {
  const char* v = std::getenv("KYTKIN_BENCH_HOLDS");
  return v && *v ? std::strtoull(v, nullptr, 10) : 0;
}

std::string BenchDir() {
  const char* v = std::getenv("KYTKIN_BENCH_DIR");
  std::string base = v && *v ? v : std::filesystem::temp_directory_path().string();
  std::string templ = base + "/kytkin-card-memory-XXXXXX";
  if (!::mkdtemp(templ.data())) std::abort();
  return templ;
}

// VmRSS of this process, KiB.
uint64_t ResidentKib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10);
  }
  return 0;
}

// 16-digit PANs 4000 00nn nnnn nnnC: distinct for n < 10^9, valid Luhn.
Pan CardPan(uint64_t n) {
  char payload[16];
  std::snprintf(payload, sizeof(payload), "400000%09llu", static_cast<unsigned long long>(n));
  std::string digits(payload);
  digits.push_back(Pan::LuhnCheckDigit(digits));
  return std::move(Pan::Parse(digits)).value();
}

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

constexpr double kMicrosPerSecond = 1e6;

void PrintOpenStats(const Store::OpenStats& o) {
  std::printf(
      "open: %.2f s total; RocksDB open (WAL replay) %.2f s, accounts %.2f s (%llu), cards %.2f s "
      "(%llu), open holds %.2f s (%llu "
      "holds, %llu transfers scanned%s), SAF + settlement %.2f s, velocity %.2f s (%llu "
      "records)\n",
      static_cast<double>(o.total_us) / kMicrosPerSecond,
      static_cast<double>(o.backend_open_us) / kMicrosPerSecond,
      static_cast<double>(o.accounts_us) / kMicrosPerSecond,
      static_cast<unsigned long long>(o.accounts),
      static_cast<double>(o.cards_us) / kMicrosPerSecond, static_cast<unsigned long long>(o.cards),
      static_cast<double>(o.transfers_us) / kMicrosPerSecond,
      static_cast<unsigned long long>(o.open_holds),
      static_cast<unsigned long long>(o.transfers_scanned),
      o.open_hold_index_built ? ", index built" : "",
      static_cast<double>(o.saf_settlement_us) / kMicrosPerSecond,
      static_cast<double>(o.velocity_us) / kMicrosPerSecond,
      static_cast<unsigned long long>(o.velocity_entries));
  std::fflush(stdout);
}

// KYTKIN_BENCH_OPEN_DIR: open an existing data dir once and say where the time went.
int OpenExisting(const char* data_dir) {
  StoreOptions options;
  options.data_dir = data_dir;
  options.card_key = std::string(32, 'm');
  const auto start = std::chrono::steady_clock::now();
  auto opened = Store::Open(options);
  if (!opened.ok()) {
    std::fprintf(stderr, "open %s: %s\n", data_dir, opened.status().ToString().c_str());
    return 1;
  }
  std::printf("opened %s in %.2f s, RSS %llu MiB\n", data_dir, Seconds(start),
              static_cast<unsigned long long>(ResidentKib() / 1024));
  PrintOpenStats((*opened)->open_stats());
  return 0;
}

void BM_CardCacheMemory(benchmark::State& state) {
  const uint64_t cards = CardsToImport();
  const std::string dir = BenchDir();
  StoreOptions options;
  options.data_dir = dir + "/db";
  options.card_key = std::string(32, 'm');
  const uint64_t rss_empty_kib = ResidentKib();
  double import_s = 0;
  uint64_t rss_imported_kib = 0, rss_reopened_kib = 0;
  const int64_t opening_minor = OpeningBalanceMinor();
  Store::MemoryUsage usage;
  for (auto _ : state) {
    {
      auto opened = Store::Open(options);
      if (!opened.ok()) {
        state.SkipWithError(opened.status().ToString().c_str());
        return;
      }
      std::unique_ptr<Store> store = std::move(opened).value();
      const auto start = std::chrono::steady_clock::now();
      std::vector<Store::ImportRow> chunk;
      chunk.reserve(kChunkRows);
      for (uint64_t n = 1; n <= cards; ++n) {
        Store::ImportRow row;
        Account a;
        a.id = n;
        a.currency = kEur;
        row.account = a;
        row.opening_balance_minor = opening_minor;
        row.pan = CardPan(n);
        row.card.expiry_year = 2099;
        row.card.expiry_month = 12;
        row.card.daily_amount_max_minor = 1'000'000;
        chunk.push_back(std::move(row));
        if (chunk.size() == kChunkRows || n == cards) {
          auto results = store->Import(chunk);
          if (!results.ok()) {
            state.SkipWithError(results.status().ToString().c_str());
            return;
          }
          for (const Status& s : *results) {
            if (!s.ok()) {
              state.SkipWithError(s.ToString().c_str());
              return;
            }
          }
          chunk.clear();
          if (n % 1'000'000 == 0) {
            std::printf("  %llu cards imported, %.0f s, RSS %llu MiB\n",
                        static_cast<unsigned long long>(n), Seconds(start),
                        static_cast<unsigned long long>(ResidentKib() / 1024));
            std::fflush(stdout);
          }
        }
      }
      import_s = Seconds(start);
      rss_imported_kib = ResidentKib();
      // Open holds for the reopen to load: authorizations pipelined kHoldWindow at a time.
      const uint64_t holds = std::min(HoldsToTake(), cards);
      std::atomic<uint64_t> in_flight{0}, approved{0};
      const auto holds_start = std::chrono::steady_clock::now();
      for (uint64_t n = 1; n <= holds; ++n) {
        for (uint64_t f = in_flight.load(); f >= kHoldWindow; f = in_flight.load()) {
          in_flight.wait(f);
        }
        Request r;
        r.operation = Operation::kAuthorize;
        r.pan = CardPan(n);
        r.amount = Amount(1, kEur);
        r.request_key = "hold-" + std::to_string(n);
        r.mti = "0100";
        in_flight.fetch_add(1);
        Status s = store->Submit(std::move(r), [&](Result<Decision> d) {
          if (d.ok() && d->approved()) approved.fetch_add(1);
          in_flight.fetch_sub(1);
          in_flight.notify_one();
        });
        if (!s.ok()) {
          state.SkipWithError(s.ToString().c_str());
          return;
        }
      }
      for (uint64_t f = in_flight.load(); f > 0; f = in_flight.load()) in_flight.wait(f);
      if (holds > 0) {
        std::printf("  %llu holds taken (%llu approved), %.1f s\n",
                    static_cast<unsigned long long>(holds),
                    static_cast<unsigned long long>(approved.load()), Seconds(holds_start));
      }
      const auto close_start = std::chrono::steady_clock::now();
      store.reset();
      std::printf("  closed in %.2f s\n", Seconds(close_start));
    }
    // A restarted server: the cache is rebuilt from what is on disk. Hand the first store's
    // freed heap back to the OS first, so the number is the rebuilt cache's, not glibc's free
    // lists.
    malloc_trim(0);
    const auto start = std::chrono::steady_clock::now();
    auto reopened = Store::Open(options);
    if (!reopened.ok()) {
      state.SkipWithError(reopened.status().ToString().c_str());
      return;
    }
    const double reopen_s = Seconds(start);
    rss_reopened_kib = ResidentKib();
    auto card = (*reopened)->GetCard((*reopened)->CardToken(CardPan(cards)));
    if (!card.ok() || card->account_id != cards) state.SkipWithError("last card not found");
    auto measured = (*reopened)->GetMemoryUsage();
    if (!measured.ok()) {
      state.SkipWithError(measured.status().ToString().c_str());
      return;
    }
    usage = *measured;
    state.counters["reopen_s"] = reopen_s;
    PrintOpenStats((*reopened)->open_stats());
  }
  const double per_card =
      static_cast<double>(rss_reopened_kib - rss_empty_kib) * 1024.0 / static_cast<double>(cards);
  state.counters["cards"] = static_cast<double>(cards);
  state.counters["import_rows_per_s"] = static_cast<double>(cards) / import_s;
  state.counters["rss_imported_MiB"] = static_cast<double>(rss_imported_kib) / 1024.0;
  state.counters["rss_reopened_MiB"] = static_cast<double>(rss_reopened_kib) / 1024.0;
  state.counters["bytes_per_card"] = per_card;
  std::printf(
      "card cache: %llu cards (each with its own account): import %.0f rows/s "
      "durable; RSS after import %llu MiB, after reopen %llu MiB (%.0f bytes per card above the "
      "empty process, %llu MiB)\n",
      static_cast<unsigned long long>(cards), static_cast<double>(cards) / import_s,
      static_cast<unsigned long long>(rss_imported_kib / 1024),
      static_cast<unsigned long long>(rss_reopened_kib / 1024), per_card,
      static_cast<unsigned long long>(rss_empty_kib / 1024));
  const double rest_bytes =
      static_cast<double>(rss_reopened_kib - rss_empty_kib) * 1024.0 -
      static_cast<double>(usage.card_bytes + usage.account_bytes + usage.rocksdb_bytes);
  const double n = static_cast<double>(cards);
  std::printf(
      "after reopen: cards %.0f MiB (%.1f B/card), accounts %.0f MiB (%.1f B/account), RocksDB "
      "%.0f MiB, rest of the RSS (transfers, allocator) %.0f MiB (%.1f B/card); opening "
      "balance %lld\n",
      static_cast<double>(usage.card_bytes) / kBytesPerMib,
      static_cast<double>(usage.card_bytes) / n,
      static_cast<double>(usage.account_bytes) / kBytesPerMib,
      static_cast<double>(usage.account_bytes) / n,
      static_cast<double>(usage.rocksdb_bytes) / kBytesPerMib, rest_bytes / kBytesPerMib,
      rest_bytes / n, static_cast<long long>(opening_minor));
  state.counters["card_table_MiB"] = static_cast<double>(usage.card_bytes) / kBytesPerMib;
  state.counters["account_table_MiB"] = static_cast<double>(usage.account_bytes) / kBytesPerMib;
  state.counters["rocksdb_MiB"] = static_cast<double>(usage.rocksdb_bytes) / kBytesPerMib;
  std::fflush(stdout);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

BENCHMARK(BM_CardCacheMemory)->Iterations(1)->UseRealTime()->Unit(benchmark::kSecond);

}  // namespace
}  // namespace kytkin::storage

int main(int argc, char** argv) {
  if (const char* dir = std::getenv("KYTKIN_BENCH_OPEN_DIR"); dir && *dir) {
    return kytkin::storage::OpenExisting(dir);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
