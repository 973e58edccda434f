#include "routing/stand_in.h"

#include <algorithm>

namespace kytkin::routing {
namespace {

bool ProcessingCodeAllowed(const StandInRule& rule, std::string_view code) {
  if (code.size() != 6) return false;
  return std::any_of(rule.processing_codes.begin(), rule.processing_codes.end(),
                     [code](const std::string& allowed) {
                       return allowed.size() == 2 ? code.substr(0, 2) == allowed : code == allowed;
                     });
}

}  // namespace

StandInDecision EvaluateStandIn(const StandInRule& rule, const StandInRequest& request,
                                const CardDayCounters& counters) {
  auto decline = [&rule](StandInOutcome outcome) {
    return StandInDecision{outcome, rule.decline_response};
  };
  if (!rule.enabled) return decline(StandInOutcome::kDisabled);
  if (!ProcessingCodeAllowed(rule, request.processing_code)) {
    return decline(StandInOutcome::kProcessingCodeNotAllowed);
  }
  if (request.amount.currency() != rule.currency) {
    return decline(StandInOutcome::kCurrencyMismatch);
  }
  const int64_t amount = request.amount.minor_units();
  if (amount <= 0) return decline(StandInOutcome::kInvalidAmount);
  if (amount > rule.max_transaction_minor) return decline(StandInOutcome::kOverTransactionLimit);
  // Written as a subtraction so a huge counter cannot overflow the sum.
  if (counters.approved_minor < 0 || counters.approved_minor > rule.max_daily_minor ||
      amount > rule.max_daily_minor - counters.approved_minor) {
    return decline(StandInOutcome::kOverDailyAmount);
  }
  if (counters.approved_count >= rule.max_daily_count) {
    return decline(StandInOutcome::kOverDailyCount);
  }
  return StandInDecision{StandInOutcome::kApproved, ResponseCode::kApproved};
}

std::string_view StandInOutcomeName(StandInOutcome outcome) {
  switch (outcome) {
    case StandInOutcome::kApproved:
      return "approved";
    case StandInOutcome::kDisabled:
      return "stand-in disabled";
    case StandInOutcome::kProcessingCodeNotAllowed:
      return "processing code not allowed";
    case StandInOutcome::kCurrencyMismatch:
      return "currency mismatch";
    case StandInOutcome::kInvalidAmount:
      return "invalid amount";
    case StandInOutcome::kOverTransactionLimit:
      return "over transaction limit";
    case StandInOutcome::kOverDailyAmount:
      return "over daily amount";
    case StandInOutcome::kOverDailyCount:
      return "over daily count";
  }
  return "unknown";
}

}  // namespace kytkin::routing
