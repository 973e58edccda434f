// End-to-end routing to issuers (issue 5): the real `kytkin serve` with a routing table and
// issuer links to real `kytkin issuer-sim` processes (port 0, temp dirs), driven by an ISO 8583
// terminal and gRPC. Covers normal routing, primary down -> backup, a slow issuer -> deadline ->
// stand-in approval + 0420 and 0120 in SAF -> delivered once when the issuer is back (the slow
// host sees the repeats as 0421 repeats, its late approval undone), an issuer without stand-in ->
// 91 + 0420 delivered later, and a restart with a non-empty SAF. After each test `kytkin ledger
// verify` and `journal verify` pass and the data dir holds no clear card number.
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "iso8583/dialect.h"
#include "iso8583/message.h"
#include "kytkin/v1/authorization.grpc.pb.h"
#include "switch/terminal_client.h"
#include "tests/kytkin_process.h"

extern char** environ;

namespace kytkin::e2e {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

constexpr const char* kNordbankPan = "4761730000000011";   // nordbank: primary nb-a, backup nb-b
constexpr const char* kSouthbankPan = "4333330000000019";  // southbank: sb-a, stand-in allowed
constexpr const char* kOnUsPan = "4111111111111111";       // kytkin's demo debit card
constexpr const char* kUnknownPan = "6011000990139424";    // no BIN range
constexpr uint16_t kEur = 978;
constexpr int kTerminalTimeoutMs = 10'000;

constexpr const char* kTable = R"(unknown_bin 15
issuer kytkin on_us
issuer nordbank primary=nb-a backup=nb-b
issuer southbank primary=sb-a
standin southbank currency=EUR max_transaction=100.00 max_daily_amount=300.00 max_daily_count=5 processing_codes=00 response=91
bin 476173 nordbank
bin 433333 southbank
bin 411111 kytkin
)";

// A terminal's 0320 batch upload of one capture naming its authorization by kytkin's RRN (DE 37)
// and the auth code (DE 38); DE 60 the terminal's batch number when given.
iso8583::Message CaptureUpload(const iso8583::Dialect& dialect, const TerminalIdentity& identity,
                               const std::string& time, uint32_t stan, int64_t minor,
                               std::string_view rrn, std::string_view auth_code,
                               std::string_view batch = "") {
  iso8583::Message m(dialect);
  EXPECT_TRUE(m.SetMti("0320").ok());
  if (!batch.empty()) {
    EXPECT_TRUE(m.Set(60, batch).ok());
  }
  EXPECT_TRUE(m.Set(3, "000000").ok());
  EXPECT_TRUE(m.SetUint(4, static_cast<uint64_t>(minor)).ok());
  EXPECT_TRUE(m.Set(7, time).ok());
  EXPECT_TRUE(m.SetUint(11, stan).ok());
  EXPECT_TRUE(m.Set(32, identity.acquirer_id).ok());
  EXPECT_TRUE(m.Set(37, rrn).ok());
  EXPECT_TRUE(m.Set(38, auth_code).ok());
  EXPECT_TRUE(m.Set(41, identity.terminal_id).ok());
  EXPECT_TRUE(m.Set(42, identity.merchant_id).ok());
  EXPECT_TRUE(m.Set(49, "978").ok());
  return m;
}

// The terminal's 0500 declaring `captures` captures of `captures_minor` in total.
iso8583::Message Reconciliation(const iso8583::Dialect& dialect, const TerminalIdentity& identity,
                                const std::string& time, uint32_t stan, uint64_t captures,
                                uint64_t captures_minor) {
  iso8583::Message m(dialect);
  EXPECT_TRUE(m.SetMti("0500").ok());
  EXPECT_TRUE(m.Set(7, time).ok());
  EXPECT_TRUE(m.SetUint(11, stan).ok());
  EXPECT_TRUE(m.Set(32, identity.acquirer_id).ok());
  EXPECT_TRUE(m.Set(41, identity.terminal_id).ok());
  EXPECT_TRUE(m.Set(42, identity.merchant_id).ok());
  EXPECT_TRUE(m.SetUint(76, captures).ok());
  EXPECT_TRUE(m.SetUint(88, captures_minor).ok());
  return m;
}

// A `kytkin issuer-sim` child process: started on a port (0 = any), stopped with SIGTERM, after
// which its counters (one JSON line on stdout) can be read.
class SimProcess {
 public:
  SimProcess(std::filesystem::path dir, std::string name) : dir_(std::move(dir)), name_(name) {}
  ~SimProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  Status Start(uint16_t port, const std::vector<std::string>& flags = {}) {
    const auto cards = dir_ / (name_ + ".cards");
    std::ofstream(cards) << kNordbankPan << ",978,100000\n" << kSouthbankPan << ",978,100000\n";
    const auto port_file = dir_ / (name_ + ".port");
    std::filesystem::remove(port_file);
    std::vector<std::string> args = {
        KYTKIN_BINARY, "issuer-sim",   "--listen",    "127.0.0.1:" + std::to_string(port),
        "--cards",     cards.string(), "--port-file", port_file.string()};
    args.insert(args.end(), flags.begin(), flags.end());
    stdout_ = dir_ / (name_ + ".out." + std::to_string(++starts_));
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, stdout_.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, (stdout_.string() + ".err").c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) return Status::IOError(std::string("posix_spawn: ") + strerror(rc));
    for (int i = 0; i < 1000; ++i) {
      std::string text = ReadFileBytes(port_file);
      if (!text.empty() && text.back() == '\n') {
        port_ = static_cast<uint16_t>(std::stoi(text));
        return Status::Ok();
      }
      std::this_thread::sleep_for(10ms);
    }
    return Status::Unavailable("issuer-sim " + name_ + " did not start");
  }
  void Signal(int signal) const { ::kill(pid_, signal); }
  // SIGTERM, wait, and return the counters line.
  std::string Stop() {
    if (pid_ <= 0) return "";
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
    return ReadFileBytes(stdout_);
  }
  uint16_t port() const { return port_; }

 private:
  std::filesystem::path dir_;
  std::string name_;
  std::filesystem::path stdout_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  int starts_ = 0;
};

