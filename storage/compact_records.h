// Private to storage/: the packed in-memory forms of Card and Account that the store keeps for
// every card and account (10^7 of each within the issue 7 memory budget), and their tables.
//
// The public structs (store.h) carry strings - the card's 64-char hex token and masked PAN, the
// account's name - that would cost more than the rest of the record. The store converts at its
// API edge: a CardRecord holds the 32 raw HMAC bytes and the masked PAN as first 6 / last 4 /
// length; an AccountRecord drops the name (the store keeps the rare names beside the table).
// Sizes: CardRecord 84 bytes (68 + its velocity counters), AccountRecord 56 bytes, plus 4-8 bytes
// of FlatTable index each.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "core/status.h"
#include "storage/flat_table.h"
#include "storage/store.h"

namespace kytkin::storage {

// ---------------------------------------------------------------------------------------------
// Cards

inline constexpr size_t kCardKeyBytes = 32;  // HMAC-SHA256 output
using CardKey = std::array<uint8_t, kCardKeyBytes>;

// 64 lowercase hex digits (Card::token, Store::CardToken) -> the raw bytes. InvalidArgument,
// naming `card_token`, for any other length or character (uppercase included: tokens are only
// ever written in lowercase, and a token is compared as a whole in the journal and counters).
Result<CardKey> ParseCardToken(std::string_view hex);
// The raw bytes as 64 lowercase hex digits.
std::string CardTokenHex(const CardKey& key);

// A CardStatus value the store knows (a record keeps it in 3 bits).
constexpr bool IsKnownCardStatus(CardStatus s) {
  return s >= CardStatus::kActive && s <= CardStatus::kExpired;
}

// Expiry years a record can hold; the store accepts only these (ValidateCard).
inline constexpr int kCardExpiryYearMin = 2000;
inline constexpr int kCardExpiryYearMax = 2099;

// A 64-bit integer kept as two 32-bit words: reads and assigns like a T, but needs only 4-byte
// alignment, so an 84-byte record is not padded to 88 (40 MB at 10^7 cards). Unlike #pragma pack
// it leaves no misaligned member that a reference could bind to.
template <typename T>
class Unaligned64 {
 public:
  static_assert(sizeof(T) == 8);
  Unaligned64() = default;
  // Implicit both ways, so the record's fields read and assign like plain integers.
  Unaligned64(T v) { std::memcpy(words_, &v, sizeof v); }
  operator T() const {
    T v;
    std::memcpy(&v, words_, sizeof v);
    return v;
  }

 private:
  uint32_t words_[2] = {0, 0};
};

struct CardRecord {
  CardKey key{};
  Unaligned64<uint64_t> account_id;
  Unaligned64<int64_t> single_amount_max_minor;
  Unaligned64<int64_t> daily_amount_max_minor;
  uint32_t daily_count_max = 0;
  // The masked PAN ("411111******1111") as the number of its first 6 digits, its length (12-19
  // digits) and the number of its last 4 digits; the status as CardStatus's value.
  uint32_t pan_first6 : 20 = 0;
  uint32_t pan_length : 5 = 0;
  uint32_t status_value : 3 = static_cast<uint32_t>(CardStatus::kActive);
  uint16_t pan_last4 = 0;
  uint16_t expiry_months = 0;  // (expiry_year - kCardExpiryYearMin) * 12 + expiry_month - 1
  // The card's daily counters for its velocity limits (the store's; not part of Card): the UTC
  // day number they count, approved debits and their sum that day. Here rather than in a map
  // keyed by the hex token, which cost ~170 B for every card that ever transacted.
  uint32_t velocity_day = 0;
  uint32_t velocity_count = 0;
  Unaligned64<int64_t> velocity_amount_minor;

  CardStatus status() const { return static_cast<CardStatus>(status_value); }
  void set_status(CardStatus s) { status_value = static_cast<uint32_t>(s) & 0x7u; }
  int expiry_year() const { return kCardExpiryYearMin + expiry_months / 12; }
  int expiry_month() const { return expiry_months % 12 + 1; }
  // "411111******1111".
  std::string MaskedPan() const;
};
static_assert(sizeof(CardRecord) == 84, "CardRecord grew: it is paid 10^7 times");
static_assert(alignof(CardRecord) == 4);

// Card -> record. InvalidArgument (naming the field) when the token is not 64 hex digits, the
// masked PAN is not first 6 digits, '*'s and last 4 digits of 12-19 characters, the expiry is
// outside kCardExpiryYearMin..Max or month 1-12, or the status is unknown.
Result<CardRecord> PackCard(const Card& card);
// Record -> Card, with the hex token and masked PAN strings rebuilt. PackCard leaves the velocity
// counters zero and UnpackCard ignores them (the store keeps them on its own).
Card UnpackCard(const CardRecord& record);

struct CardTableTraits {
  using Key = CardKey;
  using Record = CardRecord;
  static const Key& KeyOf(const Record& r) { return r.key; }
  // The key is an HMAC output, uniformly random: its first 8 bytes are a good hash already.
  static uint64_t Hash(const Key& key) {
    uint64_t h;
    std::memcpy(&h, key.data(), sizeof h);
    return h;
  }
};
using CardTable = FlatTable<CardTableTraits>;

// ---------------------------------------------------------------------------------------------
// Accounts

// An Account without its name. Same fields, same meaning (store.h).
struct AccountRecord {
  uint64_t id = 0;
  int64_t credit_limit_minor = 0;
  int64_t debits_posted = 0;
  int64_t credits_posted = 0;
  int64_t debits_pending = 0;
  int64_t credits_pending = 0;
  uint32_t flags = 0;
  uint16_t currency = 0;
  AccountKind kind = AccountKind::kCardholderDebit;
  AccountStatus status = AccountStatus::kOpen;

  // As Account::balance() and Account::available().
  int64_t balance() const { return credits_posted - debits_posted; }
  int64_t available() const {
    int64_t available = balance() - debits_pending;
    if (kind == AccountKind::kCardholderCredit) available += credit_limit_minor;
    return available;
  }
};
static_assert(sizeof(AccountRecord) == 56, "AccountRecord grew: it is paid 10^7 times");

AccountRecord ToAccountRecord(const Account& account);  // drops the name
Account ToAccount(const AccountRecord& record, std::string_view name);

struct AccountTableTraits {
  using Key = uint64_t;
  using Record = AccountRecord;
  static const Key& KeyOf(const Record& r) { return r.id; }
  // Ids are chosen by callers (often 1, 2, 3...): mixed (splitmix64's finalizer) so that the
  // slot (low bits) and the tag (high bits) both depend on every bit of the id.
  static uint64_t Hash(uint64_t id) {
    id ^= id >> 30;
    id *= 0xbf58476d1ce4e5b9ull;
    id ^= id >> 27;
    id *= 0x94d049bb133111ebull;
    id ^= id >> 31;
    return id;
  }
};
using AccountTable = FlatTable<AccountTableTraits>;

}  // namespace kytkin::storage
