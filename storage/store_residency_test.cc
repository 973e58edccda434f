// What the store keeps in memory (issues 3/6/7): transfers only while they can change there,
// dedupe entries in a window. With a window of 0 every durable record is read back from disk, so
// these tests fail if any path forgets to: a retransmission of an evicted request must get its
// original answer (never a second approval), and captures, reversals and refunds of evicted
// transfers must move the right money, also after a reopen.
#include <gtest/gtest.h>

#include <future>
#include <vector>

#include "storage/store.h"
#include "storage/test_util.h"

namespace kytkin::storage {
namespace {

using namespace kytkin::storage::testing;
using Backend = StoreOptions::Backend;

constexpr int64_t kDayUs = 86'400'000'000;
constexpr uint64_t kCardholder = 1;
constexpr uint64_t kOtherCardholder = 2;
constexpr uint64_t kMerchant = 1001;
constexpr uint64_t kAcquirer = 9001;
constexpr uint64_t kFees = 9002;
constexpr int64_t kOpeningMinor = 1'000'000;

class StoreResidencyTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    Reopen();
    CreateCards();
  }

  void CreateCards() {
    ASSERT_TRUE(store_->CreateAccount(TestAccount(kCardholder), kOpeningMinor).ok());
    ASSERT_TRUE(store_->CreateCard(pan_, TestCard(kCardholder)).ok());
    ASSERT_TRUE(store_->CreateAccount(TestAccount(kOtherCardholder), kOpeningMinor).ok());
    ASSERT_TRUE(store_->CreateCard(other_pan_, TestCard(kOtherCardholder)).ok());
  }

