#include "routing/table_holder.h"

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>

namespace kytkin::routing {
namespace {

// Two valid tables that send the same BINs to different issuers, and an invalid one.
constexpr std::string_view kTableA =
    "issuer a on_us\nissuer b on_us\nbin 411111 a\nbin 42222222 a\n";
constexpr std::string_view kTableB =
    "issuer a on_us\nissuer b on_us\nbin 411111 b\nbin 42222222 b\n";
constexpr std::string_view kBadTable = "issuer a on_us\nbin 411111 a\nbin 411111 a\n";

std::string IssuerOf(const RoutingTable& table, std::string_view pan) {
  const Issuer* issuer = table.FindIssuerByPan(pan);
  return issuer ? issuer->id : "";
}

TEST(TableHolderTest, StartsEmptyAndPublishesAGoodTable) {
  RoutingTableHolder holder;
  EXPECT_EQ(IssuerOf(*holder.Current(), "4111111111111111"), "");
  ASSERT_TRUE(holder.ReloadFromText(kTableA).ok());
  EXPECT_EQ(IssuerOf(*holder.Current(), "4111111111111111"), "a");
  EXPECT_EQ(holder.reloads_ok(), 1u);
  EXPECT_EQ(holder.reloads_failed(), 0u);
}

TEST(TableHolderTest, FailedReloadKeepsTheOldTable) {
  RoutingTableHolder holder;
  ASSERT_TRUE(holder.ReloadFromText(kTableA).ok());
  const auto before = holder.Current();
  Status status = holder.ReloadFromText(kBadTable);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.message().substr(0, 7), "line 3:");
  EXPECT_EQ(holder.Current(), before);  // the very same table object
  EXPECT_EQ(holder.reloads_failed(), 1u);
  EXPECT_EQ(holder.reloads_ok(), 1u);
}

TEST(TableHolderTest, ReaderKeepsItsTableAcrossAReload) {
  RoutingTableHolder holder;
  ASSERT_TRUE(holder.ReloadFromText(kTableA).ok());
  const auto old_table = holder.Current();
  ASSERT_TRUE(holder.ReloadFromText(kTableB).ok());
  ASSERT_TRUE(holder.ReloadFromText(kTableA).ok());  // the first table is now two reloads old
  EXPECT_EQ(IssuerOf(*old_table, "4111111111111111"), "a");
  const RoutingDecision d = old_table->Route({"4222222211111111", Channel::kPos, 0, {}}, {});
  ASSERT_NE(d.issuer, nullptr);
  EXPECT_EQ(d.issuer->id, "a");
}

TEST(TableHolderTest, ReloadFromFileAndFromABadFile) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("kytkin_holder_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "routes.txt").string();
  RoutingTableHolder holder(RoutingTable{});

  std::ofstream(path) << kTableB;
  ASSERT_TRUE(holder.Reload(path).ok());
  EXPECT_EQ(IssuerOf(*holder.Current(), "4111111111111111"), "b");

  std::ofstream(path) << kBadTable;
  Status status = holder.Reload(path);
  EXPECT_EQ(status.message(), path +
                                  ": line 3: BIN range 411111-411111 overlaps 411111-411111 "
                                  "(line 2) of the same length");
  EXPECT_EQ(IssuerOf(*holder.Current(), "4111111111111111"), "b");

  Status missing = holder.Reload((dir / "missing.txt").string());
  EXPECT_TRUE(missing.IsIOError());
  EXPECT_EQ(IssuerOf(*holder.Current(), "4111111111111111"), "b");
  std::filesystem::remove_all(dir);
}

TEST(TableHolderTest, ReloadHonoursTheHolderLimits) {
  TableLimits limits;
  limits.bin_ranges_max = 1;
  RoutingTableHolder holder(RoutingTable{}, limits);
  EXPECT_FALSE(holder.ReloadFromText(kTableA).ok());
  EXPECT_TRUE(holder.ReloadFromText("issuer a on_us\nbin 411111 a\n").ok());
}

TEST(TableHolderTest, ReaderFollowsReloadsAndIgnoresFailedOnes) {
  RoutingTableHolder holder;
  ASSERT_TRUE(holder.ReloadFromText(kTableA).ok());
  RoutingTableReader reader(holder);
  const RoutingTable* first = &reader.Get();
  EXPECT_EQ(IssuerOf(*first, "4111111111111111"), "a");
  EXPECT_EQ(&reader.Get(), first);  // unchanged: the same table, no reload
  EXPECT_FALSE(holder.ReloadFromText(kBadTable).ok());
  EXPECT_EQ(&reader.Get(), first);
  const uint64_t version = holder.version();
  ASSERT_TRUE(holder.ReloadFromText(kTableB).ok());
  EXPECT_EQ(holder.version(), version + 1);
  EXPECT_EQ(IssuerOf(reader.Get(), "4111111111111111"), "b");
  EXPECT_EQ(&reader.Get(), holder.Current().get());

  // A request that waits keeps its table even when the reader moves on.
  const std::shared_ptr<const RoutingTable> kept = reader.GetShared();
  ASSERT_TRUE(holder.ReloadFromText(kTableA).ok());
  ASSERT_TRUE(holder.ReloadFromText(kTableB).ok());
  EXPECT_EQ(IssuerOf(reader.Get(), "4111111111111111"), "b");
  EXPECT_NE(&reader.Get(), kept.get());
  EXPECT_EQ(IssuerOf(*kept, "4111111111111111"), "b");
}

TEST(TableHolderTest, ConcurrentReadersDuringReloadsSeeWholeTables) {
  RoutingTableHolder holder;
  ASSERT_TRUE(holder.ReloadFromText(kTableA).ok());
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> reads{0};
  std::atomic<uint64_t> torn{0};
  std::atomic<uint64_t> saw_a{0};
  std::atomic<uint64_t> saw_b{0};
  std::vector<std::thread> readers;
  // One thread reads through Current(), the other through a per-thread RoutingTableReader.
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&, t] {
      RoutingTableReader reader(holder);
      while (!stop.load(std::memory_order_relaxed)) {
        const auto shared = t == 0 ? holder.Current() : nullptr;
        const RoutingTable& table = t == 0 ? *shared : reader.Get();
        // Both BINs of one snapshot must name the same issuer: never half of each table.
        const std::string first = IssuerOf(table, "4111111111111111");
        const std::string second = IssuerOf(table, "4222222299999999");
        if (first != second || first.empty()) torn.fetch_add(1);
        (first == "a" ? saw_a : saw_b).fetch_add(1);
        reads.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  int failed_reloads = 0;
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(holder.ReloadFromText(i % 2 ? kTableA : kTableB).ok());
    if (!holder.ReloadFromText(kBadTable).ok()) ++failed_reloads;
    if (i % 50 == 0) std::this_thread::yield();
  }
  // Let the readers observe the final table before stopping.
  const uint64_t reads_at_end = reads.load();
  while (reads.load() < reads_at_end + 100) std::this_thread::yield();
  stop = true;
  for (auto& reader : readers) reader.join();
  EXPECT_EQ(torn.load(), 0u);
  EXPECT_EQ(failed_reloads, 200);
  EXPECT_EQ(holder.reloads_ok(), 201u);
  EXPECT_EQ(holder.reloads_failed(), 200u);
  EXPECT_GT(reads.load(), 0u);
  EXPECT_EQ(IssuerOf(*holder.Current(), "4111111111111111"), "a");  // i = 199 loaded A
}

}  // namespace
}  // namespace kytkin::routing
