// IsoListener over real loopback sockets, with fake handlers: echo (inline) and deferred
// (finished later from another thread, in any order).
#include "switch/iso_listener.h"

#include "core/clock.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace kytkin {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

// Polls `done` until it holds or 5 s pass.
bool WaitFor(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return done();
}

// Answers every request at once with its own bytes, prefixed by "R".
class EchoHandler : public IsoHandler {
 public:
  void Handle(const IsoRequest& request, IsoCompletion done) override {
    // The receive time is the monotonic clock core/clock.h reads, and not in the future.
    EXPECT_GT(request.received_monotonic_us, 0);
    EXPECT_LE(request.received_monotonic_us, SystemClock::Get().NowMonotonicMicros());
    std::vector<uint8_t>& out = done.response();
    out.push_back('R');
    out.insert(out.end(), request.message.begin(), request.message.end());
    std::lock_guard lock(mu_);
    seen_.emplace_back(request.message.begin(), request.message.end());
    done.Send();
  }
  std::vector<std::string> seen() {
    std::lock_guard lock(mu_);
    return seen_;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> seen_;
};

// Keeps every completion until the test (or a worker thread) finishes it.
class DeferredHandler : public IsoHandler {
 public:
  void Handle(const IsoRequest& request, IsoCompletion done) override {
    std::lock_guard lock(mu_);
    ++handled_;
    pending_.push_back(std::move(done));
    (void)request;
  }
  size_t pending() {
    std::lock_guard lock(mu_);
    return pending_.size();
  }
  size_t handled() {
    std::lock_guard lock(mu_);
    return handled_;
  }
  // The newest pending completion, or an invalid one when none is pending.
  IsoCompletion Take() {
    std::lock_guard lock(mu_);
    if (pending_.empty()) return IsoCompletion();
    IsoCompletion done = std::move(pending_.back());
    pending_.pop_back();
    return done;
  }
  // Finishes up to `n` pending requests, newest first, from the calling thread.
  size_t AnswerNewestFirst(size_t n = SIZE_MAX) {
    std::deque<IsoCompletion> take;
    {
      std::lock_guard lock(mu_);
      while (!pending_.empty() && take.size() < n) {
        take.push_back(std::move(pending_.back()));
        pending_.pop_back();
      }
    }
    for (IsoCompletion& done : take) {
      std::vector<uint8_t>& out = done.response();
      out.push_back('R');
      const auto request = done.request();
      out.insert(out.end(), request.begin(), request.end());
      done.Send();
    }
    return take.size();
  }

 private:
  std::mutex mu_;
  std::deque<IsoCompletion> pending_;
  size_t handled_ = 0;
};

std::string Frame(std::string_view message) {
  std::string out;
  out.push_back(static_cast<char>(message.size() >> 8));
  out.push_back(static_cast<char>(message.size() & 0xff));
  out += message;
  return out;
}

// A blocking test client with a receive timeout, so a broken server fails the test instead of
// hanging it.
class Client {
 public:
  explicit Client(uint16_t port) : socket_(io_) {
    socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    socket_.set_option(tcp::no_delay(true));
    timeval tv{5, 0};
    setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  void Write(std::string_view bytes) { asio::write(socket_, asio::buffer(bytes)); }
  // One binary2 frame's message, or "<closed>" / "<error>".
  std::string ReadFrame() {
    uint8_t header[2];
    boost::system::error_code ec;
    asio::read(socket_, asio::buffer(header), ec);
    if (ec == asio::error::eof || ec == asio::error::connection_reset) return "<closed>";
    if (ec) return "<error>";
    std::string body((size_t{header[0]} << 8) | header[1], '\0');
    asio::read(socket_, asio::buffer(body), ec);
    return ec ? "<error>" : body;
  }
  std::string ReadExactly(size_t n) {
    std::string out(n, '\0');
    boost::system::error_code ec;
    asio::read(socket_, asio::buffer(out), ec);
    return ec ? "<error>" : out;
  }
  // True when the server closed the connection (read gives EOF/reset within 5 s).
  bool Closed() { return ReadFrame() == "<closed>"; }

 private:
  asio::io_context io_;
  tcp::socket socket_;
};

class IsoListenerTest : public ::testing::Test {
 protected:
  void Start(IsoHandler& handler, IsoListenerOptions options = {}) {
    options.listen = {"127.0.0.1", 0};
    for (int i = 0; i < 2; ++i) {
      contexts_.push_back(std::make_unique<asio::io_context>(1));
      context_ptrs_.push_back(contexts_.back().get());
      guards_.emplace_back(asio::make_work_guard(*contexts_.back()));
    }
    Result<std::unique_ptr<IsoListener>> listener =
        IsoListener::Open(options, *contexts_[0], context_ptrs_, handler, metrics_);
    ASSERT_TRUE(listener.ok()) << listener.status().ToString();
    listener_ = std::move(listener).value();
    ASSERT_NE(listener_->port(), 0);
    listener_->Start();
    for (auto& c : contexts_) threads_.emplace_back([io = c.get()] { io->run(); });
  }

