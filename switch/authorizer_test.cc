#include "switch/authorizer.h"

#include <gtest/gtest.h>

#include "iso8583/dialect.h"
#include "switch/terminal_client.h"

namespace kytkin {
namespace {

using iso8583::Message;

class ScreenTest : public ::testing::Test {
 protected:
  ScreenTest() : dialect_(*iso8583::FindDialect("iso87-ascii")), m_(dialect_), response_(dialect_) {
    options_.rules.pinless_limit_minor_default = 5000;
    options_.rules.pinless_limit_minor_by_mcc["5814"] = 10000;  // fast food: higher limit
  }

  // A terminal request as `kytkin term` builds it.
  Message& Build(CardOperation op, std::string pan, int64_t minor, bool pin = false) {
    TerminalRequest r;
    r.operation = op;
    r.pan = std::move(pan);
    r.amount = Amount(minor, 978);
    r.pin_present = pin;
    r.stan = 4711;
    r.transmission_time = "1126120000";
    r.expiry_yymm = "3012";
    r.original = {"0100", 4710, "1126115959"};
    EXPECT_TRUE(BuildTerminalRequest(r, identity_, m_).ok());
    return m_;
  }

  Screened Screen(CardOperation op) { return ScreenRequest(m_, op, options_, "2611"); }

