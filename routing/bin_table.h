// BinTable: maps the leading digits of a PAN to a BIN range, longest prefix winning.
//
// A range is a pair of digit strings of the same length n (6 to 11 digits, low <= high): a PAN
// matches when its first n digits lie in [low, high]. "411111" alone is the range
// 411111-411111. When ranges of different lengths cover a PAN, the longest one wins (an 8-digit
// BIN inside a 6-digit range carves it out); ranges of the same length must not overlap, because
// nothing would decide between them, so Build rejects that.
//
// Lookup cost does not depend on the table size in practice: Build flattens all ranges into
// disjoint intervals over the 11-digit key space, and a direct index on the first 5 digits
// narrows each lookup to the few intervals of that bucket. No allocation, no locks.
//
// Thread safety: immutable after Build; any number of threads may call Find concurrently.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace kytkin::routing {

// BIN lengths kytkin routes on (ISO/IEC 7812: 6 digits historically, 8 since 2022; some issuers
// split further by account range).
inline constexpr size_t kBinDigitsMin = 6;
inline constexpr size_t kBinDigitsMax = 11;

struct BinRange {
  std::string low;     // 6..11 digits
  std::string high;    // same length as low, >= low
  uint32_t value = 0;  // caller's payload (the routing table stores the issuer index here)
  uint32_t line = 0;   // source line in the table file, 0 when built in code; used in errors

  size_t digits() const { return low.size(); }
};

// A lookup result: the range and its value. The value is stored beside the index, so reading
// it costs no access to the range itself (a cache miss in a large table).
struct BinMatch {
  const BinRange* range = nullptr;  // nullptr when no range matches
  uint32_t value = 0;               // range->value; 0 when no range matches
};

class BinTable {
 public:
  // Limit on ranges per table: 1,000,000 ranges is about ten times the largest real BIN files.
  static constexpr size_t kRangesMax = 1'000'000;

  // An empty table: Find returns nullptr for every PAN.
  BinTable();

  // Validates (digits only, 6..11 digits, equal lengths, low <= high, no overlap within one
  // length, at most kRangesMax) and indexes the ranges. Errors name the source line(s).
  static Result<BinTable> Build(std::vector<BinRange> ranges);

  // The longest range containing the leading digits of `digits`, or nullptr. A range of n digits
  // can only match when `digits` has at least n digits, so a short input never matches a long
  // BIN. Non-digit characters in the first 11 positions make the lookup fail (nullptr).
  const BinRange* Find(std::string_view digits) const { return Match(digits).range; }
  // The same, with the range's value.
  BinMatch Match(std::string_view digits) const;

  // The same answer as Find, computed by a binary search per BIN length; kept as a reference for
  // tests and benchmarks and used by Find for inputs shorter than 11 digits.
  const BinRange* FindBySearch(std::string_view digits) const;

  size_t size() const { return ranges_.size(); }
  const std::vector<BinRange>& ranges() const { return ranges_; }

 private:
  // 10^5 buckets: a key's first 5 digits.
  static constexpr size_t kBucketDigits = 5;
  static constexpr uint64_t kBucketCount = 100'000;
  static constexpr uint32_t kNoRange = UINT32_MAX;

  struct Bound {
    uint64_t low;   // padded to 11 digits
    uint64_t high;  // padded to 11 digits
    uint32_t range;
  };

  std::vector<BinRange> ranges_;
  // Flattened disjoint intervals: intervals_[i] covers [start, intervals_[i+1].start). Start,
  // range and value share one 16-byte slot, so a lookup touches one cache line of them.
  struct Interval {
    uint64_t start;  // padded to 11 digits; intervals_[0].start == 0
    uint32_t range;  // index into ranges_, or kNoRange
    uint32_t value;  // ranges_[range].value
  };
  std::vector<Interval> intervals_;
  // buckets_[b]: index of the interval containing key b * 10^6; kBucketCount + 1 entries.
  std::vector<uint32_t> buckets_;
  // Per BIN length (index digits - kBinDigitsMin), ranges sorted by low, for FindBySearch.
  std::array<std::vector<Bound>, kBinDigitsMax - kBinDigitsMin + 1> by_length_;
};

}  // namespace kytkin::routing
