#include "routing/bin_table.h"

#include <algorithm>
#include <tuple>

namespace kytkin::routing {
namespace {

constexpr uint64_t kPow10[] = {
    1,         10,         100,         1'000,         10'000,         100'000,
    1'000'000, 10'000'000, 100'000'000, 1'000'000'000, 10'000'000'000, 100'000'000'000};
// Keys are the first kBinDigitsMax digits of a PAN read as a number: [0, 10^11).
constexpr uint64_t kKeySpace = kPow10[kBinDigitsMax];

bool AllDigits(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The first n characters of `digits` as a number, or false when one is not a digit.
bool ReadDigits(std::string_view digits, size_t n, uint64_t* out) {
  uint64_t value = 0;
  for (size_t i = 0; i < n; ++i) {
    const unsigned d = static_cast<unsigned char>(digits[i]) - '0';
    if (d > 9) return false;
    value = value * 10 + d;
  }
  *out = value;
  return true;
}

// "line 12" for ranges from a file, "range #3" for ranges built in code.
std::string Where(const BinRange& range, size_t index) {
  return range.line != 0 ? "line " + std::to_string(range.line)
                         : "range #" + std::to_string(index + 1);
}

Status CheckRange(const BinRange& range, size_t index) {
  const std::string where = Where(range, index);
  if (range.low.size() < kBinDigitsMin || range.low.size() > kBinDigitsMax) {
    return Status::InvalidArgument(where + ": BIN must have 6 to 11 digits, got " +
                                   std::to_string(range.low.size()));
  }
  if (range.high.size() != range.low.size()) {
    return Status::InvalidArgument(where + ": BIN range " + range.low + "-" + range.high +
                                   ": both ends must have the same number of digits");
  }
  if (!AllDigits(range.low) || !AllDigits(range.high)) {
    return Status::InvalidArgument(where + ": BIN must contain only digits");
  }
  if (range.high < range.low) {
    return Status::InvalidArgument(where + ": BIN range " + range.low + "-" + range.high +
                                   ": low end is above high end");
  }
  return Status::Ok();
}

}  // namespace

BinTable::BinTable() = default;

Result<BinTable> BinTable::Build(std::vector<BinRange> ranges) {
  if (ranges.size() > kRangesMax) {
    return Status::InvalidArgument("too many BIN ranges: " + std::to_string(ranges.size()) + " > " +
                                   std::to_string(kRangesMax));
  }
  BinTable table;
  for (size_t i = 0; i < ranges.size(); ++i) {
    KYTKIN_RETURN_IF_ERROR(CheckRange(ranges[i], i));
    const BinRange& r = ranges[i];
    const size_t n = r.digits();
    uint64_t low = 0;
    uint64_t high = 0;
    (void)ReadDigits(r.low, n, &low);  // checked by CheckRange
    (void)ReadDigits(r.high, n, &high);
    const uint64_t scale = kPow10[kBinDigitsMax - n];
    table.by_length_[n - kBinDigitsMin].push_back(
        {low * scale, (high + 1) * scale - 1, static_cast<uint32_t>(i)});
  }

  // Same-length ranges must be disjoint: after sorting, each must start after its predecessor.
  for (auto& bounds : table.by_length_) {
    std::sort(bounds.begin(), bounds.end(),
              [](const Bound& a, const Bound& b) { return a.low < b.low; });
    for (size_t i = 1; i < bounds.size(); ++i) {
      if (bounds[i].low <= bounds[i - 1].high) {
        const size_t a = bounds[i - 1].range;
        const size_t b = bounds[i].range;
        return Status::InvalidArgument(Where(ranges[b], b) + ": BIN range " + ranges[b].low + "-" +
                                       ranges[b].high + " overlaps " + ranges[a].low + "-" +
                                       ranges[a].high + " (" + Where(ranges[a], a) +
                                       ") of the same length");
      }
    }
  }

  // Flatten: sweep the key space; at every boundary the longest active range wins. Removals sort
  // before additions at the same point, so back-to-back ranges of one length do not collide.
  struct Event {
    uint64_t point;
    bool add;
    uint8_t length_index;
    uint32_t range;
  };
  std::vector<Event> events;
  events.reserve(ranges.size() * 2);
  for (size_t li = 0; li < table.by_length_.size(); ++li) {
    for (const Bound& b : table.by_length_[li]) {
      events.push_back({b.low, true, static_cast<uint8_t>(li), b.range});
      events.push_back({b.high + 1, false, static_cast<uint8_t>(li), b.range});
    }
  }
  std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
    return std::tie(a.point, a.add) < std::tie(b.point, b.add);
  });
  std::array<uint32_t, kBinDigitsMax - kBinDigitsMin + 1> active;
  active.fill(kNoRange);
  table.intervals_.push_back({0, kNoRange, 0});
  for (size_t i = 0; i < events.size();) {
    const uint64_t point = events[i].point;
    for (; i < events.size() && events[i].point == point; ++i) {
      active[events[i].length_index] = events[i].add ? events[i].range : kNoRange;
    }
    uint32_t winner = kNoRange;
    for (size_t li = active.size(); li-- > 0;) {
      if (active[li] != kNoRange) {
        winner = active[li];
        break;
      }
    }
    if (point >= kKeySpace) break;  // the end of a range that reaches 99999999999
    if (table.intervals_.back().start == point) {
      table.intervals_.back().range = winner;  // only at point 0
    } else if (table.intervals_.back().range != winner) {
      table.intervals_.push_back({point, winner, 0});
    }
  }

