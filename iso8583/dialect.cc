#include "iso8583/dialect.h"

#include <array>

namespace kytkin::iso8583 {
namespace {

using CT = ContentType;
using LK = LengthKind;

// The ISO 8583:1987 field layout shared by the built-in dialects: type, length kind, length_max.
// Encodings are filled per dialect by MakeIso87().
struct Layout {
  CT type;
  LK kind;
  uint16_t length_max;
  std::string_view name;
};

constexpr Layout kReservedIso{CT::kAns, LK::kLllvar, 999, "Reserved ISO"};
constexpr Layout kReservedNational{CT::kAns, LK::kLllvar, 999, "Reserved national"};
constexpr Layout kReservedPrivate{CT::kAns, LK::kLllvar, 999, "Reserved private"};

constexpr std::array<Layout, kFieldMax + 1> kIso87 = {{
    {CT::kUndefined, LK::kFixed, 0, ""},                                     // 0
    {CT::kUndefined, LK::kFixed, 0, "Secondary bitmap"},                     // 1
    {CT::kN, LK::kLlvar, 19, "Primary account number"},                      // 2
    {CT::kN, LK::kFixed, 6, "Processing code"},                              // 3
    {CT::kN, LK::kFixed, 12, "Amount, transaction"},                         // 4
    {CT::kN, LK::kFixed, 12, "Amount, settlement"},                          // 5
    {CT::kN, LK::kFixed, 12, "Amount, cardholder billing"},                  // 6
    {CT::kN, LK::kFixed, 10, "Transmission date and time"},                  // 7
    {CT::kN, LK::kFixed, 8, "Amount, cardholder billing fee"},               // 8
    {CT::kN, LK::kFixed, 8, "Conversion rate, settlement"},                  // 9
    {CT::kN, LK::kFixed, 8, "Conversion rate, cardholder billing"},          // 10
    {CT::kN, LK::kFixed, 6, "System trace audit number"},                    // 11
    {CT::kN, LK::kFixed, 6, "Time, local transaction"},                      // 12
    {CT::kN, LK::kFixed, 4, "Date, local transaction"},                      // 13
    {CT::kN, LK::kFixed, 4, "Date, expiration"},                             // 14
    {CT::kN, LK::kFixed, 4, "Date, settlement"},                             // 15
    {CT::kN, LK::kFixed, 4, "Date, conversion"},                             // 16
    {CT::kN, LK::kFixed, 4, "Date, capture"},                                // 17
    {CT::kN, LK::kFixed, 4, "Merchant type"},                                // 18
    {CT::kN, LK::kFixed, 3, "Acquiring institution country code"},           // 19
    {CT::kN, LK::kFixed, 3, "PAN extended, country code"},                   // 20
    {CT::kN, LK::kFixed, 3, "Forwarding institution country code"},          // 21
    {CT::kN, LK::kFixed, 3, "Point of service entry mode"},                  // 22
    {CT::kN, LK::kFixed, 3, "Card sequence number"},                         // 23
    {CT::kN, LK::kFixed, 3, "Network international identifier"},             // 24
    {CT::kN, LK::kFixed, 2, "Point of service condition code"},              // 25
    {CT::kN, LK::kFixed, 2, "Point of service capture code"},                // 26
    {CT::kN, LK::kFixed, 1, "Authorizing identification response length"},   // 27
    {CT::kXn, LK::kFixed, 8, "Amount, transaction fee"},                     // 28
    {CT::kXn, LK::kFixed, 8, "Amount, settlement fee"},                      // 29
    {CT::kXn, LK::kFixed, 8, "Amount, transaction processing fee"},          // 30
    {CT::kXn, LK::kFixed, 8, "Amount, settlement processing fee"},           // 31
    {CT::kN, LK::kLlvar, 11, "Acquiring institution identification code"},   // 32
    {CT::kN, LK::kLlvar, 11, "Forwarding institution identification code"},  // 33
    {CT::kAns, LK::kLlvar, 28, "Primary account number, extended"},          // 34
    {CT::kZ, LK::kLlvar, 37, "Track 2 data"},                                // 35
    {CT::kZ, LK::kLllvar, 104, "Track 3 data"},                              // 36
    {CT::kAn, LK::kFixed, 12, "Retrieval reference number"},                 // 37
    {CT::kAn, LK::kFixed, 6, "Authorization identification response"},       // 38
    {CT::kAn, LK::kFixed, 2, "Response code"},                               // 39
    {CT::kAn, LK::kFixed, 3, "Service restriction code"},                    // 40
    {CT::kAns, LK::kFixed, 8, "Card acceptor terminal identification"},      // 41
    {CT::kAns, LK::kFixed, 15, "Card acceptor identification code"},         // 42
    {CT::kAns, LK::kFixed, 40, "Card acceptor name/location"},               // 43
    {CT::kAn, LK::kLlvar, 25, "Additional response data"},                   // 44
    {CT::kAn, LK::kLlvar, 76, "Track 1 data"},                               // 45
    {CT::kAn, LK::kLllvar, 999, "Additional data, ISO"},                     // 46
    {CT::kAn, LK::kLllvar, 999, "Additional data, national"},                // 47
    {CT::kAn, LK::kLllvar, 999, "Additional data, private"},                 // 48
    {CT::kN, LK::kFixed, 3, "Currency code, transaction"},                   // 49
    {CT::kN, LK::kFixed, 3, "Currency code, settlement"},                    // 50
    {CT::kN, LK::kFixed, 3, "Currency code, cardholder billing"},            // 51
    {CT::kB, LK::kFixed, 8, "Personal identification number data"},          // 52
    {CT::kN, LK::kFixed, 16, "Security related control information"},        // 53
    {CT::kAn, LK::kLllvar, 120, "Additional amounts"},                       // 54
    {CT::kB, LK::kLllvar, 255, "ICC data (EMV)"},                            // 55
    kReservedIso,                                                            // 56
    kReservedNational,                                                       // 57
    kReservedNational,                                                       // 58
    kReservedNational,                                                       // 59
    kReservedPrivate,                                                        // 60
    kReservedPrivate,                                                        // 61
    kReservedPrivate,                                                        // 62
    kReservedPrivate,                                                        // 63
    {CT::kB, LK::kFixed, 8, "Message authentication code"},                  // 64
    {CT::kB, LK::kFixed, 1, "Bitmap, extended"},                             // 65
    {CT::kN, LK::kFixed, 1, "Settlement code"},                              // 66
    {CT::kN, LK::kFixed, 2, "Extended payment code"},                        // 67
    {CT::kN, LK::kFixed, 3, "Receiving institution country code"},           // 68
    {CT::kN, LK::kFixed, 3, "Settlement institution country code"},          // 69
    {CT::kN, LK::kFixed, 3, "Network management information code"},          // 70
    {CT::kN, LK::kFixed, 4, "Message number"},                               // 71
    {CT::kN, LK::kFixed, 4, "Message number, last"},                         // 72
    {CT::kN, LK::kFixed, 6, "Date, action"},                                 // 73
    {CT::kN, LK::kFixed, 10, "Credits, number"},                             // 74
    {CT::kN, LK::kFixed, 10, "Credits, reversal number"},                    // 75
    {CT::kN, LK::kFixed, 10, "Debits, number"},                              // 76
    {CT::kN, LK::kFixed, 10, "Debits, reversal number"},                     // 77
    {CT::kN, LK::kFixed, 10, "Transfer, number"},                            // 78
    {CT::kN, LK::kFixed, 10, "Transfer, reversal number"},                   // 79
    {CT::kN, LK::kFixed, 10, "Inquiries, number"},                           // 80
    {CT::kN, LK::kFixed, 10, "Authorizations, number"},                      // 81
    {CT::kN, LK::kFixed, 12, "Credits, processing fee amount"},              // 82
    {CT::kN, LK::kFixed, 12, "Credits, transaction fee amount"},             // 83
    {CT::kN, LK::kFixed, 12, "Debits, processing fee amount"},               // 84
    {CT::kN, LK::kFixed, 12, "Debits, transaction fee amount"},              // 85
    {CT::kN, LK::kFixed, 16, "Credits, amount"},                             // 86
    {CT::kN, LK::kFixed, 16, "Credits, reversal amount"},                    // 87
    {CT::kN, LK::kFixed, 16, "Debits, amount"},                              // 88
    {CT::kN, LK::kFixed, 16, "Debits, reversal amount"},                     // 89
    {CT::kN, LK::kFixed, 42, "Original data elements"},                      // 90
    {CT::kAn, LK::kFixed, 1, "File update code"},                            // 91
    {CT::kAn, LK::kFixed, 2, "File security code"},                          // 92
    {CT::kAn, LK::kFixed, 5, "Response indicator"},                          // 93
    {CT::kAn, LK::kFixed, 7, "Service indicator"},                           // 94
    {CT::kAn, LK::kFixed, 42, "Replacement amounts"},                        // 95
    {CT::kB, LK::kFixed, 8, "Message security code"},                        // 96
    {CT::kXn, LK::kFixed, 16, "Amount, net settlement"},                     // 97
    {CT::kAns, LK::kFixed, 25, "Payee"},                                     // 98
    {CT::kN, LK::kLlvar, 11, "Settlement institution identification code"},  // 99
    {CT::kN, LK::kLlvar, 11, "Receiving institution identification code"},   // 100
    {CT::kAns, LK::kLlvar, 17, "File name"},                                 // 101
    {CT::kAns, LK::kLlvar, 28, "Account identification 1"},                  // 102
    {CT::kAns, LK::kLlvar, 28, "Account identification 2"},                  // 103
    {CT::kAns, LK::kLllvar, 100, "Transaction description"},                 // 104
    kReservedIso,
    kReservedIso,
    kReservedIso,
    kReservedIso,  // 105-108
    kReservedIso,
    kReservedIso,
    kReservedIso,  // 109-111
    kReservedNational,
    kReservedNational,
    kReservedNational,  // 112-114
    kReservedNational,
    kReservedNational,
    kReservedNational,  // 115-117
    kReservedNational,
    kReservedNational,  // 118-119
    kReservedPrivate,
    kReservedPrivate,
    kReservedPrivate,
    kReservedPrivate,  // 120-123
    kReservedPrivate,
    kReservedPrivate,
    kReservedPrivate,
    kReservedPrivate,                                        // 124-127
    {CT::kB, LK::kFixed, 8, "Message authentication code"},  // 128
}};

bool IsDigitType(CT type) { return type == CT::kN || type == CT::kZ || type == CT::kXn; }

// `numeric` encodes n/z/x+n data, `binary` encodes b data; a/an/ans are always ASCII.
Dialect MakeIso87(std::string name, Encoding mti, Encoding bitmap, Encoding numeric,
                  Encoding binary, Encoding length) {
  Dialect d;
  d.name = std::move(name);
  d.mti_encoding = mti;
  d.bitmap_encoding = bitmap;
  for (int n = kFieldMin; n <= kFieldMax; ++n) {
    const Layout& l = kIso87[static_cast<size_t>(n)];
    FieldSpec& f = d.fields[static_cast<size_t>(n)];
    f.type = l.type;
    f.length_kind = l.kind;
    f.length_max = l.length_max;
    f.data_encoding =
        IsDigitType(l.type) ? numeric : (l.type == CT::kB ? binary : Encoding::kAscii);
    f.length_encoding = length;
  }
  return d;
}

const Dialect& Iso87Ascii() {
  static const Dialect d = MakeIso87("iso87-ascii", Encoding::kAscii, Encoding::kHexAscii,
                                     Encoding::kAscii, Encoding::kHexAscii, Encoding::kAscii);
  return d;
}
const Dialect& Iso87AsciiBinaryBitmap() {
  static const Dialect d = MakeIso87("iso87-ascii-bbitmap", Encoding::kAscii, Encoding::kBinary,
                                     Encoding::kAscii, Encoding::kBinary, Encoding::kAscii);
  return d;
}
const Dialect& Iso87Bcd() {
  static const Dialect d = MakeIso87("iso87-bcd", Encoding::kBcd, Encoding::kBinary, Encoding::kBcd,
                                     Encoding::kBinary, Encoding::kBcd);
  return d;
}

}  // namespace

std::span<const Dialect* const> BuiltinDialects() {
  static const std::array<const Dialect*, 3> all = {&Iso87Ascii(), &Iso87AsciiBinaryBitmap(),
                                                    &Iso87Bcd()};
  return all;
}

const Dialect* FindDialect(std::string_view name) {
  for (const Dialect* d : BuiltinDialects()) {
    if (d->name == name) return d;
  }
  return nullptr;
}

std::string_view FieldName(int number) {
  if (number < 1 || number > kFieldMax) return "";
  return kIso87[static_cast<size_t>(number)].name;
}

std::string_view ContentTypeName(ContentType type) {
  switch (type) {
    case CT::kUndefined:
      return "undefined";
    case CT::kN:
      return "n";
    case CT::kA:
      return "a";
    case CT::kAn:
      return "an";
    case CT::kAns:
      return "ans";
    case CT::kB:
      return "b";
    case CT::kZ:
      return "z";
    case CT::kXn:
      return "x+n";
  }
  return "?";
}

std::string_view LengthKindName(LengthKind kind) {
  switch (kind) {
    case LK::kFixed:
      return "fixed";
    case LK::kLlvar:
      return "llvar";
    case LK::kLllvar:
      return "lllvar";
  }
  return "?";
}

std::string_view EncodingName(Encoding encoding) {
  switch (encoding) {
    case Encoding::kAscii:
      return "ascii";
    case Encoding::kBcd:
      return "bcd";
    case Encoding::kBinary:
      return "binary";
    case Encoding::kHexAscii:
      return "hex";
  }
  return "?";
}

Status ValidateDialect(const Dialect& d) {
  auto bad = [&](int n, std::string_view why) {
    return Status::InvalidArgument("dialect '" + d.name + "' field " + std::to_string(n) + ": " +
                                   std::string(why));
  };
  if (d.mti_encoding != Encoding::kAscii && d.mti_encoding != Encoding::kBcd) {
    return Status::InvalidArgument("dialect '" + d.name + "': mti_encoding must be ascii or bcd");
  }
  if (d.bitmap_encoding != Encoding::kBinary && d.bitmap_encoding != Encoding::kHexAscii) {
    return Status::InvalidArgument("dialect '" + d.name +
                                   "': bitmap_encoding must be binary or hex");
  }
  for (int n = kFieldMin; n <= kFieldMax; ++n) {
    const FieldSpec& f = d.field(n);
    if (!f.defined()) continue;
    if (f.length_max == 0) return bad(n, "length_max must be > 0");
    uint16_t kind_max = f.length_kind == LK::kLlvar ? 99 : 999;
    if (f.length_max > kind_max) return bad(n, "length_max above what the length kind allows");
    switch (f.data_encoding) {
      case Encoding::kAscii:
        break;
      case Encoding::kBcd:
        if (!IsDigitType(f.type)) return bad(n, "bcd data encoding only for n, z and x+n");
        break;
      case Encoding::kBinary:
      case Encoding::kHexAscii:
        if (f.type != CT::kB) return bad(n, "binary/hex data encoding only for b");
        break;
    }
    if (f.type == CT::kB && f.data_encoding == Encoding::kAscii) {
      return bad(n, "b fields need binary or hex data encoding");
    }
    if (f.length_kind != LK::kFixed && f.length_encoding == Encoding::kHexAscii) {
      return bad(n, "length encoding must be ascii, bcd or binary");
    }
  }
  return Status::Ok();
}

}  // namespace kytkin::iso8583
