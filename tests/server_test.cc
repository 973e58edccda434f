// Server: the whole of `kytkin serve` minus the pipeline, with fake handlers, in-process.
#include "switch/server.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <atomic>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

namespace kytkin {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

// Answers every ISO 8583 request with "R" + request, `delay` later, from another thread.
class SlowEchoHandler : public IsoHandler {
 public:
  explicit SlowEchoHandler(std::chrono::milliseconds delay) : delay_(delay) {}
  ~SlowEchoHandler() override {
    for (auto& t : threads_) t.join();
  }
  void Handle(const IsoRequest&, IsoCompletion done) override {
    std::lock_guard lock(mu_);
    threads_.emplace_back([d = std::move(done), delay = delay_]() mutable {
      std::this_thread::sleep_for(delay);
      const auto request = d.request();
      d.response().push_back('R');
      d.response().insert(d.response().end(), request.begin(), request.end());
      d.Send();
    });
  }

 private:
  std::chrono::milliseconds delay_;
  std::mutex mu_;
  std::vector<std::thread> threads_;
};

class ApproveAll : public AuthorizationHandler {
 public:
  void Authorize(const v1::AuthorizeRequest&, v1::AuthorizeResponse* r, RpcCompletion d) override {
    SetResponseCode(ResponseCode::kApproved, r->mutable_decision());
    d.Finish(Status::Ok());
  }
  void Capture(const v1::CaptureRequest&, v1::CaptureResponse*, RpcCompletion d) override {
    d.Finish(Status::Unavailable("not in this test"));
  }
  void Reverse(const v1::ReverseRequest&, v1::ReverseResponse*, RpcCompletion d) override {
    d.Finish(Status::Unavailable("not in this test"));
  }
  void Refund(const v1::RefundRequest&, v1::RefundResponse*, RpcCompletion d) override {
    d.Finish(Status::Unavailable("not in this test"));
  }
  void BalanceInquiry(const v1::BalanceInquiryRequest&, v1::BalanceInquiryResponse*,
                      RpcCompletion d) override {
    d.Finish(Status::Unavailable("not in this test"));
  }
};

class NoAdmin : public AdminHandler {
 public:
  void CreateAccount(const v1::CreateAccountRequest&, v1::Account*, RpcCompletion d) override {
    d.Finish(Status::Unavailable(""));
  }
  void CreateCard(const v1::CreateCardRequest&, v1::Card*, RpcCompletion d) override {
    d.Finish(Status::Unavailable(""));
  }
  void ImportAccounts(const v1::ImportAccountsRequest&, v1::ImportAccountsResponse*,
                      RpcCompletion d) override {
    d.Finish(Status::Unavailable(""));
  }
  void BlockCard(const v1::BlockCardRequest&, v1::Card*, RpcCompletion d) override {
    d.Finish(Status::Unavailable(""));
  }
  void UnblockCard(const v1::UnblockCardRequest&, v1::Card*, RpcCompletion d) override {
    d.Finish(Status::Unavailable(""));
  }
  void GetTransaction(const v1::GetTransactionRequest&, v1::Transaction*,
                      RpcCompletion d) override {
    d.Finish(Status::Unavailable(""));
  }
};

std::string Frame(std::string_view message) {
  std::string out;
  out.push_back(static_cast<char>(message.size() >> 8));
  out.push_back(static_cast<char>(message.size() & 0xff));
  return out + std::string(message);
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("kytkin_server_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    options_.data_dir = (dir_ / "data").string();
    options_.threads = 2;
    options_.iso_listeners[0].listen = {"127.0.0.1", 0};
    options_.grpc.listen = {"127.0.0.1", 0};
    options_.http.listen = {"127.0.0.1", 0};
    ASSERT_TRUE(ValidateServeOptions(options_).ok());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  Result<std::unique_ptr<Server>> StartServer(std::function<Status()> drain = {}) {
    ServerHandlers handlers{&iso_, &authorization_, &admin_, {}, std::move(drain)};
    return Server::Start(options_, std::move(handlers), HttpRouter(), metrics_);
  }

  std::filesystem::path dir_;
  ServeOptions options_;
  metrics::Registry metrics_;
  SlowEchoHandler iso_{100ms};
  ApproveAll authorization_;
  NoAdmin admin_;
};

std::string HttpGet(uint16_t port, std::string_view path) {
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  asio::write(socket, asio::buffer("GET " + std::string(path) + " HTTP/1.0\r\n\r\n"));
  std::string response;
  boost::system::error_code ec;
  asio::read(socket, asio::dynamic_buffer(response), ec);  // HTTP/1.0: until close
  return response;
}

TEST_F(ServerTest, StartsOnFreePortsAndWritesPortsJson) {
  Result<std::unique_ptr<Server>> server = StartServer();
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  const BoundPorts& ports = (*server)->ports();
  ASSERT_EQ(ports.iso.size(), 1u);
  EXPECT_NE(ports.iso[0].second, 0);
  EXPECT_NE(ports.grpc, 0);
  EXPECT_NE(ports.http, 0);

  std::ifstream in(dir_ / "data" / "ports.json");
  std::stringstream text;
  text << in.rdbuf();
  const boost::json::value json = boost::json::parse(text.str());
  EXPECT_EQ(json.at("iso8583").at("pos").as_int64(), ports.iso[0].second);
  EXPECT_EQ(json.at("grpc").as_int64(), ports.grpc);
  EXPECT_EQ(json.at("http").as_int64(), ports.http);
  EXPECT_NE(
      (*server)->Describe().find("iso8583 pos 127.0.0.1:" + std::to_string(ports.iso[0].second) +
                                 " (iso87-ascii, binary2)"),
      std::string::npos);

  EXPECT_NE(HttpGet(ports.http, "/readyz").find("200 OK"), std::string::npos);
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(ports.grpc),
                                     grpc::InsecureChannelCredentials());
  auto stub = v1::Authorization::NewStub(channel);
  v1::AuthorizeRequest request;
  request.set_idempotency_key("k1");
  request.mutable_card()->set_card_token("tok");
  request.mutable_amount()->set_currency_code("EUR");
  request.mutable_amount()->set_minor_units(100);
  request.mutable_merchant()->set_merchant_id("M1");
  v1::AuthorizeResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 10s);
  ASSERT_TRUE(stub->Authorize(&context, request, &response).ok());
  EXPECT_EQ(response.decision().response_code_digits(), "00");

