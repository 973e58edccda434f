#include "switch/settlement_grpc.h"

#include <memory>
#include <optional>
#include <string>

#include "core/currency.h"
#include "core/pan.h"
#include "switch/grpc_service.h"
#include "switch/online_handlers.h"
#include "switch/settlement.h"

namespace kytkin {
namespace {

std::optional<uint16_t> CurrencyOf(const std::string& code) {
  if (auto c = FindCurrency(code)) return c->numeric;
  if (code.size() == 3 && code.find_first_not_of("0123456789") == std::string::npos) {
    if (auto c = FindCurrency(static_cast<uint16_t>(std::stoi(code)))) return c->numeric;
  }
  return std::nullopt;
}

void FillTotals(const storage::BatchTotals& t, v1::SettlementTotals* out) {
  out->set_captures(t.captures_count);
  out->set_captures_minor_units(t.captures_minor);
  out->set_refunds(t.refunds_count);
  out->set_refunds_minor_units(t.refunds_minor);
  out->set_reversals(t.reversals_count);
  out->set_reversals_minor_units(t.reversals_minor);
  out->set_net_minor_units(t.net_minor());
}

Status Invalid(std::string message) { return Status::InvalidArgument(std::move(message)); }

grpc::Status ToGrpc(const Status& s) {
  switch (s.code()) {
    case Status::Code::kOk:
      return grpc::Status::OK;
    case Status::Code::kInvalidArgument:
      return {grpc::StatusCode::INVALID_ARGUMENT, std::string(s.message())};
    case Status::Code::kNotFound:
      return {grpc::StatusCode::NOT_FOUND, std::string(s.message())};
    case Status::Code::kFailedPrecondition:
      return {grpc::StatusCode::FAILED_PRECONDITION, std::string(s.message())};
    case Status::Code::kResourceExhausted:
      return {grpc::StatusCode::RESOURCE_EXHAUSTED, std::string(s.message())};
    case Status::Code::kUnavailable:
      return {grpc::StatusCode::UNAVAILABLE, std::string(s.message())};
    default:
      return {grpc::StatusCode::INTERNAL, std::string(s.message())};
  }
}

}  // namespace

// One SubmitBatch call: reads messages one at a time and handles each before reading the next
// (gRPC's flow control then holds the client back while the ledger is busy).
class SettlementService::Call final : public grpc::ServerReadReactor<v1::SettlementMessage> {
 public:
  Call(SettlementService& service, v1::SubmitBatchResponse* response)
      : service_(service), response_(response) {
    StartRead(&message_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the client closed its side
      Finish(totals_seen_ ? grpc::Status::OK : ToGrpc(EndWithoutTotals()));
      return;
    }
    Status s = Handle(message_);
    if (!s.ok()) {
      // The items accepted before the bad message are decided (the writer's destructor submits
      // its last chunk and waits) before the error answer, so a client that resubmits after it
      // finds them decided.
      writer_.reset();
      Finish(ToGrpc(s));
      return;
    }
    message_.Clear();
    StartRead(&message_);
  }

  void OnDone() override { delete this; }

 private:
  Status Handle(const v1::SettlementMessage& m) {
    if (totals_seen_) return Invalid("totals: must be the last message");
    switch (m.kind_case()) {
      case v1::SettlementMessage::kHeader:
        return Header(m.header());
      case v1::SettlementMessage::kItem:
        return ItemMessage(m.item());
      case v1::SettlementMessage::kTotals:
        return Totals(m.totals());
      case v1::SettlementMessage::KIND_NOT_SET:
        break;
    }
    return Invalid("kind: one of header, item, totals");
  }

  Status Header(const v1::SettlementBatchHeader& h) {
    if (writer_) return Invalid("header: only one per call");
    auto currency = CurrencyOf(h.currency_code());
    if (!currency) {
      return Invalid("header.currency_code: '" + h.currency_code() +
                     "' is not an ISO 4217 currency");
    }
    for (const auto& [name, value] : {std::pair{"acquirer_id", &h.acquirer_id()},
                                      {"terminal_id", &h.terminal_id()},
                                      {"merchant_id", &h.merchant_id()}}) {
      if (value->size() > storage::Request::kFieldBytesMax) {
        return Invalid("header." + std::string(name) + ": at most 64 bytes");
      }
    }
    settlement::BatchHeader header{h.batch_id(), h.acquirer_id(), h.terminal_id(), h.merchant_id(),
                                   *currency};
    currency_ = *currency;
    settlement::BatchWriter::Options options;
    options.channel = storage::Channel::kGrpc;
    auto writer = settlement::BatchWriter::Open(service_.store_, service_.config_, header,
                                                service_.clock_, options);
    if (!writer.ok()) {
      const Status& s = writer.status();
      return s.code() == Status::Code::kInvalidArgument
                 ? Invalid("header." + std::string(s.message()))
                 : s;
    }
    writer_ = std::move(writer).value();
    return Status::Ok();
  }

