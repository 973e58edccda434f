#include "routing/stand_in.h"

#include <limits>

#include <gtest/gtest.h>

namespace kytkin::routing {
namespace {

constexpr uint16_t kEur = 978;

StandInRule Rule() {
  StandInRule rule;
  rule.enabled = true;
  rule.currency = kEur;
  rule.max_transaction_minor = 10000;  // 100.00 EUR
  rule.max_daily_minor = 25000;        // 250.00 EUR
  rule.max_daily_count = 3;
  rule.processing_codes = {"00", "010000"};
  return rule;
}

StandInRequest Request(int64_t minor, std::string_view processing_code = "000000",
                       uint16_t currency = kEur) {
  return StandInRequest{Amount(minor, currency), processing_code};
}

StandInOutcome Outcome(const StandInRule& rule, const StandInRequest& request,
                       CardDayCounters counters = {}) {
  return EvaluateStandIn(rule, request, counters).outcome;
}

TEST(StandInTest, ApprovesWithinLimits) {
  StandInDecision d = EvaluateStandIn(Rule(), Request(5000), {});
  EXPECT_TRUE(d.approved());
  EXPECT_EQ(d.response, ResponseCode::kApproved);
}

TEST(StandInTest, DisabledRuleDeclinesWithItsResponse) {
  StandInRule rule = Rule();
  rule.enabled = false;
  StandInDecision d = EvaluateStandIn(rule, Request(1), {});
  EXPECT_EQ(d.outcome, StandInOutcome::kDisabled);
  EXPECT_EQ(d.response, ResponseCode::kIssuerUnavailable);
}

TEST(StandInTest, TransactionLimitAtLimitAndLimitPlusOne) {
  EXPECT_EQ(Outcome(Rule(), Request(10000)), StandInOutcome::kApproved);
  EXPECT_EQ(Outcome(Rule(), Request(10001)), StandInOutcome::kOverTransactionLimit);
}

TEST(StandInTest, DailyAmountAtLimitAndLimitPlusOne) {
  // 150.00 already approved today: 100.00 reaches 250.00 exactly, 100.01 passes it.
  const CardDayCounters counters{15000, 1};
  EXPECT_EQ(Outcome(Rule(), Request(10000), counters), StandInOutcome::kApproved);
  EXPECT_EQ(Outcome(Rule(), Request(10001), counters), StandInOutcome::kOverTransactionLimit);
  const CardDayCounters more{15001, 1};
  EXPECT_EQ(Outcome(Rule(), Request(10000), more), StandInOutcome::kOverDailyAmount);
  EXPECT_EQ(Outcome(Rule(), Request(1), CardDayCounters{25000, 0}),
            StandInOutcome::kOverDailyAmount);
  EXPECT_EQ(Outcome(Rule(), Request(1), CardDayCounters{24999, 0}), StandInOutcome::kApproved);
}

TEST(StandInTest, DailyCountAtLimitAndLimitPlusOne) {
  // Two approvals so far: the third is the last one allowed.
  EXPECT_EQ(Outcome(Rule(), Request(100), CardDayCounters{200, 2}), StandInOutcome::kApproved);
  EXPECT_EQ(Outcome(Rule(), Request(100), CardDayCounters{300, 3}),
            StandInOutcome::kOverDailyCount);
}

TEST(StandInTest, HugeOrNegativeCountersDoNotOverflowIntoApproval) {
  const int64_t max = std::numeric_limits<int64_t>::max();
  EXPECT_EQ(Outcome(Rule(), Request(1), CardDayCounters{max, 0}), StandInOutcome::kOverDailyAmount);
  EXPECT_EQ(Outcome(Rule(), Request(1), CardDayCounters{-1, 0}), StandInOutcome::kOverDailyAmount);
  StandInRule rule = Rule();
  rule.max_transaction_minor = max;
  rule.max_daily_minor = max;
  EXPECT_EQ(Outcome(rule, Request(max), CardDayCounters{1, 0}), StandInOutcome::kOverDailyAmount);
  EXPECT_EQ(Outcome(rule, Request(max), CardDayCounters{0, 0}), StandInOutcome::kApproved);
}

TEST(StandInTest, ProcessingCodesByTypeOrExact) {
  EXPECT_EQ(Outcome(Rule(), Request(100, "000000")), StandInOutcome::kApproved);
  EXPECT_EQ(Outcome(Rule(), Request(100, "003000")), StandInOutcome::kApproved);  // type 00
  EXPECT_EQ(Outcome(Rule(), Request(100, "010000")), StandInOutcome::kApproved);  // exact
  EXPECT_EQ(Outcome(Rule(), Request(100, "012000")), StandInOutcome::kProcessingCodeNotAllowed);
  EXPECT_EQ(Outcome(Rule(), Request(100, "200000")), StandInOutcome::kProcessingCodeNotAllowed);
  EXPECT_EQ(Outcome(Rule(), Request(100, "00")), StandInOutcome::kProcessingCodeNotAllowed);
  EXPECT_EQ(Outcome(Rule(), Request(100, "")), StandInOutcome::kProcessingCodeNotAllowed);
}

TEST(StandInTest, OtherCurrencyAndNonPositiveAmountsAreOutside) {
  EXPECT_EQ(Outcome(Rule(), Request(100, "000000", 840)), StandInOutcome::kCurrencyMismatch);
  EXPECT_EQ(Outcome(Rule(), Request(0)), StandInOutcome::kInvalidAmount);
  EXPECT_EQ(Outcome(Rule(), Request(-5)), StandInOutcome::kInvalidAmount);
}

TEST(StandInTest, OutsideTheRuleAnswersTheConfiguredResponse) {
  StandInRule rule = Rule();
  rule.decline_response = ResponseCode::kExceedsAmountLimit;
  StandInDecision d = EvaluateStandIn(rule, Request(10001), {});
  EXPECT_FALSE(d.approved());
  EXPECT_EQ(d.response, ResponseCode::kExceedsAmountLimit);
  EXPECT_EQ(StandInOutcomeName(d.outcome), "over transaction limit");
}

}  // namespace
}  // namespace kytkin::routing
