#include "switch/grpc_service.h"

#include <grpc/support/log.h>

#include <chrono>
#include <mutex>
#include <thread>
#include <utility>

#include "core/currency.h"
#include "core/pan.h"
#include "switch/grpc_runtime.h"

namespace kytkin {

// --- RpcCompletion -------------------------------------------------------------------------

namespace {

grpc::Status ToGrpc(const Status& status) {
  using C = Status::Code;
  grpc::StatusCode code = grpc::StatusCode::INTERNAL;
  switch (status.code()) {
    case C::kOk:
      return grpc::Status::OK;
    case C::kInvalidArgument:
      code = grpc::StatusCode::INVALID_ARGUMENT;
      break;
    case C::kNotFound:
      code = grpc::StatusCode::NOT_FOUND;
      break;
    case C::kAlreadyExists:
      code = grpc::StatusCode::ALREADY_EXISTS;
      break;
    case C::kFailedPrecondition:
      code = grpc::StatusCode::FAILED_PRECONDITION;
      break;
    case C::kResourceExhausted:
      code = grpc::StatusCode::RESOURCE_EXHAUSTED;
      break;
    case C::kUnavailable:
      code = grpc::StatusCode::UNAVAILABLE;
      break;
    default:
      break;
  }
  return grpc::Status(code, std::string(status.message()));
}

}  // namespace

RpcCompletion& RpcCompletion::operator=(RpcCompletion&& other) noexcept {
  if (this != &other) {
    if (valid()) Finish(Status::Internal("request dropped by the server"));
    reactor_ = std::exchange(other.reactor_, nullptr);
    in_flight_ = std::exchange(other.in_flight_, nullptr);
  }
  return *this;
}

RpcCompletion::~RpcCompletion() {
  if (valid()) Finish(Status::Internal("request dropped by the server"));
}

void RpcCompletion::Finish(const Status& status) {
  assert(valid());
  std::exchange(reactor_, nullptr)->Finish(ToGrpc(status));
  if (in_flight_ != nullptr) std::exchange(in_flight_, nullptr)->Decrement();
}

// --- Validation ------------------------------------------------------------------------------

namespace {

Status Invalid(std::string_view field, std::string_view problem) {
  return Status::InvalidArgument(std::string(field) + ": " + std::string(problem));
}

bool AllDigits(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

Status CheckIdempotencyKey(std::string_view key, std::string_view field = "idempotency_key") {
  if (key.empty()) return Invalid(field, "required");
  if (key.size() > kIdempotencyKeyBytesMax) return Invalid(field, "longer than 64 characters");
  for (char c : key) {
    if (c < 0x21 || c > 0x7e) return Invalid(field, "only printable ASCII without spaces");
  }
  return Status::Ok();
}

Status CheckExpiry(std::string_view yymm, std::string_view field) {
  if (yymm.size() != 4 || !AllDigits(yymm)) return Invalid(field, "must be YYMM");
  const int month = (yymm[2] - '0') * 10 + (yymm[3] - '0');
  if (month < 1 || month > 12) return Invalid(field, "month must be 01..12");
  return Status::Ok();
}

Status CheckPan(std::string_view pan, std::string_view field) {
  // Pan::Parse never puts the digits in its message.
  Result<Pan> parsed = Pan::Parse(pan);
  if (!parsed.ok()) return Invalid(field, parsed.status().message());
  return Status::Ok();
}

Status CheckCard(bool has, const v1::CardReference& card) {
  if (!has) return Invalid("card", "required");
  switch (card.card_case()) {
    case v1::CardReference::kPan:
      KYTKIN_RETURN_IF_ERROR(CheckPan(card.pan(), "card.pan"));
      return CheckExpiry(card.expiry_yymm(), "card.expiry_yymm");
    case v1::CardReference::kCardToken:
      if (card.card_token().empty()) return Invalid("card.card_token", "required");
      if (!card.expiry_yymm().empty()) {
        KYTKIN_RETURN_IF_ERROR(CheckExpiry(card.expiry_yymm(), "card.expiry_yymm"));
      }
      return Status::Ok();
    default:
      return Invalid("card", "set pan or card_token");
  }
}

Status CheckCurrency(std::string_view code, std::string_view field) {
  if (code.empty()) return Invalid(field, "required");
  std::optional<Currency> currency;
  if (AllDigits(code) && code.size() == 3) {
    currency = FindCurrency(static_cast<uint16_t>(std::stoi(std::string(code))));
  } else if (code.size() == 3) {
    currency = FindCurrency(code);
  }
  if (!currency) {
    return Invalid(field, "'" + std::string(code.substr(0, 8)) + "' is not an ISO 4217 currency");
  }
  return Status::Ok();
}

Status CheckMoney(bool has, const v1::Money& money, std::string_view field, bool required) {
  if (!has) return required ? Invalid(field, "required") : Status::Ok();
  KYTKIN_RETURN_IF_ERROR(
      CheckCurrency(money.currency_code(), std::string(field) + ".currency_code"));
  if (money.minor_units() <= 0) return Invalid(std::string(field) + ".minor_units", "must be > 0");
  return Status::Ok();
}

Status CheckMerchant(bool has, const v1::Merchant& m, bool required) {
  if (!has) return required ? Invalid("merchant", "required") : Status::Ok();
  if (m.merchant_id().empty() || m.merchant_id().size() > 15) {
    return Invalid("merchant.merchant_id", "must be 1 to 15 characters");
  }
  if (m.terminal_id().size() > 8) return Invalid("merchant.terminal_id", "at most 8 characters");
  if (!m.merchant_category_code().empty() &&
      (m.merchant_category_code().size() != 4 || !AllDigits(m.merchant_category_code()))) {
    return Invalid("merchant.merchant_category_code", "must be four digits");
  }
  return Status::Ok();
}

Status CheckReference(bool has, const v1::TransactionReference& ref, std::string_view field) {
  if (!has) return Invalid(field, "required");
  switch (ref.reference_case()) {
    case v1::TransactionReference::kRrn:
      if (ref.rrn().size() != 12)
        return Invalid(std::string(field) + ".rrn", "must be 12 characters");
      return Status::Ok();
    case v1::TransactionReference::kIdempotencyKey:
      return CheckIdempotencyKey(ref.idempotency_key(), std::string(field) + ".idempotency_key");
    default:
      return Invalid(field, "set rrn or idempotency_key");
  }
}

Status CheckAccountId(std::string_view id, std::string_view field) {
  // The ledger numbers accounts; ids at and above 2^48 are reserved for its own settlement
  // accounts.
  if (!AllDigits(id) || id.size() > 15) return Invalid(field, "must be 1 to 15 decimal digits");
  const uint64_t value = std::stoull(std::string(id));
  if (value == 0 || value >= (uint64_t{1} << 48)) {
    return Invalid(field, "must be between 1 and 281474976710655");
  }
  return Status::Ok();
}

}  // namespace

Status ValidateRequest(const v1::AuthorizeRequest& r) {
  KYTKIN_RETURN_IF_ERROR(CheckIdempotencyKey(r.idempotency_key()));
  KYTKIN_RETURN_IF_ERROR(CheckCard(r.has_card(), r.card()));
  KYTKIN_RETURN_IF_ERROR(CheckMoney(r.has_amount(), r.amount(), "amount", true));
  return CheckMerchant(r.has_merchant(), r.merchant(), true);
}

Status ValidateRequest(const v1::CaptureRequest& r) {
  KYTKIN_RETURN_IF_ERROR(CheckIdempotencyKey(r.idempotency_key()));
  KYTKIN_RETURN_IF_ERROR(CheckReference(r.has_authorization(), r.authorization(), "authorization"));
  return CheckMoney(r.has_amount(), r.amount(), "amount", false);
}

Status ValidateRequest(const v1::ReverseRequest& r) {
  KYTKIN_RETURN_IF_ERROR(CheckIdempotencyKey(r.idempotency_key()));
  KYTKIN_RETURN_IF_ERROR(CheckReference(r.has_original(), r.original(), "original"));
  return CheckMoney(r.has_amount(), r.amount(), "amount", false);
}

Status ValidateRequest(const v1::RefundRequest& r) {
  KYTKIN_RETURN_IF_ERROR(CheckIdempotencyKey(r.idempotency_key()));
  KYTKIN_RETURN_IF_ERROR(CheckCard(r.has_card(), r.card()));
  KYTKIN_RETURN_IF_ERROR(CheckMoney(r.has_amount(), r.amount(), "amount", true));
  KYTKIN_RETURN_IF_ERROR(CheckMerchant(r.has_merchant(), r.merchant(), true));
  if (r.has_original()) KYTKIN_RETURN_IF_ERROR(CheckReference(true, r.original(), "original"));
  return Status::Ok();
}

Status ValidateRequest(const v1::BalanceInquiryRequest& r) {
  KYTKIN_RETURN_IF_ERROR(CheckIdempotencyKey(r.idempotency_key()));
  KYTKIN_RETURN_IF_ERROR(CheckCard(r.has_card(), r.card()));
  return CheckMerchant(r.has_merchant(), r.merchant(), false);
}

Status ValidateRequest(const v1::CreateAccountRequest& r) {
  if (!r.has_account()) return Invalid("account", "required");
  const v1::Account& a = r.account();
  KYTKIN_RETURN_IF_ERROR(CheckAccountId(a.account_id(), "account.account_id"));
  if (a.kind() == v1::Account::KIND_UNSPECIFIED) {
    return Invalid("account.kind", "required: DEBIT, CREDIT or PREPAID");
  }
  KYTKIN_RETURN_IF_ERROR(CheckCurrency(a.currency_code(), "account.currency_code"));
  if (a.credit_limit_minor_units() < 0) {
    return Invalid("account.credit_limit_minor_units", "must be >= 0");
  }
  if (a.credit_limit_minor_units() > 0 && a.kind() != v1::Account::KIND_CREDIT) {
    return Invalid("account.credit_limit_minor_units", "only for KIND_CREDIT accounts");
  }
  if (r.opening_balance_minor_units() < 0) {
    return Invalid("opening_balance_minor_units", "must be >= 0");
  }
  return Status::Ok();
}

Status ValidateRequest(const v1::CreateCardRequest& r) {
  KYTKIN_RETURN_IF_ERROR(CheckPan(r.pan(), "pan"));
  KYTKIN_RETURN_IF_ERROR(CheckAccountId(r.account_id(), "account_id"));
  return CheckExpiry(r.expiry_yymm(), "expiry_yymm");
}

Status ValidateRequest(const v1::ImportAccountsRequest& r) {
  if (r.items_size() == 0) return Invalid("items", "at least one item");
  if (r.items_size() > kImportItemsMax) return Invalid("items", "at most 10000 items per call");
  // Each item is judged on its own by the handler (ImportAccountsResponse.results).
  return Status::Ok();
}

Status ValidateRequest(const v1::BlockCardRequest& r) {
  if (r.card_token().empty()) return Invalid("card_token", "required");
  if (r.state() != v1::Card::STATE_LOST && r.state() != v1::Card::STATE_STOLEN &&
      r.state() != v1::Card::STATE_RESTRICTED) {
    return Invalid("state", "must be STATE_LOST, STATE_STOLEN or STATE_RESTRICTED");
  }
  return Status::Ok();
}

Status ValidateRequest(const v1::UnblockCardRequest& r) {
  if (r.card_token().empty()) return Invalid("card_token", "required");
  return Status::Ok();
}

Status ValidateRequest(const v1::GetTransactionRequest& r) {
  return CheckReference(r.has_transaction(), r.transaction(), "transaction");
}

// --- Conversions -----------------------------------------------------------------------------

v1::ResponseCode ToProto(ResponseCode code) {
  using R = ResponseCode;
  switch (code) {
    case R::kApproved:
      return v1::RESPONSE_CODE_APPROVED;
    case R::kDoNotHonour:
      return v1::RESPONSE_CODE_DO_NOT_HONOUR;
    case R::kPartialApproval:
      return v1::RESPONSE_CODE_PARTIAL_APPROVAL;
    case R::kInvalidTransaction:
      return v1::RESPONSE_CODE_INVALID_TRANSACTION;
    case R::kInvalidAmount:
      return v1::RESPONSE_CODE_INVALID_AMOUNT;
    case R::kInvalidCardNumber:
      return v1::RESPONSE_CODE_INVALID_CARD_NUMBER;
    case R::kNoSuchIssuer:
      return v1::RESPONSE_CODE_NO_SUCH_ISSUER;
    case R::kUnableToLocateOriginal:
      return v1::RESPONSE_CODE_UNABLE_TO_LOCATE_ORIGINAL;
    case R::kFormatError:
      return v1::RESPONSE_CODE_FORMAT_ERROR;
    case R::kLostCard:
      return v1::RESPONSE_CODE_LOST_CARD;
    case R::kStolenCard:
      return v1::RESPONSE_CODE_STOLEN_CARD;
    case R::kInsufficientFunds:
      return v1::RESPONSE_CODE_INSUFFICIENT_FUNDS;
    case R::kExpiredCard:
      return v1::RESPONSE_CODE_EXPIRED_CARD;
    case R::kIncorrectPin:
      return v1::RESPONSE_CODE_INCORRECT_PIN;
    case R::kNotPermittedToCardholder:
      return v1::RESPONSE_CODE_NOT_PERMITTED_TO_CARDHOLDER;
    case R::kExceedsAmountLimit:
      return v1::RESPONSE_CODE_EXCEEDS_AMOUNT_LIMIT;
    case R::kRestrictedCard:
      return v1::RESPONSE_CODE_RESTRICTED_CARD;
    case R::kExceedsFrequencyLimit:
      return v1::RESPONSE_CODE_EXCEEDS_FREQUENCY_LIMIT;
    case R::kIssuerUnavailable:
      return v1::RESPONSE_CODE_ISSUER_UNAVAILABLE;
    case R::kUnableToRoute:
      return v1::RESPONSE_CODE_UNABLE_TO_ROUTE;
    case R::kDuplicateTransmission:
      return v1::RESPONSE_CODE_DUPLICATE_TRANSMISSION;
    case R::kReconciliationError:
      return v1::RESPONSE_CODE_RECONCILIATION_ERROR;
    case R::kSystemMalfunction:
      return v1::RESPONSE_CODE_SYSTEM_MALFUNCTION;
  }
  return v1::RESPONSE_CODE_UNSPECIFIED;
}

void SetResponseCode(ResponseCode code, v1::Decision* decision) {
  decision->set_response_code(ToProto(code));
  decision->set_response_code_digits(std::string(ResponseCodeDigits(code)));
}

// --- Services --------------------------------------------------------------------------------

namespace {

struct MethodMetrics {
  metrics::Counter* requests;
  metrics::Counter* invalid;
  metrics::Gauge* in_flight;  // shared by every method
};

metrics::Gauge& InFlightGauge(metrics::Registry& m) {
  return m.GetGauge("kytkin_grpc_in_flight", "gRPC calls handed to the core and not answered.");
}

MethodMetrics RegisterMethod(metrics::Registry& m, std::string_view service,
                             std::string_view method) {
  const metrics::Labels labels{{"service", std::string(service)}, {"method", std::string(method)}};
  return {&m.GetCounter("kytkin_grpc_requests_total", "gRPC calls received.", labels),
          &m.GetCounter("kytkin_grpc_invalid_arguments_total",
                        "gRPC calls answered INVALID_ARGUMENT by request validation.", labels),
          &InFlightGauge(m)};
}

// Validates, then hands the call to the handler with a completion for the reactor.
template <typename Request, typename Response, typename Call>
grpc::ServerUnaryReactor* Dispatch(grpc::CallbackServerContext* context, const Request* request,
                                   Response* response, const MethodMetrics& m, Call call) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  m.requests->Increment();
  Status valid = ValidateRequest(*request);
  if (!valid.ok()) {
    m.invalid->Increment();
    reactor->Finish(ToGrpc(valid));
    return reactor;
  }
  call(*request, response, RpcCompletion(reactor, m.in_flight));
  return reactor;
}

}  // namespace

class GrpcServer::AuthorizationService final : public v1::Authorization::CallbackService {
 public:
  AuthorizationService(AuthorizationHandler& h, metrics::Registry& m)
      : handler_(h),
        authorize_(RegisterMethod(m, "Authorization", "Authorize")),
        capture_(RegisterMethod(m, "Authorization", "Capture")),
        reverse_(RegisterMethod(m, "Authorization", "Reverse")),
        refund_(RegisterMethod(m, "Authorization", "Refund")),
        balance_(RegisterMethod(m, "Authorization", "BalanceInquiry")) {}

