#include "core/response_code.h"

#include <gtest/gtest.h>

namespace kytkin {
namespace {

TEST(ResponseCodeTest, DigitsMatchTheEnumValueAndParseBack) {
  for (int v = 0; v < 100; ++v) {
    auto code = static_cast<ResponseCode>(v);
    auto digits = ResponseCodeDigits(code);
    if (ResponseCodeName(code) == "unknown") continue;
    ASSERT_EQ(digits.size(), 2u);
    EXPECT_EQ((digits[0] - '0') * 10 + (digits[1] - '0'), v);
    EXPECT_EQ(ParseResponseCode(digits), code);
  }
  EXPECT_EQ(ResponseCodeDigits(ResponseCode::kInsufficientFunds), "51");
  EXPECT_EQ(ResponseCodeName(ResponseCode::kExpiredCard), "expired card");
  EXPECT_FALSE(ParseResponseCode("99").has_value());
  EXPECT_TRUE(IsApproval(ResponseCode::kPartialApproval));
  EXPECT_FALSE(IsApproval(ResponseCode::kDoNotHonour));
}

}  // namespace
}  // namespace kytkin
