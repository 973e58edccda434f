// What Open reads: the open holds come from their own column family (written in the batch that
// writes the hold, deleted in the batch that resolves it), not from a scan of every transfer; a
// data dir from before that index gets it once, by one full scan. RocksDB only: the memory
// backend does not survive a reopen. Links RocksDB to make an old data dir (drop the column
// family) and to damage the index on purpose.
#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "storage/fault_backend.h"
#include "storage/store.h"
#include "storage/test_util.h"

namespace kytkin::storage {
namespace {

using namespace kytkin::storage::testing;

constexpr uint64_t kCardholder = 1;
constexpr uint64_t kOther = 2;
constexpr int64_t kOpeningMinor = 1'000'000;
constexpr int kPurchases = 40;
constexpr int64_t kHoldTtlUs = 3600LL * 1'000'000;  // TestStoreOptions' hold_ttl_seconds
constexpr int64_t kDayUs = 86'400'000'000;

// Big-endian transfer id, the key of Cf::kTransfers and Cf::kOpenHolds.
std::string IdKey(uint64_t id) {
  std::string k(8, '\0');
  for (int i = 7; i >= 0; --i, id >>= 8) k[i] = static_cast<char>(id & 0xff);
  return k;
}

// Opens the store's RocksDB directly (all column families) to change what the store wrote.
class RawDb {
 public:
  explicit RawDb(const std::string& path) {
    std::vector<std::string> names;
    EXPECT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), path, &names).ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    for (const auto& n : names) cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
    rocksdb::Status s = rocksdb::DB::Open(rocksdb::DBOptions(), path, cfs, &handles_, &db_);
    EXPECT_TRUE(s.ok()) << s.ToString();
    for (size_t i = 0; i < names.size(); ++i) by_name_[names[i]] = handles_[i];
  }
  ~RawDb() {
    for (auto* h : handles_) {
      if (h != nullptr) {
        EXPECT_TRUE(db_->DestroyColumnFamilyHandle(h).ok());
      }
    }
    delete db_;
  }
  rocksdb::DB& db() { return *db_; }
  rocksdb::ColumnFamilyHandle* cf(const std::string& name) { return by_name_.at(name); }
  // What a data dir written before the index looks like: no column family, no marker.
  void DropIndex() {
    rocksdb::ColumnFamilyHandle* h = cf("open_holds");
    ASSERT_TRUE(db_->DropColumnFamily(h).ok());
    for (auto*& handle : handles_) {
      if (handle == h) handle = nullptr;
    }
    ASSERT_TRUE(db_->DestroyColumnFamilyHandle(h).ok());
    by_name_.erase("open_holds");
    ASSERT_TRUE(db_->Delete(rocksdb::WriteOptions(), cf("meta"), "open_holds_index").ok());
  }

 private:
  rocksdb::DB* db_ = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  std::map<std::string, rocksdb::ColumnFamilyHandle*> by_name_;
};

class StoreOpenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Reopen();
    ASSERT_TRUE(store_->CreateAccount(TestAccount(kCardholder), kOpeningMinor).ok());
    ASSERT_TRUE(store_->CreateCard(pan_, TestCard(kCardholder)).ok());
    ASSERT_TRUE(store_->CreateAccount(TestAccount(kOther), kOpeningMinor).ok());
    ASSERT_TRUE(store_->CreateCard(other_pan_, TestCard(kOther)).ok());
  }

  void Reopen() {
    store_.reset();
    StoreOptions o = TestStoreOptions(StoreOptions::Backend::kRocksDb, dir_.path(), &clock_);
    o.wrap_backend_for_testing = ReadFaults::Wrapper(faults_);
    auto s = Store::Open(o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }
  std::string DbPath() const { return dir_.path() + "/db"; }

  Decision Do(const Request& r) {
    auto d = store_->Execute(r);
    EXPECT_TRUE(d.ok()) << d.status().ToString();
    return d.ok() ? *d : Decision{};
  }
  uint64_t Hold(const std::string& key, int64_t minor) {
    const Decision d = Do(TestRequest(Operation::kAuthorize, pan_, minor, key));
    EXPECT_EQ(d.response_code, ResponseCode::kApproved) << key;
    return d.transfer_id;
  }

  // Many posted transfers (the ones a restart must not read), and holds in every state: two
  // open, one captured, one voided, one expired. Returns the open ones.
  std::vector<uint64_t> MakeHistory() {
    for (int i = 0; i < kPurchases; ++i) {
      EXPECT_EQ(
          Do(TestRequest(Operation::kPurchase, other_pan_, 10, "p" + std::to_string(i))).approved(),
          true);
    }
    const uint64_t expires = Hold("expires", 100);
    clock_.Advance(kHoldTtlUs / 2);
    const uint64_t open1 = Hold("open1", 200);
    const uint64_t open2 = Hold("open2", 300);
    const uint64_t captured = Hold("captured", 400);
    const uint64_t voided = Hold("voided", 500);
    EXPECT_TRUE(Do(OriginalRequest(Operation::kCapture, captured, 150, "cap")).approved());
    EXPECT_TRUE(Do(OriginalRequest(Operation::kReverse, voided, 0, "void")).approved());
    clock_.Advance(kHoldTtlUs / 2 + 1);
    auto swept = store_->SweepExpiredHolds();
    EXPECT_TRUE(swept.ok() && *swept == 1u);
    auto t = store_->GetTransfer(expires);
    EXPECT_TRUE(t.ok() && t->state == TransferState::kExpired);
    return {open1, open2};
  }

  std::pair<Account, Account> Balances() {
    auto a = store_->GetAccount(kCardholder);
    auto b = store_->GetAccount(kOther);
    EXPECT_TRUE(a.ok() && b.ok());
    return {a.ok() ? *a : Account{}, b.ok() ? *b : Account{}};
  }
  static void ExpectSameTotals(const Account& a, const Account& b) {
    EXPECT_EQ(a.debits_posted, b.debits_posted) << a.id;
    EXPECT_EQ(a.credits_posted, b.credits_posted) << a.id;
    EXPECT_EQ(a.debits_pending, b.debits_pending) << a.id;
    EXPECT_EQ(a.credits_pending, b.credits_pending) << a.id;
  }
  uint64_t ResidentOpenHolds() {
    auto s = store_->GetMemoryStats();
    EXPECT_TRUE(s.ok());
    return s.ok() ? s->open_holds : 0;
  }

  uint64_t HoldIndexEntries() {
    auto s = store_->GetMemoryStats();
    EXPECT_TRUE(s.ok());
    return s.ok() ? s->hold_index_entries : 0;
  }

  TempDir dir_;
  ManualClock clock_{kTestNowUnixUs};
  // Point reads of chosen column families fail on demand (fault_backend.h).
  std::shared_ptr<ReadFaults> faults_ = std::make_shared<ReadFaults>();
  std::unique_ptr<Store> store_;
  Pan pan_ = TestPan(kCardholder);
  Pan other_pan_ = TestPan(kOther);
};

// Settlement by RRN or request key after a restart: the open holds' index entries carry the
// approval's journal sequence and owner, so Open rebuilds the RRN index and an item finds its
// hold without reading the journal (a failing journal read would show as a 96).
class OpenHoldRrnTest : public StoreOpenTest {
 protected:
  static constexpr uint64_t kMerchant = 1001;
  static constexpr uint64_t kAcquirer = 9001;
  static constexpr uint64_t kFees = 9002;

