// Dialect: the wire layout of ISO 8583 messages, as data.
//
// A dialect is one table: for each data element (DE) 2-128 its content type, length kind, maximum
// length and the encodings of its data and of its length prefix, plus the encodings of the MTI and
// the bitmaps. The codec (message.h) has no per-dialect code; a new dialect is a new table, built
// in or loaded from a JSON file (format in README.md, "ISO 8583 dialects").
//
// Built in (ISO 8583:1987 field layout, see FieldName() for the names):
//   iso87-ascii          ASCII MTI, numerics and lengths; hex-ASCII bitmaps (16 chars each); binary
//                        fields (DE 52, 55, 64, 96, 128) as hex ASCII, so the whole message is
//                        printable.
//   iso87-ascii-bbitmap  ASCII MTI, numerics and lengths; binary bitmaps (8 bytes); binary fields
//   raw. iso87-bcd            BCD MTI (2 bytes), BCD numerics and BCD lengths (LL = 1 byte, LLL =
//   2);
//                        binary bitmaps; a/an/ans as ASCII; binary fields raw.
//
// Units of FieldSpec::length_max and of a length prefix: digits for n, z and x+n (the C/D sign is
// not counted), characters for a/an/ans, bytes for b (never bits, never hex characters).
//
// Thread safety: a Dialect is immutable after construction; built-ins live for the whole program
// and may be shared by every thread.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/status.h"

namespace kytkin::iso8583 {

inline constexpr int kFieldMin = 2;    // DE 1 is the secondary bitmap, not a field
inline constexpr int kFieldMax = 128;  // primary + secondary bitmap

enum class ContentType : uint8_t {
  kUndefined = 0,  // the bit must not be set; parse reports kUndefinedField
  kN,              // numeric digits 0-9
  kA,              // letters and space
  kAn,             // letters, digits and space
  kAns,            // printable ASCII 0x20-0x7E
  kB,              // raw bytes
  kZ,              // track 2/3: digits and '=' separator (BCD: nibble D)
  kXn,             // 'C' (credit) or 'D' (debit) followed by digits, e.g. "C00000150"
};

enum class LengthKind : uint8_t {
  kFixed,   // always length_max units; shorter values are padded on Set (see Message::Set)
  kLlvar,   // 2-digit length prefix, up to 99
  kLllvar,  // 3-digit length prefix, up to 999
};

enum class Encoding : uint8_t {
  kAscii,     // one byte per character / digit; a length prefix as ASCII digits ("07", "123")
  kBcd,       // two digits per byte, right-aligned (n: left pad nibble 0; z: right pad nibble F);
              // a length prefix as BCD (LL = 1 byte, LLL = 2 bytes, "0123")
  kBinary,    // raw bytes; a length prefix as a big-endian binary number (LL = 1 byte, LLL = 2)
  kHexAscii,  // b fields and bitmaps only: two uppercase hex characters per byte
};

struct FieldSpec {
  ContentType type = ContentType::kUndefined;
  LengthKind length_kind = LengthKind::kFixed;
  uint16_t length_max = 0;  // fixed length, or the maximum of a variable field (units above)
  Encoding data_encoding = Encoding::kAscii;
  Encoding length_encoding = Encoding::kAscii;  // ignored for kFixed

  bool defined() const { return type != ContentType::kUndefined; }
};

struct Dialect {
  std::string name;                              // "iso87-ascii"
  Encoding mti_encoding = Encoding::kAscii;      // kAscii (4 bytes) or kBcd (2 bytes)
  Encoding bitmap_encoding = Encoding::kBinary;  // kBinary (8 bytes) or kHexAscii (16 chars)
  // Pack always emits the secondary bitmap, even when no field above 64 is set. Default false:
  // emitted only when needed. Parse accepts an empty secondary bitmap either way.
  bool always_secondary_bitmap = false;
  // Index = field number; entries 0 and 1 are unused (kUndefined).
  std::array<FieldSpec, kFieldMax + 1> fields{};

  const FieldSpec& field(int number) const { return fields[static_cast<size_t>(number)]; }
};

// A built-in dialect by name, or nullptr. The pointer stays valid for the program's lifetime.
const Dialect* FindDialect(std::string_view name);

// All built-in dialects, in a stable order (for tests, benchmarks and `--help`).
std::span<const Dialect* const> BuiltinDialects();

// Loads a dialect from JSON text / a file (format documented in README.md). Every field spec is
// validated (length_max within the length kind, encodings allowed for the content type); an
// error names the JSON member at fault. Startup-time API: allocates, may be slow.
Result<Dialect> LoadDialectJson(std::string_view json_text);
Result<Dialect> LoadDialectFile(const std::string& path);

// Checks a dialect's table for consistency (the same checks LoadDialectJson applies).
Status ValidateDialect(const Dialect& dialect);

// The ISO 8583:1987 name of a data element ("Primary account number"), "" when unknown.
std::string_view FieldName(int number);

// "n", "a", "an", "ans", "b", "z", "x+n"; and "fixed", "llvar", "lllvar"; and "ascii", "bcd",
// "binary", "hex" (the spellings the JSON dialect format uses).
std::string_view ContentTypeName(ContentType type);
std::string_view LengthKindName(LengthKind kind);
std::string_view EncodingName(Encoding encoding);

}  // namespace kytkin::iso8583
