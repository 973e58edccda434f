// Model test: random operation sequences (fixed seed) against the store and against a small
// obviously-correct model agree on every answer and every available balance, and the ledger and
// journal invariants hold after every step. Runs on both backends; the RocksDB run also
// reopens the store halfway.
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <random>
#include <vector>

#include "storage/store.h"
#include "storage/test_util.h"

namespace kytkin::storage {
namespace {

using namespace kytkin::storage::testing;
using Backend = StoreOptions::Backend;

constexpr int kSteps = 1000;
constexpr int kCards = 4;
constexpr uint64_t kCreditAccount = 4;  // the others are debit accounts
constexpr int64_t kCreditLimit = 2'000;
constexpr int64_t kOpening = 5'000;

// The model: balances and holds, nothing else.
struct Model {
  struct Acct {
    int64_t balance = 0;
    int64_t pending = 0;
    int64_t limit = 0;
    int64_t available() const { return balance - pending + limit; }
  };
  enum class State { kPending, kPosted, kVoided, kReversed };
  struct Xfer {
    uint64_t account = 0;
    int64_t amount = 0;
    bool hold = false;
    State state = State::kPending;
    int64_t posted = 0;
    bool credit_to_card = false;  // a refund
  };
  std::map<uint64_t, Acct> accounts;
  std::map<uint64_t, Xfer> transfers;  // by the store's transfer id of the original

