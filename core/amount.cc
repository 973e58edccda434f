#include "core/amount.h"

#include <cstdlib>
#include <limits>

namespace kytkin {
namespace {

uint8_t ExponentOf(uint16_t currency) {
  auto c = FindCurrency(currency);
  return c ? c->exponent : 2;
}

}  // namespace

Result<Amount> Amount::Parse(std::string_view text, uint16_t currency_numeric) {
  auto currency = FindCurrency(currency_numeric);
  if (!currency) return Status::InvalidArgument("unknown currency " + std::to_string(currency_numeric));
  if (text.empty()) return Status::InvalidArgument("empty amount");
  bool negative = false;
  if (text.front() == '-' || text.front() == '+') {
    negative = text.front() == '-';
    text.remove_prefix(1);
  }
  std::string_view whole = text;
  std::string_view fraction;
  if (auto dot = text.find('.'); dot != std::string_view::npos) {
    whole = text.substr(0, dot);
    fraction = text.substr(dot + 1);
    if (fraction.empty()) return Status::InvalidArgument("amount ends with '.'");
  }
  if (whole.empty()) return Status::InvalidArgument("amount has no digits before '.'");
  if (fraction.size() > currency->exponent) {
    return Status::InvalidArgument("amount has more than " + std::to_string(currency->exponent) +
                                   " decimals for " + std::string(currency->alpha));
  }
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  int64_t minor = 0;
  auto push_digit = [&](char ch) -> bool {
    if (ch < '0' || ch > '9') return false;
    int digit = ch - '0';
    if (minor > (kMax - digit) / 10) return false;
    minor = minor * 10 + digit;
    return true;
  };
  for (char ch : whole) {
    if (!push_digit(ch)) return Status::InvalidArgument("amount is not a number or too large");
  }
  for (size_t i = 0; i < currency->exponent; ++i) {
    char ch = i < fraction.size() ? fraction[i] : '0';
    if (!push_digit(ch)) return Status::InvalidArgument("amount is not a number or too large");
  }
  return Amount(negative ? -minor : minor, currency_numeric);
}

std::string Amount::FormatMajor() const {
  const uint8_t exponent = ExponentOf(currency_);
  // Work on the magnitude as unsigned so INT64_MIN formats correctly.
  uint64_t magnitude = minor_units_ < 0 ? uint64_t{0} - static_cast<uint64_t>(minor_units_)
                                        : static_cast<uint64_t>(minor_units_);
  std::string digits = std::to_string(magnitude);
  if (digits.size() <= exponent) digits.insert(0, exponent + 1 - digits.size(), '0');
  std::string out = minor_units_ < 0 ? "-" : "";
  out += digits.substr(0, digits.size() - exponent);
  if (exponent > 0) {
    out += '.';
    out += digits.substr(digits.size() - exponent);
  }
  return out;
}

std::string Amount::ToString() const {
  auto c = FindCurrency(currency_);
  return FormatMajor() + (c ? " " + std::string(c->alpha) : " (" + std::to_string(currency_) + ")");
}

std::optional<Amount> Amount::CheckedAdd(Amount other) const {
  int64_t sum = 0;
  if (currency_ != other.currency_ || __builtin_add_overflow(minor_units_, other.minor_units_, &sum))
    return std::nullopt;
  return Amount(sum, currency_);
}

std::optional<Amount> Amount::CheckedSub(Amount other) const {
  int64_t diff = 0;
  if (currency_ != other.currency_ ||
      __builtin_sub_overflow(minor_units_, other.minor_units_, &diff))
    return std::nullopt;
  return Amount(diff, currency_);
}

}  // namespace kytkin
