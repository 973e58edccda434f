// The gRPC front of kytkin: services kytkin.v1.Authorization and kytkin.v1.Admin (callback API)
// on top of two handler interfaces the authorization core implements.
//
// The services validate every request first and answer INVALID_ARGUMENT with a message naming
// the field ("amount.currency_code: 'EURO' is not an ISO 4217 currency") without calling the
// handler; the handler sees only well-formed requests. A decline is a normal response carrying
// a response code, never an RPC error.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <span>
#include <string>

#include "core/response_code.h"
#include "core/status.h"
#include "kytkin/v1/admin.grpc.pb.h"
#include "kytkin/v1/authorization.grpc.pb.h"
#include "switch/config.h"
#include "switch/metrics.h"

namespace kytkin {

// Finishes one RPC, exactly once, from any thread. Move-only; destroying an unfinished one
// answers INTERNAL, so a request the handler dropped does not hang its client.
class RpcCompletion {
 public:
  RpcCompletion() = default;
  // `in_flight`, when given, counts this call until it finishes (shutdown waits for zero).
  explicit RpcCompletion(grpc::ServerUnaryReactor* reactor, metrics::Gauge* in_flight = nullptr)
      : reactor_(reactor), in_flight_(in_flight) {
    if (in_flight_ != nullptr) in_flight_->Increment();
  }
  RpcCompletion(RpcCompletion&& other) noexcept
      : reactor_(std::exchange(other.reactor_, nullptr)),
        in_flight_(std::exchange(other.in_flight_, nullptr)) {}
  RpcCompletion& operator=(RpcCompletion&& other) noexcept;
  RpcCompletion(const RpcCompletion&) = delete;
  RpcCompletion& operator=(const RpcCompletion&) = delete;
  ~RpcCompletion();

  // OK sends the response the handler filled in; an error Status maps to its gRPC code
  // (InvalidArgument -> INVALID_ARGUMENT, NotFound -> NOT_FOUND, AlreadyExists ->
  // ALREADY_EXISTS, FailedPrecondition -> FAILED_PRECONDITION, ResourceExhausted ->
  // RESOURCE_EXHAUSTED, Unavailable -> UNAVAILABLE, others -> INTERNAL) with its message.
  // REQUIRES: not finished yet.
  void Finish(const Status& status);
  bool valid() const { return reactor_ != nullptr; }

 private:
  grpc::ServerUnaryReactor* reactor_ = nullptr;
  metrics::Gauge* in_flight_ = nullptr;
};

// Request and response stay valid until `done` finishes; fill the response, then
// done.Finish(Status::Ok()). Calls come on gRPC's threads and must not block for long.
class AuthorizationHandler {
 public:
  virtual ~AuthorizationHandler() = default;
  virtual void Authorize(const v1::AuthorizeRequest& request, v1::AuthorizeResponse* response,
                         RpcCompletion done) = 0;
  virtual void Capture(const v1::CaptureRequest& request, v1::CaptureResponse* response,
                       RpcCompletion done) = 0;
  virtual void Reverse(const v1::ReverseRequest& request, v1::ReverseResponse* response,
                       RpcCompletion done) = 0;
  virtual void Refund(const v1::RefundRequest& request, v1::RefundResponse* response,
                      RpcCompletion done) = 0;
  virtual void BalanceInquiry(const v1::BalanceInquiryRequest& request,
                              v1::BalanceInquiryResponse* response, RpcCompletion done) = 0;
};

class AdminHandler {
 public:
  virtual ~AdminHandler() = default;
  virtual void CreateAccount(const v1::CreateAccountRequest& request, v1::Account* response,
                             RpcCompletion done) = 0;
  virtual void CreateCard(const v1::CreateCardRequest& request, v1::Card* response,
                          RpcCompletion done) = 0;
  virtual void ImportAccounts(const v1::ImportAccountsRequest& request,
                              v1::ImportAccountsResponse* response, RpcCompletion done) = 0;
  virtual void BlockCard(const v1::BlockCardRequest& request, v1::Card* response,
                         RpcCompletion done) = 0;
  virtual void UnblockCard(const v1::UnblockCardRequest& request, v1::Card* response,
                           RpcCompletion done) = 0;
  virtual void GetTransaction(const v1::GetTransactionRequest& request, v1::Transaction* response,
                              RpcCompletion done) = 0;
};

// Request validation, one function per request type; OK or InvalidArgument naming the field.
// Public so the core (and tests) can reuse the same rules.
Status ValidateRequest(const v1::AuthorizeRequest& r);
Status ValidateRequest(const v1::CaptureRequest& r);
Status ValidateRequest(const v1::ReverseRequest& r);
Status ValidateRequest(const v1::RefundRequest& r);
Status ValidateRequest(const v1::BalanceInquiryRequest& r);
Status ValidateRequest(const v1::CreateAccountRequest& r);
Status ValidateRequest(const v1::CreateCardRequest& r);
Status ValidateRequest(const v1::ImportAccountsRequest& r);
Status ValidateRequest(const v1::BlockCardRequest& r);
Status ValidateRequest(const v1::UnblockCardRequest& r);
Status ValidateRequest(const v1::GetTransactionRequest& r);

// ImportAccounts takes at most this many items per call.
inline constexpr int kImportItemsMax = 10'000;
// Idempotency keys are 1 to this many printable ASCII characters.
inline constexpr size_t kIdempotencyKeyBytesMax = 64;

// Conversions for filling responses.
v1::ResponseCode ToProto(ResponseCode code);
// Sets decision->response_code and response_code_digits.
void SetResponseCode(ResponseCode code, v1::Decision* decision);

// Owns a grpc::Server with both services.
class GrpcServer {
 public:
  // Builds and starts the server on options.listen (port 0 picks a free port, see port()).
  // Fails naming the address when it cannot be bound (SO_REUSEPORT is off, so a port in use
  // is an error, not a silently shared port). The handlers and `metrics` must outlive the
  // server. `more_services` (optional, not owned, outliving the server) are served too.
  static Result<std::unique_ptr<GrpcServer>> Start(
      const GrpcOptions& options, AuthorizationHandler& authorization, AdminHandler& admin,
      metrics::Registry& metrics, std::span<grpc::Service* const> more_services = {});
  ~GrpcServer();

  uint16_t port() const { return port_; }
  // Lets calls in progress finish for up to `deadline_ms`, then stops accepting calls and
  // cancels what is left. Idempotent; the destructor calls it with 0. (gRPC's own graceful
  // shutdown also waits for idle client connections to go away, 5 s and more with a connected
  // client, so the wait for calls in progress is ours: kytkin_grpc_in_flight.)
  void Shutdown(int64_t deadline_ms);

 private:
  class AuthorizationService;
  class AdminService;
  GrpcServer() = default;

  std::unique_ptr<AuthorizationService> authorization_;
  std::unique_ptr<AdminService> admin_;
  std::unique_ptr<grpc::Server> server_;
  metrics::Gauge* in_flight_ = nullptr;
  uint16_t port_ = 0;
  bool shut_down_ = false;
};

}  // namespace kytkin