  void SetUp() override {
    StoreOpenTest::SetUp();
    ASSERT_TRUE(store_->CreateAccount(TestAccount(kMerchant, AccountKind::kMerchant)).ok());
    ASSERT_TRUE(
        store_->CreateAccount(TestAccount(kAcquirer, AccountKind::kAcquirerSettlement)).ok());
    ASSERT_TRUE(store_->CreateAccount(TestAccount(kFees, AccountKind::kFees)).ok());
    ASSERT_TRUE(
        store_->OpenSettlementBatch(TestSettlementBatch("B1", kMerchant, kAcquirer, kFees)).ok());
  }

  Decision Authorize(const std::string& key, bool with_terminal = true) {
    Request r = TestRequest(Operation::kAuthorize, pan_, 1'000, key);
    if (!with_terminal) r.terminal_id.clear();
    const Decision d = Do(r);
    EXPECT_TRUE(d.approved()) << key;
    return d;
  }
  // A capture item as switch/settlement.cc makes it, naming its authorization by RRN.
  Request Capture(uint64_t number, const Decision& auth) {
    Request r = TestSettlementItem(Operation::kSettleCapture, number, 1'000);
    r.rrn = std::to_string(auth.journal_sequence);
    r.original_auth_code = auth.auth_code;
    return r;
  }
  // The same, naming it by its request key instead (gRPC idempotency key, ISO DE 90).
  Request CaptureByKey(uint64_t number, const Decision& auth, const std::string& key) {
    Request r = Capture(number, auth);
    r.rrn.clear();
    r.original_request_key = key;
    return r;
  }
  static std::string OtherCode(const Decision& auth) {
    return auth.auth_code == "000001" ? "000002" : "000001";
  }
};

TEST_F(OpenHoldRrnTest, OpenHoldsSettleAfterAReopenWithoutReadingTheJournal) {
  const Decision a = Authorize("a");
  const Decision k = Authorize("k");
  const Decision m = Authorize("m", /*with_terminal=*/false);
  Reopen();
  EXPECT_EQ(HoldIndexEntries(), 3u);
  faults_->Fail(Cf::kJournal);
  // By RRN: another terminal's item, or another auth code, is not this authorization's.
  Request other_terminal = Capture(1, a);
  other_terminal.terminal_id = "TERM0002";
  Request other_code = Capture(2, a);
  other_code.original_auth_code = OtherCode(a);
  const Decision d1 = Do(other_terminal);
  EXPECT_EQ(d1.response_code, ResponseCode::kInvalidTransaction);
  EXPECT_EQ(d1.reason, Reason::kOriginalMismatch);
  EXPECT_EQ(Do(other_code).reason, Reason::kOriginalMismatch);
  EXPECT_EQ(Do(Capture(3, a)).response_code, ResponseCode::kApproved);
  // By request key: the same checks.
  Request key_other_terminal = CaptureByKey(4, k, "k");
  key_other_terminal.terminal_id = "TERM0002";
  Request key_other_code = CaptureByKey(5, k, "k");
  key_other_code.original_auth_code = OtherCode(k);
  EXPECT_EQ(Do(key_other_terminal).reason, Reason::kOriginalMismatch);
  EXPECT_EQ(Do(key_other_code).reason, Reason::kOriginalMismatch);
  EXPECT_EQ(Do(CaptureByKey(6, k, "k")).response_code, ResponseCode::kApproved);
  // Made without a terminal: tied to its merchant.
  Request other_merchant = Capture(7, m);
  other_merchant.merchant_id = "OTHERMERCHANT";
  EXPECT_EQ(Do(other_merchant).reason, Reason::kOriginalMismatch);
  EXPECT_EQ(Do(Capture(8, m)).response_code, ResponseCode::kApproved);
  EXPECT_EQ(faults_->failed_reads(), 0u);
  faults_->Clear();
  for (const Decision* auth : {&a, &k, &m}) {
    auto t = store_->GetTransfer(auth->transfer_id);
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(t->state, TransferState::kPosted);
  }
  ExpectLedgerAndJournalOk(*store_);
  // Resolved holds leave the index entries; a second reopen indexes none.
  Reopen();
  EXPECT_EQ(HoldIndexEntries(), 0u);
  EXPECT_EQ(store_->open_stats().open_holds, 0u);
}

TEST_F(OpenHoldRrnTest, AnEntryWithoutAValueSettlesThroughTheJournal) {
  const Decision old_style = Authorize("old");
  const Decision indexed = Authorize("new");
  store_.reset();
  {
    // What a binary from before the value wrote: the hold's key only.
    RawDb raw(DbPath());
    ASSERT_TRUE(
        raw.db()
            .Put(rocksdb::WriteOptions(), raw.cf("open_holds"), IdKey(old_style.transfer_id), "")
            .ok());
  }
  Reopen();
  EXPECT_FALSE(store_->open_stats().open_hold_index_built);
  EXPECT_EQ(store_->open_stats().open_holds, 2u);
  EXPECT_EQ(HoldIndexEntries(), 1u);
  faults_->Fail(Cf::kJournal);
  const Decision failed = Do(Capture(1, old_style));  // needs the journal record
  EXPECT_EQ(failed.response_code, ResponseCode::kSystemMalfunction);
  EXPECT_EQ(failed.reason, Reason::kStorageReadFailed);
  EXPECT_GE(faults_->failed_reads(), 1u);
  EXPECT_EQ(Do(Capture(2, indexed)).response_code, ResponseCode::kApproved);
  faults_->Clear();
  // The 96 was not remembered: the same item, retried with the journal readable, is approved,
  // and the ownership check still holds on that path.
  Request other_terminal = Capture(3, old_style);
  other_terminal.terminal_id = "TERM0002";
  EXPECT_EQ(Do(other_terminal).reason, Reason::kOriginalMismatch);
  EXPECT_EQ(Do(Capture(1, old_style)).response_code, ResponseCode::kApproved);
  ExpectLedgerAndJournalOk(*store_);
}

TEST_F(OpenHoldRrnTest, MalformedIndexValueRefusesToOpen) {
  const Decision a = Authorize("a");
  store_.reset();
  {
    RawDb raw(DbPath());
    // A varint that never ends, then one that ends but names no owner kind.
    ASSERT_TRUE(raw.db()
                    .Put(rocksdb::WriteOptions(), raw.cf("open_holds"), IdKey(a.transfer_id),
                         std::string(11, '\x80'))
                    .ok());
  }
  auto s = Store::Open(TestStoreOptions(StoreOptions::Backend::kRocksDb, dir_.path(), &clock_));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Status::Code::kCorruption) << s.status().ToString();
  EXPECT_NE(s.status().message().find("malformed value"), std::string_view::npos);
  {
    RawDb raw(DbPath());
    ASSERT_TRUE(raw.db()
                    .Put(rocksdb::WriteOptions(), raw.cf("open_holds"), IdKey(a.transfer_id),
                         std::string("\x05x"))
                    .ok());
  }
  s = Store::Open(TestStoreOptions(StoreOptions::Backend::kRocksDb, dir_.path(), &clock_));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("malformed value"), std::string_view::npos);
}

