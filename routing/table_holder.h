// RoutingTableHolder: the current routing table, replaceable at runtime without stopping traffic.
//
// Readers call Current() per request and route with the returned table; a reload builds a new
// table completely (parse + validate + index) before publishing it with one atomic store, so a
// request sees either the old or the new table, never a mix, and no request waits for a parse.
// A reload that fails leaves the current table in place and returns why ("path: line N: ...").
//
// Thread safety: Current() from any number of threads, concurrently with reloads. Publishing is
// serialized by a mutex that readers never take. (std::atomic<std::shared_ptr> in libstdc++ 12
// guards the pointer with a spin bit held for a few instructions, not for the parse.)
//
// The table a reload replaces is kept until the next reload, so the last reader to drop it is
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
  std::shared_ptr<const RoutingTable> Current() const { return current_.load(); }

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

  std::atomic<std::shared_ptr<const RoutingTable>> current_;
  const TableLimits limits_;
  std::mutex reload_mutex_;                       // serializes reloads only
  std::shared_ptr<const RoutingTable> previous_;  // guarded by reload_mutex_
  std::atomic<uint64_t> version_{0};
  std::atomic<uint64_t> reloads_ok_{0};
  std::atomic<uint64_t> reloads_failed_{0};
};

// A per-thread view of a holder for the request path: Get() costs one atomic load while the
// table is unchanged, instead of the shared reference count Current() touches, so worker threads
// do not contend on one cache line per request. Keep one per worker thread (not thread-safe).
//
// The reader keeps its table alive until its next Get() after a reload, so an idle worker holds
// the previous table a little longer; it frees it there, on a worker thread, if it was the last.
class RoutingTableReader {
 public:
  // REQUIRES: `holder` outlives the reader.
  explicit RoutingTableReader(const RoutingTableHolder& holder)
      : holder_(holder), version_(holder.version()), table_(holder.Current()) {}

  // The current table; the reference stays valid until the next Get() on this reader.
  const RoutingTable& Get() {
    const uint64_t version = holder_.version();
    if (version != version_) {
      table_ = holder_.Current();  // at least as new as `version`
      version_ = version;
    }
    return *table_;
  }

 private:
  const RoutingTableHolder& holder_;
  uint64_t version_;
  std::shared_ptr<const RoutingTable> table_;
};

}  // namespace kytkin::routing
