// Amount: money as int64 minor units plus an ISO 4217 numeric currency code. Never floating point.
//
// Parse and Format use the currency's exponent: "12.34" EUR is 1234 minor units, "1000" JPY is
// 1000. Arithmetic across currencies is a programmer error; the checked helpers report overflow.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/currency.h"
#include "core/status.h"

namespace kytkin {

class Amount {
 public:
  constexpr Amount() = default;
  constexpr Amount(int64_t minor_units, uint16_t currency_numeric)
      : minor_units_(minor_units), currency_(currency_numeric) {}

  // Parses a decimal major-unit string ("12.34", "-5", "0.5") for a known currency. At most the
  // currency's exponent digits after the point; no exponent notation, no thousands separators.
  static Result<Amount> Parse(std::string_view text, uint16_t currency_numeric);

  constexpr int64_t minor_units() const { return minor_units_; }
  constexpr uint16_t currency() const { return currency_; }

  // "12.34" (no currency code); uses exponent 2 for an unknown currency.
  std::string FormatMajor() const;
  // "12.34 EUR", or "12.34 (978)" for an unknown currency.
  std::string ToString() const;

  // Checked arithmetic: nullopt on overflow or a currency mismatch.
  std::optional<Amount> CheckedAdd(Amount other) const;
  std::optional<Amount> CheckedSub(Amount other) const;

  friend constexpr bool operator==(Amount, Amount) = default;

 private:
  int64_t minor_units_ = 0;
  uint16_t currency_ = 0;
};

}  // namespace kytkin