TEST_F(StoreOpenTest, ReopenReadsOnlyTheOpenHolds) {
  const std::vector<uint64_t> open = MakeHistory();
  const auto before = Balances();
  auto last = store_->GetTransfer(open.back());
  ASSERT_TRUE(last.ok());
  Reopen();

  const Store::OpenStats& stats = store_->open_stats();
  EXPECT_FALSE(stats.open_hold_index_built);
  EXPECT_EQ(stats.transfers_scanned, 0u);  // no transfer read but the two open holds
  EXPECT_EQ(stats.open_holds, 2u);
  EXPECT_EQ(stats.accounts, 3u);  // two cardholders and the settlement account
  EXPECT_EQ(stats.cards, 2u);
  EXPECT_EQ(ResidentOpenHolds(), 2u);
  const auto after = Balances();
  ExpectSameTotals(before.first, after.first);
  ExpectSameTotals(before.second, after.second);
  auto reread = store_->GetTransfer(open.back());
  ASSERT_TRUE(reread.ok());
  EXPECT_EQ(reread->state, TransferState::kPending);
  EXPECT_EQ(reread->expires_unix_us, last->expires_unix_us);
  EXPECT_EQ(reread->card_token, last->card_token);

  // The open holds still resolve (once); the resolved ones stay resolved; new transfers get
  // ids past every old one (the next id comes from the last key, not a scan).
  EXPECT_TRUE(Do(OriginalRequest(Operation::kCapture, open[0], 200, "cap-open1")).approved());
  EXPECT_EQ(Do(OriginalRequest(Operation::kCapture, open[0], 200, "cap-open1-again")).reason,
            Reason::kAlreadyResolved);
  const Decision next = Do(TestRequest(Operation::kPurchase, pan_, 1, "after"));
  ASSERT_TRUE(next.approved());
  EXPECT_GT(next.transfer_id, open.back());
  EXPECT_EQ(ResidentOpenHolds(), 1u);
  ExpectLedgerAndJournalOk(*store_);

  // Expiry still finds the remaining hold after the restart.
  Reopen();
  EXPECT_EQ(store_->open_stats().open_holds, 1u);
  clock_.Advance(kHoldTtlUs);
  auto swept = store_->SweepExpiredHolds();
  ASSERT_TRUE(swept.ok());
  EXPECT_EQ(*swept, 1u);
  Reopen();
  EXPECT_EQ(store_->open_stats().open_holds, 0u);
  EXPECT_EQ(Balances().first.debits_pending, 0);
  ExpectLedgerAndJournalOk(*store_);
}

