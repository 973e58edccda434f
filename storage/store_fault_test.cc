// Fault test: a sync that fails underneath RocksDB (injected through a wrapped FileSystem) must
// mean no acknowledgement and a clear fatal error, and the store must stop deciding.
#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include <atomic>
#include <functional>
#include <future>

#include "storage/store.h"
#include "storage/test_util.h"

namespace kytkin::storage {
namespace {

using namespace kytkin::storage::testing;

// Fails every Sync/Fsync of a writable file while `fail_syncs` is set.
class FailingSyncFs final : public rocksdb::FileSystemWrapper {
 public:
  explicit FailingSyncFs(const std::shared_ptr<rocksdb::FileSystem>& target)
      : FileSystemWrapper(target) {}
  const char* Name() const override { return "FailingSyncFs"; }

  rocksdb::IOStatus NewWritableFile(const std::string& name, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = target()->NewWritableFile(name, options, result, dbg);
    if (s.ok()) *result = std::make_unique<File>(std::move(*result), this);
    return s;
  }
  rocksdb::IOStatus ReuseWritableFile(const std::string& name, const std::string& old_name,
                                      const rocksdb::FileOptions& options,
                                      std::unique_ptr<rocksdb::FSWritableFile>* result,
                                      rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = target()->ReuseWritableFile(name, old_name, options, result, dbg);
    if (s.ok()) *result = std::make_unique<File>(std::move(*result), this);
    return s;
  }

  std::atomic<bool> fail_syncs{false};
  std::atomic<int> failed_syncs{0};

 private:
  class File final : public rocksdb::FSWritableFileOwnerWrapper {
   public:
    File(std::unique_ptr<rocksdb::FSWritableFile>&& target, FailingSyncFs* fs)
        : FSWritableFileOwnerWrapper(std::move(target)), fs_(fs) {}
    rocksdb::IOStatus Sync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) override {
      if (fs_->fail_syncs) return Fail();
      return FSWritableFileOwnerWrapper::Sync(o, d);
    }
    rocksdb::IOStatus Fsync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) override {
      if (fs_->fail_syncs) return Fail();
      return FSWritableFileOwnerWrapper::Fsync(o, d);
    }
    rocksdb::IOStatus RangeSync(uint64_t off, uint64_t n, const rocksdb::IOOptions& o,
                                rocksdb::IODebugContext* d) override {
      if (fs_->fail_syncs) return Fail();
      return FSWritableFileOwnerWrapper::RangeSync(off, n, o, d);
    }

   private:
    rocksdb::IOStatus Fail() {
      ++fs_->failed_syncs;
      return rocksdb::IOStatus::IOError("injected fdatasync failure (EIO)");
    }
    FailingSyncFs* fs_;
  };
};

TEST(StoreFaultTest, FailedSyncIsFatalAndNothingIsAcknowledged) {
  TempDir dir;
  ManualClock clock(kTestNowUnixUs);
  auto fs = std::make_shared<FailingSyncFs>(rocksdb::FileSystem::Default());
  std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(fs);

  StoreOptions o;
  o.data_dir = dir.path() + "/db";
  o.card_key = TestCardKey();
  o.clock = &clock;
  o.sweep_interval_ms = 0;
  o.rocksdb_env_for_testing = env.get();
  auto opened = Store::Open(o);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  std::unique_ptr<Store> store = std::move(opened).value();

  ASSERT_TRUE(store->CreateAccount(TestAccount(1), 10'000).ok());
  const Pan pan = TestPan(1);
  ASSERT_TRUE(store->CreateCard(pan, TestCard(1)).ok());
  auto ok = store->Execute(TestRequest(Operation::kAuthorize, pan, 100, "before"));
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(ok->approved());

  fs->fail_syncs = true;
  // Several requests in flight: none may come back as a decision.
  constexpr int kInFlight = 16;
  std::vector<std::future<Result<Decision>>> results;
  for (int i = 0; i < kInFlight; ++i) {
    auto promise = std::make_shared<std::promise<Result<Decision>>>();
    results.push_back(promise->get_future());
    Status s = store->Submit(TestRequest(Operation::kAuthorize, pan, 100, "k" + std::to_string(i)),
                             [promise](Result<Decision> d) { promise->set_value(std::move(d)); });
    if (!s.ok()) {
      // Accepted-then-failed or refused: both are "not acknowledged".
      promise->set_value(Result<Decision>(s));
    }
  }
  for (auto& f : results) {
    Result<Decision> d = f.get();
    EXPECT_FALSE(d.ok()) << "a decision was acknowledged although its sync failed";
    if (!d.ok()) {
      EXPECT_EQ(d.status().code(), Status::Code::kIOError) << d.status().ToString();
    }
  }
  EXPECT_GT(fs->failed_syncs.load(), 0);
  Status health = store->health();
  EXPECT_EQ(health.code(), Status::Code::kIOError);
  EXPECT_NE(health.message().find("store stopped"), std::string_view::npos) << health.ToString();
  EXPECT_NE(health.message().find("injected fdatasync failure"), std::string_view::npos)
      << health.ToString();

  // Even with the disk healthy again, the store stays stopped: no retry that could acknowledge
  // a decision that was never durable.
  fs->fail_syncs = false;
  EXPECT_EQ(store
                ->Submit(TestRequest(Operation::kAuthorize, pan, 1, "after"),
                         [](Result<Decision>) { ADD_FAILURE() << "completion after fatal"; })
                .code(),
            Status::Code::kIOError);
  EXPECT_FALSE(store->Execute(TestRequest(Operation::kAuthorize, pan, 1, "after2")).ok());
  EXPECT_FALSE(store->CreateAccount(TestAccount(2)).ok());
  store.reset();

  // A fresh open (a restart) sees a consistent ledger and an intact journal.
  o.rocksdb_env_for_testing = nullptr;
  auto reopened = Store::Open(o);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  auto ledger = (*reopened)->VerifyLedger();
  ASSERT_TRUE(ledger.ok());
  EXPECT_TRUE(ledger->ok()) << (ledger->violations.empty() ? "" : ledger->violations[0]);
  auto journal = (*reopened)->VerifyJournal();
  ASSERT_TRUE(journal.ok());
  EXPECT_TRUE(journal->ok()) << (journal->violations.empty() ? "" : journal->violations[0]);
  EXPECT_GE(journal->last_sequence, 1u);
}

}  // namespace
}  // namespace kytkin::storage

