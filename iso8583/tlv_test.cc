#include "iso8583/tlv.h"

#include <gtest/gtest.h>

#include <array>
#include <string>

#include "iso8583/message_json.h"

namespace kytkin::iso8583 {
namespace {

std::string H(std::string_view hex) { return *HexDecode(hex); }
std::span<const uint8_t> B(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
std::string Hex(std::span<const uint8_t> b) { return HexEncode(b); }

TEST(Tlv, ParsesMultiByteTagsLongLengthsNestingAndPadding) {
  const std::string in =
      H("9F2608 0102030405060708"            // two-byte tag
        "00 00"                              // padding between objects
        "5F2A02 0978"                        // two-byte tag 5F2A
        "70 0B 9F3602 0001 E1 04 8A02 3030"  // constructed 70 > 9F36, constructed E1 > 8A
        "9F7F81 80" +
        std::string(256, 'A') +  // long form 0x81: 128 bytes
        "DF8101 01 FF");         // three-byte tag DF8101
  std::array<TlvElement, 16> out;
  Result<size_t> n = ParseTlv(B(in), out);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  ASSERT_EQ(*n, 8u);
  EXPECT_EQ(out[0].tag, 0x9F26u);
  EXPECT_EQ(Hex(out[0].value), "0102030405060708");
  EXPECT_EQ(out[0].offset, 0u);
  EXPECT_EQ(out[1].tag, 0x5F2Au);
  EXPECT_EQ(out[2].tag, 0x70u);
  EXPECT_TRUE(out[2].constructed);
  EXPECT_EQ(out[3].tag, 0x9F36u);
  EXPECT_EQ(out[3].depth, 1);
  EXPECT_EQ(out[4].tag, 0xE1u);
  EXPECT_EQ(out[5].tag, 0x8Au);
  EXPECT_EQ(out[5].depth, 2);
  EXPECT_EQ(Hex(out[5].value), "3030");
  EXPECT_EQ(out[6].tag, 0x9F7Fu);
  EXPECT_EQ(out[6].value.size(), 128u);
  EXPECT_EQ(out[7].tag, 0xDF8101u);
  EXPECT_EQ(Hex(out[7].value), "FF");
}

TEST(Tlv, ThreeByteTagAndTwoByteLength) {
  const std::string value(300, '\x5a');
  const std::string in = H("DF8101 82012C") + value;
  std::array<TlvElement, 2> out;
  Result<size_t> n = ParseTlv(B(in), out);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(out[0].tag, 0xDF8101u);
  EXPECT_EQ(out[0].value.size(), 300u);
}

TEST(Tlv, Errors) {
  std::array<TlvElement, 8> out;
  auto err = [&](std::string_view hex) {
    Result<size_t> r = ParseTlv(B(H(hex)), out);
    return r.ok() ? std::string("ok") : std::string(r.status().message());
  };
  EXPECT_EQ(err("9F"), "TLV at offset 0: truncated tag");
  EXPECT_EQ(err("9F26"), "TLV at offset 0: truncated length");
  EXPECT_EQ(err("9F2608 0102"), "TLV at offset 0: value of 8 bytes runs past the end");
  EXPECT_EQ(err("9F26 80"), "TLV at offset 0: unsupported length form");
  EXPECT_EQ(err("9F26 85 0000000001 00"), "TLV at offset 0: unsupported length form");
  EXPECT_EQ(err("9F26 82 01"), "TLV at offset 0: truncated length");
  EXPECT_EQ(err("9F818181 01 00"), "TLV at offset 0: tag longer than 4 bytes");
  EXPECT_EQ(err("8A0130 9F2601"), "TLV at offset 3: value of 1 bytes runs past the end");
  EXPECT_EQ(err("70 08 71 06 72 04 73 02 74 00"),
            "TLV at offset 6: constructed tags nested too deep");
  EXPECT_EQ(err("70 03 9F2605"), "TLV at offset 2: value of 5 bytes runs past the end");
  std::array<TlvElement, 1> one;
  EXPECT_EQ(ParseTlv(B(H("8A01308A0130")), one).status().code(), Status::Code::kResourceExhausted);
  EXPECT_EQ(*ParseTlv({}, out), 0u);
}

TEST(TlvBuilder, BuildsAndRoundTrips) {
  std::array<uint8_t, 512> buffer;
  TlvBuilder b(buffer);
  ASSERT_TRUE(b.Add(0x9F26, B(H("0102030405060708"))).ok());
  ASSERT_TRUE(b.Open(0x70).ok());
  ASSERT_TRUE(b.Add(0x9F36, B(H("0001"))).ok());
  ASSERT_TRUE(b.Close().ok());
  Result<std::span<const uint8_t>> bytes = b.Finish();
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(Hex(*bytes),
            "9F26080102030405060708"
            "70059F36020001");
}

TEST(TlvBuilder, LongFormLengthsAndWideningOnClose) {
  std::array<uint8_t, 1024> buffer;
  TlvBuilder b(buffer);
  const std::string v200(200, 'x');
  ASSERT_TRUE(b.Open(0x77).ok());
  ASSERT_TRUE(b.Add(0x9F10, B(v200)).ok());  // 9F10 81C8 + 200
  ASSERT_TRUE(b.Close().ok());               // 77 81CC ...
  std::span<const uint8_t> out = *b.Finish();
  ASSERT_EQ(out.size(), 1u + 2u + 2u + 2u + 200u);
  EXPECT_EQ(Hex(out.subspan(0, 7)), "7781CC9F1081C8");
  std::array<TlvElement, 4> elements;
  ASSERT_EQ(*ParseTlv(out, elements), 2u);
  EXPECT_EQ(elements[1].value.size(), 200u);
  EXPECT_EQ(elements[1].depth, 1);
}

TEST(TlvBuilder, Errors) {
  std::array<uint8_t, 4> small;
  TlvBuilder b(small);
  EXPECT_EQ(b.Add(0x9F26, B(std::string(8, 'x'))).code(), Status::Code::kResourceExhausted);
  std::array<uint8_t, 64> buffer;
  TlvBuilder c(buffer);
  EXPECT_FALSE(c.Open(0x9F26).ok());  // primitive
  EXPECT_FALSE(c.Close().ok());
  EXPECT_FALSE(c.Add(0x1F, {}).ok());    // announces more bytes but has none
  EXPECT_FALSE(c.Add(0x9F81, {}).ok());  // last byte still chains
  ASSERT_TRUE(c.Open(0x70).ok());
  EXPECT_EQ(c.Finish().status().code(), Status::Code::kFailedPrecondition);
}

TEST(Tlv, Names) {
  EXPECT_EQ(EmvTagName(0x9F26), "Application Cryptogram");
  EXPECT_EQ(EmvTagName(0x5A), "Application PAN");
  EXPECT_EQ(EmvTagName(0x9F7F), "");
  EXPECT_EQ(TlvTagBytes(0x82), 1);
  EXPECT_EQ(TlvTagBytes(0xDF8101), 3);
  EXPECT_TRUE(TlvTagConstructed(0x70));
  EXPECT_TRUE(TlvTagConstructed(0xBF0C));
  EXPECT_FALSE(TlvTagConstructed(0x9F26));
}

}  // namespace
}  // namespace kytkin::iso8583
