#include "switch/settlement_iso.h"

#include <pthread.h>

#include <algorithm>
#include <array>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <optional>

#include "iso8583/dialect.h"
#include "switch/authorizer.h"
#include "switch/settlement.h"

namespace kytkin {
namespace {

using iso8583::Message;
using storage::BatchTotals;

// DE 3 transaction types of a 0320 item.
constexpr std::string_view kItemCapture = "00";
constexpr std::string_view kItemRefund = "20";
constexpr std::string_view kItemVoid = "02";
constexpr std::string_view kDefaultBatchNumber = "1";
constexpr int64_t kAmount16Max = 9'999'999'999'999'999;   // DE 86-89 and 97: 16 digits
constexpr uint64_t kStanModulus = 1'000'000;              // DE 11: n 6
constexpr uint64_t kTransmissionTimeMax = 9'999'999'999;  // DE 7: n 10, MMDDhhmmss

// The second MTI digit of an ISO 8583 message without parsing it: '3' for 03xx, '5' for 05xx.
char MtiClass(std::span<const uint8_t> bytes, const iso8583::Dialect& dialect) {
  if (dialect.mti_encoding == iso8583::Encoding::kBcd) {
    return bytes.empty() ? 0 : static_cast<char>('0' + (bytes[0] & 0x0F));
  }
  return bytes.size() < 2 ? 0 : static_cast<char>(bytes[1]);
}

bool IsSettlementMti(std::string_view mti) {
  return mti == "0320" || mti == "0321" || mti == "0500" || mti == "0501";
}

Result<int64_t> Digits(const Message& m, int field) {
  if (!m.Has(field)) return int64_t{0};
  auto v = m.GetUint(field);
  if (!v.ok() || *v > static_cast<uint64_t>(kAmount16Max)) {
    return Status::InvalidArgument("DE " + std::to_string(field));
  }
  return static_cast<int64_t>(*v);
}

// DE 97 as `sign` reads it: kytkin's net (debits minus credits) or its negation.
int64_t SignedNet(int64_t debits_minus_credits, NetAmountSign sign) {
  return sign == NetAmountSign::kCreditsMinusDebits ? -debits_minus_credits : debits_minus_credits;
}

Status SetTotals(Message& response, const BatchTotals& t, NetAmountSign sign) {
  auto amount = [](int64_t v) {
    return static_cast<uint64_t>(std::clamp<int64_t>(v, 0, kAmount16Max));
  };
  KYTKIN_RETURN_IF_ERROR(response.SetUint(74, t.refunds_count));
  KYTKIN_RETURN_IF_ERROR(response.SetUint(75, 0));
  KYTKIN_RETURN_IF_ERROR(response.SetUint(76, t.captures_count));
  KYTKIN_RETURN_IF_ERROR(response.SetUint(77, t.reversals_count));
  KYTKIN_RETURN_IF_ERROR(response.SetUint(86, amount(t.refunds_minor)));
  KYTKIN_RETURN_IF_ERROR(response.SetUint(87, 0));
  KYTKIN_RETURN_IF_ERROR(response.SetUint(88, amount(t.captures_minor)));
  KYTKIN_RETURN_IF_ERROR(response.SetUint(89, amount(t.reversals_minor)));
  const int64_t net = SignedNet(t.net_minor(), sign);
  std::array<char, 24> de97{};
  std::snprintf(de97.data(), de97.size(), "%c%016" PRId64, net < 0 ? 'D' : 'C',
                std::min<int64_t>(net < 0 ? -net : net, kAmount16Max));
  return response.Set(97, de97.data());
}

}  // namespace

SettlementIsoHandler::SettlementIsoHandler(storage::Store& store, const SettlementConfig& config,
                                           IsoHandler& next, const Clock& clock)
    : store_(store), config_(config), next_(next), clock_(clock) {
  worker_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "kytkin-settle");
    WorkerLoop();
  });
}

