// HttpServer over real loopback sockets.
#include "switch/http_server.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <mutex>
#include <thread>

namespace kytkin {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

class Client {
 public:
  explicit Client(uint16_t port) : socket_(io_) {
    socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    timeval tv{5, 0};
    setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  void WriteRaw(std::string_view bytes) { asio::write(socket_, asio::buffer(bytes)); }
  http::response<http::string_body> Request(http::verb method, std::string_view target,
                                            std::string body = {}) {
    http::request<http::string_body> req(method, target, 11);
    req.set(http::field::host, "test");
    req.body() = std::move(body);
    req.prepare_payload();
    http::write(socket_, req);
    return Read();
  }
  http::response<http::string_body> Read() {
    http::response<http::string_body> res;
    beast::error_code ec;
    http::read(socket_, buffer_, res, ec);
    if (ec) res.result(599);  // "no answer": not a code the server uses
    return res;
  }
  bool Closed() {
    char c;
    beast::error_code ec;
    socket_.read_some(asio::buffer(&c, 1), ec);
    return ec == asio::error::eof || ec == asio::error::connection_reset;
  }

 private:
  asio::io_context io_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
};

class HttpServerTest : public ::testing::Test {
 protected:
  void Start(HttpOptions options = {}) {
    options.listen = {"127.0.0.1", 0};
    HttpRouter router;
    router.Add(http::verb::get, "/api/v1/transactions/{rrn}", [](const HttpRequest& r) {
      boost::json::object body;
      body["rrn"] = r.Param("rrn");
      body["query"] = r.query;
      return HttpResponse::Json(200, boost::json::serialize(body));
    });
    router.Add(http::verb::post, "/api/v1/echo", [](const HttpRequest& r) {
      return HttpResponse{200, "text/plain", std::string(r.body)};
    });
    // Answers after kSlowMs from a thread of its own.
    router.AddAsync(
        http::verb::post, "/api/v1/slow", [this](const HttpRequest& r, HttpResponder respond) {
          std::lock_guard lock(slow_mu_);
          slow_threads_.emplace_back([body = std::string(r.body), respond = std::move(respond)] {
            std::this_thread::sleep_for(std::chrono::milliseconds(kSlowMs));
            respond(HttpResponse{200, "text/plain", body});
          });
        });
    for (int i = 0; i < 2; ++i) {
      contexts_.push_back(std::make_unique<asio::io_context>(1));
      context_ptrs_.push_back(contexts_.back().get());
      guards_.emplace_back(asio::make_work_guard(*contexts_.back()));
    }
    Result<std::unique_ptr<HttpServer>> server =
        HttpServer::Open(options, *contexts_[0], context_ptrs_, std::move(router), metrics_);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    server_->Start();
    for (auto& c : contexts_) threads_.emplace_back([io = c.get()] { io->run(); });
  }

  void TearDown() override {
    {
      std::lock_guard lock(slow_mu_);
      for (auto& t : slow_threads_) t.join();
    }
    guards_.clear();
    for (auto& c : contexts_) c->stop();
    for (auto& t : threads_) t.join();
    server_.reset();
  }

