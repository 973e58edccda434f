#include "storage/compact_records.h"

#include <array>
#include <charconv>

#include "core/pan.h"

namespace kytkin::storage {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";
constexpr size_t kMaskedFirstDigits = 6;
constexpr size_t kMaskedLastDigits = 4;
constexpr int kMonthsPerYear = 12;

// Value of each lowercase hex digit, kNotHex for every other byte: one table load per character
// instead of a chain of range checks (the parse runs on every look-up by token).
constexpr uint8_t kNotHex = 0xff;
constexpr std::array<uint8_t, 256> kHexValues = [] {
  std::array<uint8_t, 256> values{};
  values.fill(kNotHex);
  for (int i = 0; i < 10; ++i) values['0' + i] = static_cast<uint8_t>(i);
  for (int i = 0; i < 6; ++i) values['a' + i] = static_cast<uint8_t>(10 + i);
  return values;
}();

bool AllDigits(std::string_view s) {
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// Writes `value` as exactly `width` decimal digits (leading zeros) at `out`.
void AppendDigits(uint32_t value, size_t width, char* out) {
  for (size_t i = width; i > 0; --i) {
    out[i - 1] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
}

uint32_t DigitsValue(std::string_view digits) {
  uint32_t v = 0;
  std::from_chars(digits.data(), digits.data() + digits.size(), v);
  return v;
}

}  // namespace

Result<CardKey> ParseCardToken(std::string_view hex) {
  if (hex.size() != 2 * kCardKeyBytes) {
    return Status::InvalidArgument("card_token: want 64 lowercase hex digits, got " +
                                   std::to_string(hex.size()) + " characters");
  }
  CardKey key{};
  uint8_t bad = 0;  // any kNotHex sets the high bits; checked once after the loop
  for (size_t i = 0; i < kCardKeyBytes; ++i) {
    const uint8_t hi = kHexValues[static_cast<uint8_t>(hex[2 * i])];
    const uint8_t lo = kHexValues[static_cast<uint8_t>(hex[2 * i + 1])];
    bad |= hi | lo;
    key[i] = static_cast<uint8_t>(hi << 4 | (lo & 0xf));
  }
  if (bad & 0xf0)
    return Status::InvalidArgument("card_token: want 64 lowercase hex digits (0-9a-f)");
  return key;
}

std::string CardTokenHex(const CardKey& key) {
  std::string hex(2 * kCardKeyBytes, '0');
  for (size_t i = 0; i < kCardKeyBytes; ++i) {
    hex[2 * i] = kHexDigits[key[i] >> 4];
    hex[2 * i + 1] = kHexDigits[key[i] & 0xf];
  }
  return hex;
}

std::string CardRecord::MaskedPan() const {
  // First 6 digits, length - 10 '*', last 4 digits (Pan::masked()).
  std::string masked(pan_length, '*');
  AppendDigits(pan_first6, kMaskedFirstDigits, masked.data());
  AppendDigits(pan_last4, kMaskedLastDigits, masked.data() + masked.size() - kMaskedLastDigits);
  return masked;
}

Result<CardRecord> PackCard(const Card& card) {
  CardRecord r;
  auto key = ParseCardToken(card.token);
  if (!key.ok()) return key.status();
  r.key = *key;

  const std::string_view masked = card.masked_pan;
  if (masked.size() < Pan::kMinDigits || masked.size() > Pan::kMaxDigits) {
    return Status::InvalidArgument("masked_pan: want 12-19 characters");
  }
  const std::string_view first = masked.substr(0, kMaskedFirstDigits);
  const std::string_view last = masked.substr(masked.size() - kMaskedLastDigits);
  const std::string_view middle =
      masked.substr(kMaskedFirstDigits, masked.size() - kMaskedFirstDigits - kMaskedLastDigits);
  if (!AllDigits(first) || !AllDigits(last) ||
      middle.find_first_not_of('*') != std::string_view::npos) {
    return Status::InvalidArgument("masked_pan: want the first 6 digits, '*'s, the last 4 digits");
  }
  r.pan_first6 = DigitsValue(first);
  r.pan_last4 = static_cast<uint16_t>(DigitsValue(last));
  r.pan_length = static_cast<uint32_t>(masked.size());

  if (card.expiry_month < 1 || card.expiry_month > kMonthsPerYear) {
    return Status::InvalidArgument("expiry: month must be 01..12");
  }
  if (card.expiry_year < kCardExpiryYearMin || card.expiry_year > kCardExpiryYearMax) {
    return Status::InvalidArgument("expiry: year must be 2000..2099");
  }
  r.expiry_months = static_cast<uint16_t>((card.expiry_year - kCardExpiryYearMin) * kMonthsPerYear +
                                          card.expiry_month - 1);
  if (!IsKnownCardStatus(card.status)) {
    return Status::InvalidArgument("status: unknown card status");
  }
  r.set_status(card.status);
  r.account_id = card.account_id;
  r.single_amount_max_minor = card.single_amount_max_minor;
  r.daily_amount_max_minor = card.daily_amount_max_minor;
  r.daily_count_max = card.daily_count_max;
  return r;
}

Card UnpackCard(const CardRecord& r) {
  Card c;
  c.token = CardTokenHex(r.key);
  c.masked_pan = r.MaskedPan();
  c.account_id = r.account_id;
  c.expiry_year = r.expiry_year();
  c.expiry_month = r.expiry_month();
  c.status = r.status();
  c.single_amount_max_minor = r.single_amount_max_minor;
  c.daily_amount_max_minor = r.daily_amount_max_minor;
  c.daily_count_max = r.daily_count_max;
  return c;
}

AccountRecord ToAccountRecord(const Account& a) {
  AccountRecord r;
  r.id = a.id;
  r.credit_limit_minor = a.credit_limit_minor;
  r.debits_posted = a.debits_posted;
  r.credits_posted = a.credits_posted;
  r.debits_pending = a.debits_pending;
  r.credits_pending = a.credits_pending;
  r.flags = a.flags;
  r.currency = a.currency;
  r.kind = a.kind;
  r.status = a.status;
  return r;
}

Account ToAccount(const AccountRecord& r, std::string_view name) {
  Account a;
  a.id = r.id;
  a.kind = r.kind;
  a.currency = r.currency;
  a.status = r.status;
  a.flags = r.flags;
  a.credit_limit_minor = r.credit_limit_minor;
  a.name = std::string(name);
  a.debits_posted = r.debits_posted;
  a.credits_posted = r.credits_posted;
  a.debits_pending = r.debits_pending;
  a.credits_pending = r.credits_pending;
  return a;
}

}  // namespace kytkin::storage
