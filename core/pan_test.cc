#include "core/pan.h"

#include <sstream>
#include <type_traits>

#include <gtest/gtest.h>

namespace kytkin {
namespace {

TEST(PanTest, AcceptsValidLuhnNumbersOfTwelveToNineteenDigits) {
  for (const char* good : {"4111111111111111", "5555555555554444", "378282246310005",
                           "6011111111111117", "4000056655665556", "4111111111111111110"}) {
    EXPECT_TRUE(Pan::Parse(good).ok()) << good;
  }
  std::string twelve = "41111111111";
  twelve += Pan::LuhnCheckDigit(twelve);
  EXPECT_TRUE(Pan::Parse(twelve).ok());
}

TEST(PanTest, RejectsBadLengthDigitsAndCheckDigitWithoutEchoingThePan) {
  auto short_pan = Pan::Parse("41111111111");
  ASSERT_FALSE(short_pan.ok());
  EXPECT_EQ(short_pan.status().message().find("41111111111"), std::string_view::npos);
  EXPECT_FALSE(Pan::Parse("41111111111111111111").ok());  // 20 digits
  EXPECT_FALSE(Pan::Parse("4111-1111-1111-1111").ok());
  auto bad_luhn = Pan::Parse("4111111111111112");
  ASSERT_FALSE(bad_luhn.ok());
  EXPECT_EQ(bad_luhn.status().message().find("4111111111111112"), std::string_view::npos);
}

TEST(PanTest, MasksFirstSixAndLastFour) {
  EXPECT_EQ(Pan::Parse("4111111111111111")->masked(), "411111******1111");
  EXPECT_EQ(Pan::Parse("378282246310005")->masked(), "378282*****0005");
  EXPECT_EQ(MaskDigits("4111111111111111=2512101"), "411111**************2101");
  EXPECT_EQ(MaskDigits("123456"), "******");
}

TEST(PanTest, ExposesBinPrefixes) {
  auto pan = Pan::Parse("4000056655665556").value();
  EXPECT_EQ(pan.bin(), "400005");
  EXPECT_EQ(pan.bin(8), "40000566");
}

// The clear PAN cannot be streamed: the overload is deleted.
template <typename T, typename = void>
struct Streamable : std::false_type {};
template <typename T>
struct Streamable<T, std::void_t<decltype(std::declval<std::ostream&>() << std::declval<T>())>>
    : std::true_type {};
static_assert(!Streamable<Pan>::value, "Pan must not be streamable");
static_assert(!std::is_convertible_v<Pan, std::string_view>, "Pan must not convert to a string");

TEST(PanTest, LuhnCheckDigitCompletesPayload) {
  EXPECT_EQ(Pan::LuhnCheckDigit("411111111111111"), '1');
  EXPECT_EQ(Pan::LuhnCheckDigit("37828224631000"), '5');
  EXPECT_FALSE(Pan::LuhnValid(""));
  EXPECT_FALSE(Pan::LuhnValid("12a4"));
}

}  // namespace
}  // namespace kytkin
