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

  // Tables published so far, the initial one excluded; for metrics and the admin API.
  uint64_t reloads_ok() const { return reloads_ok_.load(std::memory_order_relaxed); }
  uint64_t reloads_failed() const { return reloads_failed_.load(std::memory_order_relaxed); }

 private:
  Status Publish(Result<RoutingTable> table);

  std::atomic<std::shared_ptr<const RoutingTable>> current_;
  const TableLimits limits_;
  std::mutex reload_mutex_;                       // serializes reloads only
  std::shared_ptr<const RoutingTable> previous_;  // guarded by reload_mutex_
  std::atomic<uint64_t> reloads_ok_{0};
  std::atomic<uint64_t> reloads_failed_{0};
};

}  // namespace kytkin::routing