  (*server)->RequestStop();
  EXPECT_EQ((*server)->WaitForShutdown(), 0);
}

TEST_F(ServerTest, SigtermFinishesInFlightRequestsThenDrainsAndExitsZero) {
  std::atomic<int> drains{0};
  std::unique_ptr<Server> server;
  Result<std::unique_ptr<Server>> started = StartServer([&] {
    ++drains;
    return Status::Ok();
  });
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  server = std::move(started).value();

  asio::io_context io;
  tcp::socket socket(io);
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server->ports().iso[0].second));
  timeval tv{5, 0};
  setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  asio::write(socket, asio::buffer(Frame("one") + Frame("two")));
  std::this_thread::sleep_for(20ms);  // both requests are with the (slow) handler now

  int exit_code = -1;
  std::thread waiter([&] { exit_code = server->WaitForShutdown(); });
  ASSERT_EQ(::kill(::getpid(), SIGTERM), 0);
  waiter.join();
  EXPECT_EQ(exit_code, 0);
  EXPECT_EQ(drains.load(), 1);

  // Both in-flight answers were written before the connection closed.
  std::string received;
  boost::system::error_code ec;
  asio::read(socket, asio::dynamic_buffer(received), ec);
  EXPECT_EQ(ec, asio::error::eof);
  EXPECT_NE(received.find("Rone"), std::string::npos);
  EXPECT_NE(received.find("Rtwo"), std::string::npos);
  // New connections are refused once stopped.
  tcp::socket late(io);
  late.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server->ports().iso[0].second),
               ec);
  EXPECT_TRUE(ec) << "connected after shutdown";
}

TEST_F(ServerTest, FailedDrainExitsNonZero) {
  Result<std::unique_ptr<Server>> server =
      StartServer([] { return Status::IOError("ledger sync failed"); });
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  (*server)->RequestStop();
  EXPECT_EQ((*server)->WaitForShutdown(), 1);
  EXPECT_EQ((*server)->drain_status().message(), "ledger sync failed");
}

TEST_F(ServerTest, PortInUseFailsWithOneClearLine) {
  Result<std::unique_ptr<Server>> first = StartServer();
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  for (int which = 0; which < 3; ++which) {
    ServeOptions o = options_;
    if (which == 0) o.iso_listeners[0].listen.port = (*first)->ports().iso[0].second;
    if (which == 1) o.http.listen.port = (*first)->ports().http;
    if (which == 2) o.grpc.listen.port = (*first)->ports().grpc;
    ServerHandlers handlers{&iso_, &authorization_, &admin_, {}, {}};
    Result<std::unique_ptr<Server>> second =
        Server::Start(o, std::move(handlers), HttpRouter(), metrics_);
    ASSERT_FALSE(second.ok()) << which;
    const std::string_view message = second.status().message();
    EXPECT_NE(message.find("127.0.0.1:"), std::string_view::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string_view::npos) << message;
  }
  (*first)->RequestStop();
  EXPECT_EQ((*first)->WaitForShutdown(), 0);
}

TEST_F(ServerTest, UnusableDataDirFails) {
  std::filesystem::create_directories(dir_);
  std::ofstream(dir_ / "file") << "not a directory";
  options_.data_dir = (dir_ / "file" / "data").string();
  Result<std::unique_ptr<Server>> server = StartServer();
  ASSERT_FALSE(server.ok());
  EXPECT_NE(server.status().message().find("data_dir"), std::string_view::npos)
      << server.status().message();
}

}  // namespace
}  // namespace kytkin
