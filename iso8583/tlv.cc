#include "iso8583/tlv.h"

#include <cstring>
#include <string>

namespace kytkin::iso8583 {
namespace {

Status TlvError(size_t offset, std::string_view why) {
  return Status::InvalidArgument("TLV at offset " + std::to_string(offset) + ": " +
                                 std::string(why));
}

// Parses the objects in data[begin, end) at `depth`, appending to out[*count].
Status ParseLevel(std::span<const uint8_t> data, size_t begin, size_t end, uint8_t depth,
                  std::span<TlvElement> out, size_t* count) {
  size_t pos = begin;
  while (pos < end) {
    if (data[pos] == 0x00) {  // inter-object padding (EMV Book 3 Annex B)
      ++pos;
      continue;
    }
    const size_t start = pos;
    // Tag
    uint32_t tag = data[pos++];
    const bool constructed = (tag & 0x20) != 0;
    if ((tag & 0x1f) == 0x1f) {
      int extra = 0;
      while (true) {
        if (pos >= end) return TlvError(start, "truncated tag");
        if (++extra > 3) return TlvError(start, "tag longer than 4 bytes");
        const uint8_t b = data[pos++];
        tag = (tag << 8) | b;
        if ((b & 0x80) == 0) break;
      }
    }
    // Length
    if (pos >= end) return TlvError(start, "truncated length");
    size_t length = data[pos++];
    if (length & 0x80) {
      const size_t bytes = length & 0x7f;
      if (bytes == 0 || bytes > 4) return TlvError(start, "unsupported length form");
      if (end - pos < bytes) return TlvError(start, "truncated length");
      length = 0;
      for (size_t i = 0; i < bytes; ++i) length = (length << 8) | data[pos++];
    }
    if (end - pos < length) {
      return TlvError(start, "value of " + std::to_string(length) + " bytes runs past the end");
    }
    if (*count >= out.size()) {
      return Status::ResourceExhausted("TLV: more than " + std::to_string(out.size()) +
                                       " elements");
    }
    out[(*count)++] = TlvElement{tag, data.subspan(pos, length), static_cast<uint32_t>(start),
                                 depth, constructed};
    if (constructed) {
      if (depth + 1 >= kTlvDepthMax) return TlvError(start, "constructed tags nested too deep");
      KYTKIN_RETURN_IF_ERROR(
          ParseLevel(data, pos, pos + length, static_cast<uint8_t>(depth + 1), out, count));
    }
    pos += length;
  }
  return Status::Ok();
}

}  // namespace

Result<size_t> ParseTlv(std::span<const uint8_t> data, std::span<TlvElement> out) {
  size_t count = 0;
  Status s = ParseLevel(data, 0, data.size(), 0, out, &count);
  if (!s.ok()) return s;
  return count;
}

int TlvTagBytes(uint32_t tag) {
  if (tag > 0xffffff) return 4;
  if (tag > 0xffff) return 3;
  if (tag > 0xff) return 2;
  return 1;
}

bool TlvTagConstructed(uint32_t tag) { return ((tag >> (8 * (TlvTagBytes(tag) - 1))) & 0x20) != 0; }

Status TlvBuilder::Put(std::span<const uint8_t> bytes) {
  if (out_.size() - size_ < bytes.size()) return Status::ResourceExhausted("TLV buffer full");
  if (!bytes.empty()) std::memcpy(out_.data() + size_, bytes.data(), bytes.size());
  size_ += bytes.size();
  return Status::Ok();
}

Status TlvBuilder::PutTag(uint32_t tag) {
  uint8_t bytes[4];
  const int n = TlvTagBytes(tag);
  for (int i = 0; i < n; ++i) bytes[i] = static_cast<uint8_t>(tag >> (8 * (n - 1 - i)));
  // A multi-byte tag must announce itself in its first byte and chain with bit 8.
  if (n > 1 && (bytes[0] & 0x1f) != 0x1f) return Status::InvalidArgument("malformed TLV tag");
  for (int i = 1; i < n; ++i) {
    if (((bytes[i] & 0x80) != 0) != (i < n - 1))
      return Status::InvalidArgument("malformed TLV tag");
  }
  if (n == 1 && (bytes[0] & 0x1f) == 0x1f) return Status::InvalidArgument("malformed TLV tag");
  return Put({bytes, static_cast<size_t>(n)});
}

namespace {
size_t LengthBytes(size_t length) {
  if (length < 0x80) return 1;
  if (length <= 0xff) return 2;
  if (length <= 0xffff) return 3;
  if (length <= 0xffffff) return 4;
  return 5;
}
void WriteLength(size_t length, uint8_t* p) {
  const size_t n = LengthBytes(length);
  if (n == 1) {
    p[0] = static_cast<uint8_t>(length);
    return;
  }
  p[0] = static_cast<uint8_t>(0x80 | (n - 1));
  for (size_t i = n - 1; i >= 1; --i, length >>= 8) p[i] = static_cast<uint8_t>(length);
}
}  // namespace

Status TlvBuilder::Add(uint32_t tag, std::span<const uint8_t> value) {
  KYTKIN_RETURN_IF_ERROR(PutTag(tag));
  uint8_t len[5];
  WriteLength(value.size(), len);
  KYTKIN_RETURN_IF_ERROR(Put({len, LengthBytes(value.size())}));
  return Put(value);
}

Status TlvBuilder::Open(uint32_t tag) {
  if (!TlvTagConstructed(tag)) return Status::InvalidArgument("Open needs a constructed tag");
  if (open_count_ >= kTlvDepthMax - 1) return Status::ResourceExhausted("TLV nested too deep");
  KYTKIN_RETURN_IF_ERROR(PutTag(tag));
  const uint8_t placeholder = 0;
  KYTKIN_RETURN_IF_ERROR(Put({&placeholder, 1}));  // short form; widened on Close if needed
  open_[open_count_++] = size_;
  return Status::Ok();
}

Status TlvBuilder::Close() {
  if (open_count_ == 0) return Status::FailedPrecondition("TLV Close without Open");
  const size_t value_start = open_[--open_count_];
  const size_t length = size_ - value_start;
  const size_t extra = LengthBytes(length) - 1;
  if (extra > 0) {
    if (out_.size() - size_ < extra) return Status::ResourceExhausted("TLV buffer full");
    std::memmove(out_.data() + value_start + extra, out_.data() + value_start, length);
    size_ += extra;
  }
  WriteLength(length, out_.data() + value_start - 1);
  return Status::Ok();
}

Result<std::span<const uint8_t>> TlvBuilder::Finish() const {
  if (open_count_ != 0) return Status::FailedPrecondition("TLV constructed tag still open");
  return std::span<const uint8_t>(out_.data(), size_);
}

std::string_view EmvTagName(uint32_t tag) {
  switch (tag) {
    case 0x4F:
      return "Application Identifier (AID)";
    case 0x50:
      return "Application Label";
    case 0x57:
      return "Track 2 Equivalent Data";
    case 0x5A:
      return "Application PAN";
    case 0x5F20:
      return "Cardholder Name";
    case 0x5F24:
      return "Application Expiration Date";
    case 0x5F25:
      return "Application Effective Date";
    case 0x5F28:
      return "Issuer Country Code";
    case 0x5F2A:
      return "Transaction Currency Code";
    case 0x5F2D:
      return "Language Preference";
    case 0x5F34:
      return "PAN Sequence Number";
    case 0x6F:
      return "FCI Template";
    case 0x70:
      return "Record Template";
    case 0x71:
      return "Issuer Script Template 1";
    case 0x72:
      return "Issuer Script Template 2";
    case 0x77:
      return "Response Message Template Format 2";
    case 0x80:
      return "Response Message Template Format 1";
    case 0x82:
      return "Application Interchange Profile";
    case 0x84:
      return "Dedicated File Name";
    case 0x86:
      return "Issuer Script Command";
    case 0x8A:
      return "Authorisation Response Code";
    case 0x8C:
      return "CDOL1";
    case 0x8D:
      return "CDOL2";
    case 0x8E:
      return "CVM List";
    case 0x91:
      return "Issuer Authentication Data";
    case 0x95:
      return "Terminal Verification Results";
    case 0x9A:
      return "Transaction Date";
    case 0x9B:
      return "Transaction Status Information";
    case 0x9C:
      return "Transaction Type";
    case 0x9F02:
      return "Amount, Authorised";
    case 0x9F03:
      return "Amount, Other";
    case 0x9F06:
      return "Application Identifier (Terminal)";
    case 0x9F07:
      return "Application Usage Control";
    case 0x9F09:
      return "Application Version Number (Terminal)";
    case 0x9F0D:
      return "IAC Default";
    case 0x9F0E:
      return "IAC Denial";
    case 0x9F0F:
      return "IAC Online";
    case 0x9F10:
      return "Issuer Application Data";
    case 0x9F12:
      return "Application Preferred Name";
    case 0x9F1A:
      return "Terminal Country Code";
    case 0x9F1E:
      return "Interface Device Serial Number";
    case 0x9F21:
      return "Transaction Time";
    case 0x9F26:
      return "Application Cryptogram";
    case 0x9F27:
      return "Cryptogram Information Data";
    case 0x9F33:
      return "Terminal Capabilities";
    case 0x9F34:
      return "CVM Results";
    case 0x9F35:
      return "Terminal Type";
    case 0x9F36:
      return "Application Transaction Counter";
    case 0x9F37:
      return "Unpredictable Number";
    case 0x9F41:
      return "Transaction Sequence Counter";
    case 0x9F53:
      return "Transaction Category Code";
    case 0x9F6E:
      return "Form Factor Indicator";
    case 0xE1:
      return "Private Constructed Template";
  }
  return "";
}

}  // namespace kytkin::iso8583