  void Reopen(size_t dedupe_window_entries = 0) {
    store_.reset();
    StoreOptions o = TestStoreOptions(GetParam(), dir_.path(), &clock_);
    o.dedupe_window_entries = dedupe_window_entries;
    auto s = Store::Open(o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }

  // The memory backend does not survive a reopen; RocksDB does.
  bool Durable() const { return GetParam() == Backend::kRocksDb; }

  Decision Do(const Request& r) {
    auto d = store_->Execute(r);
    EXPECT_TRUE(d.ok()) << d.status().ToString();
    return d.ok() ? *d : Decision{};
  }

  // Requests on another card, so the ones under test leave the window and memory.
  void Churn(int n, const std::string& prefix) {
    for (int i = 0; i < n; ++i) {
      Decision d = Do(TestRequest(Operation::kPurchase, other_pan_, 1, prefix + std::to_string(i)));
      EXPECT_EQ(d.response_code, ResponseCode::kApproved);
    }
  }

  Store::MemoryStats Stats() {
    auto s = store_->GetMemoryStats();
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? *s : Store::MemoryStats{};
  }

  Account AccountOf(uint64_t id) {
    auto a = store_->GetAccount(id);
    EXPECT_TRUE(a.ok());
    return a.ok() ? *a : Account{};
  }

  Request ByKey(Operation op, std::string original_key, int64_t minor, std::string key) {
    Request r;
    r.operation = op;
    r.original_request_key = std::move(original_key);
    r.amount = Amount(minor, minor == 0 ? 0 : kEur);
    r.request_key = std::move(key);
    r.terminal_id = "TERM0001";
    r.mti = op == Operation::kCapture ? "0220" : "0400";
    return r;
  }

  void ExpectLedgerAndJournalOk() { kytkin::storage::testing::ExpectLedgerAndJournalOk(*store_); }

  TempDir dir_;
  ManualClock clock_{kTestNowUnixUs};
  std::unique_ptr<Store> store_;
  Pan pan_ = TestPan(kCardholder);
  Pan other_pan_ = TestPan(kOtherCardholder);
};

TEST_P(StoreResidencyTest, RetransmissionOfEvictedRequestGetsItsOriginalDecision) {
  const Request original = TestRequest(Operation::kAuthorize, pan_, 2'500, "acq|T1|000001");
  const Decision first = Do(original);
  ASSERT_EQ(first.response_code, ResponseCode::kApproved);
  Churn(20, "churn-");
  const Store::MemoryStats before = Stats();
  EXPECT_EQ(before.dedupe_window_entries, 0u);  // window 0: nothing once durable

  const Decision again = Do(original);
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.response_code, ResponseCode::kApproved);
  EXPECT_EQ(again.transfer_id, first.transfer_id);
  EXPECT_EQ(again.auth_code, first.auth_code);
  EXPECT_EQ(again.journal_sequence, first.journal_sequence);
  EXPECT_EQ(again.card_token, first.card_token);
  EXPECT_GT(Stats().dedupe_disk_reads, before.dedupe_disk_reads);
  // Held once, not twice.
  EXPECT_EQ(AccountOf(kCardholder).debits_pending, 2'500);

  Request changed = original;
  changed.amount = Amount(2'600, kEur);
  const Decision conflict = Do(changed);
  EXPECT_EQ(conflict.response_code, ResponseCode::kDuplicateTransmission);
  EXPECT_EQ(conflict.reason, Reason::kDuplicateConflict);
  EXPECT_EQ(AccountOf(kCardholder).debits_pending, 2'500);

  if (Durable()) {
    Reopen();
    const Decision after_reopen = Do(original);
    EXPECT_TRUE(after_reopen.duplicate);
    EXPECT_EQ(after_reopen.transfer_id, first.transfer_id);
    EXPECT_EQ(after_reopen.auth_code, first.auth_code);
    EXPECT_EQ(Do(changed).response_code, ResponseCode::kDuplicateTransmission);
    EXPECT_EQ(AccountOf(kCardholder).debits_pending, 2'500);
    auto found = store_->FindDecision("acq|T1|000001");
    ASSERT_TRUE(found.ok());
    EXPECT_EQ(found->transfer_id, first.transfer_id);
  }
  EXPECT_TRUE(store_->FindDecision("never-seen").status().IsNotFound());
  ExpectLedgerAndJournalOk();
}

TEST_P(StoreResidencyTest, RetransmissionBeforeItsBatchIsDurableGetsTheOriginalDecision) {
  // Submitted back to back, the second usually lands in the same open batch as the first: its
  // answer comes from the decisions kept until the batch is durable.
  const Request original = TestRequest(Operation::kPurchase, pan_, 700, "quick");
  std::promise<Result<Decision>> first, second;
  ASSERT_TRUE(store_->Submit(original, [&](Result<Decision> d) { first.set_value(d); }).ok());
  ASSERT_TRUE(store_->Submit(original, [&](Result<Decision> d) { second.set_value(d); }).ok());
  Result<Decision> a = first.get_future().get();
  Result<Decision> b = second.get_future().get();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_FALSE(a->duplicate);
  EXPECT_TRUE(b->duplicate);
  EXPECT_EQ(b->transfer_id, a->transfer_id);
  EXPECT_EQ(b->auth_code, a->auth_code);
  EXPECT_EQ(AccountOf(kCardholder).debits_posted, 700);
  EXPECT_EQ(Stats().unsynced_decisions, 0u);
}

TEST_P(StoreResidencyTest, EvictedPurchaseIsReversedOnceAcrossReopen) {
  const Decision purchase = Do(TestRequest(Operation::kPurchase, pan_, 4'000, "buy"));
  ASSERT_EQ(purchase.response_code, ResponseCode::kApproved);
  Churn(5, "c-");
  EXPECT_EQ(Stats().resident_transfers, 0u);  // posted: nothing left to change in memory
  if (Durable()) Reopen();

  const Decision reversal = Do(ByKey(Operation::kReverse, "buy", 0, "rev-1"));
  EXPECT_EQ(reversal.response_code, ResponseCode::kApproved);
  EXPECT_EQ(reversal.approved_amount, Amount(4'000, kEur));
  EXPECT_EQ(reversal.card_token, purchase.card_token);
  EXPECT_EQ(AccountOf(kCardholder).balance(), kOpeningMinor);
  Churn(5, "d-");
  if (Durable()) Reopen();
  // The original, read back again, says reversed.
  const Decision twice = Do(ByKey(Operation::kReverse, "buy", 0, "rev-2"));
  EXPECT_EQ(twice.response_code, ResponseCode::kInvalidTransaction);
  EXPECT_EQ(twice.reason, Reason::kAlreadyResolved);
  EXPECT_EQ(AccountOf(kCardholder).balance(), kOpeningMinor);
  auto t = store_->GetTransfer(purchase.transfer_id);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->state, TransferState::kReversed);
  EXPECT_EQ(t->resolved_by, reversal.transfer_id);
  EXPECT_TRUE(store_->GetTransfer(1'000'000).status().IsNotFound());
  ExpectLedgerAndJournalOk();
}

TEST_P(StoreResidencyTest, HoldStaysResidentThenItsEvictedCaptureIsResolvedOnce) {
  const Decision hold = Do(TestRequest(Operation::kAuthorize, pan_, 5'000, "auth"));
  ASSERT_EQ(hold.response_code, ResponseCode::kApproved);
  Churn(5, "c-");
  Store::MemoryStats stats = Stats();
  EXPECT_EQ(stats.open_holds, 1u);
  EXPECT_EQ(stats.resident_transfers, 1u);  // the open hold only
  if (Durable()) Reopen();
  EXPECT_EQ(Stats().resident_transfers, 1u);  // Load keeps the open holds

  const Decision capture = Do(ByKey(Operation::kCapture, "auth", 3'000, "cap-1"));
  EXPECT_EQ(capture.response_code, ResponseCode::kApproved);
  Churn(5, "d-");
  EXPECT_EQ(Stats().resident_transfers, 0u);
  if (Durable()) Reopen();
  const Decision second_capture = Do(ByKey(Operation::kCapture, "auth", 1'000, "cap-2"));
  EXPECT_EQ(second_capture.response_code, ResponseCode::kInvalidTransaction);
  EXPECT_EQ(second_capture.reason, Reason::kAlreadyResolved);
  Account a = AccountOf(kCardholder);
  EXPECT_EQ(a.debits_pending, 0);
  EXPECT_EQ(a.balance(), kOpeningMinor - 3'000);

  // Reversing the (evicted) captured hold gives back what was captured.
  const Decision reversal = Do(ByKey(Operation::kReverse, "auth", 0, "rev"));
  EXPECT_EQ(reversal.response_code, ResponseCode::kApproved);
  EXPECT_EQ(reversal.approved_amount, Amount(3'000, kEur));
  EXPECT_EQ(AccountOf(kCardholder).balance(), kOpeningMinor);
  ExpectLedgerAndJournalOk();
}

TEST_P(StoreResidencyTest, SettlementRefundsOfAnEvictedCaptureStayWithinWhatWasCaptured) {
  ASSERT_TRUE(store_->CreateAccount(TestAccount(kMerchant, AccountKind::kMerchant)).ok());
  ASSERT_TRUE(store_->CreateAccount(TestAccount(kAcquirer, AccountKind::kAcquirerSettlement)).ok());
  ASSERT_TRUE(store_->CreateAccount(TestAccount(kFees, AccountKind::kFees)).ok());
  SettlementBatch h;
  h.batch_id = "B1";
  h.business_date = static_cast<int32_t>(kTestNowUnixUs / kDayUs);
  h.terminal_id = "TERM0001";
  h.currency = kEur;
  h.merchant_account = kMerchant;
  h.acquirer_account = kAcquirer;
  h.fees_account = kFees;
  ASSERT_TRUE(store_->OpenSettlementBatch(h).ok());
  const Decision hold = Do(TestRequest(Operation::kAuthorize, pan_, 5'000, "auth"));
  ASSERT_EQ(hold.response_code, ResponseCode::kApproved);
  auto item = [&](Operation op, int n, int64_t minor) {
    Request r;
    r.operation = op;
    r.batch_id = "B1";
    r.request_key = "stl|B1|" + std::to_string(n);
    r.amount = Amount(minor, kEur);
    r.terminal_id = "TERM0001";
    r.mti = "0320";
    r.original_request_key = "auth";
    r.original_auth_code = hold.auth_code;
    return r;
  };
  EXPECT_EQ(Do(item(Operation::kSettleCapture, 1, 5'000)).response_code, ResponseCode::kApproved);
  Churn(5, "c-");
  EXPECT_EQ(Stats().resident_transfers, 0u);
  if (Durable()) Reopen();

  // Each refund reads the evicted authorization back, raises its refunded amount and writes it.
  EXPECT_EQ(Do(item(Operation::kSettleRefund, 2, 3'000)).response_code, ResponseCode::kApproved);
  Churn(5, "d-");
  if (Durable()) Reopen();
  const Decision too_much = Do(item(Operation::kSettleRefund, 3, 2'001));
  EXPECT_EQ(too_much.response_code, ResponseCode::kInvalidAmount);
  EXPECT_EQ(too_much.reason, Reason::kRefundExceedsCaptured);
  EXPECT_EQ(Do(item(Operation::kSettleRefund, 4, 2'000)).response_code, ResponseCode::kApproved);
  // A reversal of the capture after refunds would pay the cardholder twice.
  const Decision reversal = Do(item(Operation::kSettleReversal, 5, 5'000));
  EXPECT_EQ(reversal.response_code, ResponseCode::kInvalidTransaction);
  EXPECT_EQ(AccountOf(kCardholder).balance(), kOpeningMinor);
  auto t = store_->GetTransfer(hold.transfer_id);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->refunded_minor, 5'000);
  ExpectLedgerAndJournalOk();
}

TEST_P(StoreResidencyTest, ReversalBeforeItsEvictedOriginalStillDeclinesTheOriginal) {
  const Request original = TestRequest(Operation::kAuthorize, pan_, 900, "late");
  const Decision early = Do(ByKey(Operation::kReverse, "late", 0, "rev"));
  EXPECT_EQ(early.response_code, ResponseCode::kUnableToLocateOriginal);
  Churn(5, "c-");
  EXPECT_EQ(Stats().dedupe_window_entries, 0u);
  if (Durable()) Reopen();
  const Decision late = Do(original);
  EXPECT_EQ(late.response_code, ResponseCode::kDoNotHonour);
  EXPECT_EQ(late.reason, Reason::kReversedBeforeOriginal);
  EXPECT_EQ(AccountOf(kCardholder).debits_pending, 0);
  Churn(5, "d-");
  // Its own record replaced the mark: a retransmission gets the same 05.
  const Decision again = Do(original);
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.response_code, ResponseCode::kDoNotHonour);
  ExpectLedgerAndJournalOk();
}

TEST_P(StoreResidencyTest, MemoryStaysBoundedOverManyRequests) {
  constexpr size_t kWindow = 16;
  constexpr int kHolds = 40;
  Reopen(kWindow);
  if (!Durable()) CreateCards();
  std::vector<Decision> holds;
  for (int i = 0; i < kHolds; ++i) {
    holds.push_back(Do(TestRequest(Operation::kAuthorize, pan_, 10, "h" + std::to_string(i))));
    ASSERT_EQ(holds.back().response_code, ResponseCode::kApproved);
  }
  Churn(300, "p-");
  // Half the holds captured, a quarter reversed: those leave memory, the rest stay open.
  for (int i = 0; i < kHolds / 2; ++i) {
    EXPECT_EQ(Do(ByKey(Operation::kCapture, "h" + std::to_string(i), 0, "cap" + std::to_string(i)))
                  .response_code,
              ResponseCode::kApproved);
  }
  for (int i = kHolds / 2; i < 3 * kHolds / 4; ++i) {
    EXPECT_EQ(Do(ByKey(Operation::kReverse, "h" + std::to_string(i), 0, "rev" + std::to_string(i)))
                  .response_code,
              ResponseCode::kApproved);
  }
  const Store::MemoryStats stats = Stats();
  EXPECT_EQ(stats.open_holds, static_cast<uint64_t>(kHolds / 4));
  EXPECT_EQ(stats.resident_transfers, stats.open_holds);
  EXPECT_EQ(stats.dedupe_window_entries, kWindow);
  EXPECT_EQ(stats.unsynced_decisions, 0u);
  EXPECT_LE(stats.velocity_counters, 2u);
  ExpectLedgerAndJournalOk();
}

TEST_P(StoreResidencyTest, VelocityCountersOfPastDaysAreDropped) {
  // A card's own counters live in its packed record and start again with the day there; the
  // map holds only counters that name no card of kytkin's ledger (an issuer's stand-in counters
  // per card) and must drop a past day's, or it grows with every card that ever stood in.
  Card limited = TestCard(3);
  limited.daily_count_max = 1;
  ASSERT_TRUE(store_->CreateAccount(TestAccount(3), kOpeningMinor).ok());
  const Pan pan = TestPan(3);
  ASSERT_TRUE(store_->CreateCard(pan, limited).ok());
  EXPECT_EQ(Do(TestRequest(Operation::kPurchase, pan, 10, "a")).response_code,
            ResponseCode::kApproved);
  EXPECT_EQ(Do(TestRequest(Operation::kPurchase, pan, 10, "b")).response_code,
            ResponseCode::kExceedsFrequencyLimit);
  Churn(1, "c-");
  EXPECT_EQ(Stats().velocity_counters, 0u);  // the cards' counters are in their records
  const Pan unknown = TestPan(77);           // not a card of kytkin's ledger
  auto stand_in = [&](std::string key) {
    Request r = TestRequest(Operation::kStandIn, unknown, 10, std::move(key));
    r.stand_in_daily_count_max = 1;
    return Do(r);
  };
  EXPECT_TRUE(stand_in("s1").approved());
  EXPECT_EQ(stand_in("s2").reason, Reason::kDailyCountLimit);
  EXPECT_EQ(Stats().velocity_counters, 1u);
  clock_.Advance(kDayUs);
  Churn(1, "d-");
  EXPECT_EQ(Stats().velocity_counters, 0u);  // yesterday's stand-in counters are gone
  EXPECT_TRUE(stand_in("s3").approved());
  EXPECT_EQ(Do(TestRequest(Operation::kPurchase, pan, 10, "e")).response_code,
            ResponseCode::kApproved);
  EXPECT_EQ(Do(TestRequest(Operation::kPurchase, pan, 10, "f")).response_code,
            ResponseCode::kExceedsFrequencyLimit);
  if (Durable()) {
    Reopen();
    EXPECT_EQ(Do(TestRequest(Operation::kPurchase, pan, 10, "g")).response_code,
              ResponseCode::kExceedsFrequencyLimit);
    EXPECT_EQ(stand_in("s4").reason, Reason::kDailyCountLimit);
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreResidencyTest,
                         ::testing::Values(Backend::kMemory, Backend::kRocksDb),
                         [](const ::testing::TestParamInfo<Backend>& param_info) {
                           return param_info.param == Backend::kMemory ? "Memory" : "RocksDb";
                         });

}  // namespace
}  // namespace kytkin::storage
