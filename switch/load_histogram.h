// LatencyHistogram: an HDR-style log-linear histogram of latencies for `kytkin load`.
//
// Values are nanoseconds. Below 256 ns every value has its own bucket; above, each power of two
// is split into 128 linear buckets, so a reported value is within 1/128 (< 0.8%) of the true
// one. The range is 0 .. kLatencyNsMax (60 s); larger values are counted at the maximum and
// flagged by saturated_count(). The counters are a fixed array inside the object: recording
// never allocates. Not thread-safe: each thread records into its own and Merge() adds them up.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace kytkin::load {

inline constexpr uint64_t kLatencyNsMax = 60ull * 1'000'000'000;  // 60 s

class LatencyHistogram {
 public:
  static constexpr int kSubBucketBits = 7;                        // 128 buckets per octave
  static constexpr uint64_t kLinearLimit = 2u << kSubBucketBits;  // 256: exact below this
  static constexpr int kOctaves = 28;  // 256 ns << 28 = 68.7 s > kLatencyNsMax
  static constexpr size_t kBucketCount = kLinearLimit + size_t{kOctaves} * (1u << kSubBucketBits);

  void Record(uint64_t latency_ns);
  // Adds another histogram's counts (threads' histograms into one report).
  void Merge(const LatencyHistogram& other);
  void Reset();

  uint64_t count() const { return count_; }
  uint64_t max_ns() const { return max_ns_; }
  uint64_t min_ns() const { return count_ == 0 ? 0 : min_ns_; }
  // Records above kLatencyNsMax (counted as kLatencyNsMax).
  uint64_t saturated_count() const { return saturated_; }
  // The smallest recorded value v such that at least `percentile`% of records are <= v, reported
  // as the upper end of v's bucket (never below the truth, at most 1/128 above). 0 when empty.
  // percentile in [0, 100]; 100 gives max_ns().
  uint64_t ValueAtPercentile(double percentile) const;
  uint64_t MeanNs() const;

  // Bucket arithmetic, public for the tests.
  static size_t BucketIndex(uint64_t value_ns);
  static uint64_t BucketLowest(size_t index);
  static uint64_t BucketHighest(size_t index);

 private:
  std::array<uint64_t, kBucketCount> counts_{};
  uint64_t count_ = 0;
  uint64_t max_ns_ = 0;
  uint64_t min_ns_ = UINT64_MAX;
  uint64_t saturated_ = 0;
  // Sum for the mean; 2^64 ns is 584 years, so it cannot overflow in a bounded run.
  uint64_t sum_ns_ = 0;
};

}  // namespace kytkin::load
