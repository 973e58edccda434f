#include "switch/load_soak.h"

#include <cassert>
#include <cinttypes>
#include <cstdio>

namespace kytkin::load {

SoakSeries::SoakSeries(uint64_t interval_s) : interval_s_(interval_s) { assert(interval_s >= 1); }

void SoakSeries::AddSecond(const LatencyHistogram& answers, uint64_t errors, uint64_t timeouts,
                           uint64_t server_rss_kib) {
  open_.Merge(answers);
  ++open_seconds_;
  ++seconds_seen_;
  open_errors_ += errors;
  open_timeouts_ += timeouts;
  open_rss_kib_ = server_rss_kib;
  if (open_seconds_ == interval_s_) Close();
}

void SoakSeries::Flush() {
  if (open_seconds_ > 0) Close();
}

void SoakSeries::Close() {
  SoakInterval i;
  i.start_s = seconds_seen_ - open_seconds_;
  i.length_s = open_seconds_;
  i.answered = open_.count();
  i.errors = open_errors_;
  i.timeouts = open_timeouts_;
  i.achieved_per_s = static_cast<double>(i.answered) / static_cast<double>(i.length_s);
  i.p50_us = static_cast<double>(open_.ValueAtPercentile(50)) / 1000.0;
  i.p99_us = static_cast<double>(open_.ValueAtPercentile(99)) / 1000.0;
  i.p999_us = static_cast<double>(open_.ValueAtPercentile(99.9)) / 1000.0;
  i.max_us = static_cast<double>(open_.max_ns()) / 1000.0;
  i.server_rss_kib = open_rss_kib_;
  if (intervals_.size() < kSoakIntervalsMax) {
    intervals_.push_back(i);
  } else {
    ++dropped_;
  }
  open_.Reset();
  open_seconds_ = 0;
  open_errors_ = open_timeouts_ = open_rss_kib_ = 0;
}

std::string SoakSeries::Line(const SoakInterval& i) {
  char buf[256];
  std::snprintf(buf, sizeof(buf),
                "interval %" PRIu64 "-%" PRIu64
                " s: achieved %.0f/s  p50 %.1f  p99 %.1f  "
                "p99.9 %.1f  max %.1f us  errors %" PRIu64 "  timeouts %" PRIu64,
                i.start_s, i.start_s + i.length_s, i.achieved_per_s, i.p50_us, i.p99_us, i.p999_us,
                i.max_us, i.errors, i.timeouts);
  std::string out = buf;
  if (i.server_rss_kib > 0) {
    out += "  server RSS " + std::to_string(i.server_rss_kib / 1024) + " MiB";
  }
  return out;
}

std::string SoakSeries::DriftText() const {
  if (intervals_.size() < 2) return "";
  const SoakInterval& a = intervals_.front();
  const SoakInterval& b = intervals_.back();
  auto ratio = [](double later, double first) { return first > 0 ? later / first : 0.0; };
  char buf[256];
  std::snprintf(buf, sizeof(buf),
                "drift (last interval vs first): p99 %.1f -> %.1f us (x%.2f), achieved %.0f -> "
                "%.0f/s (x%.2f)",
                a.p99_us, b.p99_us, ratio(b.p99_us, a.p99_us), a.achieved_per_s, b.achieved_per_s,
                ratio(b.achieved_per_s, a.achieved_per_s));
  std::string out = buf;
  if (a.server_rss_kib > 0 && b.server_rss_kib > 0) {
    const auto delta =
        static_cast<int64_t>(b.server_rss_kib) - static_cast<int64_t>(a.server_rss_kib);
    out += ", server RSS " + std::to_string(a.server_rss_kib / 1024) + " -> " +
           std::to_string(b.server_rss_kib / 1024) + " MiB (" + (delta >= 0 ? "+" : "") +
           std::to_string(delta / 1024) + " MiB)";
  }
  return out;
}

std::string SoakSeries::Json(const std::vector<SoakInterval>& intervals) {
  std::string out = "[";
  char buf[384];
  for (size_t n = 0; n < intervals.size(); ++n) {
    const SoakInterval& i = intervals[n];
    std::snprintf(buf, sizeof(buf),
                  "%s{\"start_s\": %" PRIu64 ", \"length_s\": %" PRIu64 ", \"answered\": %" PRIu64
                  ", \"achieved_per_s\": %.1f, \"p50_us\": %.1f, \"p99_us\": %.1f, "
                  "\"p99_9_us\": %.1f, \"max_us\": %.1f, \"errors\": %" PRIu64
                  ", \"timeouts\": %" PRIu64 ", \"server_rss_kib\": %" PRIu64 "}",
                  n == 0 ? "" : ", ", i.start_s, i.length_s, i.answered, i.achieved_per_s, i.p50_us,
                  i.p99_us, i.p999_us, i.max_us, i.errors, i.timeouts, i.server_rss_kib);
    out += buf;
  }
  return out + "]";
}

}  // namespace kytkin::load
