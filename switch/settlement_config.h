// SettlementConfig: the [settlement] table of the configuration (README, "Settlement").
//
// Read by ParseServeToml (config.h) like every other table: an unknown key, a wrong type or an
// out-of-range value stops start-up with a message naming the key.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "core/status.h"

namespace kytkin {

// Where one merchant (DE 42) is paid and what it pays ([settlement.merchants."ID"]).
struct MerchantSettlement {
  // The merchant's ledger account (kind merchant, the batch currency). Required.
  uint64_t account = 0;
  // The merchant's fee: basis points of the gross (150 = 1.5 %), range 0..10000, plus a fixed
  // amount per capture in minor units, >= 0. Default: the [settlement] fee_bps / fee_fixed_minor.
  int64_t fee_bps = -1;          // -1: the default
  int64_t fee_fixed_minor = -1;  // -1: the default
};

// How DE 97 (the 0500/0510 net amount, "C"/"D" + 16 digits) is signed. Hosts differ.
enum class NetAmountSign : uint8_t {
  // "debits_minus_credits": captures (DE 88) minus debit reversals (DE 89) minus refunds
  // (DE 86); 'C' when that is >= 0, so a sales batch is 'C' (kytkin's original behaviour).
  kDebitsMinusCredits,
  // "credits_minus_debits": the negation; a sales batch is 'D', a refunds-only batch 'C'. A net
  // of 0 is 'C' either way.
  kCreditsMinusDebits,
};

struct SettlementConfig {
  // Daily cut-over, "HH:MM" UTC: closes (pays out) every batch of the ending business date and
  // moves the business date on. A batch opened before it belongs to the business date that ends
  // at it. Default "00:00" (the business date is the UTC date).
  uint32_t cutover_minute_utc = 0;
  // A capture may exceed its authorization (tips) by at most min(hold * bps / 10000, max).
  // Defaults 2000 (20 %) and 2000 minor units (20.00); 0 forbids any excess.
  uint32_t capture_tolerance_bps = 2000;
  int64_t capture_tolerance_minor_max = 2000;
  // Ledger accounts the payout uses: the acquirer's settlement account (pays the merchants) and
  // kytkin's fee account. Defaults 9001 and 9002 (the demo data's).
  uint64_t acquirer_account = 9001;
  uint64_t fees_account = 9002;
  // The fee of merchants without their own: basis points of the gross (0..10000) and minor units
  // per capture. Defaults 0 and 0.
  uint32_t fee_bps = 0;
  int64_t fee_fixed_minor = 0;
  // Merchant id (DE 42) -> payout account and fee. A merchant id that is not listed but is all
  // digits is taken as the account id itself. Default: none.
  std::map<std::string, MerchantSettlement, std::less<>> merchants;
  // Items of one batch submitted to the ledger and not yet decided; the submitter waits at this
  // many (bounds memory whatever the batch size). Range 1..65536, default 8192.
  uint32_t window_items_max = 8192;
  // The DE 97 sign convention of 0500 requests and 0510 answers, key de97_sign:
  // "debits_minus_credits" (the default) or "credits_minus_debits" (see NetAmountSign).
  NetAmountSign de97_sign = NetAmountSign::kDebitsMinusCredits;
};

Status ValidateSettlementConfig(const SettlementConfig& config);

// "22:00" -> minutes after midnight.
Result<uint32_t> ParseCutover(std::string_view text);
std::string FormatCutover(uint32_t minute_utc);

}  // namespace kytkin