  grpc::ServerUnaryReactor* Authorize(grpc::CallbackServerContext* c,
                                      const v1::AuthorizeRequest* req,
                                      v1::AuthorizeResponse* resp) override {
    return Dispatch(c, req, resp, authorize_, [this](auto& q, auto* r, RpcCompletion d) {
      handler_.Authorize(q, r, std::move(d));
    });
  }
  grpc::ServerUnaryReactor* Capture(grpc::CallbackServerContext* c, const v1::CaptureRequest* req,
                                    v1::CaptureResponse* resp) override {
    return Dispatch(c, req, resp, capture_, [this](auto& q, auto* r, RpcCompletion d) {
      handler_.Capture(q, r, std::move(d));
    });
  }
  grpc::ServerUnaryReactor* Reverse(grpc::CallbackServerContext* c, const v1::ReverseRequest* req,
                                    v1::ReverseResponse* resp) override {
    return Dispatch(c, req, resp, reverse_, [this](auto& q, auto* r, RpcCompletion d) {
      handler_.Reverse(q, r, std::move(d));
    });
  }
  grpc::ServerUnaryReactor* Refund(grpc::CallbackServerContext* c, const v1::RefundRequest* req,
                                   v1::RefundResponse* resp) override {
    return Dispatch(c, req, resp, refund_, [this](auto& q, auto* r, RpcCompletion d) {
      handler_.Refund(q, r, std::move(d));
    });
  }
  grpc::ServerUnaryReactor* BalanceInquiry(grpc::CallbackServerContext* c,
                                           const v1::BalanceInquiryRequest* req,
                                           v1::BalanceInquiryResponse* resp) override {
    return Dispatch(c, req, resp, balance_, [this](auto& q, auto* r, RpcCompletion d) {
      handler_.BalanceInquiry(q, r, std::move(d));
    });
  }

