// Process-wide settings of the gRPC runtime that kytkin's server and load generator share.
#pragma once

#include <absl/synchronization/mutex.h>

#include <cstdlib>
#include <mutex>
#include <string_view>

namespace kytkin {

// Turns off Abseil's mutex deadlock detection. Debian builds Abseil without NDEBUG, so every
// absl::Mutex that gRPC locks (several per call) also updates a global lock graph
// (GraphCycles): ~3% of the server's CPU in a gRPC load profile, for a debugging aid.
// KYTKIN_GRPC_DEADLOCK_DETECTION=1 in the environment leaves it on (to debug gRPC lock order,
// or to measure what it costs: bench/grpc_bench.cc). Idempotent; call before the first channel
// or server is created (turning detection back on later aborts on locks taken without it).
inline void ConfigureGrpcRuntime() {
  static std::once_flag once;
  std::call_once(once, [] {
    const char* keep = std::getenv("KYTKIN_GRPC_DEADLOCK_DETECTION");
    if (keep != nullptr && std::string_view(keep) == "1") return;
    absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  });
}

}  // namespace kytkin
