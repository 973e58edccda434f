#include "switch/online_handlers.h"

#include <google/protobuf/util/time_util.h>

#include <array>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <memory>
#include <sstream>

#include "core/currency.h"
#include "core/pan.h"
#include "core/text.h"
#include "iso8583/dialect.h"
#include "switch/routed_request.h"
#include "switch/terminal_client.h"

namespace kytkin {
namespace {

using storage::Operation;

// ,"approved_minor":N for a partial approval (the issuer approved less than the amount).
std::string ApprovedMinorJson(const storage::JournalRecord& j) {
  if (j.approved_amount.currency() == 0) return "";
  return ",\"approved_minor\":" + std::to_string(j.approved_amount.minor_units());
}

uint16_t CurrencyNumeric(std::string_view code) {
  // Validated already: three letters or three digits of a known currency.
  if (code.size() == 3 && code[0] >= '0' && code[0] <= '9') {
    uint16_t n = 0;
    std::from_chars(code.data(), code.data() + code.size(), n);
    return n;
  }
  auto c = FindCurrency(code);
  return c ? c->numeric : 0;
}

Amount ToAmount(const v1::Money& money) {
  return Amount(money.minor_units(), CurrencyNumeric(money.currency_code()));
}

void SetMoney(const Amount& amount, v1::Money* out) {
  auto c = FindCurrency(amount.currency());
  out->set_currency_code(c ? std::string(c->alpha) : std::to_string(amount.currency()));
  out->set_minor_units(amount.minor_units());
}

std::string TodayYymm(const Clock& clock) {
  std::time_t seconds = static_cast<std::time_t>(clock.NowUnixMicros() / 1'000'000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  std::array<char, 32> buf{};
  std::snprintf(buf.data(), buf.size(), "%02d%02d", utc.tm_year % 100, utc.tm_mon + 1);
  return buf.data();
}

// Card and merchant fields shared by Authorize, Refund and BalanceInquiry. Returns false when the
// card is expired by the expiry the client sent.
bool FillCard(const v1::CardReference& card, const Clock& clock, storage::Request& r) {
  if (card.has_pan()) {
    auto pan = Pan::Parse(card.pan());  // validated already
    if (pan.ok()) r.pan = std::move(pan).value();
  } else {
    r.card_token = card.card_token();
  }
  return card.expiry_yymm().empty() || card.expiry_yymm() >= TodayYymm(clock);
}

void FillMerchant(const v1::Merchant& merchant, storage::Request& r) {
  r.merchant_id = merchant.merchant_id();
  r.terminal_id = merchant.terminal_id();
}

storage::Request NewRequest(Operation op, std::string_view mti, std::string_view key) {
  storage::Request r;
  r.operation = op;
  r.channel = storage::Channel::kGrpc;
  r.mti = mti;
  r.request_key = OnlineRequestKey(key);
  return r;
}

// Sets the original of a capture or reversal. NotFound when an RRN names nothing.
Status FillOriginal(storage::Store& store, const v1::TransactionReference& ref,
                    storage::Request& r) {
  if (ref.has_idempotency_key()) {
    r.original_request_key = OnlineRequestKey(ref.idempotency_key());
    return Status::Ok();
  }
  auto record = FindTransactionByRrn(store, ref.rrn());
  if (!record.ok()) return record.status();
  r.original_transfer_id = record->transfer_id;
  // A decision without a ledger transfer (a remote issuer's), or a stand-in (whose 0120 the
  // issuer got), is found by its request key, so routing can tell its issuer (RouteFollowUp);
  // the ledger finds on-us ones either way.
  if (record->transfer_id == 0 || record->operation == Operation::kStandIn) {
    r.original_request_key = record->request_key;
  }
  return Status::Ok();
}

void FillDecision(const storage::Decision& d, v1::Decision* out) {
  SetResponseCode(d.response_code, out);
  out->set_auth_code(d.auth_code);
  if (d.journal_sequence != 0) out->set_rrn(RrnOfSequence(d.journal_sequence));
  if (d.approved_amount.currency() != 0)
    SetMoney(d.approved_amount, out->mutable_approved_amount());
  if (d.available.currency() != 0) SetMoney(d.available, out->mutable_available_balance());
}

std::string TransactionJson(const storage::JournalRecord& j) {
  std::ostringstream o;
  o << "{\"rrn\":\"" << RrnOfSequence(j.sequence) << "\",\"sequence\":" << j.sequence
    << ",\"time_unix_us\":" << j.time_unix_us << ",\"channel\":\""
    << storage::ChannelName(j.channel) << "\",\"operation\":\""
    << storage::OperationName(j.operation) << "\",\"mti\":\"" << JsonEscape(j.mti)
    << "\",\"terminal_id\":\"" << JsonEscape(j.terminal_id) << "\",\"merchant_id\":\""
    << JsonEscape(j.merchant_id) << "\",\"acquirer_id\":\"" << JsonEscape(j.acquirer_id)
    << "\",\"stan\":\"" << JsonEscape(j.stan) << "\",\"masked_pan\":\"" << JsonEscape(j.masked_pan)
    << "\",\"card_token\":\"" << JsonEscape(j.card_token)
    << "\",\"amount_minor\":" << j.amount.minor_units() << ",\"amount\":\""
    << j.amount.FormatMajor() << "\",\"currency\":" << j.amount.currency() << ApprovedMinorJson(j)
    << ",\"route\":\"" << JsonEscape(j.route) << "\",\"issuer_id\":\"" << JsonEscape(j.issuer_id)
    << "\",\"issuer_link\":\"" << JsonEscape(j.issuer_link)
    << "\",\"issuer_stan\":" << j.issuer_stan << ",\"issuer_time\":\"" << JsonEscape(j.issuer_time)
    << "\",\"response_code\":\"" << ResponseCodeDigits(j.response_code) << "\",\"reason\":\""
    << storage::ReasonName(j.reason) << "\",\"auth_code\":\"" << JsonEscape(j.auth_code)
    << "\",\"latency_us\":" << j.latency_us << "}";
  return o.str();
}

v1::Card::State ToProtoState(storage::CardStatus status) {
  switch (status) {
    case storage::CardStatus::kActive:
      return v1::Card::STATE_ACTIVE;
    case storage::CardStatus::kLost:
      return v1::Card::STATE_LOST;
    case storage::CardStatus::kStolen:
      return v1::Card::STATE_STOLEN;
    case storage::CardStatus::kBlocked:
      return v1::Card::STATE_RESTRICTED;
    default:
      return v1::Card::STATE_UNSPECIFIED;
  }
}

void FillCardResponse(const storage::Card& card, v1::Card* out) {
  out->set_card_token(card.token);
  out->set_masked_pan(card.masked_pan);
  out->set_account_id(std::to_string(card.account_id));
  std::array<char, 16> yymm{};
  std::snprintf(yymm.data(), yymm.size(), "%02d%02d", card.expiry_year % 100,
                card.expiry_month % 100);
  out->set_expiry_yymm(yymm.data());
  out->set_state(ToProtoState(card.status));
}

// The ISO 8583 request an issuer gets for a routed online call: 0100 (authorize) or 0200
// (refund 20, balance 31), e-commerce entry (DE 22 812), DE 41 the merchant's terminal id, else
// `online_terminal_id` ([routing], default "ONLINE"), DE 11 from the idempotency key (the link
// replaces it on the wire).
Result<iso8583::Message> OnlineIsoRequest(const storage::Request& r, const v1::CardReference& card,
                                          const v1::Merchant* merchant, CardOperation op,
                                          std::string_view online_terminal_id) {
  iso8583::Message m(*iso8583::FindDialect(kAdviceDialect));
  const bool authorize = op == CardOperation::kAuthorize;
  KYTKIN_RETURN_IF_ERROR(m.SetMti(authorize ? "0100" : "0200"));
  KYTKIN_RETURN_IF_ERROR(m.Set(2, r.pan->clear_digits()));
  KYTKIN_RETURN_IF_ERROR(m.Set(3, op == CardOperation::kRefund           ? "200000"
                                  : op == CardOperation::kBalanceInquiry ? "310000"
                                                                         : "000000"));
  if (op != CardOperation::kBalanceInquiry) {
    KYTKIN_RETURN_IF_ERROR(m.SetUint(4, static_cast<uint64_t>(r.amount.minor_units())));
  }
  KYTKIN_RETURN_IF_ERROR(m.Set(7, TransmissionTimeNow()));
  KYTKIN_RETURN_IF_ERROR(m.SetUint(11, std::hash<std::string>{}(r.request_key) % 1'000'000));
  if (card.expiry_yymm().size() == 4) KYTKIN_RETURN_IF_ERROR(m.Set(14, card.expiry_yymm()));
  if (merchant != nullptr && merchant->merchant_category_code().size() == 4) {
    KYTKIN_RETURN_IF_ERROR(m.Set(18, merchant->merchant_category_code()));
  }
  KYTKIN_RETURN_IF_ERROR(m.Set(22, "812"));
  KYTKIN_RETURN_IF_ERROR(m.Set(41, merchant != nullptr && !merchant->terminal_id().empty()
                                       ? std::string_view(merchant->terminal_id())
                                       : online_terminal_id));
  if (merchant != nullptr && !merchant->merchant_id().empty()) {
    KYTKIN_RETURN_IF_ERROR(m.Set(42, merchant->merchant_id()));
  }
  KYTKIN_RETURN_IF_ERROR(m.SetUint(49, r.amount.currency() == 0 ? 978 : r.amount.currency()));
  return m;
}

// The ISO 8583 follow-up routing reshapes into the issuer's 0420 / 0220 for a gRPC Reverse or
// Capture: no DE 2 or DE 90 (RouteFollowUp names the original by what it journaled), DE 41
// `online_terminal_id` (RouteFollowUp puts the original's DE 41 in the advice, the merchant's
// terminal when the original named one), DE 11 from the idempotency key, as OnlineIsoRequest.
Result<iso8583::Message> OnlineFollowUp(const storage::Request& r,
                                        std::string_view online_terminal_id) {
  iso8583::Message m(*iso8583::FindDialect(kAdviceDialect));
  KYTKIN_RETURN_IF_ERROR(m.SetMti(r.operation == Operation::kCapture ? "0220" : "0400"));
  KYTKIN_RETURN_IF_ERROR(m.Set(3, "000000"));
  KYTKIN_RETURN_IF_ERROR(m.Set(7, TransmissionTimeNow()));
  KYTKIN_RETURN_IF_ERROR(m.SetUint(11, std::hash<std::string>{}(r.request_key) % 1'000'000));
  KYTKIN_RETURN_IF_ERROR(m.Set(22, "812"));
  KYTKIN_RETURN_IF_ERROR(m.Set(41, online_terminal_id));
  return m;
}

}  // namespace

std::string OnlineRequestKey(std::string_view idempotency_key) {
  std::string key = "grpc|";
  key += idempotency_key;
  return key;
}

std::string RrnOfSequence(uint64_t journal_sequence) {
  std::array<char, 24> buf{};
  std::snprintf(buf.data(), buf.size(), "%012llu",
                static_cast<unsigned long long>(journal_sequence % 1'000'000'000'000ull));
  return buf.data();
}

Result<uint64_t> SequenceOfRrn(std::string_view rrn) {
  uint64_t seq = 0;
  auto [end, ec] = std::from_chars(rrn.data(), rrn.data() + rrn.size(), seq);
  if (rrn.size() != 12 || ec != std::errc() || end != rrn.data() + rrn.size() || seq == 0) {
    return Status::NotFound("rrn: no transaction has RRN '" + std::string(rrn.substr(0, 16)) + "'");
  }
  return seq;
}

Result<storage::JournalRecord> FindTransactionByRrn(storage::Store& store, std::string_view rrn) {
  auto seq = SequenceOfRrn(rrn);
  if (!seq.ok()) return seq.status();
  std::optional<storage::JournalRecord> found;
  KYTKIN_RETURN_IF_ERROR(store.ExportJournal(*seq, *seq, [&](const storage::JournalRecord& j) {
    found = j;
    return false;
  }));
  if (!found) return Status::NotFound("rrn: no transaction has RRN " + std::string(rrn));
  return std::move(*found);
}

void AddTransactionRoutes(storage::Store& store, HttpRouter& router) {
  router.Add(boost::beast::http::verb::get, "/api/v1/transactions/{rrn}",
             [&store](const HttpRequest& request) {
               auto record = FindTransactionByRrn(store, request.Param("rrn"));
               if (!record.ok()) {
                 return record.status().IsNotFound()
                            ? HttpResponse::Error(404, record.status().message())
                            : HttpResponse::Error(503, record.status().message());
               }
               return HttpResponse::Json(200, TransactionJson(*record));
             });
}

// --- Authorization ---------------------------------------------------------------------------

namespace {

// The store's (or the router's) callback for a gRPC call: fills the decision and finishes the
// call, or fails it UNAVAILABLE when the decision is not durable. std::function needs a copyable
// callable and the completion is move-only, so it lives in a shared cell that the callback or a
// refusal path takes it from.
std::function<void(Result<storage::Decision>)> AnswerWhenDecided(
    std::shared_ptr<RpcCompletion> cell, v1::Decision* decision) {
  return [cell = std::move(cell), decision](Result<storage::Decision> result) {
    if (!result.ok()) {
      cell->Finish(
          Status::Unavailable("the ledger failed: " + std::string(result.status().message())));
      return;
    }
    FillDecision(*result, decision);
    cell->Finish(Status::Ok());
  };
}

}  // namespace

void OnlineAuthorizer::Submit(storage::Request request, v1::Decision* decision,
                              RpcCompletion done) {
  request.received_monotonic_us = clock_.NowMonotonicMicros();
  auto cell = std::make_shared<RpcCompletion>(std::move(done));
  Status submitted = store_.Submit(std::move(request), AnswerWhenDecided(cell, decision));
  if (!submitted.ok()) cell->Finish(Status::Unavailable(submitted.message()));
}

void OnlineAuthorizer::SubmitForCard(storage::Request request, const v1::CardReference& card,
                                     const v1::Merchant* merchant, v1::Decision* decision,
                                     RpcCompletion done) {
  if (!FillCard(card, clock_, request)) {
    SetResponseCode(ResponseCode::kExpiredCard, decision);
    done.Finish(Status::Ok());
    return;
  }
  if (router_ != nullptr && router_->enabled() && request.pan) {
    const CardOperation op = request.operation == Operation::kRefund ? CardOperation::kRefund
                             : request.operation == Operation::kBalanceInquiry
                                 ? CardOperation::kBalanceInquiry
                                 : CardOperation::kAuthorize;
    Result<iso8583::Message> iso =
        OnlineIsoRequest(request, card, merchant, op, router_->online_terminal_id());
    if (iso.ok()) {
      RoutedCardRequest in;
      in.operation = op;
      in.channel = routing::Channel::kEcommerce;
      in.mcc = static_cast<uint16_t>(iso->GetUint(18).ok() ? *iso->GetUint(18) % 10000 : 0);
      in.message = &*iso;
      request.received_monotonic_us = clock_.NowMonotonicMicros();
      auto cell = std::make_shared<RpcCompletion>(std::move(done));
      const bool routed =
          RouteCardRequest(*router_, store_, in, request, AnswerWhenDecided(cell, decision));
      if (routed) return;
      done = std::move(*cell);
    }
  }
  Submit(std::move(request), decision, std::move(done));
}

void OnlineAuthorizer::SubmitForOriginal(storage::Request request,
                                         const v1::TransactionReference& original,
                                         v1::Decision* decision, RpcCompletion done) {
  if (!FillOriginal(store_, original, request).ok()) {
    SetResponseCode(ResponseCode::kUnableToLocateOriginal, decision);
    done.Finish(Status::Ok());
    return;
  }
  if (router_ != nullptr && router_->enabled()) {
    // One code path with ISO 8583: an original a remote issuer approved is reversed or completed
    // there (0420 / 0220 queued), not on kytkin's ledger, which holds nothing for it.
    Result<iso8583::Message> iso = OnlineFollowUp(request, router_->online_terminal_id());
    if (iso.ok()) {
      request.received_monotonic_us = clock_.NowMonotonicMicros();
      auto cell = std::make_shared<RpcCompletion>(std::move(done));
      const bool routed =
          RouteFollowUp(*router_, store_, *iso, request, AnswerWhenDecided(cell, decision));
      if (routed) return;
      done = std::move(*cell);
    }
  }
  Submit(std::move(request), decision, std::move(done));
}

void OnlineAuthorizer::Authorize(const v1::AuthorizeRequest& request,
                                 v1::AuthorizeResponse* response, RpcCompletion done) {
  storage::Request r = NewRequest(Operation::kAuthorize, "0100", request.idempotency_key());
  r.amount = ToAmount(request.amount());
  FillMerchant(request.merchant(), r);
  SubmitForCard(std::move(r), request.card(), &request.merchant(), response->mutable_decision(),
                std::move(done));
}

void OnlineAuthorizer::Capture(const v1::CaptureRequest& request, v1::CaptureResponse* response,
                               RpcCompletion done) {
  storage::Request r = NewRequest(Operation::kCapture, "0220", request.idempotency_key());
  if (request.has_amount()) r.amount = ToAmount(request.amount());
  SubmitForOriginal(std::move(r), request.authorization(), response->mutable_decision(),
                    std::move(done));
}

void OnlineAuthorizer::Reverse(const v1::ReverseRequest& request, v1::ReverseResponse* response,
                               RpcCompletion done) {
  storage::Request r = NewRequest(Operation::kReverse, "0400", request.idempotency_key());
  if (request.has_amount()) r.amount = ToAmount(request.amount());
  SubmitForOriginal(std::move(r), request.original(), response->mutable_decision(),
                    std::move(done));
}

void OnlineAuthorizer::Refund(const v1::RefundRequest& request, v1::RefundResponse* response,
                              RpcCompletion done) {
  storage::Request r = NewRequest(Operation::kRefund, "0200", request.idempotency_key());
  r.amount = ToAmount(request.amount());
  FillMerchant(request.merchant(), r);
  SubmitForCard(std::move(r), request.card(), &request.merchant(), response->mutable_decision(),
                std::move(done));
}

void OnlineAuthorizer::BalanceInquiry(const v1::BalanceInquiryRequest& request,
                                      v1::BalanceInquiryResponse* response, RpcCompletion done) {
  storage::Request r = NewRequest(Operation::kBalanceInquiry, "0200", request.idempotency_key());
  if (request.has_merchant()) FillMerchant(request.merchant(), r);
  SubmitForCard(std::move(r), request.card(),
                request.has_merchant() ? &request.merchant() : nullptr,
                response->mutable_decision(), std::move(done));
}

// --- Admin -----------------------------------------------------------------------------------

Status LedgerAdmin::DoCreateAccount(const v1::CreateAccountRequest& request,
                                    v1::Account* response) {
  const v1::Account& a = request.account();
  storage::Account account;
  account.id = std::stoull(a.account_id());  // validated: 1 to 15 digits
  account.currency = CurrencyNumeric(a.currency_code());
  switch (a.kind()) {
    case v1::Account::KIND_CREDIT:
      account.kind = storage::AccountKind::kCardholderCredit;
      account.credit_limit_minor = a.credit_limit_minor_units();
      break;
    case v1::Account::KIND_PREPAID:
      account.kind = storage::AccountKind::kPrepaid;
      account.flags = storage::kFlagDebitsMustNotExceedCredits;
      break;
    default:
      account.kind = storage::AccountKind::kCardholderDebit;
      account.flags = storage::kFlagDebitsMustNotExceedCredits;
      break;
  }
  KYTKIN_RETURN_IF_ERROR(store_.CreateAccount(account, request.opening_balance_minor_units()));
  auto created = store_.GetAccount(account.id);
  if (!created.ok()) return created.status();
  *response = a;
  SetMoney(Amount(created->available(), created->currency), response->mutable_available_balance());
  return Status::Ok();
}

Status LedgerAdmin::DoCreateCard(const v1::CreateCardRequest& request, v1::Card* response) {
  auto pan = Pan::Parse(request.pan());
  if (!pan.ok()) return Status::InvalidArgument("pan: " + std::string(pan.status().message()));
  storage::Card card;
  card.account_id = std::stoull(request.account_id());
  const std::string& yymm = request.expiry_yymm();
  card.expiry_year = 2000 + (yymm[0] - '0') * 10 + (yymm[1] - '0');
  card.expiry_month = (yymm[2] - '0') * 10 + (yymm[3] - '0');
  auto created = store_.CreateCard(*pan, card);
  if (!created.ok()) return created.status();
  FillCardResponse(*created, response);
  return Status::Ok();
}

void LedgerAdmin::CreateAccount(const v1::CreateAccountRequest& request, v1::Account* response,
                                RpcCompletion done) {
  done.Finish(DoCreateAccount(request, response));
}

void LedgerAdmin::CreateCard(const v1::CreateCardRequest& request, v1::Card* response,
                             RpcCompletion done) {
  done.Finish(DoCreateCard(request, response));
}

void LedgerAdmin::ImportAccounts(const v1::ImportAccountsRequest& request,
                                 v1::ImportAccountsResponse* response, RpcCompletion done) {
  int imported = 0, failed = 0;
  for (int i = 0; i < request.items_size(); ++i) {
    const auto& item = request.items(i);
    auto* result = response->add_results();
    result->set_index(i);
    v1::Account account;
    Status s = DoCreateAccount(item.account(), &account);
    for (int c = 0; s.ok() && c < item.cards_size(); ++c) {
      v1::CreateCardRequest card = item.cards(c);
      if (card.account_id().empty()) card.set_account_id(item.account().account().account_id());
      s = DoCreateCard(card, result->add_cards());
    }
    if (s.ok()) {
      ++imported;
    } else {
      ++failed;
      result->set_error(std::string(s.message()));
    }
  }
  response->set_imported_count(imported);
  response->set_failed_count(failed);
  done.Finish(Status::Ok());
}

Status LedgerAdmin::SetCardStatus(const std::string& token, storage::CardStatus status,
                                  v1::Card* response) {
  KYTKIN_RETURN_IF_ERROR(store_.SetCardStatus(token, status));
  auto card = store_.GetCard(token);
  if (!card.ok()) return card.status();
  FillCardResponse(*card, response);
  return Status::Ok();
}

void LedgerAdmin::BlockCard(const v1::BlockCardRequest& request, v1::Card* response,
                            RpcCompletion done) {
  storage::CardStatus status = storage::CardStatus::kBlocked;
  if (request.state() == v1::Card::STATE_LOST) status = storage::CardStatus::kLost;
  if (request.state() == v1::Card::STATE_STOLEN) status = storage::CardStatus::kStolen;
  done.Finish(SetCardStatus(request.card_token(), status, response));
}

void LedgerAdmin::UnblockCard(const v1::UnblockCardRequest& request, v1::Card* response,
                              RpcCompletion done) {
  done.Finish(SetCardStatus(request.card_token(), storage::CardStatus::kActive, response));
}

void LedgerAdmin::GetTransaction(const v1::GetTransactionRequest& request,
                                 v1::Transaction* response, RpcCompletion done) {
  const v1::TransactionReference& ref = request.transaction();
  std::string rrn = ref.rrn();
  if (ref.has_idempotency_key()) {
    auto decision = store_.FindDecision(OnlineRequestKey(ref.idempotency_key()));
    if (!decision.ok()) {
      done.Finish(Status::NotFound("transaction.idempotency_key: no transaction has this key"));
      return;
    }
    rrn = RrnOfSequence(decision->journal_sequence);
  }
  auto record = FindTransactionByRrn(store_, rrn);
  if (!record.ok()) {
    done.Finish(record.status());
    return;
  }
  const storage::JournalRecord& j = *record;
  response->set_rrn(RrnOfSequence(j.sequence));
  if (j.request_key.starts_with("grpc|")) response->set_idempotency_key(j.request_key.substr(5));
  response->set_operation(std::string(storage::OperationName(j.operation)));
  response->set_card_token(j.card_token);
  response->set_masked_pan(j.masked_pan);
  SetMoney(j.amount, response->mutable_amount());
  v1::Decision* d = response->mutable_decision();
  SetResponseCode(j.response_code, d);
  d->set_auth_code(j.auth_code);
  d->set_rrn(RrnOfSequence(j.sequence));
  response->set_channel(j.channel == storage::Channel::kGrpc ? "grpc" : "iso8583");
  response->set_merchant_id(j.merchant_id);
  response->set_terminal_id(j.terminal_id);
  *response->mutable_create_time() =
      google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(j.time_unix_us);
  done.Finish(Status::Ok());
}

}  // namespace kytkin
