#include "routing/table_holder.h"

#include "routing/table_file.h"

namespace kytkin::routing {

RoutingTableHolder::RoutingTableHolder() : RoutingTableHolder(RoutingTable()) {}

RoutingTableHolder::RoutingTableHolder(RoutingTable initial, const TableLimits& limits)
    : current_(std::make_shared<const RoutingTable>(std::move(initial))), limits_(limits) {}

Status RoutingTableHolder::Reload(const std::string& path) {
  // Parse outside the lock: two concurrent reloads both parse, and the later store wins.
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
  std::lock_guard lock(reload_mutex_);
  previous_ = current_.exchange(std::move(next));
  version_.fetch_add(1, std::memory_order_release);  // after the store: a reader that sees it
                                                     // loads this table or a newer one
  reloads_ok_.fetch_add(1, std::memory_order_relaxed);
  return Status::Ok();
}

}  // namespace kytkin::routing
