// IssuerRouter: the switch's side of routing/ (DESIGN.md §3, issue 5). It owns
//  - the routing table (routing::RoutingTableHolder), loaded at start-up and reloaded on SIGHUP
//    or POST /api/v1/routing/reload; a table naming a link id the config does not have is
//    refused, and a refused reload keeps the old table;
//  - one IssuerLink per [[issuer_link]], spread over the server's worker contexts, and the link
//    health the routing decisions take as input (updated on each link's up/down change);
//  - the store-and-forward (SAF) sender: per issuer and in order, the oldest queued advice goes
//    over the issuer's link (primary, else backup) as 0120/0420, is repeated as 0121/0421 on a
//    doubling schedule until the issuer answers, and is parked after saf_attempts_max sends.
//    Each issuer is its own strand: at most one advice of it at its link, and the next one only
//    after its answer, while the other issuers' advices go on (one thread drives them all and
//    never waits for a link: answers come back as results). A 0420 naming a stand-in's 0120 gets
//    the STAN that 0120 was acknowledged under in DE 90 (storage SafMessage::named_advice_stan).
//    Advices of an issuer the table no longer has are parked;
//  - late answers are only counted: a request that passed its deadline already has its 0420
//    queued (routed_request.h), which undoes whatever a late (or lost) approval took.
//
// What the pipeline does with a decision is in Authorizer (authorizer.cc, "Remote issuers").
//
// Thread safety: Route, Send, Begin/EndInFlight and WakeSafSender from any thread; Start and Stop
// from the main thread (Stop not from a worker: it waits for the links).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "iso8583/message.h"
#include "routing/routing_table.h"
#include "routing/table_holder.h"
#include "storage/store.h"
#include "switch/config.h"
#include "switch/http_server.h"
#include "switch/issuer_link.h"
#include "switch/metrics.h"

namespace kytkin {

// Advices read from the store per issuer and sender round.
inline constexpr size_t kSafReadMax = 32;
// How often the sender looks at the queues when nothing wakes it, and refreshes the SAF and link
// gauges. Milliseconds.
inline constexpr int64_t kSafPollMs = 250;

struct IssuerRouterOptions {
  RoutingOptions routing;
  std::vector<IssuerLinkOptions> links;
};

// A routing decision together with the table it points into.
struct RouteChoice {
  std::shared_ptr<const routing::RoutingTable> table;
  routing::RoutingDecision decision;
};

// The base dialect advices are stored in (the link re-packs them in its own).
inline constexpr std::string_view kAdviceDialect = "iso87-ascii";

// Packs the advice for `request` (a terminal's 0100/0200, any dialect) in kAdviceDialect:
// `mti` "0120" copies the card fields; "0420" (and "0220", a completion) adds DE 90 naming the
// original as the issuer saw it (its MTI, the link's STAN `link_stan`, DE 7, DE 32). DE 38/39/37
// are set when sent.
Result<std::string> PackAdvice(const iso8583::Message& request, std::string_view mti,
                               uint32_t link_stan);

class IssuerRouter {
 public:
  // Loads routing.table_file when set and checks its link ids against `options.links`.
  // REQUIRES: options validated (ValidateServeOptions); store and metrics outlive the router.
  static Result<std::unique_ptr<IssuerRouter>> Create(const IssuerRouterOptions& options,
                                                      storage::Store& store,
                                                      metrics::Registry& metrics);
  ~IssuerRouter();
  IssuerRouter(const IssuerRouter&) = delete;
  IssuerRouter& operator=(const IssuerRouter&) = delete;

  // Creates and starts the links (round robin over `contexts`), the SAF sender and the SIGHUP
  // handler (on contexts[0]). REQUIRES: the contexts run until Stop().
  Status Start(const std::vector<boost::asio::io_context*>& contexts);
  // Stops the sender and the links; requests in flight end with kLinkDown. Idempotent.
  void Stop();

  // True when a routing table is configured; otherwise everything is on-us.
  bool enabled() const { return enabled_; }
  // RoutingOptions::online_terminal_id.
  const std::string& online_terminal_id() const { return options_.routing.online_terminal_id; }

  [[nodiscard]] RouteChoice Route(const routing::RouteRequest& request);
  // Sends on `link`; `done` runs on the link's thread, or at once with kLinkDown when the link
  // is unknown or not started.
  void Send(std::string_view link, const iso8583::Message& request, IssuerCallback done);
  // New advices may be queued.
  void WakeSafSender();
  // One request key at the issuer at a time: true when `key` was not in flight (the caller
  // forwards it and calls EndInFlight once its decision is durable); false when it was - then
  // `waiter` runs from that EndInFlight, so a retransmission is answered from the first one's
  // decision instead of reaching the issuer twice.
  bool BeginInFlight(const std::string& key, std::function<void()> waiter);
  void EndInFlight(const std::string& key);

