#include "iso8583/message.h"

#include <bit>
#include <cassert>
#include <cstring>

namespace kytkin::iso8583 {
namespace {

using CT = ContentType;
using LK = LengthKind;

// Character classes, one bit per content type, so validation is one table lookup per byte.
constexpr uint8_t kClassDigit = 1;  // n
constexpr uint8_t kClassA = 2;      // a
constexpr uint8_t kClassAn = 4;     // an
constexpr uint8_t kClassAns = 8;    // ans
constexpr uint8_t kClassZ = 16;     // z (ASCII form)

constexpr std::array<uint8_t, 256> MakeClasses() {
  std::array<uint8_t, 256> t{};
  for (int c = 0x20; c <= 0x7e; ++c) t[static_cast<size_t>(c)] |= kClassAns;
  for (int c = '0'; c <= '9'; ++c) t[static_cast<size_t>(c)] |= kClassDigit | kClassAn | kClassZ;
  for (int c = 'A'; c <= 'Z'; ++c) t[static_cast<size_t>(c)] |= kClassA | kClassAn;
  for (int c = 'a'; c <= 'z'; ++c) t[static_cast<size_t>(c)] |= kClassA | kClassAn;
  t[' '] |= kClassA | kClassAn;
  t['='] |= kClassZ;
  t['D'] |= kClassZ;  // some terminals send the track 2 separator as 'D'
  return t;
}
constexpr std::array<uint8_t, 256> kClasses = MakeClasses();

// Early exit on purpose: GCC 12 "vectorizes" the branch-free AND-reduction by spilling every
// lookup through the stack, which made ASCII parsing about twice as slow.
bool AllOfClass(const char* p, size_t n, uint8_t cls) {
  for (size_t i = 0; i < n; ++i) {
    if ((kClasses[static_cast<uint8_t>(p[i])] & cls) == 0) return false;
  }
  return true;
}

// Validates a logical value's characters for the field's content type.
bool ValidContent(CT type, const char* p, size_t n) {
  switch (type) {
    case CT::kN:
      return AllOfClass(p, n, kClassDigit);
    case CT::kA:
      return AllOfClass(p, n, kClassA);
    case CT::kAn:
      return AllOfClass(p, n, kClassAn);
    case CT::kAns:
      return AllOfClass(p, n, kClassAns);
    case CT::kZ:
      return AllOfClass(p, n, kClassZ);
    case CT::kXn:
      return n >= 1 && (p[0] == 'C' || p[0] == 'D') && AllOfClass(p + 1, n - 1, kClassDigit);
    case CT::kB:
      return true;
    case CT::kUndefined:
      return false;
  }
  return false;
}

// Length units of a logical value: the x+n sign is not counted.
size_t UnitsOf(CT type, size_t logical_size) {
  return type == CT::kXn ? logical_size - 1 : logical_size;
}
size_t LogicalSize(CT type, size_t units) { return type == CT::kXn ? units + 1 : units; }

// Wire bytes of the data of a field with `units` length units.
size_t WireBytes(const FieldSpec& f, size_t units) {
  switch (f.data_encoding) {
    case Encoding::kBcd:
      return (units + 1) / 2 + (f.type == CT::kXn ? 1 : 0);
    case Encoding::kHexAscii:
      return units * 2;
    case Encoding::kAscii:
      return LogicalSize(f.type, units);
    case Encoding::kBinary:
      return units;
  }
  return units;
}

size_t PrefixBytes(const FieldSpec& f) {
  if (f.length_kind == LK::kFixed) return 0;
  int digits = f.length_kind == LK::kLlvar ? 2 : 3;
  switch (f.length_encoding) {
    case Encoding::kAscii:
      return static_cast<size_t>(digits);
    case Encoding::kBcd:
    case Encoding::kBinary:
      return static_cast<size_t>((digits + 1) / 2);
    case Encoding::kHexAscii:
      return 0;  // rejected by ValidateDialect
  }
  return 0;
}

constexpr char kHexDigits[] = "0123456789ABCDEF";

// "00".."FF": one 2-byte copy per byte when packing b fields as hex.
constexpr std::array<std::array<char, 2>, 256> MakeHexPairs() {
  std::array<std::array<char, 2>, 256> t{};
  for (size_t b = 0; b < 256; ++b) t[b] = {kHexDigits[b >> 4], kHexDigits[b & 0xf]};
  return t;
}
constexpr std::array<std::array<char, 2>, 256> kHexPairs = MakeHexPairs();

// Hex digit values, -1 for anything else: one lookup per character on the DE 55 / bitmap path.
constexpr std::array<int8_t, 256> MakeHexValues() {
  std::array<int8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    t[static_cast<size_t>(c)] = -1;
    if (c >= '0' && c <= '9') t[static_cast<size_t>(c)] = static_cast<int8_t>(c - '0');
    if (c >= 'A' && c <= 'F') t[static_cast<size_t>(c)] = static_cast<int8_t>(c - 'A' + 10);
    if (c >= 'a' && c <= 'f') t[static_cast<size_t>(c)] = static_cast<int8_t>(c - 'a' + 10);
  }
  return t;
}
constexpr std::array<int8_t, 256> kHexValues = MakeHexValues();

int HexValue(uint8_t c) { return kHexValues[c]; }

uint64_t LoadBigEndian64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

void StoreBigEndian64(uint64_t v, uint8_t* p) {
  for (int i = 7; i >= 0; --i) {
    p[i] = static_cast<uint8_t>(v);
    v >>= 8;
  }
}

}  // namespace

