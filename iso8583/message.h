// Message: one ISO 8583 message (MTI, bitmaps, fields 2-128) in a given dialect.
//
// Storage and ownership (no heap allocation, ever, on parse, set, copy or pack):
//  - A field value is a view (pointer + length) of its *logical* value: digits for n, "C0000150"
//    for x+n, "4111...=2512..." for z, characters for a/an/ans, raw bytes for b.
//  - Parse() stores views into the caller's input bytes wherever the wire form equals the logical
//    form (ASCII data, raw binary): nothing is copied, so THE INPUT MUST OUTLIVE every use of the
//    parsed values. Fields whose wire form differs (BCD digits, hex-ASCII bytes) are decoded once
//    into the message's inline arena.
//  - Set()/SetUint()/CopyField() copy the value into the inline arena (kArenaBytes, part of the
//    object; no heap). SetView() stores the caller's view without copying (the caller keeps it
//    alive until the message is packed or reset).
//  - A Message is about 6 KiB; keep one per session / per request slot and reuse it: Reset() and
//    Parse() are O(1) in the number of defined fields (only the bitmaps are cleared).
//
// Errors: Parse() returns a ParseError (no allocation: network input is not exceptional) that
// names the field, the byte offset in the input and the reason. Parse keeps going past a field
// whose extent is known but whose content is bad (a letter in a numeric field), so after a failed
// parse the message still holds the MTI (if readable) and every field that could be read; the
// switch uses that to answer 30 (format error) with DE 11/41 echoed. Set/Pack return Status.
//
// Thread safety: none; a Message belongs to one thread at a time.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

#include "core/amount.h"
#include "core/status.h"
#include "iso8583/dialect.h"

namespace kytkin::iso8583 {

// Why a parse failed. Stable names: ParseErrorReasonName().
enum class ParseErrorReason : uint8_t {
  kNone = 0,
  kTruncated,        // input ends inside the MTI, a bitmap, a length prefix or a field
  kBadMti,           // MTI is not 4 decimal digits
  kBadBitmap,        // hex bitmap with a non-hex character
  kBadLengthPrefix,  // length prefix is not a number in its encoding
  kLengthOverMax,    // length prefix above the field's length_max
  kBadCharacter,     // a byte not allowed by the content type (non-digit in n, ...)
  kUndefinedField,   // a bit is set for a field the dialect does not define
  kTrailingBytes,    // bytes left after the last field of the bitmap
  kArenaFull,        // decoded BCD/hex values exceed Message::kArenaBytes
};

std::string_view ParseErrorReasonName(ParseErrorReason reason);

// Field numbers used in ParseError for the parts that are not data elements.
inline constexpr int kFieldMti = 0;
inline constexpr int kFieldBitmap = 1;  // primary or secondary bitmap

struct [[nodiscard]] ParseError {
  ParseErrorReason reason = ParseErrorReason::kNone;
  uint8_t field = 0;    // kFieldMti, kFieldBitmap or the data element 2-128
  uint32_t offset = 0;  // byte offset in the parsed input where the bad item starts

  bool ok() const { return reason == ParseErrorReason::kNone; }
  // "field 35 at offset 57: bad character (truncated, ...)". Allocates; not for the hot path.
  std::string ToString() const;
  // OK, or InvalidArgument with ToString() as the message.
  Status ToStatus() const;
};

class Message {
 public:
  // Inline storage for values set by the caller and for decoded BCD / hex fields.
  static constexpr size_t kArenaBytes = 4096;
  // Upper bound of a packed message that the switch's buffers should allow (a bigger one fails
  // Pack with ResourceExhausted only if the caller's buffer is smaller).
  static constexpr size_t kPackedBytesTypicalMax = 4096;

  // REQUIRES: `dialect` outlives the message.
  explicit Message(const Dialect& dialect) : dialect_(&dialect) {}

  // Views may point into the source's input or arena-external memory; the copy's views into its
  // own arena are rebased. Copying is a memcpy of about 6 KiB; prefer CopyField for echoing.
  Message(const Message& other);
  Message& operator=(const Message& other);

  const Dialect& dialect() const { return *dialect_; }
  // Changes the dialect (e.g. to answer on another link) and clears the message.
  void Reset(const Dialect& dialect);
  // Clears MTI, bitmaps and arena; keeps the dialect.
  void Reset();

  // Parses `bytes` (one whole message, no frame header) into this message, replacing its content.
  // On error the message keeps the MTI and the fields read before / around the error (see top).
  ParseError Parse(std::span<const uint8_t> bytes);
  ParseError Parse(std::string_view bytes) {
    return Parse({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()});
  }
  // A string literal (tests, tools): its bytes without the terminating NUL.
  template <size_t N>
  ParseError Parse(const char (&literal)[N]) {
    return Parse(std::string_view(literal, N - 1));
  }
  // The values would point into a temporary that dies at the end of the statement.
  ParseError Parse(std::string&& bytes) = delete;

