// Text for operators' tools and the HTTP API: JSON string literals and CSV fields (RFC 4180).
// One implementation, so every report and export escapes the same way.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace kytkin {

// `s` with '"', '\\' and control characters escaped for a JSON string, without the quotes.
std::string JsonEscape(std::string_view s);
// `s` as a JSON string literal, quotes included.
std::string JsonQuoted(std::string_view s);

// `s` as one CSV field: unchanged unless it holds a comma, quote or line break, then quoted with
// inner quotes doubled.
std::string CsvField(std::string_view s);
// Splits one CSV line into its fields (quotes as RFC 4180; no line breaks inside a field; a
// trailing '\r' is dropped). InvalidArgument on an unterminated quote.
Result<std::vector<std::string>> SplitCsvLine(std::string_view line);

}  // namespace kytkin
