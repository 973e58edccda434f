#include "switch/demo.h"

#include <array>
#include <iomanip>

#include "core/pan.h"

namespace kytkin {
namespace {

using storage::Account;
using storage::AccountKind;
using storage::Card;
using storage::CardStatus;

constexpr uint16_t kEur = 978;

struct DemoAccount {
  uint64_t id;
  AccountKind kind;
  std::string_view name;
  int64_t opening_minor;
  int64_t credit_limit_minor;
};

constexpr std::array<DemoAccount, 10> kAccounts = {{
    {1001, AccountKind::kMerchant, "Kahvila Kytkin, Helsinki Kamppi (KYTKINMERCH0001)", 0, 0},
    {1002, AccountKind::kMerchant, "Kahvila Kytkin, Espoo Tapiola (KYTKINMERCH0002)", 0, 0},
    {1003, AccountKind::kMerchant, "Kahvila Kytkin, Tampere Keskusta (KYTKINMERCH0003)", 0, 0},
    {9001, AccountKind::kAcquirerSettlement, "Demo acquirer 100001 settlement", 0, 0},
    {9002, AccountKind::kFees, "kytkin fees", 0, 0},
    {2001, AccountKind::kCardholderDebit, "Aino Virtanen, debit", 100'000, 0},
    {2002, AccountKind::kCardholderCredit, "Eero Korhonen, credit (limit 2000.00)", 0, 200'000},
    {2003, AccountKind::kPrepaid, "Gift card (inactive until activated)", 0, 0},
    {2004, AccountKind::kCardholderDebit, "Liisa Nieminen, debit, low balance", 500, 0},
    {2005, AccountKind::kCardholderDebit, "Matti Mäkinen, debit (lost and expired cards)", 50'000,
     0},
}};

struct DemoCardRow {
  DemoCard card;
  uint64_t account;
  CardStatus status;
  int64_t single_max_minor;
  int64_t daily_max_minor;
  uint32_t daily_count_max;
};

constexpr std::array<DemoCardRow, 6> kCards = {{
    {{"4111111111111111", "3012", "debit, 1000.00 EUR, limits 500.00 / 1500.00 a day / 20 a day"},
     2001,
     CardStatus::kActive,
     50'000,
     150'000,
     20},
    {{"5555555555554444", "2912", "credit, limit 2000.00 EUR"}, 2002, CardStatus::kActive, 0, 0, 0},
    {{"6036280000000000017", "3106", "gift card, inactive: activate with `kytkin term activate`"},
     2003,
     CardStatus::kInactive,
     0,
     0,
     0},
    {{"4000056655665556", "3012", "debit, 5.00 EUR (declines 51 above that)"},
     2004,
     CardStatus::kActive,
     0,
     0,
     0},
    {{"4000000000000002", "3012", "debit, reported lost (declines 41)"},
     2005,
     CardStatus::kLost,
     0,
     0,
     0},
    {{"4000000000000069", "2001", "debit, expired January 2020 (declines 54)"},
     2005,
     CardStatus::kActive,
     0,
     0,
     0},
}};

std::array<DemoCard, kCards.size()> MakeCardList() {
  std::array<DemoCard, kCards.size()> out{};
  for (size_t i = 0; i < kCards.size(); ++i) out[i] = kCards[i].card;
  return out;
}

}  // namespace

std::span<const DemoCard> DemoCards() {
  static const auto cards = MakeCardList();
  return cards;
}

Status SeedDemoData(storage::Store& store, std::ostream& out) {
  for (const DemoAccount& d : kAccounts) {
    if (store.GetAccount(d.id).ok()) continue;
    Account a;
    a.id = d.id;
    a.kind = d.kind;
    a.currency = kEur;
    a.name = d.name;
    a.credit_limit_minor = d.credit_limit_minor;
    if (d.kind == AccountKind::kCardholderDebit || d.kind == AccountKind::kPrepaid) {
      a.flags = storage::kFlagDebitsMustNotExceedCredits;
    }
    Status s = store.CreateAccount(a, d.opening_minor);
    if (!s.ok() && s.code() != Status::Code::kAlreadyExists) return s;
  }
  for (const DemoCardRow& row : kCards) {
    auto pan = Pan::Parse(row.card.pan);
    if (!pan.ok()) return Status::Internal("demo card number is invalid");
    Card c;
    c.account_id = row.account;
    c.expiry_year = 2000 + (row.card.expiry_yymm[0] - '0') * 10 + (row.card.expiry_yymm[1] - '0');
    c.expiry_month = (row.card.expiry_yymm[2] - '0') * 10 + (row.card.expiry_yymm[3] - '0');
    c.status = row.status;
    c.single_amount_max_minor = row.single_max_minor;
    c.daily_amount_max_minor = row.daily_max_minor;
    c.daily_count_max = row.daily_count_max;
    auto created = store.CreateCard(*pan, c);
    if (!created.ok() && created.status().code() != Status::Code::kAlreadyExists) {
      return created.status();
    }
  }
  out << "demo data: 3 shops of the Kahvila Kytkin chain (merchants KYTKINMERCH0001..0003,\n"
         "terminals TERM0001..0003, acquirer 100001), cards (public test numbers, EUR):\n";
  for (const DemoCardRow& row : kCards) {
    out << "  " << std::left << std::setw(20) << row.card.pan << " exp " << row.card.expiry_yymm
        << "  " << row.card.description << "\n";
  }
  return Status::Ok();
}

}  // namespace kytkin