  if (!ranges.empty()) {
    table.buckets_.resize(kBucketCount + 1);
    const uint64_t bucket_width = kPow10[kBinDigitsMax - kBucketDigits];
    size_t interval = 0;
    for (uint64_t b = 0; b <= kBucketCount; ++b) {
      const uint64_t key = b * bucket_width;
      while (interval + 1 < table.intervals_.size() &&
             table.intervals_[interval + 1].start <= key) {
        ++interval;
      }
      table.buckets_[b] = static_cast<uint32_t>(interval);
    }
  }
  for (Interval& interval : table.intervals_) {
    if (interval.range != kNoRange) interval.value = ranges[interval.range].value;
  }
  table.ranges_ = std::move(ranges);
  return table;
}

BinMatch BinTable::Match(std::string_view digits) const {
  if (ranges_.empty()) return {};
  if (digits.size() < kBinDigitsMax) {
    const BinRange* range = FindBySearch(digits);
    return {range, range ? range->value : 0};
  }
  uint64_t key = 0;
  if (!ReadDigits(digits, kBinDigitsMax, &key)) return {};
  const uint64_t bucket = key / kPow10[kBinDigitsMax - kBucketDigits];
  // The interval containing `key` lies between the intervals containing this bucket's first key
  // and the next bucket's first key.
  size_t i = buckets_[bucket];
  const size_t last = buckets_[bucket + 1];
  if (last - i <= 8) {
    while (i < last && intervals_[i + 1].start <= key) ++i;
  } else {
    auto it = std::upper_bound(intervals_.begin() + i + 1, intervals_.begin() + last + 1, key,
                               [](uint64_t k, const Interval& v) { return k < v.start; });
    i = static_cast<size_t>(it - intervals_.begin()) - 1;
  }
  const Interval& interval = intervals_[i];
  if (interval.range == kNoRange) return {};
  return {&ranges_[interval.range], interval.value};
}

const BinRange* BinTable::FindBySearch(std::string_view digits) const {
  const size_t usable = std::min(digits.size(), kBinDigitsMax);
  if (usable < kBinDigitsMin) return nullptr;
  uint64_t prefix = 0;
  if (!ReadDigits(digits, usable, &prefix)) return nullptr;
  for (size_t n = usable; n >= kBinDigitsMin; --n) {
    const auto& bounds = by_length_[n - kBinDigitsMin];
    const uint64_t key = (prefix / kPow10[usable - n]) * kPow10[kBinDigitsMax - n];
    auto it = std::upper_bound(bounds.begin(), bounds.end(), key,
                               [](uint64_t k, const Bound& b) { return k < b.low; });
    if (it != bounds.begin() && std::prev(it)->high >= key) return &ranges_[std::prev(it)->range];
  }
  return nullptr;
}

}  // namespace kytkin::routing
