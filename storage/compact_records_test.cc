// The packed card and account records: every field survives Card -> CardRecord -> Card (limits at
// their maximum, every status, masked PANs of 12-19 digits), and bad fields are refused by name.
#include "storage/compact_records.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>

#include "core/pan.h"
#include "storage/store.h"
#include "storage/test_util.h"

namespace kytkin::storage {
namespace {

constexpr CardStatus kAllStatuses[] = {CardStatus::kActive,  CardStatus::kInactive,
                                       CardStatus::kBlocked, CardStatus::kLost,
                                       CardStatus::kStolen,  CardStatus::kExpired};

// A Luhn-valid PAN of `length` digits starting with `prefix`.
Pan PanOfLength(size_t length, std::string prefix = "4") {
  std::string payload = prefix;
  while (payload.size() < length - 1)
    payload.push_back(static_cast<char>('0' + payload.size() % 10));
  payload.push_back(Pan::LuhnCheckDigit(payload));
  auto pan = Pan::Parse(payload);
  EXPECT_TRUE(pan.ok()) << length;
  return std::move(pan).value();
}

Card FullCard(const Pan& pan) {
  Card c;
  c.token = CardTokenFor(testing::TestCardKey(), pan.clear_digits());
  c.masked_pan = pan.masked();
  c.account_id = std::numeric_limits<uint64_t>::max();
  c.expiry_year = 2099;
  c.expiry_month = 12;
  c.status = CardStatus::kActive;
  c.single_amount_max_minor = std::numeric_limits<int64_t>::max();
  c.daily_amount_max_minor = std::numeric_limits<int64_t>::max() - 1;
  c.daily_count_max = std::numeric_limits<uint32_t>::max();
  return c;
}

void ExpectSameCard(const Card& a, const Card& b) {
  EXPECT_EQ(a.token, b.token);
  EXPECT_EQ(a.masked_pan, b.masked_pan);
  EXPECT_EQ(a.account_id, b.account_id);
  EXPECT_EQ(a.expiry_year, b.expiry_year);
  EXPECT_EQ(a.expiry_month, b.expiry_month);
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.single_amount_max_minor, b.single_amount_max_minor);
  EXPECT_EQ(a.daily_amount_max_minor, b.daily_amount_max_minor);
  EXPECT_EQ(a.daily_count_max, b.daily_count_max);
}

TEST(CardTokenTest, HexRoundTripsThroughTheRawBytes) {
  const std::string token = CardTokenFor(testing::TestCardKey(), "4000000000000002");
  auto key = ParseCardToken(token);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(CardTokenHex(*key), token);
  auto zeros = ParseCardToken(std::string(64, '0'));
  ASSERT_TRUE(zeros.ok());
  EXPECT_EQ(*zeros, CardKey{});
  auto mixed = ParseCardToken("0123456789abcdef" + std::string(48, 'f'));
  ASSERT_TRUE(mixed.ok());
  EXPECT_EQ((*mixed)[0], 0x01);
  EXPECT_EQ((*mixed)[7], 0xef);
  EXPECT_EQ((*mixed)[31], 0xff);
}

TEST(CardTokenTest, MalformedTokensAreRefusedNamingTheField) {
  for (const std::string& bad :
       {std::string(), std::string(63, 'a'), std::string(65, 'a'), std::string(64, 'A'),
        std::string(63, 'a') + "g", std::string("tok_1"), std::string(32, '\0')}) {
    auto key = ParseCardToken(bad);
    ASSERT_FALSE(key.ok()) << bad;
    EXPECT_TRUE(key.status().code() == Status::Code::kInvalidArgument);
    EXPECT_NE(key.status().message().find("card_token"), std::string::npos)
        << key.status().ToString();
  }
}

TEST(CardRecordTest, EveryFieldRoundTripsAtItsLimits) {
  const Card card = FullCard(PanOfLength(16));
  auto packed = PackCard(card);
  ASSERT_TRUE(packed.ok()) << packed.status().ToString();
  ExpectSameCard(UnpackCard(*packed), card);

  Card zero = card;
  zero.account_id = 0;
  zero.single_amount_max_minor = 0;
  zero.daily_amount_max_minor = 0;
  zero.daily_count_max = 0;
  zero.expiry_year = 2000;
  zero.expiry_month = 1;
  auto packed_zero = PackCard(zero);
  ASSERT_TRUE(packed_zero.ok());
  ExpectSameCard(UnpackCard(*packed_zero), zero);
}

TEST(CardRecordTest, EveryStatusRoundTrips) {
  for (CardStatus status : kAllStatuses) {
    Card card = FullCard(PanOfLength(16));
    card.status = status;
    auto packed = PackCard(card);
    ASSERT_TRUE(packed.ok()) << CardStatusName(status);
    EXPECT_EQ(packed->status(), status);
    ExpectSameCard(UnpackCard(*packed), card);
    // set_status on a packed record touches only the status.
    for (CardStatus other : kAllStatuses) {
      packed->set_status(other);
      Card changed = card;
      changed.status = other;
      ExpectSameCard(UnpackCard(*packed), changed);
    }
  }
}

TEST(CardRecordTest, MaskedPansOfEveryLengthRoundTrip) {
  for (size_t length = Pan::kMinDigits; length <= Pan::kMaxDigits; ++length) {
    for (const char* prefix : {"4", "000001", "999999"}) {
      const Pan pan = PanOfLength(length, prefix);
      Card card = FullCard(pan);
      auto packed = PackCard(card);
      ASSERT_TRUE(packed.ok()) << length << " " << packed.status().ToString();
      EXPECT_EQ(packed->MaskedPan(), pan.masked()) << length;
      ExpectSameCard(UnpackCard(*packed), card);
    }
  }
}

TEST(CardRecordTest, EveryExpiryMonthOfTheRangeRoundTrips) {
  Card card = FullCard(PanOfLength(16));
  for (int year = kCardExpiryYearMin; year <= kCardExpiryYearMax; ++year) {
    for (int month = 1; month <= 12; ++month) {
      card.expiry_year = year;
      card.expiry_month = month;
      auto packed = PackCard(card);
      ASSERT_TRUE(packed.ok());
      ASSERT_EQ(packed->expiry_year(), year);
      ASSERT_EQ(packed->expiry_month(), month);
    }
  }
}

TEST(CardRecordTest, BadFieldsAreRefusedNamingTheField) {
  const Card good = FullCard(PanOfLength(16));
  struct Case {
    const char* field;
    void (*spoil)(Card&);
  };
  const Case cases[] = {
      {"card_token", [](Card& c) { c.token.pop_back(); }},
      {"card_token", [](Card& c) { c.token[0] = 'G'; }},
      {"masked_pan", [](Card& c) { c.masked_pan = "40000*0002"; }},            // 10 chars
      {"masked_pan", [](Card& c) { c.masked_pan = "400000**********0002"; }},  // 20 chars
      {"masked_pan", [](Card& c) { c.masked_pan = "4000a0******0002"; }},      // first 6
      {"masked_pan", [](Card& c) { c.masked_pan = "400000******00*2"; }},      // last 4
      {"masked_pan", [](Card& c) { c.masked_pan = "4000000000000002"; }},      // clear PAN
      {"expiry", [](Card& c) { c.expiry_year = 1999; }},
      {"expiry", [](Card& c) { c.expiry_year = 2100; }},
      {"expiry", [](Card& c) { c.expiry_month = 0; }},
      {"expiry", [](Card& c) { c.expiry_month = 13; }},
      {"status", [](Card& c) { c.status = static_cast<CardStatus>(0); }},
      {"status", [](Card& c) { c.status = static_cast<CardStatus>(7); }},
  };
  for (const Case& test : cases) {
    Card card = good;
    test.spoil(card);
    auto packed = PackCard(card);
    ASSERT_FALSE(packed.ok()) << test.field;
    EXPECT_TRUE(packed.status().code() == Status::Code::kInvalidArgument);
    EXPECT_NE(packed.status().message().find(test.field), std::string::npos)
        << packed.status().ToString();
  }
}

TEST(CardTableTest, FindsCardsByTheirRawKey) {
  CardTable table;
  for (uint64_t n = 1; n <= 20'000; ++n) {
    auto packed = PackCard(FullCard(testing::TestPan(n)));
    ASSERT_TRUE(packed.ok());
    packed->account_id = n;
    ASSERT_TRUE(table.Insert(*packed).second);
  }
  for (uint64_t n = 1; n <= 20'000; ++n) {
    auto key =
        ParseCardToken(CardTokenFor(testing::TestCardKey(), testing::TestPan(n).clear_digits()));
    ASSERT_TRUE(key.ok());
    const CardRecord* found = table.Find(*key);
    ASSERT_NE(found, nullptr) << n;
    EXPECT_EQ(found->account_id, n);
  }
  EXPECT_EQ(table.Find(CardKey{}), nullptr);
}

TEST(AccountRecordTest, FieldsRoundTripAndTheNameStaysOutside) {
  Account a;
  a.id = kSettlementAccountBase + 978;
  a.kind = AccountKind::kCardholderCredit;
  a.currency = 978;
  a.status = AccountStatus::kBlocked;
  a.flags = kFlagDebitsMustNotExceedCredits | (1u << 31);
  a.credit_limit_minor = std::numeric_limits<int64_t>::max();
  a.name = "issuer settlement 978";
  a.debits_posted = std::numeric_limits<int64_t>::max();
  a.credits_posted = std::numeric_limits<int64_t>::min();
  a.debits_pending = -1;
  a.credits_pending = 1;
  const AccountRecord r = ToAccountRecord(a);
  const Account back = ToAccount(r, a.name);
  EXPECT_EQ(back.id, a.id);
  EXPECT_EQ(back.kind, a.kind);
  EXPECT_EQ(back.currency, a.currency);
  EXPECT_EQ(back.status, a.status);
  EXPECT_EQ(back.flags, a.flags);
  EXPECT_EQ(back.credit_limit_minor, a.credit_limit_minor);
  EXPECT_EQ(back.name, a.name);
  EXPECT_EQ(back.debits_posted, a.debits_posted);
  EXPECT_EQ(back.credits_posted, a.credits_posted);
  EXPECT_EQ(back.debits_pending, a.debits_pending);
  EXPECT_EQ(back.credits_pending, a.credits_pending);
  EXPECT_EQ(ToAccount(r, "").name, "");
}

TEST(AccountRecordTest, AvailableIsTheSameAsAccounts) {
  for (AccountKind kind : {AccountKind::kCardholderDebit, AccountKind::kCardholderCredit,
                           AccountKind::kPrepaid, AccountKind::kMerchant}) {
    Account a;
    a.kind = kind;
    a.credit_limit_minor = 5'000;
    a.credits_posted = 10'000;
    a.debits_posted = 3'000;
    a.debits_pending = 1'000;
    const AccountRecord r = ToAccountRecord(a);
    EXPECT_EQ(r.balance(), a.balance());
    EXPECT_EQ(r.available(), a.available()) << AccountKindName(kind);
  }
}

TEST(AccountTableTest, SequentialIdsAreFoundAndMissingOnesAreNot) {
  AccountTable table;
  for (uint64_t id = 1; id <= 50'000; ++id) {
    AccountRecord r;
    r.id = id;
    r.credits_posted = static_cast<int64_t>(id);
    ASSERT_TRUE(table.Insert(r).second);
  }
  for (uint64_t id = 1; id <= 50'000; ++id) {
    ASSERT_NE(table.Find(id), nullptr) << id;
    EXPECT_EQ(table.Find(id)->credits_posted, static_cast<int64_t>(id));
  }
  EXPECT_EQ(table.Find(0), nullptr);
  EXPECT_EQ(table.Find(50'001), nullptr);
  EXPECT_EQ(table.Find(kSettlementAccountBase + 978), nullptr);
}

}  // namespace
}  // namespace kytkin::storage
