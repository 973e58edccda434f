// The gRPC side of `kytkin load`: per worker thread one completion queue and --connections
// channels (each its own TCP connection), async unary calls, --depth in flight per channel;
// card setup through Admin.ImportAccounts.
#include <grpcpp/grpcpp.h>

#include <deque>
#include <memory>
#include <optional>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "kytkin/v1/admin.grpc.pb.h"
#include "kytkin/v1/authorization.grpc.pb.h"
#include "switch/grpc_runtime.h"
#include "switch/load_worker.h"

namespace kytkin::load {
namespace {

namespace v1 = ::kytkin::v1;

constexpr size_t kImportBatchItems = 10'000;                // Admin.ImportAccounts' per-call limit
constexpr int64_t kFundedOpeningMinor = 1'000'000'000'000;  // 10 000 000 000.00 EUR
constexpr uint64_t kIdleWaitNs = 1'000'000;
constexpr size_t kApprovedRingSize = 1024;
constexpr std::string_view kExpiry = "3012";
constexpr std::string_view kMerchant = "KYTKINMERCH0001";

std::shared_ptr<grpc::Channel> MakeChannel(const LoadOptions& options, uint32_t index) {
  ConfigureGrpcRuntime();
  grpc::ChannelArguments args;
  // A distinct argument per channel, and no global subchannel pool, keep gRPC from sharing one
  // TCP connection between channels: each is its own HTTP/2 connection, as --connections says.
  args.SetInt("kytkin.load.channel", static_cast<int>(index));
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(options.grpc_port),
                                   grpc::InsecureChannelCredentials(), args);
}

struct Call {
  v1::Authorization::Stub* stub = nullptr;  // the connection this slot's calls use
  std::optional<grpc::ClientContext> context;
  grpc::Status status;
  LoadOperation op = LoadOperation::kAuthorize;
  uint64_t due_ns = 0;
  std::string key;
  std::unique_ptr<grpc::ClientAsyncResponseReader<v1::AuthorizeResponse>> authorize;
  std::unique_ptr<grpc::ClientAsyncResponseReader<v1::CaptureResponse>> capture;
  std::unique_ptr<grpc::ClientAsyncResponseReader<v1::ReverseResponse>> reverse;
  std::unique_ptr<grpc::ClientAsyncResponseReader<v1::BalanceInquiryResponse>> balance;
  v1::AuthorizeResponse authorize_response;
  v1::CaptureResponse capture_response;
  v1::ReverseResponse reverse_response;
  v1::BalanceInquiryResponse balance_response;

