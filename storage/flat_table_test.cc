// FlatTable: insert/find, growth, collisions (same slot, same tag), stable records, memory.
#include "storage/flat_table.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace kytkin::storage {
namespace {

struct Item {
  uint64_t key = 0;
  uint64_t value = 0;
};

// Keys spread by a multiplicative hash (odd constant): distinct keys, distinct hashes.
struct MixedTraits {
  using Key = uint64_t;
  using Record = Item;
  static const Key& KeyOf(const Record& r) { return r.key; }
  static uint64_t Hash(Key k) { return k * 0x9e3779b97f4a7c15ull; }
};

// Every key in the same slot with the same tag: only the full key comparison tells them apart.
struct AllCollideTraits {
  using Key = uint64_t;
  using Record = Item;
  static const Key& KeyOf(const Record& r) { return r.key; }
  static uint64_t Hash(Key) { return 0x1234'5678'9abc'def0ull; }
};

// The same slot (low bits 0) but different tags (high bits = the key).
struct SameSlotTraits {
  using Key = uint64_t;
  using Record = Item;
  static const Key& KeyOf(const Record& r) { return r.key; }
  static uint64_t Hash(Key k) { return k << 40; }
};

template <typename Traits>
void InsertAndFindAll(size_t n) {
  FlatTable<Traits> table;
  for (uint64_t k = 1; k <= n; ++k) {
    auto [record, inserted] = table.Insert(Item{k, k * 10});
    ASSERT_TRUE(inserted) << k;
    ASSERT_EQ(record->key, k);
  }
  EXPECT_EQ(table.size(), n);
  for (uint64_t k = 1; k <= n; ++k) {
    const Item* found = table.Find(k);
    ASSERT_NE(found, nullptr) << k;
    EXPECT_EQ(found->value, k * 10);
  }
  for (uint64_t k = n + 1; k <= n + 100; ++k) EXPECT_EQ(table.Find(k), nullptr) << k;
  EXPECT_EQ(table.Find(0), nullptr);
}

TEST(FlatTableTest, EmptyTableFindsNothing) {
  FlatTable<MixedTraits> table;
  EXPECT_EQ(table.size(), 0u);
  EXPECT_EQ(table.Find(1), nullptr);
  EXPECT_FALSE(table.Contains(0));
  EXPECT_EQ(table.slot_count(), FlatTable<MixedTraits>::kInitialSlots);
}

TEST(FlatTableTest, InsertsAndFindsThroughManyGrowths) {
  // 100k records: 12 doublings of the index and 7 chunks of records.
  InsertAndFindAll<MixedTraits>(100'000);
}

TEST(FlatTableTest, KeysWithTheSameSlotAndTagAreToldApartByTheirKey) {
  InsertAndFindAll<AllCollideTraits>(2'000);
}

TEST(FlatTableTest, KeysWithTheSameSlotAndDifferentTagsAreFound) {
  InsertAndFindAll<SameSlotTraits>(2'000);
}

TEST(FlatTableTest, DuplicateInsertKeepsTheFirstRecord) {
  FlatTable<MixedTraits> table;
  auto first = table.Insert(Item{7, 70});
  ASSERT_TRUE(first.second);
  auto again = table.Insert(Item{7, 99});
  EXPECT_FALSE(again.second);
  EXPECT_EQ(again.first, first.first);
  EXPECT_EQ(table.Find(7)->value, 70u);
  EXPECT_EQ(table.size(), 1u);
}

TEST(FlatTableTest, RecordsStayAtTheirAddressWhileTheTableGrows) {
  FlatTable<MixedTraits> table;
  std::vector<Item*> addresses;
  for (uint64_t k = 1; k <= 3 * FlatTable<MixedTraits>::kChunkRecords; ++k) {
    addresses.push_back(table.Insert(Item{k, k}).first);
  }
  addresses[0]->value = 12345;  // a change through an old pointer is seen by Find
  for (uint64_t k = 1; k <= addresses.size(); ++k) {
    ASSERT_EQ(table.Find(k), addresses[k - 1]) << k;
  }
  EXPECT_EQ(table.Find(1)->value, 12345u);
}

TEST(FlatTableTest, IndexStaysBetweenFourThirdsAndEightThirdsSlotsPerRecord) {
  FlatTable<MixedTraits> table;
  for (uint64_t k = 1; k <= 200'000; ++k) {
    table.Insert(Item{k, k});
    if (k >= 1'000) {
      // At most 3/4 full, and just after a doubling at least 3/8 full.
      ASSERT_GE(table.slot_count() * 3, table.size() * 4) << k;
      ASSERT_LE(table.slot_count() * 3, table.size() * 8) << k;
    }
  }
  // Records in whole chunks plus 4 bytes per slot: under 16 + 11 bytes per record here.
  const size_t bytes = table.MemoryBytes();
  EXPECT_LE(bytes, table.size() * (sizeof(Item) + 11) +
                       FlatTable<MixedTraits>::kChunkRecords * sizeof(Item));
}

TEST(FlatTableTest, ForEachVisitsEveryRecordInInsertionOrder) {
  FlatTable<MixedTraits> table;
  for (uint64_t k = 50'000; k >= 1; --k) table.Insert(Item{k, 0});
  uint64_t expect = 50'000;
  size_t seen = 0;
  table.ForEach([&](const Item& item) {
    EXPECT_EQ(item.key, expect);
    --expect;
    ++seen;
  });
  EXPECT_EQ(seen, 50'000u);
}

}  // namespace
}  // namespace kytkin::storage
