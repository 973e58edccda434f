// Crash test: a child process runs the store under concurrent load and reports every
// acknowledged decision through a pipe; the parent SIGKILLs it at a random moment, reopens the
// store and checks that every acknowledged decision is in the journal with the same answer,
// that `ledger verify` and `journal verify` pass, and that nothing was resolved twice.
//
//   KYTKIN_CRASH_CYCLES   kill/reopen cycles (default 50; use 1000+ for a long run)
//   KYTKIN_CRASH_SEED     seed for kill moments and the load (default 20261126)
//
// The child is this test binary started again (posix_spawn of /proc/self/exe) with
// KYTKIN_CRASH_CHILD set, so it is a fresh process, not a fork of a process with threads.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <semaphore>
#include <sstream>
#include <thread>
#include <vector>

#include "storage/store.h"
#include "storage/test_util.h"

extern char** environ;

namespace kytkin::storage {
namespace {

using namespace kytkin::storage::testing;

constexpr int kCards = 8;
constexpr int64_t kOpeningBalance = 1'000'000'000;
constexpr int kChildThreads = 4;
constexpr int kInFlightPerThread = 8;  // keeps the data (and each reopen) small
constexpr int kKillAfterMsMin = 10;
constexpr int kKillAfterMsMax = 150;

uint64_t EnvU64(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

StoreOptions CrashOptions(const std::string& dir) {
  StoreOptions o;
  o.data_dir = dir;
  o.card_key = TestCardKey();
  o.sweep_interval_ms = 0;
  o.hold_ttl_seconds = 3600;
  return o;
}

// One acknowledged decision as the child reported it.
struct Ack {
  std::string key;
  int code = 0;
  uint64_t transfer_id = 0;
  uint64_t journal_sequence = 0;
};

// --- child -------------------------------------------------------------------------------------

[[noreturn]] void RunChild(const std::string& dir, uint64_t cycle, int fd) {
  auto opened = Store::Open(CrashOptions(dir));
  if (!opened.ok()) {
    std::fprintf(stderr, "child: open failed: %s\n", opened.status().ToString().c_str());
    ::_exit(3);
  }
  std::unique_ptr<Store> store = std::move(opened).value();
  if (::write(fd, "R\n", 2) != 2) ::_exit(4);

  std::mutex holds_mu;
  std::vector<uint64_t> holds;  // approved, acknowledged holds of this run
  auto report = [fd](const std::string& key, const Decision& d) {
    char line[256];
    const int n = std::snprintf(line, sizeof line, "A %s %d %llu %llu\n", key.c_str(),
                                static_cast<int>(d.response_code),
                                static_cast<unsigned long long>(d.transfer_id),
                                static_cast<unsigned long long>(d.journal_sequence));
    // One write per line (< PIPE_BUF), so lines from threads never interleave.
    if (::write(fd, line, static_cast<size_t>(n)) != n) ::_exit(5);
  };

  std::vector<std::thread> threads;
  for (int t = 0; t < kChildThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(cycle * 1000 + static_cast<uint64_t>(t));
      std::counting_semaphore<kInFlightPerThread> window(kInFlightPerThread);
      for (uint64_t i = 0;; ++i) {
        window.acquire();
        const std::string key =
            "c" + std::to_string(cycle) + "-t" + std::to_string(t) + "-" + std::to_string(i);
        const int dice = static_cast<int>(rng() % 100);
        Request r;
        uint64_t target = 0;
        if (dice < 35) {
          std::lock_guard lock(holds_mu);
          if (!holds.empty()) target = holds[rng() % holds.size()];
        }
        if (target != 0) {
          // Capture or void an acknowledged hold; several threads may pick the same one, and
          // exactly one resolution may win.
          r = OriginalRequest(dice < 20 ? Operation::kCapture : Operation::kReverse, target,
                              dice < 10 ? 1 : 0, key);
        } else {
          const Pan pan = TestPan(1 + rng() % kCards);
          r = TestRequest(dice < 85 ? Operation::kAuthorize : Operation::kPurchase, pan,
                          1 + static_cast<int64_t>(rng() % 500), key);
        }
        const bool is_hold = r.operation == Operation::kAuthorize;
        Status s = store->Submit(std::move(r), [&, key, is_hold](Result<Decision> d) {
          if (d.ok()) {
            report(key, *d);
            if (is_hold && d->approved()) {
              std::lock_guard lock(holds_mu);
              holds.push_back(d->transfer_id);
            }
          }
          window.release();
        });
        if (!s.ok()) window.release();
      }
    });
  }
  for (auto& th : threads) th.join();  // never: the parent kills us
  ::_exit(0);
}

TEST(StoreCrashChild, Run) {
  const char* spec = std::getenv("KYTKIN_CRASH_CHILD");
  if (!spec) GTEST_SKIP() << "only runs as the crash test's child process";
  std::istringstream in(spec);
  std::string dir;
  uint64_t cycle = 0;
  int fd = -1;
  in >> dir >> cycle >> fd;
  RunChild(dir, cycle, fd);
}

// --- parent ------------------------------------------------------------------------------------

// Starts the child, lets it run for `run_ms` after it is ready, SIGKILLs it and returns what it
// acknowledged.
std::vector<Ack> RunAndKill(const std::string& dir, uint64_t cycle, int run_ms) {
  int fds[2];
  EXPECT_EQ(::pipe(fds), 0);
  ::fcntl(fds[0], F_SETFD, FD_CLOEXEC);
  const std::string spec = dir + " " + std::to_string(cycle) + " " + std::to_string(fds[1]);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) env_strings.emplace_back(*e);
  env_strings.push_back("KYTKIN_CRASH_CHILD=" + spec);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string exe = "/proc/self/exe";
  std::string filter = "--gtest_filter=StoreCrashChild.Run";
  char* argv[] = {exe.data(), filter.data(), nullptr};
  // The child's own gtest chatter goes nowhere; its reports come through the pipe.
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  EXPECT_EQ(::posix_spawn(&pid, exe.c_str(), &actions, nullptr, argv, envp.data()), 0);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);

  std::string data;
  char buf[65536];
  bool ready = false;
  bool killed = false;
  int64_t deadline_ms = 0;
  auto now_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  };
  const int64_t give_up_ms = now_ms() + 20'000;  // a child that never gets ready
  for (;;) {
    int timeout = 50;
    if (ready && !killed) timeout = static_cast<int>(std::max<int64_t>(0, deadline_ms - now_ms()));
    pollfd p{fds[0], POLLIN, 0};
    const int n = ::poll(&p, 1, timeout);
    if (n > 0) {
      const ssize_t got = ::read(fds[0], buf, sizeof buf);
      if (got <= 0) break;  // EOF: the child is gone and everything it wrote is read
      data.append(buf, static_cast<size_t>(got));
      if (!ready && data.find("R\n") != std::string::npos) {
        ready = true;
        deadline_ms = now_ms() + run_ms;
      }
    }
    if (!killed && ((ready && now_ms() >= deadline_ms) || now_ms() > give_up_ms)) {
      ::kill(pid, SIGKILL);
      killed = true;
    }
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(ready) << "child never opened the store";
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
      << "child ended on its own, status " << status;

  std::vector<Ack> acks;
  std::istringstream lines(data);
  std::string tag;
  while (lines >> tag) {
    if (tag != "A") continue;
    Ack a;
    if (!(lines >> a.key >> a.code >> a.transfer_id >> a.journal_sequence)) break;
    acks.push_back(a);
  }
  return acks;
}

