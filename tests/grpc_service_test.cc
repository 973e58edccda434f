// The gRPC services over a real channel on port 0, with fake handlers.
#include "switch/grpc_service.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "core/pan.h"

namespace kytkin {
namespace {

constexpr char kPan[] = "4111111111111111";

class FakeAuthorization : public AuthorizationHandler {
 public:
  void Authorize(const v1::AuthorizeRequest& request, v1::AuthorizeResponse* response,
                 RpcCompletion done) override {
    ++calls;
    v1::Decision* d = response->mutable_decision();
    if (request.amount().minor_units() > 10'000) {
      SetResponseCode(ResponseCode::kInsufficientFunds, d);  // a decline is a response
    } else {
      SetResponseCode(ResponseCode::kApproved, d);
      d->set_auth_code("A1B2C3");
      *d->mutable_approved_amount() = request.amount();
    }
    d->set_rrn("000000000001");
    done.Finish(Status::Ok());
  }
  void Capture(const v1::CaptureRequest&, v1::CaptureResponse* response,
               RpcCompletion done) override {
    ++calls;
    // Finished later from another thread, like the ledger's committer.
    std::thread([response, d = std::move(done)]() mutable {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      SetResponseCode(ResponseCode::kApproved, response->mutable_decision());
      d.Finish(Status::Ok());
    }).detach();
  }
  void Reverse(const v1::ReverseRequest&, v1::ReverseResponse*, RpcCompletion done) override {
    ++calls;
    done.Finish(Status::NotFound("original: no transaction with that rrn"));
  }
  void Refund(const v1::RefundRequest&, v1::RefundResponse*, RpcCompletion) override {
    ++calls;  // drops the completion: the client must get INTERNAL, not hang
  }
  void BalanceInquiry(const v1::BalanceInquiryRequest&, v1::BalanceInquiryResponse* response,
                      RpcCompletion done) override {
    ++calls;
    SetResponseCode(ResponseCode::kApproved, response->mutable_decision());
    response->mutable_decision()->mutable_available_balance()->set_currency_code("EUR");
    response->mutable_decision()->mutable_available_balance()->set_minor_units(4200);
    done.Finish(Status::Ok());
  }
  std::atomic<int> calls{0};
};

class FakeAdmin : public AdminHandler {
 public:
  void CreateAccount(const v1::CreateAccountRequest& request, v1::Account* response,
                     RpcCompletion done) override {
    *response = request.account();
    done.Finish(Status::Ok());
  }
  void CreateCard(const v1::CreateCardRequest& request, v1::Card* response,
                  RpcCompletion done) override {
    Result<Pan> pan = Pan::Parse(request.pan());
    response->set_masked_pan(pan->masked());
    response->set_card_token("tok_1");
    response->set_account_id(request.account_id());
    response->set_state(v1::Card::STATE_ACTIVE);
    done.Finish(Status::Ok());
  }
  void ImportAccounts(const v1::ImportAccountsRequest& request,
                      v1::ImportAccountsResponse* response, RpcCompletion done) override {
    response->set_imported_count(request.items_size());
    done.Finish(Status::Ok());
  }
  void BlockCard(const v1::BlockCardRequest& request, v1::Card* response,
                 RpcCompletion done) override {
    response->set_card_token(request.card_token());
    response->set_state(request.state());
    done.Finish(Status::Ok());
  }
  void UnblockCard(const v1::UnblockCardRequest&, v1::Card*, RpcCompletion done) override {
    done.Finish(Status::FailedPrecondition("card_token: the card is not blocked"));
  }
  void GetTransaction(const v1::GetTransactionRequest&, v1::Transaction*,
                      RpcCompletion done) override {
    done.Finish(Status::NotFound("transaction: not found"));
  }
};

class GrpcServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    GrpcOptions options;
    options.listen = {"127.0.0.1", 0};
    Result<std::unique_ptr<GrpcServer>> server =
        GrpcServer::Start(options, authorization_, admin_, metrics_);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    ASSERT_NE(server_->port(), 0);
    auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                                       grpc::InsecureChannelCredentials());
    auth_stub_ = v1::Authorization::NewStub(channel);
    admin_stub_ = v1::Admin::NewStub(channel);
  }

  static std::unique_ptr<grpc::ClientContext> Context() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return context;
  }

  static v1::AuthorizeRequest GoodAuthorize() {
    v1::AuthorizeRequest r;
    r.set_idempotency_key("order-1");
    r.mutable_card()->set_pan(kPan);
    r.mutable_card()->set_expiry_yymm("3012");
    r.mutable_amount()->set_currency_code("EUR");
    r.mutable_amount()->set_minor_units(1234);
    r.mutable_merchant()->set_merchant_id("SHOP1");
    return r;
  }

  metrics::Registry metrics_;
  FakeAuthorization authorization_;
  FakeAdmin admin_;
  std::unique_ptr<GrpcServer> server_;
  std::unique_ptr<v1::Authorization::Stub> auth_stub_;
  std::unique_ptr<v1::Admin::Stub> admin_stub_;
};