  // Writes the message into `out`; returns the number of bytes written. Errors: no MTI set
  // (FailedPrecondition), `out` too small (ResourceExhausted, nothing useful in `out`).
  Result<size_t> Pack(std::span<uint8_t> out) const;
  // Convenience for tools and tests (allocates).
  Result<std::string> PackToString() const;

  // MTI: 4 decimal digits, "" until set or parsed.
  std::string_view mti() const { return {mti_.data(), has_mti_ ? mti_.size() : 0}; }
  Status SetMti(std::string_view mti);

  bool Has(int field) const {
    return field >= kFieldMin && field <= kFieldMax &&
           (bitmap_[static_cast<size_t>(field - 1) / 64] & BitOf(field)) != 0;
  }
  // The logical value (see top), "" when absent.
  std::string_view Get(int field) const {
    return Has(field) ? std::string_view(values_[static_cast<size_t>(field)].data,
                                         values_[static_cast<size_t>(field)].size)
                      : std::string_view();
  }
  std::span<const uint8_t> GetBytes(int field) const {
    std::string_view v = Get(field);
    return {reinterpret_cast<const uint8_t*>(v.data()), v.size()};
  }
  // A numeric (n) field as a number. NotFound when absent, InvalidArgument when it is not n, has
  // more than 19 digits, or overflows uint64.
  Result<uint64_t> GetUint(int field) const;

  // An amount field (DE 4/5/6, n12) with its currency field (DE 49/50/51, n3) as an Amount.
  // NotFound when either is absent; InvalidArgument when not numeric or out of range.
  Result<Amount> GetAmount(int amount_field, int currency_field) const;
  // Sets both fields; InvalidArgument for a negative amount or one that does not fit.
  Status SetAmount(int amount_field, int currency_field, Amount amount);

  // Validates `value` against the field spec (content type, length) and copies it into the arena.
  // Fixed-length fields shorter than length_max are padded: n and x+n digits with leading zeros,
  // a/an/ans with trailing spaces; b and z must be exact. Errors name the field.
  Status Set(int field, std::string_view value);
  Status SetBytes(int field, std::span<const uint8_t> value) {
    return Set(field, {reinterpret_cast<const char*>(value.data()), value.size()});
  }
  // An n field from a number, left-padded with zeros to the fixed length (or minimal digits for
  // a variable field).
  Status SetUint(int field, uint64_t value);
  // Like Set, but stores the view without copying (no padding: the value must already be exact
  // for a fixed field). REQUIRES: `value` stays alive until Pack/Reset.
  Status SetView(int field, std::string_view value);
  // Echoes a field of another message (a request) into this one (a response): copied into the
  // arena, re-validated against this message's dialect. NotFound when `from` lacks it.
  Status CopyField(const Message& from, int field);
  // Copies each listed field that `from` has; absent ones are skipped silently.
  Status CopyFieldsIfPresent(const Message& from, std::initializer_list<int> fields);
  void Clear(int field);

  // Fields in ascending order: the first set field after `after` (2-128), or 0 when none.
  int NextField(int after) const;
  template <typename F>  // F(int field, std::string_view value)
  void ForEachField(F&& f) const {
    for (int n = NextField(1); n != 0; n = NextField(n)) f(n, Get(n));
  }
  int FieldCount() const;

  // True when the parsed input carried a secondary bitmap (even an empty one).
  bool parsed_secondary_bitmap() const { return parsed_secondary_bitmap_; }
  // Bytes of the arena in use (for tests and limits).
  size_t arena_used() const { return arena_used_; }

 private:
  struct Value {
    const char* data = nullptr;
    uint16_t size = 0;
  };

  // Bitmaps in wire order: the most significant bit of bitmap_[0] is field 1.
  static constexpr uint64_t BitOf(int field) {
    return uint64_t{1} << (63 - static_cast<unsigned>(field - 1) % 64);
  }
  void SetPresent(int field) { bitmap_[static_cast<size_t>(field - 1) / 64] |= BitOf(field); }
  char* ArenaAlloc(size_t bytes);  // nullptr when full
  bool InArena(const char* p) const {
    return p >= arena_.data() && p < arena_.data() + arena_.size();
  }

  const Dialect* dialect_;
  std::array<char, 4> mti_{};
  bool has_mti_ = false;
  bool parsed_secondary_bitmap_ = false;
  std::array<uint64_t, 2> bitmap_{};  // primary, secondary (field 1's bit is never kept set)
  size_t arena_used_ = 0;
  std::array<Value, kFieldMax + 1> values_{};
  std::array<char, kArenaBytes> arena_;
};

// The response MTI of a request MTI: "0100" -> "0110", "0420" -> "0430" (third digit + 1); a
// repeat is answered like the original ("0421" -> "0430").
// InvalidArgument when `request_mti` is not 4 digits or is already a response.
Result<std::array<char, 4>> ResponseMti(std::string_view request_mti);

}  // namespace kytkin::iso8583
