// Unit tests for every operation and every decline of the Store, on both backends.
#include "storage/store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <limits>
#include <thread>

#include "storage/test_util.h"

namespace kytkin::storage {
namespace {

using namespace kytkin::storage::testing;
using Backend = StoreOptions::Backend;

constexpr int64_t kDayUs = 86'400'000'000;

class StoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override { Reopen(); }

  StoreOptions Options() { return TestStoreOptions(GetParam(), dir_.path(), &clock_); }

  void Reopen() {
    store_.reset();
    auto s = Store::Open(Options());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }

  // Account `id` with `balance` and one active card; returns the PAN.
  Pan Funded(uint64_t id, int64_t balance, AccountKind kind = AccountKind::kCardholderDebit,
             Card card = Card{}) {
    Account a = TestAccount(id, kind);
    if (kind == AccountKind::kCardholderCredit) a.credit_limit_minor = 50'000;
    EXPECT_TRUE(store_->CreateAccount(a, balance).ok());
    Pan pan = TestPan(id);
    if (card.account_id == 0) card = TestCard(id);
    card.account_id = id;
    auto c = store_->CreateCard(pan, card);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return pan;
  }

  Decision Do(Request r) {
    auto d = store_->Execute(std::move(r));
    EXPECT_TRUE(d.ok()) << d.status().ToString();
    return d.ok() ? *d : Decision{};
  }

  Account AccountOf(uint64_t id) {
    auto a = store_->GetAccount(id);
    EXPECT_TRUE(a.ok());
    return a.ok() ? *a : Account{};
  }

  void ExpectLedgerAndJournalOk() { kytkin::storage::testing::ExpectLedgerAndJournalOk(*store_); }