std::string_view ParseErrorReasonName(ParseErrorReason reason) {
  switch (reason) {
    case ParseErrorReason::kNone:
      return "ok";
    case ParseErrorReason::kTruncated:
      return "truncated";
    case ParseErrorReason::kBadMti:
      return "MTI is not 4 digits";
    case ParseErrorReason::kBadBitmap:
      return "bitmap is not hexadecimal";
    case ParseErrorReason::kBadLengthPrefix:
      return "bad length prefix";
    case ParseErrorReason::kLengthOverMax:
      return "length over max";
    case ParseErrorReason::kBadCharacter:
      return "character not allowed by the field type";
    case ParseErrorReason::kUndefinedField:
      return "bit set for a field the dialect does not define";
    case ParseErrorReason::kTrailingBytes:
      return "trailing bytes after the last field";
    case ParseErrorReason::kArenaFull:
      return "decoded values exceed the message arena";
  }
  return "unknown";
}

std::string ParseError::ToString() const {
  if (ok()) return "ok";
  std::string out;
  if (reason == ParseErrorReason::kTrailingBytes) {
    out = "message";
  } else if (field == kFieldMti) {
    out = "MTI";
  } else if (field == kFieldBitmap) {
    out = "bitmap";
  } else {
    out = "field " + std::to_string(field);
    std::string_view name = FieldName(field);
    if (!name.empty()) out += " (" + std::string(name) + ")";
  }
  out += " at offset " + std::to_string(offset) + ": " + std::string(ParseErrorReasonName(reason));
  return out;
}

Status ParseError::ToStatus() const {
  return ok() ? Status::Ok() : Status::InvalidArgument(ToString());
}

Message::Message(const Message& other) { *this = other; }

Message& Message::operator=(const Message& other) {
  if (this == &other) return *this;
  dialect_ = other.dialect_;
  mti_ = other.mti_;
  has_mti_ = other.has_mti_;
  parsed_secondary_bitmap_ = other.parsed_secondary_bitmap_;
  bitmap_ = other.bitmap_;
  arena_used_ = other.arena_used_;
  std::memcpy(arena_.data(), other.arena_.data(), other.arena_used_);
  values_ = other.values_;
  for (Value& v : values_) {
    if (v.data != nullptr && other.InArena(v.data)) {
      v.data = arena_.data() + (v.data - other.arena_.data());
    }
  }
  return *this;
}

void Message::Reset(const Dialect& dialect) {
  dialect_ = &dialect;
  Reset();
}

void Message::Reset() {
  has_mti_ = false;
  parsed_secondary_bitmap_ = false;
  bitmap_ = {};
  arena_used_ = 0;
}

char* Message::ArenaAlloc(size_t bytes) {
  if (bytes > arena_.size() - arena_used_) return nullptr;
  char* p = arena_.data() + arena_used_;
  arena_used_ += bytes;
  return p;
}

