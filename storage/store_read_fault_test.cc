// A record the decision needs cannot be read back (RocksDB returns an error on a point read):
// the request is answered 96 with reason storage_read_failed, nothing moves, the answer is not
// remembered under the request key (a retry once the fault clears is decided normally), and
// the ledger and journal invariants hold. One test per read on the decision path: the dedupe
// lookup, FindTransfer, settlement's journal read. Faults come from storage/fault_backend.h.
#include <gtest/gtest.h>

#include <memory>

#include "storage/fault_backend.h"
#include "storage/store.h"
#include "storage/test_util.h"

namespace kytkin::storage {
namespace {

using namespace kytkin::storage::testing;
using BackendKind = StoreOptions::Backend;

constexpr uint64_t kCardholder = 1;
constexpr uint64_t kOther = 2;
constexpr uint64_t kMerchant = 1001;
constexpr uint64_t kAcquirer = 9001;
constexpr uint64_t kFees = 9002;
constexpr int64_t kOpeningMinor = 100'000;

class StoreReadFaultTest : public ::testing::TestWithParam<BackendKind> {
 protected:
  void SetUp() override {
    StoreOptions o = TestStoreOptions(GetParam(), dir_.path(), &clock_);
    o.wrap_backend_for_testing = ReadFaults::Wrapper(faults_);
    auto s = Store::Open(o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
    ASSERT_TRUE(store_->CreateAccount(TestAccount(kCardholder), kOpeningMinor).ok());
    ASSERT_TRUE(store_->CreateCard(pan_, TestCard(kCardholder)).ok());
    ASSERT_TRUE(store_->CreateAccount(TestAccount(kOther), kOpeningMinor).ok());
    ASSERT_TRUE(store_->CreateCard(other_pan_, TestCard(kOther)).ok());
  }

  Decision Do(const Request& r) {
    auto d = store_->Execute(r);
    EXPECT_TRUE(d.ok()) << d.status().ToString();
    return d.ok() ? *d : Decision{};
  }
  Account AccountOf(uint64_t id) {
    auto a = store_->GetAccount(id);
    EXPECT_TRUE(a.ok()) << id;
    return a.ok() ? *a : Account{};
  }
  // Requests on the other card: the batches before them are durable and their posted
  // transfers leave memory, so a later request must read them back.
  void Churn(int n) {
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(Do(TestRequest(Operation::kBalanceInquiry, other_pan_, 0,
                                 "churn" + std::to_string(churned_++)))
                      .response_code == ResponseCode::kApproved);
    }
  }
  static void ExpectReadFailed(const Decision& d) {
    EXPECT_EQ(d.response_code, ResponseCode::kSystemMalfunction);
    EXPECT_EQ(d.reason, Reason::kStorageReadFailed);
    EXPECT_EQ(d.transfer_id, 0u);
    EXPECT_EQ(d.approved_amount.minor_units(), 0);
    EXPECT_FALSE(d.duplicate);
    EXPECT_NE(d.journal_sequence, 0u);  // the 96 is journaled like any answer
  }
  static void ExpectSameTotals(const Account& before, const Account& after) {
    EXPECT_EQ(after.debits_posted, before.debits_posted) << before.id;
    EXPECT_EQ(after.credits_posted, before.credits_posted) << before.id;
    EXPECT_EQ(after.debits_pending, before.debits_pending) << before.id;
    EXPECT_EQ(after.credits_pending, before.credits_pending) << before.id;
  }