// The number after "key": in a one-line JSON object; -1 when absent.
int64_t JsonNumber(const std::string& json, const std::string& key) {
  const size_t at = json.find("\"" + key + "\":");
  if (at == std::string::npos) return -1;
  return std::stoll(json.substr(at + key.size() + 3));
}

std::string HttpPost(uint16_t port, const std::string& path) {
  asio::io_context io;
  asio::ip::tcp::socket socket(io);
  boost::system::error_code ec;
  socket.connect({asio::ip::make_address("127.0.0.1"), port}, ec);
  if (ec) return "";
  asio::write(
      socket,
      asio::buffer("POST " + path + " HTTP/1.0\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n"),
      ec);
  std::string response;
  asio::read(socket, asio::dynamic_buffer(response), ec);
  return response;
}

class RoutingE2e : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    dir_ = std::filesystem::temp_directory_path() /
           ("kytkin_routing_e2e_" + std::to_string(::getpid()) + "_" + name);
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "routes.txt") << kTable;
    process_ = std::make_unique<KytkinProcess>(KYTKIN_BINARY, dir_);
    sim_a_ = std::make_unique<SimProcess>(dir_, "a");
    sim_b_ = std::make_unique<SimProcess>(dir_, "b");
    time_ = TransmissionTimeNow();
  }

  void TearDown() override {
    if (process_->running()) {
      EXPECT_EQ(process_->Stop(), 0) << process_->ServerStderr();
    }
    sim_a_->Stop();
    sim_b_->Stop();
    const std::string data = process_->data_dir().string();
    CommandResult ledger = process_->Run({"ledger", "verify", "--data-dir", data});
    EXPECT_EQ(ledger.exit_code, 0) << ledger.output;
    CommandResult journal = process_->Run({"journal", "verify", "--data-dir", data});
    EXPECT_EQ(journal.exit_code, 0) << journal.output;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(data)) {
      if (!entry.is_regular_file()) continue;
      const std::string bytes = ReadFileBytes(entry.path());
      for (const char* pan : {kNordbankPan, kSouthbankPan}) {
        EXPECT_EQ(bytes.find(pan), std::string::npos) << "clear PAN in " << entry.path();
      }
    }
    if (!HasFailure()) std::filesystem::remove_all(dir_);
  }

  // Sim a hosts nb-a and sb-a, sim b hosts nb-b. `deadline_ms` is every link's deadline.
  Status StartServe(int deadline_ms = 2000, std::string_view extra = "") {
    std::string config = "threads = 2\n[[iso_listener]]\nlisten = \"127.0.0.1:0\"\n";
    config += "[grpc]\nlisten = \"127.0.0.1:0\"\n[http]\nlisten = \"127.0.0.1:0\"\n";
    config += "[ledger]\nsync = false\n";
    config += "[routing]\ntable_file = \"" + (dir_ / "routes.txt").string() + "\"\n";
    config += "saf_retry_initial_ms = 100\nsaf_retry_max_ms = 200\nsaf_attempts_max = 100\n";
    auto link = [&](const char* id, uint16_t port) {
      config += "[[issuer_link]]\nid = \"" + std::string(id) +
                "\"\naddress = \"127.0.0.1:" + std::to_string(port) +
                "\"\nrequest_deadline_ms = " + std::to_string(deadline_ms) +
                "\necho_interval_ms = 200\nreconnect_initial_ms = 20\nreconnect_max_ms = 100\n";
    };
    link("nb-a", sim_a_->port());
    link("nb-b", sim_b_->port());
    link("sb-a", sim_a_->port());
    config += extra;
    return process_->Start(config);
  }

  std::string Metrics() { return HttpGet(process_->ports().http, "/metrics"); }
  bool LinkUp(const std::string& link) {
    return Metrics().find("kytkin_issuer_link_up{link=\"" + link + "\"} 1") != std::string::npos;
  }
  std::string Saf() { return HttpGet(process_->ports().http, "/api/v1/saf"); }
  bool SafEmpty() { return Saf().find("\"queued\":0,\"parked\":0") != std::string::npos; }
  template <typename F>
  bool WaitFor(F done, std::chrono::milliseconds timeout = 10s) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      if (done()) return true;
      std::this_thread::sleep_for(20ms);
    }
    return done();
  }

  // One request from a terminal; returns DE 39 ("" when there was no answer).
  std::string Send(CardOperation op, const std::string& pan, int64_t minor,
                   std::string* de54 = nullptr) {
    auto c = TerminalConnection::Connect("127.0.0.1", process_->ports().iso.at("pos"),
                                         *iso8583::FindDialect("iso87-ascii"),
                                         iso8583::Framing::kBinary2, kTerminalTimeoutMs);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    if (!c.ok()) return "";
    TerminalRequest r;
    r.operation = op;
    r.pan = pan;
    r.amount = Amount(minor, kEur);
    r.stan = next_stan_++;
    r.transmission_time = time_;
    r.pin_present = true;
    iso8583::Message request(*iso8583::FindDialect("iso87-ascii"));
    EXPECT_TRUE(BuildTerminalRequest(r, TerminalIdentity{}, request).ok());
    iso8583::Message response(*iso8583::FindDialect("iso87-ascii"));
    Status s = (*c)->Exchange(request, response);
    EXPECT_TRUE(s.ok()) << s.ToString();
    if (!s.ok()) return "";
    EXPECT_EQ(response.Get(11), request.Get(11)) << "the terminal's STAN, not the link's";
    EXPECT_EQ(response.Get(41), request.Get(41));
    if (response.Get(39) == "00") {
      EXPECT_EQ(response.Get(37).size(), 12u);
    }
    if (de54 != nullptr) *de54 = std::string(response.Get(54));
    return std::string(response.Get(39));
  }

  // A terminal's reversal (0400) or completion (0220) of the request it sent with
  // `original_stan`; returns DE 39.
  std::string SendFollowUp(CardOperation op, const std::string& pan, int64_t minor, uint32_t stan,
                           std::string_view original_mti, uint32_t original_stan) {
    auto c = TerminalConnection::Connect("127.0.0.1", process_->ports().iso.at("pos"),
                                         *iso8583::FindDialect("iso87-ascii"),
                                         iso8583::Framing::kBinary2, kTerminalTimeoutMs);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    if (!c.ok()) return "";
    TerminalRequest r;
    r.operation = op;
    r.pan = pan;
    r.amount = Amount(minor, kEur);
    r.stan = stan;
    r.transmission_time = time_;
    r.original = {std::string(original_mti), original_stan, time_};
    iso8583::Message request(*iso8583::FindDialect("iso87-ascii"));
    EXPECT_TRUE(BuildTerminalRequest(r, TerminalIdentity{}, request).ok());
    iso8583::Message response(*iso8583::FindDialect("iso87-ascii"));
    Status s = (*c)->Exchange(request, response);
    EXPECT_TRUE(s.ok()) << s.ToString();
    if (!s.ok()) return "";
    std::string mti(request.mti());
    mti[2] = static_cast<char>(mti[2] + 1);
    EXPECT_EQ(response.mti(), mti);
    return std::string(response.Get(39));
  }
  std::string SendReversal(const std::string& pan, int64_t minor, uint32_t stan,
                           std::string_view original_mti, uint32_t original_stan) {
    return SendFollowUp(CardOperation::kReversal, pan, minor, stan, original_mti, original_stan);
  }

  std::string Journal() {
    return process_->Run({"journal", "export", "--data-dir", process_->data_dir().string()}).output;
  }

  std::filesystem::path dir_;
  std::unique_ptr<KytkinProcess> process_;
  std::unique_ptr<SimProcess> sim_a_, sim_b_;
  std::string time_;
  uint32_t next_stan_ = 100;
};

