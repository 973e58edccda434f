#include "iso8583/message.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "iso8583/dialect.h"
#include "iso8583/message_json.h"

namespace kytkin::iso8583 {
namespace {

const Dialect& Ascii() { return *FindDialect("iso87-ascii"); }
const Dialect& AsciiBinaryBitmap() { return *FindDialect("iso87-ascii-bbitmap"); }
const Dialect& Bcd() { return *FindDialect("iso87-bcd"); }

// Hex text to bytes; the expected vectors below are written by hand, piece by piece.
std::string H(std::string_view hex) {
  Result<std::string> r = HexDecode(hex);
  EXPECT_TRUE(r.ok()) << hex;
  return r.ok() ? *r : "";
}

std::string PackOrDie(const Message& m) {
  Result<std::string> r = m.PackToString();
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : "";
}

void SetAll(Message& m, std::string_view mti,
            std::initializer_list<std::pair<int, std::string_view>> fields) {
  ASSERT_TRUE(m.SetMti(mti).ok());
  for (const auto& [field, value] : fields) {
    Status s = m.Set(field, value);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
}

// ---- Hand-checked byte vectors -------------------------------------------------------------

// 0100: DE 2, 3, 4, 7, 11, 14, 22, 35, 41, 49.
// Primary bitmap: byte0 = DE2 0x40 | DE3 0x20 | DE4 0x10 | DE7 0x02 = 0x72; byte1 = DE11 0x20 |
// DE14 0x04 = 0x24; byte2 = DE22 0x04; byte4 = DE35 0x20; byte5 = DE41 0x80; byte6 = DE49 0x80.
void Fill0100(Message& m) {
  SetAll(m, "0100",
         {{2, "4111111111111111"},
          {3, "000000"},
          {4, "000000001000"},
          {7, "1126234500"},
          {11, "000123"},
          {14, "2512"},
          {22, "051"},
          {35, "4111111111111111=2512101"},
          {41, "TERM0001"},
          {49, "978"}});
}
const std::string k0100Ascii = std::string("0100") + "7224040020808000" + "16" +
                               "4111111111111111" + "000000" + "000000001000" + "1126234500" +
                               "000123" + "2512" + "051" + "24" + "4111111111111111=2512101" +
                               "TERM0001" + "978";
const std::string k0100AsciiBinaryBitmap = "0100" + H("7224040020808000") + "16" +
                                           "4111111111111111" + "000000" + "000000001000" +
                                           "1126234500" + "000123" + "2512" + "051" + "24" +
                                           "4111111111111111=2512101" + "TERM0001" + "978";
const std::string k0100Bcd = H("0100"              // MTI
                               "7224040020808000"  // bitmap
                               "16"
                               "4111111111111111"  // DE 2: LL 16, 8 bytes
                               "000000"            // DE 3
                               "000000001000"      // DE 4
                               "1126234500"        // DE 7
                               "000123"            // DE 11
                               "2512"              // DE 14
                               "0051"              // DE 22: 3 digits, left pad 0
                               "24"
                               "4111111111111111D2512101") +  // DE 35: '=' is nibble D
                             "TERM0001" +                     // DE 41 (ans stays ASCII)
                             H("0978");                       // DE 49

// 0110: DE 3, 4, 7, 11, 38, 39, 41, 49. byte0 = 0x20|0x10|0x02 = 0x32; byte1 = 0x20;
// byte4 = DE38 0x04 | DE39 0x02 = 0x06; byte5 = 0x80; byte6 = 0x80.
void Fill0110(Message& m) {
  SetAll(m, "0110",
         {{3, "000000"},
          {4, "000000001000"},
          {7, "1126234500"},
          {11, "000123"},
          {38, "A1B2C3"},
          {39, "00"},
          {41, "TERM0001"},
          {49, "978"}});
}
const std::string k0110Ascii = std::string("0110") + "3220000006808000" + "000000" +
                               "000000001000" + "1126234500" + "000123" + "A1B2C3" + "00" +
                               "TERM0001" + "978";
const std::string k0110AsciiBinaryBitmap = "0110" + H("3220000006808000") + "000000" +
                                           "000000001000" + "1126234500" + "000123" + "A1B2C3" +
                                           "00" + "TERM0001" + "978";
const std::string k0110Bcd = H("0110"
                               "3220000006808000"
                               "000000"
                               "000000001000"
                               "1126234500"
                               "000123") +
                             "A1B2C3" + "00" + "TERM0001" + H("0978");

// 0200: DE 2, 3, 4, 7, 11, 22, 25, 28 (x+n), 41, 42, 49, 52 (b). byte0 = 0x72; byte1 = DE11
// 0x20; byte2 = DE22 0x04; byte3 = DE25 0x80 | DE28 0x10 = 0x90; byte5 = DE41 0x80 | DE42 0x40;
// byte6 = DE49 0x80 | DE52 0x10 = 0x90.
void Fill0200(Message& m) {
  SetAll(m, "0200",
         {{2, "5413330089020011"},
          {3, "000000"},
          {4, "000000002500"},
          {7, "1126234501"},
          {11, "000124"},
          {22, "071"},
          {25, "00"},
          {28, "C00000150"},
          {41, "TERM0001"},
          {42, "MERCHANT0000001"},
          {49, "978"},
          {52, H("0123456789ABCDEF")}});
}
const std::string k0200Ascii = std::string("0200") + "7220049000C09000" + "16" +
                               "5413330089020011" + "000000" + "000000002500" + "1126234501" +
                               "000124" + "071" + "00" + "C00000150" + "TERM0001" +
                               "MERCHANT0000001" + "978" + "0123456789ABCDEF";
const std::string k0200AsciiBinaryBitmap =
    "0200" + H("72200490 00C09000") + "16" + "5413330089020011" + "000000" + "000000002500" +
    "1126234501" + "000124" + "071" + "00" + "C00000150" + "TERM0001" + "MERCHANT0000001" + "978" +
    H("0123456789ABCDEF");
const std::string k0200Bcd = H("0200"
                               "7220049000C09000"
                               "16"
                               "5413330089020011"
                               "000000"
                               "000000002500"
                               "1126234501"
                               "000124"
                               "0071"
                               "00") +
                             "C" + H("00000150") +  // DE 28: sign ASCII, 8 digits BCD
                             "TERM0001" + "MERCHANT0000001" +
                             H("0978"
                               "0123456789ABCDEF");

// 0400 with DE 90: DE 2, 3, 4, 7, 11, 41, 49, 90. Primary byte0 = 0x80 (secondary) | 0x72 = F2;
// byte1 = 0x20; byte5 = 0x80; byte6 = 0x80. Secondary: DE 90 is bit 26 of it -> byte3 = 0x40.
constexpr std::string_view kDe90 = "010000012311262345000000001234500000000000";
void Fill0400(Message& m) {
  SetAll(m, "0400",
         {{2, "4111111111111111"},
          {3, "000000"},
          {4, "000000001000"},
          {7, "1126234600"},
          {11, "000125"},
          {41, "TERM0001"},
          {49, "978"},
          {90, kDe90}});
}
const std::string k0400Ascii = std::string("0400") + "F220000000808000" + "0000004000000000" +
                               "16" + "4111111111111111" + "000000" + "000000001000" +
                               "1126234600" + "000125" + "TERM0001" + "978" + std::string(kDe90);
const std::string k0400AsciiBinaryBitmap = "0400" +
                                           H("F220000000808000"
                                             "0000004000000000") +
                                           "16" + "4111111111111111" + "000000" + "000000001000" +
                                           "1126234600" + "000125" + "TERM0001" + "978" +
                                           std::string(kDe90);
const std::string k0400Bcd = H("0400"
                               "F220000000808000"
                               "0000004000000000"
                               "16"
                               "4111111111111111"
                               "000000"
                               "000000001000"
                               "1126234600"
                               "000125") +
                             "TERM0001" + H("0978") + H(kDe90);

// 0800 with DE 70 (301 echo): DE 7, 11, 70. Primary byte0 = 0x80 | DE7 0x02 = 0x82; byte1 =
// DE11 0x20. Secondary: DE 70 is its 6th bit -> byte0 = 0x04.
void Fill0800(Message& m) { SetAll(m, "0800", {{7, "1126234700"}, {11, "000001"}, {70, "301"}}); }
const std::string k0800Ascii =
    std::string("0800") + "8220000000000000" + "0400000000000000" + "1126234700" + "000001" + "301";
const std::string k0800AsciiBinaryBitmap = "0800" +
                                           H("8220000000000000"
                                             "0400000000000000") +
                                           "1126234700" + "000001" + "301";
const std::string k0800Bcd =
    H("0800"
      "8220000000000000"
      "0400000000000000"
      "1126234700"
      "000001"
      "0301");

struct Vector {
  const char* name;
  void (*fill)(Message&);
  const Dialect& (*dialect)();
  const std::string* bytes;
};

const Vector kVectors[] = {
    {"0100/ascii", Fill0100, Ascii, &k0100Ascii},
    {"0100/bbitmap", Fill0100, AsciiBinaryBitmap, &k0100AsciiBinaryBitmap},
    {"0100/bcd", Fill0100, Bcd, &k0100Bcd},
    {"0110/ascii", Fill0110, Ascii, &k0110Ascii},
    {"0110/bbitmap", Fill0110, AsciiBinaryBitmap, &k0110AsciiBinaryBitmap},
    {"0110/bcd", Fill0110, Bcd, &k0110Bcd},
    {"0200/ascii", Fill0200, Ascii, &k0200Ascii},
    {"0200/bbitmap", Fill0200, AsciiBinaryBitmap, &k0200AsciiBinaryBitmap},
    {"0200/bcd", Fill0200, Bcd, &k0200Bcd},
    {"0400/ascii", Fill0400, Ascii, &k0400Ascii},
    {"0400/bbitmap", Fill0400, AsciiBinaryBitmap, &k0400AsciiBinaryBitmap},
    {"0400/bcd", Fill0400, Bcd, &k0400Bcd},
    {"0800/ascii", Fill0800, Ascii, &k0800Ascii},
    {"0800/bbitmap", Fill0800, AsciiBinaryBitmap, &k0800AsciiBinaryBitmap},
    {"0800/bcd", Fill0800, Bcd, &k0800Bcd},
};

TEST(MessageVectors, PackMatchesHandCheckedBytes) {
  for (const Vector& v : kVectors) {
    SCOPED_TRACE(v.name);
    Message m(v.dialect());
    v.fill(m);
    EXPECT_EQ(
        HexEncode({reinterpret_cast<const uint8_t*>(PackOrDie(m).data()), PackOrDie(m).size()}),
        HexEncode({reinterpret_cast<const uint8_t*>(v.bytes->data()), v.bytes->size()}));
  }
}

TEST(MessageVectors, ParseHandCheckedBytesGivesTheFields) {
  for (const Vector& v : kVectors) {
    SCOPED_TRACE(v.name);
    Message expected(v.dialect());
    v.fill(expected);
    Message parsed(v.dialect());
    ParseError e = parsed.Parse(*v.bytes);
    ASSERT_TRUE(e.ok()) << e.ToString();
    EXPECT_EQ(parsed.mti(), expected.mti());
    EXPECT_EQ(parsed.FieldCount(), expected.FieldCount());
    expected.ForEachField([&](int field, std::string_view value) {
      EXPECT_EQ(parsed.Get(field), value) << "field " << field;
    });
  }
}

TEST(MessageVectors, AsciiDialectKeepsViewsIntoTheInput) {
  Message m(Ascii());
  ASSERT_TRUE(m.Parse(k0100Ascii).ok());
  const char* begin = k0100Ascii.data();
  const char* end = begin + k0100Ascii.size();
  for (int field : {2, 3, 35, 41}) {
    EXPECT_GE(m.Get(field).data(), begin);
    EXPECT_LT(m.Get(field).data(), end);
  }
  EXPECT_EQ(m.arena_used(), 0u);
}

// ---- Secondary bitmap -------------------------------------------------------------------------

TEST(SecondaryBitmap, EmptySecondaryIsAcceptedAndDroppedOnPack) {
  // 0800 with bit 1 set but no field above 64 (what many terminals send).
  const std::string in =
      std::string("0800") + "8220000000000000" + "0000000000000000" + "1126234700" + "000001";
  Message m(Ascii());
  ParseError e = m.Parse(in);
  ASSERT_TRUE(e.ok()) << e.ToString();
  EXPECT_TRUE(m.parsed_secondary_bitmap());
  EXPECT_EQ(m.FieldCount(), 2);
  EXPECT_EQ(PackOrDie(m), std::string("0800") + "0220000000000000" + "1126234700" + "000001");
}

TEST(SecondaryBitmap, EmptySecondaryAcceptedInBinaryAndBcd) {
  for (const Dialect* d : {&AsciiBinaryBitmap(), &Bcd()}) {
    Message m(*d);
    std::string mti = d->mti_encoding == Encoding::kBcd ? H("0800") : "0800";
    std::string fields = d->field(11).data_encoding == Encoding::kBcd ? H("000001") : "000001";
    const std::string in = mti +
                           H("A000000000000000"
                             "0000000000000000") +
                           fields;
    ParseError e = m.Parse(in);  // values are views: `in` must outlive the Get() below
    ASSERT_TRUE(e.ok()) << d->name << ": " << e.ToString();
    EXPECT_EQ(m.Get(3), "000001");
  }
}

TEST(SecondaryBitmap, EmittedWhenAFieldAbove64IsSet) {
  Message m(Ascii());
  ASSERT_TRUE(m.SetMti("0800").ok());
  ASSERT_TRUE(m.Set(128, H("0102030405060708")).ok());
  EXPECT_EQ(PackOrDie(m),
            std::string("0800") + "8000000000000000" + "0000000000000001" + "0102030405060708");
}

TEST(SecondaryBitmap, DialectCanAlwaysEmitIt) {
  Dialect d = Ascii();
  d.always_secondary_bitmap = true;
  Message m(d);
  ASSERT_TRUE(m.SetMti("0800").ok());
  ASSERT_TRUE(m.Set(11, "000001").ok());
  EXPECT_EQ(PackOrDie(m), std::string("0800") + "8020000000000000" + "0000000000000000" + "000001");
}

// ---- Round trips of every field in every dialect ----------------------------------------------

// A random valid logical value for a field spec, `units` long.
std::string RandomValue(const FieldSpec& f, size_t units, std::mt19937_64& rng) {
  auto pick = [&](std::string_view alphabet) {
    return alphabet[std::uniform_int_distribution<size_t>(0, alphabet.size() - 1)(rng)];
  };
  std::string v;
  switch (f.type) {
    case ContentType::kN:
      for (size_t i = 0; i < units; ++i) v += pick("0123456789");
      break;
    case ContentType::kA:
      for (size_t i = 0; i < units; ++i) v += pick("ABCXYZabcxyz ");
      break;
    case ContentType::kAn:
      for (size_t i = 0; i < units; ++i) v += pick("AZaz09 ");
      break;
    case ContentType::kAns:
      for (size_t i = 0; i < units; ++i) v += static_cast<char>(0x20 + rng() % 95);
      break;
    case ContentType::kB:
      for (size_t i = 0; i < units; ++i) v += static_cast<char>(rng() % 256);
      break;
    case ContentType::kZ:
      for (size_t i = 0; i < units; ++i) v += pick("0123456789");
      if (units > 2) v[units / 2] = '=';
      break;
    case ContentType::kXn:
      v += pick("CD");
      for (size_t i = 0; i < units; ++i) v += pick("0123456789");
      break;
    case ContentType::kUndefined:
      break;
  }
  return v;
}

size_t RandomUnits(const FieldSpec& f, std::mt19937_64& rng) {
  if (f.length_kind == LengthKind::kFixed) return f.length_max;
  // Favour the edges: empty, one, max, and anything in between.
  switch (rng() % 4) {
    case 0:
      return 0;
    case 1:
      return f.length_max;
    case 2:
      return 1;
    default:
      return std::uniform_int_distribution<size_t>(0, f.length_max)(rng);
  }
}

TEST(RoundTrip, EveryFieldAloneInEveryDialectAtMinAndMaxLength) {
  std::mt19937_64 rng(7);
  for (const Dialect* d : BuiltinDialects()) {
    for (int field = kFieldMin; field <= kFieldMax; ++field) {
      const FieldSpec& f = d->field(field);
      std::vector<size_t> lengths = {f.length_max};
      if (f.length_kind != LengthKind::kFixed) lengths = {0, 1, f.length_max};
      for (size_t units : lengths) {
        SCOPED_TRACE(d->name + " field " + std::to_string(field) + " units " +
                     std::to_string(units));
        Message m(*d);
        ASSERT_TRUE(m.SetMti("0200").ok());
        std::string value = RandomValue(f, units, rng);
        Status s = m.Set(field, value);
        ASSERT_TRUE(s.ok()) << s.ToString();
        std::string packed = PackOrDie(m);
        Message back(*d);
        ParseError e = back.Parse(packed);
        ASSERT_TRUE(e.ok()) << e.ToString();
        EXPECT_EQ(back.Get(field), value);
        EXPECT_EQ(back.FieldCount(), 1);
        EXPECT_EQ(PackOrDie(back), packed);
      }
    }
  }
}

TEST(RoundTrip, PropertyRandomValidMessages) {
  constexpr uint64_t kSeed = 20261126;
  constexpr int kMessagesPerDialect = 2000;
  std::printf("property test seed %llu, %d messages per dialect\n",
              static_cast<unsigned long long>(kSeed), kMessagesPerDialect);
  std::mt19937_64 rng(kSeed);
  for (const Dialect* d : BuiltinDialects()) {
    for (int i = 0; i < kMessagesPerDialect; ++i) {
      Message m(*d);
      char mti[5];
      std::snprintf(mti, sizeof(mti), "%04u", static_cast<unsigned>(rng() % 10000));
      ASSERT_TRUE(m.SetMti(mti).ok());
      // A handful of fields, each with a random valid value, within the arena.
      const int count = static_cast<int>(rng() % 20);
      for (int k = 0; k < count; ++k) {
        const int field = kFieldMin + static_cast<int>(rng() % (kFieldMax - kFieldMin + 1));
        const FieldSpec& f = d->field(field);
        std::string value = RandomValue(f, std::min<size_t>(RandomUnits(f, rng), 200), rng);
        if (f.length_kind == LengthKind::kFixed) value = RandomValue(f, f.length_max, rng);
        Status s = m.Set(field, value);
        ASSERT_TRUE(s.ok()) << "seed " << kSeed << " message " << i << ": " << s.ToString();
      }
      std::string packed = PackOrDie(m);
      Message back(*d);
      ParseError e = back.Parse(packed);
      ASSERT_TRUE(e.ok()) << "seed " << kSeed << " message " << i << " " << d->name << ": "
                          << e.ToString();
      ASSERT_EQ(back.mti(), m.mti());
      ASSERT_EQ(back.FieldCount(), m.FieldCount());
      m.ForEachField([&](int field, std::string_view value) {
        ASSERT_EQ(back.Get(field), value)
            << "seed " << kSeed << " message " << i << " field " << field;
      });
      ASSERT_EQ(PackOrDie(back), packed);
    }
  }
}

// ---- Parse errors ------------------------------------------------------------------------------

ParseError ParseAscii(std::string_view in, Message* out = nullptr) {
  static Message scratch(Ascii());
  Message& m = out != nullptr ? *out : scratch;
  return m.Parse(in);
}

TEST(ParseErrors, TruncatedEverywhere) {
  // Every strict prefix of a valid message fails as truncated (or, at length 0..3, in the MTI).
  for (const Vector& v : kVectors) {
    Message m(v.dialect());
    for (size_t n = 0; n < v.bytes->size(); ++n) {
      ParseError e = m.Parse(std::string_view(*v.bytes).substr(0, n));
      ASSERT_FALSE(e.ok()) << v.name << " prefix " << n;
      EXPECT_EQ(e.reason, ParseErrorReason::kTruncated) << v.name << " prefix " << n;
      EXPECT_LE(e.offset, n);
    }
  }
}

TEST(ParseErrors, TruncatedFieldNamesFieldAndOffset) {
  // Cut inside DE 35 (starts at offset 4+16+18+6+12+10+6+4+3 = 79).
  ParseError e = ParseAscii(std::string_view(k0100Ascii).substr(0, 85));
  EXPECT_EQ(e.reason, ParseErrorReason::kTruncated);
  EXPECT_EQ(e.field, 35);
  EXPECT_EQ(e.offset, 79u);
  EXPECT_NE(e.ToString().find("field 35 (Track 2 data) at offset 79: truncated"), std::string::npos)
      << e.ToString();
}

TEST(ParseErrors, BadMti) {
  ParseError e = ParseAscii("01X0" + k0100Ascii.substr(4));
  EXPECT_EQ(e.reason, ParseErrorReason::kBadMti);
  EXPECT_EQ(e.field, kFieldMti);
  Message m(Bcd());
  const std::string bad_bcd = H("0A00") + k0100Bcd.substr(2);
  e = m.Parse(bad_bcd);
  EXPECT_EQ(e.reason, ParseErrorReason::kBadMti);
}

TEST(ParseErrors, BadHexBitmap) {
  std::string in = k0100Ascii;
  in[6] = 'G';
  ParseError e = ParseAscii(in);
  EXPECT_EQ(e.reason, ParseErrorReason::kBadBitmap);
  EXPECT_EQ(e.field, kFieldBitmap);
  EXPECT_EQ(e.offset, 4u);
}

TEST(ParseErrors, BadLengthPrefixAsciiAndBcd) {
  std::string in = k0100Ascii;
  in[20] = 'x';  // DE 2 length "1x"
  ParseError e = ParseAscii(in);
  EXPECT_EQ(e.reason, ParseErrorReason::kBadLengthPrefix);
  EXPECT_EQ(e.field, 2);
  EXPECT_EQ(e.offset, 20u);

  std::string bcd = k0100Bcd;
  bcd[10] = static_cast<char>(0x1A);
  Message m(Bcd());
  e = m.Parse(bcd);
  EXPECT_EQ(e.reason, ParseErrorReason::kBadLengthPrefix);
  EXPECT_EQ(e.field, 2);
  EXPECT_EQ(e.offset, 10u);
}

TEST(ParseErrors, LengthOverMax) {
  std::string in = k0100Ascii;
  in[20] = '2';  // DE 2 length 26 > 19
  ParseError e = ParseAscii(in);
  EXPECT_EQ(e.reason, ParseErrorReason::kLengthOverMax);
  EXPECT_EQ(e.field, 2);

  // LLVAR max + 1 in BCD: DE 35 is z..37; a prefix of 38 is rejected, 37 would be read.
  std::string bcd = k0100Bcd;
  size_t de35 = bcd.find(H("24411111"));
  ASSERT_NE(de35, std::string::npos);
  bcd[de35] = 0x38;
  Message m(Bcd());
  e = m.Parse(bcd);
  EXPECT_EQ(e.reason, ParseErrorReason::kLengthOverMax);
  EXPECT_EQ(e.field, 35);
  EXPECT_EQ(e.offset, de35);
}

TEST(ParseErrors, NonDigitInNumericKeepsTheReadableFields) {
  // The switch must be able to answer 30 with DE 11 and DE 41 echoed when DE 35 is bad.
  std::string in = k0100Ascii;
  size_t de35_data = 81;  // after the "24" prefix at 79
  in[de35_data + 3] = 'X';
  Message m(Ascii());
  ParseError e = m.Parse(in);
  EXPECT_EQ(e.reason, ParseErrorReason::kBadCharacter);
  EXPECT_EQ(e.field, 35);
  EXPECT_EQ(e.offset, 79u);
  EXPECT_EQ(m.mti(), "0100");
  EXPECT_EQ(m.Get(11), "000123");
  EXPECT_EQ(m.Get(41), "TERM0001");
  EXPECT_EQ(m.Get(7), "1126234500");
  EXPECT_FALSE(m.Has(35));
  EXPECT_EQ(m.Get(49), "978");
}

TEST(ParseErrors, BadCharactersPerType) {
  // Each case puts a wrong byte in a field of the 0110 vector (a: none; an: DE 38/39; ans: DE 41).
  Message m(Ascii());
  std::string in = k0110Ascii;
  size_t de38 = in.find("A1B2C3");
  in[de38 + 1] = '-';  // an
  ParseError e = m.Parse(in);
  EXPECT_EQ(e.reason, ParseErrorReason::kBadCharacter);
  EXPECT_EQ(e.field, 38);
  EXPECT_EQ(e.offset, de38);

  in = k0110Ascii;
  in[in.find("TERM0001") + 2] = '\x01';  // ans: control character
  e = m.Parse(in);
  EXPECT_EQ(e.field, 41);
  EXPECT_EQ(e.reason, ParseErrorReason::kBadCharacter);

  in = k0200Ascii;
  in[in.find("C00000150")] = 'X';  // x+n sign
  e = m.Parse(in);
  EXPECT_EQ(e.field, 28);
  EXPECT_EQ(e.reason, ParseErrorReason::kBadCharacter);

  in = k0200Ascii;
  in[in.size() - 1] = 'Z';  // DE 52 hex in the ASCII dialect
  e = m.Parse(in);
  EXPECT_EQ(e.field, 52);
  EXPECT_EQ(e.reason, ParseErrorReason::kBadCharacter);
}

TEST(ParseErrors, BadBcdNibbles) {
  Message m(Bcd());
  std::string in = k0100Bcd;
  in[in.find(H("000123"))] = static_cast<char>(0x0A);  // DE 11 nibble A
  ParseError e = m.Parse(in);
  EXPECT_EQ(e.reason, ParseErrorReason::kBadCharacter);
  EXPECT_EQ(e.field, 11);

  in = k0100Bcd;
  in[in.find(H("0051"))] = static_cast<char>(0x10);  // DE 22: odd length, pad nibble must be 0
  e = m.Parse(in);
  EXPECT_EQ(e.reason, ParseErrorReason::kBadCharacter);
  EXPECT_EQ(e.field, 22);
  EXPECT_EQ(m.Get(41), "TERM0001");
}

TEST(ParseErrors, UndefinedField) {
  Dialect d = Ascii();
  d.name = "no-de-14";
  d.fields[14] = FieldSpec{};
  Message m(d);
  ParseError e = m.Parse(k0100Ascii);
  EXPECT_EQ(e.reason, ParseErrorReason::kUndefinedField);
  EXPECT_EQ(e.field, 14);
  EXPECT_EQ(e.offset, 72u);
  EXPECT_EQ(m.Get(11), "000123");  // fields before it were read
}

TEST(ParseErrors, TrailingBytes) {
  ParseError e = ParseAscii(k0100Ascii + "X");
  EXPECT_EQ(e.reason, ParseErrorReason::kTrailingBytes);
  EXPECT_EQ(e.offset, k0100Ascii.size());
  EXPECT_NE(e.ToString().find("trailing"), std::string::npos);
}

TEST(ParseErrors, ArenaFull) {
  // Seven 999-byte hex fields decode to 6993 bytes, more than the 4 KiB arena.
  Dialect d = Ascii();
  d.name = "big-hex";
  for (int n = 105; n <= 111; ++n) {
    d.fields[static_cast<size_t>(n)] = {ContentType::kB, LengthKind::kLllvar, 999,
                                        Encoding::kHexAscii, Encoding::kAscii};
  }
  std::string in = std::string("0100") + "8000000000000000" + "0000000000FE0000";
  for (int n = 105; n <= 111; ++n) in += "999" + std::string(1998, 'A');
  Message m(d);
  ParseError e = m.Parse(in);
  EXPECT_EQ(e.reason, ParseErrorReason::kArenaFull);
  EXPECT_EQ(e.field, 109);
  EXPECT_TRUE(m.Has(108));
}

TEST(ParseErrors, ParseErrorStatus) {
  EXPECT_TRUE(ParseError{}.ToStatus().ok());
  Status s = ParseAscii("01").ToStatus();
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(s.message(), "MTI at offset 0: truncated");
}

// Parsing a temporary std::string would leave views into freed memory: it does not compile.
template <typename T>
concept CanParse = requires(Message& m, T&& t) {
  m.Parse(std::forward<T>(t));
};
static_assert(!CanParse<std::string>);
static_assert(CanParse<const std::string&>);
static_assert(CanParse<std::string_view>);
static_assert(CanParse<const char (&)[5]>);

TEST(ParseErrors, ReparseReplacesPreviousContent) {
  Message m(Ascii());
  ASSERT_TRUE(m.Parse(k0100Ascii).ok());
  ASSERT_TRUE(m.Parse(k0800Ascii).ok());
  EXPECT_FALSE(m.Has(2));
  EXPECT_EQ(m.FieldCount(), 3);
}

// ---- Set / Get / Copy --------------------------------------------------------------------------

TEST(SetGet, PaddingRules) {
  Message m(Ascii());
  ASSERT_TRUE(m.Set(4, "1000").ok());
  EXPECT_EQ(m.Get(4), "000000001000");
  ASSERT_TRUE(m.Set(42, "SHOP1").ok());
  EXPECT_EQ(m.Get(42), "SHOP1          ");
  ASSERT_TRUE(m.Set(28, "D150").ok());
  EXPECT_EQ(m.Get(28), "D00000150");
  ASSERT_TRUE(m.Set(2, "411111111111").ok());  // variable: no padding
  EXPECT_EQ(m.Get(2), "411111111111");
}

TEST(SetGet, RejectsBadValuesNamingTheField) {
  Message m(Ascii());
  Status s = m.Set(4, "12a");
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("field 4"), std::string_view::npos) << s.ToString();
  EXPECT_FALSE(m.Set(2, std::string(20, '4')).ok());  // LLVAR 19 + 1
  EXPECT_TRUE(m.Set(2, std::string(19, '4')).ok());   // exactly max
  EXPECT_FALSE(m.Set(4, std::string(13, '1')).ok());  // fixed 12 + 1
  EXPECT_FALSE(m.Set(52, "short").ok());              // b must be exact
  EXPECT_FALSE(m.Set(28, "X100").ok());               // x+n sign
  EXPECT_FALSE(m.Set(28, "").ok());
  EXPECT_FALSE(m.Set(1, "x").ok());
  EXPECT_FALSE(m.Set(129, "x").ok());
  EXPECT_FALSE(m.Set(41, std::string("TERM\x7f", 5)).ok());
  EXPECT_FALSE(m.SetMti("010").ok());
  EXPECT_FALSE(m.SetMti("01a0").ok());
  Dialect d = Ascii();
  d.fields[5] = FieldSpec{};
  Message m2(d);
  EXPECT_NE(m2.Set(5, "1").message().find("not defined"), std::string_view::npos);
}

TEST(SetGet, SetUintAndGetUint) {
  Message m(Ascii());
  ASSERT_TRUE(m.SetUint(11, 42).ok());
  EXPECT_EQ(m.Get(11), "000042");
  EXPECT_EQ(*m.GetUint(11), 42u);
  ASSERT_TRUE(m.SetUint(2, 4111111111111111ULL).ok());
  EXPECT_EQ(m.Get(2), "4111111111111111");
  EXPECT_FALSE(m.SetUint(11, 1234567).ok());  // 7 digits in n6
  EXPECT_FALSE(m.SetUint(41, 1).ok());        // not numeric
  EXPECT_EQ(m.GetUint(12).status().code(), Status::Code::kNotFound);
  ASSERT_TRUE(m.Set(90, std::string(41, '0') + "7").ok());
  EXPECT_EQ(*m.GetUint(90), 7u);  // leading zeros beyond 20 digits are fine
  ASSERT_TRUE(m.Set(86, "9999999999999999").ok());
  EXPECT_EQ(*m.GetUint(86), 9999999999999999ULL);
  ASSERT_TRUE(m.Set(90, "1" + std::string(41, '0')).ok());
  EXPECT_FALSE(m.GetUint(90).ok());
}

TEST(SetGet, Amounts) {
  Message m(Bcd());
  ASSERT_TRUE(m.SetAmount(4, 49, Amount(1234, 978)).ok());
  EXPECT_EQ(m.Get(4), "000000001234");
  EXPECT_EQ(m.Get(49), "978");
  Result<Amount> a = m.GetAmount(4, 49);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, Amount(1234, 978));
  EXPECT_FALSE(m.SetAmount(4, 49, Amount(-1, 978)).ok());
  EXPECT_FALSE(m.SetAmount(4, 49, Amount(1'000'000'000'000, 978)).ok());  // 13 digits in n12
  EXPECT_EQ(m.GetAmount(5, 50).status().code(), Status::Code::kNotFound);
}

TEST(SetGet, CopyFieldEchoesAcrossDialects) {
  Message request(Bcd());
  ASSERT_TRUE(request.Parse(k0100Bcd).ok());
  Message response(Ascii());
  Result<std::array<char, 4>> mti = ResponseMti(request.mti());
  ASSERT_TRUE(mti.ok());
  ASSERT_TRUE(response.SetMti(std::string_view(mti->data(), 4)).ok());
  ASSERT_TRUE(response.CopyFieldsIfPresent(request, {3, 4, 7, 11, 41, 49, 62}).ok());
  ASSERT_TRUE(response.Set(38, "A1B2C3").ok());
  ASSERT_TRUE(response.Set(39, "00").ok());
  EXPECT_EQ(PackOrDie(response), k0110Ascii);
  EXPECT_EQ(response.CopyField(request, 62).code(), Status::Code::kNotFound);
}

TEST(SetGet, SetViewDoesNotCopy) {
  Message m(Ascii());
  const std::string stan = "000777";
  ASSERT_TRUE(m.SetView(11, stan).ok());
  EXPECT_EQ(m.Get(11).data(), stan.data());
  EXPECT_EQ(m.arena_used(), 0u);
  EXPECT_FALSE(m.SetView(11, "777").ok());  // no padding for views
}

TEST(SetGet, CopyConstructorRebasesArenaViews) {
  Message a(Bcd());
  ASSERT_TRUE(a.Parse(k0100Bcd).ok());
  Message b = a;
  a.Reset();
  ASSERT_TRUE(a.Set(11, "999999").ok());  // overwrite a's arena
  EXPECT_EQ(b.Get(11), "000123");
  EXPECT_EQ(PackOrDie(b), k0100Bcd);
}

TEST(SetGet, ClearAndIterate) {
  Message m(Ascii());
  Fill0400(m);
  std::vector<int> fields;
  m.ForEachField([&](int f, std::string_view) { fields.push_back(f); });
  EXPECT_EQ(fields, (std::vector<int>{2, 3, 4, 7, 11, 41, 49, 90}));
  m.Clear(90);
  EXPECT_FALSE(m.Has(90));
  EXPECT_EQ(m.NextField(49), 0);
  EXPECT_EQ(m.NextField(0), 2);
  EXPECT_EQ(PackOrDie(m).substr(4, 16), "7220000000808000");
}

TEST(SetGet, ArenaLimit) {
  Message m(Ascii());
  std::string big(999, 'x');
  int stored = 0;
  Status s;
  for (int field = 105; field <= 111 && s.ok(); ++field) {
    s = m.Set(field, big);
    if (s.ok()) ++stored;
  }
  EXPECT_EQ(stored, static_cast<int>(Message::kArenaBytes / 999));
  EXPECT_EQ(s.code(), Status::Code::kResourceExhausted);
}

TEST(Pack, ErrorsAndExactBufferSize) {
  Message m(Ascii());
  EXPECT_EQ(m.Pack(std::span<uint8_t>()).status().code(), Status::Code::kFailedPrecondition);
  Fill0100(m);
  std::vector<uint8_t> buffer(k0100Ascii.size());
  Result<size_t> n = m.Pack(buffer);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, k0100Ascii.size());
  for (size_t size = 0; size < k0100Ascii.size(); ++size) {
    std::vector<uint8_t> small(size);
    EXPECT_EQ(m.Pack(small).status().code(), Status::Code::kResourceExhausted) << size;
  }
}

TEST(Mti, ResponseMti) {
  EXPECT_EQ(std::string_view(ResponseMti("0100")->data(), 4), "0110");
  EXPECT_EQ(std::string_view(ResponseMti("0420")->data(), 4), "0430");
  EXPECT_EQ(std::string_view(ResponseMti("0800")->data(), 4), "0810");
  EXPECT_EQ(std::string_view(ResponseMti("0421")->data(), 4), "0430");
  EXPECT_EQ(std::string_view(ResponseMti("0101")->data(), 4), "0110");
  EXPECT_FALSE(ResponseMti("0110").ok());
  EXPECT_FALSE(ResponseMti("01").ok());
}

}  // namespace
}  // namespace kytkin::iso8583
