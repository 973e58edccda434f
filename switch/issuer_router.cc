#include "switch/issuer_router.h"

#include <boost/asio/signal_set.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <set>
#include <sstream>

#include "core/text.h"
#include "iso8583/dialect.h"
#include "routing/table_file.h"
#include "switch/iso_operations.h"

namespace kytkin {

namespace asio = boost::asio;
using iso8583::Message;

namespace {

int64_t SteadyMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string Digits(uint64_t value, int width) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%0*llu", width, static_cast<unsigned long long>(value));
  return buf;
}

// The repeat MTI of an advice: 0120 -> 0121, 0420 -> 0421.
std::string RepeatMti(std::string_view mti) {
  std::string out(mti);
  if (out.size() == 4 && out[3] == '0') out[3] = '1';
  return out;
}

// DE 90 of a 0420 naming a stand-in's 0120 gets the STAN that 0120 was acknowledged under (the
// link chose it when it sent the 0120). Unknown (the 0120 was parked, or acknowledged before
// kytkin kept receipts): left 000000, and the issuer has DE 7 and the card to go by.
Status NameAdvice(const storage::SafMessage& m, Message& advice) {
  if (m.names_advice_of == 0 || m.named_advice_stan == 0) return Status::Ok();
  std::string de90(advice.Get(90));
  if (de90.size() < 10) return Status::InvalidArgument("advice without DE 90");
  de90.replace(4, 6, Digits(m.named_advice_stan, 6));
  return advice.Set(90, de90);
}

}  // namespace

Result<std::string> PackAdvice(const Message& request, std::string_view mti, uint32_t link_stan) {
  const iso8583::Dialect* dialect = iso8583::FindDialect(kAdviceDialect);
  if (dialect == nullptr) return Status::Internal("advice dialect missing");
  Message advice(*dialect);
  KYTKIN_RETURN_IF_ERROR(advice.SetMti(mti));
  KYTKIN_RETURN_IF_ERROR(advice.CopyFieldsIfPresent(
      request, {2, 3, 4, 7, 11, 12, 13, 14, 18, 22, 32, 41, 42, 43, 49}));
  if (BaseMti(mti) == "0420" || BaseMti(mti) == "0220") {
    // DE 90: original MTI (4), STAN (6), transmission time (10), acquirer (11), forwarding
    // institution (11). The STAN is the link's: it is the one the issuer saw. A 0220 completes
    // the authorization it names.
    std::string acquirer(request.Get(32));
    if (acquirer.size() > 11) acquirer.resize(11);
    std::string de90(request.mti());
    de90 += Digits(link_stan, 6);
    std::string time(request.Get(7));
    time.resize(10, '0');
    de90 += time;
    de90 += std::string(11 - acquirer.size(), '0') + acquirer;
    de90 += std::string(11, '0');
    KYTKIN_RETURN_IF_ERROR(advice.Set(90, de90));
  }
  std::vector<uint8_t> out(Message::kPackedBytesTypicalMax);
  auto packed = advice.Pack(out);
  if (!packed.ok()) return packed.status();
  return std::string(reinterpret_cast<const char*>(out.data()), *packed);
}

struct IssuerRouter::SignalHandler {
  explicit SignalHandler(asio::io_context& io) : set(io, SIGHUP) {}
  asio::signal_set set;
};

IssuerRouter::IssuerRouter(const IssuerRouterOptions& options, storage::Store& store,
                           metrics::Registry& metrics)
    : options_(options),
      store_(store),
      metrics_(metrics),
      enabled_(!options.routing.table_file.empty()),
      health_(std::make_shared<routing::LinkHealth>()),
      reloads_ok_(metrics.GetCounter("kytkin_routing_reloads_total",
                                     "Routing table reloads by result", {{"result", "ok"}})),
      reloads_failed_(metrics.GetCounter("kytkin_routing_reloads_total",
                                         "Routing table reloads by result",
                                         {{"result", "failed"}})),
      table_version_(metrics.GetGauge("kytkin_routing_table_version",
                                      "Routing tables published since start (1 = the first)")),
      saf_sent_(metrics.GetCounter("kytkin_saf_sent_total", "SAF advices sent (repeats included)")),
      saf_acked_(metrics.GetCounter("kytkin_saf_acked_total", "SAF advices the issuer answered")),
      saf_failed_(metrics.GetCounter("kytkin_saf_send_failures_total",
                                     "SAF sends without an answer (deadline, link down, full)")),
      saf_parked_(metrics.GetCounter("kytkin_saf_parked_total",
                                     "SAF advices parked (retries exhausted or issuer removed)")),
      late_approvals_(metrics.GetCounter(
          "kytkin_issuer_late_approvals_total",
          "Approvals after their deadline (each undone by the 0420 queued at the deadline)")) {
  for (const IssuerLinkOptions& link : options.links) {
    link_up_[link.id] = &metrics.GetGauge("kytkin_issuer_link_up", "1 while the link is signed on",
                                          {{"link", link.id}});
    link_late_[link.id] = &metrics.GetGauge("kytkin_issuer_link_late_answers",
                                            "Answers after their deadline", {{"link", link.id}});
  }
}

