// Settlement chunks (Store::SubmitSettlementChunk), on both backends: items of one batch decided
// together as one journal record and remembered by item number, exactly once across chunks,
// single items (the ISO 8583 0320 path) and restarts, with the ledger invariants after each.
#include <gtest/gtest.h>

#include <future>

#include "storage/store.h"
#include "storage/test_util.h"

namespace kytkin::storage {
namespace {

using namespace kytkin::storage::testing;
using Backend = StoreOptions::Backend;

constexpr uint64_t kMerchant = 1001;
constexpr uint64_t kAcquirer = 9001;
constexpr uint64_t kFees = 9002;
constexpr uint64_t kCardholder = 2001;

class SettlementChunkTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    clock_.Set(kTestNowUnixUs);
    Reopen();
    ASSERT_TRUE(store_->CreateAccount(TestAccount(kMerchant, AccountKind::kMerchant)).ok());
    ASSERT_TRUE(
        store_->CreateAccount(TestAccount(kAcquirer, AccountKind::kAcquirerSettlement)).ok());
    ASSERT_TRUE(store_->CreateAccount(TestAccount(kFees, AccountKind::kFees)).ok());
    ASSERT_TRUE(store_->CreateAccount(TestAccount(kCardholder), 1'000'000).ok());
    ASSERT_TRUE(store_->CreateCard(pan_, TestCard(kCardholder)).ok());
    ASSERT_TRUE(
        store_->OpenSettlementBatch(TestSettlementBatch("B1", kMerchant, kAcquirer, kFees)).ok());
  }

  void Reopen() {
    store_.reset();
    auto s = Store::Open(TestStoreOptions(GetParam(), dir_.path(), &clock_));
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }

  Decision Authorize(int64_t minor, std::string key) {
    auto d = store_->Execute(TestRequest(Operation::kAuthorize, pan_, minor, std::move(key)));
    EXPECT_TRUE(d.ok() && d->approved());
    return d.ok() ? *d : Decision{};
  }

  // An item as switch/settlement.cc ItemRequest makes it.
  Request Item(Operation op, uint64_t number, int64_t minor, std::string batch = "B1") {
    return TestSettlementItem(op, number, minor, std::move(batch));
  }
  Request Capture(uint64_t number, int64_t minor, const Decision& auth) {
    Request r = Item(Operation::kSettleCapture, number, minor);
    r.rrn = std::to_string(auth.journal_sequence);
    r.original_auth_code = auth.auth_code;
    return r;
  }

  Result<std::vector<Decision>> Chunk(std::vector<Request> items) {
    std::promise<Result<std::vector<Decision>>> done;
    auto future = done.get_future();
    Status s = store_->SubmitSettlementChunk(
        std::move(items),
        [&done](Result<std::vector<Decision>> r) { done.set_value(std::move(r)); });
    if (!s.ok()) return s;
    return future.get();
  }
  std::vector<Decision> ChunkOk(std::vector<Request> items) {
    auto d = Chunk(std::move(items));
    EXPECT_TRUE(d.ok()) << d.status().ToString();
    return d.ok() ? *d : std::vector<Decision>{};
  }

  Decision Single(const Request& r) {
    auto d = store_->Execute(r);
    EXPECT_TRUE(d.ok()) << d.status().ToString();
    return d.ok() ? *d : Decision{};
  }

  std::vector<JournalRecord> JournalFrom(uint64_t sequence) {
    std::vector<JournalRecord> out;
    EXPECT_TRUE(store_
                    ->ExportJournal(sequence, 0,
                                    [&](const JournalRecord& j) {
                                      out.push_back(j);
                                      return true;
                                    })
                    .ok());
    return out;
  }
  uint64_t LastSequence() {
    auto report = store_->VerifyJournal();
    EXPECT_TRUE(report.ok());
    return report.ok() ? report->last_sequence : 0;
  }

  int64_t Balance(uint64_t id) {
    auto a = store_->GetAccount(id);
    EXPECT_TRUE(a.ok());
    return a.ok() ? a->balance() : 0;
  }
  SettlementBatch Batch() {
    auto b = store_->GetSettlementBatch("B1");
    EXPECT_TRUE(b.ok());
    return b.ok() ? *b : SettlementBatch{};
  }

