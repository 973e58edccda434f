#include "core/pan.h"

#include <algorithm>
#include <cstring>

#include <strings.h>

namespace kytkin {

Result<Pan> Pan::Parse(std::string_view digits) {
  if (digits.size() < kMinDigits || digits.size() > kMaxDigits) {
    return Status::InvalidArgument("PAN must have 12 to 19 digits, got " +
                                   std::to_string(digits.size()));
  }
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return Status::InvalidArgument("PAN must contain only digits");
  }
  if (!LuhnValid(digits)) return Status::InvalidArgument("PAN fails the Luhn check");
  Pan pan;
  std::memcpy(pan.digits_.data(), digits.data(), digits.size());
  pan.length_ = static_cast<uint8_t>(digits.size());
  return pan;
}

Pan::~Pan() { explicit_bzero(digits_.data(), digits_.size()); }

bool Pan::LuhnValid(std::string_view digits) {
  if (digits.empty()) return false;
  int sum = 0;
  bool twice = false;
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    if (*it < '0' || *it > '9') return false;
    int d = *it - '0';
    if (twice) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    twice = !twice;
  }
  return sum % 10 == 0;
}

char Pan::LuhnCheckDigit(std::string_view payload) {
  int sum = 0;
  bool twice = true;  // the check digit will take the rightmost place
  for (auto it = payload.rbegin(); it != payload.rend(); ++it) {
    int d = *it - '0';
    if (twice) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    twice = !twice;
  }
  return static_cast<char>('0' + (10 - sum % 10) % 10);
}

std::string_view Pan::bin(size_t digits) const {
  return clear_digits().substr(0, std::min<size_t>(digits, length_));
}

std::string Pan::masked() const { return MaskDigits(clear_digits()); }

std::string MaskDigits(std::string_view digits) {
  if (digits.size() < 11) return std::string(digits.size(), '*');
  std::string out(digits);
  std::fill(out.begin() + 6, out.end() - 4, '*');
  return out;
}

}  // namespace kytkin
