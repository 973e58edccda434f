// Money-correctness review of settlement (issue 6) and stand-in (issue 5) in the store: each test
// names a way money could move twice, be lost or overflow, and checks the ledger still sums to
// zero per currency afterwards. Memory backend only: these are rules, not durability.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

#include "storage/store.h"
#include "storage/test_util.h"

namespace kytkin::storage {
namespace {

using namespace kytkin::storage::testing;

constexpr uint64_t kMerchant = 1001;
constexpr uint64_t kOtherMerchant = 1002;
constexpr uint64_t kAcquirer = 9001;
constexpr uint64_t kFees = 9002;
constexpr uint64_t kCardholder = 2001;
constexpr int32_t kDay = 20'619;  // 2026-06-15
constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

class MoneyReviewTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = Store::Open(TestStoreOptions(StoreOptions::Backend::kMemory, "", &clock_));
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
    ASSERT_TRUE(store_->CreateAccount(TestAccount(kMerchant, AccountKind::kMerchant)).ok());
    ASSERT_TRUE(store_->CreateAccount(TestAccount(kOtherMerchant, AccountKind::kMerchant)).ok());
    ASSERT_TRUE(
        store_->CreateAccount(TestAccount(kAcquirer, AccountKind::kAcquirerSettlement)).ok());
    ASSERT_TRUE(store_->CreateAccount(TestAccount(kFees, AccountKind::kFees)).ok());
    ASSERT_TRUE(store_->CreateAccount(TestAccount(kCardholder), 100'000).ok());
    ASSERT_TRUE(store_->CreateCard(pan_, TestCard(kCardholder)).ok());
  }

  SettlementBatch Header(std::string id, uint64_t merchant = kMerchant) {
    SettlementBatch h;
    h.batch_id = std::move(id);
    h.business_date = kDay;
    h.acquirer_id = "100001";
    h.terminal_id = "TERM0001";
    h.merchant_id = "M" + std::to_string(merchant);
    h.currency = kEur;
    h.merchant_account = merchant;
    h.acquirer_account = kAcquirer;
    h.fees_account = kFees;
    return h;
  }
  void OpenBatch(const SettlementBatch& h) {
    auto b = store_->OpenSettlementBatch(h);
    ASSERT_TRUE(b.ok()) << b.status().ToString();
  }

  Decision Authorize(int64_t minor, std::string key) {
    Request r = TestRequest(Operation::kAuthorize, pan_, minor, std::move(key));
    r.terminal_id = "TERM0001";
    auto d = store_->Execute(r);
    EXPECT_TRUE(d.ok() && d->approved());
    return d.ok() ? *d : Decision{};
  }

  static Request Item(Operation op, const std::string& batch, int item, int64_t minor) {
    Request r;
    r.operation = op;
    r.batch_id = batch;
    r.request_key = "stl|" + batch + "|" + std::to_string(item);
    r.amount = Amount(minor, kEur);
    r.terminal_id = "TERM0001";
    r.acquirer_id = "100001";
    r.mti = "0320";
    r.route = "settlement";
    return r;
  }
  static Request Capture(const std::string& batch, int item, int64_t minor, const Decision& auth) {
    Request r = Item(Operation::kSettleCapture, batch, item, minor);
    r.rrn = std::to_string(auth.journal_sequence);
    r.original_auth_code = auth.auth_code;
    return r;
  }
  Request Refund(const std::string& batch, int item, int64_t minor) {
    Request r = Item(Operation::kSettleRefund, batch, item, minor);
    r.pan = pan_;
    return r;
  }

  Decision Do(const Request& r) {
    auto d = store_->Execute(r);
    EXPECT_TRUE(d.ok()) << d.status().ToString();
    return d.ok() ? *d : Decision{};
  }
  int64_t Balance(uint64_t id) {
    auto a = store_->GetAccount(id);
    EXPECT_TRUE(a.ok());
    return a.ok() ? a->balance() : 0;
  }
  // VerifyLedger includes the per-currency sum of zero.
  void ExpectLedgerOk() { kytkin::storage::testing::ExpectLedgerAndJournalOk(*store_); }

  ManualClock clock_{kTestNowUnixUs};
  std::unique_ptr<Store> store_;
  Pan pan_ = TestPan(kCardholder);
};

// 9223372036854775807 minor units fits an int64 (a CSV "92233720368547758.07" or a gRPC
// amount_minor_units) but a second such refund overflowed the issuer settlement account and the
// batch's refund total. Every channel now meets the same bound: the 12 digits of DE 4.
TEST_F(MoneyReviewTest, AnItemBeyondTheDe4RangeIsDeclinedInsteadOfOverflowing) {
  OpenBatch(Header("B1"));
  for (int64_t minor : {kInt64Max, kSettlementItemMinorMax + 1}) {
    Decision d = Do(Refund("B1", static_cast<int>(minor % 1000) + 1, minor));
    EXPECT_EQ(d.response_code, ResponseCode::kInvalidAmount) << minor;
    EXPECT_EQ(d.reason, Reason::kInvalidAmount) << minor;
  }
  Request offline = Item(Operation::kSettleCapture, "B1", 10, kInt64Max);
  offline.pan = pan_;
  EXPECT_EQ(Do(offline).response_code, ResponseCode::kInvalidAmount);
  // The largest allowed item is accepted.
  EXPECT_TRUE(Do(Refund("B1", 11, kSettlementItemMinorMax)).approved());
  auto b = store_->GetSettlementBatch("B1");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->held.refunds_count, 1u);
  EXPECT_EQ(b->held.refunds_minor, kSettlementItemMinorMax);
  EXPECT_EQ(b->rejected_count, 3u);
  ExpectLedgerOk();
}

// A batch total must fit the 16 digits of DE 86-89 (the 0510 carries it back); the item that
// would pass it is declined, the ones before it stand.
TEST_F(MoneyReviewTest, ABatchTotalStopsAtTheReconciliationRange) {
  OpenBatch(Header("B1"));
  const int64_t fit = kSettlementBatchMinorMax / kSettlementItemMinorMax;  // 10,000 items
  for (int64_t i = 1; i <= fit; ++i) {
    ASSERT_TRUE(Do(Refund("B1", static_cast<int>(i), kSettlementItemMinorMax)).approved()) << i;
  }
  Decision over = Do(Refund("B1", static_cast<int>(fit + 1), kSettlementItemMinorMax));
  EXPECT_EQ(over.response_code, ResponseCode::kInvalidAmount);
  auto b = store_->GetSettlementBatch("B1");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->held.refunds_minor, fit * kSettlementItemMinorMax);
  EXPECT_LE(b->held.refunds_minor, kSettlementBatchMinorMax);
  ASSERT_TRUE(store_->CutOverSettlement(kDay + 1).ok());
  EXPECT_EQ(Balance(kMerchant), -fit * kSettlementItemMinorMax);
  ExpectLedgerOk();
}

