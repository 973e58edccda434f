#include "switch/load_runner.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <ostream>
#include <thread>
#include <vector>

#include "switch/load_worker.h"

namespace kytkin::load {
namespace {

constexpr uint64_t kNsPerSecond = 1'000'000'000;
constexpr uint64_t kStartDelayNs = 50'000'000;  // lets every worker connect before the start

std::string Micros(uint64_t ns) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", static_cast<double>(ns) / 1000.0);
  return buf;
}

// VmRSS of a process in KiB; 0 when it cannot be read (the process is gone).
uint64_t ResidentKib(int64_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10);
  }
  return 0;
}

}  // namespace

void CountNotSent(const WorkerPlan& plan, uint64_t next_index, WorkerShared& shared) {
  OpenLoopSchedule schedule(plan.schedule_start_ns, plan.rate_per_s);
  const uint64_t first = schedule.DueCount(plan.measure_start_ns - 1);  // warm-up requests
  const uint64_t last = schedule.DueCount(plan.measure_end_ns - 1);     // all due in the window
  const uint64_t from = std::max(first, next_index);
  if (last > from) {
    shared.not_sent += last - from;
    shared.due += last - from;
  }
}

Result<LoadReport> RunLoad(const LoadOptions& options, std::ostream* progress) {
  const uint32_t threads = options.threads;
  std::vector<std::unique_ptr<WorkerShared>> shared;
  std::vector<WorkerPlan> plans(threads);
  const uint64_t start = NowNs() + kStartDelayNs;
  for (uint32_t t = 0; t < threads; ++t) {
    shared.push_back(std::make_unique<WorkerShared>());
    WorkerPlan& plan = plans[t];
    plan.index = t;
    plan.measure_start_ns = start + options.warmup_s * kNsPerSecond;
    plan.measure_end_ns = plan.measure_start_ns + options.duration_s * kNsPerSecond;
    plan.deadline_ns = plan.measure_end_ns + options.timeout_ms * 1'000'000;
    if (options.rate_per_s > 0) {
      // Thread t takes every threads-th slot of the overall schedule: rate/threads each, offset.
      plan.rate_per_s = options.rate_per_s / threads + (t < options.rate_per_s % threads ? 1 : 0);
      plan.schedule_start_ns = start + t * kNsPerSecond / options.rate_per_s;
      if (plan.rate_per_s == 0) plan.rate_per_s = 1;
    }
  }
  std::vector<std::thread> workers;
  for (uint32_t t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      if (options.protocol == LoadProtocol::kIso8583) {
        RunIsoWorker(options, plans[t], *shared[t]);
      } else {
        RunGrpcWorker(options, plans[t], *shared[t]);
      }
      std::lock_guard lock(shared[t]->mu);
      shared[t]->finished = true;
    });
  }
  // Progress once a second until every worker is done (each stops by its deadline).
  uint64_t tick = start;
  LatencyHistogram interval;
  uint64_t rss_first_kib = 0, rss_last_kib = 0, rss_max_kib = 0;
  std::optional<SoakSeries> soak;
  if (options.report_interval_s > 0) soak.emplace(options.report_interval_s);
  for (;;) {
    tick += kNsPerSecond;
    uint64_t now = NowNs();
    if (tick > now) std::this_thread::sleep_for(std::chrono::nanoseconds(tick - now));
    interval.Reset();
    uint64_t answered = 0, errors = 0, timeouts = 0;
    bool all_finished = true;
    for (auto& s : shared) {
      std::lock_guard lock(s->mu);
      interval.Merge(s->interval);
      s->interval.Reset();
      answered += s->interval_answered;
      errors += s->interval_errors;
      timeouts += s->interval_timeouts;
      s->interval_answered = s->interval_errors = s->interval_timeouts = 0;
      all_finished = all_finished && s->finished;
    }
    std::string rss_text;
    if (options.server_pid > 0) {
      rss_last_kib = ResidentKib(options.server_pid);
      if (rss_first_kib == 0) rss_first_kib = rss_last_kib;
      rss_max_kib = std::max(rss_max_kib, rss_last_kib);
      rss_text = "  server RSS " + std::to_string(rss_last_kib / 1024) + " MiB";
    }
    if (progress != nullptr) {
      const uint64_t elapsed_s = (tick - start) / kNsPerSecond;
      const bool warmup = elapsed_s <= options.warmup_s;
      *progress << (warmup ? "warm-up " : "") << elapsed_s << "s: offered "
                << (options.rate_per_s == 0 ? std::string("max")
                                            : std::to_string(options.rate_per_s) + "/s")
                << "  achieved " << answered << "/s  p99 " << Micros(interval.ValueAtPercentile(99))
                << " us  errors " << errors << "  timeouts " << timeouts << rss_text << "\n"
                << std::flush;
    }
    // The soak series covers the measured seconds only (not the warm-up, not the drain).
    const uint64_t second = (tick - start) / kNsPerSecond;
    if (soak && second > options.warmup_s && second <= options.warmup_s + options.duration_s) {
      const size_t before = soak->intervals().size();
      soak->AddSecond(interval, errors, timeouts, rss_last_kib);
      if (progress != nullptr && soak->intervals().size() > before) {
        *progress << SoakSeries::Line(soak->intervals().back()) << "\n" << std::flush;
      }
    }
    if (all_finished) break;
  }
  if (soak) {
    soak->Flush();
  }
  for (auto& w : workers) w.join();

  LoadReport report;
  report.protocol = options.protocol == LoadProtocol::kIso8583 ? "iso8583" : "grpc";
  report.closed_loop = options.rate_per_s == 0;
  report.server_rss_first_kib = rss_first_kib;
  report.server_rss_last_kib = rss_last_kib;
  report.server_rss_max_kib = rss_max_kib;
  report.measured_s = static_cast<double>(options.duration_s);
  if (soak) {
    report.intervals = soak->intervals();
    report.drift = soak->DriftText();
  }
  uint64_t odd_codes = 0;
  uint64_t window_end_ns = plans[0].measure_end_ns;
  for (auto& s : shared) {
    std::lock_guard lock(s->mu);
    window_end_ns = std::max(window_end_ns, s->last_answer_ns);
    report.latency.Merge(s->latency);
    report.due += s->due;
    report.answered += s->answered;
    report.errors += s->errors;
    report.timeouts += s->timeouts;
    report.not_sent += s->not_sent;
    odd_codes += s->odd_codes;
    for (size_t c = 0; c < s->codes.size(); ++c) {
      if (s->codes[c] == 0) continue;
      char code[3] = {static_cast<char>('0' + c / 10), static_cast<char>('0' + c % 10), 0};
      report.response_codes[code] += s->codes[c];
    }
    for (int op = 0; op < kLoadOperationCount; ++op) {
      if (s->operations[op] == 0) continue;
      report.operations[std::string(LoadOperationName(static_cast<LoadOperation>(op)))] +=
          s->operations[op];
    }
  }
  if (odd_codes > 0) report.response_codes["??"] = odd_codes;
  report.answer_window_s =
      static_cast<double>(window_end_ns - plans[0].measure_start_ns) / kNsPerSecond;
  report.achieved_per_s = static_cast<double>(report.answered) / report.answer_window_s;
  report.offered_per_s =
      report.closed_loop ? report.achieved_per_s : static_cast<double>(options.rate_per_s);
  if (!report.closed_loop &&
      report.achieved_per_s < report.offered_per_s * (1.0 - options.shortfall_max)) {
    report.valid = false;
    char reason[160];
    std::snprintf(reason, sizeof(reason),
                  "achieved %.0f/s is more than %.1f%% below offered %.0f/s", report.achieved_per_s,
                  options.shortfall_max * 100, report.offered_per_s);
    report.invalid_reason = reason;
  }
  if (report.answered == 0) {
    report.valid = false;
    report.invalid_reason = "no request was answered";
  }
  return report;
}