Status Message::SetMti(std::string_view mti) {
  if (mti.size() != 4 || !AllOfClass(mti.data(), 4, kClassDigit)) {
    return Status::InvalidArgument("MTI must be 4 digits");
  }
  std::memcpy(mti_.data(), mti.data(), 4);
  has_mti_ = true;
  return Status::Ok();
}

ParseError Message::Parse(std::span<const uint8_t> bytes) {
  Reset();
  const uint8_t* const in = bytes.data();
  const size_t size = bytes.size();
  size_t pos = 0;
  ParseError first;  // the first error; parsing may continue past content errors
  auto fail = [](ParseErrorReason r, int field, size_t offset) {
    return ParseError{r, static_cast<uint8_t>(field), static_cast<uint32_t>(offset)};
  };

  // MTI
  const Dialect& d = *dialect_;
  if (d.mti_encoding == Encoding::kBcd) {
    if (size < 2) return fail(ParseErrorReason::kTruncated, kFieldMti, 0);
    for (int i = 0; i < 2; ++i) {
      uint8_t hi = in[i] >> 4, lo = in[i] & 0x0f;
      if (hi > 9 || lo > 9) return fail(ParseErrorReason::kBadMti, kFieldMti, 0);
      mti_[static_cast<size_t>(2 * i)] = static_cast<char>('0' + hi);
      mti_[static_cast<size_t>(2 * i + 1)] = static_cast<char>('0' + lo);
    }
    pos = 2;
  } else {
    if (size < 4) return fail(ParseErrorReason::kTruncated, kFieldMti, 0);
    if (!AllOfClass(reinterpret_cast<const char*>(in), 4, kClassDigit)) {
      return fail(ParseErrorReason::kBadMti, kFieldMti, 0);
    }
    std::memcpy(mti_.data(), in, 4);
    pos = 4;
  }
  has_mti_ = true;

  // Bitmaps
  auto read_bitmap = [&](uint64_t& out) -> ParseError {
    if (d.bitmap_encoding == Encoding::kHexAscii) {
      if (size - pos < 16) return fail(ParseErrorReason::kTruncated, kFieldBitmap, pos);
      uint64_t v = 0;
      for (size_t i = 0; i < 16; ++i) {
        int h = HexValue(in[pos + i]);
        if (h < 0) return fail(ParseErrorReason::kBadBitmap, kFieldBitmap, pos);
        v = (v << 4) | static_cast<uint64_t>(h);
      }
      out = v;
      pos += 16;
    } else {
      if (size - pos < 8) return fail(ParseErrorReason::kTruncated, kFieldBitmap, pos);
      out = LoadBigEndian64(in + pos);
      pos += 8;
    }
    return {};
  };
  ParseError e = read_bitmap(bitmap_[0]);
  if (!e.ok()) return e;
  if ((bitmap_[0] & BitOf(1)) != 0) {
    e = read_bitmap(bitmap_[1]);
    if (!e.ok()) {
      bitmap_ = {};
      return e;
    }
    parsed_secondary_bitmap_ = true;
  }
  bitmap_[0] &= ~BitOf(1);
  const std::array<uint64_t, 2> announced = bitmap_;
  bitmap_ = {};  // a field's bit is set only once the field has been read

  // Fields
  for (size_t word = 0; word < 2; ++word) {
    uint64_t bits = announced[word];
    while (bits != 0) {
      const int lead = std::countl_zero(bits);
      bits &= ~(uint64_t{1} << (63 - lead));
      const int field = static_cast<int>(word * 64) + lead + 1;
      const FieldSpec& f = d.field(field);
      const size_t field_offset = pos;
      if (!f.defined()) return fail(ParseErrorReason::kUndefinedField, field, field_offset);

      // Length
      size_t units = f.length_max;
      if (f.length_kind != LK::kFixed) {
        const size_t prefix = PrefixBytes(f);
        if (size - pos < prefix) return fail(ParseErrorReason::kTruncated, field, field_offset);
        const uint8_t* p = in + pos;
        units = 0;
        if (f.length_encoding == Encoding::kAscii) {
          for (size_t i = 0; i < prefix; ++i) {
            if (p[i] < '0' || p[i] > '9') {
              return fail(ParseErrorReason::kBadLengthPrefix, field, field_offset);
            }
            units = units * 10 + (p[i] - '0');
          }
        } else if (f.length_encoding == Encoding::kBcd) {
          for (size_t i = 0; i < prefix; ++i) {
            uint8_t hi = p[i] >> 4, lo = p[i] & 0x0f;
            if (hi > 9 || lo > 9) {
              return fail(ParseErrorReason::kBadLengthPrefix, field, field_offset);
            }
            units = units * 100 + hi * 10 + lo;
          }
        } else {
          for (size_t i = 0; i < prefix; ++i) units = (units << 8) | p[i];
        }
        if (units > f.length_max) {
          return fail(ParseErrorReason::kLengthOverMax, field, field_offset);
        }
        pos += prefix;
      }

      // Data
      const size_t wire = WireBytes(f, units);
      if (size - pos < wire) return fail(ParseErrorReason::kTruncated, field, field_offset);
      const uint8_t* p = in + pos;
      const size_t logical = LogicalSize(f.type, units);
      const char* value = nullptr;
      bool good = true;
      switch (f.data_encoding) {
        case Encoding::kAscii:
        case Encoding::kBinary:
          value = reinterpret_cast<const char*>(p);
          good = ValidContent(f.type, value, logical);
          break;
        case Encoding::kHexAscii: {
          char* out = ArenaAlloc(logical);
          if (out == nullptr) {
            good = false;
            if (first.ok()) first = fail(ParseErrorReason::kArenaFull, field, field_offset);
            break;
          }
          for (size_t i = 0; i < units; ++i) {
            const int hi = HexValue(p[2 * i]), lo = HexValue(p[2 * i + 1]);
            if ((hi | lo) < 0) {  // not a hex digit (early exit: see AllOfClass)
              good = false;
              break;
            }
            out[i] = static_cast<char>((hi << 4) | lo);
          }
          value = out;
          break;
        }
        case Encoding::kBcd: {
          char* out = ArenaAlloc(logical);
          if (out == nullptr) {
            good = false;
            if (first.ok()) first = fail(ParseErrorReason::kArenaFull, field, field_offset);
            break;
          }
          value = out;
          const uint8_t* digits = p;
          char* o = out;
          if (f.type == CT::kXn) {
            *o++ = static_cast<char>(*digits++);
            if (out[0] != 'C' && out[0] != 'D') good = false;
          }
          // n and x+n are right-aligned (leading pad nibble 0); z is left-aligned (trailing F).
          const bool odd = units % 2 != 0;
          if (f.type != CT::kZ) {  // digits only: two per byte, no separator to look for
            const size_t byte_count = (units + 1) / 2;
            size_t i = 0;
            unsigned bad = 0;
            if (odd) {
              bad |= digits[0] > 9 ? 1u : 0u;  // pad nibble 0, then one digit
              *o++ = static_cast<char>('0' + (digits[0] & 0x0f));
              i = 1;
            }
            for (; i < byte_count; ++i) {
              const unsigned hi = digits[i] >> 4u, lo = digits[i] & 0x0fu;
              bad |= (hi > 9 ? 1u : 0u) | (lo > 9 ? 1u : 0u);
              o[0] = static_cast<char>('0' + hi);
              o[1] = static_cast<char>('0' + lo);
              o += 2;
            }
            if (bad != 0) good = false;
            break;
          }
          for (size_t i = 0; i < units; ++i) {
            const uint8_t b = digits[i / 2];
            const uint8_t v = i % 2 == 0 ? b >> 4 : b & 0x0f;
            if (v <= 9) {
              o[i] = static_cast<char>('0' + v);
            } else if (v == 0x0d) {
              o[i] = '=';
            } else {
              good = false;
              o[i] = '?';
            }
          }
          if (odd) {
            const uint8_t pad = digits[units / 2] & 0x0f;
            if (pad != 0x0f && pad != 0) good = false;
          }
          break;
        }
      }
      pos += wire;
      if (!good) {
        if (first.ok()) first = fail(ParseErrorReason::kBadCharacter, field, field_offset);
        continue;  // extent known: keep reading so later fields (DE 41) stay available
      }
      values_[static_cast<size_t>(field)] = {value, static_cast<uint16_t>(logical)};
      SetPresent(field);
    }
  }
  if (!first.ok()) return first;
  if (pos != size) return fail(ParseErrorReason::kTrailingBytes, 0, pos);
  return {};
}

