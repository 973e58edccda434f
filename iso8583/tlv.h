// BER-TLV as used by EMV in DE 55 (ICC data).
//
// Tags are 1-4 bytes (first byte low 5 bits all set = more bytes follow, then bit 8 set = more);
// the tag value keeps its wire bytes big-endian in a uint32 (0x9F26, 0x5F2A, 0x82). Lengths are
// short form (0-127) or long form 0x81-0x84 (1-4 length bytes). A constructed tag (first byte bit
// 6 set, e.g. 0x70, 0x77, 0xE1) holds nested TLVs. 0x00 bytes between objects are padding
// (EMV Book 3 Annex B) and skipped.
//
// Parsing is zero-copy (values are views into the input) and allocation-free: elements go into a
// caller array, nested ones in pre-order with their depth. Building writes into a caller buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "core/status.h"

namespace kytkin::iso8583 {

inline constexpr int kTlvDepthMax = 4;  // nesting levels of constructed tags accepted

struct TlvElement {
  uint32_t tag = 0;                // wire bytes, big-endian: 0x9F26
  std::span<const uint8_t> value;  // contents (for a constructed tag: its nested TLVs)
  uint32_t offset = 0;             // byte offset of the tag in the parsed input
  uint8_t depth = 0;               // 0 = top level
  bool constructed = false;
};

// Parses `data` into `out` (pre-order, nested elements follow their parent with depth + 1).
// Returns the number of elements. Errors (InvalidArgument, message names the byte offset):
// truncated tag / length / value, length form 0x80 or > 0x84, tag longer than 4 bytes, nesting
// deeper than kTlvDepthMax; ResourceExhausted when `out` is too small.
Result<size_t> ParseTlv(std::span<const uint8_t> data, std::span<TlvElement> out);

// Writes TLVs into a caller buffer. Constructed tags: Open(tag) ... Close(); the length is
// back-patched (so the builder reserves the long form when needed by moving the contents).
class TlvBuilder {
 public:
  explicit TlvBuilder(std::span<uint8_t> out) : out_(out) {}

  // Appends a primitive element.
  Status Add(uint32_t tag, std::span<const uint8_t> value);
  // Starts a constructed element; REQUIRES: tag is constructed (bit 6 of the first byte).
  Status Open(uint32_t tag);
  Status Close();
  // The bytes written so far. FailedPrecondition if a constructed tag is still open.
  Result<std::span<const uint8_t>> Finish() const;

 private:
  Status Put(std::span<const uint8_t> bytes);
  Status PutTag(uint32_t tag);

  std::span<uint8_t> out_;
  size_t size_ = 0;
  size_t open_[kTlvDepthMax] = {};  // start of the value of each open constructed tag
  int open_count_ = 0;
};

// Number of wire bytes of a tag value (1-4).
int TlvTagBytes(uint32_t tag);
// Whether the tag is constructed (bit 6 of its first byte).
bool TlvTagConstructed(uint32_t tag);

// The EMV name of a common tag ("Application Cryptogram" for 0x9F26), "" when unknown.
std::string_view EmvTagName(uint32_t tag);

}  // namespace kytkin::iso8583