TEST_F(StoreOpenTest, OldDataDirGetsTheIndexByOneFullScan) {
  const std::vector<uint64_t> open = MakeHistory();
  const auto before = Balances();
  store_.reset();
  {
    RawDb raw(DbPath());
    raw.DropIndex();
  }
  Reopen();
  const Store::OpenStats& built = store_->open_stats();
  EXPECT_TRUE(built.open_hold_index_built);
  // Two opening balances, the purchases, five holds and their capture, void and expiry.
  EXPECT_EQ(built.transfers_scanned, 2u + kPurchases + 5u + 3u);
  EXPECT_EQ(built.open_holds, 2u);
  ExpectLedgerAndJournalOk(*store_);  // includes: the index names exactly the open holds

  Reopen();
  EXPECT_FALSE(store_->open_stats().open_hold_index_built);
  EXPECT_EQ(store_->open_stats().transfers_scanned, 0u);
  EXPECT_EQ(store_->open_stats().open_holds, 2u);
  ExpectSameTotals(before.first, Balances().first);
  EXPECT_TRUE(Do(OriginalRequest(Operation::kReverse, open[1], 0, "void-open2")).approved());
  ExpectLedgerAndJournalOk(*store_);
}

TEST_F(StoreOpenTest, InterruptedIndexBuildIsRedoneAndDropsStaleEntries) {
  const std::vector<uint64_t> open = MakeHistory();
  store_.reset();
  {
    // A build that wrote part of the index and stopped before its marker, plus an entry that
    // names a transfer that is no hold at all (posted purchase 3).
    RawDb raw(DbPath());
    ASSERT_TRUE(raw.db().Delete(rocksdb::WriteOptions(), raw.cf("meta"), "open_holds_index").ok());
    ASSERT_TRUE(
        raw.db().Delete(rocksdb::WriteOptions(), raw.cf("open_holds"), IdKey(open[0])).ok());
    std::string posted;
    ASSERT_TRUE(raw.db().Get(rocksdb::ReadOptions(), raw.cf("transfers"), IdKey(3), &posted).ok());
    ASSERT_TRUE(raw.db().Put(rocksdb::WriteOptions(), raw.cf("open_holds"), IdKey(3), posted).ok());
  }
  Reopen();
  EXPECT_TRUE(store_->open_stats().open_hold_index_built);
  EXPECT_EQ(store_->open_stats().open_holds, 2u);
  ExpectLedgerAndJournalOk(*store_);
  Reopen();
  EXPECT_EQ(store_->open_stats().transfers_scanned, 0u);
  EXPECT_EQ(store_->open_stats().open_holds, 2u);
}

