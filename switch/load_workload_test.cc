#include "switch/load_workload.h"

#include <gtest/gtest.h>

#include <random>

#include "core/pan.h"

namespace kytkin::load {
namespace {

TEST(OpenLoopScheduleTest, RequestsAreDueAtFixedIntervals) {
  OpenLoopSchedule s(1'000, 50'000);  // every 20 us from t = 1 us
  EXPECT_EQ(s.DueNs(0), 1'000u);
  EXPECT_EQ(s.DueNs(1), 21'000u);
  EXPECT_EQ(s.DueNs(50'000), 1'000'001'000u);
  EXPECT_EQ(s.DueCount(0), 0u);
  EXPECT_EQ(s.DueCount(1'000), 1u);
  EXPECT_EQ(s.DueCount(20'999), 1u);
  EXPECT_EQ(s.DueCount(21'000), 2u);
  // One second holds exactly `rate` requests.
  EXPECT_EQ(s.DueCount(1'000'000'999), 50'000u);
}

TEST(OpenLoopScheduleTest, OddRatesAndLongRunsDoNotDriftOrOverflow) {
  OpenLoopSchedule s(0, 7);
  for (uint64_t i = 0; i < 1000; ++i) {
    ASSERT_EQ(s.DueCount(s.DueNs(i)), i + 1);
    ASSERT_LT(s.DueNs(i), s.DueNs(i + 1));
  }
  OpenLoopSchedule fast(0, 10'000'000);  // the rate limit, for a day
  const uint64_t day = 24ull * 3600 * 10'000'000;
  EXPECT_EQ(fast.DueNs(day), 24ull * 3600 * 1'000'000'000);
}

TEST(OperationMixTest, ParsesShares) {
  auto mix = OperationMix::Parse("authorize=1,reversal=3");
  ASSERT_TRUE(mix.ok());
  EXPECT_EQ(mix->parts[static_cast<int>(LoadOperation::kAuthorize)], 1u);
  EXPECT_EQ(mix->parts[static_cast<int>(LoadOperation::kReversal)], 3u);
  EXPECT_EQ(mix->parts[static_cast<int>(LoadOperation::kPurchase)], 0u);
  EXPECT_EQ(mix->ToString(), "authorize=1,purchase=0,reversal=3,balance=0,unknown=0,nofunds=0");
}

TEST(OperationMixTest, RejectsBadInput) {
  EXPECT_FALSE(OperationMix::Parse("").ok());
  EXPECT_FALSE(OperationMix::Parse("authorize=0").ok());
  EXPECT_FALSE(OperationMix::Parse("refund=5").ok());
  EXPECT_FALSE(OperationMix::Parse("authorize").ok());
  EXPECT_FALSE(OperationMix::Parse("authorize=-1").ok());
  EXPECT_FALSE(OperationMix::Parse("authorize=5x").ok());
  EXPECT_FALSE(OperationMix::Parse("authorize=1000001").ok());
}

TEST(OperationPickerTest, FollowsTheShares) {
  auto mix = OperationMix::Parse("authorize=3,balance=1");
  ASSERT_TRUE(mix.ok());
  OperationPicker picker(*mix);
  std::mt19937_64 rng(7);
  int counts[kLoadOperationCount] = {};
  for (int i = 0; i < 40'000; ++i) ++counts[static_cast<int>(picker.Pick(rng))];
  EXPECT_NEAR(counts[static_cast<int>(LoadOperation::kAuthorize)], 30'000, 600);
  EXPECT_NEAR(counts[static_cast<int>(LoadOperation::kBalanceInquiry)], 10'000, 600);
  EXPECT_EQ(counts[static_cast<int>(LoadOperation::kReversal)], 0);
}

TEST(ZipfPickerTest, SkewsTowardsTheFirstCards) {
  ZipfPicker zipf(10'000, 0.99);
  std::mt19937_64 rng(1);
  int first = 0, last_half = 0;
  for (int i = 0; i < 100'000; ++i) {
    uint32_t k = zipf.Pick(rng);
    ASSERT_LT(k, 10'000u);
    if (k == 0) ++first;
    if (k >= 5000) ++last_half;
  }
  // Rank 0 takes ~1/H(10000) ~ 10%; the whole second half only ~7%.
  EXPECT_GT(first, 8'000);
  EXPECT_LT(last_half, first);
  EXPECT_EQ(zipf.Find(0.0), 0u);
  EXPECT_EQ(zipf.Find(0.9999999999), 9'999u);
}

TEST(ZipfPickerTest, ExponentZeroIsUniformAndOneCardWorks) {
  ZipfPicker uniform(4, 0.0);
  EXPECT_EQ(uniform.Find(0.1), 0u);
  EXPECT_EQ(uniform.Find(0.3), 1u);
  EXPECT_EQ(uniform.Find(0.9), 3u);
  ZipfPicker one(1, 0.99);
  EXPECT_EQ(one.Find(0.5), 0u);
}

TEST(LoadCardPanTest, SixteenDigitsLuhnValidAndDistinct) {
  for (uint64_t n :
       std::initializer_list<uint64_t>{0, 1, 9999, kEmptyCardBase, kUnknownCardBase + 999}) {
    std::string pan = LoadCardPan(n);
    ASSERT_EQ(pan.size(), 16u);
    EXPECT_TRUE(Pan::LuhnValid(pan)) << n;
  }
  EXPECT_NE(LoadCardPan(1), LoadCardPan(2));
}

}  // namespace
}  // namespace kytkin::load
