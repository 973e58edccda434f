#include "core/currency.h"

#include <algorithm>
#include <array>

namespace kytkin {
namespace {

// Sorted by numeric code (checked by a test).
constexpr std::array<Currency, 36> kCurrencies = {{
    {36, "AUD", 2},  {48, "BHD", 3},  {124, "CAD", 2}, {156, "CNY", 2}, {203, "CZK", 2},
    {208, "DKK", 2}, {344, "HKD", 2}, {348, "HUF", 2}, {352, "ISK", 0}, {356, "INR", 2},
    {360, "IDR", 2}, {376, "ILS", 2}, {392, "JPY", 0}, {410, "KRW", 0}, {414, "KWD", 3},
    {484, "MXN", 2}, {554, "NZD", 2}, {578, "NOK", 2}, {634, "QAR", 2}, {643, "RUB", 2},
    {682, "SAR", 2}, {702, "SGD", 2}, {710, "ZAR", 2}, {752, "SEK", 2}, {756, "CHF", 2},
    {764, "THB", 2}, {784, "AED", 2}, {826, "GBP", 2}, {840, "USD", 2}, {946, "RON", 2},
    {949, "TRY", 2}, {975, "BGN", 2}, {978, "EUR", 2}, {980, "UAH", 2}, {985, "PLN", 2},
    {986, "BRL", 2},
}};

}  // namespace

std::span<const Currency> KnownCurrencies() { return kCurrencies; }

std::optional<Currency> FindCurrency(uint16_t numeric) {
  auto it = std::lower_bound(kCurrencies.begin(), kCurrencies.end(), numeric,
                             [](const Currency& c, uint16_t n) { return c.numeric < n; });
  if (it == kCurrencies.end() || it->numeric != numeric) return std::nullopt;
  return *it;
}

std::optional<Currency> FindCurrency(std::string_view alpha) {
  for (const Currency& c : kCurrencies) {
    if (c.alpha == alpha) return c;
  }
  return std::nullopt;
}

std::optional<Currency> FindCurrencyCode(std::string_view code) {
  if (auto c = FindCurrency(code)) return c;
  if (code.empty() || code.size() > 3) return std::nullopt;
  uint16_t numeric = 0;
  for (char ch : code) {
    if (ch < '0' || ch > '9') return std::nullopt;
    numeric = static_cast<uint16_t>(numeric * 10 + (ch - '0'));
  }
  return FindCurrency(numeric);
}

}  // namespace kytkin
