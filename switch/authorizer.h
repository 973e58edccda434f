// Authorizer: the authorization pipeline for ISO 8583 requests (DESIGN.md §3).
//
// Steps, in order, each a small named function: parse (30 when the MTI is readable, else the
// frame is counted and dropped) -> classify MTI + DE 3 / DE 70 (12) -> network management
// answered inline -> validate mandatory fields and values (30, 14, 54, 13) -> PIN-less limit per
// merchant category (55) -> the ledger (card status, expiry, limits, velocity, funds, dedupe:
// storage::Store) -> the response, packed only after the decision is durable.
//
// Routing (with an IssuerRouter): card requests (0100, 0200 purchase / refund / balance) ask the
// routing table after the checks. On-us goes to the ledger as above. A remote issuer gets the
// request over its link (the link's own STAN); its answer (DE 39, DE 38) is journaled as a
// kRemoteDecision with the route and the issuer latency, then relayed in the terminal's own
// fields. A decline by the table (unknown BIN 15, a rule) is journaled and answered. On a
// deadline or a lost link: stand-in when the issuer allows it (routing::EvaluateStandIn, then
// the store's per-card day counters and kytkin's view of the card; approved -> hold + 0120
// advice queued in the same write), otherwise 91 + a 0420 advice for what the issuer may have
// approved. Links down before sending: stand-in or 91, nothing to reverse.
//
// Responses echo DE 2, 3, 4, 7, 11, 12, 13, 32, 37, 41, 42, 49 and add 38 (auth code, on
// approval), 39 and, for balance inquiries, 54. DE 37 (RRN) is kytkin's: the 12-digit journal
// sequence of the decision, so an RRN finds its journal record directly (a retransmission gets
// the original's RRN).
//
// Thread safety: Handle() runs on the connection's io_context thread; ledger completions run on
// the store's completion thread, which only hands the decision back to the connection
// (IsoCompletion::Defer): the response is built and packed on the connection's thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <optional>
#include <string>

#include "core/clock.h"
#include "core/response_code.h"
#include "iso8583/message.h"
#include "storage/store.h"
#include "switch/config.h"
#include "switch/iso_listener.h"
#include "switch/iso_operations.h"
#include "switch/metrics.h"

namespace kytkin {

class IssuerRouter;
struct RouteChoice;

struct AuthorizerOptions {
  // PIN-less limits by merchant category (from [authorization]).
  AuthorizationOptions rules;
  // Largest amount accepted in one request, minor units; above it the answer is 13. Default
  // 100,000,000 (1,000,000.00 in a two-decimal currency).
  int64_t amount_max_minor = 100'000'000;
  // Routing to remote issuers. Null (default) or a router without a table: everything on-us.
  // Not owned; outlives the authorizer.
  IssuerRouter* router = nullptr;
};

// The outcome of the checks that need no ledger: either a storage request to submit, or an
// immediate answer.
struct Screened {
  std::optional<ResponseCode> answer;  // set: answer now with this code, nothing is submitted
  storage::Request request;            // valid when !answer and the operation needs the ledger
  bool needs_ledger = false;
};

// Checks a parsed request and translates it to a ledger request (no I/O, no allocation beyond
// the request's strings). `today_yymm` is the current UTC year and month as YYMM digits.
Screened ScreenRequest(const iso8583::Message& request, CardOperation operation,
                       const AuthorizerOptions& options, std::string_view today_yymm);

// Builds the response to `request` in `response` (same dialect as the request unless the caller
// reset it). `decision` is null for answers given without the ledger.
Status BuildResponse(const iso8583::Message& request, ResponseCode code,
                     const storage::Decision* decision, iso8583::Message& response);

// The request key for dedupe: DE 32 | DE 41 | DE 11 | DE 7 (DESIGN.md §3).
std::string IsoRequestKey(std::string_view acquirer, std::string_view terminal,
                          std::string_view stan, std::string_view transmission_time);

class Authorizer final : public IsoHandler {
 public:
  // REQUIRES: store, metrics and clock outlive the authorizer and every completion in flight.
  Authorizer(storage::Store& store, const AuthorizerOptions& options, metrics::Registry& metrics,
             const Clock& clock = SystemClock::Get());

  void Handle(const IsoRequest& request, IsoCompletion done) override;

 private:
  // What a request in the ledger carries until its decision is durable.
  struct Pending {
    IsoCompletion done;
    CardOperation operation;
    int64_t received_us;
    const iso8583::Dialect* dialect;
  };
  void OnDurable(Pending& pending, const Result<storage::Decision>& decision);
  // What OnDurable (the store's completion thread) hands to Respond (the connection's thread).
  struct Durable {
    bool ok = false;             // false: the write failed, answer 96
    storage::Decision decision;  // the fields the answer needs (see OnDurable)
  };
  void Respond(const iso8583::Dialect& dialect, CardOperation operation, int64_t received_us,
               int64_t decided_us, const Durable& durable, IsoCompletion& done);

  // Remote issuers (authorizer_routing.cc, routed_request.h): true when the request goes another
  // way than the on-us ledger path (then `done` was taken).
  bool RouteRequest(const iso8583::Message& m, CardOperation operation, storage::Request& request,
                    int64_t received_us, const iso8583::Dialect* dialect, IsoCompletion& done);
  void Answer(const iso8583::Message& request, ResponseCode code, const storage::Decision* decision,
              IsoCompletion& done);
  void CountDecision(CardOperation operation, ResponseCode code);
  std::string TodayYymm() const;

  storage::Store& store_;
  AuthorizerOptions options_;
  metrics::Registry& metrics_;
  const Clock& clock_;

  metrics::Counter& unreadable_frames_;
  metrics::Counter& format_errors_;
  metrics::Counter& submit_failures_;
  metrics::Counter& ledger_failures_;
  metrics::Gauge& in_flight_;
  metrics::Histogram& latency_total_;
  metrics::Histogram& latency_parse_;
  metrics::Histogram& latency_ledger_;
  metrics::Histogram& latency_respond_;
  metrics::Histogram& latency_issuer_;
  // Decisions by operation and response code, registered on first use (kept lock-free after).
  static constexpr size_t kOperations = 13;
  static constexpr size_t kCodes = 100;
  std::array<std::array<std::atomic<metrics::Counter*>, kCodes>, kOperations> decisions_{};
};

}  // namespace kytkin