Result<std::unique_ptr<IssuerRouter>> IssuerRouter::Create(const IssuerRouterOptions& options,
                                                           storage::Store& store,
                                                           metrics::Registry& metrics) {
  auto router = std::unique_ptr<IssuerRouter>(new IssuerRouter(options, store, metrics));
  if (router->enabled_) {
    Result<routing::RoutingTable> table = routing::LoadRoutingTableFile(options.routing.table_file);
    if (!table.ok()) return table.status();
    KYTKIN_RETURN_IF_ERROR(router->CheckLinks(*table));
    router->holder_.Replace(std::move(table).value());
    router->table_version_.Set(1);
  }
  return router;
}

IssuerRouter::~IssuerRouter() { Stop(); }

Status IssuerRouter::CheckLinks(const routing::RoutingTable& table) const {
  std::set<std::string_view> configured;
  for (const IssuerLinkOptions& link : options_.links) configured.insert(link.id);
  for (const routing::Issuer& issuer : table.issuers()) {
    for (const std::string& link : {issuer.primary_link, issuer.backup_link}) {
      if (!link.empty() && !configured.contains(link)) {
        return Status::InvalidArgument(
            options_.routing.table_file + ": line " + std::to_string(issuer.line) + ": issuer " +
            issuer.id + " names link '" + link + "', which no [[issuer_link]] in the config has");
      }
    }
  }
  return Status::Ok();
}

Status IssuerRouter::Start(const std::vector<asio::io_context*>& contexts) {
  if (contexts.empty()) return Status::InvalidArgument("issuer router: no worker contexts");
  for (size_t i = 0; i < options_.links.size(); ++i) {
    IssuerLinkOptions link_options = options_.links[i];
    link_options.seed += i;
    auto link = IssuerLink::Create(link_options, *contexts[i % contexts.size()]);
    if (!link.ok()) return link.status();
    (*link)->set_on_state_change([this](const std::string& id, bool up) { OnLinkState(id, up); });
    const std::string id = link_options.id;
    (*link)->set_on_late_response(
        [this, id](const Message& response) { OnLateResponse(id, response); });
    links_.push_back(std::move(link).value());
  }
  started_.store(true, std::memory_order_release);
  for (auto& link : links_) link->Start();

  signals_ = std::make_unique<SignalHandler>(*contexts[0]);
  struct Waiter {
    IssuerRouter* router;
    void operator()(boost::system::error_code error, int) const {
      if (error) return;
      {
        std::lock_guard lock(router->saf_mu_);
        router->reload_due_ = true;
      }
      router->saf_cv_.notify_all();
      router->signals_->set.async_wait(*this);  // the next SIGHUP
    }
  };
  signals_->set.async_wait(Waiter{this});
  saf_thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "kytkin-saf");
    SafLoop();
  });
  return Status::Ok();
}

void IssuerRouter::Stop() {
  if (stopped_.exchange(true)) return;
  {
    std::lock_guard lock(saf_mu_);
    saf_stop_ = true;
  }
  saf_cv_.notify_all();
  if (signals_) {
    boost::system::error_code ignored;
    signals_->set.cancel(ignored);
  }
  // Links first: a send the sender waits for ends with kLinkDown.
  for (auto& link : links_) link->Stop();
  if (saf_thread_.joinable()) saf_thread_.join();
  std::vector<HttpResponder> waiters;
  {
    std::lock_guard lock(saf_mu_);
    waiters.swap(reload_waiters_);
  }
  for (HttpResponder& respond : waiters) respond(HttpResponse::Error(503, "shutting down"));
}

HttpResponse IssuerRouter::ReloadResponse(const Status& s) const {
  if (!s.ok()) return HttpResponse::Error(400, s.message());
  return HttpResponse::Json(200, "{\"version\":" + std::to_string(holder_.version()) + "}");
}