  void TearDown() override {
    if (listener_) listener_->CloseAll();
    guards_.clear();
    for (auto& c : contexts_) c->stop();
    for (auto& t : threads_) t.join();
    listener_.reset();
  }

  uint64_t Counter(const std::string& name, metrics::Labels extra = {}) {
    metrics::Labels labels{{"listener", "pos"}};
    labels.insert(labels.end(), extra.begin(), extra.end());
    return metrics_.GetCounter(name, "", labels).value();
  }

  metrics::Registry metrics_;
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<asio::io_context*> context_ptrs_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
  std::vector<std::thread> threads_;
  std::unique_ptr<IsoListener> listener_;
};

TEST_F(IsoListenerTest, EchoesOneFrame) {
  EchoHandler handler;
  Start(handler);
  Client client(listener_->port());
  client.Write(Frame("0800hello"));
  EXPECT_EQ(client.ReadFrame(), "R0800hello");
  EXPECT_EQ(Counter("kytkin_iso_requests_total"), 1u);
}

TEST_F(IsoListenerTest, PortInUseFailsNamingTheAddress) {
  EchoHandler handler;
  Start(handler);
  IsoListenerOptions options;
  options.listen = {"127.0.0.1", listener_->port()};
  asio::io_context io;
  asio::io_context* contexts[] = {&io};
  Result<std::unique_ptr<IsoListener>> second =
      IsoListener::Open(options, io, contexts, handler, metrics_);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(
      second.status().message().find("cannot bind 127.0.0.1:" + std::to_string(listener_->port())),
      std::string_view::npos)
      << second.status().message();
}

TEST_F(IsoListenerTest, FramesSplitIntoOneByteWrites) {
  EchoHandler handler;
  Start(handler);
  Client client(listener_->port());
  const std::string stream = Frame("first") + Frame("second") + Frame("third");
  for (char c : stream) {
    client.Write(std::string_view(&c, 1));
    std::this_thread::sleep_for(100us);
  }
  EXPECT_EQ(client.ReadFrame(), "Rfirst");
  EXPECT_EQ(client.ReadFrame(), "Rsecond");
  EXPECT_EQ(client.ReadFrame(), "Rthird");
}

TEST_F(IsoListenerTest, ManyFramesInOneWriteAreReadAndAnsweredInBatches) {
  EchoHandler handler;
  Start(handler);
  Client client(listener_->port());
  constexpr int kFrames = 500;
  std::string stream;
  for (int i = 0; i < kFrames; ++i) stream += Frame("msg" + std::to_string(i));
  client.Write(stream);
  for (int i = 0; i < kFrames; ++i) ASSERT_EQ(client.ReadFrame(), "Rmsg" + std::to_string(i));
  EXPECT_EQ(Counter("kytkin_iso_requests_total"), uint64_t{kFrames});
  EXPECT_EQ(
      metrics_.GetHistogram("kytkin_iso_request_latency_microseconds", "", {{"listener", "pos"}})
          .count(),
      uint64_t{kFrames});
  // Batching: far fewer reads and writes than frames.
  EXPECT_LT(Counter("kytkin_iso_reads_total"), uint64_t{kFrames} / 4);
  EXPECT_LT(Counter("kytkin_iso_writes_total"), uint64_t{kFrames} / 4);
}

TEST_F(IsoListenerTest, FrameAtTheLimitPassesAndOneByteMoreCloses) {
  EchoHandler handler;
  IsoListenerOptions options;
  options.frame_bytes_max = 100;
  Start(handler, options);
  Client ok(listener_->port());
  ok.Write(Frame(std::string(100, 'x')));
  EXPECT_EQ(ok.ReadFrame(), "R" + std::string(100, 'x'));

  Client oversize(listener_->port());
  oversize.Write(Frame(std::string(101, 'x')));
  EXPECT_TRUE(oversize.Closed());
  EXPECT_EQ(Counter("kytkin_iso_connection_errors_total", {{"reason", "oversize"}}), 1u);
  // The other connection is unaffected.
  ok.Write(Frame("still here"));
  EXPECT_EQ(ok.ReadFrame(), "Rstill here");
}

TEST_F(IsoListenerTest, ZeroLengthFrameIsAKeepAlive) {
  EchoHandler handler;
  Start(handler);
  Client client(listener_->port());
  client.Write(std::string("\0\0", 2) + Frame("after"));
  EXPECT_EQ(client.ReadFrame(), "Rafter");
  EXPECT_EQ(handler.seen().size(), 1u);
  EXPECT_EQ(Counter("kytkin_iso_zero_length_frames_total"), 1u);
}

TEST_F(IsoListenerTest, GarbageIsHandedToTheHandlerUnparsed) {
  // With a binary length any bytes are a frame; the pipeline decides (answers 30 or counts).
  EchoHandler handler;
  Start(handler);
  Client client(listener_->port());
  const std::string garbage("\x03\xff\x00\x7f", 4);
  client.Write(Frame(garbage));
  EXPECT_EQ(client.ReadFrame(), "R" + garbage);
  ASSERT_EQ(handler.seen().size(), 1u);
  EXPECT_EQ(handler.seen()[0], garbage);
}

TEST_F(IsoListenerTest, Ascii4FramingAndAMalformedHeaderCloses) {
  EchoHandler handler;
  IsoListenerOptions options;
  options.framing = Framing::kAscii4;
  Start(handler, options);
  Client client(listener_->port());
  client.Write("0005hello0002hi");
  // Answers are framed the same way.
  EXPECT_EQ(client.ReadExactly(10), "0006Rhello");
  EXPECT_EQ(client.ReadExactly(7), "0003Rhi");

  Client garbage(listener_->port());
  garbage.Write("ABCDhello");
  EXPECT_TRUE(garbage.Closed());
  EXPECT_EQ(Counter("kytkin_iso_connection_errors_total", {{"reason", "bad_header"}}), 1u);
}

TEST_F(IsoListenerTest, AnswerTooLongForTheFramingIsDroppedAndCounted) {
  class LongAnswer : public IsoHandler {
   public:
    void Handle(const IsoRequest& request, IsoCompletion done) override {
      const size_t size = request.message[0] == 'L' ? 10'000 : 9'999;  // ascii4 carries 9999
      done.response().assign(size, 'a');
      done.Send();
    }
  } handler;
  IsoListenerOptions options;
  options.framing = Framing::kAscii4;
  Start(handler, options);
  Client client(listener_->port());
  client.Write("0001L0001S");
  EXPECT_EQ(client.ReadExactly(4), "9999");
  EXPECT_EQ(client.ReadExactly(9999), std::string(9999, 'a'));
  EXPECT_EQ(Counter("kytkin_iso_oversize_replies_total"), 1u);
}

TEST_F(IsoListenerTest, PipelinedRequestsAreAnsweredInCompletionOrder) {
  DeferredHandler handler;
  Start(handler);
  Client client(listener_->port());
  client.Write(Frame("a") + Frame("b") + Frame("c"));
  ASSERT_TRUE(WaitFor([&] { return handler.pending() == 3; }));
  std::thread worker([&] { handler.AnswerNewestFirst(); });  // another thread
  worker.join();
  EXPECT_EQ(client.ReadFrame(), "Rc");
  EXPECT_EQ(client.ReadFrame(), "Rb");
  EXPECT_EQ(client.ReadFrame(), "Ra");
}

TEST_F(IsoListenerTest, ReadingPausesAtInFlightMax) {
  DeferredHandler handler;
  IsoListenerOptions options;
  options.in_flight_max = 4;
  Start(handler, options);
  Client client(listener_->port());
  std::string stream;
  for (int i = 0; i < 10; ++i) stream += Frame("m" + std::to_string(i));
  client.Write(stream);
  ASSERT_TRUE(WaitFor([&] { return handler.pending() == 4; }));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(handler.handled(), 4u);  // limit, not limit + 1
  EXPECT_EQ(listener_->in_flight(), 4);
  EXPECT_GE(Counter("kytkin_iso_read_pauses_total"), 1u);
  size_t answered = 0;
  while (answered < 10) {
    ASSERT_TRUE(WaitFor([&] { return handler.pending() > 0; })) << "answered " << answered;
    EXPECT_LE(handler.pending(), 4u);
    answered += handler.AnswerNewestFirst();
  }
  for (int i = 0; i < 10; ++i) EXPECT_NE(client.ReadFrame(), "<error>");
  EXPECT_EQ(listener_->in_flight(), 0);
}

TEST_F(IsoListenerTest, IdleConnectionIsClosed) {
  EchoHandler handler;
  IsoListenerOptions options;
  options.idle_timeout_ms = 150;
  Start(handler, options);
  Client client(listener_->port());
  client.Write(Frame("x"));
  EXPECT_EQ(client.ReadFrame(), "Rx");
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(client.Closed());
  EXPECT_GE(std::chrono::steady_clock::now() - start, 100ms);
  EXPECT_EQ(Counter("kytkin_iso_connection_errors_total", {{"reason", "idle_timeout"}}), 1u);
}

TEST_F(IsoListenerTest, ConnectionWithRequestsInFlightIsNotIdle) {
  DeferredHandler handler;
  IsoListenerOptions options;
  options.idle_timeout_ms = 100;
  Start(handler, options);
  Client client(listener_->port());
  client.Write(Frame("slow"));
  ASSERT_TRUE(WaitFor([&] { return handler.pending() == 1; }));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(listener_->connections(), 1);
  handler.AnswerNewestFirst();
  EXPECT_EQ(client.ReadFrame(), "Rslow");
  EXPECT_TRUE(client.Closed());  // idle after the answer
}

TEST_F(IsoListenerTest, ConnectionsBeyondTheMaximumAreRefused) {
  EchoHandler handler;
  IsoListenerOptions options;
  options.connections_max = 2;
  Start(handler, options);
  Client a(listener_->port());
  Client b(listener_->port());
  ASSERT_TRUE(WaitFor([&] { return listener_->connections() == 2; }));
  Client c(listener_->port());
  EXPECT_TRUE(c.Closed());
  EXPECT_EQ(Counter("kytkin_iso_connections_refused_total"), 1u);
  a.Write(Frame("a"));
  EXPECT_EQ(a.ReadFrame(), "Ra");
  b.Write(Frame("b"));
  EXPECT_EQ(b.ReadFrame(), "Rb");
}

TEST_F(IsoListenerTest, AcceptBacksOffWhenOutOfFileDescriptorsAndResumes) {
  EchoHandler handler;
  Start(handler);
  // Plain sockets (one descriptor each) so the arithmetic below is exact.
  auto connect_raw = [&] {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return fd;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(listener_->port());
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd);
      return -1;
    }
    return fd;
  };
  {
    // One connection first, with descriptors to spare: UBSan checks the session's type the
    // first time, and that check itself needs a descriptor (a pipe) it would not get below.
    Client warm_up(listener_->port());
    warm_up.Write(Frame("warm"));
    ASSERT_EQ(warm_up.ReadFrame(), "Rwarm");
  }
  ASSERT_TRUE(WaitFor([&] { return listener_->connections() == 0; }));
  // The limit is on descriptor numbers: find the four lowest free ones (a < b < c < d) and
  // allow numbers below d, so the first client gets a, its accept b, the second client c, and
  // the second accept finds nothing.
  int probe[4];
  for (int& fd : probe) fd = ::dup(0);
  for (int fd : probe) ::close(fd);
  rlimit old_limit{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old_limit), 0);
  rlimit low = old_limit;
  low.rlim_cur = static_cast<rlim_t>(probe[3]);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  const int first = connect_raw();
  ASSERT_TRUE(WaitFor([&] { return listener_->connections() == 1; }));
  const int second = connect_raw();  // its accept() has no descriptor left
  const bool failed = WaitFor([&] { return Counter("kytkin_iso_accept_errors_total") >= 1; });
  const uint64_t errors_before = Counter("kytkin_iso_accept_errors_total");
  std::this_thread::sleep_for(100ms);
  const uint64_t errors_in_100ms = Counter("kytkin_iso_accept_errors_total") - errors_before;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &old_limit), 0);
  ASSERT_GE(first, 0);
  ASSERT_GE(second, 0);
  EXPECT_TRUE(failed);
  EXPECT_LE(errors_in_100ms, 15u) << "accept() is spinning instead of backing off";
  // With descriptors back, the waiting connection is accepted and served.
  const std::string frame = Frame("late");
  ASSERT_EQ(::send(second, frame.data(), frame.size(), 0), static_cast<ssize_t>(frame.size()));
  timeval tv{5, 0};
  setsockopt(second, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string answer(7, '\0');
  size_t got = 0;
  while (got < answer.size()) {
    const ssize_t n = ::recv(second, answer.data() + got, answer.size() - got, 0);
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  EXPECT_EQ(answer.substr(2), "Rlate");
  ::close(first);
  ::close(second);
}

TEST_F(IsoListenerTest, HundredConnectionsWithPipelinedRequests) {
  // Completions come from a worker thread in batches, like the ledger's committer.
  DeferredHandler handler;
  Start(handler);
  std::atomic<bool> stop{false};
  std::thread committer([&] {
    while (!stop) {
      if (handler.AnswerNewestFirst(64) == 0) std::this_thread::sleep_for(100us);
    }
  });
  constexpr int kConnections = 100;
  constexpr int kPerConnection = 50;
  std::vector<std::unique_ptr<Client>> clients;
  for (int c = 0; c < kConnections; ++c) {
    clients.push_back(std::make_unique<Client>(listener_->port()));
    std::string stream;
    for (int i = 0; i < kPerConnection; ++i) {
      stream += Frame("c" + std::to_string(c) + "-" + std::to_string(i));
    }
    clients.back()->Write(stream);
  }
  for (int c = 0; c < kConnections; ++c) {
    std::vector<bool> got(kPerConnection, false);
    for (int i = 0; i < kPerConnection; ++i) {
      const std::string answer = clients[c]->ReadFrame();
      const std::string prefix = "Rc" + std::to_string(c) + "-";
      ASSERT_EQ(answer.rfind(prefix, 0), 0u) << answer;
      const int n = std::stoi(answer.substr(prefix.size()));
      ASSERT_FALSE(got[n]) << "answered twice: " << answer;
      got[n] = true;
    }
  }
  stop = true;
  committer.join();
  EXPECT_EQ(Counter("kytkin_iso_requests_total"), uint64_t{kConnections} * kPerConnection);
  EXPECT_EQ(Counter("kytkin_iso_responses_total"), uint64_t{kConnections} * kPerConnection);
}

TEST_F(IsoListenerTest, CompletionAfterTheConnectionClosedIsIgnored) {
  DeferredHandler handler;
  Start(handler);
  {
    Client client(listener_->port());
    client.Write(Frame("orphan"));
    ASSERT_TRUE(WaitFor([&] { return handler.pending() == 1; }));
  }  // the client hangs up with its request in flight
  std::this_thread::sleep_for(50ms);
  std::thread worker([&] { handler.AnswerNewestFirst(); });
  worker.join();
  ASSERT_TRUE(WaitFor([&] { return listener_->connections() == 0; }));
  EXPECT_TRUE(WaitFor([&] { return listener_->in_flight() == 0; }));
  // And the listener still serves others.
  Client next(listener_->port());
  next.Write(Frame("next"));
  ASSERT_TRUE(WaitFor([&] { return handler.pending() == 1; }));
  handler.AnswerNewestFirst();
  EXPECT_EQ(next.ReadFrame(), "Rnext");
}

TEST_F(IsoListenerTest, DeferredAnswerIsBuiltOnTheConnectionsThread) {
  // A foreign thread (the ledger's committer) defers; the answer is built on the io thread.
  DeferredHandler handler;
  Start(handler);
  Client client(listener_->port());
  client.Write(Frame("a") + Frame("b"));
  ASSERT_TRUE(WaitFor([&] { return handler.pending() == 2; }));
  std::mutex mu;
  std::vector<std::thread::id> built_on;
  std::thread committer([&] {
    for (IsoCompletion done = handler.Take(); done.valid(); done = handler.Take()) {
      done.Defer([&](IsoCompletion again) {
        {
          std::lock_guard lock(mu);
          built_on.push_back(std::this_thread::get_id());
        }
        std::vector<uint8_t>& out = again.response();
        out.push_back('D');
        const auto request = again.request();
        out.insert(out.end(), request.begin(), request.end());
        again.Send();
      });
      EXPECT_FALSE(done.valid());
    }
  });
  const std::thread::id committer_id = committer.get_id();
  committer.join();
  const std::string first = client.ReadFrame();
  const std::string second = client.ReadFrame();
  EXPECT_EQ(first + second, "DbDa");  // newest first, as taken
  std::lock_guard lock(mu);
  ASSERT_EQ(built_on.size(), 2u);
  for (const auto& id : built_on) EXPECT_NE(id, committer_id);
  EXPECT_TRUE(WaitFor([&] { return listener_->in_flight() == 0; }));
}

TEST_F(IsoListenerTest, DeferredAnswerThatIsDroppedFreesItsSlotAndAfterCloseNeverRuns) {
  DeferredHandler handler;
  IsoListenerOptions options;
  options.in_flight_max = 1;
  Start(handler, options);
  {
    Client client(listener_->port());
    client.Write(Frame("x"));
    ASSERT_TRUE(WaitFor([&] { return handler.pending() == 1; }));
    // Dropped inside the deferred call: finished with no reply, the slot is free again.
    std::thread([&] { handler.Take().Defer([](IsoCompletion) {}); }).join();
    ASSERT_TRUE(WaitFor([&] { return listener_->in_flight() == 0; }));
    client.Write(Frame("y"));
    ASSERT_TRUE(WaitFor([&] { return handler.pending() == 1; }));
    listener_->CloseAll();  // closed with "y" in flight: its answer is dropped
    ASSERT_TRUE(WaitFor([&] { return listener_->connections() == 0; }));
  }
  std::atomic<bool> ran{false};
  std::thread([&] { handler.Take().Defer([&](IsoCompletion) { ran = true; }); }).join();
  EXPECT_TRUE(WaitFor([&] { return listener_->in_flight() == 0; }));
  EXPECT_FALSE(ran.load());
}

TEST_F(IsoListenerTest, DroppedCompletionFreesItsSlot) {
  class DropHandler : public IsoHandler {
   public:
    void Handle(const IsoRequest& request, IsoCompletion done) override {
      if (request.message.size() == 4) return;  // "drop": done is destroyed unfinished
      done.response().assign(request.message.begin(), request.message.end());
      done.Send();
    }
  } handler;
  IsoListenerOptions options;
  options.in_flight_max = 1;
  Start(handler, options);
  Client client(listener_->port());
  client.Write(Frame("drop") + Frame("kept"));  // "kept" is 4 bytes too: also dropped
  client.Write(Frame("answer"));
  EXPECT_EQ(client.ReadFrame(), "answer");
  EXPECT_EQ(Counter("kytkin_iso_no_replies_total"), 2u);
}

TEST_F(IsoListenerTest, DrainAnswersInFlightThenCloses) {
  DeferredHandler handler;
  Start(handler);
  Client client(listener_->port());
  client.Write(Frame("one") + Frame("two"));
  ASSERT_TRUE(WaitFor([&] { return handler.pending() == 2; }));
  listener_->StopAccepting();
  listener_->Drain();
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(listener_->connections(), 1);  // still waiting for its answers
  handler.AnswerNewestFirst();
  EXPECT_EQ(client.ReadFrame(), "Rtwo");
  EXPECT_EQ(client.ReadFrame(), "Rone");
  EXPECT_TRUE(client.Closed());
  EXPECT_TRUE(WaitFor([&] { return listener_->connections() == 0; }));
}

}  // namespace
}  // namespace kytkin
