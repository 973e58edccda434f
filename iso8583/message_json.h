// JSON and hex views of messages, for operator tools (`kytkin iso decode|encode`) and tests.
//
// Allocates freely; not for the data path.
//
// JSON shape (one object per message):
//   {"dialect": "iso87-ascii", "mti": "0100",
//    "fields": {"2": "411111******1111", "3": "000000", "4": "000000001000",
//               "35": "411111******1111=*****************", "52": "<masked>",
//               "55": {"tags": [{"tag": "9F26", "name": "Application Cryptogram",
//                                "value": "0123456789ABCDEF"}, ...]}}}
// Field values are strings: the logical value for n/z/x+n/a/an/ans, uppercase hex for b.
// Decoding masks cardholder data: DE 2 and DE 34 (first 6, last 4), DE 35 and DE 36 (PAN part
// masked, everything after the separator starred), DE 45 (all starred), DE 52 ("<masked>"),
// and inside DE 55 the tags 5A (PAN) and 57 (track 2 equivalent). Masked output therefore does
// not re-encode to the same bytes; the clear values never leave the process.
//
// Encoding accepts the same shape; a field value may also be a JSON integer for n fields, and
// DE 55 (any b field) may be a hex string or {"tags": [...]} with nested {"tag": "70", "tags":
// [...]} for constructed tags. "dialect" in the JSON is informational (the caller picks it).
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "core/status.h"
#include "iso8583/message.h"

namespace kytkin::iso8583 {

// One-line JSON of the message, cardholder data masked as above.
std::string MessageToJson(const Message& message);

// Fills `out` (its dialect) from the JSON object; errors name the member ("fields.35: ...").
Status MessageFromJson(std::string_view json_text, Message& out);

// Uppercase hex.
std::string HexEncode(std::span<const uint8_t> bytes);
// Hex to bytes; ASCII whitespace is ignored. Errors name the character offset.
Result<std::string> HexDecode(std::string_view text);

}  // namespace kytkin::iso8583
