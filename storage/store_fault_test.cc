// Fault test: a sync that fails underneath RocksDB (injected through a wrapped FileSystem) must
// mean no acknowledgement and a clear fatal error, and the store must stop deciding.
#include <gtest/gtest.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include <atomic>
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