namespace kytkin::storage {
namespace {

using namespace kytkin::storage::testing;

// Opens the store's RocksDB directly, as an attacker or a bad disk would, and applies `edit` to
// the journal column family.
void EditJournal(const std::string& path,
                 const std::function<void(rocksdb::DB*, rocksdb::ColumnFamilyHandle*)>& edit) {
  std::vector<std::string> names;
  ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), path, &names).ok());
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (const auto& n : names) cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), path, cfs, &handles, &db).ok());
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == "journal") edit(db, handles[i]);
  }
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
  delete db;
}

std::string Key(uint64_t seq) {
  std::string k(8, '\0');
  for (int i = 7; i >= 0; --i, seq >>= 8) k[i] = static_cast<char>(seq & 0xff);
  return k;
}

class JournalTamperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    o_.data_dir = dir_.path() + "/db";
    o_.card_key = TestCardKey();
    o_.clock = &clock_;
    o_.sweep_interval_ms = 0;
    auto store = std::move(Store::Open(o_)).value();
    ASSERT_TRUE(store->CreateAccount(TestAccount(1), 10'000).ok());
    ASSERT_TRUE(store->CreateCard(TestPan(1), TestCard(1)).ok());
    for (int i = 0; i < 5; ++i) {
      ASSERT_TRUE(
          store->Execute(TestRequest(Operation::kAuthorize, TestPan(1), 10, std::to_string(i)))
              .ok());
    }
  }

  std::vector<std::string> Violations() {
    // Open would refuse a store whose head record is damaged; verify the chain in place.
    auto store = Store::Open(o_);
    if (!store.ok()) return {"open: " + store.status().ToString()};
    auto report = (*store)->VerifyJournal();
    EXPECT_TRUE(report.ok());
    return report->violations;
  }

  TempDir dir_;
  ManualClock clock_{kTestNowUnixUs};
  StoreOptions o_;
};

TEST_F(JournalTamperTest, IntactJournalVerifies) { EXPECT_TRUE(Violations().empty()); }

TEST_F(JournalTamperTest, ChangedRecordIsDetected) {
  EditJournal(o_.data_dir, [](rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf) {
    std::string v;
    ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), cf, Key(2), &v).ok());
    v[20] ^= 0x01;  // one bit of the record content
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), cf, Key(2), v).ok());
  });
  auto v = Violations();
  ASSERT_FALSE(v.empty());
  EXPECT_NE(v[0].find("journal record 2"), std::string::npos) << v[0];
}

TEST_F(JournalTamperTest, MissingRecordIsDetected) {
  EditJournal(o_.data_dir, [](rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf) {
    ASSERT_TRUE(db->Delete(rocksdb::WriteOptions(), cf, Key(3)).ok());
  });
  auto v = Violations();
  ASSERT_FALSE(v.empty());
  EXPECT_NE(v[0].find("sequence gap"), std::string::npos) << v[0];
}

TEST_F(JournalTamperTest, MissingLastRecordIsDetected) {
  EditJournal(o_.data_dir, [](rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf) {
    ASSERT_TRUE(db->Delete(rocksdb::WriteOptions(), cf, Key(5)).ok());
  });
  auto v = Violations();
  ASSERT_FALSE(v.empty());
  EXPECT_NE(v[0].find("journal head"), std::string::npos) << v[0];
}

}  // namespace
}  // namespace kytkin::storage