Result<size_t> Message::Pack(std::span<uint8_t> out) const {
  if (!has_mti_) return Status::FailedPrecondition("pack: MTI not set");
  const Dialect& d = *dialect_;
  uint8_t* const o = out.data();
  const size_t cap = out.size();
  size_t pos = 0;
  auto too_small = [&]() {
    return Status::ResourceExhausted("pack: output buffer of " + std::to_string(cap) +
                                     " bytes too small");
  };

  if (d.mti_encoding == Encoding::kBcd) {
    if (cap < 2) return too_small();
    o[0] = static_cast<uint8_t>(((mti_[0] - '0') << 4) | (mti_[1] - '0'));
    o[1] = static_cast<uint8_t>(((mti_[2] - '0') << 4) | (mti_[3] - '0'));
    pos = 2;
  } else {
    if (cap < 4) return too_small();
    std::memcpy(o, mti_.data(), 4);
    pos = 4;
  }

  const bool secondary = bitmap_[1] != 0 || d.always_secondary_bitmap;
  std::array<uint64_t, 2> bitmap = bitmap_;
  if (secondary) bitmap[0] |= BitOf(1);
  for (int i = 0; i < (secondary ? 2 : 1); ++i) {
    const uint64_t bits = bitmap[static_cast<size_t>(i)];
    if (d.bitmap_encoding == Encoding::kHexAscii) {
      if (cap - pos < 16) return too_small();
      for (int k = 0; k < 16; ++k)
        o[pos + static_cast<size_t>(k)] = kHexDigits[(bits >> (60 - 4 * k)) & 0xf];
      pos += 16;
    } else {
      if (cap - pos < 8) return too_small();
      StoreBigEndian64(bits, o + pos);
      pos += 8;
    }
  }

  for (size_t word = 0; word < 2; ++word) {
    uint64_t bits = bitmap_[word];
    while (bits != 0) {
      const int lead = std::countl_zero(bits);
      bits &= ~(uint64_t{1} << (63 - lead));
      const int field = static_cast<int>(word * 64) + lead + 1;
      const FieldSpec& f = d.field(field);
      const Value& v = values_[static_cast<size_t>(field)];
      const size_t units = UnitsOf(f.type, v.size);
      const size_t prefix = PrefixBytes(f);
      const size_t wire = WireBytes(f, units);
      if (cap - pos < prefix + wire) return too_small();
      uint8_t* p = o + pos;
      if (f.length_kind != LK::kFixed) {
        if (f.length_encoding == Encoding::kAscii) {
          for (size_t i = prefix, u = units; i-- > 0; u /= 10)
            p[i] = static_cast<uint8_t>('0' + u % 10);
        } else if (f.length_encoding == Encoding::kBcd) {
          for (size_t i = prefix, u = units; i-- > 0; u /= 100) {
            p[i] = static_cast<uint8_t>(((u / 10 % 10) << 4) | (u % 10));
          }
        } else {
          for (size_t i = prefix, u = units; i-- > 0; u >>= 8) p[i] = static_cast<uint8_t>(u);
        }
        p += prefix;
      }
      switch (f.data_encoding) {
        case Encoding::kAscii:
        case Encoding::kBinary:
          std::memcpy(p, v.data, v.size);
          break;
        case Encoding::kHexAscii:
          for (size_t i = 0; i < units; ++i) {
            std::memcpy(p + 2 * i, kHexPairs[static_cast<uint8_t>(v.data[i])].data(), 2);
          }
          break;
        case Encoding::kBcd: {
          const char* digits = v.data;
          uint8_t* q = p;
          if (f.type == CT::kXn) *q++ = static_cast<uint8_t>(*digits++);
          const bool odd = units % 2 != 0;
          if (f.type != CT::kZ) {  // digits only, right-aligned: two digits per byte
            size_t i = 0;
            if (odd) *q++ = static_cast<uint8_t>(digits[i++] - '0');
            for (; i < units; i += 2) {
              *q++ = static_cast<uint8_t>(((digits[i] - '0') << 4) | (digits[i + 1] - '0'));
            }
            break;
          }
          const size_t bytes = (units + 1) / 2;
          std::memset(q, 0, bytes);
          for (size_t i = 0; i < units; ++i) {
            const uint8_t nib =
                digits[i] == '=' || digits[i] == 'D' ? 0x0d : static_cast<uint8_t>(digits[i] - '0');
            q[i / 2] |= i % 2 == 0 ? static_cast<uint8_t>(nib << 4) : nib;
          }
          if (odd) q[bytes - 1] |= 0x0f;
          break;
        }
      }
      pos += prefix + wire;
    }
  }
  return pos;
}