SettlementIsoHandler::~SettlementIsoHandler() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void SettlementIsoHandler::Handle(const IsoRequest& request, IsoCompletion done) {
  const iso8583::Dialect* dialect = iso8583::FindDialect(request.dialect);
  const char mti_class = dialect ? MtiClass(request.message, *dialect) : 0;
  if (mti_class != '3' && mti_class != '5') {
    next_.Handle(request, std::move(done));
    return;
  }
  std::unique_lock lock(mu_);
  if (!stopping_ && queue_.size() < kQueueMessagesMax) {
    queue_.push_back(Work{dialect, std::move(done)});
    lock.unlock();
    cv_.notify_one();
    return;
  }
  lock.unlock();
  // Full (or stopping): answer 96 now, on the event loop (no ledger call).
  Message m(*dialect);
  Message response(*dialect);
  if (!m.Parse(request.message).ok() ||
      !BuildResponse(m, ResponseCode::kSystemMalfunction, nullptr, response).ok()) {
    done.Finish(IsoReply::kNoReply);
    return;
  }
  std::vector<uint8_t>& out = done.response();
  out.resize(Message::kPackedBytesTypicalMax);
  auto packed = response.Pack(out);
  if (!packed.ok()) {
    done.Finish(IsoReply::kNoReply);
    return;
  }
  out.resize(*packed);
  done.Send();
}

void SettlementIsoHandler::WorkerLoop() {
  std::unique_ptr<Message> request, response;
  for (;;) {
    Work work;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;
      work = std::move(queue_.front());
      queue_.pop_front();
    }
    if (!request || &request->dialect() != work.dialect) {
      request = std::make_unique<Message>(*work.dialect);
      response = std::make_unique<Message>(*work.dialect);
    }
    if (!request->Parse(work.done.request()).ok() || !IsSettlementMti(request->mti())) {
      // Unparseable, or an 03xx/05xx kytkin does not perform: the pipeline answers 30/12.
      Message* answer = response.get();
      const ResponseCode code =
          request->mti().empty() ? ResponseCode::kFormatError : ResponseCode::kInvalidTransaction;
      if (request->mti().size() != 4 || !BuildResponse(*request, code, nullptr, *answer).ok()) {
        work.done.Finish(IsoReply::kNoReply);
        continue;
      }
    } else if (!Answer(*request, *response).ok()) {
      work.done.Finish(IsoReply::kNoReply);
      continue;
    }
    std::vector<uint8_t>& out = work.done.response();
    out.resize(Message::kPackedBytesTypicalMax);
    auto packed = response->Pack(out);
    if (!packed.ok()) {
      work.done.Finish(IsoReply::kNoReply);
      continue;
    }
    out.resize(*packed);
    work.done.Send();
  }
}

Status SettlementIsoHandler::Answer(const Message& request, Message& response) {
  // A repeat (0321, 0501) is answered like its first send: the item's key makes it idempotent.
  const std::string_view mti = request.mti();
  if (mti == "0320" || mti == "0321") return AnswerUpload(request, response);
  if (mti == "0500" || mti == "0501") return AnswerReconciliation(request, response);
  return BuildResponse(request, ResponseCode::kInvalidTransaction, nullptr, response);
}

std::string SettlementIsoHandler::BatchId(const Message& m) const {
  return BatchId(m, settlement::BusinessDateAt(clock_.NowUnixMicros(), config_.cutover_minute_utc));
}

std::string SettlementIsoHandler::BatchId(const Message& m, int32_t date) const {
  std::string_view acquirer = m.Get(32);
  while (acquirer.size() > 1 && acquirer.front() == '0') acquirer.remove_prefix(1);
  std::string id(acquirer);
  id.append("|").append(m.Get(41)).append("|").append(settlement::FormatDate(date)).append("|");
  id.append(m.Has(60) ? m.Get(60) : kDefaultBatchNumber);
  return id;
}

Result<std::string> SettlementIsoHandler::ReconciliationBatchId(const Message& m) const {
  const int32_t today =
      settlement::BusinessDateAt(clock_.NowUnixMicros(), config_.cutover_minute_utc);
  if (m.Has(15)) {
    // DE 15, the settlement date (MMDD): the business date of that month and day nearest today
    // (a batch of 12-31 reconciled on 01-01 is last year's).
    const std::string_view mmdd = m.Get(15);
    if (mmdd.size() != 4) return Status::InvalidArgument("DE 15");
    const int year = std::stoi(settlement::FormatDate(today).substr(0, 4));
    std::optional<int32_t> best;
    for (int y : {year - 1, year, year + 1}) {
      auto date = settlement::ParseDate(std::to_string(y) + "-" + std::string(mmdd.substr(0, 2)) +
                                        "-" + std::string(mmdd.substr(2, 2)));
      if (date.ok() && (!best || std::abs(*date - today) < std::abs(*best - today))) best = *date;
    }
    if (!best) return Status::InvalidArgument("DE 15");
    return BatchId(m, *best);
  }
  // Without DE 15: the batch the terminal uploaded into - today's, or, when it has none today,
  // the previous business date's (the 0500 came just after the cut-over closed it).
  std::string id = BatchId(m, today);
  if (store_.GetSettlementBatch(id).ok()) return id;
  std::string previous = BatchId(m, today - 1);
  if (store_.GetSettlementBatch(previous).ok()) return previous;
  return id;
}