  TempDir dir_;
  ManualClock clock_{kTestNowUnixUs};
  std::unique_ptr<Store> store_;
};

TEST_P(StoreTest, AuthorizeHoldsFundsAndJournals) {
  Pan pan = Funded(1, 10'000);
  Decision d = Do(TestRequest(Operation::kAuthorize, pan, 2'500, "k1"));
  EXPECT_EQ(d.response_code, ResponseCode::kApproved);
  EXPECT_EQ(d.auth_code.size(), 6u);
  EXPECT_NE(d.transfer_id, 0u);
  EXPECT_EQ(d.approved_amount, Amount(2'500, kEur));
  EXPECT_EQ(d.available, Amount(7'500, kEur));
  EXPECT_EQ(d.journal_sequence, 1u);
  EXPECT_FALSE(d.duplicate);
  Account a = AccountOf(1);
  EXPECT_EQ(a.debits_pending, 2'500);
  EXPECT_EQ(a.balance(), 10'000);
  auto t = store_->GetTransfer(d.transfer_id);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->kind, TransferKind::kPending);
  EXPECT_EQ(t->expires_unix_us, kTestNowUnixUs + 3600 * 1'000'000LL);
  ExpectLedgerAndJournalOk();
}

TEST_P(StoreTest, InsufficientFundsDeclines51) {
  Pan pan = Funded(1, 1'000);
  EXPECT_EQ(Do(TestRequest(Operation::kAuthorize, pan, 1'000, "a")).response_code,
            ResponseCode::kApproved);
  Decision d = Do(TestRequest(Operation::kAuthorize, pan, 1, "b"));
  EXPECT_EQ(d.response_code, ResponseCode::kInsufficientFunds);
  EXPECT_EQ(d.reason, Reason::kInsufficientFunds);
  EXPECT_TRUE(d.auth_code.empty());
  EXPECT_EQ(d.transfer_id, 0u);
  EXPECT_EQ(Do(TestRequest(Operation::kPurchase, pan, 1, "c")).response_code,
            ResponseCode::kInsufficientFunds);
  ExpectLedgerAndJournalOk();
}

TEST_P(StoreTest, CreditAccountUsesItsLimit) {
  Pan pan = Funded(1, 0, AccountKind::kCardholderCredit);  // limit 50'000
  EXPECT_EQ(Do(TestRequest(Operation::kPurchase, pan, 50'000, "a")).response_code,
            ResponseCode::kApproved);
  EXPECT_EQ(AccountOf(1).balance(), -50'000);
  EXPECT_EQ(Do(TestRequest(Operation::kPurchase, pan, 1, "b")).response_code,
            ResponseCode::kInsufficientFunds);
  ExpectLedgerAndJournalOk();
}

TEST_P(StoreTest, UnknownCardDeclines14) {
  Funded(1, 1'000);
  Decision d = Do(TestRequest(Operation::kAuthorize, TestPan(99), 100, "a"));
  EXPECT_EQ(d.response_code, ResponseCode::kInvalidCardNumber);
  EXPECT_EQ(d.reason, Reason::kUnknownCard);
}

TEST_P(StoreTest, CardStatusDeclines) {
  Pan pan = Funded(1, 1'000);
  const std::string token = store_->CardToken(pan);
  struct Case {
    CardStatus status;
    ResponseCode code;
  };
  for (Case c : {Case{CardStatus::kLost, ResponseCode::kLostCard},
                 Case{CardStatus::kStolen, ResponseCode::kStolenCard},
                 Case{CardStatus::kBlocked, ResponseCode::kRestrictedCard},
                 Case{CardStatus::kInactive, ResponseCode::kRestrictedCard},
                 Case{CardStatus::kExpired, ResponseCode::kExpiredCard}}) {
    ASSERT_TRUE(store_->SetCardStatus(token, c.status).ok());
    Decision d = Do(
        TestRequest(Operation::kAuthorize, pan, 100, "k" + std::string(CardStatusName(c.status))));
    EXPECT_EQ(d.response_code, c.code) << CardStatusName(c.status);
  }
  ASSERT_TRUE(store_->SetCardStatus(token, CardStatus::kActive).ok());
  EXPECT_EQ(Do(TestRequest(Operation::kAuthorize, pan, 100, "ok")).response_code,
            ResponseCode::kApproved);
  EXPECT_TRUE(store_->SetCardStatus(std::string(64, '0'), CardStatus::kLost).IsNotFound());
}

TEST_P(StoreTest, BlockedAccountDeclines62) {
  Pan pan = Funded(1, 1'000);
  ASSERT_TRUE(store_->SetAccountStatus(1, AccountStatus::kBlocked).ok());
  EXPECT_EQ(Do(TestRequest(Operation::kAuthorize, pan, 100, "a")).response_code,
            ResponseCode::kRestrictedCard);
}

TEST_P(StoreTest, ExpiryDateDeclines54WithInjectedClock) {
  Card card = TestCard(1);
  card.expiry_year = 2026;
  card.expiry_month = 6;  // valid through 2026-06-30
  Pan pan = Funded(1, 1'000, AccountKind::kCardholderDebit, card);
  EXPECT_EQ(Do(TestRequest(Operation::kAuthorize, pan, 100, "a")).response_code,
            ResponseCode::kApproved);
  clock_.Set(1'782'864'000'000'000);  // 2026-07-01T00:00:00Z
  Decision d = Do(TestRequest(Operation::kAuthorize, pan, 100, "b"));
  EXPECT_EQ(d.response_code, ResponseCode::kExpiredCard);
  EXPECT_EQ(d.reason, Reason::kCardExpired);
  clock_.Set(1'782'864'000'000'000 - 1);  // the last microsecond of June
  EXPECT_EQ(Do(TestRequest(Operation::kAuthorize, pan, 100, "c")).response_code,
            ResponseCode::kApproved);
}

TEST_P(StoreTest, CurrencyMismatchAndBadAmountDecline13) {
  Pan pan = Funded(1, 1'000);
  Decision d = Do(TestRequest(Operation::kAuthorize, pan, 100, "a", kUsd));
  EXPECT_EQ(d.response_code, ResponseCode::kInvalidAmount);
  EXPECT_EQ(d.reason, Reason::kCurrencyMismatch);
  d = Do(TestRequest(Operation::kAuthorize, pan, 0, "b"));
  EXPECT_EQ(d.reason, Reason::kInvalidAmount);
  d = Do(TestRequest(Operation::kPurchase, pan, -5, "c"));
  EXPECT_EQ(d.response_code, ResponseCode::kInvalidAmount);
}

TEST_P(StoreTest, SingleAmountLimitDeclines61) {
  Card card = TestCard(1);
  card.single_amount_max_minor = 500;
  Pan pan = Funded(1, 10'000, AccountKind::kCardholderDebit, card);
  EXPECT_EQ(Do(TestRequest(Operation::kAuthorize, pan, 500, "a")).response_code,
            ResponseCode::kApproved);
  Decision d = Do(TestRequest(Operation::kAuthorize, pan, 501, "b"));
  EXPECT_EQ(d.response_code, ResponseCode::kExceedsAmountLimit);
  EXPECT_EQ(d.reason, Reason::kSingleAmountLimit);
}

TEST_P(StoreTest, DailyAmountLimitDeclines61AndResetsNextDay) {
  Card card = TestCard(1);
  card.daily_amount_max_minor = 1'000;
  Pan pan = Funded(1, 10'000, AccountKind::kCardholderDebit, card);
  EXPECT_TRUE(Do(TestRequest(Operation::kAuthorize, pan, 600, "a")).approved());
  EXPECT_TRUE(Do(TestRequest(Operation::kPurchase, pan, 400, "b")).approved());
  Decision d = Do(TestRequest(Operation::kAuthorize, pan, 1, "c"));
  EXPECT_EQ(d.response_code, ResponseCode::kExceedsAmountLimit);
  EXPECT_EQ(d.reason, Reason::kDailyAmountLimit);
  if (GetParam() == Backend::kRocksDb) {
    // The counter survives a restart (it is written with the transfer).
    Reopen();
    EXPECT_EQ(Do(TestRequest(Operation::kAuthorize, pan, 1, "d")).reason,
              Reason::kDailyAmountLimit);
  }
  clock_.Advance(kDayUs);
  EXPECT_TRUE(Do(TestRequest(Operation::kAuthorize, pan, 1'000, "e")).approved());
}

TEST_P(StoreTest, ReversalGivesBackTodaysVelocity) {
  Card card = TestCard(1);
  card.daily_count_max = 1;
  card.daily_amount_max_minor = 1'000;
  Pan pan = Funded(1, 10'000, AccountKind::kCardholderDebit, card);
  Decision hold = Do(TestRequest(Operation::kAuthorize, pan, 1'000, "a"));
  EXPECT_EQ(Do(TestRequest(Operation::kAuthorize, pan, 1, "b")).reason, Reason::kDailyAmountLimit);
  EXPECT_TRUE(Do(OriginalRequest(Operation::kReverse, hold.transfer_id, 0, "v")).approved());
  Decision p = Do(TestRequest(Operation::kPurchase, pan, 1'000, "c"));
  EXPECT_TRUE(p.approved());
  EXPECT_EQ(Do(TestRequest(Operation::kPurchase, pan, 1, "d")).reason, Reason::kDailyAmountLimit);
  EXPECT_TRUE(Do(OriginalRequest(Operation::kReverse, p.transfer_id, 0, "r")).approved());
  EXPECT_TRUE(Do(TestRequest(Operation::kPurchase, pan, 1'000, "e")).approved());
}

TEST_P(StoreTest, ResolutionsCarryTheOriginalsCardInTheJournal) {
  Pan pan = Funded(1, 10'000);
  Decision hold = Do(TestRequest(Operation::kAuthorize, pan, 1'000, "a"));
  Decision cap = Do(OriginalRequest(Operation::kCapture, hold.transfer_id, 0, "c"));
  EXPECT_EQ(cap.card_token, store_->CardToken(pan));
  EXPECT_EQ(store_->GetTransfer(cap.transfer_id)->card_token, store_->CardToken(pan));
  Decision hold2 = Do(TestRequest(Operation::kAuthorize, pan, 1'000, "b"));
  clock_.Advance(3600 * 1'000'000LL);
  ASSERT_EQ(*store_->SweepExpiredHolds(), 1u);
  std::vector<JournalRecord> records;
  ASSERT_TRUE(store_
                  ->ExportJournal(0, 0,
                                  [&](const JournalRecord& j) {
                                    records.push_back(j);
                                    return true;
                                  })
                  .ok());
  ASSERT_EQ(records.size(), 4u);
  for (const JournalRecord& j : records) {
    EXPECT_EQ(j.card_token, store_->CardToken(pan)) << OperationName(j.operation);
    EXPECT_EQ(j.masked_pan, pan.masked()) << OperationName(j.operation);
  }
  EXPECT_EQ(records[3].operation, Operation::kExpire);
  EXPECT_EQ(store_->GetTransfer(hold2.transfer_id)->state, TransferState::kExpired);
}

TEST_P(StoreTest, DailyCountLimitDeclines65) {
  Card card = TestCard(1);
  card.daily_count_max = 2;
  Pan pan = Funded(1, 10'000, AccountKind::kCardholderDebit, card);
  EXPECT_TRUE(Do(TestRequest(Operation::kAuthorize, pan, 1, "a")).approved());
  EXPECT_TRUE(Do(TestRequest(Operation::kAuthorize, pan, 1, "b")).approved());
  Decision d = Do(TestRequest(Operation::kAuthorize, pan, 1, "c"));
  EXPECT_EQ(d.response_code, ResponseCode::kExceedsFrequencyLimit);
  EXPECT_EQ(d.reason, Reason::kDailyCountLimit);
  // A decline does not count: still declined, not approved by a reset.
  EXPECT_EQ(Do(TestRequest(Operation::kAuthorize, pan, 1, "d")).reason, Reason::kDailyCountLimit);
}

TEST_P(StoreTest, CaptureFullPostsTheHold) {
  Pan pan = Funded(1, 10'000);
  Decision hold = Do(TestRequest(Operation::kAuthorize, pan, 3'000, "a"));
  Decision cap = Do(OriginalRequest(Operation::kCapture, hold.transfer_id, 0, "cap"));
  EXPECT_EQ(cap.response_code, ResponseCode::kApproved);
  EXPECT_EQ(cap.approved_amount, Amount(3'000, kEur));
  Account a = AccountOf(1);
  EXPECT_EQ(a.debits_pending, 0);
  EXPECT_EQ(a.balance(), 7'000);
  EXPECT_EQ(AccountOf(SettlementAccountId(kEur)).balance(), -7'000);
  auto t = store_->GetTransfer(hold.transfer_id);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->state, TransferState::kPosted);
  EXPECT_EQ(t->resolved_by, cap.transfer_id);
  ExpectLedgerAndJournalOk();
}

TEST_P(StoreTest, CapturePartialReleasesTheRest) {
  Pan pan = Funded(1, 10'000);
  Decision hold = Do(TestRequest(Operation::kAuthorize, pan, 3'000, "a"));
  Decision cap = Do(OriginalRequest(Operation::kCapture, hold.transfer_id, 1'200, "cap"));
  EXPECT_TRUE(cap.approved());
  Account a = AccountOf(1);
  EXPECT_EQ(a.debits_pending, 0);
  EXPECT_EQ(a.balance(), 8'800);
  EXPECT_EQ(cap.available, Amount(8'800, kEur));
  ExpectLedgerAndJournalOk();
}

TEST_P(StoreTest, CaptureByOriginalRequestKey) {
  Pan pan = Funded(1, 10'000);
  Do(TestRequest(Operation::kAuthorize, pan, 3'000, "auth-key"));
  Request r = OriginalRequest(Operation::kCapture, 0, 0, "cap");
  r.original_request_key = "auth-key";
  EXPECT_TRUE(Do(r).approved());
  EXPECT_EQ(AccountOf(1).balance(), 7'000);
}

TEST_P(StoreTest, OverCaptureIsRejected) {
  Pan pan = Funded(1, 10'000);
  Decision hold = Do(TestRequest(Operation::kAuthorize, pan, 3'000, "a"));
  Decision cap = Do(OriginalRequest(Operation::kCapture, hold.transfer_id, 3'001, "cap"));
  EXPECT_EQ(cap.response_code, ResponseCode::kInvalidAmount);
  EXPECT_EQ(cap.reason, Reason::kCaptureExceedsHold);
  EXPECT_EQ(AccountOf(1).debits_pending, 3'000);  // the hold is untouched
}

TEST_P(StoreTest, DoublePostAndPostAfterVoidAreRejected) {
  Pan pan = Funded(1, 10'000);
  Decision h1 = Do(TestRequest(Operation::kAuthorize, pan, 1'000, "a"));
  EXPECT_TRUE(Do(OriginalRequest(Operation::kCapture, h1.transfer_id, 0, "c1")).approved());
  Decision again = Do(OriginalRequest(Operation::kCapture, h1.transfer_id, 0, "c2"));
  EXPECT_EQ(again.response_code, ResponseCode::kInvalidTransaction);
  EXPECT_EQ(again.reason, Reason::kAlreadyResolved);

  Decision h2 = Do(TestRequest(Operation::kAuthorize, pan, 1'000, "b"));
  EXPECT_TRUE(Do(OriginalRequest(Operation::kReverse, h2.transfer_id, 0, "v1")).approved());
  EXPECT_EQ(Do(OriginalRequest(Operation::kCapture, h2.transfer_id, 0, "c3")).reason,
            Reason::kAlreadyResolved);
  EXPECT_EQ(AccountOf(1).balance(), 9'000);
  ExpectLedgerAndJournalOk();
}

TEST_P(StoreTest, VoidReleasesHoldAndDoubleVoidIsRejected) {
  Pan pan = Funded(1, 10'000);
  Decision hold = Do(TestRequest(Operation::kAuthorize, pan, 4'000, "a"));
  Decision v = Do(OriginalRequest(Operation::kReverse, hold.transfer_id, 0, "v1"));
  EXPECT_TRUE(v.approved());
  EXPECT_EQ(v.available, Amount(10'000, kEur));
  Account a = AccountOf(1);
  EXPECT_EQ(a.debits_pending, 0);
  EXPECT_EQ(a.balance(), 10'000);
  Decision v2 = Do(OriginalRequest(Operation::kReverse, hold.transfer_id, 0, "v2"));
  EXPECT_EQ(v2.response_code, ResponseCode::kInvalidTransaction);
  EXPECT_EQ(v2.reason, Reason::kAlreadyResolved);
  ExpectLedgerAndJournalOk();
}

TEST_P(StoreTest, UnknownOriginalDeclines25) {
  Funded(1, 10'000);
  EXPECT_EQ(Do(OriginalRequest(Operation::kCapture, 12345, 0, "a")).response_code,
            ResponseCode::kUnableToLocateOriginal);
  Request r = OriginalRequest(Operation::kReverse, 0, 0, "b");
  r.original_request_key = "never-seen";
  EXPECT_EQ(Do(r).response_code, ResponseCode::kUnableToLocateOriginal);
}

TEST_P(StoreTest, ExpiredHoldCannotBeCapturedAndSweeperReleasesIt) {
  Pan pan = Funded(1, 10'000);
  Decision hold = Do(TestRequest(Operation::kAuthorize, pan, 4'000, "a"));
  auto none = store_->SweepExpiredHolds();
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, 0u);
  clock_.Advance(3600 * 1'000'000LL);  // exactly the TTL
  Decision cap = Do(OriginalRequest(Operation::kCapture, hold.transfer_id, 0, "c"));
  EXPECT_EQ(cap.response_code, ResponseCode::kInvalidTransaction);
  EXPECT_EQ(cap.reason, Reason::kHoldExpired);
  auto swept = store_->SweepExpiredHolds();
  ASSERT_TRUE(swept.ok());
  EXPECT_EQ(*swept, 1u);
  EXPECT_EQ(AccountOf(1).available(), 10'000);
  EXPECT_EQ(store_->GetTransfer(hold.transfer_id)->state, TransferState::kExpired);
  EXPECT_EQ(Do(OriginalRequest(Operation::kCapture, hold.transfer_id, 0, "c2")).reason,
            Reason::kHoldExpired);
  EXPECT_EQ(Do(OriginalRequest(Operation::kReverse, hold.transfer_id, 0, "v")).reason,
            Reason::kHoldExpired);
  ExpectLedgerAndJournalOk();
}

TEST_P(StoreTest, AutomaticSweepRunsOnTheLedgerThread) {
  StoreOptions o = Options();
  o.sweep_interval_ms = 5;
  store_.reset();
  store_ = std::move(Store::Open(o)).value();
  Pan pan = Funded(1, 10'000);
  Decision hold = Do(TestRequest(Operation::kAuthorize, pan, 4'000, "a"));
  clock_.Advance(3601 * 1'000'000LL);
  for (int i = 0;
       i < 400 && store_->GetTransfer(hold.transfer_id)->state == TransferState::kPending; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(store_->GetTransfer(hold.transfer_id)->state, TransferState::kExpired);
}

TEST_P(StoreTest, PurchasePostsAndReverseUndoesItOnce) {
  Pan pan = Funded(1, 10'000);
  Decision p = Do(TestRequest(Operation::kPurchase, pan, 2'000, "p"));
  EXPECT_TRUE(p.approved());
  EXPECT_EQ(AccountOf(1).balance(), 8'000);
  EXPECT_EQ(store_->GetTransfer(p.transfer_id)->kind, TransferKind::kPosted);
  Request rev = OriginalRequest(Operation::kReverse, 0, 0, "r1");
  rev.original_request_key = "p";
  EXPECT_TRUE(Do(rev).approved());
  EXPECT_EQ(AccountOf(1).balance(), 10'000);
  rev.request_key = "r2";
  EXPECT_EQ(Do(rev).reason, Reason::kAlreadyResolved);
  EXPECT_EQ(AccountOf(1).balance(), 10'000);
  ExpectLedgerAndJournalOk();
}

TEST_P(StoreTest, ReverseOfCapturedHoldReturnsThePostedAmount) {
  Pan pan = Funded(1, 10'000);
  Decision hold = Do(TestRequest(Operation::kAuthorize, pan, 3'000, "a"));
  EXPECT_TRUE(Do(OriginalRequest(Operation::kCapture, hold.transfer_id, 2'000, "c")).approved());
  EXPECT_TRUE(Do(OriginalRequest(Operation::kReverse, hold.transfer_id, 0, "r")).approved());
  EXPECT_EQ(AccountOf(1).balance(), 10'000);
  EXPECT_EQ(Do(OriginalRequest(Operation::kReverse, hold.transfer_id, 0, "r2")).reason,
            Reason::kAlreadyResolved);
  ExpectLedgerAndJournalOk();
}

TEST_P(StoreTest, RefundCreditsTheCardholder) {
  Pan pan = Funded(1, 0);
  Decision d = Do(TestRequest(Operation::kRefund, pan, 700, "r"));
  EXPECT_TRUE(d.approved());
  EXPECT_EQ(AccountOf(1).balance(), 700);
  EXPECT_EQ(d.available, Amount(700, kEur));
  // Reversing the refund takes it back, but never below zero.
  EXPECT_TRUE(Do(TestRequest(Operation::kPurchase, pan, 500, "p")).approved());
  Request rev = OriginalRequest(Operation::kReverse, d.transfer_id, 0, "rr");
  EXPECT_EQ(Do(rev).response_code, ResponseCode::kInsufficientFunds);
  ExpectLedgerAndJournalOk();
}

TEST_P(StoreTest, RefundFromAFlaggedMerchantNeedsFunds) {
  Pan pan = Funded(1, 0);
  Account merchant = TestAccount(2, AccountKind::kMerchant);
  merchant.flags = kFlagDebitsMustNotExceedCredits;
  ASSERT_TRUE(store_->CreateAccount(merchant, 100).ok());
  Request r = TestRequest(Operation::kRefund, pan, 101, "r");
  r.counterparty_account = 2;
  EXPECT_EQ(Do(r).response_code, ResponseCode::kInsufficientFunds);
  r.amount = Amount(100, kEur);
  r.request_key = "r2";
  EXPECT_TRUE(Do(r).approved());
  r.counterparty_account = 777;  // no such account
  r.request_key = "r3";
  EXPECT_EQ(Do(r).response_code, ResponseCode::kInvalidTransaction);
}

TEST_P(StoreTest, BalanceInquiryChangesNothing) {
  Pan pan = Funded(1, 5'000);
  Do(TestRequest(Operation::kAuthorize, pan, 1'000, "a"));
  Request r = TestRequest(Operation::kBalanceInquiry, pan, 0, "b");
  r.amount = Amount(0, 0);
  Decision d = Do(r);
  EXPECT_EQ(d.response_code, ResponseCode::kApproved);
  EXPECT_EQ(d.available, Amount(4'000, kEur));
  EXPECT_EQ(d.transfer_id, 0u);
  EXPECT_EQ(AccountOf(1).debits_pending, 1'000);
}

TEST_P(StoreTest, GiftCardActivateAndReload) {
  Card card = TestCard(1);
  card.status = CardStatus::kInactive;
  Pan pan = Funded(1, 0, AccountKind::kPrepaid, card);
  EXPECT_EQ(Do(TestRequest(Operation::kPurchase, pan, 1, "p0")).response_code,
            ResponseCode::kRestrictedCard);
  EXPECT_EQ(Do(TestRequest(Operation::kGiftReload, pan, 1, "r0")).response_code,
            ResponseCode::kRestrictedCard);
  Decision act = Do(TestRequest(Operation::kGiftActivate, pan, 2'500, "act"));
  EXPECT_TRUE(act.approved());
  EXPECT_EQ(act.available, Amount(2'500, kEur));
  EXPECT_EQ(Do(TestRequest(Operation::kGiftActivate, pan, 100, "act2")).reason,
            Reason::kAlreadyResolved);
  EXPECT_TRUE(Do(TestRequest(Operation::kGiftReload, pan, 500, "r1")).approved());
  EXPECT_EQ(AccountOf(1).balance(), 3'000);
  EXPECT_EQ(Do(TestRequest(Operation::kGiftReload, pan, 0, "r2")).reason, Reason::kInvalidAmount);
  EXPECT_TRUE(Do(TestRequest(Operation::kPurchase, pan, 3'000, "p1")).approved());
  EXPECT_EQ(Do(TestRequest(Operation::kPurchase, pan, 1, "p2")).response_code,
            ResponseCode::kInsufficientFunds);
  ExpectLedgerAndJournalOk();
}

TEST_P(StoreTest, AdviceForcesPostWithoutLimitsAndIsIdempotent) {
  Card card = TestCard(1);
  card.single_amount_max_minor = 10;
  Pan pan = Funded(1, 0, AccountKind::kCardholderCredit, card);  // credit limit 50'000
  ASSERT_TRUE(store_->SetCardStatus(store_->CardToken(pan), CardStatus::kBlocked).ok());
  Request r = TestRequest(Operation::kAdvice, pan, 60'000, "adv");  // past the credit limit
  Decision d = Do(r);
  EXPECT_TRUE(d.approved());
  EXPECT_EQ(AccountOf(1).balance(), -60'000);
  Decision again = Do(r);
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.transfer_id, d.transfer_id);
  EXPECT_EQ(AccountOf(1).balance(), -60'000);
  ExpectLedgerAndJournalOk();
}

TEST_P(StoreTest, AdviceNeverOverdrawsADebitAccount) {
  Pan pan = Funded(1, 100);
  Decision d = Do(TestRequest(Operation::kAdvice, pan, 101, "adv"));
  EXPECT_EQ(d.response_code, ResponseCode::kInsufficientFunds);
  EXPECT_EQ(d.reason, Reason::kAdviceWouldOverdraw);
  EXPECT_TRUE(Do(TestRequest(Operation::kAdvice, pan, 100, "adv2")).approved());
  ExpectLedgerAndJournalOk();
}

TEST_P(StoreTest, RetransmissionReturnsTheOriginalDecision) {
  Pan pan = Funded(1, 10'000);
  Request r = TestRequest(Operation::kAuthorize, pan, 1'000, "dup");
  Decision first = Do(r);
  r.mti = "0101";  // a repeat is the same request
  Decision second = Do(r);
  EXPECT_TRUE(second.duplicate);
  EXPECT_EQ(second.transfer_id, first.transfer_id);
  EXPECT_EQ(second.auth_code, first.auth_code);
  EXPECT_EQ(second.journal_sequence, first.journal_sequence);
  EXPECT_EQ(AccountOf(1).debits_pending, 1'000);  // held once
  // Declines are remembered too.
  Request big = TestRequest(Operation::kAuthorize, pan, 1'000'000, "dup-decline");
  EXPECT_EQ(Do(big).response_code, ResponseCode::kInsufficientFunds);
  Decision big2 = Do(big);
  EXPECT_TRUE(big2.duplicate);
  EXPECT_EQ(big2.response_code, ResponseCode::kInsufficientFunds);
  if (GetParam() != Backend::kRocksDb) return;
  // And survive a restart.
  Reopen();
  Decision third = Do(r);
  EXPECT_TRUE(third.duplicate);
  EXPECT_EQ(third.transfer_id, first.transfer_id);
}

TEST_P(StoreTest, FindDecisionLooksUpTheDedupeIndex) {
  Pan pan = Funded(1, 10'000);
  Decision d = Do(TestRequest(Operation::kAuthorize, pan, 1'000, "find-me"));
  auto found = store_->FindDecision("find-me");
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->transfer_id, d.transfer_id);
  EXPECT_EQ(found->auth_code, d.auth_code);
  EXPECT_TRUE(store_->FindDecision("unknown").status().IsNotFound());
}

TEST_P(StoreTest, SameKeyDifferentContentDeclines94) {
  Pan pan = Funded(1, 10'000);
  Do(TestRequest(Operation::kAuthorize, pan, 1'000, "key"));
  Decision d = Do(TestRequest(Operation::kAuthorize, pan, 1'001, "key"));
  EXPECT_EQ(d.response_code, ResponseCode::kDuplicateTransmission);
  EXPECT_EQ(d.reason, Reason::kDuplicateConflict);
  EXPECT_FALSE(d.duplicate);
  EXPECT_EQ(AccountOf(1).debits_pending, 1'000);
}

TEST_P(StoreTest, BadRequestFieldsDecline30) {
  Pan pan = Funded(1, 10'000);
  Request r = TestRequest(Operation::kAuthorize, pan, 100, std::string(129, 'k'));
  EXPECT_EQ(Do(r).response_code, ResponseCode::kFormatError);
  r = TestRequest(Operation::kAuthorize, pan, 100, "x");
  r.terminal_id = std::string(65, 'T');
  EXPECT_EQ(Do(r).response_code, ResponseCode::kFormatError);
  r = TestRequest(Operation::kAuthorize, pan, 100, "y");
  r.pan.reset();  // no card at all
  EXPECT_EQ(Do(r).response_code, ResponseCode::kFormatError);
  r.operation = Operation::kExpire;  // internal only
  r.pan = pan;
  r.request_key = "z";
  EXPECT_EQ(Do(r).response_code, ResponseCode::kFormatError);
  ExpectLedgerAndJournalOk();
}

TEST_P(StoreTest, CardTokenInsteadOfPan) {
  Pan pan = Funded(1, 10'000);
  Request r = TestRequest(Operation::kAuthorize, pan, 100, "t");
  r.pan.reset();
  r.card_token = store_->CardToken(pan);
  EXPECT_TRUE(Do(r).approved());
}

TEST_P(StoreTest, AdminValidation) {
  EXPECT_EQ(store_->CreateAccount(TestAccount(0)).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(store_->CreateAccount(TestAccount(SettlementAccountId(kEur))).code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(store_->CreateAccount(TestAccount(5, AccountKind::kMerchant, 999)).code(),
            Status::Code::kInvalidArgument);
  ASSERT_TRUE(store_->CreateAccount(TestAccount(5)).ok());
  EXPECT_EQ(store_->CreateAccount(TestAccount(5)).code(), Status::Code::kAlreadyExists);
  EXPECT_EQ(store_->CreateCard(TestPan(1), TestCard(6)).status().code(), Status::Code::kNotFound);
  Card bad = TestCard(5);
  bad.expiry_month = 13;
  EXPECT_EQ(store_->CreateCard(TestPan(1), bad).status().code(), Status::Code::kInvalidArgument);
  auto c = store_->CreateCard(TestPan(1), TestCard(5));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->masked_pan, TestPan(1).masked());
  EXPECT_EQ(c->token.size(), 64u);
  EXPECT_EQ(store_->CreateCard(TestPan(1), TestCard(5)).status().code(),
            Status::Code::kAlreadyExists);
  EXPECT_TRUE(store_->GetAccount(6).status().IsNotFound());
}

// Cards and accounts are kept in a packed form (compact_records.h): every field must come back
// through the admin calls as it went in, and again after a restart rebuilds the cache.
TEST_P(StoreTest, CardsAndAccountsKeepEveryFieldAcrossReopen) {
  Account merchant = TestAccount(7, AccountKind::kMerchant);
  merchant.name = "Kahvila Oy";
  ASSERT_TRUE(store_->CreateAccount(merchant).ok());
  Account credit = TestAccount(8, AccountKind::kCardholderCredit);
  credit.credit_limit_minor = 9'000'000'000'000'000'000;
  credit.name.clear();  // most accounts have none: no entry in the names beside the records
  credit.status = AccountStatus::kBlocked;
  ASSERT_TRUE(store_->CreateAccount(credit).ok());
  ASSERT_TRUE(store_->SetAccountStatus(8, AccountStatus::kOpen).ok());

  Card limits = TestCard(8);
  limits.expiry_year = 2099;
  limits.expiry_month = 12;
  limits.single_amount_max_minor = std::numeric_limits<int64_t>::max();
  limits.daily_amount_max_minor = std::numeric_limits<int64_t>::max();
  limits.daily_count_max = std::numeric_limits<uint32_t>::max();
  Card gift = TestCard(7);
  gift.status = CardStatus::kInactive;
  gift.expiry_year = 2027;
  gift.expiry_month = 1;
  struct Made {
    Pan pan;
    Card card;
  };
  std::vector<Made> made;
  for (const auto& [digits, card] :
       {std::pair<std::string, Card>{"400000000000000000", limits},  // 19 digits with its check
        std::pair<std::string, Card>{"52000000000", gift}}) {        // 12 digits
    auto pan = Pan::Parse(digits + Pan::LuhnCheckDigit(digits));
    ASSERT_TRUE(pan.ok());
    auto created = store_->CreateCard(*pan, card);
    ASSERT_TRUE(created.ok()) << created.status().ToString();
    made.push_back({*pan, *created});
  }
  ASSERT_TRUE(store_->SetCardStatus(made[0].card.token, CardStatus::kStolen).ok());
  made[0].card.status = CardStatus::kStolen;

  auto expect_same = [&](const char* when) {
    for (const Made& m : made) {
      auto card = store_->GetCard(store_->CardToken(m.pan));
      ASSERT_TRUE(card.ok()) << when << ": " << card.status().ToString();
      EXPECT_EQ(card->token, m.card.token) << when;
      EXPECT_EQ(card->masked_pan, m.pan.masked()) << when;
      EXPECT_EQ(card->account_id, m.card.account_id) << when;
      EXPECT_EQ(card->expiry_year, m.card.expiry_year) << when;
      EXPECT_EQ(card->expiry_month, m.card.expiry_month) << when;
      EXPECT_EQ(card->status, m.card.status) << when;
      EXPECT_EQ(card->single_amount_max_minor, m.card.single_amount_max_minor) << when;
      EXPECT_EQ(card->daily_amount_max_minor, m.card.daily_amount_max_minor) << when;
      EXPECT_EQ(card->daily_count_max, m.card.daily_count_max) << when;
    }
    Account m = AccountOf(7);
    EXPECT_EQ(m.name, "Kahvila Oy") << when;
    EXPECT_EQ(m.kind, AccountKind::kMerchant) << when;
    Account c = AccountOf(8);
    EXPECT_EQ(c.name, "") << when;
    EXPECT_EQ(c.kind, AccountKind::kCardholderCredit) << when;
    EXPECT_EQ(c.status, AccountStatus::kOpen) << when;
    EXPECT_EQ(c.credit_limit_minor, 9'000'000'000'000'000'000) << when;
    EXPECT_EQ(AccountOf(SettlementAccountId(kEur)).name, "issuer settlement 978") << when;
  };
  // The settlement account (named by the store) appears with the first money movement.
  ASSERT_TRUE(store_->SetCardStatus(made[0].card.token, CardStatus::kActive).ok());
  EXPECT_TRUE(Do(TestRequest(Operation::kPurchase, made[0].pan, 1'000'000, "big")).approved());
  ASSERT_TRUE(store_->SetCardStatus(made[0].card.token, CardStatus::kStolen).ok());
  expect_same("before reopen");
  if (GetParam() == Backend::kRocksDb) {
    Reopen();
    expect_same("after reopen");
  }
  EXPECT_EQ(Do(TestRequest(Operation::kPurchase, made[0].pan, 1, "stolen")).response_code,
            ResponseCode::kStolenCard);
  EXPECT_EQ(Do(TestRequest(Operation::kGiftActivate, made[1].pan, 0, "act")).response_code,
            ResponseCode::kApproved);
  EXPECT_EQ(store_->GetCard(made[1].card.token)->status, CardStatus::kActive);
  ExpectLedgerAndJournalOk();
}

// A card's daily counters live in its packed record: they must count, survive a restart (read
// back from the velocity column family into the record) and start again the next UTC day.
TEST_P(StoreTest, CardVelocityCountsSurvivesReopenAndResetsNextDay) {
  Card card = TestCard(1);
  card.daily_count_max = 2;
  card.daily_amount_max_minor = 10'000;
  Pan pan = Funded(1, 100'000, AccountKind::kCardholderDebit, card);
  EXPECT_TRUE(Do(TestRequest(Operation::kPurchase, pan, 400, "p1")).approved());
  EXPECT_EQ(Do(TestRequest(Operation::kPurchase, pan, 9'700, "p2")).reason,
            Reason::kDailyAmountLimit);  // 400 + 9,700 > 10,000
  Decision hold = Do(TestRequest(Operation::kAuthorize, pan, 600, "p3"));
  EXPECT_TRUE(hold.approved());
  if (GetParam() == Backend::kRocksDb) Reopen();
  Decision third = Do(TestRequest(Operation::kPurchase, pan, 1, "p4"));
  EXPECT_EQ(third.response_code, ResponseCode::kExceedsFrequencyLimit);
  EXPECT_EQ(third.reason, Reason::kDailyCountLimit);
  // Reversing today's hold gives its count and amount back (in the record too).
  EXPECT_TRUE(Do(OriginalRequest(Operation::kReverse, hold.transfer_id, 0, "r3")).approved());
  EXPECT_TRUE(Do(TestRequest(Operation::kPurchase, pan, 600, "p5")).approved());
  EXPECT_EQ(Do(TestRequest(Operation::kPurchase, pan, 1, "p6")).reason, Reason::kDailyCountLimit);
  clock_.Advance(kDayUs);
  EXPECT_TRUE(Do(TestRequest(Operation::kPurchase, pan, 9'000, "p7")).approved());
  ExpectLedgerAndJournalOk();
}

TEST_P(StoreTest, MalformedCardTokensAreRefusedNamingTheField) {
  Pan pan = Funded(1, 10'000);
  const std::string token = store_->CardToken(pan);
  std::string upper = token;
  for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  for (const std::string& bad : {std::string("tok_1"), token.substr(1), token + "0", upper}) {
    auto card = store_->GetCard(bad);
    ASSERT_FALSE(card.ok()) << bad;
    EXPECT_EQ(card.status().code(), Status::Code::kInvalidArgument) << bad;
    EXPECT_NE(card.status().message().find("card_token"), std::string::npos)
        << card.status().ToString();
    EXPECT_EQ(store_->SetCardStatus(bad, CardStatus::kLost).code(), Status::Code::kInvalidArgument);
  }
  // Well formed but unknown: NotFound, as before.
  EXPECT_TRUE(store_->GetCard(std::string(64, 'f')).status().IsNotFound());
  // A status the store does not know is refused, on create and on change.
  Status bad_status = store_->SetCardStatus(token, static_cast<CardStatus>(9));
  EXPECT_EQ(bad_status.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(bad_status.message().find("status"), std::string::npos);
  Card odd = TestCard(1);
  odd.status = static_cast<CardStatus>(0);
  EXPECT_EQ(store_->CreateCard(TestPan(2), odd).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(store_->GetCard(token)->status, CardStatus::kActive);
  // On the data path a malformed token names no card: 14, as an unknown one.
  Request r = TestRequest(Operation::kAuthorize, pan, 100, "m");
  r.pan.reset();
  r.card_token = "not-a-token";
  Decision d = Do(r);
  EXPECT_EQ(d.response_code, ResponseCode::kInvalidCardNumber);
  EXPECT_EQ(d.reason, Reason::kUnknownCard);
}

TEST_P(StoreTest, ImportAppliesEachRowWholeOrNotAtAll) {
  std::vector<Store::ImportRow> rows(4);
  rows[0].account = TestAccount(1);
  rows[0].opening_balance_minor = 500;
  rows[0].pan = TestPan(1);
  rows[0].card = TestCard(0);
  rows[1].account = TestAccount(2);  // its card is bad: the account must not appear either
  rows[1].pan = TestPan(2);
  rows[1].card = TestCard(0);
  rows[1].card.expiry_month = 0;
  rows[2].pan = TestPan(3);  // a second card for account 1
  rows[2].card = TestCard(1);
  rows[3].pan = TestPan(1);  // duplicate PAN
  rows[3].card = TestCard(1);
  auto result = store_->Import(rows);
  ASSERT_TRUE(result.ok());
  ASSERT_EQ(result->size(), 4u);
  EXPECT_TRUE((*result)[0].ok());
  EXPECT_EQ((*result)[1].code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE((*result)[2].ok());
  EXPECT_EQ((*result)[3].code(), Status::Code::kAlreadyExists);
  EXPECT_TRUE(store_->GetAccount(2).status().IsNotFound());
  EXPECT_EQ(AccountOf(1).balance(), 500);
  EXPECT_TRUE(Do(TestRequest(Operation::kPurchase, TestPan(3), 500, "p")).approved());
  ExpectLedgerAndJournalOk();
}

TEST_P(StoreTest, ReversalBeforeItsOriginalKeepsTheLateOriginalFromTakingMoney) {
  Pan pan = Funded(1, 10'000);
  Request reversal = OriginalRequest(Operation::kReverse, 0, 0, "rev-1");
  reversal.original_request_key = "late-auth";
  EXPECT_EQ(Do(reversal).response_code, ResponseCode::kUnableToLocateOriginal);
  if (GetParam() == Backend::kRocksDb) Reopen();  // the memory is durable, not just in RAM

  Decision late = Do(TestRequest(Operation::kAuthorize, pan, 3'000, "late-auth"));
  EXPECT_EQ(late.response_code, ResponseCode::kDoNotHonour);
  EXPECT_EQ(late.reason, Reason::kReversedBeforeOriginal);
  Account a = AccountOf(1);
  EXPECT_EQ(a.debits_pending, 0);
  EXPECT_EQ(a.balance(), 10'000);
  // A retransmission of the late original gets the same decline, and moves nothing either.
  Decision again = Do(TestRequest(Operation::kAuthorize, pan, 3'000, "late-auth"));
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.response_code, ResponseCode::kDoNotHonour);
  // A repeat of the reversal is a retransmission, not a second mark.
  EXPECT_TRUE(Do(reversal).duplicate);
  EXPECT_EQ(AccountOf(1).balance(), 10'000);
  ExpectLedgerAndJournalOk();
}

TEST_P(StoreTest, StateIsRebuiltOnOpen) {
  Pan pan = Funded(1, 10'000);
  Decision hold = Do(TestRequest(Operation::kAuthorize, pan, 1'000, "a"));
  Do(TestRequest(Operation::kPurchase, pan, 500, "b"));
  Reopen();
  if (GetParam() == Backend::kMemory) {
    // The memory backend starts empty on every Open.
    EXPECT_TRUE(store_->GetAccount(1).status().IsNotFound());
    return;
  }
  Account a = AccountOf(1);
  EXPECT_EQ(a.balance(), 9'500);
  EXPECT_EQ(a.debits_pending, 1'000);
  EXPECT_TRUE(Do(OriginalRequest(Operation::kCapture, hold.transfer_id, 0, "c")).approved());
  Decision next = Do(TestRequest(Operation::kAuthorize, pan, 1, "d"));
  EXPECT_EQ(next.journal_sequence, 4u);
  EXPECT_GT(next.transfer_id, hold.transfer_id);
  ExpectLedgerAndJournalOk();
}

TEST_P(StoreTest, JournalRecordsCarryTheFieldsAndNoClearPan) {
  Pan pan = Funded(1, 10'000);
  Request r = TestRequest(Operation::kAuthorize, pan, 1'234, "j1");
  r.received_monotonic_us = clock_.NowMonotonicMicros() - 250;
  Do(r);
  Do(TestRequest(Operation::kAuthorize, pan, 1'000'000, "j2"));
  std::vector<JournalRecord> records;
  ASSERT_TRUE(store_
                  ->ExportJournal(0, 0,
                                  [&](const JournalRecord& j) {
                                    records.push_back(j);
                                    return true;
                                  })
                  .ok());
  ASSERT_EQ(records.size(), 2u);
  const JournalRecord& j = records[0];
  EXPECT_EQ(j.sequence, 1u);
  EXPECT_EQ(j.operation, Operation::kAuthorize);
  EXPECT_EQ(j.mti, "0100");
  EXPECT_EQ(j.terminal_id, "TERM0001");
  EXPECT_EQ(j.merchant_id, "MERCHANT000001");
  EXPECT_EQ(j.stan, "000001");
  EXPECT_EQ(j.rrn, "000000000001");
  EXPECT_EQ(j.masked_pan, pan.masked());
  EXPECT_EQ(j.card_token, store_->CardToken(pan));
  EXPECT_EQ(j.amount, Amount(1'234, kEur));
  EXPECT_EQ(j.response_code, ResponseCode::kApproved);
  EXPECT_EQ(j.latency_us, 250);
  EXPECT_EQ(j.route, "on-us");
  EXPECT_EQ(j.prev_hash, std::string(32, '\0'));
  EXPECT_EQ(records[1].prev_hash, j.hash);
  EXPECT_EQ(records[1].response_code, ResponseCode::kInsufficientFunds);
  // Export ranges are inclusive.
  int n = 0;
  ASSERT_TRUE(store_->ExportJournal(2, 2, [&](const JournalRecord&) { return ++n, true; }).ok());
  EXPECT_EQ(n, 1);

  if (GetParam() == Backend::kRocksDb) {
    store_.reset();  // flushes nothing extra, but closes files
    const std::string digits(pan.clear_digits());
    for (const auto& entry : std::filesystem::recursive_directory_iterator(dir_.path())) {
      if (!entry.is_regular_file()) continue;
      std::ifstream in(entry.path(), std::ios::binary);
      std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      EXPECT_EQ(bytes.find(digits), std::string::npos) << "clear PAN in " << entry.path();
    }
  }
}

TEST_P(StoreTest, AsyncSubmitCompletesEveryRequestOnce) {
  Pan pan = Funded(1, 1'000'000);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 500;
  std::atomic<int> done{0};
  std::atomic<int> approved{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        Request r = TestRequest(Operation::kAuthorize, pan, 1,
                                "t" + std::to_string(t) + "-" + std::to_string(i));
        Status s = store_->Submit(std::move(r), [&](Result<Decision> d) {
          if (d.ok() && d->approved()) ++approved;
          ++done;
        });
        ASSERT_TRUE(s.ok()) << s.ToString();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < 2000 && done.load() < kThreads * kPerThread; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(done.load(), kThreads * kPerThread);
  EXPECT_EQ(approved.load(), kThreads * kPerThread);
  EXPECT_EQ(AccountOf(1).debits_pending, kThreads * kPerThread);
  EXPECT_FALSE(store_->Submit(Request{}, nullptr).ok());
  ExpectLedgerAndJournalOk();
}

TEST_P(StoreTest, BlockingCallsFromACompletionFailInsteadOfDeadlocking) {
  Pan pan = Funded(1, 10'000);
  std::promise<std::pair<Status, Status>> seen;
  ASSERT_TRUE(
      store_
          ->Submit(
              TestRequest(Operation::kAuthorize, pan, 1, "a"),
              [&](Result<Decision>) {
                seen.set_value(
                    {store_->GetAccount(1).status(),
                     store_->Execute(TestRequest(Operation::kAuthorize, pan, 1, "b")).status()});
              })
          .ok());
  auto [get, execute] = seen.get_future().get();
  EXPECT_EQ(get.code(), Status::Code::kFailedPrecondition);
  EXPECT_EQ(execute.code(), Status::Code::kFailedPrecondition);
  // Submit from a completion is fine.
  std::promise<bool> chained;
  ASSERT_TRUE(store_
                  ->Submit(TestRequest(Operation::kAuthorize, pan, 1, "c"),
                           [&](Result<Decision>) {
                             Status s = store_->Submit(
                                 TestRequest(Operation::kAuthorize, pan, 1, "d"),
                                 [&](Result<Decision> d) { chained.set_value(d.ok()); });
                             if (!s.ok()) chained.set_value(false);
                           })
                  .ok());
  EXPECT_TRUE(chained.get_future().get());
}

TEST_P(StoreTest, FullQueueRefusesAndEveryAcceptedRequestCompletes) {
  StoreOptions o = Options();
  o.batch_decisions_max = 2;
  o.queue_requests_max = 3;
  store_.reset();
  store_ = std::move(Store::Open(o)).value();
  Pan pan = Funded(1, 10'000);
  // The first completion holds the completion thread, so durable batches (at most four wait for
  // their completions), then the committer, the open batch and the queue fill up.
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> completed{0};
  ASSERT_TRUE(store_
                  ->Submit(TestRequest(Operation::kAuthorize, pan, 1, "block"),
                           [&](Result<Decision>) {
                             released.wait();
                             ++completed;
                           })
                  .ok());
  int accepted = 1;
  Status refused;
  for (int i = 0; i < 100 && refused.ok(); ++i) {
    refused = store_->Submit(TestRequest(Operation::kAuthorize, pan, 1, "q" + std::to_string(i)),
                             [&](Result<Decision>) { ++completed; });
    if (refused.ok()) ++accepted;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(refused.code(), Status::Code::kResourceExhausted) << refused.ToString();
  // At most: the held request, four durable batches waiting, the batch the committer holds,
  // the open batch and the queue, plus one batch in the ledger's hands.
  EXPECT_LE(accepted, 1 + 4 * 2 + 2 + 2 + 3 + 2);
  release.set_value();
  for (int i = 0; i < 1000 && completed.load() < accepted; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_EQ(completed.load(), accepted);
  EXPECT_TRUE(
      store_->Submit(TestRequest(Operation::kAuthorize, pan, 1, "after"), [](Result<Decision>) {})
          .ok());
}

TEST_P(StoreTest, SweepExpiresAtMostSweepHoldsMaxPerRun) {
  StoreOptions o = Options();
  o.sweep_holds_max = 3;
  store_.reset();
  store_ = std::move(Store::Open(o)).value();
  Pan pan = Funded(1, 10'000);
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(Do(TestRequest(Operation::kAuthorize, pan, 1, "h" + std::to_string(i))).approved());
  }
  clock_.Advance(3600 * 1'000'000LL);
  EXPECT_EQ(*store_->SweepExpiredHolds(), 3u);
  EXPECT_EQ(*store_->SweepExpiredHolds(), 1u);
  EXPECT_EQ(*store_->SweepExpiredHolds(), 0u);
  EXPECT_EQ(AccountOf(1).debits_pending, 0);
  ExpectLedgerAndJournalOk();
}

TEST_P(StoreTest, OnCommitReportsEveryDurableBatch) {
  std::atomic<size_t> decisions{0};
  std::atomic<int> batches{0};
  StoreOptions o = Options();
  o.on_commit = [&](size_t n, int64_t commit_us) {
    decisions += n;
    ++batches;
    EXPECT_GE(commit_us, 0);
  };
  store_.reset();
  store_ = std::move(Store::Open(o)).value();
  Pan pan = Funded(1, 10'000);  // two admin steps
  for (int i = 0; i < 5; ++i) Do(TestRequest(Operation::kAuthorize, pan, 1, std::to_string(i)));
  EXPECT_EQ(decisions.load(), 7u);
  EXPECT_GE(batches.load(), 1);
  EXPECT_LE(batches.load(), 7);
}

TEST_P(StoreTest, BadOptionsAreRejected) {
  StoreOptions o = Options();
  o.card_key = "short";
  EXPECT_EQ(Store::Open(o).status().code(), Status::Code::kInvalidArgument);
  o = Options();
  o.batch_decisions_max = 0;
  EXPECT_EQ(Store::Open(o).status().code(), Status::Code::kInvalidArgument);
  o = Options();
  o.hold_ttl_seconds = 0;
  EXPECT_EQ(Store::Open(o).status().code(), Status::Code::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest,
                         ::testing::Values(Backend::kMemory, Backend::kRocksDb),
                         [](const ::testing::TestParamInfo<Backend>& param_info) {
                           return param_info.param == Backend::kMemory ? "Memory" : "RocksDb";
                         });

TEST(CardKeyTest, CreatedWithMode0600AndReloaded) {
  TempDir dir;
  const std::string path = dir.path() + "/card.key";
  auto key = LoadOrCreateCardKey(path);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(key->size(), 32u);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto again = LoadOrCreateCardKey(path);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *key);
  // Tokens depend on the key and the PAN.
  const Pan pan = TestPan(1);
  EXPECT_EQ(CardTokenFor(*key, pan.clear_digits()), CardTokenFor(*again, pan.clear_digits()));
  EXPECT_NE(CardTokenFor(*key, pan.clear_digits()),
            CardTokenFor(TestCardKey(), pan.clear_digits()));
}

TEST(CardKeyTest, WrongSizeAndOpenModeAreErrors) {
  TempDir dir;
  const std::string path = dir.path() + "/card.key";
  { std::ofstream(path) << "too short"; }
  ::chmod(path.c_str(), 0600);
  EXPECT_EQ(LoadOrCreateCardKey(path).status().code(), Status::Code::kInvalidArgument);
  { std::ofstream(path, std::ios::trunc) << std::string(32, 'k'); }
  ::chmod(path.c_str(), 0644);
  EXPECT_EQ(LoadOrCreateCardKey(path).status().code(), Status::Code::kFailedPrecondition);
  EXPECT_FALSE(LoadOrCreateCardKey(dir.path() + "/missing-dir/card.key").ok());
}

}  // namespace
}  // namespace kytkin::storage
