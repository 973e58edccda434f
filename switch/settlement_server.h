// The parts of settlement that live in `kytkin serve` (issue 6): the daily cut-over on a timer
// and the HTTP report, GET /api/v1/settlement/report?date=YYYY-MM-DD[&format=csv|json].
#pragma once

#include <condition_variable>
#include <mutex>
#include <thread>

#include "core/clock.h"
#include "storage/store.h"
#include "switch/http_server.h"
#include "switch/settlement_config.h"

namespace kytkin {

// Runs settlement::CutOverIfDue at start and then every kCheckIntervalMs on its own thread (the
// payout is blocking ledger work, kept off the event loops). Prints each payout to stdout.
class CutOverScheduler {
 public:
  static constexpr int64_t kCheckIntervalMs = 1000;

  // REQUIRES: store, config and clock outlive the scheduler.
  CutOverScheduler(storage::Store& store, const SettlementConfig& config,
                   const Clock& clock = SystemClock::Get());
  // Stops the thread (waits for a cut-over in progress).
  ~CutOverScheduler();

 private:
  void Loop();
  storage::Store& store_;
  const SettlementConfig& config_;
  const Clock& clock_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

// The settlement read API (`kytkin settlement report|show --http` use it while serve runs):
//   GET /api/v1/settlement/report[?date=YYYY-MM-DD][&format=json|csv]  settlement::BuildReport
//   GET /api/v1/settlement/batches[?date=YYYY-MM-DD]  {"business_date":..,"batches":[BatchJson..]}
//   GET /api/v1/settlement/batch?id=ID                settlement::BatchJson (id percent-encoded)
// Without date: the store's business date (of the newest batch or cut-over), which the JSON
// carries. 400 naming the parameter on a bad one, 404 for an unknown batch.
void AddSettlementRoutes(storage::Store& store, HttpRouter& router);

}  // namespace kytkin
