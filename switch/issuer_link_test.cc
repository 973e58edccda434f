// IssuerLink against the in-process issuer simulator over loopback: sign-on, matching by the
// link's STAN, deadlines and late answers, a full link, down/up with reconnect, echo failures.
#include "switch/issuer_link.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>

#include "switch/issuer_sim.h"
#include "switch/terminal_client.h"

namespace kytkin {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

constexpr std::string_view kPan = "4111111111111111";
constexpr uint16_t kEur = 978;

const iso8583::Dialect& Ascii() { return *iso8583::FindDialect("iso87-ascii"); }

bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds limit = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return done();
}

iso8583::Message Authorization(int64_t minor, uint32_t stan = 42) {
  TerminalRequest r;
  r.operation = CardOperation::kAuthorize;
  r.pan = std::string(kPan);
  r.amount = Amount(minor, kEur);
  r.stan = stan;
  r.transmission_time = "1127003000";
  iso8583::Message m(Ascii());
  EXPECT_TRUE(BuildTerminalRequest(r, TerminalIdentity{}, m).ok());
  return m;
}

// What a callback saw, copied out of the link's thread.
struct Seen {
  IssuerOutcome outcome = IssuerOutcome::kLinkDown;
  std::string code;  // DE 39
  std::string stan;  // DE 11 of the answer
  uint32_t link_stan = 0;
  int64_t latency_us = 0;
};

class LinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    thread_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    if (link_) link_->Stop();
    work_.reset();
    io_.stop();
    thread_.join();
    link_.reset();
  }
  void StartSim(IssuerSimOptions options = {}) {
    auto sim = IssuerSim::Start(options);
    ASSERT_TRUE(sim.ok()) << sim.status().ToString();
    sim_ = std::move(*sim);
    sim_->AddCard(kPan, Amount(100'000, kEur));
  }
  IssuerLinkOptions Options() {
    IssuerLinkOptions o;
    o.id = "nb-a";
    o.port = sim_->port();
    o.request_deadline_ms = 500;
    o.echo_interval_ms = 0;
    o.reconnect_initial_ms = 10;
    o.reconnect_max_ms = 50;
    return o;
  }
  void StartLink(const IssuerLinkOptions& o, bool wait_up = true) {
    auto link = IssuerLink::Create(o, io_);
    ASSERT_TRUE(link.ok()) << link.status().ToString();
    link_ = std::move(*link);
    link_->set_on_state_change([this](const std::string& id, bool up) {
      std::lock_guard lock(mu_);
      transitions_.push_back(id + (up ? " up" : " down"));
    });
    link_->set_on_late_response([this](const iso8583::Message& late) {
      std::lock_guard lock(mu_);
      late_codes_.emplace_back(late.Get(39));
    });
    link_->Start();
    if (wait_up) {
      ASSERT_TRUE(WaitFor([&] { return link_->up(); }));
    }
  }
  // Sends and returns a slot filled by the callback; `done` counts completions.
  std::shared_ptr<Seen> Send(const iso8583::Message& m) {
    auto seen = std::make_shared<Seen>();
    link_->Send(m, [this, seen](const IssuerReply& reply) {
      seen->outcome = reply.outcome;
      seen->link_stan = reply.stan;
      seen->latency_us = reply.latency_us;
      if (reply.response) {
        seen->code = reply.response->Get(39);
        seen->stan = reply.response->Get(11);
      }
      ++done_;
    });
    return seen;
  }
  Seen SendAndWait(const iso8583::Message& m) {
    const int before = done_;
    auto seen = Send(m);
    EXPECT_TRUE(WaitFor([&] { return done_ > before; }));
    return *seen;
  }
  std::vector<std::string> transitions() {
    std::lock_guard lock(mu_);
    return transitions_;
  }

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  std::thread thread_;
  std::unique_ptr<IssuerSim> sim_;
  std::unique_ptr<IssuerLink> link_;
  std::atomic<int> done_{0};
  std::mutex mu_;
  std::vector<std::string> transitions_;
  std::vector<std::string> late_codes_;
};

TEST_F(LinkTest, SignsOnThenForwardsAndMatchesByTheLinksStan) {
  StartSim();
  StartLink(Options());
  EXPECT_EQ(sim_->stats().sign_ons, 1u);
  EXPECT_EQ(transitions(), std::vector<std::string>{"nb-a up"});
  Seen seen = SendAndWait(Authorization(1'000));
  EXPECT_EQ(seen.outcome, IssuerOutcome::kAnswered);
  EXPECT_EQ(seen.code, "00");
  // DE 11 on the link is the link's own STAN; the sign-on used STAN 1.
  EXPECT_EQ(seen.link_stan, 2u);
  EXPECT_EQ(seen.stan, "000002");
  EXPECT_GE(seen.latency_us, 0);
  EXPECT_EQ(*sim_->AvailableMinor(kPan), 99'000);

  // Many requests with the SAME terminal STAN at once: each gets its own link STAN and answer.
  std::vector<std::shared_ptr<Seen>> all;
  for (int i = 0; i < 50; ++i) all.push_back(Send(Authorization(10)));
  ASSERT_TRUE(WaitFor([&] { return done_ == 51; }));
  std::set<uint32_t> stans;
  for (auto& s : all) {
    EXPECT_EQ(s->outcome, IssuerOutcome::kAnswered);
    EXPECT_EQ(s->code, "00");
    EXPECT_EQ(s->stan, std::to_string(1'000'000 + s->link_stan).substr(1));
    stans.insert(s->link_stan);
  }
  EXPECT_EQ(stans.size(), 50u);
  EXPECT_EQ(*sim_->AvailableMinor(kPan), 98'500);
  IssuerLinkStats stats = link_->stats();
  EXPECT_EQ(stats.sent, 51u);
  EXPECT_EQ(stats.answered, 51u);
  EXPECT_EQ(stats.unmatched, 0u);
}

TEST_F(LinkTest, ReencodesInTheLinksDialect) {
  IssuerSimOptions options;
  options.dialect = "iso87-bcd";
  StartSim(options);
  IssuerLinkOptions o = Options();
  o.dialect = "iso87-bcd";
  StartLink(o);
  Seen seen = SendAndWait(Authorization(500));  // built in iso87-ascii
  EXPECT_EQ(seen.outcome, IssuerOutcome::kAnswered);
  EXPECT_EQ(seen.code, "00");
}

TEST_F(LinkTest, DeadlineThenTheLateAnswerIsCountedAndReported) {
  IssuerSimOptions options;
  options.behavior.late_share = 1.0;
  options.behavior.late_delay_us = 300'000;
  StartSim(options);
  IssuerLinkOptions o = Options();
  o.request_deadline_ms = 100;
  StartLink(o);
  Seen seen = SendAndWait(Authorization(700));
  EXPECT_EQ(seen.outcome, IssuerOutcome::kDeadline);
  EXPECT_GE(seen.latency_us, 100'000);
  EXPECT_LT(seen.latency_us, 300'000);
  ASSERT_TRUE(WaitFor([&] { return link_->stats().late == 1; }));
  {
    std::lock_guard lock(mu_);
    EXPECT_EQ(late_codes_, std::vector<std::string>{"00"});  // it approved: reverse it
  }
  EXPECT_EQ(link_->stats().deadlines, 1u);
  EXPECT_TRUE(link_->up());  // a slow issuer is not a down link
}

TEST_F(LinkTest, AFullLinkRefusesAtOnce) {
  IssuerSimOptions options;
  options.behavior.latency_fixed_us = 200'000;
  StartSim(options);
  IssuerLinkOptions o = Options();
  o.in_flight_max = 2;
  StartLink(o);
  auto a = Send(Authorization(1, 1));
  auto b = Send(Authorization(1, 2));
  const auto t0 = std::chrono::steady_clock::now();
  Seen c = SendAndWait(Authorization(1, 3));
  EXPECT_EQ(c.outcome, IssuerOutcome::kFull);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 150ms);
  ASSERT_TRUE(WaitFor([&] { return done_ == 3; }));
  EXPECT_EQ(a->outcome, IssuerOutcome::kAnswered);
  EXPECT_EQ(b->outcome, IssuerOutcome::kAnswered);
  EXPECT_EQ(link_->stats().refused_full, 1u);
  // Capacity comes back with the answers.
  EXPECT_EQ(SendAndWait(Authorization(1, 4)).outcome, IssuerOutcome::kAnswered);
}

TEST_F(LinkTest, DownLosesInFlightRefusesNewAndReconnectsWhenUp) {
  IssuerSimOptions options;
  options.behavior.latency_fixed_us = 300'000;
  StartSim(options);
  StartLink(Options());
  auto in_flight = Send(Authorization(1));
  ASSERT_TRUE(WaitFor([&] { return link_->stats().sent == 1; }));
  sim_->SetDown(true);
  ASSERT_TRUE(WaitFor([&] { return done_ == 1; }));
  EXPECT_EQ(in_flight->outcome, IssuerOutcome::kLinkDown);
  ASSERT_TRUE(WaitFor([&] { return !link_->up(); }));
  EXPECT_EQ(SendAndWait(Authorization(1)).outcome, IssuerOutcome::kLinkDown);
  EXPECT_EQ(link_->stats().lost, 1u);
  EXPECT_EQ(link_->stats().refused_down, 1u);
  // While down, reconnects keep trying (backoff 10..50 ms) and fail at sign-on.
  ASSERT_TRUE(WaitFor([&] { return sim_->stats().refused_while_down >= 2; }));
  sim_->SetDown(false);
  ASSERT_TRUE(WaitFor([&] { return link_->up(); }));
  EXPECT_EQ(transitions(), (std::vector<std::string>{"nb-a up", "nb-a down", "nb-a up"}));
  EXPECT_EQ(SendAndWait(Authorization(1)).code, "00");
  EXPECT_GE(link_->stats().sign_ons, 2u);
}

TEST_F(LinkTest, UnansweredEchoesTakeTheLinkDown) {
  StartSim();
  IssuerLinkOptions o = Options();
  o.echo_interval_ms = 20;
  o.request_deadline_ms = 30;
  o.echo_failures_max = 2;
  o.reconnect_initial_ms = 1000;  // stay down long enough to observe
  o.reconnect_max_ms = 1000;
  StartLink(o);
  ASSERT_TRUE(WaitFor([&] { return link_->stats().echoes >= 2; }));
  IssuerSimBehavior hung;
  hung.ignore_echoes = true;
  sim_->SetBehavior(hung);
  ASSERT_TRUE(WaitFor([&] { return !link_->up(); }));
  EXPECT_GE(link_->stats().echo_failures, 2u);
  EXPECT_GE(link_->stats().disconnects, 1u);
}

TEST_F(LinkTest, NothingListeningMeansDownAndRetries) {
  StartSim();
  const uint16_t port = sim_->port();
  sim_->Stop();
  IssuerLinkOptions o = Options();
  o.port = port;
  StartLink(o, /*wait_up=*/false);
  ASSERT_TRUE(WaitFor([&] { return link_->stats().connect_failures >= 3; }));
  EXPECT_FALSE(link_->up());
  EXPECT_EQ(SendAndWait(Authorization(1)).outcome, IssuerOutcome::kLinkDown);
}

TEST_F(LinkTest, StopEndsEverythingInFlight) {
  IssuerSimOptions options;
  options.behavior.latency_fixed_us = 1'000'000;
  StartSim(options);
  StartLink(Options());
  auto a = Send(Authorization(1));
  ASSERT_TRUE(WaitFor([&] { return link_->stats().sent == 1; }));
  link_->Stop();
  EXPECT_EQ(done_, 1);
  EXPECT_EQ(a->outcome, IssuerOutcome::kLinkDown);
  EXPECT_EQ(SendAndWait(Authorization(1)).outcome, IssuerOutcome::kLinkDown);
}

TEST(IssuerLinkOptionsTest, EachBadFieldIsNamed) {
  IssuerLinkOptions good;
  good.id = "nb-a";
  good.port = 9000;
  ASSERT_TRUE(ValidateIssuerLinkOptions(good).ok());
  auto named = [&](std::function<void(IssuerLinkOptions&)> change, std::string_view field) {
    IssuerLinkOptions o = good;
    change(o);
    Status s = ValidateIssuerLinkOptions(o);
    EXPECT_FALSE(s.ok()) << field;
    EXPECT_NE(s.ToString().find(field), std::string::npos) << s.ToString();
  };
  named([](auto& o) { o.id = "bad id"; }, "id");
  named([](auto& o) { o.port = 0; }, "port");
  named([](auto& o) { o.dialect = "nope"; }, "dialect");
  named([](auto& o) { o.framing = iso8583::Framing::kNone; }, "framing");
  named([](auto& o) { o.connections = 0; }, "connections");
  named([](auto& o) { o.connections = 65; }, "connections");
  named([](auto& o) { o.in_flight_max = 4097; }, "in_flight_max");
  named([](auto& o) { o.request_deadline_ms = 0; }, "request_deadline_ms");
  named([](auto& o) { o.echo_failures_max = 0; }, "echo_failures_max");
  named([](auto& o) { o.reconnect_initial_ms = 20'000; }, "reconnect_initial_ms");
  named([](auto& o) { o.key_fields = {41}; }, "key_fields");
  named([](auto& o) { o.key_fields = {129, 11}; }, "key_fields");
  named([](auto& o) { o.terminal_id = "TOOLONGID"; }, "terminal_id");
  named([](auto& o) { o.frame_bytes_max = 10; }, "frame_bytes_max");
}

}  // namespace
}  // namespace kytkin