  //  - the store-and-forward (SAF) sender: per issuer and in order, the oldest queued advice goes
  //    over the issuer's link (primary, else backup) as 0120/0420, is repeated as 0121/0421 on a
  //    doubling schedule until the issuer answers, and is parked after saf_attempts_max sends.
  //    Each issuer is its own strand: at most one advice of it at its link, and the next one only
  //    after its answer, while the other issuers' advices go on (one thread drives them all and
  //    never waits for a link: answers come back as results). A 0420 naming a stand-in's 0120 gets
  //    the STAN that 0120 was acknowledged under in DE 90 (storage SafMessage::named_advice_stan).
  //    Advices of an issuer the table no longer has are parked;  // Reads the table file again:
  //    InvalidArgument "file: line N: reason" (or an unknown link id)
  // leaves the current table. Counted in kytkin_routing_reloads_total.
  Status Reload();
  // GET /api/v1/saf: {"queued":N,"parked":N,"messages":[{id,issuer,mti,masked_pan,...}]}.
  std::string SafJson();
  // Adds GET /api/v1/saf and POST /api/v1/routing/reload to `router`. The reload runs on the SAF
  // thread, as SIGHUP's, not on the HTTP session's worker (which also serves terminals): parsing a
  // 100,000-range file takes ~50 ms.
  void AddHttpRoutes(HttpRouter& router);

 private:
  IssuerRouter(const IssuerRouterOptions& options, storage::Store& store,
               metrics::Registry& metrics);
  Status CheckLinks(const routing::RoutingTable& table) const;
  void OnLinkState(const std::string& link, bool up);
  void OnLateResponse(const std::string& link, const iso8583::Message& response);
  void SafLoop();
  // One round: sends what is due; returns when the sender should look again at the latest.
  int64_t SafRound();
  // Sends the oldest sendable advice of one issuer (parking those past their attempts); the
  // answer comes back through saf_results_.
  void SendIssuerHead(const routing::Issuer& issuer, std::string_view link);
  // An advice's send ended (sender thread): acknowledge, park or schedule the repeat.
  struct SafResult {
    std::string issuer;
    uint64_t id = 0;
    uint32_t attempts = 0;
    bool answered = false;
    uint32_t stan = 0;  // the link STAN of the send
  };
  void OnSafResult(const SafResult& result);
  HttpResponse ReloadResponse(const Status& s) const;
  void RefreshGauges(const std::vector<storage::Store::SafIssuerCounts>& all);
  IssuerLink* FindLink(std::string_view id) const;

  const IssuerRouterOptions options_;
  storage::Store& store_;
  metrics::Registry& metrics_;
  const bool enabled_;
  routing::RoutingTableHolder holder_;

  std::vector<std::unique_ptr<IssuerLink>> links_;  // written by Start before started_
  std::atomic<bool> started_{false};
  std::atomic<bool> stopped_{false};

  mutable std::mutex health_mu_;
  std::shared_ptr<const routing::LinkHealth> health_;  // guarded by health_mu_; never null

  std::mutex in_flight_mu_;
  // Request keys at the issuer and the retransmissions waiting for them; guarded by in_flight_mu_.
  std::unordered_map<std::string, std::vector<std::function<void()>>> in_flight_;

  std::mutex saf_mu_;
  std::condition_variable saf_cv_;
  bool saf_wake_ = false;                      // guarded by saf_mu_
  bool saf_stop_ = false;                      // guarded by saf_mu_
  bool reload_due_ = false;                    // guarded by saf_mu_: SIGHUP
  std::vector<HttpResponder> reload_waiters_;  // guarded by saf_mu_: POST /api/v1/routing/reload
  std::deque<SafResult> saf_results_;          // guarded by saf_mu_: sends that ended
  std::thread saf_thread_;
  // Sender thread only: per issuer, whether an advice is at its link, and when its head of queue
  // may be tried again (steady micros).
  struct SafStrand {
    bool busy = false;
    int64_t next_try_us = 0;
  };
  std::map<std::string, SafStrand> saf_strands_;
  std::map<std::string, std::pair<metrics::Gauge*, metrics::Gauge*>> saf_gauges_;  // queued, parked

  struct SignalHandler;
  std::unique_ptr<SignalHandler> signals_;

  metrics::Counter& reloads_ok_;
  metrics::Counter& reloads_failed_;
  metrics::Gauge& table_version_;
  metrics::Counter& saf_sent_;
  metrics::Counter& saf_acked_;
  metrics::Counter& saf_failed_;
  metrics::Counter& saf_parked_;
  metrics::Counter& late_approvals_;
  std::map<std::string, metrics::Gauge*> link_up_;    // by link id, registered in Create
  std::map<std::string, metrics::Gauge*> link_late_;  // by link id
};

}  // namespace kytkin