Result<std::string> Message::PackToString() const {
  // Large enough for any message a 999-unit LLLVAR in every field could need is not practical;
  // tools pack into a generous buffer and report the error otherwise.
  std::string out(64 * 1024, '\0');
  Result<size_t> n = Pack({reinterpret_cast<uint8_t*>(out.data()), out.size()});
  if (!n.ok()) return n.status();
  out.resize(*n);
  return out;
}

namespace {

Status FieldError(int field, std::string_view why) {
  std::string msg = "field " + std::to_string(field);
  std::string_view name = FieldName(field);
  if (!name.empty()) msg += " (" + std::string(name) + ")";
  msg += ": ";
  msg += why;
  return Status::InvalidArgument(msg);
}

}  // namespace

Status Message::SetView(int field, std::string_view value) {
  if (field < kFieldMin || field > kFieldMax) return FieldError(field, "no such field");
  const FieldSpec& f = dialect_->field(field);
  if (!f.defined()) return FieldError(field, "not defined in dialect " + dialect_->name);
  if (f.type == CT::kXn && value.empty()) return FieldError(field, "x+n needs a C/D sign");
  const size_t units = UnitsOf(f.type, value.size());
  if (units > f.length_max) {
    return FieldError(
        field, "length " + std::to_string(units) + " over max " + std::to_string(f.length_max));
  }
  if (f.length_kind == LK::kFixed && units != f.length_max) {
    return FieldError(field, "length " + std::to_string(units) + " but the field is fixed " +
                                 std::to_string(f.length_max));
  }
  if (!ValidContent(f.type, value.data(), value.size())) {
    return FieldError(field,
                      "character not allowed by type " + std::string(ContentTypeName(f.type)));
  }
  values_[static_cast<size_t>(field)] = {value.data(), static_cast<uint16_t>(value.size())};
  SetPresent(field);
  return Status::Ok();
}

