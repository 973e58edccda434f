// The routing table file: a line format, one directive per line, documented in README.md
// ("Routing table file"); routing/testdata/routes.txt is a commented example:
//
//   unknown_bin 15
//   issuer kytkin on_us
//   issuer nordbank primary=nb-a backup=nb-b
//   bin 411111 nordbank
//   bin 52000000-52999999 kytkin
//   rule gambling mcc=7995 decline=57
//
// Parsing is all-or-nothing: the first error is returned as InvalidArgument
// "line N: <reason>", and no table is produced.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"
#include "routing/routing_table.h"

namespace kytkin::routing {

// Longest line accepted, bytes, without the newline.
inline constexpr size_t kTableLineBytesMax = 1024;
// Largest table file accepted, bytes (a 1,000,000-range file is about 30 MB).
inline constexpr size_t kTableFileBytesMax = 64u << 20;

// Parses the text of a table file into a spec (syntax, values and references per line).
[[nodiscard]] Result<TableSpec> ParseTableSpec(std::string_view text);

// ParseTableSpec, then RoutingTable::Build.
[[nodiscard]] Result<RoutingTable> ParseRoutingTable(std::string_view text,
                                                     const TableLimits& limits = {});

// Reads the file at `path` (at most kTableFileBytesMax) and parses it. Errors start with the
// path: "routes.txt: line 7: ...". The only function of routing/ that touches the file system; it
// runs at startup and on reload, never on the authorization path.
[[nodiscard]] Result<RoutingTable> LoadRoutingTableFile(const std::string& path,
                                                        const TableLimits& limits = {});

}  // namespace kytkin::routing
