// Pan: a validated primary account number (12-19 digits, Luhn check digit).
//
// The clear digits are never printed by accident: there is no operator<<, no implicit conversion
// and no ToString. Display and logs use masked() ("411111******1111", first 6 and last 4), storage
// uses a keyed hash of clear_digits(). The digits live inline (no heap) and are wiped on
// destruction.
#pragma once

#include <array>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>

#include "core/status.h"

namespace kytkin {

class Pan {
 public:
  static constexpr size_t kMinDigits = 12;
  static constexpr size_t kMaxDigits = 19;

  // Validates length, digits and the Luhn check digit. The error message never contains the PAN.
  static Result<Pan> Parse(std::string_view digits);

  // True when `digits` are all decimal digits and pass the Luhn check (any length).
  static bool LuhnValid(std::string_view digits);
  // The Luhn check digit ('0'..'9') that completes `payload` (all decimal digits).
  static char LuhnCheckDigit(std::string_view payload);

  Pan(const Pan& other) = default;
  Pan& operator=(const Pan& other) = default;
  ~Pan();

  size_t size() const { return length_; }
  // The issuer identification prefix of `digits` length (6..11), for BIN routing.
  std::string_view bin(size_t digits = 6) const;
  // First 6, '*' for the middle, last 4: "411111******1111".
  std::string masked() const;
  // The clear PAN. Only for hashing, HMAC and packing into an outgoing message; never log it.
  std::string_view clear_digits() const { return {digits_.data(), length_}; }

  friend bool operator==(const Pan& a, const Pan& b) {
    return a.clear_digits() == b.clear_digits();
  }
  // Deliberately not streamable.
  friend std::ostream& operator<<(std::ostream&, const Pan&) = delete;

 private:
  Pan() = default;
  std::array<char, kMaxDigits> digits_{};
  uint8_t length_ = 0;
};

// Masks any digit string the same way (first 6, last 4), for fields such as track 2 equivalents;
// strings shorter than 11 characters are masked entirely.
std::string MaskDigits(std::string_view digits);

}  // namespace kytkin
