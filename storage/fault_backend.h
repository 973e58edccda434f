// Test-only: a Backend that fails the point reads of chosen column families on demand, to test
// what the store answers when a record it needs cannot be read back (96 storage_read_failed):
// FindTransfer (Cf::kTransfers), the dedupe lookup (Cf::kDedupe), settlement's journal read
// (Cf::kJournal). Scans (Open, verification) and writes pass through untouched.
//
// Install it with StoreOptions::wrap_backend_for_testing = ReadFaults::Wrapper(faults); flip
// faults from the test thread at any time (atomics).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <utility>

#include "storage/backend.h"

namespace kytkin::storage::testing {

// Which column families' Backend::Get fail, and how many did.
class ReadFaults {
 public:
  void Fail(Cf cf) { failing_.fetch_or(Bit(cf)); }
  void Clear() { failing_.store(0); }
  bool failing(Cf cf) const { return (failing_.load() & Bit(cf)) != 0; }
  uint64_t failed_reads() const { return failed_reads_.load(); }
  void CountFailure() { failed_reads_.fetch_add(1); }

  // For StoreOptions::wrap_backend_for_testing.
  static std::function<std::unique_ptr<Backend>(std::unique_ptr<Backend>)> Wrapper(
      std::shared_ptr<ReadFaults> faults);

 private:
  static uint32_t Bit(Cf cf) { return 1u << static_cast<int>(cf); }
  std::atomic<uint32_t> failing_{0};
  std::atomic<uint64_t> failed_reads_{0};
};

class ReadFaultBackend final : public Backend {
 public:
  ReadFaultBackend(std::unique_ptr<Backend> target, std::shared_ptr<ReadFaults> faults)
      : target_(std::move(target)), faults_(std::move(faults)) {}
  std::unique_ptr<Batch> NewBatch() override { return target_->NewBatch(); }
  Status Commit(Batch& batch, bool sync) override { return target_->Commit(batch, sync); }
  std::unique_ptr<ReadView> NewReadView() override { return target_->NewReadView(); }
  uint64_t MemoryBytes() override { return target_->MemoryBytes(); }
  Result<std::string> Get(Cf cf, std::string_view key) override {
    if (faults_->failing(cf)) {
      faults_->CountFailure();
      return Status::IOError("injected read failure");
    }
    return target_->Get(cf, key);
  }

 private:
  std::unique_ptr<Backend> target_;
  std::shared_ptr<ReadFaults> faults_;
};

inline std::function<std::unique_ptr<Backend>(std::unique_ptr<Backend>)> ReadFaults::Wrapper(
    std::shared_ptr<ReadFaults> faults) {
  return [faults](std::unique_ptr<Backend> target) -> std::unique_ptr<Backend> {
    return std::make_unique<ReadFaultBackend>(std::move(target), faults);
  };
}

}  // namespace kytkin::storage::testing
