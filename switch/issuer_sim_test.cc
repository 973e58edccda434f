// The issuer simulator: its ledger logic without sockets, then the running simulator over
// loopback with the terminal client (faults, down/up, repeats).
#include "switch/issuer_sim.h"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <thread>

#include "switch/terminal_client.h"

namespace kytkin {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kPan = "4111111111111111";
constexpr std::string_view kOtherPan = "5500000000000004";
constexpr uint16_t kEur = 978;

const iso8583::Dialect& Ascii() { return *iso8583::FindDialect("iso87-ascii"); }

bool WaitFor(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return done();
}

TerminalRequest Request(CardOperation op, std::string_view pan, int64_t minor, uint32_t stan) {
  TerminalRequest r;
  r.operation = op;
  r.pan = std::string(pan);
  r.amount = Amount(minor, kEur);
  r.stan = stan;
  r.transmission_time = "1127003000";
  return r;
}

iso8583::Message Build(const TerminalRequest& r) {
  iso8583::Message m(Ascii());
  EXPECT_TRUE(BuildTerminalRequest(r, TerminalIdentity{}, m).ok());
  return m;
}

class LedgerTest : public ::testing::Test {
 protected:
  void SetUp() override { ledger_.AddCard(kPan, Amount(10'000, kEur)); }
  // The response code of the answer to `r`.
  std::string Code(const TerminalRequest& r, bool force_decline = false, bool partial = false) {
    iso8583::Message request = Build(r);
    auto answered = ledger_.Answer(request, force_decline, response_, stats_, partial);
    EXPECT_TRUE(answered.ok() && *answered);
    return std::string(response_.Get(39));
  }
  int64_t Available() { return *ledger_.AvailableMinor(kPan); }

  IssuerSimLedger ledger_;
  IssuerSimStats stats_;
  iso8583::Message response_{Ascii()};
};

TEST_F(LedgerTest, AuthorizationHoldsFundsAndDeclinesBeyondThem) {
  EXPECT_EQ(Code(Request(CardOperation::kAuthorize, kPan, 6'000, 1)), "00");
  EXPECT_EQ(response_.mti(), "0110");
  EXPECT_EQ(response_.Get(11), "000001");
  EXPECT_EQ(response_.Get(38).size(), 6u);
  EXPECT_EQ(Available(), 4'000);
  EXPECT_EQ(Code(Request(CardOperation::kAuthorize, kPan, 4'001, 2)), "51");
  EXPECT_EQ(Code(Request(CardOperation::kPurchase, kPan, 4'000, 3)), "00");
  EXPECT_EQ(Available(), 0);
  EXPECT_EQ(stats_.approvals, 2u);
  EXPECT_EQ(stats_.declines, 1u);
}

// The partial approval knob: a 0100 above the funds is approved for what is left (10, DE 4 the
// approved amount, held like a full approval); nothing left, a purchase, or the knob off: 51.
TEST_F(LedgerTest, PartialApprovalsHoldWhatIsLeft) {
  EXPECT_EQ(Code(Request(CardOperation::kAuthorize, kPan, 12'000, 1)), "51");  // knob off
  EXPECT_EQ(Code(Request(CardOperation::kPurchase, kPan, 12'000, 2), false, true), "51");
  EXPECT_EQ(Code(Request(CardOperation::kAuthorize, kPan, 12'000, 3), false, true), "10");
  EXPECT_EQ(response_.GetUint(4).value(), 10'000u);
  EXPECT_EQ(response_.Get(38).size(), 6u);
  EXPECT_EQ(Available(), 0);
  EXPECT_EQ(Code(Request(CardOperation::kAuthorize, kPan, 1, 4), false, true), "51");
  EXPECT_EQ(stats_.partial_approvals, 1u);
  EXPECT_EQ(stats_.approvals, 1u);
  // Its reversal gives back what was held, not what was asked.
  TerminalRequest reversal = Request(CardOperation::kReversalAdvice, kPan, 10'000, 5);
  reversal.original = {"0100", 3, "1127003000"};
  EXPECT_EQ(Code(reversal), "00");
  EXPECT_EQ(Available(), 10'000);
}

TEST_F(LedgerTest, UnknownCardForcedDeclineAndBadAmount) {
  EXPECT_EQ(Code(Request(CardOperation::kAuthorize, kOtherPan, 100, 1)), "14");
  EXPECT_EQ(Code(Request(CardOperation::kAuthorize, kPan, 100, 2), /*force_decline=*/true), "05");
  TerminalRequest dollars = Request(CardOperation::kAuthorize, kPan, 100, 3);
  dollars.amount = Amount(100, 840);
  EXPECT_EQ(Code(dollars), "13");
  EXPECT_EQ(Available(), 10'000);
  // An unknown card gets the configured balance on first use.
  ledger_.SetUnknownCardBalance(Amount(500, kEur));
  EXPECT_EQ(Code(Request(CardOperation::kAuthorize, kOtherPan, 500, 4)), "00");
  EXPECT_EQ(*ledger_.AvailableMinor(kOtherPan), 0);
}

TEST_F(LedgerTest, AdviceAppliesOnceAndRepeatsAreAcknowledgedOnly) {
  TerminalRequest advice = Request(CardOperation::kAuthorizationAdvice, kPan, 12'000, 7);
  EXPECT_EQ(Code(advice), "00");  // no funds check: the decision was made elsewhere
  EXPECT_EQ(response_.mti(), "0130");
  EXPECT_EQ(Available(), -2'000);
  advice.repeat = true;  // 0121
  EXPECT_EQ(Code(advice), "00");
  EXPECT_EQ(response_.mti(), "0130");
  advice.repeat = false;  // the same 0120 again
  EXPECT_EQ(Code(advice), "00");
  EXPECT_EQ(Available(), -2'000);
  EXPECT_EQ(stats_.advices_applied, 1u);
  EXPECT_EQ(stats_.advice_repeats, 2u);
}

TEST_F(LedgerTest, ReversalAdviceGivesBackOnceByOriginalData) {
  EXPECT_EQ(Code(Request(CardOperation::kAuthorize, kPan, 3'000, 11)), "00");
  TerminalRequest reversal = Request(CardOperation::kReversalAdvice, kPan, 3'000, 12);
  reversal.original = {"0100", 11, "1127003000"};
  EXPECT_EQ(Code(reversal), "00");
  EXPECT_EQ(response_.mti(), "0430");
  EXPECT_EQ(Available(), 10'000);
  reversal.repeat = true;  // 0421
  EXPECT_EQ(Code(reversal), "00");
  // A different reversal naming the same original gives nothing back a second time.
  TerminalRequest again = reversal;
  again.repeat = false;
  again.stan = 13;
  EXPECT_EQ(Code(again), "00");
  EXPECT_EQ(Available(), 10'000);
  EXPECT_EQ(stats_.reversals_applied, 1u);
  EXPECT_EQ(stats_.reversal_repeats, 2u);
  // A reversal of something never approved is still acknowledged, and counted.
  TerminalRequest unknown = Request(CardOperation::kReversalAdvice, kPan, 1, 14);
  unknown.original = {"0100", 999, "1127003000"};
  EXPECT_EQ(Code(unknown), "00");
  EXPECT_EQ(stats_.reversals_unmatched, 1u);
}

TEST_F(LedgerTest, CompletionKeepsTheCompletedAmountOnce) {
  EXPECT_EQ(Code(Request(CardOperation::kAuthorize, kPan, 3'000, 11)), "00");
  TerminalRequest completion = Request(CardOperation::kFinancialAdvice, kPan, 2'000, 12);
  completion.original = {"0100", 11, "1127003000"};
  EXPECT_EQ(Code(completion), "00");
  EXPECT_EQ(response_.mti(), "0230");
  EXPECT_EQ(Available(), 8'000);  // the hold of 30.00 became 20.00
  completion.repeat = true;       // 0221
  EXPECT_EQ(Code(completion), "00");
  // A different completion of the same authorization changes nothing either.
  TerminalRequest again = Request(CardOperation::kFinancialAdvice, kPan, 1'000, 13);
  again.original = completion.original;
  EXPECT_EQ(Code(again), "00");
  EXPECT_EQ(Available(), 8'000);
  EXPECT_EQ(stats_.advices_applied, 1u);
  EXPECT_EQ(stats_.advice_repeats, 1u);
  // A reversal after it gives back the completed amount.
  TerminalRequest reversal = Request(CardOperation::kReversalAdvice, kPan, 2'000, 14);
  reversal.original = completion.original;
  EXPECT_EQ(Code(reversal), "00");
  EXPECT_EQ(Available(), 10'000);
}

TEST_F(LedgerTest, NetworkManagementAndResponsesAndUnsupportedMtis) {
  EXPECT_EQ(Code(Request(CardOperation::kSignOn, "", 0, 1)), "00");
  EXPECT_EQ(Code(Request(CardOperation::kEcho, "", 0, 2)), "00");
  EXPECT_EQ(response_.mti(), "0810");
  EXPECT_EQ(response_.Get(70), "301");
  EXPECT_EQ(stats_.sign_ons, 1u);
  EXPECT_EQ(stats_.echoes, 1u);
  // A response is not answered.
  iso8583::Message response(Ascii());
  ASSERT_TRUE(response.SetMti("0110").ok());
  auto answered = ledger_.Answer(response, false, response_, stats_);
  ASSERT_TRUE(answered.ok());
  EXPECT_FALSE(*answered);
  // A 0400 (reversal request) is not something this issuer takes: 12.
  TerminalRequest reversal = Request(CardOperation::kReversal, kPan, 1, 3);
  reversal.original = {"0100", 1, "1127003000"};
  EXPECT_EQ(Code(reversal), "12");
}

// The running simulator.
class SimTest : public ::testing::Test {
 protected:
  void Start(IssuerSimOptions options = {}) {
    auto sim = IssuerSim::Start(options);
    ASSERT_TRUE(sim.ok()) << sim.status().ToString();
    sim_ = std::move(*sim);
    sim_->AddCard(kPan, Amount(10'000, kEur));
  }
  std::unique_ptr<TerminalConnection> Connect(int timeout_ms = 2000) {
    auto c = TerminalConnection::Connect("127.0.0.1", sim_->port(), Ascii(),
                                         iso8583::Framing::kBinary2, timeout_ms);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(*c) : nullptr;
  }
  std::unique_ptr<IssuerSim> sim_;
};

TEST_F(SimTest, AnswersOverTcpWithLatency) {
  IssuerSimOptions options;
  options.behavior.latency_fixed_us = 20'000;
  Start(options);
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  iso8583::Message response(Ascii());
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(c->Exchange(Build(Request(CardOperation::kAuthorize, kPan, 100, 1)), response).ok());
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 20ms);
  EXPECT_EQ(response.Get(39), "00");
  // Network management is answered at once, without the latency.
  const auto t1 = std::chrono::steady_clock::now();
  ASSERT_TRUE(c->Exchange(Build(Request(CardOperation::kEcho, "", 0, 2)), response).ok());
  EXPECT_LT(std::chrono::steady_clock::now() - t1, 20ms);
  EXPECT_EQ(*sim_->AvailableMinor(kPan), 9'900);
}

TEST_F(SimTest, DroppedAnswersStillTakeTheMoney) {
  IssuerSimOptions options;
  options.behavior.drop_share = 1.0;
  Start(options);
  auto c = Connect(/*timeout_ms=*/200);
  ASSERT_NE(c, nullptr);
  iso8583::Message response(Ascii());
  EXPECT_FALSE(c->Exchange(Build(Request(CardOperation::kAuthorize, kPan, 100, 1)), response).ok());
  EXPECT_EQ(sim_->stats().dropped, 1u);
  EXPECT_EQ(*sim_->AvailableMinor(kPan), 9'900);
  // Echoes are never dropped.
  ASSERT_TRUE(c->Exchange(Build(Request(CardOperation::kEcho, "", 0, 2)), response).ok());
}

TEST_F(SimTest, LateAnswersAndDisconnectsAndDeclineShare) {
  IssuerSimOptions options;
  options.behavior.late_share = 1.0;
  options.behavior.late_delay_us = 300'000;
  Start(options);
  auto c = Connect(/*timeout_ms=*/100);
  ASSERT_NE(c, nullptr);
  iso8583::Message response(Ascii());
  EXPECT_FALSE(c->Exchange(Build(Request(CardOperation::kAuthorize, kPan, 100, 1)), response).ok());
  // The late answer does arrive.
  auto patient = Connect(2000);
  ASSERT_NE(patient, nullptr);
  ASSERT_TRUE(
      patient->Exchange(Build(Request(CardOperation::kAuthorize, kPan, 100, 2)), response).ok());
  EXPECT_EQ(response.Get(39), "00");
  EXPECT_EQ(sim_->stats().late, 2u);

  IssuerSimBehavior behavior;
  behavior.decline_share = 1.0;
  sim_->SetBehavior(behavior);
  ASSERT_TRUE(
      patient->Exchange(Build(Request(CardOperation::kAuthorize, kPan, 100, 3)), response).ok());
  EXPECT_EQ(response.Get(39), "05");

  behavior = {};
  behavior.disconnect_share = 1.0;
  sim_->SetBehavior(behavior);
  EXPECT_FALSE(
      patient->Exchange(Build(Request(CardOperation::kAuthorize, kPan, 100, 4)), response).ok());
  EXPECT_TRUE(patient->closed());
  EXPECT_EQ(sim_->stats().disconnects, 1u);
}

TEST_F(SimTest, DownClosesLinksAndRefusesNewOnesUntilUp) {
  Start();
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  iso8583::Message response(Ascii());
  ASSERT_TRUE(c->Exchange(Build(Request(CardOperation::kSignOn, "", 0, 1)), response).ok());
  sim_->SetDown(true);
  EXPECT_TRUE(sim_->down());
  EXPECT_FALSE(c->Receive(response).ok());
  EXPECT_TRUE(c->closed());
  auto refused = Connect();
  ASSERT_NE(refused, nullptr);
  EXPECT_FALSE(refused->Receive(response).ok());
  EXPECT_TRUE(WaitFor([&] { return sim_->stats().refused_while_down == 1; }));
  sim_->SetDown(false);
  auto again = Connect();
  ASSERT_NE(again, nullptr);
  ASSERT_TRUE(again->Exchange(Build(Request(CardOperation::kEcho, "", 0, 2)), response).ok());
  EXPECT_EQ(response.Get(39), "00");
}

TEST_F(SimTest, DownPeriodsAlternate) {
  IssuerSimOptions options;
  options.up_period_ms = 50;
  options.down_period_ms = 50;
  Start(options);
  EXPECT_TRUE(WaitFor([&] { return sim_->down(); }));
  EXPECT_TRUE(WaitFor([&] { return !sim_->down(); }));
}

TEST_F(SimTest, GarbageIsCountedAndOversizedFrameCloses) {
  Start();
  auto c = Connect(300);
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->SendRaw(std::string("\x00\x03xyz", 5)).ok());
  EXPECT_TRUE(WaitFor([&] { return sim_->stats().parse_errors == 1; }));
  iso8583::Message response(Ascii());
  ASSERT_TRUE(c->Exchange(Build(Request(CardOperation::kEcho, "", 0, 1)), response).ok());
  ASSERT_TRUE(c->SendRaw(std::string("\xff\xff", 2)).ok());  // 65535 > frame_bytes_max
  EXPECT_FALSE(c->Receive(response).ok());
  EXPECT_TRUE(c->closed());
}

TEST(IssuerSimStart, BadOptionsFailWithAReason) {
  IssuerSimOptions options;
  options.dialect = "nope";
  auto sim = IssuerSim::Start(options);
  ASSERT_FALSE(sim.ok());
  EXPECT_NE(sim.status().ToString().find("nope"), std::string::npos);
  IssuerSimOptions first;
  auto a = IssuerSim::Start(first);
  ASSERT_TRUE(a.ok());
  IssuerSimOptions same_port;
  same_port.port = (*a)->port();
  auto b = IssuerSim::Start(same_port);
  // SO_REUSEADDR does not allow two listeners on one port.
  EXPECT_FALSE(b.ok());
}

}  // namespace
}  // namespace kytkin
