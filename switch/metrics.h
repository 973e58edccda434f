// Metrics: counters, gauges and histograms with labels, rendered in the Prometheus text format.
//
// Registration (Registry::GetCounter etc.) takes a lock and allocates; do it once, at start-up or
// when a connection opens, and keep the returned reference. Updating a metric afterwards is one or
// two relaxed atomic operations: no lock, no allocation. Metrics live as long as their Registry;
// references stay valid (they are never moved).
//
// Thread safety: everything is safe to call from any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kytkin::metrics {

// Label pairs, e.g. {{"mti", "0100"}, {"code", "00"}}. Order is kept as given.
using Labels = std::vector<std::pair<std::string, std::string>>;

// A value that only goes up (requests, errors, bytes).
class Counter {
 public:
  void Increment(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// A value that goes up and down (open connections, requests in flight).
class Gauge {
 public:
  void Set(int64_t v) { value_.store(v, std::memory_order_relaxed); }
  void Add(int64_t n) { value_.fetch_add(n, std::memory_order_relaxed); }
  void Increment() { Add(1); }
  void Decrement() { Add(-1); }
  int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

// A distribution of durations in microseconds over fixed log-scale buckets: bucket i counts
// observations <= 2^i us, for i in [0, kBucketCount - 1) (1 us .. ~33.5 s), plus +Inf.
// Fixed buckets keep Observe() to three relaxed atomic adds and make histograms comparable
// across processes.
class Histogram {
 public:
  static constexpr int kBucketCount = 27;  // 26 finite bounds (2^0 .. 2^25 us) + +Inf

  void Observe(uint64_t micros) {
    buckets_[BucketIndex(micros)].fetch_add(1, std::memory_order_relaxed);
    sum_us_.fetch_add(micros, std::memory_order_relaxed);
    count_.fetch_add(1, std::memory_order_relaxed);
  }
  // Upper bound of bucket i in microseconds; REQUIRES: i < kBucketCount - 1.
  static constexpr uint64_t BucketBoundMicros(int i) { return uint64_t{1} << i; }
  // The bucket an observation falls in (the smallest bound >= micros).
  static int BucketIndex(uint64_t micros);

  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  uint64_t sum_us() const { return sum_us_.load(std::memory_order_relaxed); }
  // Observations in bucket i alone (not cumulative).
  uint64_t bucket(int i) const { return buckets_[i].load(std::memory_order_relaxed); }

 private:
  std::array<std::atomic<uint64_t>, kBucketCount> buckets_{};
  std::atomic<uint64_t> sum_us_{0};
  std::atomic<uint64_t> count_{0};
};

// Owns every metric of a process (or of a test) and renders them.
class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Returns the metric named `name` with exactly these labels, creating it on first use.
  // The same name always has the same type and help; asking for a name with another type is a
  // programmer error (asserts). Names follow Prometheus rules ([a-zA-Z_:][a-zA-Z0-9_:]*), units
  // last ("kytkin_iso_requests_total", "kytkin_authorization_latency_microseconds").
  Counter& GetCounter(std::string_view name, std::string_view help, const Labels& labels = {});
  Gauge& GetGauge(std::string_view name, std::string_view help, const Labels& labels = {});
  Histogram& GetHistogram(std::string_view name, std::string_view help, const Labels& labels = {});

  // The Prometheus text exposition format (version 0.0.4), families in registration order.
  std::string RenderPrometheus() const;

 private:
  enum class Type { kCounter, kGauge, kHistogram };
  struct Series {
    Labels labels;
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::unique_ptr<Histogram> histogram;
  };
  struct Family {
    std::string name;
    std::string help;
    Type type;
    std::vector<std::unique_ptr<Series>> series;
  };
  Series& GetSeries(std::string_view name, std::string_view help, Type type, const Labels& labels);

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Family>> families_;  // guarded by mu_
};

}  // namespace kytkin::metrics
