// Store metrics: what the ledger keeps in memory (Store::GetMemoryStats, GetMemoryUsage) and what
// its last open read (Store::open_stats), as Prometheus gauges on /metrics.
//
// The store's numbers live on its ledger thread and are read with a blocking call, so a scrape
// must not ask for them (the HTTP sessions share the event loops with the ISO 8583 connections).
// A thread of its own refreshes the gauges every kRefreshIntervalMs instead; a scrape shows
// values at most that old.
//
// Series (gauges unless noted):
//   kytkin_store_cards, kytkin_store_accounts                  resident card and account records
//   kytkin_store_memory_bytes{table="cards|accounts|rocksdb"}  bytes requested for them (RocksDB:
//                                                              memtables, block cache, index and
//                                                              filter blocks)
//   kytkin_store_resident_transfers, kytkin_store_open_holds   transfers kept in memory; of them
//                                                              the open holds
//   kytkin_store_dedupe_window_entries                         dedupe entries kept in memory
//   kytkin_store_unsynced_decisions                            decisions of batches not yet durable
//   kytkin_store_velocity_counters                             stand-in velocity counters
//   kytkin_store_transfer_disk_reads_total,
//   kytkin_store_dedupe_disk_reads_total (counters)            point reads of evicted records
//   kytkin_store_open_microseconds{part="backend|accounts|cards|open_holds|saf_settlement|velocity|
//                                       total"}            backend: RocksDB's open (WAL replay)
//   kytkin_store_open_transfers_scanned                        transfers the last open read (0
//                                                              once the open-hold index exists)
//
// Thread safety: Refresh may be called from any thread but a store completion.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "core/status.h"
#include "storage/store.h"
#include "switch/metrics.h"

namespace kytkin {

class StoreMetrics {
 public:
  // How often the background thread reads the store, milliseconds.
  static constexpr int64_t kRefreshIntervalMs = 5000;

  // Registers the series and sets the open gauges (fixed after Open). No thread yet.
  // REQUIRES: store and registry outlive this object.
  StoreMetrics(storage::Store& store, metrics::Registry& registry);
  // Stops the thread (Stop).
  ~StoreMetrics();
  StoreMetrics(const StoreMetrics&) = delete;
  StoreMetrics& operator=(const StoreMetrics&) = delete;

  // Reads the store once and sets the gauges. A failed store leaves them as they were (and
  // returns its Status).
  Status Refresh();
  // Refreshes now, then every kRefreshIntervalMs on a thread of its own.
  void Start();
  // Ends the thread; call before the store closes. Idempotent.
  void Stop();

 private:
  void Loop();

  storage::Store& store_;
  metrics::Gauge& cards_;
  metrics::Gauge& accounts_;
  metrics::Gauge& card_bytes_;
  metrics::Gauge& account_bytes_;
  metrics::Gauge& rocksdb_bytes_;
  metrics::Gauge& resident_transfers_;
  metrics::Gauge& open_holds_;
  metrics::Gauge& dedupe_window_entries_;
  metrics::Gauge& unsynced_decisions_;
  metrics::Gauge& velocity_counters_;
  metrics::Counter& transfer_disk_reads_;
  metrics::Counter& dedupe_disk_reads_;
  uint64_t transfer_disk_reads_seen_ = 0;  // guarded by refresh_mu_
  uint64_t dedupe_disk_reads_seen_ = 0;    // guarded by refresh_mu_
  std::mutex refresh_mu_;                  // one Refresh at a time (the counters' deltas)

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace kytkin
