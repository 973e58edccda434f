#include "routing/table_holder.h"

#include "routing/table_file.h"

namespace kytkin::routing {

RoutingTableHolder::RoutingTableHolder() : RoutingTableHolder(RoutingTable()) {}

RoutingTableHolder::RoutingTableHolder(RoutingTable initial, const TableLimits& limits)
    : limits_(limits), current_(std::make_shared<const RoutingTable>(std::move(initial))) {}

Status RoutingTableHolder::Reload(const std::string& path) {
  // Parsed outside the lock: two concurrent reloads both parse, and the later publication wins.
  return Publish(LoadRoutingTableFile(path, limits_));
}

Status RoutingTableHolder::ReloadFromText(std::string_view text) {
  return Publish(ParseRoutingTable(text, limits_));
}

void RoutingTableHolder::Replace(RoutingTable table) {
  (void)Publish(std::move(table));  // an already built table cannot fail to publish
}

Status RoutingTableHolder::Publish(Result<RoutingTable> table) {
  if (!table.ok()) {
    reloads_failed_.fetch_add(1, std::memory_order_relaxed);
    return table.status();
  }
  auto next = std::make_shared<const RoutingTable>(std::move(table).value());
  std::shared_ptr<const RoutingTable> dropped;  // freed after unlocking, not under the mutex
  {
    std::lock_guard lock(mutex_);
    dropped = std::move(previous_);
    previous_ = std::move(current_);
    current_ = std::move(next);
    // Bumped after the swap: a reader that sees the new version copies this table or a newer one.
    version_.fetch_add(1, std::memory_order_release);
  }
  reloads_ok_.fetch_add(1, std::memory_order_relaxed);
  return Status::Ok();
}

}  // namespace kytkin::routing