  void ExpectLedgerOk() { ExpectLedgerAndJournalOk(*store_); }

  TempDir dir_;
  ManualClock clock_;
  std::unique_ptr<Store> store_;
  Pan pan_ = TestPan(kCardholder);
};

TEST_P(SettlementChunkTest, DenseChunkIsOneJournalRecordAndAResubmissionMovesNothing) {
  std::vector<Decision> auths;
  for (int i = 0; i < 5; ++i) auths.push_back(Authorize(1'000 + i, "a" + std::to_string(i)));
  // The holds are found by RRN in memory (16 bytes each and the terminal once).
  EXPECT_EQ(store_->GetMemoryStats()->hold_index_entries, 5u);
  EXPECT_LT(store_->GetMemoryStats()->hold_index_bytes, 1'024u);
  const uint64_t before = LastSequence();
  std::vector<Request> items;
  for (int i = 0; i < 5; ++i) items.push_back(Capture(i + 1, 1'000 + i, auths[i]));
  std::vector<Decision> first = ChunkOk(items);
  ASSERT_EQ(first.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(first[i].response_code, ResponseCode::kApproved) << i;
    EXPECT_FALSE(first[i].duplicate);
    EXPECT_NE(first[i].transfer_id, 0u);
    EXPECT_EQ(first[i].approved_amount.minor_units(), 1'000 + i);
    EXPECT_EQ(first[i].journal_sequence, before + 1);
    EXPECT_EQ(store_->GetTransfer(auths[i].transfer_id)->state, TransferState::kPosted);
  }
  // One record for the chunk, carrying every item.
  std::vector<JournalRecord> journal = JournalFrom(before + 1);
  ASSERT_EQ(journal.size(), 1u);
  EXPECT_EQ(journal[0].operation, Operation::kSettleChunk);
  EXPECT_EQ(journal[0].settlement_batch_id, "B1");
  ASSERT_EQ(journal[0].settlement_items.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    const SettlementItemRecord& item = journal[0].settlement_items[i];
    EXPECT_EQ(item.number, static_cast<uint64_t>(i + 1));
    EXPECT_EQ(item.operation, Operation::kSettleCapture);
    EXPECT_EQ(item.response_code, ResponseCode::kApproved);
    EXPECT_EQ(item.amount_minor, 1'000 + i);
    EXPECT_EQ(item.approved_minor, 1'000 + i);
    EXPECT_EQ(item.transfer_id, first[i].transfer_id);
    EXPECT_EQ(item.rrn, std::to_string(auths[i].journal_sequence));
    EXPECT_TRUE(item.remembered);
  }
  const int64_t balance = Balance(kCardholder);
  EXPECT_EQ(balance, 1'000'000 - (1'000 + 1'001 + 1'002 + 1'003 + 1'004));
  EXPECT_EQ(Batch().held.captures_count, 5u);
  EXPECT_EQ(store_->GetMemoryStats()->settlement_item_runs, 1u);  // numbers 1..5, one record

  // The same chunk again (also after a restart): the same answers, nothing new moves or is
  // journaled.
  for (int round = 0; round < 2; ++round) {
    if (round == 1 && GetParam() == Backend::kRocksDb) Reopen();
    if (round == 1 && GetParam() == Backend::kMemory) break;  // keeps nothing across a reopen
    std::vector<Decision> again = ChunkOk(items);
    ASSERT_EQ(again.size(), 5u);
    for (int i = 0; i < 5; ++i) {
      EXPECT_TRUE(again[i].duplicate) << i;
      EXPECT_EQ(again[i].response_code, ResponseCode::kApproved);
      EXPECT_EQ(again[i].transfer_id, first[i].transfer_id);
      EXPECT_EQ(again[i].approved_amount.minor_units(), 1'000 + i);
      EXPECT_EQ(again[i].journal_sequence, first[i].journal_sequence);
    }
    EXPECT_EQ(LastSequence(), before + 1);
    EXPECT_EQ(Balance(kCardholder), balance);
    EXPECT_EQ(Batch().held.captures_count, 5u);
  }
  ExpectLedgerOk();
}

TEST_P(SettlementChunkTest, SparseNumbersPartialResubmissionAndOtherContent) {
  Decision a = Authorize(1'000, "a"), b = Authorize(2'000, "b"), c = Authorize(3'000, "c");
  Decision d = Authorize(4'000, "d");
  std::vector<Decision> first =
      ChunkOk({Capture(10, 1'000, a), Capture(3, 2'000, b), Capture(7, 3'000, c)});
  for (const Decision& x : first) EXPECT_EQ(x.response_code, ResponseCode::kApproved);
  const uint64_t after_first = LastSequence();

  // 3 again (same content), 8 new, 7 with another amount, 10 again.
  std::vector<Decision> second = ChunkOk(
      {Capture(3, 2'000, b), Capture(8, 4'000, d), Capture(7, 2'999, c), Capture(10, 1'000, a)});
  ASSERT_EQ(second.size(), 4u);
  EXPECT_TRUE(second[0].duplicate);
  EXPECT_EQ(second[0].transfer_id, first[1].transfer_id);
  EXPECT_EQ(second[1].response_code, ResponseCode::kApproved);
  EXPECT_FALSE(second[1].duplicate);
  EXPECT_EQ(second[2].response_code, ResponseCode::kDuplicateTransmission);
  EXPECT_EQ(second[2].reason, Reason::kDuplicateConflict);
  EXPECT_FALSE(second[2].duplicate);
  EXPECT_TRUE(second[3].duplicate);
  EXPECT_EQ(second[3].transfer_id, first[0].transfer_id);
  // One record: item 8 and the 94 of item 7 (journaled, not remembered).
  std::vector<JournalRecord> journal = JournalFrom(after_first + 1);
  ASSERT_EQ(journal.size(), 1u);
  ASSERT_EQ(journal[0].settlement_items.size(), 2u);
  EXPECT_EQ(journal[0].settlement_items[0].number, 8u);
  EXPECT_EQ(journal[0].settlement_items[1].number, 7u);
  EXPECT_FALSE(journal[0].settlement_items[1].remembered);
  // Item 7 still answers with its first decision.
  std::vector<Decision> third = ChunkOk({Capture(7, 3'000, c)});
  EXPECT_TRUE(third[0].duplicate);
  EXPECT_EQ(third[0].transfer_id, first[2].transfer_id);
  // The same number twice in one chunk: the second is the first's duplicate.
  Decision e = Authorize(500, "e");
  std::vector<Decision> twice = ChunkOk({Capture(20, 500, e), Capture(20, 500, e)});
  EXPECT_EQ(twice[0].response_code, ResponseCode::kApproved);
  EXPECT_TRUE(twice[1].duplicate);
  EXPECT_EQ(twice[1].transfer_id, twice[0].transfer_id);

  EXPECT_EQ(Batch().held.captures_count, 5u);
  EXPECT_EQ(Batch().held.captures_minor, 1'000 + 2'000 + 3'000 + 4'000 + 500);
  EXPECT_EQ(Balance(kCardholder), 1'000'000 - 10'500);
  ExpectLedgerOk();
}

TEST_P(SettlementChunkTest, ABadItemIsDeclinedAloneAndItsNeighboursAreDecided) {
  Decision a = Authorize(1'000, "a"), b = Authorize(1'000, "b"), c = Authorize(1'000, "c");
  Request too_long = Capture(2, 1'000, b);
  too_long.stan = std::string(Request::kFieldBytesMax + 1, '1');  // a field over its limit: 30
  Request wrong_code = Capture(3, 1'000, c);
  wrong_code.original_auth_code = "999999";
  Request unknown = Item(Operation::kSettleCapture, 4, 1'000);
  unknown.rrn = "999999";  // no such journal record: 25
  Request bad_rrn = Item(Operation::kSettleCapture, 5, 1'000);
  bad_rrn.rrn = "12x";                                   // 30
  Request zero = Item(Operation::kSettleCapture, 6, 0);  // 13
  zero.rrn = std::to_string(a.journal_sequence);
  std::vector<Decision> out = ChunkOk(
      {Capture(1, 1'000, a), too_long, wrong_code, unknown, bad_rrn, zero, Capture(7, 1'000, c)});
  ASSERT_EQ(out.size(), 7u);
  EXPECT_EQ(out[0].response_code, ResponseCode::kApproved);
  EXPECT_EQ(out[1].response_code, ResponseCode::kFormatError);
  EXPECT_EQ(out[2].response_code, ResponseCode::kInvalidTransaction);
  EXPECT_EQ(out[2].reason, Reason::kOriginalMismatch);
  EXPECT_EQ(out[3].response_code, ResponseCode::kUnableToLocateOriginal);
  EXPECT_EQ(out[4].response_code, ResponseCode::kFormatError);
  EXPECT_EQ(out[5].response_code, ResponseCode::kInvalidAmount);
  EXPECT_EQ(out[6].response_code, ResponseCode::kApproved);
  EXPECT_EQ(Batch().rejected_count, 4u);  // the 30 of a bad field is not an item decision
  // The item whose field was too long was not remembered: sent right, it is decided.
  std::vector<Decision> fixed = ChunkOk({Capture(2, 1'000, b)});
  EXPECT_EQ(fixed[0].response_code, ResponseCode::kApproved);
  EXPECT_FALSE(fixed[0].duplicate);
  // The declined ones were: the same content gets the same answer.
  std::vector<Decision> again = ChunkOk({wrong_code});
  EXPECT_TRUE(again[0].duplicate);
  EXPECT_EQ(again[0].reason, Reason::kOriginalMismatch);
  ExpectLedgerOk();
}

TEST_P(SettlementChunkTest, AnItemSentAloneAndInAChunkIsOneItem) {
  Decision a = Authorize(1'000, "a"), b = Authorize(2'000, "b");
  // Item 1 alone first (the ISO 8583 0320 path), then in a chunk with item 2.
  Decision alone = Single(Capture(1, 1'000, a));
  ASSERT_EQ(alone.response_code, ResponseCode::kApproved);
  // An item decided alone keeps no run of its own (ISO 8583 item numbers are DE 7 + STAN, never
  // consecutive: a run each would grow with every upload): it is found by its dedupe entry.
  EXPECT_EQ(store_->GetMemoryStats()->settlement_item_runs, 0u);
  if (GetParam() == Backend::kRocksDb) {
    Reopen();
    EXPECT_TRUE(ChunkOk({Capture(1, 1'000, a)})[0].duplicate);
    EXPECT_EQ(store_->GetMemoryStats()->dedupe_disk_reads, 1u);
  }
  std::vector<Decision> chunk = ChunkOk({Capture(1, 1'000, a), Capture(2, 2'000, b)});
  EXPECT_TRUE(chunk[0].duplicate);
  EXPECT_EQ(chunk[0].transfer_id, alone.transfer_id);
  EXPECT_EQ(chunk[0].journal_sequence, alone.journal_sequence);
  EXPECT_EQ(chunk[1].response_code, ResponseCode::kApproved);
  EXPECT_FALSE(chunk[1].duplicate);
  if (GetParam() == Backend::kRocksDb) Reopen();  // the records are read back from disk
  // Item 2 alone after its chunk: the chunk's answer; other content: 94, nothing moves.
  Decision again = Single(Capture(2, 2'000, b));
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.response_code, ResponseCode::kApproved);
  EXPECT_EQ(again.transfer_id, chunk[1].transfer_id);
  EXPECT_EQ(again.journal_sequence, chunk[1].journal_sequence);
  Decision other = Single(Capture(2, 1'500, b));
  EXPECT_EQ(other.response_code, ResponseCode::kDuplicateTransmission);
  // And item 1 in a chunk again, now from disk.
  std::vector<Decision> chunk_again = ChunkOk({Capture(1, 1'000, a)});
  EXPECT_TRUE(chunk_again[0].duplicate);
  EXPECT_EQ(chunk_again[0].transfer_id, alone.transfer_id);
  EXPECT_EQ(Batch().held.captures_count, 2u);
  EXPECT_EQ(Balance(kCardholder), 1'000'000 - 3'000);
  ExpectLedgerOk();
}

TEST_P(SettlementChunkTest, RestartBetweenChunksKeepsEveryItemExactlyOnce) {
  if (GetParam() == Backend::kMemory) GTEST_SKIP() << "the memory backend keeps nothing";
  std::vector<Decision> auths;
  for (int i = 0; i < 6; ++i) auths.push_back(Authorize(100 * (i + 1), "a" + std::to_string(i)));
  std::vector<Request> items;
  for (int i = 0; i < 6; ++i) items.push_back(Capture(i + 1, 100 * (i + 1), auths[i]));
  std::vector<Decision> first = ChunkOk({items.begin(), items.begin() + 3});
  Reopen();
  // A refund by card (no authorization) is the item that would pay twice if forgotten.
  Request refund = Item(Operation::kSettleRefund, 7, 50);
  refund.pan = pan_;
  std::vector<Request> all = items;
  all.push_back(refund);
  std::vector<Decision> second = ChunkOk(all);
  ASSERT_EQ(second.size(), 7u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(second[i].duplicate) << i;
    EXPECT_EQ(second[i].transfer_id, first[i].transfer_id);
  }
  for (int i = 3; i < 7; ++i) {
    EXPECT_EQ(second[i].response_code, ResponseCode::kApproved) << i;
    EXPECT_FALSE(second[i].duplicate);
  }
  Reopen();
  std::vector<Decision> third = ChunkOk(all);
  for (size_t i = 0; i < third.size(); ++i) EXPECT_TRUE(third[i].duplicate) << i;
  EXPECT_EQ(Batch().held.captures_count, 6u);
  EXPECT_EQ(Batch().held.refunds_count, 1u);
  EXPECT_EQ(Balance(kCardholder), 1'000'000 - 2'100 + 50);
  ExpectLedgerOk();
}

TEST_P(SettlementChunkTest, TwoItemsForOneAuthorizationAreAConflictPerItem) {
  Decision a = Authorize(1'000, "a");
  std::vector<Decision> out = ChunkOk({Capture(1, 1'000, a), Capture(2, 1'000, a)});
  EXPECT_EQ(out[0].response_code, ResponseCode::kApproved);
  EXPECT_EQ(out[1].response_code, ResponseCode::kDuplicateTransmission);
  EXPECT_EQ(out[1].reason, Reason::kCaptureConflict);
  // A capture of a hold the terminal completed online is declined the same way.
  Decision b = Authorize(1'000, "b");
  Request completion = TestRequest(Operation::kCapture, pan_, 1'000, "b-completion");
  completion.original_request_key = "b";
  ASSERT_TRUE(Single(completion).approved());
  std::vector<Decision> late = ChunkOk({Capture(3, 1'000, b)});
  EXPECT_FALSE(late[0].approved());
  EXPECT_EQ(Batch().held.captures_count, 1u);
  EXPECT_EQ(Balance(kCardholder), 1'000'000 - 2'000);
  ExpectLedgerOk();
}

TEST_P(SettlementChunkTest, ItemsFromAnotherTerminalOrWithAnotherCodeAreNotTheirs) {
  Decision a = Authorize(1'000, "a");
  Request other_terminal = Capture(1, 1'000, a);
  other_terminal.terminal_id = "TERM0002";
  Request other_code = Capture(2, 1'000, a);
  other_code.original_auth_code = a.auth_code == "000001" ? "000002" : "000001";
  std::vector<Decision> out = ChunkOk({other_terminal, other_code, Capture(3, 1'000, a)});
  EXPECT_EQ(out[0].reason, Reason::kOriginalMismatch);
  EXPECT_EQ(out[1].reason, Reason::kOriginalMismatch);
  EXPECT_EQ(out[2].response_code, ResponseCode::kApproved);
  // Made without a terminal: tied to its merchant.
  Request no_terminal = TestRequest(Operation::kAuthorize, pan_, 1'000, "m");
  no_terminal.terminal_id.clear();
  Decision m = Single(no_terminal);
  ASSERT_TRUE(m.approved());
  Request other_merchant = Capture(4, 1'000, m);
  other_merchant.merchant_id = "OTHERMERCHANT";
  Request own_merchant = Capture(5, 1'000, m);
  std::vector<Decision> by_merchant = ChunkOk({other_merchant, own_merchant});
  EXPECT_EQ(by_merchant[0].reason, Reason::kOriginalMismatch);
  EXPECT_EQ(by_merchant[1].response_code, ResponseCode::kApproved);
  // By the authorization's request key (gRPC idempotency key, ISO DE 90): the same checks.
  Decision k = Authorize(1'000, "k");
  auto by_key = [&](uint64_t number) {
    Request r = Item(Operation::kSettleCapture, number, 1'000);
    r.original_request_key = "k";
    r.original_auth_code = k.auth_code;
    return r;
  };
  Request key_other_terminal = by_key(6);
  key_other_terminal.terminal_id = "TERM0002";
  Request key_other_code = by_key(7);
  key_other_code.original_auth_code = k.auth_code == "000001" ? "000002" : "000001";
  std::vector<Decision> keyed = ChunkOk({key_other_terminal, key_other_code, by_key(8)});
  EXPECT_EQ(keyed[0].reason, Reason::kOriginalMismatch);
  EXPECT_EQ(keyed[1].reason, Reason::kOriginalMismatch);
  EXPECT_EQ(keyed[2].response_code, ResponseCode::kApproved);
  EXPECT_EQ(store_->GetTransfer(k.transfer_id)->state, TransferState::kPosted);
  ExpectLedgerOk();
}

TEST_P(SettlementChunkTest, AnOffUsItemInAChunkPostsTheIssuersReceivable) {
  Request remote = TestRequest(Operation::kRemoteDecision, TestPan(777), 3'000, "r1");
  remote.remote_response = ResponseCode::kApproved;
  remote.remote_auth_code = "A1B2C3";
  remote.issuer_id = "nordbank";
  remote.route = "issuer nordbank via nb-a 412us stan 17";
  Decision r1 = Single(remote);
  ASSERT_TRUE(r1.approved());
  Decision a = Authorize(1'000, "a");
  Request off_us = Item(Operation::kSettleCapture, 1, 3'000);
  off_us.rrn = std::to_string(r1.journal_sequence);
  std::vector<Decision> out = ChunkOk({off_us, Capture(2, 1'000, a)});
  EXPECT_EQ(out[0].response_code, ResponseCode::kApproved);
  EXPECT_EQ(out[1].response_code, ResponseCode::kApproved);
  auto receivable = store_->GetIssuerReceivable("nordbank", kEur);
  ASSERT_TRUE(receivable.ok());
  EXPECT_EQ(receivable->balance(), -3'000);
  std::vector<Decision> again = ChunkOk({off_us});
  EXPECT_TRUE(again[0].duplicate);
  EXPECT_EQ(store_->GetIssuerReceivable("nordbank", kEur)->balance(), -3'000);
  ExpectLedgerOk();
}

TEST_P(SettlementChunkTest, ItemsDecidedBeforeItemNumbersExistedAreNotDecidedTwice) {
  // A refund by card decided as a single item without a number (as every item was before
  // chunks): a chunk naming the same item finds its dedupe entry instead of paying it again.
  Request legacy = Item(Operation::kSettleRefund, 1, 700);
  legacy.pan = pan_;
  legacy.settlement_item_number = 0;
  Decision first = Single(legacy);
  ASSERT_EQ(first.response_code, ResponseCode::kApproved);
  Request numbered = legacy;
  numbered.settlement_item_number = 1;
  std::vector<Decision> out = ChunkOk({numbered});
  EXPECT_TRUE(out[0].duplicate);
  EXPECT_EQ(out[0].transfer_id, first.transfer_id);
  EXPECT_EQ(Balance(kCardholder), 1'000'000 + 700);
  EXPECT_EQ(Batch().held.refunds_count, 1u);
  ExpectLedgerOk();
}

TEST_P(SettlementChunkTest, ClosedOrUnknownBatchesDecideNothingNew) {
  Decision a = Authorize(1'000, "a"), b = Authorize(1'000, "b");
  ASSERT_EQ(ChunkOk({Capture(1, 1'000, a)})[0].response_code, ResponseCode::kApproved);
  BatchTotals declared;
  declared.captures_count = 1;
  declared.captures_minor = 1'000;
  ASSERT_EQ(store_->ReconcileSettlementBatch("B1", declared)->state, BatchState::kBalanced);
  // The batch again, with a new item: the old one answers as before, the new one is refused.
  std::vector<Decision> out = ChunkOk({Capture(1, 1'000, a), Capture(2, 1'000, b)});
  EXPECT_TRUE(out[0].duplicate);
  EXPECT_EQ(out[0].response_code, ResponseCode::kApproved);
  EXPECT_EQ(out[1].response_code, ResponseCode::kInvalidTransaction);
  EXPECT_EQ(out[1].reason, Reason::kBatchNotOpen);
  Request elsewhere = Capture(1, 1'000, b);
  elsewhere.batch_id = "NO-SUCH-BATCH";
  const uint64_t before_unknown = LastSequence();
  EXPECT_EQ(ChunkOk({elsewhere, elsewhere})[0].reason, Reason::kBatchNotOpen);
  // Journaled, and marked as not remembered: no batch keeps its number.
  std::vector<JournalRecord> journal = JournalFrom(before_unknown + 1);
  ASSERT_EQ(journal.size(), 1u);
  ASSERT_EQ(journal[0].settlement_items.size(), 2u);
  EXPECT_FALSE(journal[0].settlement_items[0].remembered);
  EXPECT_FALSE(journal[0].settlement_items[1].remembered);
  EXPECT_EQ(store_->GetTransfer(b.transfer_id)->state, TransferState::kPending);
  ExpectLedgerOk();
}

TEST_P(SettlementChunkTest, MalformedChunksAreRefusedWhole) {
  Decision a = Authorize(1'000, "a");
  auto done = [](Result<std::vector<Decision>>) { ADD_FAILURE() << "never called"; };
  EXPECT_EQ(store_->SubmitSettlementChunk({}, done).code(), Status::Code::kInvalidArgument);
  std::vector<Request> too_many(Store::kSettlementChunkItemsMax + 1, Capture(1, 1'000, a));
  EXPECT_EQ(store_->SubmitSettlementChunk(too_many, done).code(), Status::Code::kInvalidArgument);
  Request other_batch = Capture(2, 1'000, a);
  other_batch.batch_id = "B2";
  EXPECT_EQ(store_->SubmitSettlementChunk({Capture(1, 1'000, a), other_batch}, done).code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(store_->SubmitSettlementChunk({Capture(0, 1'000, a)}, done).code(),
            Status::Code::kInvalidArgument);
  Request not_an_item = Capture(1, 1'000, a);
  not_an_item.operation = Operation::kCapture;
  EXPECT_EQ(store_->SubmitSettlementChunk({not_an_item}, done).code(),
            Status::Code::kInvalidArgument);
  // The largest chunk is fine.
  std::vector<Request> largest;
  for (size_t i = 0; i < Store::kSettlementChunkItemsMax; ++i) {
    Request refund = Item(Operation::kSettleRefund, i + 1, 1);
    refund.pan = pan_;
    largest.push_back(refund);
  }
  std::vector<Decision> out = ChunkOk(largest);
  ASSERT_EQ(out.size(), Store::kSettlementChunkItemsMax);
  EXPECT_EQ(Batch().held.refunds_count, Store::kSettlementChunkItemsMax);
  ExpectLedgerOk();
}

INSTANTIATE_TEST_SUITE_P(Backends, SettlementChunkTest,
                         ::testing::Values(Backend::kMemory, Backend::kRocksDb),
                         [](const ::testing::TestParamInfo<Backend>& param_info) {
                           return param_info.param == Backend::kMemory ? "Memory" : "RocksDb";
                         });

}  // namespace
}  // namespace kytkin::storage
