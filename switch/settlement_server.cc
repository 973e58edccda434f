#include "switch/settlement_server.h"

#include <pthread.h>

#include <chrono>
#include <iostream>
#include <string>

#include "switch/settlement.h"

namespace kytkin {
namespace {

// The value of `name` in a query string "a=1&b=2"; empty when absent (no percent-decoding:
// dates and formats need none).
std::string_view QueryValue(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    if (pair.size() > name.size() && pair.substr(0, name.size()) == name &&
        pair[name.size()] == '=') {
      return pair.substr(name.size() + 1);
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return {};
}

}  // namespace

CutOverScheduler::CutOverScheduler(storage::Store& store, const SettlementConfig& config,
                                   const Clock& clock)
    : store_(store), config_(config), clock_(clock) {
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "kytkin-cutover");
    Loop();
  });
}

CutOverScheduler::~CutOverScheduler() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void CutOverScheduler::Loop() {
  for (;;) {
    auto settled = settlement::CutOverIfDue(store_, config_, clock_.NowUnixMicros());
    if (!settled.ok()) {
      std::cerr << "kytkin settlement: cut-over failed: " << settled.status().ToString() << "\n";
    } else if (!settled->empty()) {
      std::cout << "kytkin settlement: cut-over paid out " << settled->size() << " batch(es)"
                << std::endl;
    }
    std::unique_lock lock(mu_);
    if (cv_.wait_for(lock, std::chrono::milliseconds(kCheckIntervalMs),
                     [&] { return stopping_; })) {
      return;
    }
  }
}

void AddSettlementRoutes(storage::Store& store, HttpRouter& router) {
  router.Add(boost::beast::http::verb::get, "/api/v1/settlement/report",
             [&store](const HttpRequest& request) {
               auto date = settlement::ParseDate(QueryValue(request.query, "date"));
               if (!date.ok())
                 return HttpResponse::Error(400, "date: " + std::string(date.status().message()));
               std::string_view format = QueryValue(request.query, "format");
               if (format.empty()) format = "json";
               if (format != "json" && format != "csv") {
                 return HttpResponse::Error(400, "format: json or csv");
               }
               auto rows = settlement::BuildReport(store, *date);
               if (!rows.ok()) return HttpResponse::Error(503, rows.status().message());
               if (format == "json") {
                 return HttpResponse::Json(200, settlement::ReportJson(*rows, *date));
               }
               HttpResponse response;
               response.content_type = "text/csv";
               response.body = settlement::ReportCsv(*rows);
               return response;
             });
}

}  // namespace kytkin