Status SettlementIsoHandler::EnsureBatch(const Message& m, const std::string& batch_id) {
  if (opened_.contains(batch_id)) return Status::Ok();
  settlement::BatchHeader header;
  header.batch_id = batch_id;
  header.acquirer_id = std::string(m.Get(32));
  header.terminal_id = std::string(m.Get(41));
  header.merchant_id = std::string(m.Get(42));
  auto currency = m.GetUint(49);
  header.currency = static_cast<uint16_t>(currency.ok() ? *currency % 1000 : 0);
  auto writer = settlement::BatchWriter::Open(store_, config_, header, clock_, {});
  if (!writer.ok()) return writer.status();
  opened_.insert(batch_id);
  return Status::Ok();
}

Status SettlementIsoHandler::AnswerUpload(const Message& m, Message& response) {
  auto answer = [&](ResponseCode code, const storage::Decision* d) {
    return BuildResponse(m, code, d, response);
  };
  for (int f : {3, 4, 11, 41, 42, 49}) {
    if (!m.Has(f)) return answer(ResponseCode::kFormatError, nullptr);
  }
  settlement::Item item;
  const std::string_view type = m.Get(3).substr(0, 2);
  if (type == kItemCapture) {
    item.kind = settlement::ItemKind::kCapture;
  } else if (type == kItemRefund) {
    item.kind = settlement::ItemKind::kRefund;
  } else if (type == kItemVoid) {
    item.kind = settlement::ItemKind::kReversal;
  } else {
    return answer(ResponseCode::kInvalidTransaction, nullptr);
  }
  auto stan = m.GetUint(11);
  auto amount = m.GetUint(4);
  if (!stan.ok() || *stan == 0 || !amount.ok() || *amount == 0) {
    return answer(ResponseCode::kFormatError, nullptr);
  }
  // The STAN wraps (999999 -> 1) within a long batch, so alone it is not unique: with DE 7
  // (MMDDhhmmss, the same on a 0321 repeat) the item number is DE 7 * 10^6 + STAN, which fits
  // in 16 digits. Without DE 7 the STAN alone numbers the item.
  item.number = *stan;
  if (m.Has(7)) {
    auto sent = m.GetUint(7);
    if (!sent.ok() || *sent > kTransmissionTimeMax) {
      return answer(ResponseCode::kFormatError, nullptr);
    }
    item.number += *sent * kStanModulus;
  }
  item.amount_minor = static_cast<int64_t>(*amount);
  item.stan = std::string(m.Get(11));
  if (m.Has(37)) item.auth_rrn = std::string(m.Get(37));
  if (m.Has(38)) item.auth_code = std::string(m.Get(38));
  if (m.Has(90)) {
    // DE 90: original MTI (4), STAN (6), transmission time (10), acquirer (11), forwarder (11).
    std::string_view de90 = m.Get(90);
    if (de90.size() != 42) return answer(ResponseCode::kFormatError, nullptr);
    item.auth_request_key = IsoRequestKey(m.Has(32) ? m.Get(32) : de90.substr(20, 11), m.Get(41),
                                          de90.substr(4, 6), de90.substr(10, 10));
  }
  if (m.Has(2)) {
    auto pan = Pan::Parse(m.Get(2));
    if (!pan.ok()) return answer(ResponseCode::kInvalidCardNumber, nullptr);
    item.pan = std::move(pan).value();
  }
  if (item.auth_rrn.empty() && item.auth_request_key.empty() && !item.pan) {
    return answer(ResponseCode::kFormatError, nullptr);
  }
  const std::string batch_id = BatchId(m);
  Status opened = EnsureBatch(m, batch_id);
  if (!opened.ok()) {
    // A merchant without a payout account, an unknown currency: not this terminal's fault to
    // retry; 12 names it invalid for kytkin.
    return answer(opened.code() == Status::Code::kInvalidArgument ||
                          opened.code() == Status::Code::kFailedPrecondition
                      ? ResponseCode::kInvalidTransaction
                      : ResponseCode::kSystemMalfunction,
                  nullptr);
  }
  auto batch = store_.GetSettlementBatch(batch_id);
  if (!batch.ok()) return answer(ResponseCode::kSystemMalfunction, nullptr);
  storage::Request r =
      settlement::ItemRequest(*batch, item, config_, storage::Channel::kIso8583, m.mti());
  auto decision = store_.Execute(std::move(r));
  if (!decision.ok()) return answer(ResponseCode::kSystemMalfunction, nullptr);
  return answer(decision->response_code, &*decision);
}

