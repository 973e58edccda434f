#include "core/currency.h"

#include <gtest/gtest.h>

namespace kytkin {
namespace {

TEST(CurrencyCodeTest, TakesAlphabeticOrNumericCodes) {
  EXPECT_EQ(FindCurrencyCode("EUR")->numeric, 978);
  EXPECT_EQ(FindCurrencyCode("978")->alpha, "EUR");
  EXPECT_EQ(FindCurrencyCode("36")->alpha, "AUD");  // "036" without the leading zero
}

TEST(CurrencyCodeTest, RefusesUnknownAndMalformedCodes) {
  EXPECT_FALSE(FindCurrencyCode(""));
  EXPECT_FALSE(FindCurrencyCode("eur"));  // alphabetic codes are upper case
  EXPECT_FALSE(FindCurrencyCode("9780"));
  EXPECT_FALSE(FindCurrencyCode("97a"));
  EXPECT_FALSE(FindCurrencyCode("999"));
}

}  // namespace
}  // namespace kytkin
