#include "switch/settlement_server.h"

#include <pthread.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <iostream>
#include <optional>
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

// %XX-decoded `text` ('+' stays '+'); nullopt on a bad escape. Batch ids carry '|' (ISO 8583
// batches: acquirer|terminal|date|number), which clients send as %7C.
std::optional<std::string> PercentDecoded(std::string_view text) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    if (i + 2 >= text.size() || hex(text[i + 1]) < 0 || hex(text[i + 2]) < 0) {
      return std::nullopt;
    }
    out.push_back(static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2])));
    i += 2;
  }
  return out;
}

// The date= parameter, or the store's business date when it is absent (the date of the newest
// batch or cut-over: what a client that does not know the server's clock asks for).
Result<int32_t> DateParameter(storage::Store& store, std::string_view query) {
  const std::string_view text = QueryValue(query, "date");
  if (!text.empty()) return settlement::ParseDate(text);
  auto current = store.SettlementBusinessDate();
  if (!current.ok()) return current.status();
  if (*current == 0) return Status::InvalidArgument("no business date yet (no batch): name one");
  return *current;
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

CutOverScheduler::~CutOverScheduler() { Stop(); }

void CutOverScheduler::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::vector<Request> left;
  {
    std::lock_guard lock(mu_);
    left.swap(requests_);
  }
  for (Request& r : left) r.respond(HttpResponse::Error(503, "the server is stopping"));
}

void CutOverScheduler::Loop() {
  auto next_check = std::chrono::steady_clock::now();
  for (;;) {
    if (std::chrono::steady_clock::now() >= next_check) {
      next_check = std::chrono::steady_clock::now() + std::chrono::milliseconds(kCheckIntervalMs);
      auto settled = settlement::CutOverIfDue(store_, config_, clock_.NowUnixMicros());
      if (!settled.ok()) {
        std::cerr << "kytkin settlement: cut-over failed: " << settled.status().ToString() << "\n";
      } else if (!settled->empty()) {
        std::cout << "kytkin settlement: cut-over paid out " << settled->size() << " batch(es)"
                  << std::endl;
      }
    }
    std::vector<Request> requests;
    {
      std::unique_lock lock(mu_);
      cv_.wait_until(lock, next_check, [&] { return stopping_ || !requests_.empty(); });
      if (stopping_) return;
      requests.swap(requests_);
    }
    for (Request& r : requests) r.respond(CutOver(r.to_date));
  }
}

HttpResponse CutOverScheduler::CutOver(std::optional<int32_t> to_date) {
  auto current = store_.SettlementBusinessDate();
  if (!current.ok()) return HttpResponse::Error(503, current.status().message());
  const int32_t target =
      to_date ? *to_date
              : std::max(*current, settlement::BusinessDateAt(clock_.NowUnixMicros(),
                                                              config_.cutover_minute_utc)) +
                    1;
  // Due: an open or balanced batch of an earlier date. Checked first, so a request with nothing
  // to pay changes nothing (not even the business date).
  auto batches = store_.ListSettlementBatches(0);
  if (!batches.ok()) return HttpResponse::Error(503, batches.status().message());
  const bool due = std::any_of(batches->begin(), batches->end(), [&](const auto& b) {
    return b.state != storage::BatchState::kSettled && b.business_date < target;
  });
  auto settled =
      due ? store_.CutOverSettlement(target)
          : Result<std::vector<storage::SettlementBatch>>(std::vector<storage::SettlementBatch>{});
  if (!settled.ok()) return HttpResponse::Error(503, settled.status().message());
  if (settled->empty()) {
    return HttpResponse::Error(409,
                               "nothing to cut over: no open or balanced batch of a "
                               "business date before " +
                                   settlement::FormatDate(target));
  }
  std::cout << "kytkin settlement: cut-over (HTTP) paid out " << settled->size() << " batch(es)"
            << std::endl;
  // The business date never moves back (an earlier to_date pays the batches before it only).
  std::string body = "{\"business_date\":\"" + settlement::FormatDate(std::max(*current, target)) +
                     "\",\"settled\":[";
  for (size_t i = 0; i < settled->size(); ++i) {
    if (i > 0) body += ",";
    body += settlement::BatchJson((*settled)[i]);
  }
  return HttpResponse::Json(200, body + "]}\n");
}

