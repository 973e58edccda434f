#include "switch/load_soak.h"

#include <gtest/gtest.h>

namespace kytkin::load {
namespace {

// A second with `n` answers of `latency_ns` each.
LatencyHistogram Second(uint64_t n, uint64_t latency_ns) {
  LatencyHistogram h;
  for (uint64_t i = 0; i < n; ++i) h.Record(latency_ns);
  return h;
}

TEST(SoakSeriesTest, GroupsSecondsIntoIntervals) {
  SoakSeries series(3);
  for (int s = 0; s < 6; ++s) series.AddSecond(Second(100, 200'000), 0, 0, 1024 * (100 + s));
  ASSERT_EQ(series.intervals().size(), 2u);
  const SoakInterval& first = series.intervals()[0];
  EXPECT_EQ(first.start_s, 0u);
  EXPECT_EQ(first.length_s, 3u);
  EXPECT_EQ(first.answered, 300u);
  EXPECT_DOUBLE_EQ(first.achieved_per_s, 100.0);
  // The RSS at the end of the interval, not the first or the largest of the run.
  EXPECT_EQ(first.server_rss_kib, 1024u * 102);
  EXPECT_EQ(series.intervals()[1].start_s, 3u);
  EXPECT_EQ(series.intervals()[1].server_rss_kib, 1024u * 105);
}

TEST(SoakSeriesTest, PercentilesAreOfTheIntervalOnly) {
  // A slow interval must not be averaged away by a fast one before it: that is the drift a soak
  // exists to show.
  SoakSeries series(2);
  series.AddSecond(Second(1000, 100'000), 0, 0, 0);
  series.AddSecond(Second(1000, 100'000), 0, 0, 0);
  series.AddSecond(Second(1000, 5'000'000), 0, 0, 0);
  series.AddSecond(Second(1000, 5'000'000), 0, 0, 0);
  ASSERT_EQ(series.intervals().size(), 2u);
  EXPECT_NEAR(series.intervals()[0].p99_us, 100.0, 1.0);
  EXPECT_NEAR(series.intervals()[1].p99_us, 5000.0, 40.0);
  EXPECT_NEAR(series.intervals()[1].p50_us, 5000.0, 40.0);
  const std::string drift = series.DriftText();
  EXPECT_NE(drift.find("p99 "), std::string::npos) << drift;
  EXPECT_NE(drift.find("(x"), std::string::npos) << drift;
}

TEST(SoakSeriesTest, CountsErrorsAndTimeoutsPerInterval) {
  SoakSeries series(2);
  series.AddSecond(Second(10, 1000), 1, 2, 0);
  series.AddSecond(Second(10, 1000), 3, 4, 0);
  series.AddSecond(Second(10, 1000), 0, 0, 0);
  ASSERT_EQ(series.intervals().size(), 1u);
  EXPECT_EQ(series.intervals()[0].errors, 4u);
  EXPECT_EQ(series.intervals()[0].timeouts, 6u);
  // The last, partial interval only on Flush, with its own length for the rate.
  series.Flush();
  ASSERT_EQ(series.intervals().size(), 2u);
  EXPECT_EQ(series.intervals()[1].length_s, 1u);
  EXPECT_EQ(series.intervals()[1].errors, 0u);
  EXPECT_DOUBLE_EQ(series.intervals()[1].achieved_per_s, 10.0);
  series.Flush();  // nothing open: no empty interval
  EXPECT_EQ(series.intervals().size(), 2u);
}

TEST(SoakSeriesTest, EmptySecondsGiveZeroRateNotGarbage) {
  SoakSeries series(1);
  series.AddSecond(LatencyHistogram{}, 0, 5, 0);
  ASSERT_EQ(series.intervals().size(), 1u);
  EXPECT_EQ(series.intervals()[0].answered, 0u);
  EXPECT_DOUBLE_EQ(series.intervals()[0].achieved_per_s, 0.0);
  EXPECT_DOUBLE_EQ(series.intervals()[0].p99_us, 0.0);
  EXPECT_EQ(series.DriftText(), "");  // one interval: nothing to compare
}

TEST(SoakSeriesTest, JsonCarriesEveryInterval) {
  SoakSeries series(1);
  EXPECT_EQ(SoakSeries::Json(series.intervals()), "[]");
  series.AddSecond(Second(5, 2000), 0, 0, 2048);
  series.AddSecond(Second(7, 2000), 0, 0, 4096);
  const std::string json = SoakSeries::Json(series.intervals());
  EXPECT_EQ(json.front(), '[');
  EXPECT_EQ(json.back(), ']');
  EXPECT_NE(json.find("\"answered\": 5,"), std::string::npos) << json;
  EXPECT_NE(json.find("\"answered\": 7,"), std::string::npos) << json;
  EXPECT_NE(json.find("\"server_rss_kib\": 4096}"), std::string::npos) << json;
  EXPECT_NE(SoakSeries::Line(series.intervals()[1]).find("server RSS 4 MiB"), std::string::npos);
}

TEST(SoakSeriesTest, SeriesIsBounded) {
  SoakSeries series(1);
  const LatencyHistogram empty;
  for (size_t i = 0; i < kSoakIntervalsMax + 3; ++i) series.AddSecond(empty, 0, 0, 0);
  EXPECT_EQ(series.intervals().size(), kSoakIntervalsMax);
  EXPECT_EQ(series.dropped_intervals(), 3u);
}

}  // namespace
}  // namespace kytkin::load