 private:
  AuthorizationHandler& handler_;
  MethodMetrics authorize_, capture_, reverse_, refund_, balance_;
};

class GrpcServer::AdminService final : public v1::Admin::CallbackService {
 public:
  AdminService(AdminHandler& h, metrics::Registry& m)
      : handler_(h),
        create_account_(RegisterMethod(m, "Admin", "CreateAccount")),
        create_card_(RegisterMethod(m, "Admin", "CreateCard")),
        import_(RegisterMethod(m, "Admin", "ImportAccounts")),
        block_(RegisterMethod(m, "Admin", "BlockCard")),
        unblock_(RegisterMethod(m, "Admin", "UnblockCard")),
        get_(RegisterMethod(m, "Admin", "GetTransaction")) {}

  grpc::ServerUnaryReactor* CreateAccount(grpc::CallbackServerContext* c,
                                          const v1::CreateAccountRequest* req,
                                          v1::Account* resp) override {
    return Dispatch(c, req, resp, create_account_, [this](auto& q, auto* r, RpcCompletion d) {
      handler_.CreateAccount(q, r, std::move(d));
    });
  }
  grpc::ServerUnaryReactor* CreateCard(grpc::CallbackServerContext* c,
                                       const v1::CreateCardRequest* req, v1::Card* resp) override {
    return Dispatch(c, req, resp, create_card_, [this](auto& q, auto* r, RpcCompletion d) {
      handler_.CreateCard(q, r, std::move(d));
    });
  }
  grpc::ServerUnaryReactor* ImportAccounts(grpc::CallbackServerContext* c,
                                           const v1::ImportAccountsRequest* req,
                                           v1::ImportAccountsResponse* resp) override {
    return Dispatch(c, req, resp, import_, [this](auto& q, auto* r, RpcCompletion d) {
      handler_.ImportAccounts(q, r, std::move(d));
    });
  }
  grpc::ServerUnaryReactor* BlockCard(grpc::CallbackServerContext* c,
                                      const v1::BlockCardRequest* req, v1::Card* resp) override {
    return Dispatch(c, req, resp, block_, [this](auto& q, auto* r, RpcCompletion d) {
      handler_.BlockCard(q, r, std::move(d));
    });
  }
  grpc::ServerUnaryReactor* UnblockCard(grpc::CallbackServerContext* c,
                                        const v1::UnblockCardRequest* req,
                                        v1::Card* resp) override {
    return Dispatch(c, req, resp, unblock_, [this](auto& q, auto* r, RpcCompletion d) {
      handler_.UnblockCard(q, r, std::move(d));
    });
  }
  grpc::ServerUnaryReactor* GetTransaction(grpc::CallbackServerContext* c,
                                           const v1::GetTransactionRequest* req,
                                           v1::Transaction* resp) override {
    return Dispatch(c, req, resp, get_, [this](auto& q, auto* r, RpcCompletion d) {
      handler_.GetTransaction(q, r, std::move(d));
    });
  }

