// Clock: the only way kytkin code reads time, so tests can inject it.
#pragma once

#include <atomic>
#include <cstdint>

namespace kytkin {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time, microseconds since the Unix epoch (UTC). Used for records and expiries.
  virtual int64_t NowUnixMicros() const = 0;
  // Monotonic time in microseconds from an arbitrary origin. Used for deadlines and latency.
  virtual int64_t NowMonotonicMicros() const = 0;
};

// The process's real clock.
class SystemClock final : public Clock {
 public:
  static const SystemClock& Get();
  int64_t NowUnixMicros() const override;
  int64_t NowMonotonicMicros() const override;
};

// A clock that moves only when told to. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t unix_micros = 1'700'000'000'000'000) : now_(unix_micros) {}
  int64_t NowUnixMicros() const override { return now_.load(); }
  int64_t NowMonotonicMicros() const override { return now_.load(); }
  void Advance(int64_t micros) { now_ += micros; }
  void Set(int64_t unix_micros) { now_ = unix_micros; }

 private:
  std::atomic<int64_t> now_;
};

}  // namespace kytkin