  // Returns the response code the store must give.
  ResponseCode Debit(uint64_t account, int64_t amount) {
    return accounts[account].available() >= amount ? ResponseCode::kApproved
                                                   : ResponseCode::kInsufficientFunds;
  }
};

class StoreModelTest : public ::testing::TestWithParam<Backend> {};

TEST_P(StoreModelTest, RandomSequencesAgreeWithTheModel) {
  TempDir dir;
  ManualClock clock(kTestNowUnixUs);
  StoreOptions o;
  o.backend = GetParam();
  o.data_dir = dir.path() + "/db";
  o.card_key = TestCardKey();
  o.clock = &clock;
  o.sweep_interval_ms = 0;
  auto open = [&] {
    auto s = Store::Open(o);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return std::move(s).value();
  };
  std::unique_ptr<Store> store = open();
  Model model;
  for (uint64_t id = 1; id <= kCards; ++id) {
    Account a = TestAccount(
        id, id == kCreditAccount ? AccountKind::kCardholderCredit : AccountKind::kCardholderDebit);
    if (id == kCreditAccount) a.credit_limit_minor = kCreditLimit;
    ASSERT_TRUE(store->CreateAccount(a, kOpening).ok());
    ASSERT_TRUE(store->CreateCard(TestPan(id), TestCard(id)).ok());
    model.accounts[id] = {kOpening, 0, id == kCreditAccount ? kCreditLimit : 0};
  }

  std::mt19937_64 rng(42);
  std::vector<std::pair<Request, Decision>> history;  // for retransmissions
  std::vector<uint64_t> originals;                    // transfer ids the model knows
  for (int step = 0; step < kSteps; ++step) {
    SCOPED_TRACE("step " + std::to_string(step));
    if (GetParam() == Backend::kRocksDb && step == kSteps / 2) {
      store.reset();
      store = open();
    }
    const int dice = static_cast<int>(rng() % 100);
    const std::string key = "k" + std::to_string(step);
    const uint64_t account = 1 + rng() % kCards;
    const int64_t amount = 1 + static_cast<int64_t>(rng() % 3'000);

    if (dice < 8 && !history.empty()) {
      // Retransmission: the original decision comes back unchanged.
      const auto& [request, original] = history[rng() % history.size()];
      auto d = store->Execute(request);
      ASSERT_TRUE(d.ok());
      EXPECT_TRUE(d->duplicate);
      EXPECT_EQ(d->response_code, original.response_code);
      EXPECT_EQ(d->transfer_id, original.transfer_id);
      EXPECT_EQ(d->journal_sequence, original.journal_sequence);
    } else if (dice < 12 && !history.empty()) {
      // Same key, different content: 94, nothing changes.
      Request changed = history[rng() % history.size()].first;
      changed.stan = "999999";
      auto d = store->Execute(changed);
      ASSERT_TRUE(d.ok());
      EXPECT_EQ(d->response_code, ResponseCode::kDuplicateTransmission);
    } else if (dice < 45 && !originals.empty()) {
      // Capture (full or partial, sometimes too much) or reverse a known original.
      const uint64_t id = originals[rng() % originals.size()];
      Model::Xfer& x = model.transfers[id];
      Model::Acct& acct = model.accounts[x.account];
      const bool capture = dice < 30;
      const int64_t want = capture ? static_cast<int64_t>(rng() % (x.amount + 100)) : 0;
      Request r =
          OriginalRequest(capture ? Operation::kCapture : Operation::kReverse, id, want, key);
      ResponseCode expect = ResponseCode::kApproved;
      if (capture) {
        if (!x.hold) {
          expect = ResponseCode::kInvalidTransaction;
        } else if (x.state != Model::State::kPending) {
          expect = ResponseCode::kInvalidTransaction;
        } else if (want > x.amount) {
          expect = ResponseCode::kInvalidAmount;
        }
      } else if (x.state == Model::State::kVoided || x.state == Model::State::kReversed) {
        expect = ResponseCode::kInvalidTransaction;
      } else if (x.credit_to_card && acct.available() < x.amount) {
        expect = ResponseCode::kInsufficientFunds;  // reversing a refund must not overdraw
      }
      auto d = store->Execute(r);
      ASSERT_TRUE(d.ok());
      ASSERT_EQ(d->response_code, expect)
          << (capture ? "capture" : "reverse") << " of " << id << ": " << ReasonName(d->reason);
      if (expect == ResponseCode::kApproved) {
        if (capture) {
          const int64_t post = want == 0 ? x.amount : want;
          acct.pending -= x.amount;
          acct.balance -= post;
          x.state = Model::State::kPosted;
          x.posted = post;
        } else if (x.hold && x.state == Model::State::kPending) {
          acct.pending -= x.amount;
          x.state = Model::State::kVoided;
        } else {
          const int64_t back = x.hold ? x.posted : x.amount;
          acct.balance += x.credit_to_card ? -back : back;
          x.state = Model::State::kReversed;
        }
      }
      EXPECT_EQ(d->available.minor_units(), acct.available());
      history.push_back({r, *d});
    } else {
      // A new card operation.
      Operation op = dice < 75   ? Operation::kAuthorize
                     : dice < 90 ? Operation::kPurchase
                     : dice < 95 ? Operation::kRefund
                                 : Operation::kBalanceInquiry;
      Request r = TestRequest(op, TestPan(account), amount, key);
      r.stan = std::to_string(step);
      Model::Acct& acct = model.accounts[account];
      ResponseCode expect = ResponseCode::kApproved;
      if (op == Operation::kAuthorize || op == Operation::kPurchase) {
        expect = model.Debit(account, amount);
      }
      auto d = store->Execute(r);
      ASSERT_TRUE(d.ok());
      ASSERT_EQ(d->response_code, expect) << OperationName(op) << ": " << ReasonName(d->reason);
      if (expect == ResponseCode::kApproved && op != Operation::kBalanceInquiry) {
        Model::Xfer x;
        x.account = account;
        x.amount = amount;
        x.hold = op == Operation::kAuthorize;
        x.state = x.hold ? Model::State::kPending : Model::State::kPosted;
        x.credit_to_card = op == Operation::kRefund;
        if (op == Operation::kAuthorize) acct.pending += amount;
        if (op == Operation::kPurchase) acct.balance -= amount;
        if (op == Operation::kRefund) acct.balance += amount;
        model.transfers[d->transfer_id] = x;
        originals.push_back(d->transfer_id);
      }
      EXPECT_EQ(d->available.minor_units(), acct.available());
      history.push_back({r, *d});
    }

    // Invariants after every step.
    auto ledger = store->VerifyLedger();
    ASSERT_TRUE(ledger.ok());
    ASSERT_TRUE(ledger->ok()) << ledger->violations[0];
    if (step % 25 == 0 || step == kSteps - 1) {
      auto journal = store->VerifyJournal();
      ASSERT_TRUE(journal.ok());
      ASSERT_TRUE(journal->ok()) << journal->violations[0];
    }
  }
  // Finally every account agrees exactly.
  for (const auto& [id, m] : model.accounts) {
    auto a = store->GetAccount(id);
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->balance(), m.balance) << "account " << id;
    EXPECT_EQ(a->debits_pending, m.pending) << "account " << id;
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreModelTest,
                         ::testing::Values(Backend::kMemory, Backend::kRocksDb),
                         [](const ::testing::TestParamInfo<Backend>& param_info) {
                           return param_info.param == Backend::kMemory ? "Memory" : "RocksDb";
                         });

}  // namespace
}  // namespace kytkin::storage