 private:
  AdminHandler& handler_;
  MethodMetrics create_account_, create_card_, import_, block_, unblock_, get_;
};

namespace {

std::mutex startup_log_mu;
std::string startup_error;  // guarded by startup_log_mu

void CaptureStartupLog(gpr_log_func_args* args) {
  if (args->severity != GPR_LOG_SEVERITY_ERROR) return;
  std::lock_guard lock(startup_log_mu);
  startup_error = args->message;
}

// The OS reason from the captured gRPC error (os_error:"Address already in use"), if any.
std::string TakeStartupError() {
  std::lock_guard lock(startup_log_mu);
  std::string reason = "address in use or not local";
  constexpr std::string_view kKey = "os_error:\"";
  const size_t at = startup_error.find(kKey);
  if (at != std::string::npos) {
    const size_t end = startup_error.find('"', at + kKey.size());
    if (end != std::string::npos)
      reason = startup_error.substr(at + kKey.size(), end - at - kKey.size());
  }
  startup_error.clear();
  return reason;
}

}  // namespace

// --- GrpcServer --------------------------------------------------------------------------------

Result<std::unique_ptr<GrpcServer>> GrpcServer::Start(
    const GrpcOptions& options, AuthorizationHandler& authorization, AdminHandler& admin,
    metrics::Registry& metrics, std::span<grpc::Service* const> more_services) {
  ConfigureGrpcRuntime();
  auto server = std::unique_ptr<GrpcServer>(new GrpcServer());
  server->in_flight_ = &InFlightGauge(metrics);
  server->authorization_ = std::make_unique<AuthorizationService>(authorization, metrics);
  server->admin_ = std::make_unique<AdminService>(admin, metrics);
  grpc::ServerBuilder builder;
  int selected_port = 0;
  const std::string address = options.listen.ToString();
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &selected_port);
  // Without this gRPC binds with SO_REUSEPORT and "port in use" would silently share the port.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(static_cast<int>(options.message_bytes_max));
  builder.RegisterService(server->authorization_.get());
  builder.RegisterService(server->admin_.get());
  for (grpc::Service* service : more_services) builder.RegisterService(service);
  // gRPC logs a bind failure as a multi-line error of its own; start-up failures should be
  // one clear line, so keep its OS reason for ours and drop the rest while the server starts.
  gpr_set_log_function(CaptureStartupLog);
  server->server_ = builder.BuildAndStart();
  gpr_set_log_function(nullptr);  // back to gRPC's default logger
  if (server->server_ == nullptr || selected_port == 0) {
    server->shut_down_ = true;
    return Status::Unavailable("grpc: cannot listen on " + address + ": " + TakeStartupError());
  }
  server->port_ = static_cast<uint16_t>(selected_port);
  return server;
}

GrpcServer::~GrpcServer() { Shutdown(0); }

void GrpcServer::Shutdown(int64_t deadline_ms) {
  if (shut_down_ || server_ == nullptr) return;
  shut_down_ = true;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(deadline_ms);
  while (in_flight_ != nullptr && in_flight_->value() > 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  // Nothing is in progress now (or the deadline passed): a call that arrives in between is
  // cancelled; its client retries with the same idempotency key and gets the original answer.
  server_->Shutdown(std::chrono::system_clock::now());
  server_->Wait();
}

}  // namespace kytkin