RouteChoice IssuerRouter::Route(const routing::RouteRequest& request) {
  RouteChoice choice;
  choice.table = holder_.Current();
  std::shared_ptr<const routing::LinkHealth> health;
  {
    std::lock_guard lock(health_mu_);
    health = health_;
  }
  choice.decision = choice.table->Route(request, *health);
  return choice;
}

IssuerLink* IssuerRouter::FindLink(std::string_view id) const {
  if (!started_.load(std::memory_order_acquire)) return nullptr;
  for (const auto& link : links_) {
    if (link->id() == id) return link.get();
  }
  return nullptr;
}

void IssuerRouter::Send(std::string_view link_id, const Message& request, IssuerCallback done) {
  IssuerLink* link = FindLink(link_id);
  if (link == nullptr || stopped_.load(std::memory_order_acquire)) {
    done(IssuerReply{});  // kLinkDown, never sent
    return;
  }
  link->Send(request, std::move(done));
}

void IssuerRouter::OnLinkState(const std::string& link, bool up) {
  {
    std::lock_guard lock(health_mu_);
    auto next = std::make_shared<routing::LinkHealth>(*health_);
    next->Set(link, up);
    health_ = std::move(next);
  }
  if (auto it = link_up_.find(link); it != link_up_.end()) it->second->Set(up ? 1 : 0);
  if (up) WakeSafSender();
}

void IssuerRouter::OnLateResponse(const std::string& /*link*/, const Message& response) {
  auto code = ParseResponseCode(response.Get(39));
  if (code && IsApproval(*code)) late_approvals_.Increment();
}

bool IssuerRouter::BeginInFlight(const std::string& key, std::function<void()> waiter) {
  std::lock_guard lock(in_flight_mu_);
  auto [it, inserted] = in_flight_.try_emplace(key);
  if (!inserted) it->second.push_back(std::move(waiter));
  return inserted;
}

void IssuerRouter::EndInFlight(const std::string& key) {
  std::vector<std::function<void()>> waiters;
  {
    std::lock_guard lock(in_flight_mu_);
    auto it = in_flight_.find(key);
    if (it == in_flight_.end()) return;
    waiters = std::move(it->second);
    in_flight_.erase(it);
  }
  for (auto& waiter : waiters) waiter();
}

void IssuerRouter::WakeSafSender() {
  {
    std::lock_guard lock(saf_mu_);
    saf_wake_ = true;
  }
  saf_cv_.notify_all();
}