  Status ItemMessage(const v1::SettlementItem& in) {
    if (!writer_) return Invalid("header: must come first");
    if (++items_ > kItemsMax)
      return Status::ResourceExhausted("item: more than 100000 in one call");
    settlement::Item item;
    if (in.item_number() == 0) return Invalid("item.item_number: must be >= 1");
    item.number = in.item_number();
    switch (in.type()) {
      case v1::SETTLEMENT_ITEM_TYPE_CAPTURE:
        item.kind = settlement::ItemKind::kCapture;
        break;
      case v1::SETTLEMENT_ITEM_TYPE_REFUND:
        item.kind = settlement::ItemKind::kRefund;
        break;
      case v1::SETTLEMENT_ITEM_TYPE_REVERSAL:
        item.kind = settlement::ItemKind::kReversal;
        break;
      default:
        return Invalid("item.type: capture, refund or reversal");
    }
    if (in.amount_minor_units() <= 0) return Invalid("item.amount_minor_units: must be > 0");
    item.amount_minor = in.amount_minor_units();
    if (in.auth_rrn().find_first_not_of("0123456789") != std::string::npos ||
        in.auth_rrn().size() > 12) {
      return Invalid("item.auth_rrn: up to 12 digits");
    }
    item.auth_rrn = in.auth_rrn();
    if (in.auth_code().size() > 6) return Invalid("item.auth_code: up to 6 characters");
    item.auth_code = in.auth_code();
    if (!in.auth_idempotency_key().empty()) {
      if (in.auth_idempotency_key().size() > kIdempotencyKeyBytesMax) {
        return Invalid("item.auth_idempotency_key: at most 64 characters");
      }
      item.auth_request_key = OnlineRequestKey(in.auth_idempotency_key());
    }
    if (!in.pan().empty()) {
      auto pan = Pan::Parse(in.pan());
      if (!pan.ok()) return Invalid("item.pan: not a valid card number");
      item.pan = std::move(pan).value();
    }
    if (item.auth_rrn.empty() && item.auth_request_key.empty() && !item.pan) {
      return Invalid(
          "item.auth_rrn: an item names its authorization (auth_rrn, "
          "auth_idempotency_key) or its card (pan)");
    }
    return writer_->Add(item, [this](const settlement::ItemResult& r) { Record(r); });
  }

  void Record(const settlement::ItemResult& r) {
    v1::SettlementItemOutcome* out = response_->add_items();
    out->set_item_number(r.number);
    out->set_outcome(std::string(r.outcome()));
    out->set_response_code(ToProto(r.code));
    out->set_response_code_digits(std::string(ResponseCodeDigits(r.code)));
    out->set_reason(std::string(storage::ReasonName(r.reason)));
    out->set_duplicate(r.duplicate);
    out->set_amount_minor_units(r.amount_minor);
    out->set_transfer_id(r.transfer_id);
  }

  Status Totals(const v1::SettlementTotals& t) {
    if (!writer_) return Invalid("header: must come first");
    for (int64_t v :
         {t.captures_minor_units(), t.refunds_minor_units(), t.reversals_minor_units()}) {
      if (v < 0) return Invalid("totals: amounts must not be negative");
    }
    KYTKIN_RETURN_IF_ERROR(writer_->Finish([this](const settlement::ItemResult& r) { Record(r); }));
    storage::BatchTotals declared;
    declared.captures_count = t.captures();
    declared.captures_minor = t.captures_minor_units();
    declared.refunds_count = t.refunds();
    declared.refunds_minor = t.refunds_minor_units();
    declared.reversals_count = t.reversals();
    declared.reversals_minor = t.reversals_minor_units();
    auto rec = settlement::Reconcile(service_.store_, writer_->opened().batch_id, declared);
    if (!rec.ok()) return rec.status();
    response_->set_response_code(ToProto(rec->code));
    response_->set_response_code_digits(std::string(ResponseCodeDigits(rec->code)));
    FillBatch(rec->batch);
    response_->set_reconciled(true);
    totals_seen_ = true;
    return Status::Ok();
  }

  // The stream ended after the items: they are settled and answered like any, and the batch is
  // not reconciled (it stays open); the answer carries its state and kytkin's totals so far.
  Status EndWithoutTotals() {
    if (!writer_) return Invalid("header: the stream ended without one");
    KYTKIN_RETURN_IF_ERROR(writer_->Finish([this](const settlement::ItemResult& r) { Record(r); }));
    auto batch = service_.store_.GetSettlementBatch(writer_->opened().batch_id);
    if (!batch.ok()) return batch.status();
    FillBatch(*batch);
    response_->set_reconciled(false);
    return Status::Ok();
  }

  void FillBatch(const storage::SettlementBatch& batch) {
    response_->set_batch_state(std::string(storage::BatchStateName(batch.state)));
    response_->set_business_date(settlement::FormatDate(batch.business_date));
    FillTotals(batch.held, response_->mutable_held());
    response_->set_rejected(batch.rejected_count);
    response_->set_force_posted(batch.forced_count);
  }

  SettlementService& service_;
  v1::SubmitBatchResponse* response_;
  v1::SettlementMessage message_;
  std::unique_ptr<settlement::BatchWriter> writer_;
  uint16_t currency_ = 0;
  uint64_t items_ = 0;
  bool totals_seen_ = false;
};

SettlementService::SettlementService(storage::Store& store, const SettlementConfig& config,
                                     const Clock& clock)
    : store_(store), config_(config), clock_(clock) {}

grpc::ServerReadReactor<v1::SettlementMessage>* SettlementService::SubmitBatch(
    grpc::CallbackServerContext* /*context*/, v1::SubmitBatchResponse* response) {
  return new Call(*this, response);
}

}  // namespace kytkin