Status Message::Set(int field, std::string_view value) {
  if (field < kFieldMin || field > kFieldMax) return FieldError(field, "no such field");
  const FieldSpec& f = dialect_->field(field);
  if (!f.defined()) return FieldError(field, "not defined in dialect " + dialect_->name);
  if (f.type == CT::kXn && value.empty()) return FieldError(field, "x+n needs a C/D sign");
  size_t logical = value.size();
  const size_t units = UnitsOf(f.type, value.size());
  const bool pad = f.length_kind == LK::kFixed && units < f.length_max;
  if (pad) {
    if (f.type == CT::kB || f.type == CT::kZ) {
      return FieldError(field, "length " + std::to_string(units) + " but the field is fixed " +
                                   std::to_string(f.length_max));
    }
    logical = LogicalSize(f.type, f.length_max);
  }
  if (units > f.length_max) {
    return FieldError(
        field, "length " + std::to_string(units) + " over max " + std::to_string(f.length_max));
  }
  if (!ValidContent(f.type, value.data(), value.size())) {
    return FieldError(field,
                      "character not allowed by type " + std::string(ContentTypeName(f.type)));
  }
  char* out = ArenaAlloc(logical);
  if (out == nullptr) {
    return Status::ResourceExhausted("field " + std::to_string(field) + ": message arena full");
  }
  if (!pad) {
    std::memcpy(out, value.data(), value.size());
  } else if (f.type == CT::kN) {
    std::memset(out, '0', logical - value.size());
    std::memcpy(out + logical - value.size(), value.data(), value.size());
  } else if (f.type == CT::kXn) {
    out[0] = value[0];
    std::memset(out + 1, '0', logical - value.size());
    std::memcpy(out + 1 + logical - value.size(), value.data() + 1, value.size() - 1);
  } else {
    std::memcpy(out, value.data(), value.size());
    std::memset(out + value.size(), ' ', logical - value.size());
  }
  values_[static_cast<size_t>(field)] = {out, static_cast<uint16_t>(logical)};
  SetPresent(field);
  return Status::Ok();
}