TEST_F(GrpcServiceTest, AuthorizeApprovesAndDeclinesAsResponses) {
  v1::AuthorizeResponse response;
  grpc::Status status = auth_stub_->Authorize(Context().get(), GoodAuthorize(), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.decision().response_code(), v1::RESPONSE_CODE_APPROVED);
  EXPECT_EQ(response.decision().response_code_digits(), "00");
  EXPECT_EQ(response.decision().auth_code(), "A1B2C3");
  EXPECT_EQ(response.decision().approved_amount().minor_units(), 1234);

  v1::AuthorizeRequest big = GoodAuthorize();
  big.mutable_amount()->set_minor_units(20'000);
  big.mutable_amount()->set_currency_code("978");  // numeric is accepted too
  status = auth_stub_->Authorize(Context().get(), big, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.decision().response_code(), v1::RESPONSE_CODE_INSUFFICIENT_FUNDS);
  EXPECT_EQ(response.decision().response_code_digits(), "51");
}

TEST_F(GrpcServiceTest, InvalidArgumentsNameTheFieldAndNeverReachTheHandler) {
  struct Case {
    void (*mutate)(v1::AuthorizeRequest&);
    std::string_view expected;
  };
  const Case cases[] = {
      {[](v1::AuthorizeRequest& r) { r.clear_idempotency_key(); }, "idempotency_key: required"},
      {[](v1::AuthorizeRequest& r) { r.set_idempotency_key(std::string(65, 'k')); },
       "idempotency_key: longer than 64"},
      {[](v1::AuthorizeRequest& r) { r.set_idempotency_key("has space"); }, "idempotency_key:"},
      {[](v1::AuthorizeRequest& r) { r.clear_card(); }, "card: required"},
      {[](v1::AuthorizeRequest& r) { r.mutable_card()->set_pan("4111111111111112"); },
       "card.pan: PAN fails the Luhn check"},
      {[](v1::AuthorizeRequest& r) { r.mutable_card()->set_pan("41111"); }, "card.pan:"},
      {[](v1::AuthorizeRequest& r) { r.mutable_card()->set_expiry_yymm("3013"); },
       "card.expiry_yymm: month"},
      {[](v1::AuthorizeRequest& r) { r.mutable_card()->set_card_token(""); },
       "card.card_token: required"},
      {[](v1::AuthorizeRequest& r) { r.clear_amount(); }, "amount: required"},
      {[](v1::AuthorizeRequest& r) { r.mutable_amount()->set_currency_code("EURO"); },
       "amount.currency_code: 'EURO' is not an ISO 4217 currency"},
      {[](v1::AuthorizeRequest& r) { r.mutable_amount()->set_currency_code("999"); },
       "amount.currency_code:"},
      {[](v1::AuthorizeRequest& r) { r.mutable_amount()->set_minor_units(0); },
       "amount.minor_units: must be > 0"},
      {[](v1::AuthorizeRequest& r) { r.mutable_amount()->set_minor_units(-5); },
       "amount.minor_units"},
      {[](v1::AuthorizeRequest& r) { r.clear_merchant(); }, "merchant: required"},
      {[](v1::AuthorizeRequest& r) { r.mutable_merchant()->set_merchant_id(std::string(16, 'm')); },
       "merchant.merchant_id"},
      {[](v1::AuthorizeRequest& r) { r.mutable_merchant()->set_merchant_category_code("54x1"); },
       "merchant.merchant_category_code"},
  };
  for (const Case& c : cases) {
    v1::AuthorizeRequest request = GoodAuthorize();
    c.mutate(request);
    v1::AuthorizeResponse response;
    grpc::Status status = auth_stub_->Authorize(Context().get(), request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.expected;
    EXPECT_NE(status.error_message().find(c.expected), std::string::npos) << status.error_message();
    // The PAN never comes back in an error.
    EXPECT_EQ(status.error_message().find("41111111"), std::string::npos);
  }
  EXPECT_EQ(authorization_.calls.load(), 0);
  EXPECT_EQ(metrics_
                .GetCounter("kytkin_grpc_invalid_arguments_total", "",
                            {{"service", "Authorization"}, {"method", "Authorize"}})
                .value(),
            std::size(cases));
}

TEST_F(GrpcServiceTest, CompletionFromAnotherThread) {
  v1::CaptureRequest request;
  request.set_idempotency_key("cap-1");
  request.mutable_authorization()->set_rrn("000000000001");
  v1::CaptureResponse response;
  grpc::Status status = auth_stub_->Capture(Context().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.decision().response_code_digits(), "00");
}

TEST_F(GrpcServiceTest, HandlerErrorsMapToGrpcCodes) {
  v1::ReverseRequest reverse;
  reverse.set_idempotency_key("rev-1");
  reverse.mutable_original()->set_rrn("000000000009");
  v1::ReverseResponse reverse_response;
  grpc::Status status = auth_stub_->Reverse(Context().get(), reverse, &reverse_response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "original: no transaction with that rrn");

  v1::UnblockCardRequest unblock;
  unblock.set_card_token("tok_1");
  v1::Card card;
  status = admin_stub_->UnblockCard(Context().get(), unblock, &card);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(GrpcServiceTest, DroppedCompletionAnswersInternal) {
  v1::RefundRequest refund;
  refund.set_idempotency_key("ref-1");
  refund.mutable_card()->set_card_token("tok_1");
  refund.mutable_amount()->set_currency_code("EUR");
  refund.mutable_amount()->set_minor_units(100);
  refund.mutable_merchant()->set_merchant_id("SHOP1");
  v1::RefundResponse response;
  grpc::Status status = auth_stub_->Refund(Context().get(), refund, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INTERNAL);
}

TEST_F(GrpcServiceTest, BalanceInquiry) {
  v1::BalanceInquiryRequest request;
  request.set_idempotency_key("bal-1");
  request.mutable_card()->set_card_token("tok_1");
  v1::BalanceInquiryResponse response;
  grpc::Status status = auth_stub_->BalanceInquiry(Context().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.decision().available_balance().minor_units(), 4200);
}

TEST_F(GrpcServiceTest, AdminCreateCardReturnsOnlyTheMaskedPan) {
  v1::CreateCardRequest request;
  request.set_pan(kPan);
  request.set_account_id("1001");
  request.set_expiry_yymm("3012");
  v1::Card card;
  grpc::Status status = admin_stub_->CreateCard(Context().get(), request, &card);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(card.masked_pan(), "411111******1111");
  EXPECT_EQ(card.card_token(), "tok_1");

  request.set_account_id("bad id!");
  status = admin_stub_->CreateCard(Context().get(), request, &card);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("account_id:"), std::string::npos);
}

TEST_F(GrpcServiceTest, AdminValidation) {
  v1::CreateAccountRequest account;
  account.mutable_account()->set_account_id("1001");
  account.mutable_account()->set_kind(v1::Account::KIND_DEBIT);
  account.mutable_account()->set_currency_code("EUR");
  EXPECT_TRUE(ValidateRequest(account).ok());
  account.mutable_account()->set_credit_limit_minor_units(100);
  EXPECT_NE(ValidateRequest(account).message().find("account.credit_limit_minor_units"),
            std::string_view::npos);
  account.mutable_account()->set_kind(v1::Account::KIND_UNSPECIFIED);
  EXPECT_NE(ValidateRequest(account).message().find("account.kind"), std::string_view::npos);

  v1::BlockCardRequest block;
  block.set_card_token("tok_1");
  block.set_state(v1::Card::STATE_ACTIVE);
  v1::Card card;
  grpc::Status status = admin_stub_->BlockCard(Context().get(), block, &card);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("state:"), std::string::npos);
  block.set_state(v1::Card::STATE_STOLEN);
  status = admin_stub_->BlockCard(Context().get(), block, &card);
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(card.state(), v1::Card::STATE_STOLEN);

  v1::ImportAccountsRequest import;
  EXPECT_NE(ValidateRequest(import).message().find("items: at least one"), std::string_view::npos);
  for (int i = 0; i < kImportItemsMax; ++i) import.add_items();
  EXPECT_TRUE(ValidateRequest(import).ok());  // the limit itself
  import.add_items();
  EXPECT_NE(ValidateRequest(import).message().find("items: at most"), std::string_view::npos);

  v1::GetTransactionRequest get;
  EXPECT_NE(ValidateRequest(get).message().find("transaction: required"), std::string_view::npos);
  get.mutable_transaction()->set_rrn("123");
  EXPECT_NE(ValidateRequest(get).message().find("transaction.rrn"), std::string_view::npos);
  get.mutable_transaction()->set_rrn("123456789012");
  v1::Transaction transaction;
  status = admin_stub_->GetTransaction(Context().get(), get, &transaction);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(GrpcServiceTest, ResponseCodesMapOneToOne) {
  for (int digits = 0; digits < 100; ++digits) {
    char text[3] = {static_cast<char>('0' + digits / 10), static_cast<char>('0' + digits % 10), 0};
    std::optional<ResponseCode> code = ParseResponseCode(text);
    if (!code) continue;
    v1::Decision decision;
    SetResponseCode(*code, &decision);
    EXPECT_NE(decision.response_code(), v1::RESPONSE_CODE_UNSPECIFIED) << text;
    EXPECT_EQ(decision.response_code_digits(), text);
  }
}

TEST_F(GrpcServiceTest, PortInUseFails) {
  GrpcOptions options;
  options.listen = {"127.0.0.1", server_->port()};
  Result<std::unique_ptr<GrpcServer>> second =
      GrpcServer::Start(options, authorization_, admin_, metrics_);
  ASSERT_FALSE(second.ok());
  // One line with the OS reason (gRPC's own multi-line log of it is not printed).
  EXPECT_EQ(second.status().message(),
            "grpc: cannot listen on 127.0.0.1:" + std::to_string(server_->port()) +
                ": Address already in use");
}

}  // namespace
}  // namespace kytkin

namespace kytkin {
namespace {

TEST_F(GrpcServiceTest, ShutdownLetsCallsInProgressFinish) {
  // Capture is finished 20 ms later from another thread (FakeAuthorization).
  grpc::Status capture_status;
  std::thread caller([&] {
    v1::CaptureRequest request;
    request.set_idempotency_key("cap-1");
    request.mutable_authorization()->set_rrn("000000000001");
    v1::CaptureResponse response;
    capture_status = auth_stub_->Capture(Context().get(), request, &response);
  });
  metrics::Gauge& in_flight = metrics_.GetGauge("kytkin_grpc_in_flight", "");
  for (int i = 0; i < 2000 && in_flight.value() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_EQ(in_flight.value(), 1);
  const auto start = std::chrono::steady_clock::now();
  server_->Shutdown(10'000);  // the channel stays connected throughout
  const auto took = std::chrono::steady_clock::now() - start;
  caller.join();
  EXPECT_TRUE(capture_status.ok()) << capture_status.error_message();
  EXPECT_EQ(in_flight.value(), 0);
  EXPECT_LT(took, std::chrono::seconds(3));  // the 10 s deadline is a bound, not a wait
}

}  // namespace
}  // namespace kytkin