void CutOverScheduler::AddHttpRoutes(HttpRouter& router) {
  router.AddAsync(boost::beast::http::verb::post, "/api/v1/settlement/cutover",
                  [this](const HttpRequest& request, HttpResponder respond) {
                    auto to_date = ParseCutOverBody(request.body);
                    if (!to_date.ok()) {
                      respond(HttpResponse::Error(400, to_date.status().message()));
                      return;
                    }
                    {
                      std::lock_guard lock(mu_);
                      if (!stopping_ && requests_.size() < kQueuedRequestsMax) {
                        requests_.push_back({*to_date, std::move(respond)});
                        cv_.notify_all();
                        return;
                      }
                    }
                    respond(HttpResponse::Error(503, "cut-over busy or stopping; retry"));
                  });
}

Result<std::optional<int32_t>> ParseCutOverBody(std::string_view body) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return std::optional<int32_t>();
  }
  if (body.size() > CutOverScheduler::kBodyBytesMax) {
    return Status::InvalidArgument("body: at most " +
                                   std::to_string(CutOverScheduler::kBodyBytesMax) + " bytes");
  }
  boost::system::error_code ec;
  boost::json::value parsed = boost::json::parse(body, ec);
  if (ec || !parsed.is_object()) {
    return Status::InvalidArgument("body: a JSON object, e.g. {\"to_date\":\"2026-11-28\"}");
  }
  std::optional<int32_t> to_date;
  for (const auto& [key, value] : parsed.as_object()) {
    if (key != "to_date") {
      return Status::InvalidArgument(std::string(key) + ": unknown field (only to_date)");
    }
    if (!value.is_string()) return Status::InvalidArgument("to_date: a string YYYY-MM-DD");
    auto date = settlement::ParseDate(std::string_view(value.as_string()));
    if (!date.ok())
      return Status::InvalidArgument("to_date: " + std::string(date.status().message()));
    to_date = *date;
  }
  return to_date;
}

void AddSettlementRoutes(storage::Store& store, HttpRouter& router) {
  using boost::beast::http::verb;
  router.Add(verb::get, "/api/v1/settlement/report", [&store](const HttpRequest& request) {
    auto date = DateParameter(store, request.query);
    if (!date.ok())
      return HttpResponse::Error(400, "date: " + std::string(date.status().message()));
    std::string_view format = QueryValue(request.query, "format");
    if (format.empty()) format = "json";
    if (format != "json" && format != "csv") {
      return HttpResponse::Error(400, "format: json or csv");
    }
    auto rows = settlement::BuildReport(store, *date);
    if (!rows.ok()) return HttpResponse::Error(503, rows.status().message());
    if (format == "json") return HttpResponse::Json(200, settlement::ReportJson(*rows, *date));
    HttpResponse response;
    response.content_type = "text/csv";
    response.body = settlement::ReportCsv(*rows);
    return response;
  });
  router.Add(verb::get, "/api/v1/settlement/batch", [&store](const HttpRequest& request) {
    auto id = PercentDecoded(QueryValue(request.query, "id"));
    if (!id || id->empty()) return HttpResponse::Error(400, "id: the batch id (percent-encoded)");
    auto batch = store.GetSettlementBatch(*id);
    if (batch.status().IsNotFound()) return HttpResponse::Error(404, batch.status().message());
    if (!batch.ok()) return HttpResponse::Error(503, batch.status().message());
    return HttpResponse::Json(200, settlement::BatchJson(*batch) + "\n");
  });
  router.Add(verb::get, "/api/v1/settlement/batches", [&store](const HttpRequest& request) {
    auto date = DateParameter(store, request.query);
    if (!date.ok())
      return HttpResponse::Error(400, "date: " + std::string(date.status().message()));
    auto batches = store.ListSettlementBatches(*date);
    if (!batches.ok()) return HttpResponse::Error(503, batches.status().message());
    std::string body = "{\"business_date\":\"" + settlement::FormatDate(*date) + "\",\"batches\":[";
    for (size_t i = 0; i < batches->size(); ++i) {
      if (i > 0) body += ",";
      body += settlement::BatchJson((*batches)[i]);
    }
    return HttpResponse::Json(200, body + "]}\n");
  });
}

}  // namespace kytkin
