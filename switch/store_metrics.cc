#include "switch/store_metrics.h"

#include <chrono>
#include <string>

namespace kytkin {
namespace {

metrics::Gauge& MemoryBytes(metrics::Registry& r, const char* table) {
  return r.GetGauge("kytkin_store_memory_bytes",
                    "Bytes the ledger holds in memory per table (requested from the allocator)",
                    {{"table", table}});
}

metrics::Gauge& OpenPart(metrics::Registry& r, const char* part) {
  return r.GetGauge("kytkin_store_open_microseconds",
                    "Wall time the last ledger open spent per part (rebuilding memory from disk)",
                    {{"part", part}});
}

int64_t AsGauge(uint64_t v) { return static_cast<int64_t>(v); }

}  // namespace

StoreMetrics::StoreMetrics(storage::Store& store, metrics::Registry& registry)
    : store_(store),
      cards_(registry.GetGauge("kytkin_store_cards", "Card records the ledger keeps in memory")),
      accounts_(
          registry.GetGauge("kytkin_store_accounts", "Account records the ledger keeps in memory")),
      card_bytes_(MemoryBytes(registry, "cards")),
      account_bytes_(MemoryBytes(registry, "accounts")),
      rocksdb_bytes_(MemoryBytes(registry, "rocksdb")),
      resident_transfers_(registry.GetGauge(
          "kytkin_store_resident_transfers",
          "Transfers in memory: open holds and those of batches not yet durable")),
      open_holds_(registry.GetGauge("kytkin_store_open_holds", "Pending transfers (open holds)")),
      dedupe_window_entries_(registry.GetGauge("kytkin_store_dedupe_window_entries",
                                               "Request keys whose dedupe entry is in memory")),
      unsynced_decisions_(
          registry.GetGauge("kytkin_store_unsynced_decisions",
                            "Whole decisions kept in memory until their batch is durable")),
      velocity_counters_(registry.GetGauge("kytkin_store_velocity_counters",
                                           "Stand-in velocity counters in memory (today's)")),
      transfer_disk_reads_(
          registry.GetCounter("kytkin_store_transfer_disk_reads_total",
                              "Transfers read back from disk (not in memory) since start")),
      dedupe_disk_reads_(
          registry.GetCounter("kytkin_store_dedupe_disk_reads_total",
                              "Dedupe lookups that went to disk (not in the window) since start")) {
  const storage::Store::OpenStats& open = store.open_stats();
  OpenPart(registry, "backend").Set(open.backend_open_us);
  OpenPart(registry, "accounts").Set(open.accounts_us);
  OpenPart(registry, "cards").Set(open.cards_us);
  OpenPart(registry, "open_holds").Set(open.transfers_us);
  OpenPart(registry, "saf_settlement").Set(open.saf_settlement_us);
  OpenPart(registry, "velocity").Set(open.velocity_us);
  OpenPart(registry, "total").Set(open.total_us);
  registry
      .GetGauge("kytkin_store_open_transfers_scanned",
                "Transfer records the last ledger open read (0 once the open-hold index exists)")
      .Set(AsGauge(open.transfers_scanned));
}

StoreMetrics::~StoreMetrics() { Stop(); }

Status StoreMetrics::Refresh() {
  std::lock_guard lock(refresh_mu_);
  Result<storage::Store::MemoryUsage> usage = store_.GetMemoryUsage();
  if (!usage.ok()) return usage.status();
  Result<storage::Store::MemoryStats> stats = store_.GetMemoryStats();
  if (!stats.ok()) return stats.status();
  cards_.Set(AsGauge(usage->cards));
  accounts_.Set(AsGauge(usage->accounts));
  card_bytes_.Set(AsGauge(usage->card_bytes));
  account_bytes_.Set(AsGauge(usage->account_bytes));
  rocksdb_bytes_.Set(AsGauge(usage->rocksdb_bytes));
  resident_transfers_.Set(AsGauge(stats->resident_transfers));
  open_holds_.Set(AsGauge(stats->open_holds));
  dedupe_window_entries_.Set(AsGauge(stats->dedupe_window_entries));
  unsynced_decisions_.Set(AsGauge(stats->unsynced_decisions));
  velocity_counters_.Set(AsGauge(stats->velocity_counters));
  // The store counts since its open; the registry's counters only go up by deltas.
  if (stats->transfer_disk_reads > transfer_disk_reads_seen_) {
    transfer_disk_reads_.Increment(stats->transfer_disk_reads - transfer_disk_reads_seen_);
    transfer_disk_reads_seen_ = stats->transfer_disk_reads;
  }
  if (stats->dedupe_disk_reads > dedupe_disk_reads_seen_) {
    dedupe_disk_reads_.Increment(stats->dedupe_disk_reads - dedupe_disk_reads_seen_);
    dedupe_disk_reads_seen_ = stats->dedupe_disk_reads;
  }
  return Status::Ok();
}

void StoreMetrics::Start() {
  (void)Refresh();  // a failed store shows in health(), not here
  thread_ = std::thread([this] { Loop(); });
}

void StoreMetrics::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void StoreMetrics::Loop() {
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, std::chrono::milliseconds(kRefreshIntervalMs),
                       [this] { return stopping_; })) {
    lock.unlock();
    (void)Refresh();
    lock.lock();
  }
}

}  // namespace kytkin
