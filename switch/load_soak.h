// SoakSeries: the per-interval record of a long `kytkin load` run (issue 7's soak mode).
//
// A soak asks "does the server drift?": does p99 creep up, does the achieved rate sag, does the
// resident memory grow over ten minutes at a fixed rate. The runner feeds one sample per second
// of the measured window (the answers of that second as a latency histogram, errors, timeouts
// and the server's RSS); every `interval_s` samples become one SoakInterval. The final report
// carries the whole series and a drift summary (last interval against the first).
//
// Not thread-safe: the runner's progress loop owns it. Memory is bounded: at most
// kSoakIntervalsMax intervals are kept (a day at one per second); later ones are dropped and
// counted in dropped_intervals().
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "switch/load_histogram.h"

namespace kytkin::load {

// 24 h of one-second intervals; a longer series is cut (the run itself is bounded to a day).
inline constexpr size_t kSoakIntervalsMax = 24 * 3600;

struct SoakInterval {
  uint64_t start_s = 0;  // seconds into the measured window at the interval's start
  uint64_t length_s = 0;
  uint64_t answered = 0;
  uint64_t errors = 0;
  uint64_t timeouts = 0;
  double achieved_per_s = 0;  // answered / length_s
  // Latency of the answers that arrived in the interval, microseconds.
  double p50_us = 0, p99_us = 0, p999_us = 0, max_us = 0;
  // The server's resident set at the end of the interval, KiB; 0 when not watched.
  uint64_t server_rss_kib = 0;
};

class SoakSeries {
 public:
  // interval_s: seconds per interval, >= 1.
  explicit SoakSeries(uint64_t interval_s);

  // One second of the measured window. `answers` holds that second's latencies.
  void AddSecond(const LatencyHistogram& answers, uint64_t errors, uint64_t timeouts,
                 uint64_t server_rss_kib);
  // Closes a partly filled interval (the end of the run). No-op when nothing is open.
  void Flush();

  const std::vector<SoakInterval>& intervals() const { return intervals_; }
  uint64_t dropped_intervals() const { return dropped_; }
  uint64_t interval_s() const { return interval_s_; }

  // "interval 3 (120-180 s): achieved 20000/s  p50 ...  p99 ...  RSS ... MiB"
  static std::string Line(const SoakInterval& interval);
  // Last interval against the first: p99 and achieved-rate ratios and the RSS change.
  // Empty when fewer than two intervals.
  std::string DriftText() const;
  // A JSON array of intervals, for the report's "intervals" field.
  static std::string Json(const std::vector<SoakInterval>& intervals);

 private:
  void Close();

  uint64_t interval_s_;
  uint64_t seconds_seen_ = 0;
  // The interval being filled.
  LatencyHistogram open_;
  uint64_t open_seconds_ = 0;
  uint64_t open_errors_ = 0, open_timeouts_ = 0, open_rss_kib_ = 0;
  std::vector<SoakInterval> intervals_;
  uint64_t dropped_ = 0;
};

}  // namespace kytkin::load