  const v1::Decision& decision() const {
    switch (op) {
      case LoadOperation::kPurchase:
        return capture_response.decision();
      case LoadOperation::kReversal:
        return reverse_response.decision();
      case LoadOperation::kBalanceInquiry:
        return balance_response.decision();
      default:
        return authorize_response.decision();
    }
  }
};

class GrpcWorker {
 public:
  GrpcWorker(const LoadOptions& options, const WorkerPlan& plan, WorkerShared& shared)
      : options_(options),
        plan_(plan),
        shared_(shared),
        picker_(options.mix),
        zipf_(options.cards, options.zipf_s),
        rng_(options.seed * 7919 + plan.index),
        calls_(static_cast<size_t>(options.connections) * options.depth),
        approved_(kApprovedRingSize) {
    for (uint32_t c = 0; c < options.connections; ++c) {
      stubs_.push_back(
          v1::Authorization::NewStub(MakeChannel(options, plan.index * options.connections + c)));
    }
    // Slot i uses connection i % connections: `depth` calls in flight on each.
    for (size_t i = 0; i < calls_.size(); ++i) {
      calls_[i].stub = stubs_[i % stubs_.size()].get();
      free_.push_back(&calls_[i]);
    }
    key_prefix_ = "ld" + std::to_string(options.seed) + "-" +
                  std::to_string(NowNs() % 1'000'000'000) + "-" + std::to_string(plan.index) + "-";
  }

  void Run() {
    const bool closed_loop = plan_.rate_per_s == 0;
    std::optional<OpenLoopSchedule> schedule;
    if (!closed_loop) schedule.emplace(plan_.schedule_start_ns, plan_.rate_per_s);
    uint64_t next_index = 0;
    bool issuing = true;
    for (;;) {
      uint64_t now = NowNs();
      if (issuing) {
        if (closed_loop) {
          if (now >= plan_.measure_end_ns) {
            issuing = false;
          } else {
            while (!free_.empty()) Issue(now, now);
          }
        } else {
          while (true) {
            const uint64_t due = schedule->DueNs(next_index);
            if (due >= plan_.measure_end_ns) {
              issuing = false;
              break;
            }
            if (due > now || free_.empty()) break;
            Issue(due, now);
            ++next_index;
          }
        }
      }
      const size_t in_flight = calls_.size() - free_.size();
      if ((!issuing && in_flight == 0) || now >= plan_.deadline_ns) break;
      uint64_t wait_ns = kIdleWaitNs;
      if (issuing && !closed_loop && !free_.empty()) {
        const uint64_t due = schedule->DueNs(next_index);
        wait_ns = due > now ? std::min(due - now, kIdleWaitNs) : 0;
      }
      void* tag = nullptr;
      bool ok = false;
      auto deadline = std::chrono::system_clock::now() + std::chrono::nanoseconds(wait_ns);
      auto got = queue_.AsyncNext(&tag, &ok, deadline);
      if (got != grpc::CompletionQueue::GOT_EVENT) continue;
      std::lock_guard lock(shared_.mu);
      const uint64_t done_ns = NowNs();
      Complete(static_cast<Call*>(tag), done_ns);
      // Take whatever else is already complete under the same lock.
      while (queue_.AsyncNext(&tag, &ok, std::chrono::system_clock::time_point()) ==
             grpc::CompletionQueue::GOT_EVENT) {
        Complete(static_cast<Call*>(tag), done_ns);
      }
    }
    // Cancel what is left, count it as timed out, and drain the queue before it goes away.
    for (auto& c : calls_) {
      if (c.context) c.context->TryCancel();
    }
    const size_t left = calls_.size() - free_.size();
    {
      std::lock_guard lock(shared_.mu);
      for (auto& c : calls_) {
        if (c.context) shared_.RecordFailure(plan_, c.due_ns, /*timeout=*/true);
      }
      if (!closed_loop) CountNotSent(plan_, next_index, shared_);
    }
    for (size_t i = 0; i < left; ++i) {
      void* tag = nullptr;
      bool ok = false;
      if (!queue_.Next(&tag, &ok)) break;
    }
    queue_.Shutdown();
    void* tag = nullptr;
    bool ok = false;
    while (queue_.Next(&tag, &ok)) {
    }
  }

 private:
  void SetCard(v1::CardReference* card, uint64_t card_number) {
    card->set_pan(LoadCardPan(card_number));
    card->set_expiry_yymm(std::string(kExpiry));
  }

  void Issue(uint64_t due_ns, uint64_t now_ns) {
    Call* call = free_.front();  // the longest idle slot: spreads calls over the connections
    free_.pop_front();
    call->context.emplace();
    call->context->set_deadline(std::chrono::system_clock::now() +
                                std::chrono::milliseconds(options_.timeout_ms));
    call->due_ns = due_ns;
    call->key = key_prefix_ + std::to_string(++sequence_);
    LoadOperation op = picker_.Pick(rng_);
    if ((op == LoadOperation::kReversal || op == LoadOperation::kPurchase) &&
        approved_count_ == 0) {
      op = LoadOperation::kAuthorize;
    }
    call->op = op;
    const int64_t amount = static_cast<int64_t>(100 + rng_() % 4900);
    switch (op) {
      case LoadOperation::kPurchase:
      case LoadOperation::kReversal: {
        approved_next_ = (approved_next_ + kApprovedRingSize - 1) % kApprovedRingSize;
        --approved_count_;
        const std::string& original = approved_[approved_next_];
        if (op == LoadOperation::kPurchase) {
          v1::CaptureRequest request;
          request.set_idempotency_key(call->key);
          request.mutable_authorization()->set_idempotency_key(original);
          call->capture = call->stub->PrepareAsyncCapture(&*call->context, request, &queue_);
          call->capture->StartCall();
          call->capture->Finish(&call->capture_response, &call->status, call);
        } else {
          v1::ReverseRequest request;
          request.set_idempotency_key(call->key);
          request.mutable_original()->set_idempotency_key(original);
          call->reverse = call->stub->PrepareAsyncReverse(&*call->context, request, &queue_);
          call->reverse->StartCall();
          call->reverse->Finish(&call->reverse_response, &call->status, call);
        }
        break;
      }
      case LoadOperation::kBalanceInquiry: {
        v1::BalanceInquiryRequest request;
        request.set_idempotency_key(call->key);
        SetCard(request.mutable_card(), zipf_.Pick(rng_));
        request.mutable_merchant()->set_merchant_id(std::string(kMerchant));
        call->balance = call->stub->PrepareAsyncBalanceInquiry(&*call->context, request, &queue_);
        call->balance->StartCall();
        call->balance->Finish(&call->balance_response, &call->status, call);
        break;
      }
      default: {
        uint64_t card = zipf_.Pick(rng_);
        if (op == LoadOperation::kDeclineUnknown) card = kUnknownCardBase + rng_() % 1000;
        if (op == LoadOperation::kDeclineNoFunds) card = kEmptyCardBase + rng_() % kEmptyCardCount;
        v1::AuthorizeRequest request;
        request.set_idempotency_key(call->key);
        SetCard(request.mutable_card(), card);
        request.mutable_amount()->set_currency_code("EUR");
        request.mutable_amount()->set_minor_units(amount);
        request.mutable_merchant()->set_merchant_id(std::string(kMerchant));
        call->authorize = call->stub->PrepareAsyncAuthorize(&*call->context, request, &queue_);
        call->authorize->StartCall();
        call->authorize->Finish(&call->authorize_response, &call->status, call);
        break;
      }
    }
    (void)now_ns;
    std::lock_guard lock(shared_.mu);
    shared_.RecordSent(plan_, due_ns, op);
  }

  // REQUIRES: shared_.mu held.
  void Complete(Call* call, uint64_t now_ns) {
    if (call->status.ok()) {
      const v1::Decision& decision = call->decision();
      shared_.RecordAnswer(plan_, call->due_ns, now_ns, decision.response_code_digits());
      if (call->op == LoadOperation::kAuthorize && decision.response_code_digits() == "00") {
        approved_[approved_next_] = call->key;
        approved_next_ = (approved_next_ + 1) % kApprovedRingSize;
        approved_count_ = std::min(approved_count_ + 1, kApprovedRingSize);
      }
    } else {
      shared_.RecordFailure(plan_, call->due_ns,
                            call->status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED);
    }
    call->context.reset();
    call->authorize.reset();
    call->capture.reset();
    call->reverse.reset();
    call->balance.reset();
    free_.push_back(call);
  }

  const LoadOptions& options_;
  const WorkerPlan& plan_;
  WorkerShared& shared_;
  std::vector<std::unique_ptr<v1::Authorization::Stub>> stubs_;  // one per connection
  grpc::CompletionQueue queue_;
  OperationPicker picker_;
  ZipfPicker zipf_;
  std::mt19937_64 rng_;
  std::vector<Call> calls_;
  std::deque<Call*> free_;
  std::vector<std::string> approved_;  // idempotency keys of approved authorizations (ring)
  size_t approved_next_ = 0;
  size_t approved_count_ = 0;
  std::string key_prefix_;
  uint64_t sequence_ = 0;
};

Status ImportBatch(v1::Admin::Stub& admin, const v1::ImportAccountsRequest& request,
                   uint64_t* existed) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
  v1::ImportAccountsResponse response;
  grpc::Status status = admin.ImportAccounts(&context, request, &response);
  if (!status.ok()) {
    return Status::Unavailable("Admin.ImportAccounts failed: " + status.error_message());
  }
  for (const auto& result : response.results()) {
    if (result.error().empty()) continue;
    if (result.error().find("exists") != std::string::npos) {
      ++*existed;  // created by an earlier run
      continue;
    }
    return Status::FailedPrecondition("Admin.ImportAccounts item " +
                                      std::to_string(result.index()) + ": " + result.error());
  }
  return Status::Ok();
}

void AddCard(v1::ImportAccountsRequest& request, uint64_t card_number, int64_t opening_minor) {
  auto* item = request.add_items();
  auto* account = item->mutable_account();
  account->mutable_account()->set_account_id(std::to_string(kLoadAccountBase + card_number));
  account->mutable_account()->set_kind(v1::Account::KIND_DEBIT);
  account->mutable_account()->set_currency_code("EUR");
  account->set_opening_balance_minor_units(opening_minor);
  auto* card = item->add_cards();
  card->set_pan(LoadCardPan(card_number));
  card->set_expiry_yymm(std::string(kExpiry));
}

}  // namespace

void RunGrpcWorker(const LoadOptions& options, const WorkerPlan& plan, WorkerShared& shared) {
  GrpcWorker(options, plan, shared).Run();
}

Status CreateLoadCards(const LoadOptions& options, std::ostream& log) {
  auto admin = v1::Admin::NewStub(MakeChannel(options, 0));
  uint64_t existed = 0;
  const uint64_t start = NowNs();
  v1::ImportAccountsRequest request;
  for (uint64_t n = 0; n < options.cards; ++n) {
    AddCard(request, n, kFundedOpeningMinor);
    if (static_cast<size_t>(request.items_size()) == kImportBatchItems) {
      KYTKIN_RETURN_IF_ERROR(ImportBatch(*admin, request, &existed));
      request.Clear();
    }
  }
  for (uint64_t n = 0; n < kEmptyCardCount; ++n) AddCard(request, kEmptyCardBase + n, 0);
  KYTKIN_RETURN_IF_ERROR(ImportBatch(*admin, request, &existed));
  log << "cards: " << options.cards << " funded + " << kEmptyCardCount << " empty (" << existed
      << " existed already) in " << (NowNs() - start) / 1'000'000 << " ms\n";
  return Status::Ok();
}

}  // namespace kytkin::load
