#include "routing/bin_table.h"

#include <random>

#include <gtest/gtest.h>

namespace kytkin::routing {
namespace {

BinRange Range(std::string low, std::string high = "", uint32_t value = 0, uint32_t line = 0) {
  if (high.empty()) high = low;
  return BinRange{std::move(low), std::move(high), value, line};
}

BinTable MustBuild(std::vector<BinRange> ranges) {
  auto table = BinTable::Build(std::move(ranges));
  EXPECT_TRUE(table.ok()) << table.status().ToString();
  return table.ok() ? std::move(table).value() : BinTable();
}

// The value of the matching range, or -1 when nothing matches.
int64_t ValueOf(const BinTable& table, std::string_view digits) {
  const BinRange* found = table.Find(digits);
  const BinRange* searched = table.FindBySearch(digits);
  EXPECT_EQ(found, searched) << "Find and FindBySearch disagree for " << digits;
  const BinMatch match = table.Match(digits);
  EXPECT_EQ(match.range, found);
  if (found) {
    EXPECT_EQ(match.value, found->value);
  }
  return found ? static_cast<int64_t>(match.value) : -1;
}

TEST(BinTableTest, EmptyTableMatchesNothing) {
  BinTable empty;
  EXPECT_EQ(empty.Find("4111111111111111"), nullptr);
  BinTable built = MustBuild({});
  EXPECT_EQ(built.Find("4111111111111111"), nullptr);
  EXPECT_EQ(built.size(), 0u);
}

TEST(BinTableTest, SixDigitBinMatchesOnlyItsOwnPans) {
  BinTable table = MustBuild({Range("411111", "", 7)});
  EXPECT_EQ(ValueOf(table, "4111111111111111"), 7);
  EXPECT_EQ(ValueOf(table, "4111119999999999"), 7);
  EXPECT_EQ(ValueOf(table, "4111101111111111"), -1);
  EXPECT_EQ(ValueOf(table, "4111121111111111"), -1);
}

TEST(BinTableTest, LongestPrefixWins) {
  BinTable table = MustBuild({Range("411111", "", 6), Range("41111122", "", 8),
                              Range("41111122333", "", 11), Range("4111112", "", 7)});
  EXPECT_EQ(ValueOf(table, "4111110000000000"), 6);
  EXPECT_EQ(ValueOf(table, "4111112000000000"), 7);
  EXPECT_EQ(ValueOf(table, "4111112200000000"), 8);
  EXPECT_EQ(ValueOf(table, "4111112233300000"), 11);
  EXPECT_EQ(ValueOf(table, "4111112233399999"), 11);
  EXPECT_EQ(ValueOf(table, "4111112233400000"), 8);
  EXPECT_EQ(ValueOf(table, "4111112300000000"), 7);
  EXPECT_EQ(ValueOf(table, "4111113000000000"), 6);
}

TEST(BinTableTest, LongerRangeCarvesOutOfShorterRange) {
  BinTable table = MustBuild({Range("400000", "499999", 1), Range("45000000", "45000099", 2)});
  EXPECT_EQ(ValueOf(table, "4499999999999999"), 1);
  EXPECT_EQ(ValueOf(table, "4500000000000000"), 2);
  EXPECT_EQ(ValueOf(table, "4500009999999999"), 2);
  EXPECT_EQ(ValueOf(table, "4500010000000000"), 1);
  EXPECT_EQ(ValueOf(table, "5000000000000000"), -1);
}

TEST(BinTableTest, PartialOverlapOfDifferentLengthsUsesTheLongerWhereBothMatch) {
  // The 8-digit range starts inside the 6-digit one and ends past it.
  BinTable table = MustBuild({Range("400000", "400005", 1), Range("40000599", "40000700", 2)});
  EXPECT_EQ(ValueOf(table, "4000059800000000"), 1);
  EXPECT_EQ(ValueOf(table, "4000059900000000"), 2);
  EXPECT_EQ(ValueOf(table, "4000060000000000"), 2);
  EXPECT_EQ(ValueOf(table, "4000070000000000"), 2);
  EXPECT_EQ(ValueOf(table, "4000070100000000"), -1);
}

TEST(BinTableTest, EveryLengthFromSixToElevenDigits) {
  std::vector<BinRange> ranges;
  const std::string digits = "52345678901";
  for (size_t n = kBinDigitsMin; n <= kBinDigitsMax; ++n) {
    ranges.push_back(Range(digits.substr(0, n), "", static_cast<uint32_t>(n)));
  }
  BinTable table = MustBuild(ranges);
  EXPECT_EQ(ValueOf(table, "5234567890123456"), 11);
  EXPECT_EQ(ValueOf(table, "5234567890023456"), 10);
  EXPECT_EQ(ValueOf(table, "5234567891000000"), 9);
  EXPECT_EQ(ValueOf(table, "5234567800000000"), 8);
  EXPECT_EQ(ValueOf(table, "5234567000000000"), 7);
  EXPECT_EQ(ValueOf(table, "5234560000000000"), 6);
  EXPECT_EQ(ValueOf(table, "5234500000000000"), -1);
}

TEST(BinTableTest, PansShorterThanTheLongestBinMatchOnlyBinsTheyCover) {
  BinTable table = MustBuild(
      {Range("411111", "", 6), Range("41111122333", "", 11), Range("4111112233", "", 10)});
  EXPECT_EQ(ValueOf(table, "41111122333"), 11);
  EXPECT_EQ(ValueOf(table, "4111112233"), 10);  // 10 digits: the 11-digit BIN cannot apply
  EXPECT_EQ(ValueOf(table, "411111223"), 6);    // 9 digits
  EXPECT_EQ(ValueOf(table, "4111110"), 6);
  EXPECT_EQ(ValueOf(table, "411111"), 6);
  EXPECT_EQ(ValueOf(table, "41111"), -1);  // shorter than any BIN
  EXPECT_EQ(ValueOf(table, ""), -1);
}

TEST(BinTableTest, NonDigitInputMatchesNothing) {
  BinTable table = MustBuild({Range("411111")});
  EXPECT_EQ(table.Find("41111x1111111111"), nullptr);
  EXPECT_EQ(table.Find("4111 11111111111"), nullptr);
  EXPECT_EQ(table.FindBySearch("41111x"), nullptr);
}

TEST(BinTableTest, EdgesOfTheKeySpace) {
  BinTable table = MustBuild({Range("000000", "", 1), Range("999999", "", 2),
                              Range("99999999999", "", 3), Range("00000000000", "", 4)});
  EXPECT_EQ(ValueOf(table, "0000000000000000"), 4);
  EXPECT_EQ(ValueOf(table, "0000000000100000"), 1);
  EXPECT_EQ(ValueOf(table, "9999999999999999"), 3);
  EXPECT_EQ(ValueOf(table, "9999999999899999"), 2);
  EXPECT_EQ(ValueOf(table, "5000000000000000"), -1);
}

TEST(BinTableTest, AdjacentRangesOfOneLengthAreAllowed) {
  BinTable table = MustBuild({Range("400000", "400009", 1), Range("400010", "400019", 2)});
  EXPECT_EQ(ValueOf(table, "4000099999999999"), 1);
  EXPECT_EQ(ValueOf(table, "4000100000000000"), 2);
  EXPECT_EQ(ValueOf(table, "4000200000000000"), -1);
}

TEST(BinTableTest, OverlapWithinOneLengthIsRejectedNamingBothLines) {
  auto table = BinTable::Build({Range("400000", "400010", 0, 3), Range("400010", "400020", 0, 9)});
  ASSERT_FALSE(table.ok());
  const std::string message(table.status().message());
  EXPECT_NE(message.find("line 9"), std::string::npos) << message;
  EXPECT_NE(message.find("line 3"), std::string::npos) << message;
  EXPECT_NE(message.find("overlaps"), std::string::npos) << message;

  auto duplicate = BinTable::Build({Range("411111", "", 0, 1), Range("411111", "", 0, 2)});
  EXPECT_FALSE(duplicate.ok());
}

TEST(BinTableTest, InvalidRangesAreRejectedWithTheirLine) {
  struct Case {
    BinRange range;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {Range("41111", "", 0, 4), "6 to 11 digits"},
      {Range("411111111111", "", 0, 4), "6 to 11 digits"},
      {Range("411111", "4111119", 0, 4), "same number of digits"},
      {Range("41111a", "", 0, 4), "only digits"},
      {Range("411119", "411111", 0, 4), "low end is above high end"},
  };
  for (const Case& c : cases) {
    auto table = BinTable::Build({Range("522222"), c.range});
    ASSERT_FALSE(table.ok()) << c.reason;
    const std::string message(table.status().message());
    EXPECT_NE(message.find("line 4: "), std::string::npos) << message;
    EXPECT_NE(message.find(c.reason), std::string::npos) << message;
  }
  // Ranges built in code are named by position.
  auto table = BinTable::Build({Range("522222"), Range("5")});
  ASSERT_FALSE(table.ok());
  EXPECT_NE(table.status().message().find("range #2"), std::string::npos);
}

// Longest-prefix answer by brute force: the reference the index must agree with.
const BinRange* BruteForce(const std::vector<BinRange>& ranges, std::string_view digits) {
  const BinRange* best = nullptr;
  for (const BinRange& r : ranges) {
    const size_t n = r.digits();
    if (digits.size() < n) continue;
    const std::string_view prefix = digits.substr(0, n);
    if (prefix >= r.low && prefix <= r.high && (!best || n > best->digits())) best = &r;
  }
  return best;
}

TEST(BinTableTest, AgreesWithBruteForceOnRandomTables) {
  std::mt19937_64 rng(20261126);
  auto digits = [&rng](size_t n) {
    std::string s(n, '0');
    for (char& c : s) c = static_cast<char>('0' + rng() % 10);
    return s;
  };
  for (int round = 0; round < 30; ++round) {
    // Concentrate ranges under a few 3-digit prefixes so that lengths nest and overlap.
    std::vector<std::string> roots = {digits(3), digits(3), digits(3)};
    std::vector<BinRange> ranges;
    for (int i = 0; i < 300; ++i) {
      const size_t n = kBinDigitsMin + rng() % (kBinDigitsMax - kBinDigitsMin + 1);
      std::string low = roots[rng() % roots.size()] + digits(n - 3);
      std::string high = low;
      // Widen some ranges by bumping a digit.
      const size_t pos = 3 + rng() % (n - 3);
      high[pos] = static_cast<char>(low[pos] + rng() % ('9' - low[pos] + 1));
      for (size_t k = pos + 1; k < n && rng() % 2; ++k) high[k] = '9';
      if (high < low) high = low;
      BinRange candidate = Range(low, high, static_cast<uint32_t>(ranges.size()));
      bool overlaps = false;
      for (const BinRange& r : ranges) {
        if (r.digits() == n && !(candidate.high < r.low || r.high < candidate.low)) overlaps = true;
      }
      if (!overlaps) ranges.push_back(candidate);
    }
    BinTable table = MustBuild(ranges);
    std::vector<std::string> queries;
    for (const BinRange& r : ranges) {
      queries.push_back(r.low + digits(16 - r.digits()));
      queries.push_back(r.high + digits(16 - r.digits()));
      queries.push_back(r.low + digits(rng() % 3));  // short inputs
    }
    for (int i = 0; i < 300; ++i) {
      queries.push_back(roots[rng() % roots.size()] + digits(3 + rng() % 14));
    }
    for (const std::string& q : queries) {
      const BinRange* expected = BruteForce(table.ranges(), q);
      ASSERT_EQ(table.Find(q), expected) << "round " << round << " query " << q;
      ASSERT_EQ(table.FindBySearch(q), expected) << "round " << round << " query " << q;
    }
  }
}

TEST(BinTableTest, ManyRangesInOneBucketStillResolve) {
  // 2,000 consecutive 11-digit BINs under one 5-digit bucket force the binary-search branch.
  std::vector<BinRange> ranges;
  for (int i = 0; i < 2000; ++i) {
    char low[12];
    std::snprintf(low, sizeof low, "%011lld", 12345000000LL + i * 2);
    ranges.push_back(Range(low, "", static_cast<uint32_t>(i)));
  }
  BinTable table = MustBuild(ranges);
  EXPECT_EQ(ValueOf(table, "1234500000000000"), 0);
  EXPECT_EQ(ValueOf(table, "1234500000100000"), -1);
  EXPECT_EQ(ValueOf(table, "1234500199800000"), 999);
  EXPECT_EQ(ValueOf(table, "1234500399800000"), 1999);
  EXPECT_EQ(ValueOf(table, "1234500399900000"), -1);
}

}  // namespace
}  // namespace kytkin::routing
