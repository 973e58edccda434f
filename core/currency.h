// ISO 4217 currencies known to kytkin: numeric code, alphabetic code and minor-unit exponent.
// The table is static; an unknown numeric code is an ordinary "not found" (the switch answers 13).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace kytkin {

struct Currency {
  uint16_t numeric = 0;    // ISO 4217 numeric, e.g. 978
  std::string_view alpha;  // ISO 4217 alphabetic, e.g. "EUR"
  uint8_t exponent = 2;    // digits after the decimal point in major units
};

// The known currencies, sorted by numeric code.
std::span<const Currency> KnownCurrencies();
std::optional<Currency> FindCurrency(uint16_t numeric);
std::optional<Currency> FindCurrency(std::string_view alpha);  // case-sensitive, "EUR"
// A code as operators write it in files and flags: alphabetic ("EUR") or 1-3 digits ("978").
std::optional<Currency> FindCurrencyCode(std::string_view code);

}  // namespace kytkin
