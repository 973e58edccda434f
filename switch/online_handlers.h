// The gRPC side of the authorization core: kytkin.v1.Authorization and kytkin.v1.Admin on the
// same storage::Store the ISO 8583 pipeline uses, so a card behaves the same in the shop and
// online. Requests arrive validated (grpc_service.cc); these classes translate them to ledger
// requests and decisions back to responses.
//
// Idempotency: the dedupe key of an online request is "grpc|" + idempotency_key, so online keys
// never collide with ISO 8583 keys (DE 32|DE 41|DE 11|DE 7).
// RRN: kytkin's RRN is the 12-digit journal sequence of the decision (as on ISO 8583).
// Routing: with an IssuerRouter, Authorize, Refund and BalanceInquiry naming a PAN route like
// ISO 8583 requests (RouteCardRequest, routed_request.h): the issuer gets an ISO 8583 0100/0200
// built from the call (DE 22 812, e-commerce). A card token cannot be routed: it is on-us.
#pragma once

#include <string>
#include <string_view>

#include "core/clock.h"
#include "storage/store.h"
#include "switch/grpc_service.h"
#include "switch/http_server.h"
#include "switch/issuer_router.h"

namespace kytkin {

// "grpc|" + key.
std::string OnlineRequestKey(std::string_view idempotency_key);
// The 12-digit RRN of a journal sequence, and back (NotFound for a malformed RRN).
std::string RrnOfSequence(uint64_t journal_sequence);
Result<uint64_t> SequenceOfRrn(std::string_view rrn);

// The journal record an RRN names. NotFound when there is none.
Result<storage::JournalRecord> FindTransactionByRrn(storage::Store& store, std::string_view rrn);

// GET /api/v1/transactions/{rrn}: the journal record as JSON (masked PAN and token only).
void AddTransactionRoutes(storage::Store& store, HttpRouter& router);

class OnlineAuthorizer final : public AuthorizationHandler {
 public:
  // REQUIRES: store and clock outlive the handler and every call in flight.
  // `router` (optional, not owned) routes card requests to remote issuers.
  explicit OnlineAuthorizer(storage::Store& store, const Clock& clock = SystemClock::Get(),
                            IssuerRouter* router = nullptr)
      : store_(store), clock_(clock), router_(router) {}

  void Authorize(const v1::AuthorizeRequest& request, v1::AuthorizeResponse* response,
                 RpcCompletion done) override;
  void Capture(const v1::CaptureRequest& request, v1::CaptureResponse* response,
               RpcCompletion done) override;
  void Reverse(const v1::ReverseRequest& request, v1::ReverseResponse* response,
               RpcCompletion done) override;
  void Refund(const v1::RefundRequest& request, v1::RefundResponse* response,
              RpcCompletion done) override;
  void BalanceInquiry(const v1::BalanceInquiryRequest& request,
                      v1::BalanceInquiryResponse* response, RpcCompletion done) override;

 private:
  // Submits `request`; fills `decision` and finishes `done` once the decision is durable.
  void Submit(storage::Request request, v1::Decision* decision, RpcCompletion done);
  // Submit for a request naming a card (54 at once when the client's expiry has passed).
  // `merchant` may be null (a balance inquiry without one).
  void SubmitForCard(storage::Request request, const v1::CardReference& card,
                     const v1::Merchant* merchant, v1::Decision* decision, RpcCompletion done);
  // Submit for a request naming an earlier transaction (25 at once when an RRN names none).
  void SubmitForOriginal(storage::Request request, const v1::TransactionReference& original,
                         v1::Decision* decision, RpcCompletion done);

  storage::Store& store_;
  const Clock& clock_;
  IssuerRouter* router_;
};

class LedgerAdmin final : public AdminHandler {
 public:
  explicit LedgerAdmin(storage::Store& store) : store_(store) {}

  void CreateAccount(const v1::CreateAccountRequest& request, v1::Account* response,
                     RpcCompletion done) override;
  void CreateCard(const v1::CreateCardRequest& request, v1::Card* response,
                  RpcCompletion done) override;
  void ImportAccounts(const v1::ImportAccountsRequest& request,
                      v1::ImportAccountsResponse* response, RpcCompletion done) override;
  void BlockCard(const v1::BlockCardRequest& request, v1::Card* response,
                 RpcCompletion done) override;
  void UnblockCard(const v1::UnblockCardRequest& request, v1::Card* response,
                   RpcCompletion done) override;
  void GetTransaction(const v1::GetTransactionRequest& request, v1::Transaction* response,
                      RpcCompletion done) override;

 private:
  Status DoCreateAccount(const v1::CreateAccountRequest& request, v1::Account* response);
  Status DoCreateCard(const v1::CreateCardRequest& request, v1::Card* response);
  Status SetCardStatus(const std::string& token, storage::CardStatus status, v1::Card* response);

  storage::Store& store_;
};

}  // namespace kytkin