std::string ReportText(const LoadReport& r) {
  std::string out;
  char line[256];
  std::snprintf(
      line, sizeof(line),
      "%s %s: offered %.0f/s, achieved %.0f/s (%.0f s schedule, answers within %.3f s)%s\n",
      r.protocol.c_str(), r.closed_loop ? "closed loop" : "open loop", r.offered_per_s,
      r.achieved_per_s, r.measured_s, r.answer_window_s, r.valid ? "" : "  INVALID");
  out += line;
  if (!r.valid) out += "  INVALID: " + r.invalid_reason + "\n";
  std::snprintf(line, sizeof(line),
                "  requests %" PRIu64 "  answered %" PRIu64 "  errors %" PRIu64
                "  timeouts %" PRIu64 "  not sent %" PRIu64 "\n",
                r.due, r.answered, r.errors, r.timeouts, r.not_sent);
  out += line;
  out += "  operations:";
  for (const auto& [name, count] : r.operations) out += " " + name + "=" + std::to_string(count);
  out += "\n  response codes:";
  for (const auto& [code, count] : r.response_codes)
    out += " " + code + "=" + std::to_string(count);
  out += "\n  latency (us, from when each request was due): p50 " +
         Micros(r.latency.ValueAtPercentile(50)) + "  p90 " +
         Micros(r.latency.ValueAtPercentile(90)) + "  p99 " +
         Micros(r.latency.ValueAtPercentile(99)) + "  p99.9 " +
         Micros(r.latency.ValueAtPercentile(99.9)) + "  p99.99 " +
         Micros(r.latency.ValueAtPercentile(99.99)) + "  max " + Micros(r.latency.max_ns()) +
         "  mean " + Micros(r.latency.MeanNs()) + "\n";
  if (r.server_rss_max_kib > 0) {
    out += "  server RSS (MiB): first " + std::to_string(r.server_rss_first_kib / 1024) +
           "  last " + std::to_string(r.server_rss_last_kib / 1024) + "  max " +
           std::to_string(r.server_rss_max_kib / 1024) + "\n";
  }
  if (!r.intervals.empty()) {
    out += "  soak: " + std::to_string(r.intervals.size()) + " intervals\n";
    for (const SoakInterval& i : r.intervals) out += "    " + SoakSeries::Line(i) + "\n";
    if (!r.drift.empty()) out += "  " + r.drift + "\n";
  }
  return out;
}

