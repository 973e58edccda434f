// HttpServer: the HTTP/1.1 ops server (Boost.Beast): /healthz, /readyz, /metrics and the routes
// the switch adds to an HttpRouter (GET /api/v1/transactions/{rrn}, ...).
//
// One session per connection on one io_context (round-robin over the pool), keep-alive,
// a body limit (413), a timeout to read each request and to write each response (the
// connection is closed), connections_max (more are accepted and closed at once). Errors are
// JSON: {"error": {"code": 404, "message": "..."}}. Handlers run on the session's thread, which
// also serves ISO 8583 connections, and must be quick; work that is not (a routing table reload
// parses megabytes) goes to an asynchronous handler, which answers from its own thread.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http/verb.hpp>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "switch/config.h"
#include "switch/metrics.h"

namespace kytkin {

struct HttpRequest {
  boost::beast::http::verb method = boost::beast::http::verb::get;
  std::string_view path;   // "/api/v1/transactions/123456789012", without the query
  std::string_view query;  // "limit=10", without '?'
  std::string_view body;
  // Values of the pattern's {name} segments, in pattern order.
  std::vector<std::pair<std::string_view, std::string_view>> params;

  // The value of {name}; empty when the pattern has no such segment.
  std::string_view Param(std::string_view name) const;
};

struct HttpResponse {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;

  static HttpResponse Json(unsigned status, std::string json_body);
  // {"error": {"code": status, "message": message}}, JSON-escaped.
  static HttpResponse Error(unsigned status, std::string_view message);
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;
// An asynchronous handler: `respond` must be called exactly once, from any thread (the response
// goes back to the session's thread). The request's views stay valid until then.
using HttpResponder = std::function<void(HttpResponse)>;
using AsyncHttpHandler = std::function<void(const HttpRequest&, HttpResponder respond)>;

// Maps (method, path pattern) to a handler. Patterns are absolute paths whose segments are
// literal or "{name}" (one non-empty segment): "/api/v1/transactions/{rrn}". An unknown path
// answers 404; a known path with another method answers 405.
// Thread safety: add routes before the server starts; Dispatch() is then safe from any thread.
class HttpRouter {
 public:
  void Add(boost::beast::http::verb method, std::string pattern, HttpHandler handler);
  void AddAsync(boost::beast::http::verb method, std::string pattern, AsyncHttpHandler handler);
  // Runs the matching handler (or answers 400 / 404 / 405); `respond` is called exactly once, on
  // this thread for a synchronous handler.
  void Dispatch(HttpRequest& request, const HttpResponder& respond) const;

 private:
  struct Entry {
    boost::beast::http::verb method;
    std::vector<std::string> segments;
    AsyncHttpHandler handler;
  };
  std::vector<Entry> routes_;
};

struct HttpServerState;

class HttpServer {
 public:
  // Binds options.listen (port 0 picks a free port). The built-in routes /healthz, /readyz and
  // /metrics (rendering `metrics`) are added to `router`. REQUIRES: session_contexts not empty;
  // the contexts and `metrics` outlive the server; destroy the server only after the contexts
  // stopped.
  static Result<std::unique_ptr<HttpServer>> Open(
      const HttpOptions& options, boost::asio::io_context& accept_context,
      std::span<boost::asio::io_context* const> session_contexts, HttpRouter router,
      metrics::Registry& metrics);
  ~HttpServer();

  uint16_t port() const { return port_; }
  // Safe from any thread.
  void Start();
  void StopAccepting();
  // /readyz answers 200 when set, 503 before (start-up) and after (shutdown). Any thread.
  void set_ready(bool ready);
  bool ready() const;

 private:
  HttpServer(std::shared_ptr<HttpServerState> state, boost::asio::io_context& accept_context,
             std::span<boost::asio::io_context* const> session_contexts);
  void DoAccept();
  void RetryAcceptLater();

  std::shared_ptr<HttpServerState> state_;
  boost::asio::ip::tcp::acceptor acceptor_;       // accept context only
  boost::asio::steady_timer accept_retry_timer_;  // accept context only
  std::vector<boost::asio::io_context*> session_contexts_;
  size_t next_context_ = 0;  // accept context only
  uint16_t port_ = 0;
};

}  // namespace kytkin