  const iso8583::Dialect& dialect_;
  Message m_;
  Message response_;
  AuthorizerOptions options_;
  TerminalIdentity identity_;
};

constexpr const char* kPan = "4111111111111111";

TEST_F(ScreenTest, AValidAuthorizationBecomesALedgerHoldKeyedByAcquirerTerminalStanTime) {
  Build(CardOperation::kAuthorize, kPan, 1234);
  Screened s = Screen(CardOperation::kAuthorize);
  ASSERT_FALSE(s.answer.has_value());
  EXPECT_EQ(s.request.operation, storage::Operation::kAuthorize);
  EXPECT_EQ(s.request.amount, Amount(1234, 978));
  EXPECT_EQ(s.request.request_key, "100001|TERM0001|004711|1126120000");
  ASSERT_TRUE(s.request.pan.has_value());
  EXPECT_EQ(s.request.pan->masked(), "411111******1111");
}

TEST_F(ScreenTest, ChecksRunInTheDesignOrder) {
  // Missing mandatory field: 30, before anything else.
  Build(CardOperation::kAuthorize, kPan, 1234);
  m_.Clear(4);
  EXPECT_EQ(Screen(CardOperation::kAuthorize).answer, ResponseCode::kFormatError);
  // A bad card number answers 14 even when the amount is also bad.
  Build(CardOperation::kAuthorize, "4111111111111112", options_.amount_max_minor + 1);
  EXPECT_EQ(Screen(CardOperation::kAuthorize).answer, ResponseCode::kInvalidCardNumber);
  // An expired card answers 54 before the amount is judged.
  Build(CardOperation::kAuthorize, kPan, options_.amount_max_minor + 1);
  ASSERT_TRUE(m_.Set(14, "2510").ok());
  EXPECT_EQ(Screen(CardOperation::kAuthorize).answer, ResponseCode::kExpiredCard);
  ASSERT_TRUE(m_.Set(14, "2513").ok());
  EXPECT_EQ(Screen(CardOperation::kAuthorize).answer, ResponseCode::kFormatError);
  // Above the per-request maximum: 13; at it, the ledger decides.
  Build(CardOperation::kAuthorize, kPan, options_.amount_max_minor + 1, /*pin=*/true);
  EXPECT_EQ(Screen(CardOperation::kAuthorize).answer, ResponseCode::kInvalidAmount);
  Build(CardOperation::kAuthorize, kPan, options_.amount_max_minor, /*pin=*/true);
  EXPECT_FALSE(Screen(CardOperation::kAuthorize).answer.has_value());
}

TEST_F(ScreenTest, PinlessLimitDependsOnTheMerchantCategoryAndTheEntryMode) {
  Build(CardOperation::kPurchase, kPan, 5000);  // at the default limit
  EXPECT_FALSE(Screen(CardOperation::kPurchase).answer.has_value());
  Build(CardOperation::kPurchase, kPan, 5001);  // limit + 1
  EXPECT_EQ(Screen(CardOperation::kPurchase).answer, ResponseCode::kIncorrectPin);
  Build(CardOperation::kPurchase, kPan, 5001, /*pin=*/true);
  EXPECT_FALSE(Screen(CardOperation::kPurchase).answer.has_value());
  identity_.merchant_category = "5814";
  Build(CardOperation::kPurchase, kPan, 10000);
  EXPECT_FALSE(Screen(CardOperation::kPurchase).answer.has_value());
  Build(CardOperation::kPurchase, kPan, 10001);
  EXPECT_EQ(Screen(CardOperation::kPurchase).answer, ResponseCode::kIncorrectPin);
  ASSERT_TRUE(m_.Set(22, "812").ok());  // e-commerce: no PIN pad, the rule does not apply
  EXPECT_FALSE(Screen(CardOperation::kPurchase).answer.has_value());
  // Refunds credit the card: no PIN rule.
  Build(CardOperation::kRefund, kPan, 90000);
  EXPECT_FALSE(Screen(CardOperation::kRefund).answer.has_value());
}

TEST_F(ScreenTest, ReversalAndCompletionNameTheirOriginalThroughDe90) {
  Build(CardOperation::kReversal, "", 1234);
  Screened s = Screen(CardOperation::kReversal);
  ASSERT_FALSE(s.answer.has_value());
  EXPECT_EQ(s.request.operation, storage::Operation::kReverse);
  EXPECT_EQ(s.request.original_request_key, "100001|TERM0001|004710|1126115959");
  EXPECT_EQ(s.request.amount.minor_units(), 0);  // the whole original

  Build(CardOperation::kFinancialAdvice, kPan, 1000);
  s = Screen(CardOperation::kFinancialAdvice);
  ASSERT_FALSE(s.answer.has_value());
  EXPECT_EQ(s.request.operation, storage::Operation::kCapture);
  m_.Clear(90);  // without DE 90 a 0220 is an offline sale
  EXPECT_EQ(Screen(CardOperation::kFinancialAdvice).request.operation, storage::Operation::kAdvice);

  Build(CardOperation::kReversal, "", 0);
  m_.Clear(90);  // a reversal without its original
  EXPECT_EQ(Screen(CardOperation::kReversal).answer, ResponseCode::kFormatError);
}

TEST_F(ScreenTest, IsoRequestKeyIgnoresLeadingZerosOfTheAcquirer) {
  EXPECT_EQ(IsoRequestKey("00000100001", "T1", "000001", "1126120000"),
            IsoRequestKey("100001", "T1", "000001", "1126120000"));
}

TEST_F(ScreenTest, ResponseEchoesTerminalFieldsAndAddsTheDecision) {
  Build(CardOperation::kBalanceInquiry, kPan, 0);
  storage::Decision d;
  d.response_code = ResponseCode::kApproved;
  d.auth_code = "123456";
  d.journal_sequence = 42;
  d.available = Amount(98766, 978);
  ASSERT_TRUE(BuildResponse(m_, ResponseCode::kApproved, &d, response_).ok());
  EXPECT_EQ(response_.mti(), "0210");
  for (int field : {2, 3, 7, 11, 12, 13, 32, 41, 42, 49}) {
    EXPECT_EQ(response_.Get(field), m_.Get(field)) << "DE " << field;
  }
  EXPECT_EQ(response_.Get(37), "000000000042");
  EXPECT_EQ(response_.Get(38), "123456");
  EXPECT_EQ(response_.Get(39), "00");
  EXPECT_EQ(response_.Get(54), "0002978C000000098766");

  // A repeat is answered with its base's response MTI; a decline carries no auth code.
  Build(CardOperation::kReversalAdvice, "", 0);
  ASSERT_TRUE(m_.SetMti("0421").ok());
  d.response_code = ResponseCode::kInsufficientFunds;
  ASSERT_TRUE(BuildResponse(m_, ResponseCode::kInsufficientFunds, &d, response_).ok());
  EXPECT_EQ(response_.mti(), "0430");
  EXPECT_FALSE(response_.Has(38));
  EXPECT_EQ(response_.Get(39), "51");
}

}  // namespace
}  // namespace kytkin
