#include "switch/routed_request.h"

#include <memory>
#include <optional>
#include <string>

#include "routing/stand_in.h"
#include "switch/terminal_client.h"

namespace kytkin {
namespace {

using iso8583::Message;
using storage::Operation;

// Stand-in only ever approves debits: it cannot tell a balance, and a refund is the issuer's.
bool StandInApplies(CardOperation op) {
  return op == CardOperation::kAuthorize || op == CardOperation::kPurchase;
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

// Marks the link STAN in the route of an issuer's answer: "issuer X via L 812us stan 17".
constexpr std::string_view kStanTag = " stan ";
constexpr std::string_view kIssuerTag = "issuer ";
constexpr std::string_view kViaTag = " via ";
// After the STAN, the DE 7 the issuer saw, for a request kytkin built (gRPC): a follow-up has no
// terminal DE 90 to name it by. "issuer X via L 812us stan 17 at 1127050712".
constexpr std::string_view kTimeTag = " at ";
// DE 11 is n 6; DE 7 is n 10 (MMDDhhmmss).
constexpr size_t kStanDigitsMax = 6;
constexpr size_t kTransmissionTimeDigits = 10;

bool AllDigits(std::string_view s) {
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return !s.empty();
}

// The issuer and link STAN of an answer's route (OnIssuerReply), if it is one.
struct IssuerRoute {
  std::string issuer;
  uint32_t link_stan = 0;
  std::string transmission_time;  // DE 7 as sent; empty unless kytkin built the request
};
std::optional<IssuerRoute> ParseIssuerRoute(std::string_view route) {
  if (!route.starts_with(kIssuerTag)) return std::nullopt;
  const size_t via = route.find(kViaTag, kIssuerTag.size());
  const size_t stan = route.rfind(kStanTag);
  if (via == std::string_view::npos || stan == std::string_view::npos || stan < via) {
    return std::nullopt;
  }
  std::string_view digits = route.substr(stan + kStanTag.size());
  std::string_view time;
  if (const size_t at = digits.find(kTimeTag); at != std::string_view::npos) {
    time = digits.substr(at + kTimeTag.size());
    digits = digits.substr(0, at);
    if (time.size() != kTransmissionTimeDigits || !AllDigits(time)) return std::nullopt;
  }
  if (digits.size() > kStanDigitsMax || !AllDigits(digits)) return std::nullopt;
  uint32_t value = 0;
  for (char c : digits) value = value * 10 + static_cast<uint32_t>(c - '0');
  return IssuerRoute{std::string(route.substr(kIssuerTag.size(), via - kIssuerTag.size())), value,
                     std::string(time)};
}

// What a routed request carries while it waits for the issuer and the store.
struct Routed {
  IssuerRouter& router;
  storage::Store& store;
  CardOperation operation;
  Message message;  // the request as sent (the terminal's, or built from a gRPC call)
  storage::Request request;
  RouteChoice choice;         // keeps the table (and the decision's pointers) alive
  std::string link;           // the link it went on
  std::string in_flight_key;  // set while it holds the request key at the issuer
  RoutedCompletion done;
  metrics::Histogram* issuer_latency;
};

void Submit(const std::shared_ptr<Routed>& routed) {
  const bool has_advice = !routed->request.saf_issuer.empty();
  IssuerRouter* router = &routed->router;
  // Retransmissions that waited for this one go once its decision is durable (dedupe finds it).
  std::string in_flight_key = std::move(routed->in_flight_key);
  // The completion is shared with the refusal path below; exactly one of them runs it.
  auto done = std::make_shared<RoutedCompletion>(std::move(routed->done));
  Status submitted = routed->store.Submit(
      std::move(routed->request),
      [done, has_advice, router, in_flight_key](Result<storage::Decision> decision) {
        (*done)(std::move(decision));
        if (has_advice) router->WakeSafSender();
        if (!in_flight_key.empty()) router->EndInFlight(in_flight_key);
      });
  if (!submitted.ok()) {
    (*done)(Result<storage::Decision>(submitted));
    if (!in_flight_key.empty()) router->EndInFlight(in_flight_key);
  }
}

void Unreachable(const std::shared_ptr<Routed>& routed, bool sent, uint32_t link_stan,
                 std::string_view why) {
  const routing::Issuer& issuer = *routed->choice.decision.issuer;
  storage::Request& r = routed->request;
  const Message& m = routed->message;
  r.saf_issuer = issuer.id;
  if (sent) {
    // The issuer may have approved what it never answered (late, or lost): tell it to undo that,
    // whatever kytkin decides now, and before the 0120 of a stand-in reaches it.
    Result<std::string> reversal = PackAdvice(m, "0420", link_stan);
    if (reversal.ok()) r.saf_always = {"0420", std::move(reversal).value()};
  }
  const std::string_view link = routed->link;
  if (issuer.stand_in.enabled && StandInApplies(routed->operation)) {
    routing::StandInRequest stand_in_request{r.amount, m.Get(3)};
    // The day counters are checked by the store, on the ledger thread, in order with the card's
    // other stand-ins; here only the per-request conditions.
    routing::StandInDecision sd = routing::EvaluateStandIn(issuer.stand_in, stand_in_request, {});
    if (sd.approved()) {
      r.operation = Operation::kStandIn;
      r.stand_in_daily_amount_max_minor = issuer.stand_in.max_daily_minor;
      r.stand_in_daily_count_max = issuer.stand_in.max_daily_count;
      r.stand_in_decline = issuer.stand_in.decline_response;
      Result<std::string> advice = PackAdvice(m, "0120", 0);
      if (advice.ok()) r.saf_if_approved = {"0120", std::move(advice).value()};
      r.route = RouteText("stand-in " + std::string(why), &issuer, link, -1);
      Submit(routed);
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
  Submit(routed);
}

void OnIssuerReply(const std::shared_ptr<Routed>& routed, const IssuerReply& reply) {
  if (routed->issuer_latency != nullptr) {
    routed->issuer_latency->Observe(static_cast<uint64_t>(std::max<int64_t>(reply.latency_us, 0)));
  }
  const routing::Issuer* issuer = routed->choice.decision.issuer;
  if (reply.outcome == IssuerOutcome::kAnswered && reply.response != nullptr) {
    storage::Request& r = routed->request;
    r.operation = Operation::kRemoteDecision;
    // An answer kytkin does not know is passed on as "do not honour".
    r.remote_response =
        ParseResponseCode(reply.response->Get(39)).value_or(ResponseCode::kDoNotHonour);
    r.remote_auth_code = std::string(reply.response->Get(38));
    // A balance inquiry's answer: the issuer's available balance (DE 54, amount type 02).
    if (auto amounts = ParseAdditionalAmounts(reply.response->Get(54)); amounts.ok()) {
      for (const AdditionalAmount& a : *amounts) {
        if (a.amount_type == "02") r.remote_available = Amount(a.minor_units, a.currency);
      }
    }
    // The link STAN the issuer saw goes with the route: a later terminal reversal names the
    // original to the issuer by it (RouteFollowUp).
    r.route = RouteText("issuer", issuer, routed->link, reply.latency_us) + std::string(kStanTag) +
              std::to_string(reply.stan);
    if (r.channel == storage::Channel::kGrpc && routed->message.Has(7)) {
      r.route += std::string(kTimeTag) + std::string(routed->message.Get(7));
    }
    Submit(routed);
    return;
  }
  // A request refused before it left (full, or no connection) cannot have been approved.
  const bool sent = reply.stan != 0 && reply.outcome != IssuerOutcome::kFull;
  Unreachable(routed, sent, reply.stan, IssuerOutcomeName(reply.outcome));
}

// A retransmission of a request already decided (or decided meanwhile): the store's dedupe
// answers it with the original decision (or 94 when its content differs); the placeholder
// response is journaled only if the original was never recorded.
void SubmitRetry(const std::shared_ptr<Routed>& routed) {
  routed->request.operation = Operation::kRemoteDecision;
  routed->request.remote_response = ResponseCode::kSystemMalfunction;
  routed->request.route = "retry";
  Submit(routed);
}

void Forward(const std::shared_ptr<Routed>& routed) {
  routed->router.Send(routed->link, routed->message,
                      [routed](const IssuerReply& reply) { OnIssuerReply(routed, reply); });
}

}  // namespace

namespace {

// A terminal's reversal or completion while its original is looked up.
struct HeldReversal {
  IssuerRouter& router;
  storage::Store& store;
  Message message;  // the terminal's 0400/0420/0220
  storage::Request request;
  RoutedCompletion done;
  // The original's request key, held at the issuer router until this reversal is decided, so a
  // retransmission of the original waits instead of going to the issuer after its reversal.
  std::string in_flight_key;
  // Set when this is a reversal to an issuer: the original's key, noted once it is approved
  // (IssuerRouter::NoteReversed) while the original's key is still held.
  std::string reverses = {};
};

void FinishHeld(const std::shared_ptr<HeldReversal>& held, Result<storage::Decision> decision) {
  held->done(std::move(decision));
  if (!held->in_flight_key.empty()) held->router.EndInFlight(held->in_flight_key);
}

void SubmitHeld(const std::shared_ptr<HeldReversal>& held) {
  const bool has_advice = !held->request.saf_issuer.empty();
  const std::string request_key = held->request.request_key;
  storage::Request request = std::move(held->request);
  Status submitted = held->store.Submit(
      std::move(request), [held, has_advice, request_key](Result<storage::Decision> d) {
        if (!held->reverses.empty() && d.ok() && d->approved() && !d->duplicate) {
          held->router.NoteReversed(held->reverses, request_key);
        }
        FinishHeld(held, std::move(d));
        if (has_advice) held->router.WakeSafSender();
      });
  if (!submitted.ok()) FinishHeld(held, Result<storage::Decision>(submitted));
}

// The 0420 (or 0220) for the issuer: the follow-up reshaped as the original the issuer saw (its
// MTI, `original_time` as DE 7) with `amount`, so PackAdvice's DE 90 names it with the link STAN.
Result<std::string> PackIssuerAdvice(const Message& follow_up, std::string_view advice_mti,
                                     std::string_view original_mti, std::string_view original_time,
                                     const Amount& amount, uint32_t link_stan) {
  Message original = follow_up;
  KYTKIN_RETURN_IF_ERROR(original.SetMti(BaseMti(original_mti)));
  KYTKIN_RETURN_IF_ERROR(original.Set(7, original_time));
  KYTKIN_RETURN_IF_ERROR(original.SetUint(4, static_cast<uint64_t>(amount.minor_units())));
  KYTKIN_RETURN_IF_ERROR(original.SetUint(49, amount.currency()));
  return PackAdvice(original, advice_mti, link_stan);
}

void DecideReversal(const std::shared_ptr<HeldReversal>& held,
                    const Result<storage::Store::FoundDecision>& found) {
  std::optional<IssuerRoute> remote;
  if (found.ok() && found->decision.approved() && found->decision.transfer_id == 0 &&
      found->record.operation == Operation::kRemoteDecision) {
    remote = ParseIssuerRoute(found->record.route);
  }
  storage::Request& r = held->request;
  const bool completion = r.operation == Operation::kCapture;
  // Only an authorization (0100) has a hold to complete.
  if (!remote || (completion && BaseMti(found->record.mti) != "0100")) {
    SubmitHeld(held);  // the ledger's own reversal or completion (on-us, stand-in hold, or 25)
    return;
  }
  const storage::Decision& original = found->decision;
  const Message& m = held->message;
  const std::string_view what = completion ? "completion" : "reversal";
  auto decline = [&](ResponseCode code, std::string_view why) {
    // Nothing to tell the issuer: journaled with its reason, answered.
    r.remote_response = code;
    r.route = std::string(what) + ": " + std::string(why);
    SubmitHeld(held);
  };
  r.operation = Operation::kRemoteDecision;
  r.card_token = original.card_token;
  r.remote_response = ResponseCode::kApproved;
  if (completion) {
    // DE 4 of 0 completes the whole hold; more than the issuer approved is the ledger's 13 too.
    if (r.amount.minor_units() == 0) r.amount = original.approved_amount;
    if (r.amount.currency() != original.approved_amount.currency()) {
      return decline(ResponseCode::kInvalidAmount, "not the original's currency");
    }
    if (r.amount.minor_units() < 0 ||
        r.amount.minor_units() > original.approved_amount.minor_units()) {
      return decline(ResponseCode::kInvalidAmount, "more than the authorization");
    }
  } else {
    r.amount = original.approved_amount;
  }
  if (m.Has(2)) {
    Result<Pan> pan = Pan::Parse(m.Get(2));
    if (!pan.ok() || pan->masked() != found->record.masked_pan) {
      return decline(ResponseCode::kUnableToLocateOriginal, "not the original's card");
    }
    r.pan = std::move(pan).value();
  }
  if (!completion) {
    // Reversed once already by another request: answered as the ledger would (12), nothing
    // queued. The same reversal again goes on, for the store's dedupe to answer.
    const std::string reversed_by = held->router.ReversedBy(r.original_request_key);
    if (!reversed_by.empty() && reversed_by != r.request_key) {
      return decline(ResponseCode::kInvalidTransaction, "the original is reversed already");
    }
  }
  const std::string_view advice_mti = completion ? "0220" : "0420";
  // A terminal names its original's DE 7 in DE 90 (n 42: MTI, STAN, DE 7, acquirer; checked by
  // ScreenRequest); a gRPC call has none, and kytkin kept the DE 7 it sent in the route.
  const std::string_view original_time = m.Has(90) ? m.Get(90).substr(10, kTransmissionTimeDigits)
                                                   : std::string_view(remote->transmission_time);
  if (original_time.empty()) {
    return decline(ResponseCode::kUnableToLocateOriginal, "the original's DE 7 is unknown");
  }
  Result<std::string> advice = PackIssuerAdvice(m, advice_mti, found->record.mti, original_time,
                                                r.amount, remote->link_stan);
  if (!advice.ok()) {
    FinishHeld(held, Result<storage::Decision>(advice.status()));
    return;
  }
  r.saf_issuer = remote->issuer;
  r.saf_if_approved = {std::string(advice_mti), std::move(advice).value()};
  r.route = std::string(what) + " to issuer " + remote->issuer;
  if (!completion) held->reverses = r.original_request_key;
  SubmitHeld(held);
}

}  // namespace

bool RouteFollowUp(IssuerRouter& router, storage::Store& store, const Message& follow_up,
                   storage::Request& request, RoutedCompletion done) {
  if (!router.enabled() ||
      (request.operation != Operation::kReverse && request.operation != Operation::kCapture) ||
      request.original_request_key.empty() ||
      (!follow_up.Has(90) && request.channel != storage::Channel::kGrpc)) {
    return false;
  }
  auto held = std::make_shared<HeldReversal>(
      HeldReversal{router, store, follow_up, std::move(request), std::move(done), ""});
  auto look_up = [held] {
    Status asked = held->store.SubmitFindDecisionRecord(
        held->request.original_request_key,
        [held](Result<storage::Store::FoundDecision> found) { DecideReversal(held, found); });
    if (!asked.ok()) FinishHeld(held, Result<storage::Decision>(asked));
  };
  // An original still at the issuer is looked up once it is decided (its EndInFlight runs the
  // waiter): reversing it on the ledger now would decline it after the issuer took the money.
  const std::string key = held->request.original_request_key;
  if (!router.BeginInFlight(key, [held, look_up] {
        // Hold the key for this reversal in turn; a waiter that finds it taken again waits on.
        if (!held->router.BeginInFlight(held->request.original_request_key, look_up)) return;
        held->in_flight_key = held->request.original_request_key;
        look_up();
      })) {
    return true;
  }
  held->in_flight_key = key;
  look_up();
  return true;
}

bool IsRoutableOperation(CardOperation op) {
  return op == CardOperation::kAuthorize || op == CardOperation::kPurchase ||
         op == CardOperation::kRefund || op == CardOperation::kBalanceInquiry;
}

bool RouteCardRequest(IssuerRouter& router, storage::Store& store, const RoutedCardRequest& in,
                      storage::Request& request, RoutedCompletion done,
                      metrics::Histogram* issuer_latency) {
  if (!router.enabled() || !IsRoutableOperation(in.operation) || !request.pan ||
      in.message == nullptr) {
    return false;
  }
  routing::RouteRequest route_request;
  route_request.pan_digits = request.pan->clear_digits();
  route_request.channel = in.channel;
  route_request.mcc = in.mcc;
  route_request.amount = request.amount;
  RouteChoice choice = router.Route(route_request);
  if (choice.decision.kind == routing::RouteKind::kOnUs) return false;

  auto routed =
      std::make_shared<Routed>(Routed{router, store, in.operation, *in.message, std::move(request),
                                      std::move(choice), "", "", std::move(done), issuer_latency});
  const routing::RoutingDecision& decision = routed->choice.decision;
  switch (decision.kind) {
    case routing::RouteKind::kOnUs:
      break;  // handled above
    case routing::RouteKind::kDecline: {
      // Journaled like any decision, so an operator sees why (unknown BIN, a rule).
      storage::Request& r = routed->request;
      r.operation = Operation::kRemoteDecision;
      r.remote_response = decision.response;
      r.route = decision.rule ? "declined by rule " + decision.rule->name
                              : std::string(routing::RouteReasonName(decision.reason));
      Submit(routed);
      break;
    }
    case routing::RouteKind::kStandIn:
      Unreachable(routed, /*sent=*/false, 0, "links down");
      break;
    case routing::RouteKind::kIssuer: {
      routed->link = std::string(decision.link);
      if (routed->request.request_key.empty()) {
        Forward(routed);
        break;
      }
      // A retry gets the original answer (the store's dedupe) without a second trip to the
      // issuer, which would take the money twice: wait for a first one still in flight, or
      // look the key up in case it was decided already.
      const std::string key = routed->request.request_key;
      if (!router.BeginInFlight(key, [routed] { SubmitRetry(routed); })) break;
      routed->in_flight_key = key;
      Status asked = store.SubmitFindDecision(key, [routed](Result<storage::Decision> found) {
        if (!found.ok()) {
          Forward(routed);
        } else {
          SubmitRetry(routed);
        }
      });
      if (!asked.ok()) {
        routed->done(Result<storage::Decision>(asked));
        router.EndInFlight(key);
      }
      break;
    }
  }
  return true;
}

}  // namespace kytkin
