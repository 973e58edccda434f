// `kytkin load` against the real `kytkin serve` (port 0, temp data dir): a short open-loop run
// over ISO 8583 and over gRPC answers every request it offered, and the ledger still verifies;
// gRPC's --connections are separate TCP connections.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "tests/kytkin_process.h"

namespace kytkin::e2e {
namespace {

class LoadE2e : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("kytkin_load_e2e_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    process_ = std::make_unique<KytkinProcess>(KYTKIN_BINARY, dir_);
    // Every port 0 on loopback, so tests run side by side.
    Status started = process_->Start("", {"--iso-listen", "127.0.0.1:0", "--grpc-listen",
                                          "127.0.0.1:0", "--http-listen", "127.0.0.1:0"});
    ASSERT_TRUE(started.ok()) << started.ToString();
    ports_json_ = (process_->data_dir() / "ports.json").string();
  }
  void TearDown() override {
    if (process_->running()) {
      EXPECT_EQ(process_->Stop(), 0) << process_->ServerStderr();
    }
    CommandResult ledger =
        process_->Run({"ledger", "verify", "--data-dir", process_->data_dir().string()});
    EXPECT_EQ(ledger.exit_code, 0) << ledger.output;
    if (!HasFailure()) std::filesystem::remove_all(dir_);
  }

  std::filesystem::path dir_;
  std::unique_ptr<KytkinProcess> process_;
  std::string ports_json_;
};

// Exit 3 flags a run INVALID: the achieved rate fell more than 1% short of the offered, which a
// 2-core machine running other tests in parallel can cause with one stall at the end of a 2 s
// run. These tests check that every request is answered; OfferedRateOutOfReachIsFlaggedInvalid
// checks the INVALID rule with a rate no single synchronous connection can carry.
bool RanToTheEnd(int exit_code) { return exit_code == 0 || exit_code == 3; }

TEST_F(LoadE2e, OpenLoopOverIso8583AnswersEveryRequest) {
  const std::string json = (dir_ / "iso.json").string();
  CommandResult run =
      process_->Run({"load", "--ports-json", ports_json_, "--rate", "500", "--duration", "2",
                     "--warmup", "1", "--cards", "200", "--json", json, "--quiet"});
  ASSERT_TRUE(RanToTheEnd(run.exit_code)) << run.output;
  const std::string report = ReadFileBytes(json);
  EXPECT_NE(report.find("\"requests\": 1000,"), std::string::npos) << report;
  EXPECT_NE(report.find("\"answered\": 1000,"), std::string::npos) << report;
  EXPECT_NE(report.find("\"errors\": 0,"), std::string::npos) << report;
  EXPECT_NE(report.find("\"timeouts\": 0,"), std::string::npos) << report;
  // The mix's declines come back as such: unknown cards 14, empty accounts 51.
  EXPECT_NE(report.find("\"14\": "), std::string::npos) << report;
  EXPECT_NE(report.find("\"51\": "), std::string::npos) << report;
  // Card numbers never reach the output: only the report's counts.
  EXPECT_EQ(run.output.find("49000000"), std::string::npos) << run.output;
}

TEST_F(LoadE2e, OfferedRateOutOfReachIsFlaggedInvalid) {
  // One connection, one request in flight: every answer waits for a synced commit, so 20,000/s
  // is far out of reach and the backlog drains late (a generous --timeout-ms keeps the requests
  // due last from being given up). The run must say so and exit 3.
  const std::string json = (dir_ / "invalid.json").string();
  CommandResult run =
      process_->Run({"load", "--ports-json", ports_json_, "--rate",       "20000", "--duration",
                     "1",    "--warmup",     "0",         "--threads",    "1",     "--connections",
                     "1",    "--depth",      "1",         "--timeout-ms", "60000", "--cards",
                     "100",  "--json",       json,        "--quiet"});
  EXPECT_EQ(run.exit_code, 3) << run.output;
  EXPECT_NE(run.output.find("INVALID: achieved"), std::string::npos) << run.output;
  const std::string report = ReadFileBytes(json);
  EXPECT_NE(report.find("\"valid\": false"), std::string::npos) << report;
  EXPECT_NE(report.find("\"requests\": 20000,"), std::string::npos) << report;
  EXPECT_NE(report.find("\"errors\": 0,"), std::string::npos) << report;
}

TEST_F(LoadE2e, OpenLoopOverGrpcAnswersEveryRequestAndARerunReusesTheCards) {
  for (int round = 0; round < 2; ++round) {
    const std::string json = (dir_ / ("grpc" + std::to_string(round) + ".json")).string();
    CommandResult run = process_->Run({"load", "--ports-json", ports_json_, "--protocol", "grpc",
                                       "--rate", "300", "--duration", "1", "--warmup", "0",
                                       "--cards", "100", "--json", json, "--quiet"});
    ASSERT_TRUE(RanToTheEnd(run.exit_code)) << run.output;
    if (round == 1) {
      EXPECT_NE(run.output.find("(164 existed already)"), std::string::npos) << run.output;
    }
    const std::string report = ReadFileBytes(json);
    EXPECT_NE(report.find("\"requests\": 300,"), std::string::npos) << report;
    EXPECT_NE(report.find("\"answered\": 300,"), std::string::npos) << report;
    EXPECT_NE(report.find("\"errors\": 0,"), std::string::npos) << report;
  }
}

// Server-side sockets on 127.0.0.1:`port` in state ESTABLISHED. gRPC listens on a dual-stack
// socket, so its connections show in /proc/net/tcp6 as ::ffff:127.0.0.1; both files count.
int EstablishedOnPort(uint16_t port) {
  char suffix[16];
  std::snprintf(suffix, sizeof(suffix), "0100007F:%04X", port);
  int count = 0;
  for (const char* file : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(file);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string slot, local_address, remote_address, state;
      fields >> slot >> local_address >> remote_address >> state;
      if (local_address.ends_with(suffix) && state == "01") ++count;
    }
  }
  return count;
}

