// Settling one large acquirer batch (issue 6): KYTKIN_BENCH_ITEMS (default 1,000,000) captures,
// each matched by kytkin's RRN and auth code to its authorization hold, posted exactly once,
// streamed through settlement::BatchWriter (bounded window) into the RocksDB ledger (synced,
// group commit), then reconciled. The holds are made first (not timed).
//
// Printed: items/s of the settlement alone, the process CPU time per item it took (all
// threads; steadier than items/s on a loaded machine), and the peak resident set (getrusage)
// after the authorizations and after the settlement, so the part settlement adds is visible,
// with the memory of the store's RRN -> open hold index (Store::MemoryStats).
//
// The items go through BatchWriter as the file and gRPC channels send them: chunks of up to
// Store::kSettlementChunkItemsMax items, each one ledger decision and one journal record.
//
//   KYTKIN_BENCH_ITEMS  items in the batch (default 1000000)
//   KYTKIN_BENCH_DIR    where the database goes (default the system temp dir)
//   KYTKIN_BENCH_MATCH  "rrn" (default: kytkin's RRN, as the CSV and ISO 8583 channels use; an
//                       open hold is found in memory by it) or "key" (the authorization's
//                       request key: the store's dedupe window, or a RocksDB point read for a
//                       key older than the window, then the open hold in memory)
//   KYTKIN_BENCH_RESUBMIT "1": then send the same batch again and print how fast every item is
//                       answered as a duplicate (default 0)
//   KYTKIN_BENCH_OFFUS  "1": the authorizations are a remote issuer's approvals (journaled
//                       kRemoteDecision, no hold here), so each capture posts the issuer's
//                       receivable and takes an entry in the off-us capture index (default 0)
//   KYTKIN_BENCH_REOPEN "1": the store is closed and reopened between the holds and the
//                       settlement, as after a restart: the RRN index is what Open rebuilt
//                       from the open-hold entries (default 0: the holds indexed as made)
//
// Not a CI test: run it by hand, e.g. `build/bin/settlement_bench`.
#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <vector>

#include "core/pan.h"
#include "storage/store.h"
#include "switch/settlement.h"