Status IssuerRouter::Reload() {
  if (!enabled_) {
    reloads_failed_.Increment();
    return Status::FailedPrecondition("no routing.table_file configured");
  }
  Result<routing::RoutingTable> table = routing::LoadRoutingTableFile(options_.routing.table_file);
  Status s = table.ok() ? CheckLinks(*table) : table.status();
  if (!s.ok()) {
    reloads_failed_.Increment();
    return s;
  }
  holder_.Replace(std::move(table).value());
  reloads_ok_.Increment();
  table_version_.Set(static_cast<int64_t>(holder_.version()));
  WakeSafSender();  // an issuer may have gone: park its advices
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Store-and-forward sender

void IssuerRouter::SafLoop() {
  for (;;) {
    bool reload = false;
    std::deque<SafResult> results;
    std::vector<HttpResponder> waiters;
    {
      std::lock_guard lock(saf_mu_);
      if (saf_stop_) return;
      reload = reload_due_;
      reload_due_ = false;
      saf_wake_ = false;
      results.swap(saf_results_);
      waiters.swap(reload_waiters_);
    }
    if (reload || !waiters.empty()) {
      // One reload answers every request that came meanwhile: each wants the file as it is now.
      Status s = Reload();
      if (reload) {
        std::cerr << "kytkin: SIGHUP routing reload: " << (s.ok() ? "ok" : s.ToString()) << "\n";
      }
      for (HttpResponder& respond : waiters) respond(ReloadResponse(s));
    }
    for (const SafResult& result : results) OnSafResult(result);
    const int64_t wait_us = SafRound();
    std::unique_lock lock(saf_mu_);
    saf_cv_.wait_for(lock, std::chrono::microseconds(wait_us), [&] {
      return saf_stop_ || saf_wake_ || reload_due_ || !reload_waiters_.empty();
    });
    if (saf_stop_) return;
  }
}

void IssuerRouter::RefreshGauges(const std::vector<storage::Store::SafIssuerCounts>& all) {
  std::map<std::string, std::pair<int64_t, int64_t>> counts;
  for (const auto& c : all) {
    counts[c.issuer] = {static_cast<int64_t>(c.queued), static_cast<int64_t>(c.parked)};
  }
  for (auto& [issuer, gauges] : saf_gauges_) {
    if (!counts.contains(issuer)) {
      gauges.first->Set(0);
      gauges.second->Set(0);
    }
  }
  for (const auto& [issuer, c] : counts) {
    auto it = saf_gauges_.find(issuer);
    if (it == saf_gauges_.end()) {
      it = saf_gauges_
               .emplace(
                   issuer,
                   std::make_pair(&metrics_.GetGauge("kytkin_saf_queued",
                                                     "Advices waiting to be sent, per issuer",
                                                     {{"issuer", issuer}}),
                                  &metrics_.GetGauge("kytkin_saf_parked",
                                                     "Advices parked (not sent again), per issuer",
                                                     {{"issuer", issuer}})))
               .first;
    }
    it->second.first->Set(c.first);
    it->second.second->Set(c.second);
  }
  for (const auto& link : links_) {
    if (auto it = link_late_.find(link->id()); it != link_late_.end()) {
      it->second->Set(static_cast<int64_t>(link->stats().late));
    }
  }
}

int64_t IssuerRouter::SafRound() {
  constexpr int64_t kPollUs = kSafPollMs * 1000;
  // Counters, not the queue itself: this runs on the ledger thread every kSafPollMs.
  Result<std::vector<storage::Store::SafIssuerCounts>> counts = store_.SafCounts();
  if (!counts.ok()) return kPollUs;
  RefreshGauges(*counts);
  std::set<std::string> issuers;
  for (const auto& c : *counts) {
    if (c.queued > 0) issuers.insert(c.issuer);
  }
  if (issuers.empty()) return kPollUs;

  std::shared_ptr<const routing::RoutingTable> table = holder_.Current();
  std::shared_ptr<const routing::LinkHealth> health;
  {
    std::lock_guard lock(health_mu_);
    health = health_;
  }
  int64_t wait_us = kPollUs;
  for (const std::string& id : issuers) {
    const routing::Issuer* issuer = table->FindIssuer(id);
    if (issuer == nullptr || issuer->on_us) {
      // The table no longer routes to it: nobody to send to. Keep the advices, visibly.
      Result<std::vector<storage::SafMessage>> queued = store_.SafPending(id, kSafReadMax);
      if (!queued.ok()) continue;
      for (const auto& m : *queued) {
        if (store_.SafPark(m.id).ok()) saf_parked_.Increment();
      }
      wait_us = std::min<int64_t>(wait_us, 1000);  // more may be left
      continue;
    }
    SafStrand& strand = saf_strands_[id];
    if (strand.busy) continue;  // its answer wakes us
    const int64_t now = SteadyMicros();
    if (strand.next_try_us > now) {
      wait_us = std::min(wait_us, strand.next_try_us - now);
      continue;
    }
    routing::LinkChoice link = routing::ChooseLink(*issuer, *health);
    if (link.role == routing::LinkRole::kNone) continue;  // a link coming up wakes us
    SendIssuerHead(*issuer, link.link);
    if (!strand.busy) wait_us = std::min<int64_t>(wait_us, 1000);  // parked some: look again
  }
  return std::max<int64_t>(wait_us, 1000);
}

void IssuerRouter::OnSafResult(const SafResult& result) {
  SafStrand& strand = saf_strands_[result.issuer];
  strand.busy = false;
  if (result.answered) {
    // Any answer acknowledges an advice (an issuer cannot refuse to have been told).
    saf_acked_.Increment();
    (void)store_.SafAck(result.id, result.stan);
    strand.next_try_us = 0;
    return;
  }
  saf_failed_.Increment();
  if (result.attempts >= options_.routing.saf_attempts_max) {
    if (store_.SafPark(result.id).ok()) saf_parked_.Increment();
    strand.next_try_us = 0;  // the next one may go now
    return;
  }
  // In order per issuer: nothing behind it goes before it.
  const uint32_t doublings = std::min<uint32_t>(result.attempts - 1, 20);
  const int64_t delay_ms =
      std::min<int64_t>(static_cast<int64_t>(options_.routing.saf_retry_initial_ms) << doublings,
                        options_.routing.saf_retry_max_ms);
  strand.next_try_us = SteadyMicros() + delay_ms * 1000;
}

void IssuerRouter::SendIssuerHead(const routing::Issuer& issuer, std::string_view link_id) {
  IssuerLink* link = FindLink(link_id);
  if (link == nullptr) return;
  Result<std::vector<storage::SafMessage>> pending = store_.SafPending(issuer.id, kSafReadMax);
  if (!pending.ok()) return;
  const iso8583::Dialect* dialect = iso8583::FindDialect(kAdviceDialect);
  for (const storage::SafMessage& queued : *pending) {
    if (stopped_.load(std::memory_order_acquire)) return;
    if (queued.attempts >= options_.routing.saf_attempts_max) {
      if (store_.SafPark(queued.id).ok()) saf_parked_.Increment();
      continue;
    }
    // Counted durably before it leaves, so after a crash the next send is a repeat.
    Result<storage::SafMessage> m = store_.SafRecordAttempt(queued.id);
    if (!m.ok()) return;
    // The parsed message views these bytes, and the link reads it later on its own thread: they
    // live with the callback, which the link keeps until the send ends.
    auto bytes = std::make_shared<const std::string>(std::move(m->message));
    Message advice(*dialect);
    const bool built =
        advice.Parse(*bytes).ok() &&
        advice.SetMti(m->attempts > 1 ? RepeatMti(m->mti) : m->mti).ok() &&
        advice.Set(39, ResponseCodeDigits(m->response_code)).ok() &&
        (m->auth_code.empty() || advice.Set(38, m->auth_code).ok()) &&
        advice.Set(37, Digits(m->journal_sequence % 1'000'000'000'000ull, 12)).ok() &&
        NameAdvice(*m, advice).ok();
    if (!built) {  // a record that cannot become a message will not improve by waiting
      if (store_.SafPark(m->id).ok()) saf_parked_.Increment();
      continue;
    }
    saf_sent_.Increment();
    saf_strands_[issuer.id].busy = true;
    SafResult result{issuer.id, m->id, m->attempts, false, 0};
    // The link always calls back (answer, deadline or loss; Stop() ends what is in flight), on
    // its own thread: the result goes back to the sender thread, which holds no lock meanwhile.
    link->Send(advice, [this, result, bytes](const IssuerReply& reply) mutable {
      result.answered = reply.outcome == IssuerOutcome::kAnswered;
      result.stan = reply.stan;
      {
        std::lock_guard lock(saf_mu_);
        saf_results_.push_back(std::move(result));
        saf_wake_ = true;
      }
      saf_cv_.notify_all();
    });
    return;
  }
}

std::string IssuerRouter::SafJson() {
  Result<std::vector<storage::SafMessage>> all = store_.SafList();
  if (!all.ok()) return "";
  uint64_t queued = 0, parked = 0;
  std::ostringstream out;
  out << "{\"messages\":[";
  for (size_t i = 0; i < all->size(); ++i) {
    const storage::SafMessage& m = (*all)[i];
    (m.parked ? parked : queued) += 1;
    out << (i ? "," : "") << "{\"id\":" << m.id << ",\"issuer\":" << JsonQuoted(m.issuer)
        << ",\"mti\":" << JsonQuoted(m.mti) << ",\"masked_pan\":" << JsonQuoted(m.masked_pan)
        << ",\"response_code\":\"" << ResponseCodeDigits(m.response_code)
        << "\",\"journal_sequence\":" << m.journal_sequence
        << ",\"created_unix_us\":" << m.created_unix_us << ",\"attempts\":" << m.attempts
        << ",\"state\":\"" << (m.parked ? "parked" : "queued") << "\"}";
  }
  out << "],\"queued\":" << queued << ",\"parked\":" << parked << "}";
  return out.str();
}

void IssuerRouter::AddHttpRoutes(HttpRouter& router) {
  router.Add(boost::beast::http::verb::get, "/api/v1/saf", [this](const HttpRequest&) {
    std::string body = SafJson();
    if (body.empty()) return HttpResponse::Error(503, "store unavailable");
    return HttpResponse::Json(200, std::move(body));
  });
  router.AddAsync(boost::beast::http::verb::post, "/api/v1/routing/reload",
                  [this](const HttpRequest&, HttpResponder respond) {
                    {
                      std::lock_guard lock(saf_mu_);
                      // The SAF thread runs (or is about to) from Start to Stop, which answers
                      // what it left; outside them, reload here.
                      if (started_.load(std::memory_order_acquire) && !saf_stop_) {
                        reload_waiters_.push_back(std::move(respond));
                        saf_cv_.notify_all();
                        return;
                      }
                    }
                    respond(ReloadResponse(Reload()));
                  });
}

}  // namespace kytkin