Status SettlementIsoHandler::AnswerReconciliation(const Message& m, Message& response) {
  if (!m.Has(41) || !m.Has(42)) {
    return BuildResponse(m, ResponseCode::kFormatError, nullptr, response);
  }
  BatchTotals declared;
  auto refunds_count = Digits(m, 74), credit_reversals = Digits(m, 75),
       captures_count = Digits(m, 76), reversals_count = Digits(m, 77), refunds = Digits(m, 86),
       credit_reversal_amount = Digits(m, 87), captures = Digits(m, 88), reversals = Digits(m, 89);
  for (const auto* v : {&refunds_count, &credit_reversals, &captures_count, &reversals_count,
                        &refunds, &credit_reversal_amount, &captures, &reversals}) {
    if (!v->ok()) return BuildResponse(m, ResponseCode::kFormatError, nullptr, response);
  }
  declared.refunds_count = static_cast<uint64_t>(*refunds_count);
  declared.captures_count = static_cast<uint64_t>(*captures_count);
  declared.reversals_count = static_cast<uint64_t>(*reversals_count);
  declared.refunds_minor = *refunds;
  declared.captures_minor = *captures;
  declared.reversals_minor = *reversals;
  bool balanced_extra = *credit_reversals == 0 && *credit_reversal_amount == 0;
  if (m.Has(97)) {
    std::string_view de97 = m.Get(97);
    if (de97.size() < 2 || (de97[0] != 'C' && de97[0] != 'D')) {
      return BuildResponse(m, ResponseCode::kFormatError, nullptr, response);
    }
    const int64_t magnitude = std::strtoll(std::string(de97.substr(1)).c_str(), nullptr, 10);
    const int64_t net = de97[0] == 'D' ? -magnitude : magnitude;
    if (net != SignedNet(declared.net_minor(), config_.de97_sign)) balanced_extra = false;
  }
  auto resolved = ReconciliationBatchId(m);
  if (!resolved.ok()) return BuildResponse(m, ResponseCode::kFormatError, nullptr, response);
  const std::string& batch_id = *resolved;
  if (!m.Has(49)) {
    // The batch exists from its uploads; without uploads a reconciliation of nothing needs the
    // currency to open an empty batch.
    if (!store_.GetSettlementBatch(batch_id).ok()) {
      return BuildResponse(m, ResponseCode::kFormatError, nullptr, response);
    }
  } else {
    Status opened = EnsureBatch(m, batch_id);
    if (!opened.ok()) return BuildResponse(m, ResponseCode::kInvalidTransaction, nullptr, response);
  }
  if (!balanced_extra) {
    // Credit reversals or a net that disagrees with the declared counts: never in balance, and
    // not recorded as the batch's declared totals either.
    auto batch = store_.GetSettlementBatch(batch_id);
    if (!batch.ok()) return BuildResponse(m, ResponseCode::kSystemMalfunction, nullptr, response);
    KYTKIN_RETURN_IF_ERROR(BuildResponse(m, ResponseCode::kReconciliationError, nullptr, response));
    return SetTotals(response, batch->held, config_.de97_sign);
  }
  auto rec = settlement::Reconcile(store_, batch_id, declared);
  if (!rec.ok()) return BuildResponse(m, ResponseCode::kSystemMalfunction, nullptr, response);
  KYTKIN_RETURN_IF_ERROR(BuildResponse(m, rec->code, nullptr, response));
  return SetTotals(response, rec->batch.held, config_.de97_sign);
}

}  // namespace kytkin