  TempDir dir_;
  ManualClock clock_{kTestNowUnixUs};
  std::shared_ptr<ReadFaults> faults_ = std::make_shared<ReadFaults>();
  std::unique_ptr<Store> store_;
  Pan pan_ = TestPan(kCardholder);
  Pan other_pan_ = TestPan(kOther);
  int churned_ = 0;
};

TEST_P(StoreReadFaultTest, DedupeLookupFailureAnswers96AndTheRetryIsDecided) {
  const Account before = AccountOf(kCardholder);
  const Request auth = TestRequest(Operation::kAuthorize, pan_, 2'500, "auth-1");
  faults_->Fail(Cf::kDedupe);
  ExpectReadFailed(Do(auth));
  EXPECT_GT(faults_->failed_reads(), 0u);
  ExpectSameTotals(before, AccountOf(kCardholder));

  faults_->Clear();
  // Not remembered under its key: no decision to find, and the retry is decided, not answered
  // from the dedupe index (which would repeat the 96).
  EXPECT_TRUE(store_->FindDecision("auth-1").status().IsNotFound());
  const Decision retry = Do(auth);
  EXPECT_EQ(retry.response_code, ResponseCode::kApproved);
  EXPECT_FALSE(retry.duplicate);
  EXPECT_EQ(AccountOf(kCardholder).debits_pending, before.debits_pending + 2'500);
  // From now on the key is known: a third send is a retransmission of the approval.
  const Decision again = Do(auth);
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.transfer_id, retry.transfer_id);
  ExpectLedgerAndJournalOk(*store_);
}

TEST_P(StoreReadFaultTest, TransferReadFailureOnAReversalMovesNothing) {
  const Decision purchase = Do(TestRequest(Operation::kPurchase, pan_, 4'000, "buy"));
  ASSERT_EQ(purchase.response_code, ResponseCode::kApproved);
  Churn(3);
  auto stats = store_->GetMemoryStats();
  ASSERT_TRUE(stats.ok());
  ASSERT_EQ(stats->resident_transfers, 0u) << "the purchase must be read back from disk";
  const Account before = AccountOf(kCardholder);

  const Request reversal = OriginalRequest(Operation::kReverse, purchase.transfer_id, 0, "rev");
  faults_->Fail(Cf::kTransfers);
  ExpectReadFailed(Do(reversal));
  faults_->Clear();
  ExpectSameTotals(before, AccountOf(kCardholder));
  auto original = store_->GetTransfer(purchase.transfer_id);
  ASSERT_TRUE(original.ok());
  EXPECT_EQ(original->state, TransferState::kPosted);  // not reversed
  EXPECT_TRUE(store_->FindDecision("rev").status().IsNotFound());

  const Decision retry = Do(reversal);
  EXPECT_EQ(retry.response_code, ResponseCode::kApproved);
  EXPECT_FALSE(retry.duplicate);
  EXPECT_EQ(AccountOf(kCardholder).balance(), before.balance() + 4'000);
  ExpectLedgerAndJournalOk(*store_);
}

TEST_P(StoreReadFaultTest, SettlementJournalReadFailureAnswers96AndTheItemSettlesLater) {
  ASSERT_TRUE(store_->CreateAccount(TestAccount(kMerchant, AccountKind::kMerchant)).ok());
  ASSERT_TRUE(store_->CreateAccount(TestAccount(kAcquirer, AccountKind::kAcquirerSettlement)).ok());
  ASSERT_TRUE(store_->CreateAccount(TestAccount(kFees, AccountKind::kFees)).ok());
  ASSERT_TRUE(
      store_->OpenSettlementBatch(TestSettlementBatch("B1", kMerchant, kAcquirer, kFees, "123456"))
          .ok());
  const Decision auth = Do(TestRequest(Operation::kAuthorize, pan_, 3'000, "auth"));
  ASSERT_EQ(auth.response_code, ResponseCode::kApproved);

  Request item = TestSettlementItem(Operation::kSettleCapture, 1, 3'000);
  item.acquirer_id = "123456";
  item.rrn = std::to_string(auth.journal_sequence);
  item.original_auth_code = auth.auth_code;
  // An open hold is found by its RRN in memory; a captured one through the authorization's
  // journal record (auth code, terminal), which is the read that fails here: a reversal item
  // of the capture.
  ASSERT_EQ(Do(item).response_code, ResponseCode::kApproved);
  Request reversal = item;
  reversal.operation = Operation::kSettleReversal;
  reversal.settlement_item_number = 2;
  reversal.request_key = "stl|B1|2";
  const Account cardholder = AccountOf(kCardholder);
  const Account acquirer = AccountOf(kAcquirer);

  faults_->Fail(Cf::kJournal);
  ExpectReadFailed(Do(reversal));
  faults_->Clear();
  ExpectSameTotals(cardholder, AccountOf(kCardholder));
  ExpectSameTotals(acquirer, AccountOf(kAcquirer));
  auto batch = store_->GetSettlementBatch("B1");
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(batch->held.reversals_count, 0u);
  EXPECT_EQ(batch->rejected_count, 0u);  // decided by the retry, counted then
  auto hold = store_->GetTransfer(auth.transfer_id);
  ASSERT_TRUE(hold.ok());
  EXPECT_EQ(hold->state, TransferState::kPosted);
  EXPECT_TRUE(store_->FindDecision("stl|B1|2").status().IsNotFound());

  const Decision retry = Do(reversal);
  EXPECT_EQ(retry.response_code, ResponseCode::kApproved) << ReasonName(retry.reason);
  EXPECT_FALSE(retry.duplicate);
  EXPECT_EQ(AccountOf(kCardholder).balance(), cardholder.balance() + 3'000);
  ExpectLedgerAndJournalOk(*store_);
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreReadFaultTest,
                         ::testing::Values(BackendKind::kMemory, BackendKind::kRocksDb),
                         [](const ::testing::TestParamInfo<BackendKind>& param_info) {
                           return param_info.param == BackendKind::kMemory ? "Memory" : "RocksDb";
                         });

}  // namespace
}  // namespace kytkin::storage
