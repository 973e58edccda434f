// RoutingTableHolder: the current routing table, replaceable at runtime without stopping traffic.
//
// A reload builds the new table completely (parse + validate + index) before publishing it, so a
// request routes with either the old or the new table, never a mix, and no request waits for a
// parse. A reload that fails leaves the current table in place and returns why
// ("path: line N: ...").
//
// Request path: one RoutingTableReader per worker thread; its Get() is one atomic load while the
// table is unchanged, and after a reload it takes the holder's mutex once, for a pointer copy.
// Current() takes that mutex on every call (held for a reference-count increment only, never
// during a parse), for callers off the hot path.
//
// Why a mutex and not std::atomic<std::shared_ptr>: libstdc++ 12 implements that with a lock bit
// whose unlock in load() is relaxed, which ThreadSanitizer reports as a data race (google/
// sanitizers#1558); a plain mutex is clearly correct and costs nothing on the hot path here.
//
// Thread safety: every member may be called from any thread, concurrently.
//
// The table a reload replaces is kept until the next reload, so the last owner to drop it is
// normally the reload thread, not a request thread freeing megabytes on the data path.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "core/status.h"
#include "routing/routing_table.h"

namespace kytkin::routing {

class RoutingTableHolder {
 public:
  // Starts with an empty table (every PAN is an unknown BIN) unless given one.
  RoutingTableHolder();
  explicit RoutingTableHolder(RoutingTable initial, const TableLimits& limits = {});

  RoutingTableHolder(const RoutingTableHolder&) = delete;
  RoutingTableHolder& operator=(const RoutingTableHolder&) = delete;

  // The table to route this request with; never null. Hold the pointer for as long as a
  // RoutingDecision from it is in use.
  std::shared_ptr<const RoutingTable> Current() const {
    std::lock_guard lock(mutex_);
    return current_;
  }

  // Reads, parses and validates the file at `path`; on success publishes it, otherwise keeps the
  // current table and returns the error. The one call for the admin endpoint and SIGHUP.
  [[nodiscard]] Status Reload(const std::string& path);
  // The same from text already in memory (tests, an uploaded table).
  [[nodiscard]] Status ReloadFromText(std::string_view text);
  // Publishes an already built table.
  void Replace(RoutingTable table);

  // Counts publications; a RoutingTableReader compares it to notice a new table cheaply.
  uint64_t version() const { return version_.load(std::memory_order_acquire); }

  // Tables published so far, the initial one excluded; for metrics and the admin API.
  uint64_t reloads_ok() const { return reloads_ok_.load(std::memory_order_relaxed); }
  uint64_t reloads_failed() const { return reloads_failed_.load(std::memory_order_relaxed); }

 private:
  Status Publish(Result<RoutingTable> table);

  const TableLimits limits_;
  mutable std::mutex mutex_;
  std::shared_ptr<const RoutingTable> current_;   // guarded by mutex_; never null
  std::shared_ptr<const RoutingTable> previous_;  // guarded by mutex_
  std::atomic<uint64_t> version_{0};
  std::atomic<uint64_t> reloads_ok_{0};
  std::atomic<uint64_t> reloads_failed_{0};
};

// A per-thread view of a holder for the request path: Get() costs one atomic load while the
// table is unchanged, instead of the mutex and shared reference count Current() touches, so
// worker threads do not contend per request. Keep one per worker thread (not thread-safe).
//
// The reader keeps its table alive until its next Get() after a reload, so an idle worker holds
// the previous table a little longer; it frees it there, on a worker thread, if it was the last.
class RoutingTableReader {
 public:
  // REQUIRES: `holder` outlives the reader.
  explicit RoutingTableReader(const RoutingTableHolder& holder)
      : holder_(holder), version_(holder.version()), table_(holder.Current()) {}

  // The current table; the reference stays valid until the next Get() on this reader. A request
  // that waits (for an issuer, for the journal) while the worker serves others must keep the
  // table alive itself: copy GetShared() into the request's context.
  const RoutingTable& Get() { return *GetShared(); }
  const std::shared_ptr<const RoutingTable>& GetShared() {
    const uint64_t version = holder_.version();
    if (version != version_) {
      table_ = holder_.Current();  // at least as new as `version`
      version_ = version;
    }
    return table_;
  }

 private:
  const RoutingTableHolder& holder_;
  uint64_t version_;
  std::shared_ptr<const RoutingTable> table_;
};

}  // namespace kytkin::routing
