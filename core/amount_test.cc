#include "core/amount.h"

#include <limits>

#include <gtest/gtest.h>

namespace kytkin {
namespace {

constexpr uint16_t kEur = 978, kJpy = 392, kKwd = 414;

TEST(AmountTest, ParsesMajorUnitsWithTheCurrencyExponent) {
  EXPECT_EQ(Amount::Parse("12.34", kEur).value(), Amount(1234, kEur));
  EXPECT_EQ(Amount::Parse("12.3", kEur).value(), Amount(1230, kEur));
  EXPECT_EQ(Amount::Parse("12", kEur).value(), Amount(1200, kEur));
  EXPECT_EQ(Amount::Parse("0.01", kEur).value(), Amount(1, kEur));
  EXPECT_EQ(Amount::Parse("-5.5", kEur).value(), Amount(-550, kEur));
  EXPECT_EQ(Amount::Parse("1000", kJpy).value(), Amount(1000, kJpy));
  EXPECT_EQ(Amount::Parse("1.234", kKwd).value(), Amount(1234, kKwd));
}

TEST(AmountTest, RejectsMalformedText) {
  for (const char* bad : {"", "-", ".5", "1.", "1.234", "1,00", "1e3", "12a", "0x10", " 1"}) {
    EXPECT_FALSE(Amount::Parse(bad, kEur).ok()) << bad;
  }
  EXPECT_FALSE(Amount::Parse("1.5", kJpy).ok());
  EXPECT_FALSE(Amount::Parse("1", 999).ok());
}

TEST(AmountTest, RejectsOverflowInsteadOfWrapping) {
  EXPECT_TRUE(Amount::Parse("92233720368547758.07", kEur).ok());
  EXPECT_FALSE(Amount::Parse("92233720368547758.08", kEur).ok());
  EXPECT_FALSE(Amount::Parse("99999999999999999999", kEur).ok());
}

TEST(AmountTest, FormatsWithoutFloatingPoint) {
  EXPECT_EQ(Amount(1234, kEur).FormatMajor(), "12.34");
  EXPECT_EQ(Amount(5, kEur).FormatMajor(), "0.05");
  EXPECT_EQ(Amount(-5, kEur).FormatMajor(), "-0.05");
  EXPECT_EQ(Amount(1000, kJpy).FormatMajor(), "1000");
  EXPECT_EQ(Amount(1, kKwd).ToString(), "0.001 KWD");
  EXPECT_EQ(Amount(std::numeric_limits<int64_t>::min(), kEur).FormatMajor(),
            "-92233720368547758.08");
  EXPECT_EQ(Amount(100, 1).ToString(), "1.00 (1)");
}

TEST(AmountTest, FormatThenParseRoundTrips) {
  for (int64_t v : {int64_t{0}, int64_t{1}, int64_t{-1}, int64_t{99}, int64_t{123456789},
                    std::numeric_limits<int64_t>::max()}) {
    Amount a(v, kEur);
    EXPECT_EQ(Amount::Parse(a.FormatMajor(), kEur).value(), a) << v;
  }
}

TEST(AmountTest, CheckedArithmeticRefusesOverflowAndMixedCurrencies) {
  Amount max(std::numeric_limits<int64_t>::max(), kEur);
  EXPECT_FALSE(max.CheckedAdd(Amount(1, kEur)).has_value());
  EXPECT_FALSE(Amount(1, kEur).CheckedAdd(Amount(1, kJpy)).has_value());
  EXPECT_EQ(Amount(5, kEur).CheckedSub(Amount(7, kEur)).value(), Amount(-2, kEur));
}

TEST(CurrencyTest, TableIsSortedAndLookupsAgree) {
  auto all = KnownCurrencies();
  for (size_t i = 1; i < all.size(); ++i) EXPECT_LT(all[i - 1].numeric, all[i].numeric);
  for (const Currency& c : all) {
    EXPECT_EQ(FindCurrency(c.numeric)->alpha, c.alpha);
    EXPECT_EQ(FindCurrency(c.alpha)->numeric, c.numeric);
  }
  EXPECT_FALSE(FindCurrency(uint16_t{1}).has_value());
}

}  // namespace
}  // namespace kytkin