Status Message::SetUint(int field, uint64_t value) {
  if (field >= kFieldMin && field <= kFieldMax && dialect_->field(field).type != CT::kN) {
    return FieldError(field, "SetUint needs a numeric (n) field");
  }
  char digits[20];
  size_t n = 0;
  do {
    digits[sizeof(digits) - 1 - n++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0);
  return Set(field, std::string_view(digits + sizeof(digits) - n, n));
}

Result<uint64_t> Message::GetUint(int field) const {
  if (!Has(field)) return Status::NotFound("field " + std::to_string(field) + " absent");
  if (dialect_->field(field).type != CT::kN) return FieldError(field, "not a numeric (n) field");
  std::string_view v = Get(field);
  while (v.size() > 1 && v.front() == '0') v.remove_prefix(1);
  if (v.size() > 20) return FieldError(field, "too many digits for uint64");
  uint64_t out = 0;
  for (char c : v) {
    uint64_t digit = static_cast<uint64_t>(c - '0');
    if (out > (UINT64_MAX - digit) / 10) return FieldError(field, "overflows uint64");
    out = out * 10 + digit;
  }
  return out;
}

Result<Amount> Message::GetAmount(int amount_field, int currency_field) const {
  Result<uint64_t> minor = GetUint(amount_field);
  if (!minor.ok()) return minor.status();
  Result<uint64_t> currency = GetUint(currency_field);
  if (!currency.ok()) return currency.status();
  if (*minor > static_cast<uint64_t>(INT64_MAX) || *currency > 999) {
    return FieldError(amount_field, "amount or currency out of range");
  }
  return Amount(static_cast<int64_t>(*minor), static_cast<uint16_t>(*currency));
}

Status Message::SetAmount(int amount_field, int currency_field, Amount amount) {
  if (amount.minor_units() < 0) return FieldError(amount_field, "negative amount");
  KYTKIN_RETURN_IF_ERROR(SetUint(amount_field, static_cast<uint64_t>(amount.minor_units())));
  return SetUint(currency_field, amount.currency());
}

Status Message::CopyField(const Message& from, int field) {
  if (!from.Has(field)) {
    return Status::NotFound("field " + std::to_string(field) + " absent in the source message");
  }
  return Set(field, from.Get(field));
}

Status Message::CopyFieldsIfPresent(const Message& from, std::initializer_list<int> fields) {
  for (int field : fields) {
    if (from.Has(field)) KYTKIN_RETURN_IF_ERROR(Set(field, from.Get(field)));
  }
  return Status::Ok();
}

void Message::Clear(int field) {
  if (field >= kFieldMin && field <= kFieldMax) {
    bitmap_[static_cast<size_t>(field - 1) / 64] &= ~BitOf(field);
  }
}

int Message::NextField(int after) const {
  for (int start = after < 1 ? 1 : after + 1; start <= kFieldMax;) {
    const size_t word = static_cast<size_t>(start - 1) / 64;
    const int bit = (start - 1) % 64;
    const uint64_t bits = bitmap_[word] & (~uint64_t{0} >> bit);
    if (bits != 0) return static_cast<int>(word * 64) + std::countl_zero(bits) + 1;
    start = static_cast<int>((word + 1) * 64) + 1;
  }
  return 0;
}

int Message::FieldCount() const { return std::popcount(bitmap_[0]) + std::popcount(bitmap_[1]); }

Result<std::array<char, 4>> ResponseMti(std::string_view request_mti) {
  if (request_mti.size() != 4 || !AllOfClass(request_mti.data(), 4, kClassDigit)) {
    return Status::InvalidArgument("MTI must be 4 digits");
  }
  if ((request_mti[2] - '0') % 2 != 0) {
    return Status::InvalidArgument("MTI " + std::string(request_mti) + " is already a response");
  }
  // A repeat (last digit odd: 0101, 0421) is answered like the original: 0421 -> 0430.
  const char origin = static_cast<char>(request_mti[3] - ((request_mti[3] - '0') % 2));
  std::array<char, 4> out = {request_mti[0], request_mti[1], static_cast<char>(request_mti[2] + 1),
                             origin};
  return out;
}

}  // namespace kytkin::iso8583