TEST_F(LoadE2e, GrpcConnectionsAreSeparateTcpConnections) {
  // The cards first, so the measured run opens no Admin channel beside its own.
  CommandResult setup =
      process_->Run({"load", "--ports-json", ports_json_, "--protocol", "grpc", "--rate", "50",
                     "--duration", "1", "--warmup", "0", "--cards", "100", "--quiet"});
  ASSERT_TRUE(RanToTheEnd(setup.exit_code)) << setup.output;
  const uint16_t port = process_->ports().grpc;
  for (int i = 0; i < 500 && EstablishedOnPort(port) > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // the setup run's sockets close
  }
  ASSERT_EQ(EstablishedOnPort(port), 0);

  std::atomic<bool> done{false};
  CommandResult run;
  std::thread load([&] {
    run = process_->Run({"load", "--ports-json", ports_json_, "--protocol", "grpc", "--rate", "300",
                         "--duration", "2", "--warmup", "0", "--cards", "100", "--connections", "3",
                         "--depth", "2", "--skip-setup", "--quiet"});
    done = true;
  });
  int most = 0;
  while (!done) {
    most = std::max(most, EstablishedOnPort(port));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  load.join();
  ASSERT_TRUE(RanToTheEnd(run.exit_code)) << run.output;
  // At least three (one channel carried every call before). No upper bound: a replaced
  // connection shows for a moment beside its successor (4 seen), which says nothing about
  // --connections. (A full parallel ctest run failed this test once with the old "at most 4"
  // bound; which check failed was not recorded - the count is in the message now.)
  EXPECT_GE(most, 3) << "--connections 3 should open three TCP connections, saw " << most;
}

TEST_F(LoadE2e, RefusesTargetsOffThisMachineAndBadFlags) {
  CommandResult remote = process_->Run({"load", "--iso", "10.0.0.1:8583", "--grpc", "10.0.0.1:1"});
  EXPECT_EQ(remote.exit_code, 2);
  EXPECT_NE(remote.output.find("only 127.0.0.1"), std::string::npos) << remote.output;
  CommandResult mix = process_->Run({"load", "--ports-json", ports_json_, "--mix", "refund=5"});
  EXPECT_EQ(mix.exit_code, 2);
  EXPECT_NE(mix.output.find("--mix"), std::string::npos) << mix.output;
  CommandResult duration = process_->Run({"load", "--ports-json", ports_json_, "--duration", "0"});
  EXPECT_EQ(duration.exit_code, 2);
  EXPECT_NE(duration.output.find("--duration"), std::string::npos) << duration.output;
}

}  // namespace
}  // namespace kytkin::e2e
