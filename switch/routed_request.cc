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

// The journal's route text, cut to storage::Request::kFieldBytesMax.
std::string RouteText(std::string_view what, const routing::Issuer* issuer, std::string_view link,
                      int64_t latency_us) {
  std::string out(what);
  if (issuer != nullptr) out += " " + issuer->id;
  if (!link.empty()) {
    out += " via ";
    out += link;
  }
  if (latency_us >= 0) out += " " + std::to_string(latency_us) + "us";
  // The store refuses a longer one (30); the issuer, link and STAN are fields of their own.
  if (out.size() > storage::Request::kFieldBytesMax) out.resize(storage::Request::kFieldBytesMax);
  return out;
}

// Records journaled before the issuer fields existed kept the link STAN in the route text of an
// issuer's answer: "issuer X via L 812us stan 17" (cut at 64 bytes). Follow-ups of such originals
// (an upgrade with authorizations still open) are read from it.
constexpr std::string_view kStanTag = " stan ";
constexpr std::string_view kIssuerTag = "issuer ";
constexpr std::string_view kViaTag = " via ";
// After the STAN, the DE 7 the issuer saw, for a request kytkin built (gRPC): "... at 1127050712".
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

// Where an original went: the issuer, the link STAN it was sent under and its DE 7 as sent.
struct IssuerRoute {
  std::string issuer;
  uint32_t link_stan = 0;
  std::string transmission_time;  // DE 7 as sent; empty when not known
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

// The issuer route of a journaled original: its fields, or the route text of an older record.
std::optional<IssuerRoute> IssuerRouteOf(const storage::JournalRecord& record) {
  if (record.issuer_id.empty()) return ParseIssuerRoute(record.route);
  return IssuerRoute{record.issuer_id, record.issuer_stan, record.issuer_time};
}

// Fills the journal's issuer fields of a routed request.
void SetIssuerFields(storage::Request& r, const routing::Issuer& issuer, std::string_view link,
                     uint32_t link_stan, const Message& sent) {
  r.issuer_id = issuer.id;
  r.issuer_link = std::string(link);
  r.issuer_stan = link_stan;
  r.issuer_time = std::string(sent.Get(7));
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
  // A stand-in's 0120 carries the request's DE 7; its reversal names the 0120 by it.
  SetIssuerFields(r, issuer, routed->link, sent ? link_stan : 0, m);
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
    if (r.remote_response == ResponseCode::kPartialApproval) {
      // The issuer approved less than asked: DE 4 of its answer. One that cannot be read, or is
      // not in 1..the request's amount, is passed on as 05, and a 0420 undoes whatever the
      // issuer holds for it.
      std::optional<Amount> approved = PartialApprovedAmount(*reply.response, r.amount);
      if (approved) {
        r.remote_approved_amount = *approved;
      } else {
        r.remote_response = ResponseCode::kDoNotHonour;
        r.saf_issuer = issuer->id;
        Result<std::string> reversal = PackAdvice(routed->message, "0420", reply.stan);
        if (reversal.ok()) r.saf_always = {"0420", std::move(reversal).value()};
      }
    }
    // A balance inquiry's answer: the issuer's available balance (DE 54, amount type 02).
    if (auto amounts = ParseAdditionalAmounts(reply.response->Get(54)); amounts.ok()) {
      for (const AdditionalAmount& a : *amounts) {
        if (a.amount_type == "02") r.remote_available = Amount(a.minor_units, a.currency);
      }
    }
    // The link STAN and DE 7 the issuer saw are journaled: a later reversal or completion names
    // the original to the issuer by them (RouteFollowUp).
    r.route = RouteText("issuer", issuer, routed->link, reply.latency_us);
    SetIssuerFields(r, *issuer, routed->link, reply.stan, routed->message);
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
};

void FinishHeld(const std::shared_ptr<HeldReversal>& held, Result<storage::Decision> decision) {
  held->done(std::move(decision));
  if (!held->in_flight_key.empty()) held->router.EndInFlight(held->in_flight_key);
}

void SubmitHeld(const std::shared_ptr<HeldReversal>& held) {
  const bool has_advice = !held->request.saf_issuer.empty();
  storage::Request request = std::move(held->request);
  Status submitted =
      held->store.Submit(std::move(request), [held, has_advice](Result<storage::Decision> d) {
        FinishHeld(held, std::move(d));
        if (has_advice) held->router.WakeSafSender();
      });
  if (!submitted.ok()) FinishHeld(held, Result<storage::Decision>(submitted));
}

// The 0420 (or 0220) for the issuer: the follow-up reshaped as the original the issuer saw (its
// MTI, `original_time` as DE 7) with `amount`, so PackAdvice's DE 90 names it with the link STAN.
// `terminal_id`: the original's DE 41 as journaled, when known: the issuer matches a follow-up
// to its original by DE 41 too, and a gRPC follow-up has no terminal of its own (the original
// carried the merchant's terminal id when the call named one).
Result<std::string> PackIssuerAdvice(const Message& follow_up, std::string_view advice_mti,
                                     std::string_view original_mti, std::string_view original_time,
                                     const Amount& amount, uint32_t link_stan,
                                     std::string_view terminal_id) {
  Message original = follow_up;
  KYTKIN_RETURN_IF_ERROR(original.SetMti(BaseMti(original_mti)));
  if (!terminal_id.empty()) KYTKIN_RETURN_IF_ERROR(original.Set(41, terminal_id));
  KYTKIN_RETURN_IF_ERROR(original.Set(7, original_time));
  KYTKIN_RETURN_IF_ERROR(original.SetUint(4, static_cast<uint64_t>(amount.minor_units())));
  KYTKIN_RETURN_IF_ERROR(original.SetUint(49, amount.currency()));
  return PackAdvice(original, advice_mti, link_stan);
}

void DecideReversal(const std::shared_ptr<HeldReversal>& held,
                    const Result<storage::Store::FoundDecision>& found) {
  // An original decided at (or for) an issuer: the issuer's approval, or kytkin's stand-in
  // approval that a 0120 reports. Stand-ins journaled before the issuer fields existed go to the
  // ledger only, as they did.
  std::optional<IssuerRoute> remote;
  bool stand_in = false;
  if (found.ok() && found->decision.approved()) {
    const storage::JournalRecord& record = found->record;
    if (record.operation == Operation::kRemoteDecision && found->decision.transfer_id == 0) {
      remote = IssuerRouteOf(record);
    } else if (record.operation == Operation::kStandIn && !record.issuer_id.empty()) {
      remote = IssuerRouteOf(record);
      stand_in = true;
    }
  }
  storage::Request& r = held->request;
  const bool completion = r.operation == Operation::kCapture;
  // Only an authorization (0100) has a hold to complete.
  if (!remote || (completion && BaseMti(found->record.mti) != "0100")) {
    SubmitHeld(held);  // the ledger's own reversal or completion (on-us, old stand-in, or 25)
    return;
  }
  const storage::Decision& original = found->decision;
  const storage::JournalRecord& record = found->record;
  // A stand-in that holds funds on kytkin's ledger is reversed or completed there as well.
  const bool ledger_hold = stand_in && original.transfer_id != 0;
  const Message& m = held->message;
  const std::string_view what = completion ? "completion" : "reversal";
  auto decline = [&](ResponseCode code, std::string_view why) {
    // Nothing to tell the issuer: journaled with its reason, answered.
    r.operation = Operation::kRemoteDecision;
    r.card_token = original.card_token;
    r.remote_response = code;
    r.route = std::string(what) + ": " + std::string(why);
    SubmitHeld(held);
  };
  // What the issuer is told: a reversal undoes the whole original; a completion's DE 4 of 0
  // completes the whole hold, more than the approval is the ledger's 13 too.
  Amount amount = original.approved_amount;
  if (completion && r.amount.minor_units() != 0) {
    if (r.amount.currency() != original.approved_amount.currency()) {
      return decline(ResponseCode::kInvalidAmount, "not the original's currency");
    }
    if (r.amount.minor_units() < 0 ||
        r.amount.minor_units() > original.approved_amount.minor_units()) {
      return decline(ResponseCode::kInvalidAmount, "more than the authorization");
    }
    amount = r.amount;
  }
  if (m.Has(2)) {
    Result<Pan> pan = Pan::Parse(m.Get(2));
    if (!pan.ok() || pan->masked() != record.masked_pan) {
      return decline(ResponseCode::kUnableToLocateOriginal, "not the original's card");
    }
    if (!ledger_hold) r.pan = std::move(pan).value();
  }
  const std::string_view advice_mti = completion ? "0220" : "0420";
  // The DE 7 the issuer saw (journaled), else the one a terminal names in DE 90 (n 42: MTI, STAN,
  // DE 7, acquirer; checked by ScreenRequest).
  const std::string_view original_time = !remote->transmission_time.empty()
                                             ? std::string_view(remote->transmission_time)
                                         : m.Has(90) ? m.Get(90).substr(10, kTransmissionTimeDigits)
                                                     : std::string_view();
  if (original_time.empty()) {
    return decline(ResponseCode::kUnableToLocateOriginal, "the original's DE 7 is unknown");
  }
  // The issuer knows a stand-in by the 0120 kytkin sent it: DE 90 names that 0120, whose link
  // STAN the SAF sender fills in when it sends (the 0120 goes first, in order per issuer).
  Result<std::string> advice =
      PackIssuerAdvice(m, advice_mti, stand_in ? "0120" : record.mti, original_time, amount,
                       stand_in ? 0 : remote->link_stan, record.terminal_id);
  if (!advice.ok()) {
    FinishHeld(held, Result<storage::Decision>(advice.status()));
    return;
  }
  r.saf_issuer = remote->issuer;
  r.saf_if_approved = {std::string(advice_mti), std::move(advice).value(),
                       stand_in ? original.journal_sequence : 0};
  r.route =
      RouteText(std::string(what) + (stand_in ? " of a stand-in, to issuer " : " to issuer ") +
                    remote->issuer,
                nullptr, "", -1);
  if (ledger_hold) {
    SubmitHeld(held);  // voided or posted on the ledger; the advice goes only if it approves
    return;
  }
  // Journal-only; the store declines 12 a second reversal, or a completion after a reversal.
  r.operation = Operation::kRemoteDecision;
  r.card_token = original.card_token;
  r.remote_response = ResponseCode::kApproved;
  r.amount = amount;
  r.remote_follow_up =
      completion ? storage::RemoteFollowUp::kCompletion : storage::RemoteFollowUp::kReversal;
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

std::optional<Amount> PartialApprovedAmount(const Message& answer, const Amount& requested) {
  Result<uint64_t> minor = answer.GetUint(4);
  if (!minor.ok() || *minor == 0 || *minor > static_cast<uint64_t>(requested.minor_units())) {
    return std::nullopt;
  }
  if (answer.Has(49)) {
    Result<uint64_t> currency = answer.GetUint(49);
    if (!currency.ok() || *currency != requested.currency()) return std::nullopt;
  }
  return Amount(static_cast<int64_t>(*minor), requested.currency());
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
