// Test helpers for storage/ tests: temp dirs, PANs, accounts and cards.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <random>
#include <string>

#include "core/clock.h"
#include "core/pan.h"
#include "storage/store.h"

namespace kytkin::storage::testing {

inline constexpr uint16_t kEur = 978;
inline constexpr uint16_t kUsd = 840;
// 2026-06-15T12:00:00Z: a fixed "now" for tests.
inline constexpr int64_t kTestNowUnixUs = 1'781'524'800'000'000;

// A fresh directory under the system temp dir, removed on destruction.
class TempDir {
 public:
  TempDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "kytkin-storage-XXXXXX").string();
    path_ = ::mkdtemp(templ.data()) ? templ : "";
    EXPECT_FALSE(path_.empty());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A Luhn-valid 16-digit PAN made from n.
inline Pan TestPan(uint64_t n) {
  std::string digits = std::to_string(n % 100'000'000'000ull);
  std::string payload = "4000" + std::string(11 - digits.size(), '0') + digits;  // 15 digits
  payload.push_back(Pan::LuhnCheckDigit(payload));
  auto pan = Pan::Parse(payload);
  EXPECT_TRUE(pan.ok());
  return std::move(pan).value();
}

inline std::string TestCardKey() { return std::string(32, '\x5a'); }

inline Card TestCard(uint64_t account_id) {
  Card c;
  c.account_id = account_id;
  c.expiry_year = 2030;
  c.expiry_month = 12;
  return c;
}

inline Account TestAccount(uint64_t id, AccountKind kind = AccountKind::kCardholderDebit,
                           uint16_t currency = kEur) {
  Account a;
  a.id = id;
  a.kind = kind;
  a.currency = currency;
  a.name = "test " + std::to_string(id);
  return a;
}

// A settlement batch of terminal TERM0001 and merchant MERCHANT000001 (TestRequest's) in EUR on
// 2026-06-15 (the day of kTestNowUnixUs), paying into the given accounts, without a fee.
inline SettlementBatch TestSettlementBatch(std::string batch_id, uint64_t merchant_account,
                                           uint64_t acquirer_account, uint64_t fees_account,
                                           std::string acquirer_id = "100001") {
  SettlementBatch h;
  h.batch_id = std::move(batch_id);
  h.business_date = 20'619;  // 2026-06-15
  h.acquirer_id = std::move(acquirer_id);
  h.terminal_id = "TERM0001";
  h.merchant_id = "MERCHANT000001";
  h.currency = kEur;
  h.merchant_account = merchant_account;
  h.acquirer_account = acquirer_account;
  h.fees_account = fees_account;
  return h;
}

// A settlement item of TestSettlementBatch's terminal and merchant, as switch/settlement.cc
// ItemRequest makes it: numbered, keyed "stl|<batch>|<number>", without its authorization.
inline Request TestSettlementItem(Operation op, uint64_t number, int64_t minor,
                                  std::string batch = "B1") {
  Request r;
  r.operation = op;
  r.settlement_item_number = number;
  r.request_key = "stl|" + batch + "|" + std::to_string(number);
  r.batch_id = std::move(batch);
  r.amount = Amount(minor, kEur);
  r.terminal_id = "TERM0001";
  r.acquirer_id = "100001";
  r.merchant_id = "MERCHANT000001";
  r.mti = "0320";
  r.route = "settlement";
  r.channel = Channel::kCli;
  return r;
}

inline Request TestRequest(Operation op, const Pan& pan, int64_t minor, std::string key,
                           uint16_t currency = kEur) {
  Request r;
  r.operation = op;
  r.pan = pan;
  r.amount = Amount(minor, currency);
  r.request_key = std::move(key);
  r.terminal_id = "TERM0001";
  r.merchant_id = "MERCHANT000001";
  r.acquirer_id = "123456";
  r.stan = "000001";
  r.rrn = "000000000001";
  r.mti = "0100";
  return r;
}

inline Request OriginalRequest(Operation op, uint64_t original_transfer_id, int64_t minor,
                               std::string key) {
  Request r;
  r.operation = op;
  r.original_transfer_id = original_transfer_id;
  r.amount = Amount(minor, minor == 0 ? 0 : kEur);
  r.request_key = std::move(key);
  r.mti = op == Operation::kCapture ? "0220" : "0400";
  return r;
}

// The options store tests open with: `backend`, the database under `dir` ("" for the memory
// backend), the test card key, an injected clock, no background sweeper (tests sweep
// explicitly) and holds that expire after an hour.
inline StoreOptions TestStoreOptions(StoreOptions::Backend backend, const std::string& dir,
                                     const Clock* clock) {
  StoreOptions o;
  o.backend = backend;
  if (!dir.empty()) o.data_dir = dir + "/db";
  o.card_key = TestCardKey();
  o.clock = clock;
  o.sweep_interval_ms = 0;
  o.hold_ttl_seconds = 3600;
  return o;
}

// Fails the test for every ledger invariant (double entry, per-currency sum of zero, totals)
// and journal link (hash chain) the store reports broken.
inline void ExpectLedgerAndJournalOk(Store& store) {
  auto l = store.VerifyLedger();
  ASSERT_TRUE(l.ok());
  for (const auto& v : l->violations) ADD_FAILURE() << "ledger: " << v;
  auto j = store.VerifyJournal();
  ASSERT_TRUE(j.ok());
  for (const auto& v : j->violations) ADD_FAILURE() << "journal: " << v;
}

}  // namespace kytkin::storage::testing
