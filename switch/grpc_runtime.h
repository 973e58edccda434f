// Process-wide settings of the gRPC runtime that kytkin's server and load generator share.
#pragma once

#include <absl/synchronization/mutex.h>

#include <mutex>

namespace kytkin {

// Turns off Abseil's mutex deadlock detection. Debian builds Abseil without NDEBUG, so every
// absl::Mutex that gRPC locks (several per call) also updates a global lock graph
// (GraphCycles): ~3% of the server's CPU in a gRPC load profile, for a debugging aid.
// Idempotent; call before the first channel or server is created.
inline void ConfigureGrpcRuntime() {
  static std::once_flag once;
  std::call_once(once, [] { absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore); });
}

}  // namespace kytkin
