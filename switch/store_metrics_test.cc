// The ledger's memory and open statistics on /metrics (StoreMetrics): names, labels and values a
// user can check against what the store holds.
#include "switch/store_metrics.h"

#include <gtest/gtest.h>

#include <string>

#include "storage/test_util.h"

namespace kytkin {
namespace {

using namespace kytkin::storage::testing;
using storage::Operation;

// The value of the series whose line starts with `series` (name and labels exactly), or -1.
int64_t SeriesValue(const std::string& text, const std::string& series) {
  size_t at = 0;
  while ((at = text.find(series + " ", at)) != std::string::npos) {
    if (at == 0 || text[at - 1] == '\n') return std::stoll(text.substr(at + series.size() + 1));
    at += series.size();
  }
  return -1;
}

class StoreMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = storage::Store::Open(
        TestStoreOptions(storage::StoreOptions::Backend::kMemory, "", &clock_));
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
    for (uint64_t id = 1; id <= 2; ++id) {
      ASSERT_TRUE(store_->CreateAccount(TestAccount(id), 100'000).ok());
      ASSERT_TRUE(store_->CreateCard(TestPan(id), TestCard(id)).ok());
    }
  }
  storage::Decision Do(const storage::Request& r) {
    auto d = store_->Execute(r);
    EXPECT_TRUE(d.ok()) << d.status().ToString();
    return d.ok() ? *d : storage::Decision{};
  }

  ManualClock clock_{kTestNowUnixUs};
  std::unique_ptr<storage::Store> store_;
  metrics::Registry registry_;
};

TEST_F(StoreMetricsTest, GaugesShowWhatTheLedgerHolds) {
  ASSERT_TRUE(Do(TestRequest(Operation::kAuthorize, TestPan(1), 500, "hold")).approved());
  ASSERT_TRUE(Do(TestRequest(Operation::kPurchase, TestPan(2), 700, "buy")).approved());
  StoreMetrics m(*store_, registry_);
  ASSERT_TRUE(m.Refresh().ok());
  const std::string text = registry_.RenderPrometheus();

  EXPECT_EQ(SeriesValue(text, "kytkin_store_cards"), 2) << text;
  EXPECT_EQ(SeriesValue(text, "kytkin_store_accounts"), 3);  // + the settlement account
  EXPECT_EQ(SeriesValue(text, "kytkin_store_open_holds"), 1);
  EXPECT_GE(SeriesValue(text, "kytkin_store_resident_transfers"), 1);
  EXPECT_GE(SeriesValue(text, "kytkin_store_dedupe_window_entries"), 0);
  EXPECT_GE(SeriesValue(text, "kytkin_store_unsynced_decisions"), 0);
  EXPECT_EQ(SeriesValue(text, "kytkin_store_velocity_counters"), 0);
  // Two packed cards (84 B) and three accounts (56 B) at least, plus their indexes.
  EXPECT_GE(SeriesValue(text, "kytkin_store_memory_bytes{table=\"cards\"}"), 2 * 84);
  EXPECT_GE(SeriesValue(text, "kytkin_store_memory_bytes{table=\"accounts\"}"), 3 * 56);
  EXPECT_EQ(SeriesValue(text, "kytkin_store_memory_bytes{table=\"rocksdb\"}"), 0);  // memory
  EXPECT_EQ(SeriesValue(text, "kytkin_store_open_transfers_scanned"), 0);
  EXPECT_GE(SeriesValue(text, "kytkin_store_open_microseconds{part=\"total\"}"), 0);
  EXPECT_GE(SeriesValue(text, "kytkin_store_open_microseconds{part=\"open_holds\"}"), 0);
  EXPECT_NE(text.find("# TYPE kytkin_store_transfer_disk_reads_total counter"), std::string::npos);
  EXPECT_NE(text.find("# TYPE kytkin_store_cards gauge"), std::string::npos);
}

TEST_F(StoreMetricsTest, RefreshFollowsTheStoreAndDiskReadsOnlyGoUp) {
  StoreMetrics m(*store_, registry_);
  ASSERT_TRUE(m.Refresh().ok());
  const std::string before = registry_.RenderPrometheus();
  EXPECT_EQ(SeriesValue(before, "kytkin_store_open_holds"), 0);
  const int64_t dedupe_reads = SeriesValue(before, "kytkin_store_dedupe_disk_reads_total");
  EXPECT_EQ(SeriesValue(before, "kytkin_store_transfer_disk_reads_total"), 0);

  const storage::Decision buy = Do(TestRequest(Operation::kPurchase, TestPan(1), 700, "buy"));
  ASSERT_TRUE(buy.approved());
  ASSERT_TRUE(Do(TestRequest(Operation::kAuthorize, TestPan(2), 5, "hold")).approved());
  // The purchase is posted and durable, so it left memory: its reversal reads it back.
  ASSERT_TRUE(Do(OriginalRequest(Operation::kReverse, buy.transfer_id, 0, "rev")).approved());
  ASSERT_TRUE(m.Refresh().ok());
  ASSERT_TRUE(m.Refresh().ok());  // a second refresh adds nothing new
  const std::string after = registry_.RenderPrometheus();
  EXPECT_EQ(SeriesValue(after, "kytkin_store_open_holds"), 1);
  EXPECT_EQ(SeriesValue(after, "kytkin_store_transfer_disk_reads_total"), 1) << after;
  // Every new request key is looked up on disk (dedupe window 0): three requests, three reads.
  EXPECT_EQ(SeriesValue(after, "kytkin_store_dedupe_disk_reads_total"), dedupe_reads + 3);
}

TEST_F(StoreMetricsTest, StartRefreshesAtOnceAndStopIsIdempotent) {
  StoreMetrics m(*store_, registry_);
  m.Start();
  EXPECT_EQ(SeriesValue(registry_.RenderPrometheus(), "kytkin_store_cards"), 2);
  m.Stop();
  m.Stop();
}

}  // namespace
}  // namespace kytkin