// One authorization, a capture item in two batches (two acquirer files, or a re-cut file with
// new batch ids): the second is a conflict and only the first merchant is paid.
TEST_F(MoneyReviewTest, OneAuthorizationCapturedInTwoBatchesIsPaidOnce) {
  OpenBatch(Header("B1"));
  OpenBatch(Header("B2", kOtherMerchant));
  Decision auth = Authorize(5'000, "a1");
  ASSERT_TRUE(Do(Capture("B1", 1, 5'000, auth)).approved());
  Decision second = Do(Capture("B2", 1, 5'000, auth));
  EXPECT_EQ(second.response_code, ResponseCode::kDuplicateTransmission);
  EXPECT_EQ(second.reason, Reason::kCaptureConflict);
  // A reversal item, then a capture of the reversed authorization: 12, nothing moves.
  Decision auth2 = Authorize(700, "a2");
  ASSERT_TRUE(Do(Capture("B1", 2, 700, auth2)).approved());
  Request reversal = Item(Operation::kSettleReversal, "B1", 3, 700);
  reversal.rrn = std::to_string(auth2.journal_sequence);
  ASSERT_TRUE(Do(reversal).approved());
  EXPECT_EQ(Do(Capture("B2", 2, 700, auth2)).reason, Reason::kAlreadyResolved);
  // A capture after the hold's expiry: 12.
  Decision auth3 = Authorize(300, "a3");
  clock_.Advance(3'601'000'000);
  EXPECT_EQ(Do(Capture("B2", 3, 300, auth3)).reason, Reason::kHoldExpired);

  ASSERT_TRUE(store_->CutOverSettlement(kDay + 1).ok());
  EXPECT_EQ(Balance(kMerchant), 5'000);
  EXPECT_EQ(Balance(kOtherMerchant), 0);
  EXPECT_EQ(Balance(kCardholder), 100'000 - 5'000);
  ExpectLedgerOk();
}

// The payout happens once however many cut-overs follow, and a resubmission of the paid batch
// (header and items) moves nothing.
TEST_F(MoneyReviewTest, APaidBatchIsNotPaidAgainAtTheNextCutOverOrOnResubmission) {
  OpenBatch(Header("B1"));
  Decision auth = Authorize(2'000, "a1");
  const Request capture = Capture("B1", 1, 2'000, auth);
  ASSERT_TRUE(Do(capture).approved());
  auto first = store_->CutOverSettlement(kDay + 1);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->size(), 1u);
  auto second = store_->CutOverSettlement(kDay + 2);
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->empty());
  OpenBatch(Header("B1"));
  EXPECT_TRUE(Do(capture).duplicate);
  EXPECT_EQ(Do(Refund("B1", 2, 100)).reason, Reason::kBatchNotOpen);
  EXPECT_TRUE(store_->CutOverSettlement(kDay + 3)->empty());
  EXPECT_EQ(Balance(kMerchant), 2'000);
  EXPECT_EQ(Balance(kAcquirer), -2'000);
  ExpectLedgerOk();
}

// Fees: basis points round half up (the odd minor unit goes to the fees account); a fixed fee
// above the gross is charged in full, leaving the merchant owing - the ledger still balances.
TEST_F(MoneyReviewTest, FeesRoundHalfUpAndAFeeAboveTheGrossStillBalances) {
  SettlementBatch h = Header("B1");
  h.fee_bps = 150;  // 1.5 %: 50 * 0.015 = 0.75 -> 1
  OpenBatch(h);
  Decision auth = Authorize(50, "a1");
  ASSERT_TRUE(Do(Capture("B1", 1, 50, auth)).approved());
  SettlementBatch h2 = Header("B2", kOtherMerchant);
  h2.fee_fixed_minor = 10;  // above the gross of 5
  OpenBatch(h2);
  Request offline = Item(Operation::kSettleCapture, "B2", 1, 5);
  offline.pan = pan_;
  ASSERT_EQ(Do(offline).reason, Reason::kForcePosted);
  auto settled = store_->CutOverSettlement(kDay + 1);
  ASSERT_TRUE(settled.ok());
  ASSERT_EQ(settled->size(), 2u);
  for (const SettlementBatch& b : *settled) {
    if (b.batch_id == "B1") {
      EXPECT_EQ(b.fee_minor, 1);
      EXPECT_EQ(b.payout_minor, 49);
    } else {
      EXPECT_EQ(b.fee_minor, 10);
      EXPECT_EQ(b.payout_minor, -5);
    }
  }
  EXPECT_EQ(Balance(kMerchant), 49);
  EXPECT_EQ(Balance(kOtherMerchant), -5);
  EXPECT_EQ(Balance(kFees), 11);
  EXPECT_EQ(Balance(kAcquirer), -55);
  ExpectLedgerOk();
}

// Zero, negative and foreign-currency items are declined 13 and counted as rejected.
TEST_F(MoneyReviewTest, ZeroNegativeAndForeignCurrencyItemsAreDeclined) {
  OpenBatch(Header("B1"));
  EXPECT_EQ(Do(Refund("B1", 1, 0)).reason, Reason::kInvalidAmount);
  EXPECT_EQ(Do(Refund("B1", 2, -100)).reason, Reason::kInvalidAmount);
  Request usd = Refund("B1", 3, 100);
  usd.amount = Amount(100, kUsd);
  EXPECT_EQ(Do(usd).reason, Reason::kCurrencyMismatch);
  EXPECT_EQ(store_->GetSettlementBatch("B1")->rejected_count, 3u);
  EXPECT_EQ(Balance(kCardholder), 100'000);
  ExpectLedgerOk();
}

// Stand-in day counters: a huge amount must not wrap the sum past the issuer's daily limit
// (ISO DE 4 cannot carry it, but the store is the last line and gRPC amounts are int64).
TEST_F(MoneyReviewTest, AStandInAmountCannotWrapPastTheDailyLimit) {
  const Pan unknown = TestPan(77);  // not a card of kytkin's ledger: limits only
  auto stand_in = [&](int64_t minor, std::string key) {
    Request r = TestRequest(Operation::kStandIn, unknown, minor, std::move(key));
    r.stand_in_daily_amount_max_minor = 10'000;
    r.stand_in_daily_count_max = 5;
    return Do(r);
  };
  ASSERT_TRUE(stand_in(100, "s1").approved());
  Decision huge = stand_in(kInt64Max, "s2");
  EXPECT_EQ(huge.response_code, ResponseCode::kIssuerUnavailable);
  EXPECT_EQ(huge.reason, Reason::kDailyAmountLimit);
  // The limit is inclusive: exactly what is left is approved, then nothing more.
  EXPECT_TRUE(stand_in(9'900, "s3").approved());
  EXPECT_EQ(stand_in(1, "s4").reason, Reason::kDailyAmountLimit);
  ExpectLedgerOk();
}

// The fixed fee is multiplied by the capture count at payout: bounded when the batch opens.
TEST_F(MoneyReviewTest, AFixedFeeThatCouldOverflowThePayoutIsRefusedAtOpen) {
  SettlementBatch h = Header("B1");
  h.fee_fixed_minor = kInt64Max;
  auto opened = store_->OpenSettlementBatch(h);
  EXPECT_EQ(opened.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(opened.status().message().find("fee_fixed_minor"), std::string::npos);
  h.fee_fixed_minor = kSettlementItemMinorMax;
  EXPECT_TRUE(store_->OpenSettlementBatch(h).ok());
}

// By RRN an item is checked against the authorization's terminal (12 original_mismatch); by
// request key (a gRPC idempotency key) it must be too, or another terminal's batch - another
// merchant - could capture the authorization and be paid for it, and the real merchant's capture
// would then be refused as a conflict. An authorization naming no terminal is not tied to one.
TEST_F(MoneyReviewTest, ACaptureByRequestKeyFromAnotherTerminalIsRefused) {
  SettlementBatch other = Header("B1", kOtherMerchant);
  other.terminal_id = "TERM0002";
  OpenBatch(other);
  Decision auth = Authorize(4'000, "grpc-key-1");  // made at TERM0001
  Request capture = Item(Operation::kSettleCapture, "B1", 1, 4'000);
  capture.terminal_id = "TERM0002";
  capture.original_request_key = "grpc-key-1";
  Decision d = Do(capture);
  EXPECT_EQ(d.response_code, ResponseCode::kInvalidTransaction);
  EXPECT_EQ(d.reason, Reason::kOriginalMismatch);
  // The merchant whose terminal made it still captures it by the same key.
  OpenBatch(Header("B2"));
  Request own = Item(Operation::kSettleCapture, "B2", 1, 4'000);
  own.original_request_key = "grpc-key-1";
  EXPECT_TRUE(Do(own).approved());
  // An authorization naming no terminal is captured from any terminal's batch.
  Request anywhere = TestRequest(Operation::kAuthorize, pan_, 1'000, "grpc-key-2");
  anywhere.terminal_id.clear();
  auto a = store_->Execute(anywhere);
  ASSERT_TRUE(a.ok() && a->approved());
  Request other_capture = Item(Operation::kSettleCapture, "B1", 2, 1'000);
  other_capture.terminal_id = "TERM0002";
  other_capture.original_request_key = "grpc-key-2";
  EXPECT_TRUE(Do(other_capture).approved());
  ExpectLedgerOk();
}

// The tolerance is inclusive: exactly min(hold x bps, max) over the hold is posted, one minor unit
// more is not; 0 and 0 forbid any excess; the excess needs funds like a new debit.
TEST_F(MoneyReviewTest, CaptureToleranceIsInclusiveAndTheTipNeedsFunds) {
  OpenBatch(Header("B1"));
  auto capture = [&](int item, int64_t minor, const Decision& auth, uint32_t bps, int64_t max) {
    Request r = Capture("B1", item, minor, auth);
    r.capture_tolerance_bps = bps;
    r.capture_tolerance_minor_max = max;
    return Do(r);
  };
  Decision a1 = Authorize(5'000, "a1");  // 20 % = 1000, cap 1000
  EXPECT_EQ(capture(1, 6'001, a1, 2'000, 1'000).reason, Reason::kCaptureOverTolerance);
  EXPECT_TRUE(capture(2, 6'000, a1, 2'000, 1'000).approved());
  Decision a2 = Authorize(5'000, "a2");  // 20 % = 1000, cap 999
  EXPECT_EQ(capture(3, 6'000, a2, 2'000, 999).reason, Reason::kCaptureOverTolerance);
  EXPECT_EQ(capture(4, 5'001, a2, 0, 0).reason, Reason::kCaptureOverTolerance);
  EXPECT_TRUE(capture(5, 5'000, a2, 0, 0).approved());
  // 100,000 - 6,000 - 5,000 = 89,000 left; a hold of 88,000 leaves 1,000 for a tip.
  Decision a3 = Authorize(88'000, "a3");
  EXPECT_EQ(capture(6, 89'001, a3, 2'000, 5'000).reason, Reason::kInsufficientFunds);
  EXPECT_TRUE(capture(7, 89'000, a3, 2'000, 5'000).approved());
  EXPECT_EQ(Balance(kCardholder), 0);
  auto b = store_->GetSettlementBatch("B1");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->held.captures_minor, 6'000 + 5'000 + 89'000);
  EXPECT_EQ(b->rejected_count, 4u);
  ExpectLedgerOk();
}

}  // namespace
}  // namespace kytkin::storage