namespace kytkin {
namespace {

constexpr uint16_t kEur = 978;
constexpr int kCards = 1000;
constexpr int64_t kBalanceMinor = 1'000'000'000'000;  // never the limiting factor
constexpr int64_t kHoldMinor = 1'000;
constexpr size_t kAuthWindow = 8192;  // authorizations in flight during the setup

// KYTKIN_BENCH_RESUBMIT=1: after the settlement, the same batch again (exactly-once path).
bool Resubmit() {
  const char* v = std::getenv("KYTKIN_BENCH_RESUBMIT");
  return v != nullptr && std::string_view(v) == "1";
}

bool MatchByKey() {
  const char* v = std::getenv("KYTKIN_BENCH_MATCH");
  return v != nullptr && std::string_view(v) == "key";
}

bool Reopen() {
  const char* v = std::getenv("KYTKIN_BENCH_REOPEN");
  return v != nullptr && std::string_view(v) == "1";
}

bool OffUs() {
  const char* v = std::getenv("KYTKIN_BENCH_OFFUS");
  return v != nullptr && std::string_view(v) == "1";
}

int64_t Items() {
  const char* v = std::getenv("KYTKIN_BENCH_ITEMS");
  return v && *v ? std::atoll(v) : 1'000'000;
}

// CPU time of the whole process (every thread), seconds: on a shared, loaded machine the CPU an
// item costs says more than the wall time it took.
double ProcessCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

double PeakRssMiB() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // KiB on Linux
}

Pan BenchPan(int n) {
  std::string digits = std::to_string(n);
  std::string payload = "5100" + std::string(11 - digits.size(), '0') + digits;
  payload.push_back(Pan::LuhnCheckDigit(payload));
  return std::move(Pan::Parse(payload)).value();
}

struct Auth {
  uint64_t rrn = 0;
  uint32_t code = 0;
};

void BM_SettleBatch(benchmark::State& state) {
  const int64_t items = Items();
  const char* dir_env = std::getenv("KYTKIN_BENCH_DIR");
  std::string dir = (dir_env && *dir_env ? std::string(dir_env)
                                         : std::filesystem::temp_directory_path().string()) +
                    "/kytkin-settlement-bench-XXXXXX";
  if (!::mkdtemp(dir.data())) std::abort();
  storage::StoreOptions options;
  options.data_dir = dir + "/ledger";
  options.card_key = std::string(32, 'b');
  options.sweep_interval_ms = 0;
  auto opened = storage::Store::Open(options);
  if (!opened.ok()) {
    state.SkipWithError(opened.status().ToString().c_str());
    return;
  }
  storage::Store* store = opened->get();
  for (auto [id, kind] : {std::pair{1001u, storage::AccountKind::kMerchant},
                          {9001u, storage::AccountKind::kAcquirerSettlement},
                          {9002u, storage::AccountKind::kFees}}) {
    storage::Account a;
    a.id = id;
    a.kind = kind;
    a.currency = kEur;
    (void)store->CreateAccount(a);
  }
  std::vector<Pan> pans;
  for (int i = 0; i < kCards; ++i) {
    storage::Account a;
    a.id = 100'000 + static_cast<uint64_t>(i);
    a.kind = storage::AccountKind::kCardholderDebit;
    a.currency = kEur;
    (void)store->CreateAccount(a, kBalanceMinor);
    storage::Card c;
    c.account_id = a.id;
    c.expiry_year = 2099;
    c.expiry_month = 12;
    pans.push_back(BenchPan(i));
    (void)store->CreateCard(pans.back(), c);
  }

  // Setup: one approved hold per item, pipelined.
  std::vector<Auth> auths(static_cast<size_t>(items));
  std::mutex mu;
  std::condition_variable cv;
  size_t in_flight = 0;
  std::atomic<int64_t> declined{0};
  const auto setup_start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < items; ++i) {
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return in_flight < kAuthWindow; });
      ++in_flight;
    }
    storage::Request r;
    r.operation = storage::Operation::kAuthorize;
    if (OffUs()) {  // as switch/routed_request.cc journals an issuer's approval
      r.operation = storage::Operation::kRemoteDecision;
      r.remote_response = ResponseCode::kApproved;
      r.remote_auth_code = "000001";
      r.issuer_id = "benchbank";
      r.route = "issuer benchbank via bb-a";
      r.mti = "0100";  // only an authorization is captured
    }
    r.pan = pans[static_cast<size_t>(i % kCards)];
    r.amount = Amount(kHoldMinor, kEur);
    r.request_key = "auth|" + std::to_string(i);
    r.terminal_id = "TERM0001";
    Auth* slot = &auths[static_cast<size_t>(i)];
    Status s = store->Submit(std::move(r), [&, slot](Result<storage::Decision> d) {
      if (d.ok() && d->approved()) {
        slot->rrn = d->journal_sequence;
        slot->code = static_cast<uint32_t>(std::atoi(d->auth_code.c_str()));
      } else {
        declined.fetch_add(1);
      }
      std::lock_guard lock(mu);
      --in_flight;
      cv.notify_one();
    });
    if (!s.ok()) std::abort();
  }
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return in_flight == 0; });
  }
  const double setup_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - setup_start).count();
  double reopen_s = 0;
  if (Reopen()) {
    const auto reopen_start = std::chrono::steady_clock::now();
    opened->reset();
    opened = storage::Store::Open(options);
    if (!opened.ok()) {
      state.SkipWithError(opened.status().ToString().c_str());
      return;
    }
    store = opened->get();
    reopen_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - reopen_start).count();
  }
  const double rss_after_auths = PeakRssMiB();
  auto stats = store->GetMemoryStats();
  const uint64_t hold_index_entries = stats.ok() ? stats->hold_index_entries : 0;
  const double hold_index_mib =
      stats.ok() ? static_cast<double>(stats->hold_index_bytes) / (1024.0 * 1024.0) : 0;

  SettlementConfig config;
  config.merchants["KYTKINMERCH0001"] = MerchantSettlement{1001, 100, 0};
  settlement::BatchHeader header{"BENCH-1", "100001", "TERM0001", "KYTKINMERCH0001", kEur};
  int64_t accepted = 0, rejected = 0;
  double settle_s = 0, settle_cpu_s = 0;
  // Sends the whole batch through a BatchWriter; counts the outcomes.
  int64_t duplicates = 0;
  auto send_batch = [&]() -> Status {
    auto writer = settlement::BatchWriter::Open(*store, config, header, SystemClock::Get(), {});
    if (!writer.ok()) return writer.status();
    auto count = [&](const settlement::ItemResult& r) {
      IsApproval(r.code) ? ++accepted : ++rejected;
      if (r.duplicate) ++duplicates;
    };
    char code[8];
    const bool by_key = MatchByKey();
    for (int64_t i = 0; i < items; ++i) {
      const Auth& a = auths[static_cast<size_t>(i)];
      settlement::Item item;
      item.number = static_cast<uint64_t>(i + 1);
      item.amount_minor = kHoldMinor;
      if (by_key) {
        item.auth_request_key = "auth|" + std::to_string(i);
      } else {
        item.auth_rrn = std::to_string(a.rrn);
      }
      std::snprintf(code, sizeof code, "%06u", a.code);
      item.auth_code = code;
      KYTKIN_RETURN_IF_ERROR((*writer)->Add(item, count));
    }
    return (*writer)->Finish(count);
  };
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    const double cpu_start = ProcessCpuSeconds();
    if (Status s = send_batch(); !s.ok()) {
      state.SkipWithError(s.ToString().c_str());
      return;
    }
    storage::BatchTotals declared;
    declared.captures_count = static_cast<uint64_t>(items);
    declared.captures_minor = items * kHoldMinor;
    auto rec = settlement::Reconcile(*store, "BENCH-1", declared);
    settle_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    settle_cpu_s = ProcessCpuSeconds() - cpu_start;
    if (!rec.ok() || rec->code != ResponseCode::kApproved) {
      state.SkipWithError("batch not in balance");
    }
  }
  if (Resubmit()) {
    // The acquirer sends the same batch again: every item is answered from its chunk record.
    const int64_t accepted_before = accepted;
    const auto start = std::chrono::steady_clock::now();
    const double cpu_start = ProcessCpuSeconds();
    if (Status s = send_batch(); !s.ok()) std::abort();
    const double resubmit_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf(
        "\nsettlement_bench: resubmitted the batch: %lld duplicates of %lld items in %.2f s = "
        "%.0f items/s, %.1f us CPU per item\n",
        static_cast<long long>(duplicates), static_cast<long long>(items), resubmit_s,
        items / resubmit_s, (ProcessCpuSeconds() - cpu_start) * 1e6 / static_cast<double>(items));
    accepted = accepted_before;
  }
  const double rss_after_settle = PeakRssMiB();
  // What the store keeps per item after the batch (the off-us capture index: only entries of
  // writes not yet synced).
  auto after = store->GetMemoryStats();
  const uint64_t index_resident = after.ok() ? after->settlement_index_entries : 0;
  state.counters["items"] = static_cast<double>(items);
  state.counters["items_per_s"] = static_cast<double>(items) / settle_s;
  state.counters["rejected"] = static_cast<double>(rejected);
  state.counters["cpu_us_per_item"] = settle_cpu_s * 1e6 / static_cast<double>(items);
  state.counters["peak_rss_MiB_after_auths"] = rss_after_auths;
  state.counters["peak_rss_MiB_after_settle"] = rss_after_settle;
  char reopened[96] = "";
  if (Reopen()) {
    std::snprintf(reopened, sizeof reopened, ", store reopened in %.2f s (open holds %.2f s)",
                  reopen_s, static_cast<double>(store->open_stats().transfers_us) / 1e6);
  }
  std::printf(
      "\nsettlement_bench: %lld items: setup %lld holds in %.1f s (%.0f/s, %lld declined)%s\n"
      "  RRN -> open hold index entries before the settlement: %llu%s\n"
      "  settled %lld accepted, %lld rejected in %.2f s = %.0f items/s (%s%s match, synced), "
      "%.1f us CPU per item (all threads)\n"
      "  peak RSS %.0f MiB after the holds, %.0f MiB after the settlement (+%.0f MiB, %.0f "
      "bytes/item); the RRN -> open hold index took %.1f MiB of it\n"
      "  off-us capture index entries in memory after the batch: %llu\n",
      static_cast<long long>(items), static_cast<long long>(items), setup_s, items / setup_s,
      static_cast<long long>(declined.load()), reopened,
      static_cast<unsigned long long>(hold_index_entries), Reopen() ? " (after the reopen)" : "",
      static_cast<long long>(accepted), static_cast<long long>(rejected), settle_s,
      items / settle_s, OffUs() ? "off-us, " : "", MatchByKey() ? "key" : "RRN",
      settle_cpu_s * 1e6 / static_cast<double>(items), rss_after_auths, rss_after_settle,
      rss_after_settle - rss_after_auths,
      (rss_after_settle - rss_after_auths) * 1024 * 1024 / static_cast<double>(items),
      hold_index_mib, static_cast<unsigned long long>(index_resident));
  opened->reset();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}
BENCHMARK(BM_SettleBatch)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();

}  // namespace
}  // namespace kytkin

BENCHMARK_MAIN();