std::string ReportJson(const LoadReport& r, const LoadOptions& o) {
  std::string out = "{\n";
  char buf[512];
  std::snprintf(
      buf, sizeof(buf),
      "  \"protocol\": \"%s\",\n  \"closed_loop\": %s,\n  \"offered_per_s\": %.1f,\n"
      "  \"achieved_per_s\": %.1f,\n  \"measured_s\": %.1f,\n  \"answer_window_s\": %.3f,\n"
      "  \"valid\": %s,\n"
      "  \"invalid_reason\": \"%s\",\n",
      r.protocol.c_str(), r.closed_loop ? "true" : "false", r.offered_per_s, r.achieved_per_s,
      r.measured_s, r.answer_window_s, r.valid ? "true" : "false", r.invalid_reason.c_str());
  out += buf;
  std::snprintf(buf, sizeof(buf),
                "  \"options\": {\"rate_per_s\": %" PRIu64 ", \"duration_s\": %" PRIu64
                ", \"warmup_s\": %" PRIu64
                ", \"threads\": %u, \"connections\": %u, \"depth\": %u"
                ", \"cards\": %u, \"timeout_ms\": %" PRIu64 ", \"mix\": \"%s\"},\n",
                o.rate_per_s, o.duration_s, o.warmup_s, o.threads, o.connections, o.depth, o.cards,
                o.timeout_ms, o.mix.ToString().c_str());
  out += buf;
  std::snprintf(buf, sizeof(buf),
                "  \"requests\": %" PRIu64 ",\n  \"answered\": %" PRIu64 ",\n  \"errors\": %" PRIu64
                ",\n  \"timeouts\": %" PRIu64 ",\n  \"not_sent\": %" PRIu64 ",\n",
                r.due, r.answered, r.errors, r.timeouts, r.not_sent);
  out += buf;
  auto map_json = [](const std::map<std::string, uint64_t>& m) {
    std::string s = "{";
    for (const auto& [k, v] : m) {
      if (s.size() > 1) s += ", ";
      s += "\"" + k + "\": " + std::to_string(v);
    }
    return s + "}";
  };
  out += "  \"operations\": " + map_json(r.operations) + ",\n";
  out += "  \"response_codes\": " + map_json(r.response_codes) + ",\n";
  out += "  \"server_rss_kib\": {\"first\": " + std::to_string(r.server_rss_first_kib) +
         ", \"last\": " + std::to_string(r.server_rss_last_kib) +
         ", \"max\": " + std::to_string(r.server_rss_max_kib) + "},\n";
  if (!r.intervals.empty()) {
    out += "  \"report_interval_s\": " + std::to_string(o.report_interval_s) + ",\n";
    out += "  \"intervals\": " + SoakSeries::Json(r.intervals) + ",\n";
  }
  const LatencyHistogram& h = r.latency;
  std::snprintf(buf, sizeof(buf),
                "  \"latency_us\": {\"p50\": %.1f, \"p90\": %.1f, \"p99\": %.1f, \"p99_9\": %.1f, "
                "\"p99_99\": %.1f, \"max\": %.1f, \"mean\": %.1f, \"count\": %" PRIu64 "}\n}\n",
                h.ValueAtPercentile(50) / 1000.0, h.ValueAtPercentile(90) / 1000.0,
                h.ValueAtPercentile(99) / 1000.0, h.ValueAtPercentile(99.9) / 1000.0,
                h.ValueAtPercentile(99.99) / 1000.0, h.max_ns() / 1000.0, h.MeanNs() / 1000.0,
                h.count());
  out += buf;
  return out;
}

}  // namespace kytkin::load