TEST(StoreCrashTest, EveryAcknowledgedDecisionSurvivesSigkill) {
  const uint64_t cycles = EnvU64("KYTKIN_CRASH_CYCLES", 50);
  std::mt19937_64 rng(EnvU64("KYTKIN_CRASH_SEED", 20261126));
  TempDir tmp;
  const std::string dir = tmp.path() + "/db";
  {
    auto store = Store::Open(CrashOptions(dir));
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    for (int i = 1; i <= kCards; ++i) {
      ASSERT_TRUE((*store)->CreateAccount(TestAccount(i), kOpeningBalance).ok());
      ASSERT_TRUE((*store)->CreateCard(TestPan(i), TestCard(i)).ok());
    }
  }

  uint64_t total_acks = 0;
  uint64_t total_approved = 0;
  for (uint64_t cycle = 1; cycle <= cycles; ++cycle) {
    const int run_ms =
        kKillAfterMsMin + static_cast<int>(rng() % (kKillAfterMsMax - kKillAfterMsMin));
    std::vector<Ack> acks = RunAndKill(dir, cycle, run_ms);
    total_acks += acks.size();

    auto opened = Store::Open(CrashOptions(dir));
    ASSERT_TRUE(opened.ok()) << "cycle " << cycle << ": reopen: " << opened.status().ToString();
    std::unique_ptr<Store> store = std::move(opened).value();
    // Each acknowledged decision is in the journal with the answer that was given.
    std::map<uint64_t, const Ack*> by_sequence;
    for (const Ack& a : acks) by_sequence[a.journal_sequence] = &a;
    std::map<uint64_t, JournalRecord> found;
    if (!by_sequence.empty()) {
      ASSERT_TRUE(store
                      ->ExportJournal(by_sequence.begin()->first, by_sequence.rbegin()->first,
                                      [&](const JournalRecord& j) {
                                        if (by_sequence.count(j.sequence)) found[j.sequence] = j;
                                        return true;
                                      })
                      .ok());
    }
    for (const Ack& a : acks) {
      auto it = found.find(a.journal_sequence);
      ASSERT_NE(it, found.end()) << "cycle " << cycle << ": acknowledged " << a.key << " (journal "
                                 << a.journal_sequence << ") is lost";
      EXPECT_EQ(it->second.request_key, a.key);
      EXPECT_EQ(static_cast<int>(it->second.response_code), a.code) << a.key;
      EXPECT_EQ(it->second.transfer_id, a.transfer_id) << a.key;
      if (a.code == 0) {
        ++total_approved;
        EXPECT_TRUE(store->GetTransfer(a.transfer_id).ok()) << a.key;
      }
    }
    // VerifyLedger also checks the open-hold index against the transfers: the reopen read
    // only the index, and it must name exactly the holds still open on disk.
    auto ledger = store->VerifyLedger();
    ASSERT_TRUE(ledger.ok()) << ledger.status().ToString();
    for (const auto& v : ledger->violations) ADD_FAILURE() << "cycle " << cycle << ": " << v;
    EXPECT_EQ(store->open_stats().transfers_scanned, 0u) << "cycle " << cycle;
    EXPECT_EQ(store->open_stats().open_holds, ledger->pending_open) << "cycle " << cycle;
    auto journal = store->VerifyJournal();
    ASSERT_TRUE(journal.ok()) << journal.status().ToString();
    for (const auto& v : journal->violations) ADD_FAILURE() << "cycle " << cycle << ": " << v;
    if (::testing::Test::HasFailure()) break;
  }
  std::printf("crash test: %llu cycles, %llu acknowledged decisions (%llu approved) verified\n",
              static_cast<unsigned long long>(cycles), static_cast<unsigned long long>(total_acks),
              static_cast<unsigned long long>(total_approved));
  EXPECT_GT(total_acks, cycles);  // the load really ran
}

}  // namespace
}  // namespace kytkin::storage
