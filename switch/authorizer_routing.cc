// Authorizer, remote issuers: what the pipeline does with a routing decision (authorizer.h).
#include <cstdio>

#include "core/pan.h"
#include "iso8583/dialect.h"
#include "routing/stand_in.h"
#include "switch/authorizer.h"
#include "switch/issuer_router.h"

namespace kytkin {
namespace {

using iso8583::Message;
using storage::Operation;

// Operations routing applies to: the ones that ask an issuer about a card.
bool IsRoutable(CardOperation op) {
  return op == CardOperation::kAuthorize || op == CardOperation::kPurchase ||
         op == CardOperation::kRefund || op == CardOperation::kBalanceInquiry;
}

// Stand-in only ever approves debits: it cannot tell a balance, and a refund is the issuer's.
bool StandInApplies(CardOperation op) {
  return op == CardOperation::kAuthorize || op == CardOperation::kPurchase;
}

routing::Channel ChannelOf(const Message& m) {
  const std::string_view entry = m.Get(22);
  if (entry.starts_with("81") || entry.starts_with("10")) return routing::Channel::kEcommerce;
  return routing::Channel::kPos;
}

// The journal's route text (at most storage::Request::kFieldBytesMax is kept).
std::string RouteText(std::string_view what, const routing::Issuer* issuer, std::string_view link,
                      int64_t latency_us) {
  std::string out(what);
  if (issuer != nullptr) out += " " + issuer->id;
  if (!link.empty()) {
    out += " via ";
    out += link;
  }
  if (latency_us >= 0) out += " " + std::to_string(latency_us) + "us";
  return out;
}

}  // namespace

// What a routed request carries while it waits for the issuer.
struct Authorizer::Routed {
  IsoCompletion done;
  CardOperation operation;
  int64_t received_us;
  const iso8583::Dialect* dialect;
  storage::Request request;
  RouteChoice choice;  // keeps the table (and the decision's pointers) alive
  std::string link;    // the link it went on
};

bool Authorizer::RouteRequest(const Message& m, CardOperation operation, storage::Request& request,
                              int64_t received_us, const iso8583::Dialect* dialect,
                              IsoCompletion& done) {
  IssuerRouter* router = options_.router;
  if (router == nullptr || !router->enabled() || !IsRoutable(operation) || !request.pan) {
    return false;
  }
  routing::RouteRequest route_request;
  route_request.pan_digits = request.pan->clear_digits();
  route_request.channel = ChannelOf(m);
  route_request.mcc = static_cast<uint16_t>(m.GetUint(18).ok() ? *m.GetUint(18) % 10000 : 0);
  route_request.amount = request.amount;
  RouteChoice choice = router->Route(route_request);
  const routing::RoutingDecision& d = choice.decision;
  if (d.kind == routing::RouteKind::kOnUs) return false;

  auto routed = std::make_shared<Routed>(Routed{std::move(done), operation, received_us, dialect,
                                                std::move(request), std::move(choice), ""});
  const routing::RoutingDecision& decision = routed->choice.decision;
  switch (decision.kind) {
    case routing::RouteKind::kOnUs:
      break;
    case routing::RouteKind::kDecline: {
      // Journaled like any decision, so an operator sees why (unknown BIN, a rule).
      storage::Request& r = routed->request;
      r.operation = Operation::kRemoteDecision;
      r.remote_response = decision.response;
      r.route = decision.rule ? "declined by rule " + decision.rule->name
                              : std::string(routing::RouteReasonName(decision.reason));
      SubmitRouted(routed);
      return true;
    }
    case routing::RouteKind::kStandIn:
      Unreachable(routed, /*sent=*/false, 0, "links down");
      return true;
    case routing::RouteKind::kIssuer:
      routed->link = std::string(decision.link);
      router->Send(decision.link, m,
                   [this, routed](const IssuerReply& reply) { OnIssuerReply(routed, reply); });
      return true;
  }
  return false;
}

void Authorizer::OnIssuerReply(const std::shared_ptr<Routed>& routed, const IssuerReply& reply) {
  latency_issuer_.Observe(static_cast<uint64_t>(std::max<int64_t>(reply.latency_us, 0)));
  const routing::Issuer* issuer = routed->choice.decision.issuer;
  if (reply.outcome == IssuerOutcome::kAnswered && reply.response != nullptr) {
    storage::Request& r = routed->request;
    r.operation = Operation::kRemoteDecision;
    // An answer kytkin does not know is passed on as "do not honour".
    r.remote_response =
        ParseResponseCode(reply.response->Get(39)).value_or(ResponseCode::kDoNotHonour);
    r.remote_auth_code = std::string(reply.response->Get(38));
    r.route = RouteText("issuer", issuer, routed->link, reply.latency_us);
    SubmitRouted(routed);
    return;
  }
  // A request refused before it left (full, or no connection) cannot have been approved.
  const bool sent = reply.stan != 0 && reply.outcome != IssuerOutcome::kFull;
  Unreachable(routed, sent, reply.stan, IssuerOutcomeName(reply.outcome));
}

void Authorizer::Unreachable(const std::shared_ptr<Routed>& routed, bool sent, uint32_t link_stan,
                             std::string_view why) {
  const routing::Issuer& issuer = *routed->choice.decision.issuer;
  storage::Request& r = routed->request;
  thread_local std::unique_ptr<Message> parsed;
  if (!parsed || &parsed->dialect() != routed->dialect) {
    parsed = std::make_unique<Message>(*routed->dialect);
  }
  // The terminal's bytes stay in its session until the answer; parsed fine before.
  if (!parsed->Parse(routed->done.request()).ok()) {
    routed->done.Finish(IsoReply::kNoReply);
    return;
  }
  const Message& m = *parsed;
  r.saf_issuer = issuer.id;
  if (sent) {
    // The issuer may have approved what it never answered: tell it to undo that.
    Result<std::string> reversal = PackAdvice(m, "0420", link_stan);
    if (reversal.ok()) r.saf_if_declined = {"0420", std::move(reversal).value()};
  }
  const std::string_view link = routed->link;
  if (issuer.stand_in.enabled && StandInApplies(routed->operation)) {
    routing::StandInRequest stand_in_request{r.amount, m.Get(3)};
    // The day counters are checked by the store, on the ledger thread, in order with other
    // stand-ins of the card; here only the per-request conditions.
    routing::StandInDecision sd = routing::EvaluateStandIn(issuer.stand_in, stand_in_request, {});
    if (sd.approved()) {
      r.operation = Operation::kStandIn;
      r.stand_in_daily_amount_max_minor = issuer.stand_in.max_daily_minor;
      r.stand_in_daily_count_max = issuer.stand_in.max_daily_count;
      r.stand_in_decline = issuer.stand_in.decline_response;
      Result<std::string> advice = PackAdvice(m, "0120", 0);
      if (advice.ok()) r.saf_if_approved = {"0120", std::move(advice).value()};
      r.route = RouteText("stand-in " + std::string(why), &issuer, link, -1);
      if (sent && !r.saf_if_declined.message.empty()) {
        // If the issuer's own approval still arrives, it took money the 0120 reports again.
        storage::Request late;
        late.operation = Operation::kRemoteDecision;
        late.channel = storage::Channel::kInternal;
        late.mti = "0420";
        late.pan = r.pan;
        late.amount = r.amount;
        late.terminal_id = r.terminal_id;
        late.merchant_id = r.merchant_id;
        late.acquirer_id = r.acquirer_id;
        late.stan = r.stan;
        late.route = RouteText("late approval, reversed:", &issuer, link, -1);
        late.saf_issuer = issuer.id;
        late.saf_if_approved = r.saf_if_declined;
        late.saf_if_declined = r.saf_if_declined;
        options_.router->ExpectLate(link, link_stan, std::move(late));
      }
      SubmitRouted(routed);
      return;
    }
    r.remote_response = sd.response;
    r.route =
        RouteText("stand-in refused (" + std::string(routing::StandInOutcomeName(sd.outcome)) + ")",
                  &issuer, link, -1);
  } else {
    r.remote_response = ResponseCode::kIssuerUnavailable;
    r.route = RouteText("unavailable " + std::string(why), &issuer, link, -1);
  }
  r.operation = Operation::kRemoteDecision;
  SubmitRouted(routed);
}

void Authorizer::SubmitRouted(const std::shared_ptr<Routed>& routed) {
  auto pending = std::make_shared<Pending>(
      Pending{std::move(routed->done), routed->operation, routed->received_us, routed->dialect});
  const bool has_advice = !routed->request.saf_issuer.empty();
  IssuerRouter* router = options_.router;
  in_flight_.Increment();
  Status submitted =
      store_.Submit(std::move(routed->request),
                    [this, pending, has_advice, router](Result<storage::Decision> decision) {
                      OnDurable(*pending, decision);
                      if (has_advice) router->WakeSafSender();
                    });
  if (submitted.ok()) return;
  in_flight_.Decrement();
  submit_failures_.Increment();
  CountDecision(pending->operation, ResponseCode::kSystemMalfunction);
  thread_local std::unique_ptr<Message> parsed;
  if (!parsed || &parsed->dialect() != pending->dialect) {
    parsed = std::make_unique<Message>(*pending->dialect);
  }
  if (!parsed->Parse(pending->done.request()).ok()) {
    pending->done.Finish(IsoReply::kNoReply);
    return;
  }
  Answer(*parsed, ResponseCode::kSystemMalfunction, nullptr, pending->done);
}

}  // namespace kytkin
