#include "core/status.h"

#include <gtest/gtest.h>

namespace kytkin {
namespace {

Result<int> Half(int v) {
  if (v % 2 != 0) return Status::InvalidArgument("odd: " + std::to_string(v));
  return v / 2;
}

Status Chain(int v) {
  KYTKIN_RETURN_IF_ERROR(Half(v).status());
  return Status::Ok();
}

TEST(StatusTest, OkCarriesNoMessageAndErrorsCarryCodeAndMessage) {
  EXPECT_TRUE(Status::Ok().ok());
  EXPECT_EQ(Status::Ok().ToString(), "OK");
  Status s = Status::Corruption("record 7 checksum");
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(s.IsCorruption());
  EXPECT_EQ(s.ToString(), "Corruption: record 7 checksum");
  Status copy = s;
  EXPECT_EQ(copy.ToString(), s.ToString());
}

TEST(StatusTest, ResultHoldsValueOrError) {
  EXPECT_EQ(Half(8).value(), 4);
  auto odd = Half(3);
  ASSERT_FALSE(odd.ok());
  EXPECT_EQ(odd.status().message(), "odd: 3");
  EXPECT_TRUE(Chain(4).ok());
  EXPECT_EQ(Chain(5).code(), Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace kytkin
