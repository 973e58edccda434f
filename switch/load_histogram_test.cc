#include "switch/load_histogram.h"

#include <gtest/gtest.h>

#include <random>

namespace kytkin::load {
namespace {

TEST(LatencyHistogramTest, EmptyReportsZero) {
  LatencyHistogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.ValueAtPercentile(50), 0u);
  EXPECT_EQ(h.ValueAtPercentile(100), 0u);
  EXPECT_EQ(h.MeanNs(), 0u);
}

TEST(LatencyHistogramTest, BucketsCoverRangeWithinOnePercent) {
  // Every bucket's width is at most 1/128 of its lowest value, and buckets tile the range.
  for (size_t i = 0; i + 1 < LatencyHistogram::kBucketCount; ++i) {
    const uint64_t lo = LatencyHistogram::BucketLowest(i);
    const uint64_t hi = LatencyHistogram::BucketHighest(i);
    ASSERT_EQ(LatencyHistogram::BucketIndex(lo), i);
    ASSERT_EQ(LatencyHistogram::BucketIndex(hi), i);
    ASSERT_EQ(LatencyHistogram::BucketLowest(i + 1), hi + 1);
    if (lo >= 1000) {
      ASSERT_LE(static_cast<double>(hi - lo + 1) / static_cast<double>(lo), 0.01);
    }
  }
  EXPECT_LT(LatencyHistogram::BucketIndex(kLatencyNsMax), LatencyHistogram::kBucketCount);
}

TEST(LatencyHistogramTest, PercentilesOfUniformValuesWithinOnePercent) {
  LatencyHistogram h;
  // 1..100000 us, one each: p50 = 50 ms, p99 = 99 ms, p99.9 = 99.9 ms.
  for (uint64_t us = 1; us <= 100'000; ++us) h.Record(us * 1000);
  EXPECT_EQ(h.count(), 100'000u);
  EXPECT_NEAR(static_cast<double>(h.ValueAtPercentile(50)), 50e6, 50e6 * 0.01);
  EXPECT_NEAR(static_cast<double>(h.ValueAtPercentile(99)), 99e6, 99e6 * 0.01);
  EXPECT_NEAR(static_cast<double>(h.ValueAtPercentile(99.9)), 99.9e6, 99.9e6 * 0.01);
  EXPECT_GE(h.ValueAtPercentile(99), 99'000'000u);  // never below the truth
  EXPECT_EQ(h.ValueAtPercentile(100), 100'000'000u);
  EXPECT_EQ(h.max_ns(), 100'000'000u);
  EXPECT_EQ(h.min_ns(), 1000u);
  EXPECT_NEAR(static_cast<double>(h.MeanNs()), 50.0005e6, 1e3);
}

TEST(LatencyHistogramTest, OneStallShowsInTheTail) {
  LatencyHistogram h;
  for (int i = 0; i < 9990; ++i) h.Record(100'000);      // 100 us
  for (int i = 0; i < 10; ++i) h.Record(2'000'000'000);  // 2 s
  EXPECT_LE(h.ValueAtPercentile(99.9), 101'000u);
  EXPECT_GE(h.ValueAtPercentile(99.95), 2'000'000'000u);
  EXPECT_LE(h.ValueAtPercentile(99.95), 2'020'000'000u);
}

TEST(LatencyHistogramTest, ValuesAboveTheRangeSaturate) {
  LatencyHistogram h;
  h.Record(kLatencyNsMax);
  h.Record(kLatencyNsMax + 1);
  h.Record(UINT64_MAX);
  EXPECT_EQ(h.count(), 3u);
  EXPECT_EQ(h.saturated_count(), 2u);
  EXPECT_EQ(h.max_ns(), kLatencyNsMax);
  EXPECT_EQ(h.ValueAtPercentile(50), kLatencyNsMax);
}

TEST(LatencyHistogramTest, SmallValuesAreExact) {
  LatencyHistogram h;
  h.Record(0);
  h.Record(255);
  EXPECT_EQ(h.ValueAtPercentile(50), 0u);
  EXPECT_EQ(h.ValueAtPercentile(100), 255u);
}

TEST(LatencyHistogramTest, MergeEqualsRecordingIntoOne) {
  std::mt19937_64 rng(42);
  LatencyHistogram a, b, all;
  for (int i = 0; i < 50'000; ++i) {
    uint64_t v = rng() % 5'000'000'000ull;
    (i % 2 ? a : b).Record(v);
    all.Record(v);
  }
  a.Merge(b);
  EXPECT_EQ(a.count(), all.count());
  EXPECT_EQ(a.max_ns(), all.max_ns());
  EXPECT_EQ(a.min_ns(), all.min_ns());
  for (double p : {1.0, 50.0, 90.0, 99.0, 99.9, 99.99}) {
    EXPECT_EQ(a.ValueAtPercentile(p), all.ValueAtPercentile(p)) << p;
  }
  a.Reset();
  EXPECT_EQ(a.count(), 0u);
  EXPECT_EQ(a.ValueAtPercentile(99), 0u);
}

}  // namespace
}  // namespace kytkin::load
