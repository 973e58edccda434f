#include "switch/metrics.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace kytkin::metrics {
namespace {

TEST(MetricsTest, CounterAndGaugeRender) {
  Registry registry;
  Counter& approved = registry.GetCounter("kytkin_requests_total", "Requests answered.",
                                          {{"mti", "0100"}, {"code", "00"}});
  Counter& declined = registry.GetCounter("kytkin_requests_total", "Requests answered.",
                                          {{"mti", "0100"}, {"code", "51"}});
  Gauge& connections = registry.GetGauge("kytkin_connections", "Open connections.");
  approved.Increment();
  approved.Increment(2);
  declined.Increment();
  connections.Increment();
  connections.Increment();
  connections.Decrement();
  const std::string text = registry.RenderPrometheus();
  EXPECT_NE(text.find("# HELP kytkin_requests_total Requests answered.\n"
                      "# TYPE kytkin_requests_total counter\n"
                      "kytkin_requests_total{mti=\"0100\",code=\"00\"} 3\n"
                      "kytkin_requests_total{mti=\"0100\",code=\"51\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("# TYPE kytkin_connections gauge\nkytkin_connections 1\n"), std::string::npos)
      << text;
}

TEST(MetricsTest, SameNameAndLabelsIsTheSameMetric) {
  Registry registry;
  Counter& a = registry.GetCounter("x_total", "x", {{"k", "v"}});
  Counter& b = registry.GetCounter("x_total", "x", {{"k", "v"}});
  Counter& c = registry.GetCounter("x_total", "x", {{"k", "w"}});
  EXPECT_EQ(&a, &b);
  EXPECT_NE(&a, &c);
}

TEST(MetricsTest, HistogramBucketsAreLogScaleAndCumulative) {
  EXPECT_EQ(Histogram::BucketIndex(0), 0);
  EXPECT_EQ(Histogram::BucketIndex(1), 0);
  EXPECT_EQ(Histogram::BucketIndex(2), 1);
  EXPECT_EQ(Histogram::BucketIndex(3), 2);
  EXPECT_EQ(Histogram::BucketIndex(4), 2);
  EXPECT_EQ(Histogram::BucketIndex(5), 3);
  EXPECT_EQ(Histogram::BucketIndex(uint64_t{1} << 25), 25);
  EXPECT_EQ(Histogram::BucketIndex((uint64_t{1} << 25) + 1), Histogram::kBucketCount - 1);
  EXPECT_EQ(Histogram::BucketIndex(UINT64_MAX), Histogram::kBucketCount - 1);

  Registry registry;
  Histogram& h = registry.GetHistogram("lat_microseconds", "Latency.", {{"stage", "parse"}});
  h.Observe(1);
  h.Observe(3);
  h.Observe(4);
  h.Observe(100'000'000);  // 100 s: only in +Inf
  const std::string text = registry.RenderPrometheus();
  EXPECT_NE(text.find("lat_microseconds_bucket{stage=\"parse\",le=\"1\"} 1\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("lat_microseconds_bucket{stage=\"parse\",le=\"2\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("lat_microseconds_bucket{stage=\"parse\",le=\"4\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("lat_microseconds_bucket{stage=\"parse\",le=\"33554432\"} 3\n"),
            std::string::npos);
  EXPECT_NE(text.find("lat_microseconds_bucket{stage=\"parse\",le=\"+Inf\"} 4\n"),
            std::string::npos);
  EXPECT_NE(text.find("lat_microseconds_sum{stage=\"parse\"} 100000008\n"), std::string::npos);
  EXPECT_NE(text.find("lat_microseconds_count{stage=\"parse\"} 4\n"), std::string::npos);
}

TEST(MetricsTest, LabelValuesAreEscaped) {
  Registry registry;
  registry.GetCounter("e_total", "line\nbreak", {{"path", "a\"b\\c\nd"}}).Increment();
  const std::string text = registry.RenderPrometheus();
  EXPECT_NE(text.find("# HELP e_total line\\nbreak\n"), std::string::npos) << text;
  EXPECT_NE(text.find("e_total{path=\"a\\\"b\\\\c\\nd\"} 1\n"), std::string::npos) << text;
}

TEST(MetricsTest, ConcurrentIncrementsAreNotLost) {
  Registry registry;
  Counter& counter = registry.GetCounter("c_total", "c");
  Histogram& histogram = registry.GetHistogram("h_microseconds", "h");
  constexpr int kThreads = 4;
  constexpr int kPerThread = 100'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        counter.Increment();
        histogram.Observe(10);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(counter.value(), uint64_t{kThreads} * kPerThread);
  EXPECT_EQ(histogram.count(), uint64_t{kThreads} * kPerThread);
  EXPECT_EQ(histogram.bucket(Histogram::BucketIndex(10)), uint64_t{kThreads} * kPerThread);
}

}  // namespace
}  // namespace kytkin::metrics
