#include "switch/authorizer.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <ctime>

#include "core/pan.h"
#include "iso8583/dialect.h"

namespace kytkin {
namespace {

using iso8583::Message;
using storage::Operation;

// DE 90 (original data elements, n 42): original MTI, STAN, transmission time, acquirer id,
// forwarding institution id.
struct OriginalData {
  std::string_view mti, stan, transmission_time, acquirer;
};
std::optional<OriginalData> ParseOriginalData(std::string_view de90) {
  if (de90.size() != 42) return std::nullopt;
  return OriginalData{de90.substr(0, 4), de90.substr(4, 6), de90.substr(10, 10),
                      de90.substr(20, 11)};
}

bool IsNetwork(CardOperation op) {
  return op == CardOperation::kSignOn || op == CardOperation::kSignOff ||
         op == CardOperation::kEcho;
}

// Operations that debit the card and so fall under the PIN-less rule.
bool IsCardPresentDebit(CardOperation op) {
  return op == CardOperation::kAuthorize || op == CardOperation::kPurchase;
}

// POS entry mode (DE 22) prefixes of card-not-present entry: 81 e-commerce, 10 credential on
// file. Anything else (or no DE 22) is treated as card present.
bool IsCardNotPresent(std::string_view pos_entry_mode) {
  return pos_entry_mode.starts_with("81") || pos_entry_mode.starts_with("10");
}

Screened Answer(ResponseCode code) {
  Screened s;
  s.answer = code;
  return s;
}

bool HasAll(const Message& m, std::initializer_list<int> fields) {
  for (int f : fields) {
    if (!m.Has(f)) return false;
  }
  return true;
}

// The response MTI: 0100 -> 0110, and a repeat answers like its base (0121 -> 0130).
std::optional<std::array<char, 4>> ResponseMtiFor(std::string_view mti) {
  auto result = iso8583::ResponseMti(BaseMti(mti));
  if (!result.ok()) return std::nullopt;
  return *result;
}

std::string TwelveDigits(uint64_t value) {
  std::array<char, 16> buf{};
  std::snprintf(buf.data(), buf.size(), "%012llu",
                static_cast<unsigned long long>(value % 1'000'000'000'000ull));
  return buf.data();
}

}  // namespace

std::string IsoRequestKey(std::string_view acquirer, std::string_view terminal,
                          std::string_view stan, std::string_view transmission_time) {
  // Strip DE 32's leading zeros: DE 90 carries the acquirer zero-padded to 11 digits.
  while (acquirer.size() > 1 && acquirer.front() == '0') acquirer.remove_prefix(1);
  std::string key;
  key.reserve(acquirer.size() + terminal.size() + stan.size() + transmission_time.size() + 3);
  key.append(acquirer).append("|").append(terminal).append("|").append(stan).append("|");
  key.append(transmission_time);
  return key;
}

Screened ScreenRequest(const Message& m, CardOperation op, const AuthorizerOptions& options,
                       std::string_view today_yymm) {
  if (IsNetwork(op)) return Screened{};  // answered inline by the caller
  if (!HasAll(m, {7, 11, 41})) return Answer(ResponseCode::kFormatError);

  Screened out;
  out.needs_ledger = true;
  storage::Request& r = out.request;
  r.channel = storage::Channel::kIso8583;
  r.mti = m.mti();
  r.stan = m.Get(11);
  r.terminal_id = m.Get(41);
  r.merchant_id = m.Get(42);
  r.acquirer_id = m.Get(32);
  r.rrn = m.Get(37);
  r.request_key = IsoRequestKey(m.Get(32), m.Get(41), m.Get(11), m.Get(7));

  const bool reversal = op == CardOperation::kReversal || op == CardOperation::kReversalAdvice;
  const bool completion = op == CardOperation::kFinancialAdvice && m.Has(90);
  if (reversal || completion) {
    auto original = ParseOriginalData(m.Get(90));
    if (!original) return Answer(ResponseCode::kFormatError);
    r.operation = reversal ? Operation::kReverse : Operation::kCapture;
    r.original_request_key = IsoRequestKey(m.Has(32) ? m.Get(32) : original->acquirer, m.Get(41),
                                           original->stan, original->transmission_time);
  }

  // DE 4 and DE 49 are numeric (the parser checked); which currency an account takes and
  // whether an amount is positive are the ledger's checks, made after the card's (DESIGN §3
  // order: card known, status, expiry, then amount and currency).
  const uint16_t currency = static_cast<uint16_t>(m.GetUint(49).ok() ? *m.GetUint(49) % 1000 : 0);
  const uint64_t amount_minor = m.GetUint(4).ok() ? *m.GetUint(4) : 0;
  if (reversal) {
    // Reverse the whole original; DE 4 / DE 49 are informational on a reversal.
    r.amount = Amount(0, currency);
    return out;
  }

  const bool amount_required =
      op != CardOperation::kBalanceInquiry && op != CardOperation::kActivate;
  if (!HasAll(m, {2, 3, 49}) || (amount_required && !m.Has(4))) {
    return Answer(ResponseCode::kFormatError);
  }
  auto pan = Pan::Parse(m.Get(2));
  if (!pan.ok()) return Answer(ResponseCode::kInvalidCardNumber);
  r.pan = std::move(pan).value();

  if (m.Has(14)) {
    std::string_view expiry = m.Get(14);  // YYMM
    int month = (expiry[2] - '0') * 10 + (expiry[3] - '0');
    if (month < 1 || month > 12) return Answer(ResponseCode::kFormatError);
    if (expiry < today_yymm) return Answer(ResponseCode::kExpiredCard);
  }
  if (amount_minor > static_cast<uint64_t>(options.amount_max_minor)) {
    return Answer(ResponseCode::kInvalidAmount);
  }
  r.amount = Amount(static_cast<int64_t>(amount_minor), currency);

  if (IsCardPresentDebit(op) && !m.Has(52) && !IsCardNotPresent(m.Get(22))) {
    int64_t limit = options.rules.pinless_limit_minor_default;
    if (m.Has(18)) {
      auto it = options.rules.pinless_limit_minor_by_mcc.find(std::string(m.Get(18)));
      if (it != options.rules.pinless_limit_minor_by_mcc.end()) limit = it->second;
    }
    if (static_cast<int64_t>(amount_minor) > limit) return Answer(ResponseCode::kIncorrectPin);
  }

  switch (op) {
    case CardOperation::kAuthorize:
      r.operation = Operation::kAuthorize;
      break;
    case CardOperation::kPurchase:
      r.operation = Operation::kPurchase;
      break;
    case CardOperation::kRefund:
      r.operation = Operation::kRefund;
      break;
    case CardOperation::kBalanceInquiry:
      r.operation = Operation::kBalanceInquiry;
      break;
    case CardOperation::kActivate:
      r.operation = Operation::kGiftActivate;
      break;
    case CardOperation::kReload:
      r.operation = Operation::kGiftReload;
      break;
    case CardOperation::kAuthorizationAdvice:
      r.operation = Operation::kAdvice;
      break;
    case CardOperation::kFinancialAdvice:
      // With DE 90 it completes a hold (kCapture, set above); without, an offline sale.
      r.operation = completion ? Operation::kCapture : Operation::kAdvice;
      break;
    default:
      return Answer(ResponseCode::kInvalidTransaction);
  }
  return out;
}

Status BuildResponse(const Message& request, ResponseCode code, const storage::Decision* decision,
                     Message& response) {
  response.Reset();
  auto mti = ResponseMtiFor(request.mti());
  if (!mti) return Status::InvalidArgument("no response MTI for " + std::string(request.mti()));
  KYTKIN_RETURN_IF_ERROR(response.SetMti({mti->data(), mti->size()}));
  KYTKIN_RETURN_IF_ERROR(
      response.CopyFieldsIfPresent(request, {2, 3, 4, 7, 11, 12, 13, 32, 41, 42, 49, 70, 90}));
  if (decision != nullptr && decision->journal_sequence != 0) {
    KYTKIN_RETURN_IF_ERROR(response.Set(37, TwelveDigits(decision->journal_sequence)));
  } else if (request.Has(37)) {
    KYTKIN_RETURN_IF_ERROR(response.CopyField(request, 37));
  }
  if (decision != nullptr && IsApproval(code) && !decision->auth_code.empty()) {
    KYTKIN_RETURN_IF_ERROR(response.Set(38, decision->auth_code));
  }
  KYTKIN_RETURN_IF_ERROR(response.Set(39, ResponseCodeDigits(code)));
  // A partial approval (an issuer's): DE 4 is what was approved, not what was asked.
  if (decision != nullptr && code == ResponseCode::kPartialApproval &&
      decision->approved_amount.currency() != 0) {
    KYTKIN_RETURN_IF_ERROR(
        response.SetUint(4, static_cast<uint64_t>(decision->approved_amount.minor_units())));
  }
  // A routed inquiry carries the issuer's balance; one the issuer did not give has currency 0.
  if (decision != nullptr && IsApproval(code) && request.Get(3).starts_with(kTypeBalanceInquiry) &&
      decision->available.currency() != 0) {
    // DE 54: account type 00, amount type 02 (available), currency, C/D, 12 digits.
    const Amount& available = decision->available;
    // 12 digits hold up to 9,999,999,999.99; a larger balance is reported as that maximum.
    constexpr int64_t kDigits12Max = 999'999'999'999;
    int64_t v = std::clamp<int64_t>(available.minor_units(), -kDigits12Max, kDigits12Max);
    std::array<char, 48> de54{};
    std::snprintf(de54.data(), de54.size(), "0002%03u%c%012lld",
                  static_cast<unsigned>(available.currency()), v < 0 ? 'D' : 'C',
                  static_cast<long long>(v < 0 ? -v : v));
    KYTKIN_RETURN_IF_ERROR(response.Set(54, de54.data()));
  }
  return Status::Ok();
}

Authorizer::Authorizer(storage::Store& store, const AuthorizerOptions& options,
                       metrics::Registry& metrics, const Clock& clock)
    : store_(store),
      options_(options),
      metrics_(metrics),
      clock_(clock),
      unreadable_frames_(metrics.GetCounter("kytkin_iso_unreadable_frames_total",
                                            "Frames without a readable MTI (not answered)")),
      format_errors_(metrics.GetCounter("kytkin_iso_format_errors_total",
                                        "Frames that failed to parse and were answered 30")),
      submit_failures_(metrics.GetCounter(
          "kytkin_ledger_submit_failures_total",
          "Requests the ledger refused to queue (full or stopped), answered 96")),
      ledger_failures_(metrics.GetCounter("kytkin_ledger_failures_total",
                                          "Decisions lost to a failed ledger write, answered 96")),
      in_flight_(metrics.GetGauge("kytkin_authorizations_in_flight",
                                  "Requests submitted to the ledger and not yet answered")),
      latency_total_(metrics.GetHistogram("kytkin_authorization_latency_microseconds",
                                          "Request received to response packed",
                                          {{"stage", "total"}})),
      latency_parse_(metrics.GetHistogram("kytkin_authorization_latency_microseconds",
                                          "Request received to response packed",
                                          {{"stage", "parse"}})),
      latency_ledger_(metrics.GetHistogram("kytkin_authorization_latency_microseconds",
                                           "Request received to response packed",
                                           {{"stage", "ledger"}})),
      latency_respond_(metrics.GetHistogram("kytkin_authorization_latency_microseconds",
                                            "Request received to response packed",
                                            {{"stage", "respond"}})),
      latency_issuer_(metrics.GetHistogram("kytkin_authorization_latency_microseconds",
                                           "Request received to response packed",
                                           {{"stage", "issuer"}})) {}

std::string Authorizer::TodayYymm() const {
  std::time_t seconds = static_cast<std::time_t>(clock_.NowUnixMicros() / 1'000'000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  std::array<char, 32> buf{};
  std::snprintf(buf.data(), buf.size(), "%02d%02d", utc.tm_year % 100, utc.tm_mon + 1);
  return buf.data();
}

void Authorizer::CountDecision(CardOperation operation, ResponseCode code) {
  auto& slot = decisions_[static_cast<size_t>(operation)][static_cast<size_t>(code) % kCodes];
  metrics::Counter* counter = slot.load(std::memory_order_acquire);
  if (counter == nullptr) {
    counter =
        &metrics_.GetCounter("kytkin_decisions_total", "Answers by operation and response code",
                             {{"operation", std::string(CardOperationName(operation))},
                              {"code", std::string(ResponseCodeDigits(code))}});
    slot.store(counter, std::memory_order_release);
  }
  counter->Increment();
}

void Authorizer::Answer(const Message& request, ResponseCode code,
                        const storage::Decision* decision, IsoCompletion& done) {
  thread_local std::unique_ptr<Message> response;
  if (!response || &response->dialect() != &request.dialect()) {
    response = std::make_unique<Message>(request.dialect());
  }
  if (!BuildResponse(request, code, decision, *response).ok()) {
    done.Finish(IsoReply::kNoReply);
    return;
  }
  std::vector<uint8_t>& out = done.response();
  out.resize(Message::kPackedBytesTypicalMax);
  auto packed = response->Pack(out);
  if (!packed.ok()) {
    done.Finish(IsoReply::kNoReply);
    return;
  }
  out.resize(*packed);
  done.Send();
}

void Authorizer::Handle(const IsoRequest& request, IsoCompletion done) {
  const int64_t received_us = clock_.NowMonotonicMicros();
  const iso8583::Dialect* dialect = iso8583::FindDialect(request.dialect);
  if (dialect == nullptr) {  // the listener validated its dialect at start-up
    done.Finish(IsoReply::kClose);
    return;
  }
  thread_local std::unique_ptr<Message> parsed;
  if (!parsed || &parsed->dialect() != dialect) parsed = std::make_unique<Message>(*dialect);
  Message& m = *parsed;
  iso8583::ParseError error = m.Parse(request.message);
  latency_parse_.Observe(static_cast<uint64_t>(clock_.NowMonotonicMicros() - received_us));
  if (!error.ok()) {
    if (m.mti().empty() || !ResponseMtiFor(m.mti())) {
      unreadable_frames_.Increment();
      done.Finish(IsoReply::kNoReply);
      return;
    }
    format_errors_.Increment();
    Answer(m, ResponseCode::kFormatError, nullptr, done);
    return;
  }

  auto operation = ClassifyRequest(m.mti(), m.Get(3), m.Get(70));
  if (!operation) {
    if (!ResponseMtiFor(m.mti())) {
      unreadable_frames_.Increment();
      done.Finish(IsoReply::kNoReply);
      return;
    }
    Answer(m, ResponseCode::kInvalidTransaction, nullptr, done);
    return;
  }
  if (IsNetwork(*operation)) {
    CountDecision(*operation, ResponseCode::kApproved);
    Answer(m, ResponseCode::kApproved, nullptr, done);
    return;
  }

  Screened screened = ScreenRequest(m, *operation, options_, TodayYymm());
  if (screened.answer) {
    CountDecision(*operation, *screened.answer);
    Answer(m, *screened.answer, nullptr, done);
    return;
  }

  screened.request.received_monotonic_us = received_us;
  if (RouteRequest(m, *operation, screened.request, received_us, dialect, done)) return;
  auto pending =
      std::make_shared<Pending>(Pending{std::move(done), *operation, received_us, dialect});
  in_flight_.Increment();
  Status submitted = store_.Submit(
      std::move(screened.request),
      [this, pending](Result<storage::Decision> decision) { OnDurable(*pending, decision); });
  if (!submitted.ok()) {
    // Queue full or store stopped: the completion was not taken; answer 96 now.
    in_flight_.Decrement();
    submit_failures_.Increment();
    CountDecision(pending->operation, ResponseCode::kSystemMalfunction);
    Answer(m, ResponseCode::kSystemMalfunction, nullptr, pending->done);
  }
}

void Authorizer::OnDurable(Pending& pending, const Result<storage::Decision>& decision) {
  // This runs on the store's completion thread, which is serial and shared by every connection:
  // keep only what the answer needs and build and pack it on the connection's own thread.
  in_flight_.Decrement();
  const int64_t decided_us = clock_.NowMonotonicMicros();
  latency_ledger_.Observe(static_cast<uint64_t>(decided_us - pending.received_us));
  Durable durable;
  durable.ok = decision.ok();
  if (durable.ok) {
    // What BuildResponse reads; the auth code fits the string's inline buffer (no allocation).
    durable.decision.response_code = decision->response_code;
    durable.decision.auth_code = decision->auth_code;
    durable.decision.available = decision->available;
    durable.decision.approved_amount = decision->approved_amount;
    durable.decision.journal_sequence = decision->journal_sequence;
  }
  pending.done.Defer([this, dialect = pending.dialect, operation = pending.operation,
                      received_us = pending.received_us, decided_us,
                      durable = std::move(durable)](IsoCompletion done) {
    Respond(*dialect, operation, received_us, decided_us, durable, done);
  });
}

void Authorizer::Respond(const iso8583::Dialect& dialect, CardOperation operation,
                         int64_t received_us, int64_t decided_us, const Durable& durable,
                         IsoCompletion& done) {
  // The request bytes live in the session's slot until `done` finishes; parse them again here
  // (cheaper than keeping a parsed copy per request in flight).
  thread_local std::unique_ptr<Message> original;
  if (!original || &original->dialect() != &dialect) original = std::make_unique<Message>(dialect);
  if (!original->Parse(done.request()).ok()) {  // parsed fine before; cannot happen
    done.Finish(IsoReply::kNoReply);
    return;
  }
  if (!durable.ok) {
    // Not durable: never report it approved.
    ledger_failures_.Increment();
    CountDecision(operation, ResponseCode::kSystemMalfunction);
    Answer(*original, ResponseCode::kSystemMalfunction, nullptr, done);
    return;
  }
  ResponseCode code = durable.decision.response_code;
  // A reversal advice is always acknowledged; the journal keeps the ledger's own answer.
  if (operation == CardOperation::kReversalAdvice) code = ResponseCode::kApproved;
  CountDecision(operation, code);
  Answer(*original, code, &durable.decision, done);
  const int64_t end_us = clock_.NowMonotonicMicros();
  latency_respond_.Observe(static_cast<uint64_t>(end_us - decided_us));
  latency_total_.Observe(static_cast<uint64_t>(end_us - received_us));
}

}  // namespace kytkin