// Off-us settlement (issue 6): a nordbank authorization its issuer approved over the link is
// captured by the terminal's 0320 (kytkin's RRN, the issuer's auth code) against nordbank's
// receivable account, once; one the terminal reversed online (the 0400 went to the issuer) is
// refused 12; the 0500 balances, and the payout credits the merchant what nordbank owes.
TEST_F(RoutingE2e, OffUsAuthorizationsSettleAgainstTheIssuersReceivable) {
  ASSERT_TRUE(sim_a_->Start(0).ok());
  ASSERT_TRUE(sim_b_->Start(0).ok());
  ASSERT_TRUE(StartServe(2000,
                         "[settlement]\n[settlement.merchants.KYTKINMERCH0001]\n"
                         "account = 1001\n")
                  .ok());
  ASSERT_TRUE(WaitFor([&] { return LinkUp("nb-a"); }));
  const iso8583::Dialect& dialect = *iso8583::FindDialect("iso87-ascii");
  auto c = TerminalConnection::Connect("127.0.0.1", process_->ports().iso.at("pos"), dialect,
                                       iso8583::Framing::kBinary2, kTerminalTimeoutMs);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const TerminalIdentity identity;
  auto exchange = [&](const iso8583::Message& request) {
    iso8583::Message response(dialect);
    Status s = (*c)->Exchange(request, response);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return response;
  };
  auto authorize = [&](uint32_t stan, int64_t minor) {
    TerminalRequest r;
    r.operation = CardOperation::kAuthorize;
    r.pan = kNordbankPan;
    r.amount = Amount(minor, kEur);
    r.stan = stan;
    r.transmission_time = time_;
    r.pin_present = true;
    iso8583::Message m(dialect);
    EXPECT_TRUE(BuildTerminalRequest(r, identity, m).ok());
    iso8583::Message response = exchange(m);
    EXPECT_EQ(response.Get(39), "00");
    return std::pair{std::string(response.Get(37)), std::string(response.Get(38))};
  };
  auto upload = [&](uint32_t stan, int64_t minor, const std::pair<std::string, std::string>& a) {
    return std::string(
        exchange(CaptureUpload(dialect, identity, time_, stan, minor, a.first, a.second)).Get(39));
  };
  const auto sale = authorize(201, 2'500);
  const auto voided = authorize(202, 1'000);
  EXPECT_EQ(SendReversal(kNordbankPan, 1'000, 203, "0100", 202), "00");
  EXPECT_EQ(upload(1, 2'500, sale), "00");
  EXPECT_EQ(upload(2, 2'500, sale), "94");    // a second capture of it
  EXPECT_EQ(upload(3, 1'000, voided), "12");  // reversed at the issuer already
  EXPECT_EQ(exchange(Reconciliation(dialect, identity, time_, 204, 1, 2'500)).Get(39), "00");
  c->reset();

  ASSERT_EQ(process_->Stop(), 0) << process_->ServerStderr();
  const std::string data = process_->data_dir().string();
  CommandResult cut = process_->Run({"settlement", "cutover", "--data-dir", data});
  ASSERT_EQ(cut.exit_code, 0) << cut.output;
  auto balance = [&](uint64_t account) {
    CommandResult r =
        process_->Run({"accounts", "show", "--id", std::to_string(account), "--data-dir", data});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return r.output;
  };
  EXPECT_NE(balance(1001).find("\"balance\":\"25.00\""), std::string::npos);  // no fee set
  const std::string receivable = balance(0xFFFF'0000'0001'0000ull);           // the first issuer's
  EXPECT_NE(receivable.find("issuer receivable nordbank 978"), std::string::npos) << receivable;
  EXPECT_NE(receivable.find("\"balance\":\"-25.00\""), std::string::npos) << receivable;
}

// Issue 6 gaps, through the real switch: an issuer's partial approval (0110 DE 39 10, DE 4 the
// approved amount) reaches the terminal with the approved amount, is journaled, and bounds the
// off-us capture (the tolerance over what was approved, not what was asked); an authorization the
// terminal completed online (the 0220 went to the issuer) is not captured again by a 0320 (94).
TEST_F(RoutingE2e, PartialApprovalsAndOnlineCompletionsBoundOffUsCaptures) {
  ASSERT_TRUE(sim_a_->Start(0, {"--partial-approvals"}).ok());
  ASSERT_TRUE(sim_b_->Start(0).ok());
  ASSERT_TRUE(StartServe(2000,
                         "[settlement]\n[settlement.merchants.KYTKINMERCH0001]\n"
                         "account = 1001\n")
                  .ok());
  ASSERT_TRUE(WaitFor([&] { return LinkUp("nb-a") && LinkUp("sb-a"); }));
  const iso8583::Dialect& dialect = *iso8583::FindDialect("iso87-ascii");
  auto c = TerminalConnection::Connect("127.0.0.1", process_->ports().iso.at("pos"), dialect,
                                       iso8583::Framing::kBinary2, kTerminalTimeoutMs);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const TerminalIdentity identity;
  auto exchange = [&](const iso8583::Message& request) {
    iso8583::Message response(dialect);
    Status s = (*c)->Exchange(request, response);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return response;
  };
  struct Approval {
    std::string code, rrn, auth_code;
    uint64_t amount_minor = 0;
  };
  auto authorize = [&](const char* pan, uint32_t stan, int64_t minor) {
    TerminalRequest r;
    r.operation = CardOperation::kAuthorize;
    r.pan = pan;
    r.amount = Amount(minor, kEur);
    r.stan = stan;
    r.transmission_time = time_;
    r.pin_present = true;
    iso8583::Message m(dialect);
    EXPECT_TRUE(BuildTerminalRequest(r, identity, m).ok());
    iso8583::Message response = exchange(m);
    Result<uint64_t> amount = response.GetUint(4);
    return Approval{std::string(response.Get(39)), std::string(response.Get(37)),
                    std::string(response.Get(38)), amount.ok() ? *amount : 0};
  };
  auto upload = [&](uint32_t stan, int64_t minor, const Approval& a, const char* batch = "1") {
    return std::string(
        exchange(CaptureUpload(dialect, identity, time_, stan, minor, a.rrn, a.auth_code, batch))
            .Get(39));
  };
  // The nordbank card has 1,000.00 at the issuer: 1,500.00 asked, 1,000.00 approved.
  const Approval partial = authorize(kNordbankPan, 301, 150'000);
  EXPECT_EQ(partial.code, "10");
  EXPECT_EQ(partial.amount_minor, 100'000u);
  EXPECT_EQ(partial.auth_code.size(), 6u);
  const Approval completed = authorize(kSouthbankPan, 302, 5'000);
  EXPECT_EQ(completed.code, "00");
  EXPECT_EQ(completed.amount_minor, 5'000u);
  EXPECT_EQ(SendFollowUp(CardOperation::kFinancialAdvice, kSouthbankPan, 5'000, 303, "0100", 302),
            "00");

  EXPECT_EQ(upload(1, 110'000, partial), "13");  // 100.00 over what was approved: above 20.00
  EXPECT_EQ(upload(2, 101'000, partial), "00");  // a 10.00 tip on the approved 1,000.00
  EXPECT_EQ(upload(3, 5'000, completed), "94");  // completed online: the issuer has it
  EXPECT_EQ(exchange(Reconciliation(dialect, identity, time_, 304, 1, 101'000)).Get(39), "00");
  c->reset();

  // A restart keeps the mark: the completed one is still refused (in a new batch; the first is
  // balanced, closed to items).
  ASSERT_EQ(process_->Stop(), 0) << process_->ServerStderr();
  ASSERT_TRUE(StartServe(2000,
                         "[settlement]\n[settlement.merchants.KYTKINMERCH0001]\n"
                         "account = 1001\n")
                  .ok());
  c = TerminalConnection::Connect("127.0.0.1", process_->ports().iso.at("pos"), dialect,
                                  iso8583::Framing::kBinary2, kTerminalTimeoutMs);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(upload(4, 5'000, completed, "2"), "94");
  c->reset();
  ASSERT_EQ(process_->Stop(), 0) << process_->ServerStderr();
  const std::string journal = Journal();
  EXPECT_NE(journal.find("\"amount_minor\":150000,\"currency\":978,\"approved_minor\":100000"),
            std::string::npos)
      << journal;
  const std::string a = sim_a_->Stop();
  EXPECT_EQ(JsonNumber(a, "partial_approvals"), 1) << a;
  EXPECT_EQ(JsonNumber(a, "advices_applied"), 1) << a;  // the southbank completion
}

TEST_F(RoutingE2e, RoutesByBinFailsOverToTheBackupAndDeliversStandInAdvices) {
  ASSERT_TRUE(sim_a_->Start(0).ok());
  ASSERT_TRUE(sim_b_->Start(0).ok());
  ASSERT_TRUE(StartServe().ok());
  ASSERT_TRUE(WaitFor([&] { return LinkUp("nb-a") && LinkUp("nb-b") && LinkUp("sb-a"); }));

  EXPECT_EQ(Send(CardOperation::kPurchase, kNordbankPan, 1'000), "00");    // over nb-a
  EXPECT_EQ(Send(CardOperation::kPurchase, kOnUsPan, 1'000), "00");        // kytkin's ledger
  EXPECT_EQ(Send(CardOperation::kPurchase, kUnknownPan, 1'000), "15");     // no such issuer
  EXPECT_EQ(Send(CardOperation::kPurchase, kNordbankPan, 200'000), "51");  // the issuer's decline
  std::string balance;
  EXPECT_EQ(Send(CardOperation::kBalanceInquiry, kNordbankPan, 0, &balance), "00");
  EXPECT_EQ(balance, "0002978C000000099000");  // the issuer's: 1000.00 - 10.00
  {
    // gRPC routes the same way: an online authorization for a nordbank card goes to nb-a, and its
    // idempotency key answers a retry with the same decision without asking the issuer again.
    auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(process_->ports().grpc),
                                       grpc::InsecureChannelCredentials());
    auto authorization = v1::Authorization::NewStub(channel);
    v1::AuthorizeRequest authorize;
    authorize.set_idempotency_key("web-order-1");
    authorize.mutable_card()->set_pan(kNordbankPan);
    authorize.mutable_card()->set_expiry_yymm("3106");
    authorize.mutable_amount()->set_currency_code("EUR");
    authorize.mutable_amount()->set_minor_units(1'500);
    authorize.mutable_merchant()->set_merchant_id("KYTKINMERCH0002");
    v1::AuthorizeResponse first, retried;
    for (v1::AuthorizeResponse* response : {&first, &retried}) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + 10s);
      grpc::Status s = authorization->Authorize(&context, authorize, response);
      ASSERT_TRUE(s.ok()) << s.error_message();
    }
    EXPECT_EQ(first.decision().response_code_digits(), "00");
    EXPECT_FALSE(first.decision().auth_code().empty());
    EXPECT_EQ(retried.decision().rrn(), first.decision().rrn());
  }

  // Host a goes down: nordbank fails over to nb-b; southbank has no link left -> stand-in.
  sim_a_->Signal(SIGUSR1);
  ASSERT_TRUE(WaitFor([&] { return !LinkUp("nb-a") && !LinkUp("sb-a"); }));
  EXPECT_EQ(Send(CardOperation::kPurchase, kNordbankPan, 2'000), "00");    // over nb-b
  EXPECT_EQ(Send(CardOperation::kPurchase, kSouthbankPan, 5'000), "00");   // stand-in
  EXPECT_EQ(Send(CardOperation::kPurchase, kSouthbankPan, 10'001), "91");  // over its limit
  EXPECT_EQ(Send(CardOperation::kRefund, kSouthbankPan, 100), "91");       // not a stand-in code
  const std::string saf = Saf();
  EXPECT_NE(saf.find("\"queued\":1,"), std::string::npos) << saf;  // the 0120; nothing to reverse
  EXPECT_NE(saf.find("\"mti\":\"0120\""), std::string::npos) << saf;
  EXPECT_NE(saf.find("433333******0019"), std::string::npos) << saf;

  // A bad table is refused with its line; the good one stays.
  std::ofstream(dir_ / "routes.txt", std::ios::app) << "bin 12 nordbank\n";
  const std::string refused = HttpPost(process_->ports().http, "/api/v1/routing/reload");
  EXPECT_NE(refused.find("400"), std::string::npos) << refused;
  EXPECT_NE(refused.find("line 9"), std::string::npos) << refused;
  std::ofstream(dir_ / "routes.txt") << kTable;
  EXPECT_NE(HttpPost(process_->ports().http, "/api/v1/routing/reload").find("200 OK"),
            std::string::npos);

  // Host a is back: the advice goes out once and the queue empties.
  sim_a_->Signal(SIGUSR2);
  ASSERT_TRUE(WaitFor([&] { return SafEmpty(); })) << Saf();
  const std::string metrics = Metrics();
  EXPECT_NE(metrics.find("kytkin_routing_reloads_total{result=\"failed\"} 1"), std::string::npos);
  ASSERT_EQ(process_->Stop(), 0);
  const std::string journal = Journal();
  EXPECT_NE(journal.find("\"route\":\"issuer nordbank via nb-a"), std::string::npos) << journal;
  EXPECT_NE(journal.find("\"route\":\"issuer nordbank via nb-b"), std::string::npos) << journal;
  EXPECT_NE(journal.find("\"operation\":\"stand_in\""), std::string::npos) << journal;
  EXPECT_NE(journal.find("\"route\":\"unknown bin\""), std::string::npos) << journal;
  EXPECT_NE(journal.find("\"route\":\"on-us\""), std::string::npos) << journal;
  EXPECT_NE(journal.find("\"channel\":\"grpc\",\"operation\":\"remote_decision\""),
            std::string::npos)
      << journal;
  const std::string a = sim_a_->Stop();
  EXPECT_EQ(JsonNumber(a, "approvals"), 3) << a;  // purchase, balance, the online one
  EXPECT_EQ(JsonNumber(a, "declines"), 1) << a;
  EXPECT_EQ(JsonNumber(a, "advices_applied"), 1) << a;
  const std::string b = sim_b_->Stop();
  EXPECT_EQ(JsonNumber(b, "approvals"), 1) << b;  // the failover purchase
}

TEST_F(RoutingE2e, SlowIssuerStandInLateApprovalReversedAndAdviceDeliveredOnce) {
  // Host a answers card requests after 1.5 s; the links wait 0.5 s.
  ASSERT_TRUE(sim_a_->Start(0, {"--latency-fixed-us", "1500000"}).ok());
  ASSERT_TRUE(sim_b_->Start(0).ok());
  ASSERT_TRUE(StartServe(500).ok());
  ASSERT_TRUE(WaitFor([&] { return LinkUp("sb-a"); }));

  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Send(CardOperation::kPurchase, kSouthbankPan, 4'000), "00");  // stand-in at 0.5 s
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1400ms);
  // The request reached the issuer, so a 0420 for it is queued ahead of the 0120: it undoes the
  // issuer's own approval, which does arrive, late.
  const std::string queued = Saf();
  EXPECT_LT(queued.find("\"mti\":\"0420\""), queued.find("\"mti\":\"0120\"")) << queued;
  // The slow host keeps getting the 0420 (then 0421 repeats) without answering in time.
  ASSERT_TRUE(WaitFor([&] { return Saf().find("\"attempts\":3") != std::string::npos; })) << Saf();

  // A fast host comes back on the same port: both advices are delivered and acknowledged.
  const std::string slow = sim_a_->Stop();
  EXPECT_EQ(JsonNumber(slow, "approvals"), 1) << slow;
  EXPECT_EQ(JsonNumber(slow, "reversals_applied"), 1) << slow;  // its approval undone, once
  EXPECT_GE(JsonNumber(slow, "reversal_repeats"), 1) << slow;   // the 0421s were repeats
  EXPECT_EQ(JsonNumber(slow, "advices_applied"), 0) << slow;    // the 0120 waits its turn
  ASSERT_TRUE(sim_a_->Start(sim_a_->port()).ok());
  ASSERT_TRUE(WaitFor([&] { return SafEmpty(); }, 15s)) << Saf();
  EXPECT_EQ(Metrics().find("kytkin_issuer_link_late_answers{link=\"sb-a\"} 0"),
            std::string::npos);  // counted
  ASSERT_EQ(process_->Stop(), 0);
  const std::string journal = Journal();
  EXPECT_NE(journal.find("\"route\":\"stand-in deadline southbank via sb-a\""), std::string::npos)
      << journal;
  const std::string fast = sim_a_->Stop();
  EXPECT_EQ(JsonNumber(fast, "approvals"), 0) << fast;
  EXPECT_EQ(JsonNumber(fast, "advices_applied") + JsonNumber(fast, "advice_repeats"), 1) << fast;
  EXPECT_EQ(JsonNumber(fast, "reversals_applied") + JsonNumber(fast, "reversals_unmatched") +
                JsonNumber(fast, "reversal_repeats"),
            1)
      << fast;
}

TEST_F(RoutingE2e, NoStandInAnswers91AndTheReversalIsDeliveredAfterARestart) {
  // Host a takes every card request and never answers; nordbank has no stand-in.
  ASSERT_TRUE(sim_a_->Start(0, {"--drop-share", "1"}).ok());
  ASSERT_TRUE(sim_b_->Start(0).ok());
  ASSERT_TRUE(StartServe(300).ok());
  ASSERT_TRUE(WaitFor([&] { return LinkUp("nb-a") && LinkUp("nb-b"); }));
  EXPECT_EQ(Send(CardOperation::kPurchase, kNordbankPan, 3'000), "91");
  EXPECT_NE(Saf().find("\"mti\":\"0420\""), std::string::npos) << Saf();
  // Host b goes down too, and kytkin restarts with the reversal still queued.
  sim_b_->Signal(SIGUSR1);
  ASSERT_EQ(process_->Stop(), 0);
  const std::string dropped = sim_a_->Stop();
  EXPECT_EQ(JsonNumber(dropped, "approvals"), 1) << dropped;  // it took the money
  ASSERT_TRUE(StartServe(300).ok());
  EXPECT_NE(Saf().find("\"mti\":\"0420\""), std::string::npos) << Saf();
  // Host b (nordbank's backup) comes up: the reversal goes there, once.
  sim_b_->Signal(SIGUSR2);
  ASSERT_TRUE(WaitFor([&] { return SafEmpty(); }, 15s)) << Saf();
  ASSERT_EQ(process_->Stop(), 0);
  const std::string b = sim_b_->Stop();
  EXPECT_EQ(JsonNumber(b, "reversals_applied") + JsonNumber(b, "reversals_unmatched"), 1) << b;
  const std::string journal = Journal();
  EXPECT_NE(journal.find("\"route\":\"unavailable deadline nordbank via nb-a\""), std::string::npos)
      << journal;
}

// Issue 5 money gap: a stand-in approval (kytkin approved for southbank, its 0120 queued) that the
// terminal reverses must reach southbank as a 0420 after the 0120, or the cardholder stays charged
// there; a second reversal after a restart is answered 12 and queues nothing.
TEST_F(RoutingE2e, AStandInReversedByTheTerminalIsReversedAtTheIssuerAlsoAfterARestart) {
  ASSERT_TRUE(sim_a_->Start(0).ok());
  ASSERT_TRUE(sim_b_->Start(0).ok());
  sim_a_->Signal(SIGUSR1);  // southbank's only host is down: stand-in at once
  ASSERT_TRUE(StartServe().ok());
  const uint32_t purchase = next_stan_;
  EXPECT_EQ(Send(CardOperation::kPurchase, kSouthbankPan, 5'000), "00");
  EXPECT_EQ(SendReversal(kSouthbankPan, 5'000, next_stan_++, "0200", purchase), "00");
  std::string queued = Saf();
  EXPECT_LT(queued.find("\"mti\":\"0120\""), queued.find("\"mti\":\"0420\"")) << queued;

  ASSERT_EQ(process_->Stop(), 0);
  ASSERT_TRUE(StartServe().ok());
  EXPECT_EQ(SendReversal(kSouthbankPan, 5'000, next_stan_++, "0200", purchase), "12");
  EXPECT_NE(Saf().find("\"queued\":2,"), std::string::npos) << Saf();

  sim_a_->Signal(SIGUSR2);
  ASSERT_TRUE(WaitFor([&] { return SafEmpty(); }, 15s)) << Saf();
  std::string balance;
  EXPECT_EQ(Send(CardOperation::kBalanceInquiry, kSouthbankPan, 0, &balance), "00");
  EXPECT_EQ(balance, "0002978C000000100000");  // charged by the 0120, given back by the 0420
  ASSERT_EQ(process_->Stop(), 0);
  const std::string journal = Journal();
  EXPECT_NE(journal.find("\"route\":\"reversal of a stand-in, to issuer southbank\""),
            std::string::npos)
      << journal;
  const std::string a = sim_a_->Stop();
  EXPECT_EQ(JsonNumber(a, "advices_applied"), 1) << a;
  EXPECT_EQ(JsonNumber(a, "reversals_applied"), 1) << a;
  EXPECT_EQ(JsonNumber(a, "reversals_unmatched"), 0) << a;
}

TEST_F(RoutingE2e, TerminalReversalAndCompletionOfAnIssuerApprovalReachTheIssuerOnce) {
  ASSERT_TRUE(sim_a_->Start(0).ok());
  ASSERT_TRUE(sim_b_->Start(0).ok());
  ASSERT_TRUE(StartServe().ok());
  ASSERT_TRUE(WaitFor([&] { return LinkUp("nb-a") && LinkUp("nb-b"); }));

  const uint32_t purchase = next_stan_;
  EXPECT_EQ(Send(CardOperation::kPurchase, kNordbankPan, 2'500), "00");  // over nb-a
  std::string balance;
  EXPECT_EQ(Send(CardOperation::kBalanceInquiry, kNordbankPan, 0, &balance), "00");
  EXPECT_EQ(balance, "0002978C000000097500");  // the issuer holds 25.00

  // The terminal reverses it: approved at once, a 0420 queued for nordbank; the retransmission
  // (same STAN) is answered from the dedupe index and queues nothing new.
  const uint32_t reversal = next_stan_++;
  EXPECT_EQ(SendReversal(kNordbankPan, 2'500, reversal, "0200", purchase), "00");
  EXPECT_EQ(SendReversal(kNordbankPan, 2'500, reversal, "0200", purchase), "00");
  // A reversal that names another card is not the issuer's approval: 25, nothing queued.
  EXPECT_EQ(SendReversal(kSouthbankPan, 2'500, next_stan_++, "0200", purchase), "25");
  // Another reversal of the same purchase (a new STAN) finds it reversed: 12, nothing queued.
  EXPECT_EQ(SendReversal(kNordbankPan, 2'500, next_stan_++, "0200", purchase), "12");
  ASSERT_TRUE(WaitFor([&] { return SafEmpty(); })) << Saf();
  EXPECT_EQ(Send(CardOperation::kBalanceInquiry, kNordbankPan, 0, &balance), "00");
  EXPECT_EQ(balance, "0002978C000000100000");  // the money is back at the issuer

  // A completion (0220) of an authorization the issuer approved: a 0220 advice for the issuer,
  // which keeps only the completed amount; more than the authorization is 13, nothing queued.
  const uint32_t authorization = next_stan_;
  EXPECT_EQ(Send(CardOperation::kAuthorize, kNordbankPan, 3'000), "00");
  EXPECT_EQ(SendFollowUp(CardOperation::kFinancialAdvice, kNordbankPan, 3'001, next_stan_++, "0100",
                         authorization),
            "13");
  const uint32_t completion = next_stan_++;
  for (int i = 0; i < 2; ++i) {  // the second is a retransmission
    EXPECT_EQ(SendFollowUp(CardOperation::kFinancialAdvice, kNordbankPan, 2'000, completion, "0100",
                           authorization),
              "00");
  }
  ASSERT_TRUE(WaitFor([&] { return SafEmpty(); })) << Saf();
  EXPECT_EQ(Send(CardOperation::kBalanceInquiry, kNordbankPan, 0, &balance), "00");
  EXPECT_EQ(balance, "0002978C000000098000");  // 20.00 of the 30.00 held

  // An on-us reversal still goes to kytkin's ledger.
  const uint32_t on_us = next_stan_;
  EXPECT_EQ(Send(CardOperation::kPurchase, kOnUsPan, 1'000), "00");
  EXPECT_EQ(SendReversal(kOnUsPan, 1'000, next_stan_++, "0200", on_us), "00");

  ASSERT_EQ(process_->Stop(), 0);
  const std::string journal = Journal();
  // Two records: the approved reversal, and the second one, which the store declined 12 because
  // it keeps the original reversed (reason already_resolved).
  const std::string route = "\"route\":\"reversal to issuer nordbank\"";
  const size_t first = journal.find(route);
  ASSERT_NE(first, std::string::npos) << journal;
  const size_t second = journal.find(route, first + 1);
  ASSERT_NE(second, std::string::npos) << journal;
  EXPECT_EQ(journal.find(route, second + 1), std::string::npos) << journal;
  EXPECT_NE(journal.find("\"reason\":\"already_resolved\"", second), std::string::npos) << journal;
  EXPECT_NE(journal.find("\"operation\":\"reverse\""), std::string::npos) << journal;
  const std::string a = sim_a_->Stop();
  EXPECT_EQ(JsonNumber(a, "reversals_applied"), 1) << a;
  EXPECT_EQ(JsonNumber(a, "reversals_unmatched"), 0) << a;
  EXPECT_EQ(JsonNumber(a, "reversal_repeats"), 0) << a;
  EXPECT_EQ(JsonNumber(a, "advices_applied"), 1) << a;  // the completion, once
  EXPECT_EQ(JsonNumber(a, "advice_repeats"), 0) << a;
  EXPECT_NE(journal.find("\"route\":\"completion to issuer nordbank\""), std::string::npos)
      << journal;
}

TEST_F(RoutingE2e, GrpcCaptureAndReverseOfAnIssuerApprovalReachTheIssuer) {
  ASSERT_TRUE(sim_a_->Start(0).ok());
  ASSERT_TRUE(sim_b_->Start(0).ok());
  ASSERT_TRUE(StartServe().ok());
  ASSERT_TRUE(WaitFor([&] { return LinkUp("nb-a") && LinkUp("nb-b"); }));
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(process_->ports().grpc),
                                     grpc::InsecureChannelCredentials());
  auto authorization = v1::Authorization::NewStub(channel);
  auto authorize = [&](const std::string& key, int64_t minor) {
    v1::AuthorizeRequest request;
    request.set_idempotency_key(key);
    request.mutable_card()->set_pan(kNordbankPan);
    request.mutable_card()->set_expiry_yymm("3106");
    request.mutable_amount()->set_currency_code("EUR");
    request.mutable_amount()->set_minor_units(minor);
    request.mutable_merchant()->set_merchant_id("KYTKINMERCH0002");
    v1::AuthorizeResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 10s);
    grpc::Status s = authorization->Authorize(&context, request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response.decision();
  };
  std::string balance;

  // Capture 20.00 of a 30.00 authorization (named by its idempotency key): a 0220 advice for
  // nordbank, which keeps only the completed amount.
  ASSERT_EQ(authorize("web-auth-1", 3'000).response_code_digits(), "00");
  {
    v1::CaptureRequest capture;
    capture.set_idempotency_key("web-capture-1");
    capture.mutable_authorization()->set_idempotency_key("web-auth-1");
    capture.mutable_amount()->set_currency_code("EUR");
    capture.mutable_amount()->set_minor_units(2'000);
    v1::CaptureResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 10s);
    grpc::Status s = authorization->Capture(&context, capture, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(response.decision().response_code_digits(), "00");
  }
  ASSERT_TRUE(WaitFor([&] { return SafEmpty(); })) << Saf();
  EXPECT_EQ(Send(CardOperation::kBalanceInquiry, kNordbankPan, 0, &balance), "00");
  EXPECT_EQ(balance, "0002978C000000098000");

  // Reverse a 15.00 authorization named by its RRN: a 0420 for nordbank, the money is back. A
  // second reversal (another key, naming it by key) finds it reversed: 12, nothing queued.
  const v1::Decision second = authorize("web-auth-2", 1'500);
  ASSERT_EQ(second.response_code_digits(), "00");
  for (const char* key : {"web-reverse-2", "web-reverse-3"}) {
    v1::ReverseRequest reverse;
    reverse.set_idempotency_key(key);
    if (std::string_view(key) == "web-reverse-2") {
      reverse.mutable_original()->set_rrn(second.rrn());
    } else {
      reverse.mutable_original()->set_idempotency_key("web-auth-2");
    }
    v1::ReverseResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 10s);
    grpc::Status s = authorization->Reverse(&context, reverse, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(response.decision().response_code_digits(),
              std::string_view(key) == "web-reverse-2" ? "00" : "12");
  }
  ASSERT_TRUE(WaitFor([&] { return SafEmpty(); })) << Saf();
  EXPECT_EQ(Send(CardOperation::kBalanceInquiry, kNordbankPan, 0, &balance), "00");
  EXPECT_EQ(balance, "0002978C000000098000");

  ASSERT_EQ(process_->Stop(), 0);
  const std::string journal = Journal();
  EXPECT_NE(journal.find("\"route\":\"completion to issuer nordbank\""), std::string::npos)
      << journal;
  EXPECT_NE(journal.find("\"route\":\"reversal to issuer nordbank\""), std::string::npos)
      << journal;
  const std::string a = sim_a_->Stop();
  EXPECT_EQ(JsonNumber(a, "reversals_applied"), 1) << a;
  EXPECT_EQ(JsonNumber(a, "reversals_unmatched"), 0) << a;
  EXPECT_EQ(JsonNumber(a, "reversal_repeats"), 0) << a;
  EXPECT_EQ(JsonNumber(a, "advices_applied"), 1) << a;
}

TEST_F(RoutingE2e, SighupReloadsTheTableAndABrokenFileKeepsTheOldOne) {
  ASSERT_TRUE(sim_a_->Start(0).ok());
  ASSERT_TRUE(sim_b_->Start(0).ok());
  ASSERT_TRUE(StartServe().ok());
  ASSERT_TRUE(WaitFor([&] { return LinkUp("nb-a"); }));
  EXPECT_EQ(Send(CardOperation::kPurchase, kNordbankPan, 1'000), "00");  // over nb-a

  // nordbank's BIN leaves the table: after SIGHUP its cards are an unknown BIN (15).
  std::string without_nordbank = kTable;
  const std::string bin_line = "bin 476173 nordbank\n";
  without_nordbank.erase(without_nordbank.find(bin_line), bin_line.size());
  std::ofstream(dir_ / "routes.txt") << without_nordbank;
  process_->Signal(SIGHUP);
  ASSERT_TRUE(WaitFor([&] {
    return Metrics().find("kytkin_routing_reloads_total{result=\"ok\"} 1") != std::string::npos;
  })) << Metrics();
  EXPECT_EQ(Send(CardOperation::kPurchase, kNordbankPan, 1'000), "15");

  // A broken file is refused: the failure is counted and the table in use stays.
  std::ofstream(dir_ / "routes.txt") << kTable << "bin 12 nordbank\n";
  process_->Signal(SIGHUP);
  ASSERT_TRUE(WaitFor([&] {
    return Metrics().find("kytkin_routing_reloads_total{result=\"failed\"} 1") != std::string::npos;
  })) << Metrics();
  EXPECT_EQ(Send(CardOperation::kPurchase, kNordbankPan, 1'000), "15");
  EXPECT_NE(Metrics().find("kytkin_routing_reloads_total{result=\"ok\"} 1"), std::string::npos);

  // The good table again: nordbank is routed once more.
  std::ofstream(dir_ / "routes.txt") << kTable;
  process_->Signal(SIGHUP);
  ASSERT_TRUE(WaitFor([&] {
    return Metrics().find("kytkin_routing_reloads_total{result=\"ok\"} 2") != std::string::npos;
  })) << Metrics();
  EXPECT_EQ(Send(CardOperation::kPurchase, kNordbankPan, 1'000), "00");
  ASSERT_EQ(process_->Stop(), 0);
  const std::string a = sim_a_->Stop();
  EXPECT_EQ(JsonNumber(a, "approvals"), 2) << a;
}

}  // namespace
}  // namespace kytkin::e2e
