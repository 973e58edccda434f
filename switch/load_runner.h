// `kytkin load`: drives a running kytkin over ISO 8583 or gRPC and measures it.
//
// Open loop (rate > 0): request i is due at start + i/rate; its latency is measured from when it
// was DUE, not when it was sent, so a stall (in the server or in this client) inflates the
// latency of every request that fell due during it instead of silently lowering the offered
// rate (no coordinated omission). When every connection's pipeline is full, due requests wait
// and their wait counts. Closed loop (rate 0): every free slot is refilled at once and latency
// is measured from the send; the achieved rate is the maximum throughput.
//
// Each worker thread owns its connections (or gRPC channel and completion queue) and its
// histograms; the main thread merges them once a second for the progress line and at the end
// for the report. Every loop is bounded by the run's deadline (warm-up + duration + timeout).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"
#include "switch/load_histogram.h"
#include "switch/load_soak.h"
#include "switch/load_workload.h"

namespace kytkin::load {

enum class LoadProtocol : uint8_t { kIso8583, kGrpc };

struct LoadOptions {
  LoadProtocol protocol = LoadProtocol::kIso8583;
  // Target: 127.0.0.1 only (a load test never leaves the machine). Ports must be set.
  std::string host = "127.0.0.1";
  uint16_t iso_port = 0;   // the ISO 8583 listener (--iso HOST:PORT)
  uint16_t grpc_port = 0;  // the gRPC port: Admin (cards) and, with kGrpc, Authorization
  std::string dialect = "iso87-ascii";
  std::string framing = "binary2";
  // Requests per second offered; 0 = closed loop. Default 1000.
  uint64_t rate_per_s = 1000;
  // Measured seconds after the warm-up (default 10); warm-up seconds not counted (default 2).
  uint64_t duration_s = 10;
  uint64_t warmup_s = 2;
  // Worker threads (default 1; the server shares the machine). Connections per thread
  // (ISO 8583; default 8) and requests in flight per connection (pipelining depth, default 16).
  // For gRPC: `connections` channels per thread (separate TCP connections), `depth` calls in
  // flight on each.
  uint32_t threads = 1;
  uint32_t connections = 8;
  uint32_t depth = 16;
  // A request unanswered this long counts as a timeout. Default 5000 ms.
  uint64_t timeout_ms = 5000;
  // Funded cards created before the run (Zipf-skewed use, exponent zipf_s).
  uint32_t cards = 10000;
  double zipf_s = 0.99;
  // Skip ImportAccounts (the cards exist from an earlier run).
  bool skip_setup = false;
  OperationMix mix;
  uint64_t seed = 1;
  // The kytkin serve process to watch (a soak): its resident memory goes on every progress line
  // and into the report. 0 = none. Read from /proc/PID/status, so the server must run here.
  int64_t server_pid = 0;
  // Soak mode: every this many measured seconds, one interval (achieved rate, p50/p99/p99.9,
  // errors, server RSS) goes on the progress stream and into the report's series, so drift over
  // a long run shows. 0 = off (default).
  uint64_t report_interval_s = 0;
  // An open-loop result is INVALID when achieved < offered * (1 - shortfall). Default 1%.
  double shortfall_max = 0.01;
};

inline constexpr uint32_t kThreadsMax = 64;
inline constexpr uint32_t kConnectionsPerThreadMax = 1024;
inline constexpr uint32_t kDepthMax = 1024;
inline constexpr uint64_t kRateMax = 10'000'000;       // requests/s
inline constexpr uint64_t kDurationMax_s = 24 * 3600;  // one day (a soak)
inline constexpr uint32_t kCardsMax = 10'000'000;

// What a run measured: the requests that fell due inside the measured window.
struct LoadReport {
  std::string protocol;
  bool closed_loop = false;
  double offered_per_s = 0;  // the rate asked for (closed loop: = achieved)
  // Answers / answer_window_s. The window runs from the start of the measurement to the end of
  // the schedule or the last answer, whichever is later: a server that falls behind and drains
  // its backlog after the schedule ended gets a lower rate, not credit for the backlog.
  double achieved_per_s = 0;
  double measured_s = 0;  // the measured part of the schedule (--duration)
  double answer_window_s = 0;
  uint64_t due = 0;       // requests due in the window (open loop) or sent (closed loop)
  uint64_t answered = 0;  // answered with a decision
  uint64_t errors = 0;    // connection errors, bad frames, RPC errors
  uint64_t timeouts = 0;  // unanswered after timeout_ms
  uint64_t not_sent = 0;  // due but never sent before the deadline (client could not keep up)
  std::map<std::string, uint64_t> response_codes;  // "00" -> count
  std::map<std::string, uint64_t> operations;      // "authorize" -> count sent
  LatencyHistogram latency;
  // The server's resident set (options.server_pid): at the first and last progress line, and
  // the largest seen. 0 when not watched.
  uint64_t server_rss_first_kib = 0, server_rss_last_kib = 0, server_rss_max_kib = 0;
  // Soak mode (options.report_interval_s > 0): the per-interval series, oldest first, and the
  // drift of the last interval against the first (empty with fewer than two intervals).
  std::vector<SoakInterval> intervals;
  std::string drift;
  bool valid = true;
  std::string invalid_reason;
};

// Creates the funded cards (and a few empty ones) through Admin.ImportAccounts. Cards that
// exist already are fine (a rerun against the same server).
[[nodiscard]] Status CreateLoadCards(const LoadOptions& options, std::ostream& log);

// One progress line per second goes to `progress` (may be null).
[[nodiscard]] Result<LoadReport> RunLoad(const LoadOptions& options, std::ostream* progress);

std::string ReportText(const LoadReport& report);
std::string ReportJson(const LoadReport& report, const LoadOptions& options);

}  // namespace kytkin::load
