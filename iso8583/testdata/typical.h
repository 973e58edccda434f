// Typical messages for tests, fuzz seeds and benchmarks: a chip-card 0100 of 15 fields (DE 35
// track 2 and 111 bytes of DE 55 EMV data) and the 0110 a switch builds from it. Test-only data:
// the PAN is a well-known test number.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "iso8583/message.h"

namespace kytkin::iso8583::testdata {

// 16 EMV tags: 9F26 9F27 9F10 9F37 9F36 95 9A 9C 9F02 5F2A 82 9F1A 9F03 9F33 9F34 9F35.
inline constexpr std::array<uint8_t, 111> kEmvData = {
    0x9F, 0x26, 0x08, 0x1A, 0x2B, 0x3C, 0x4D, 0x5E, 0x6F, 0x70, 0x81, 0x9F, 0x27, 0x01, 0x80, 0x9F,
    0x10, 0x12, 0x01, 0x10, 0xA0, 0x00, 0x03, 0x22, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0xFF, 0x9F, 0x37, 0x04, 0x1F, 0x2E, 0x3D, 0x4C, 0x9F, 0x36, 0x02, 0x00, 0x42,
    0x95, 0x05, 0x00, 0x00, 0x00, 0x80, 0x00, 0x9A, 0x03, 0x26, 0x11, 0x26, 0x9C, 0x01, 0x00, 0x9F,
    0x02, 0x06, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x5F, 0x2A, 0x02, 0x09, 0x78, 0x82, 0x02, 0x19,
    0x80, 0x9F, 0x1A, 0x02, 0x02, 0x46, 0x9F, 0x03, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x9F,
    0x33, 0x03, 0xE0, 0xF8, 0xC8, 0x9F, 0x34, 0x03, 0x42, 0x03, 0x00, 0x9F, 0x35, 0x01, 0x22};

// Fields 2, 3, 4, 7, 11, 12, 13, 22, 25, 35, 37, 41, 42, 49, 55.
[[nodiscard]] inline Status FillTypical0100(Message& m) {
  m.Reset();
  KYTKIN_RETURN_IF_ERROR(m.SetMti("0100"));
  KYTKIN_RETURN_IF_ERROR(m.Set(2, "4761739001010010"));
  KYTKIN_RETURN_IF_ERROR(m.Set(3, "000000"));
  KYTKIN_RETURN_IF_ERROR(m.Set(4, "000000001000"));
  KYTKIN_RETURN_IF_ERROR(m.Set(7, "1126234500"));
  KYTKIN_RETURN_IF_ERROR(m.Set(11, "000123"));
  KYTKIN_RETURN_IF_ERROR(m.Set(12, "234500"));
  KYTKIN_RETURN_IF_ERROR(m.Set(13, "1126"));
  KYTKIN_RETURN_IF_ERROR(m.Set(22, "051"));
  KYTKIN_RETURN_IF_ERROR(m.Set(25, "00"));
  KYTKIN_RETURN_IF_ERROR(m.Set(35, "4761739001010010=22122011143804400000"));
  KYTKIN_RETURN_IF_ERROR(m.Set(37, "633012000123"));
  KYTKIN_RETURN_IF_ERROR(m.Set(41, "TERM0001"));
  KYTKIN_RETURN_IF_ERROR(m.Set(42, "MERCHANT0000001"));
  KYTKIN_RETURN_IF_ERROR(m.Set(49, "978"));
  KYTKIN_RETURN_IF_ERROR(m.SetBytes(55, kEmvData));
  return Status::Ok();
}

// The approval a switch sends back: the request's key fields echoed, DE 38 and 39 added.
[[nodiscard]] inline Status BuildTypical0110(const Message& request, Message& response) {
  response.Reset();
  Result<std::array<char, 4>> mti = ResponseMti(request.mti());
  if (!mti.ok()) return mti.status();
  KYTKIN_RETURN_IF_ERROR(response.SetMti(std::string_view(mti->data(), mti->size())));
  KYTKIN_RETURN_IF_ERROR(
      response.CopyFieldsIfPresent(request, {3, 4, 7, 11, 12, 13, 37, 41, 42, 49}));
  KYTKIN_RETURN_IF_ERROR(response.Set(38, "A1B2C3"));
  KYTKIN_RETURN_IF_ERROR(response.Set(39, "00"));
  return Status::Ok();
}

}  // namespace kytkin::iso8583::testdata
