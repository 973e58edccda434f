#include "switch/load_histogram.h"

#include <algorithm>
#include <bit>
#include <cassert>

namespace kytkin::load {

size_t LatencyHistogram::BucketIndex(uint64_t value_ns) {
  if (value_ns < kLinearLimit) return static_cast<size_t>(value_ns);
  const int msb = 63 - std::countl_zero(value_ns);  // >= 8
  const int shift = msb - kSubBucketBits;           // >= 1
  const uint64_t sub = value_ns >> shift;           // 128..255
  return kLinearLimit + static_cast<size_t>(shift - 1) * (1u << kSubBucketBits) +
         static_cast<size_t>(sub - (1u << kSubBucketBits));
}

uint64_t LatencyHistogram::BucketLowest(size_t index) {
  if (index < kLinearLimit) return index;
  const size_t rest = index - kLinearLimit;
  const int shift = static_cast<int>(rest >> kSubBucketBits) + 1;
  const uint64_t sub = (1u << kSubBucketBits) + (rest & ((1u << kSubBucketBits) - 1));
  return sub << shift;
}

uint64_t LatencyHistogram::BucketHighest(size_t index) {
  if (index < kLinearLimit) return index;
  const size_t rest = index - kLinearLimit;
  const int shift = static_cast<int>(rest >> kSubBucketBits) + 1;
  return BucketLowest(index) + (uint64_t{1} << shift) - 1;
}

void LatencyHistogram::Record(uint64_t latency_ns) {
  if (latency_ns > kLatencyNsMax) {
    latency_ns = kLatencyNsMax;
    ++saturated_;
  }
  const size_t index = BucketIndex(latency_ns);
  assert(index < kBucketCount);
  ++counts_[index];
  ++count_;
  sum_ns_ += latency_ns;
  max_ns_ = std::max(max_ns_, latency_ns);
  min_ns_ = std::min(min_ns_, latency_ns);
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  for (size_t i = 0; i < kBucketCount; ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ns_ += other.sum_ns_;
  saturated_ += other.saturated_;
  max_ns_ = std::max(max_ns_, other.max_ns_);
  min_ns_ = std::min(min_ns_, other.min_ns_);
}

void LatencyHistogram::Reset() { *this = LatencyHistogram(); }

uint64_t LatencyHistogram::ValueAtPercentile(double percentile) const {
  if (count_ == 0) return 0;
  if (percentile >= 100.0) return max_ns_;
  percentile = std::max(percentile, 0.0);
  // The rank of the wanted record, 1-based; at least the first record.
  uint64_t rank = static_cast<uint64_t>(percentile / 100.0 * static_cast<double>(count_) + 0.5);
  rank = std::clamp<uint64_t>(rank, 1, count_);
  uint64_t seen = 0;
  for (size_t i = 0; i < kBucketCount; ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::min(BucketHighest(i), max_ns_);
  }
  return max_ns_;
}

uint64_t LatencyHistogram::MeanNs() const { return count_ == 0 ? 0 : sum_ns_ / count_; }

}  // namespace kytkin::load