  static constexpr int kSlowMs = 400;
  std::mutex slow_mu_;
  std::vector<std::thread> slow_threads_;  // guarded by slow_mu_
  metrics::Registry metrics_;
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<asio::io_context*> context_ptrs_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
  std::vector<std::thread> threads_;
  std::unique_ptr<HttpServer> server_;
};

boost::json::value ParseJson(const std::string& body) { return boost::json::parse(body); }

TEST_F(HttpServerTest, HealthzAndReadyz) {
  Start();
  Client client(server_->port());
  auto health = client.Request(http::verb::get, "/healthz");
  EXPECT_EQ(health.result_int(), 200u);
  EXPECT_EQ(health.body(), R"({"status":"ok"})");
  EXPECT_EQ(client.Request(http::verb::get, "/readyz").result_int(), 503u);
  server_->set_ready(true);
  EXPECT_EQ(client.Request(http::verb::get, "/readyz").result_int(), 200u);  // keep-alive
  server_->set_ready(false);
  EXPECT_EQ(client.Request(http::verb::get, "/readyz").result_int(), 503u);
}

TEST_F(HttpServerTest, MetricsInPrometheusTextFormat) {
  Start();
  metrics_.GetCounter("kytkin_test_total", "A test counter.", {{"k", "v"}}).Increment(7);
  Client client(server_->port());
  auto res = client.Request(http::verb::get, "/metrics");
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res[http::field::content_type], "text/plain; version=0.0.4");
  EXPECT_NE(res.body().find("kytkin_test_total{k=\"v\"} 7\n"), std::string::npos) << res.body();
  EXPECT_NE(res.body().find("kytkin_http_connections 1\n"), std::string::npos) << res.body();
}

TEST_F(HttpServerTest, RouteWithAParameter) {
  Start();
  Client client(server_->port());
  auto res = client.Request(http::verb::get, "/api/v1/transactions/123456789012?x=1");
  ASSERT_EQ(res.result_int(), 200u);
  const auto body = ParseJson(res.body());
  EXPECT_EQ(body.at("rrn").as_string(), "123456789012");
  EXPECT_EQ(body.at("query").as_string(), "x=1");
  // An empty parameter segment does not match.
  EXPECT_EQ(client.Request(http::verb::get, "/api/v1/transactions/").result_int(), 404u);
}

TEST_F(HttpServerTest, UnknownPathAndWrongMethodAnswerJsonErrors) {
  Start();
  Client client(server_->port());
  auto missing = client.Request(http::verb::get, "/nope");
  EXPECT_EQ(missing.result_int(), 404u);
  EXPECT_EQ(missing[http::field::content_type], "application/json");
  const auto error = ParseJson(missing.body());
  EXPECT_EQ(error.at("error").at("code").as_int64(), 404);
  EXPECT_EQ(error.at("error").at("message").as_string(), "no such path");
  auto wrong = client.Request(http::verb::delete_, "/healthz");
  EXPECT_EQ(wrong.result_int(), 405u);
  EXPECT_EQ(ParseJson(wrong.body()).at("error").at("code").as_int64(), 405);
}

TEST_F(HttpServerTest, BodyAtTheLimitPassesAndLargerAnswers413) {
  HttpOptions options;
  options.body_bytes_max = 16;
  Start(options);
  {
    Client client(server_->port());
    auto ok = client.Request(http::verb::post, "/api/v1/echo", std::string(16, 'a'));
    EXPECT_EQ(ok.result_int(), 200u);
    EXPECT_EQ(ok.body(), std::string(16, 'a'));
  }
  Client client(server_->port());
  auto big = client.Request(http::verb::post, "/api/v1/echo", std::string(17, 'a'));
  EXPECT_EQ(big.result_int(), 413u);
  EXPECT_EQ(ParseJson(big.body()).at("error").at("code").as_int64(), 413);
  EXPECT_TRUE(client.Closed());
}

TEST_F(HttpServerTest, MalformedRequestAnswers400) {
  Start();
  Client client(server_->port());
  client.WriteRaw("NOT HTTP AT ALL\r\n\r\n");
  auto res = client.Read();
  EXPECT_EQ(res.result_int(), 400u);
  EXPECT_EQ(metrics_.GetCounter("kytkin_http_bad_requests_total", "").value(), 1u);
}

TEST_F(HttpServerTest, UnfinishedRequestTimesOut) {
  HttpOptions options;
  options.request_timeout_ms = 150;
  Start(options);
  Client client(server_->port());
  client.WriteRaw("GET /healthz HTTP/1.1\r\nHost: x\r\n");  // headers never end
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(client.Closed());
  EXPECT_GE(std::chrono::steady_clock::now() - start, 100ms);
  // Beast closes the socket when the timer fires, before the read handler counts it: the
  // client can see the close first.
  metrics::Counter& timeouts = metrics_.GetCounter("kytkin_http_timeouts_total", "");
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (timeouts.value() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(timeouts.value(), 1u);
}

TEST_F(HttpServerTest, ConnectionsBeyondTheMaximumAreRefused) {
  HttpOptions options;
  options.connections_max = 1;
  Start(options);
  Client first(server_->port());
  EXPECT_EQ(first.Request(http::verb::get, "/healthz").result_int(), 200u);
  Client second(server_->port());
  EXPECT_TRUE(second.Closed());
  EXPECT_EQ(metrics_.GetCounter("kytkin_http_connections_refused_total", "").value(), 1u);
  EXPECT_EQ(first.Request(http::verb::get, "/healthz").result_int(), 200u);
}

// An asynchronous handler (a routing table reload) answers from its own thread: the session's
// worker, which also serves terminals, goes on serving other connections meanwhile.
TEST_F(HttpServerTest, AnAsynchronousHandlerDoesNotHoldItsWorker) {
  Start();
  const auto start = std::chrono::steady_clock::now();
  std::thread slow_client([&] {
    Client c(server_->port());
    auto res = c.Request(http::verb::post, "/api/v1/slow", "later");
    EXPECT_EQ(res.result_int(), 200u);
    EXPECT_EQ(res.body(), "later");
  });
  std::this_thread::sleep_for(50ms);  // the slow request is at its handler
  // Sessions go round robin over the two workers: some of these share the slow one's.
  for (int i = 0; i < 4; ++i) {
    Client c(server_->port());
    EXPECT_EQ(c.Request(http::verb::get, "/healthz").result_int(), 200u);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(kSlowMs));
  slow_client.join();
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(kSlowMs));
}

TEST_F(HttpServerTest, PortInUseFails) {
  Start();
  HttpOptions options;
  options.listen = {"127.0.0.1", server_->port()};
  asio::io_context io;
  asio::io_context* contexts[] = {&io};
  auto second = HttpServer::Open(options, io, contexts, HttpRouter(), metrics_);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("http: cannot bind"), std::string_view::npos);
}

}  // namespace
}  // namespace kytkin
