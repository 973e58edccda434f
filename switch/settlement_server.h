// The parts of settlement that live in `kytkin serve` (issue 6): the daily cut-over on a timer
// (and on demand over HTTP) and the HTTP report,
// GET /api/v1/settlement/report?date=YYYY-MM-DD[&format=csv|json].
#pragma once

#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "storage/store.h"
#include "switch/http_server.h"
#include "switch/settlement_config.h"

namespace kytkin {

// Runs settlement::CutOverIfDue at start and then every kCheckIntervalMs on its own thread (the
// payout is blocking ledger work, kept off the event loops). Prints each payout to stdout.
//
// It also serves the operator's cut-over on demand (AddHttpRoutes), on the same thread, so a
// payout never runs on an HTTP worker and never beside the timer's:
//   POST /api/v1/settlement/cutover   body empty, or {"to_date":"YYYY-MM-DD"}
// pays out every open or balanced batch of a business date before to_date (default: the day
// after the later of the store's business date and today's by settlement.cutover_utc, as
// `kytkin settlement cutover`) and makes to_date the store's business date. 200
// {"business_date":"YYYY-MM-DD","settled":[BatchJson...]}; 400 naming the field on a bad body;
// 409 when no batch is due (nothing changes); 503 when the store fails or the server stops.
class CutOverScheduler {
 public:
  static constexpr int64_t kCheckIntervalMs = 1000;
  // Cut-over requests waiting for the thread; more are answered 503 at once.
  static constexpr size_t kQueuedRequestsMax = 16;
  // Largest request body, bytes ({"to_date":"YYYY-MM-DD"} is 25).
  static constexpr size_t kBodyBytesMax = 1024;

  // REQUIRES: store, config and clock outlive the scheduler.
  CutOverScheduler(storage::Store& store, const SettlementConfig& config,
                   const Clock& clock = SystemClock::Get());
  // Stop().
  ~CutOverScheduler();
  // Stops the thread (waits for a cut-over in progress) and answers the requests still queued
  // 503, so call it while the HTTP server's threads still run (serve: in its drain). Idempotent.
  void Stop();

  // Adds POST /api/v1/settlement/cutover. REQUIRES: the scheduler outlives the router's server.
  void AddHttpRoutes(HttpRouter& router);

 private:
  struct Request {
    std::optional<int32_t> to_date;  // none: the default
    HttpResponder respond;
  };
  void Loop();
  HttpResponse CutOver(std::optional<int32_t> to_date);
  storage::Store& store_;
  const SettlementConfig& config_;
  const Clock& clock_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;          // guarded by mu_
  std::vector<Request> requests_;  // guarded by mu_
  std::thread thread_;
};

// Parses a cut-over request body: empty, or a JSON object with an optional "to_date"
// ("YYYY-MM-DD"); returns the date, none when not given. InvalidArgument naming the field
// ("to_date: ..." or "body: ...") otherwise. For the route and its tests.
Result<std::optional<int32_t>> ParseCutOverBody(std::string_view body);

// The settlement read API (`kytkin settlement report|show --http` use it while serve runs):
//   GET /api/v1/settlement/report[?date=YYYY-MM-DD][&format=json|csv]  settlement::BuildReport
//   GET /api/v1/settlement/batches[?date=YYYY-MM-DD]  {"business_date":..,"batches":[BatchJson..]}
//   GET /api/v1/settlement/batch?id=ID                settlement::BatchJson (id percent-encoded)
// Without date: the store's business date (of the newest batch or cut-over), which the JSON
// carries. 400 naming the parameter on a bad one, 404 for an unknown batch.
void AddSettlementRoutes(storage::Store& store, HttpRouter& router);

}  // namespace kytkin