TEST_F(StoreOpenTest, IndexLeftStaleByAnOlderBinaryIsRebuilt) {
  const std::vector<uint64_t> open = MakeHistory();
  store_.reset();
  std::string pending_copy;  // open[0]'s index entry while it is open
  {
    RawDb raw(DbPath());
    ASSERT_TRUE(
        raw.db()
            .Get(rocksdb::ReadOptions(), raw.cf("open_holds"), IdKey(open[0]), &pending_copy)
            .ok());
  }
  Reopen();
  ASSERT_TRUE(Do(OriginalRequest(Operation::kReverse, open[0], 0, "void-open1")).approved());
  store_.reset();
  {
    // What a binary without the index leaves after voiding the hold: the entry still there
    // (it never deletes it) and the journal head moved past the index's marker.
    RawDb raw(DbPath());
    ASSERT_TRUE(
        raw.db()
            .Put(rocksdb::WriteOptions(), raw.cf("open_holds"), IdKey(open[0]), pending_copy)
            .ok());
    ASSERT_TRUE(
        raw.db().Put(rocksdb::WriteOptions(), raw.cf("meta"), "open_holds_index", IdKey(1)).ok());
  }
  Reopen();
  EXPECT_TRUE(store_->open_stats().open_hold_index_built);
  EXPECT_EQ(store_->open_stats().open_holds, 1u);  // not the voided one
  auto voided = store_->GetTransfer(open[0]);
  ASSERT_TRUE(voided.ok());
  EXPECT_EQ(voided->state, TransferState::kVoided);
  ExpectLedgerAndJournalOk(*store_);
  Reopen();
  EXPECT_FALSE(store_->open_stats().open_hold_index_built);
  EXPECT_EQ(store_->open_stats().open_holds, 1u);
}

TEST_F(StoreOpenTest, OpenReadsOneVelocityRecordPerCardNotOnePerDay) {
  // Day 1: both cards spend. Day 2: card 1 spends again, and the batch that writes its day-2
  // counter deletes its day-1 record.
  ASSERT_TRUE(Do(TestRequest(Operation::kPurchase, pan_, 10, "d1-a")).approved());
  ASSERT_TRUE(Do(TestRequest(Operation::kPurchase, other_pan_, 10, "d1-b")).approved());
  clock_.Advance(kDayUs);
  ASSERT_TRUE(Do(TestRequest(Operation::kPurchase, pan_, 20, "d2-a")).approved());
  Reopen();
  // Card 1's day-2 record, and card 2's day-1 record, which this open deletes.
  EXPECT_EQ(store_->open_stats().velocity_entries, 2u);
  Reopen();
  EXPECT_EQ(store_->open_stats().velocity_entries, 1u);
  clock_.Advance(kDayUs);
  Reopen();
  EXPECT_EQ(store_->open_stats().velocity_entries, 1u);  // yesterday's, deleted now
  Reopen();
  EXPECT_EQ(store_->open_stats().velocity_entries, 0u);
  ExpectLedgerAndJournalOk(*store_);
}

