// Stand-in processing: kytkin decides in the issuer's place, within limits the issuer agreed to,
// when the issuer cannot answer (links down, or no answer before the deadline).
//
// EvaluateStandIn is a pure function of (rule, request, the card's counters for the day). The
// caller owns the counters (storage keeps them per card and day, keyed by the PAN token), decides
// where a day starts, and adds an approval to them after it is journaled. Limits are inclusive:
// an amount equal to max_transaction_minor is approved, one minor unit more is not.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/amount.h"
#include "core/response_code.h"

namespace kytkin::routing {

struct StandInRule {
  // Off by default: stand-in is a risk the issuer must opt into.
  bool enabled = false;
  // ISO 4217 numeric currency of the three amount limits below. A request in another currency is
  // outside the limits (kytkin does not convert currencies).
  uint16_t currency = 0;
  // Largest amount of one transaction, minor units, inclusive.
  int64_t max_transaction_minor = 0;
  // Largest sum of the card's stand-in approvals in one day including this one, minor units,
  // inclusive.
  int64_t max_daily_minor = 0;
  // Largest number of the card's stand-in approvals in one day including this one, inclusive.
  uint32_t max_daily_count = 0;
  // Processing codes (DE 3) allowed: a 2-digit entry matches the transaction type ("00" purchase,
  // "01" cash), a 6-digit entry matches DE 3 exactly. Empty allows nothing.
  std::vector<std::string> processing_codes;
  // The answer when the request is outside the rule (91 issuer unavailable by default).
  ResponseCode decline_response = ResponseCode::kIssuerUnavailable;
  uint32_t line = 0;  // source line in the table file, 0 when built in code; used in errors
};

struct StandInRequest {
  Amount amount;                     // the amount asked for
  std::string_view processing_code;  // DE 3, 6 digits
};

// What the card has been approved in stand-in during the current day, before this request.
struct CardDayCounters {
  int64_t approved_minor = 0;  // in the rule's currency
  uint32_t approved_count = 0;
};

enum class StandInOutcome : uint8_t {
  kApproved,
  kDisabled,                  // the issuer has no stand-in
  kProcessingCodeNotAllowed,  // DE 3 not in processing_codes
  kCurrencyMismatch,          // the request's currency is not the rule's
  kInvalidAmount,             // zero or negative
  kOverTransactionLimit,      // amount > max_transaction_minor
  kOverDailyAmount,           // approved_minor + amount > max_daily_minor
  kOverDailyCount,            // approved_count + 1 > max_daily_count
};

struct StandInDecision {
  StandInOutcome outcome = StandInOutcome::kDisabled;
  ResponseCode response = ResponseCode::kIssuerUnavailable;  // 00 when approved

  bool approved() const { return outcome == StandInOutcome::kApproved; }
};

[[nodiscard]] StandInDecision EvaluateStandIn(const StandInRule& rule,
                                              const StandInRequest& request,
                                              const CardDayCounters& counters);

// "over daily amount"; for logs and the journal.
std::string_view StandInOutcomeName(StandInOutcome outcome);

}  // namespace kytkin::routing
