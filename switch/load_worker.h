// Internal to `kytkin load`: what a worker thread shares with the main thread. Not a public API.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string_view>

#include "switch/load_histogram.h"
#include "switch/load_runner.h"
#include "switch/load_workload.h"

namespace kytkin::load {

inline uint64_t NowNs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

// The times of one worker's run, on NowNs()'s clock.
struct WorkerPlan {
  uint32_t index = 0;
  uint64_t measure_start_ns = 0;  // requests due before this are warm-up
  uint64_t measure_end_ns = 0;    // no request is due at or after this
  uint64_t deadline_ns = 0;       // measure_end + timeout: unanswered requests are timeouts
  uint64_t rate_per_s = 0;        // this worker's share; 0 = closed loop
  uint64_t schedule_start_ns = 0;
};

// Counts of the measured window plus the current progress interval. Guarded by `mu`; a worker
// takes it once per batch of answers, the main thread once a second.
struct WorkerShared {
  std::mutex mu;
  LatencyHistogram latency;           // measured window
  LatencyHistogram interval;          // since the last progress line (warm-up included)
  std::array<uint64_t, 100> codes{};  // DE 39 "00".."99"
  uint64_t odd_codes = 0;             // a DE 39 that is not two digits
  std::array<uint64_t, kLoadOperationCount> operations{};
  uint64_t due = 0, answered = 0, errors = 0, timeouts = 0, not_sent = 0;
  uint64_t last_answer_ns = 0;  // when the last answer to a measured request arrived
  uint64_t interval_answered = 0, interval_errors = 0, interval_timeouts = 0;
  bool finished = false;

  bool Measured(const WorkerPlan& plan, uint64_t due_ns) const {
    return due_ns >= plan.measure_start_ns && due_ns < plan.measure_end_ns;
  }
  // REQUIRES: mu held.
  void RecordAnswer(const WorkerPlan& plan, uint64_t due_ns, uint64_t now_ns,
                    std::string_view code) {
    const uint64_t latency_ns = now_ns > due_ns ? now_ns - due_ns : 0;
    interval.Record(latency_ns);
    ++interval_answered;
    if (!Measured(plan, due_ns)) return;
    latency.Record(latency_ns);
    ++answered;
    last_answer_ns = std::max(last_answer_ns, now_ns);
    if (code.size() == 2 && code[0] >= '0' && code[0] <= '9' && code[1] >= '0' && code[1] <= '9') {
      ++codes[static_cast<size_t>((code[0] - '0') * 10 + (code[1] - '0'))];
    } else {
      ++odd_codes;
    }
  }
  // REQUIRES: mu held.
  void RecordFailure(const WorkerPlan& plan, uint64_t due_ns, bool timeout) {
    ++(timeout ? interval_timeouts : interval_errors);
    if (Measured(plan, due_ns)) ++(timeout ? timeouts : errors);
  }
  // REQUIRES: mu held.
  void RecordSent(const WorkerPlan& plan, uint64_t due_ns, LoadOperation op) {
    if (!Measured(plan, due_ns)) return;
    ++due;
    ++operations[static_cast<size_t>(op)];
  }
};

// Fills the open-loop count of requests that fell due in the window but were never sent.
void CountNotSent(const WorkerPlan& plan, uint64_t next_index, WorkerShared& shared);

void RunIsoWorker(const LoadOptions& options, const WorkerPlan& plan, WorkerShared& shared);
void RunGrpcWorker(const LoadOptions& options, const WorkerPlan& plan, WorkerShared& shared);

}  // namespace kytkin::load