TEST_F(StoreOpenTest, TodaysVelocityOutlivesTheDeletionOfPastDays) {
  constexpr uint64_t kLimited = 3;
  const Pan limited_pan = TestPan(kLimited);
  ASSERT_TRUE(store_->CreateAccount(TestAccount(kLimited), kOpeningMinor).ok());
  Card card = TestCard(kLimited);
  card.daily_count_max = 2;
  ASSERT_TRUE(store_->CreateCard(limited_pan, card).ok());
  ASSERT_TRUE(Do(TestRequest(Operation::kPurchase, limited_pan, 10, "y1")).approved());
  clock_.Advance(kDayUs);
  ASSERT_TRUE(Do(TestRequest(Operation::kPurchase, limited_pan, 10, "t1")).approved());
  ASSERT_TRUE(Do(TestRequest(Operation::kPurchase, limited_pan, 10, "t2")).approved());
  Reopen();
  Reopen();
  EXPECT_EQ(Do(TestRequest(Operation::kPurchase, limited_pan, 10, "t3")).response_code,
            ResponseCode::kExceedsFrequencyLimit);
  clock_.Advance(kDayUs);
  EXPECT_TRUE(Do(TestRequest(Operation::kPurchase, limited_pan, 10, "n1")).approved());
}

TEST_F(StoreOpenTest, CleanCloseLeavesNoWalToReplay) {
  MakeHistory();
  store_.reset();
  // Below rocksdb_flush_on_close_bytes_min (the default 32 MiB) the WAL is left to the replay.
  uint64_t kept_bytes = 0;
  for (const auto& entry : std::filesystem::directory_iterator(DbPath())) {
    if (entry.path().extension() == ".log") kept_bytes += entry.file_size();
  }
  EXPECT_GT(kept_bytes, 0u);
  StoreOptions o = TestStoreOptions(StoreOptions::Backend::kRocksDb, dir_.path(), &clock_);
  o.rocksdb_flush_on_close_bytes_min = 0;
  auto s = Store::Open(o);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  store_ = std::move(s).value();
  ASSERT_TRUE(Do(TestRequest(Operation::kPurchase, pan_, 1, "last")).approved());
  store_.reset();
  // RocksDB's write-ahead logs: after the close's flush, nothing in them is still needed, so
  // the next open replays nothing (the live log, if any, is empty).
  uint64_t wal_bytes = 0;
  for (const auto& entry : std::filesystem::directory_iterator(DbPath())) {
    if (entry.path().extension() == ".log") wal_bytes += entry.file_size();
  }
  EXPECT_EQ(wal_bytes, 0u);
  Reopen();
  EXPECT_EQ(store_->open_stats().open_holds, 2u);
  ExpectLedgerAndJournalOk(*store_);
}

TEST_F(StoreOpenTest, IndexEntryThatIsNoOpenHoldRefusesToOpen) {
  MakeHistory();
  store_.reset();
  {
    RawDb raw(DbPath());
    std::string posted;
    ASSERT_TRUE(raw.db().Get(rocksdb::ReadOptions(), raw.cf("transfers"), IdKey(3), &posted).ok());
    ASSERT_TRUE(raw.db().Put(rocksdb::WriteOptions(), raw.cf("open_holds"), IdKey(3), posted).ok());
  }
  auto s = Store::Open(TestStoreOptions(StoreOptions::Backend::kRocksDb, dir_.path(), &clock_));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Status::Code::kCorruption) << s.status().ToString();
  EXPECT_NE(s.status().message().find("open hold index"), std::string_view::npos);
}

TEST_F(StoreOpenTest, VerifyLedgerReportsAnIndexThatDisagreesWithTheTransfers) {
  const std::vector<uint64_t> open = MakeHistory();
  store_.reset();
  {
    RawDb raw(DbPath());
    ASSERT_TRUE(
        raw.db().Delete(rocksdb::WriteOptions(), raw.cf("open_holds"), IdKey(open[0])).ok());
  }
  Reopen();  // opens (one hold fewer in memory), but the check sees the gap
  EXPECT_EQ(store_->open_stats().open_holds, 1u);
  auto report = store_->VerifyLedger();
  ASSERT_TRUE(report.ok());
  ASSERT_EQ(report->violations.size(), 1u);
  EXPECT_NE(report->violations[0].find("missing from the open hold index"), std::string::npos)
      << report->violations[0];
}

}  // namespace
}  // namespace kytkin::storage
