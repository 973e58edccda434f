#include "switch/http_server.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <cassert>
#include <chrono>

namespace kytkin {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

std::string_view HttpRequest::Param(std::string_view name) const {
  for (const auto& [k, v] : params) {
    if (k == name) return v;
  }
  return {};
}

HttpResponse HttpResponse::Json(unsigned status, std::string json_body) {
  return HttpResponse{status, "application/json", std::move(json_body)};
}

HttpResponse HttpResponse::Error(unsigned status, std::string_view message) {
  boost::json::object error;
  error["code"] = status;
  error["message"] = message;
  boost::json::object body;
  body["error"] = std::move(error);
  return Json(status, boost::json::serialize(body));
}

namespace {

// After a failed accept() (out of file descriptors), wait this long before the next one.
constexpr int kAcceptRetryMs = 10;

std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> segments;
  size_t start = 1;  // after the leading '/'
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    segments.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return segments;
}

}  // namespace

void HttpRouter::Add(http::verb method, std::string pattern, HttpHandler handler) {
  AddAsync(method, std::move(pattern),
           [handler = std::move(handler)](const HttpRequest& request, HttpResponder respond) {
             respond(handler(request));
           });
}

void HttpRouter::AddAsync(http::verb method, std::string pattern, AsyncHttpHandler handler) {
  assert(!pattern.empty() && pattern[0] == '/');
  std::vector<std::string> segments;
  for (std::string_view s : SplitPath(pattern)) segments.emplace_back(s);
  routes_.push_back({method, std::move(segments), std::move(handler)});
}

void HttpRouter::Dispatch(HttpRequest& request, const HttpResponder& respond) const {
  if (request.path.empty() || request.path[0] != '/') {
    return respond(HttpResponse::Error(400, "the path must start with '/'"));
  }
  const std::vector<std::string_view> segments = SplitPath(request.path);
  bool path_known = false;
  for (const Entry& route : routes_) {
    if (route.segments.size() != segments.size()) continue;
    std::vector<std::pair<std::string_view, std::string_view>> params;
    bool match = true;
    for (size_t i = 0; i < segments.size() && match; ++i) {
      const std::string& want = route.segments[i];
      if (want.size() > 2 && want.front() == '{' && want.back() == '}') {
        if (segments[i].empty()) match = false;
        params.emplace_back(std::string_view(want).substr(1, want.size() - 2), segments[i]);
      } else {
        match = want == segments[i];
      }
    }
    if (!match) continue;
    path_known = true;
    if (route.method != request.method &&
        !(request.method == http::verb::head && route.method == http::verb::get)) {
      continue;
    }
    request.params = std::move(params);
    return route.handler(request, respond);
  }
  if (path_known) return respond(HttpResponse::Error(405, "method not allowed on this path"));
  respond(HttpResponse::Error(404, "no such path"));
}

struct HttpServerState {
  HttpServerState(const HttpOptions& o, HttpRouter r, metrics::Registry& m)
      : options(o),
        router(std::move(r)),
        connections(m.GetGauge("kytkin_http_connections", "Open HTTP connections.")),
        refused(m.GetCounter("kytkin_http_connections_refused_total",
                             "HTTP connections closed at once: connections_max reached.")),
        timeouts(m.GetCounter("kytkin_http_timeouts_total",
                              "HTTP connections closed: request not read or response not "
                              "written in time.")),
        accept_errors(m.GetCounter("kytkin_http_accept_errors_total",
                                   "Failed accept() calls on the HTTP listener.")),
        bad_requests(m.GetCounter("kytkin_http_bad_requests_total",
                                  "HTTP requests that could not be parsed or were too large.")) {
    for (unsigned klass = 1; klass <= 5; ++klass) {
      by_class.push_back(&m.GetCounter("kytkin_http_responses_total", "HTTP responses sent.",
                                       {{"class", std::to_string(klass) + "xx"}}));
    }
  }

  const HttpOptions options;
  HttpRouter router;
  std::atomic<bool> ready{false};
  std::atomic<int64_t> open_connections{0};
  metrics::Gauge& connections;
  metrics::Counter& refused;
  metrics::Counter& timeouts;
  metrics::Counter& accept_errors;
  metrics::Counter& bad_requests;
  std::vector<metrics::Counter*> by_class;
};

namespace {

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket socket, std::shared_ptr<HttpServerState> state)
      : stream_(std::move(socket)), state_(std::move(state)) {}

  ~HttpSession() {
    state_->connections.Decrement();
    state_->open_connections.fetch_sub(1, std::memory_order_relaxed);
  }

  void Start() { DoRead(); }

 private:
  std::chrono::milliseconds timeout() const {
    return std::chrono::milliseconds(state_->options.request_timeout_ms);
  }

  void DoRead() {
    parser_.emplace();
    parser_->body_limit(state_->options.body_bytes_max);
    stream_.expires_after(timeout());
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    if (ec == http::error::end_of_stream) return Close();
    if (ec == beast::error::timeout) {
      // An idle keep-alive connection between requests is not worth a counter: only a
      // request started and not finished is.
      if (buffer_.size() > 0 || parser_->got_some()) state_->timeouts.Increment();
      return Close();
    }
    if (ec == http::error::body_limit) {
      state_->bad_requests.Increment();
      return Send(HttpResponse::Error(413, "request body larger than http.body_bytes_max"),
                  /*keep_alive=*/false, /*version=*/11);
    }
    if (ec) {
      if (parser_->got_some()) {
        state_->bad_requests.Increment();
        return Send(HttpResponse::Error(400, "malformed HTTP request"), false, 11);
      }
      return Close();
    }
    const http::request<http::string_body>& req = parser_->get();
    const std::string_view target = req.target();
    const size_t q = target.find('?');
    HttpRequest request;
    request.method = req.method();
    request.path = target.substr(0, q);
    request.query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
    request.body = req.body();
    const bool head = req.method() == http::verb::head;
    const bool keep_alive = req.keep_alive();
    const unsigned version = req.version();
    // Nothing is read meanwhile (the parser, and the request's views, stay as they are).
    state_->router.Dispatch(
        request, [self = shared_from_this(), head, keep_alive, version](HttpResponse response) {
          // At once for a synchronous handler (dispatch runs it inline on the session's thread);
          // an asynchronous one answers from its own thread.
          asio::dispatch(self->stream_.get_executor(), [self, response = std::move(response), head,
                                                        keep_alive, version]() mutable {
            if (head) response.body.clear();
            self->Send(std::move(response), keep_alive, version);
          });
        });
  }

  void Send(HttpResponse r, bool keep_alive, unsigned version) {
    const unsigned klass = r.status / 100;
    if (klass >= 1 && klass <= 5) state_->by_class[klass - 1]->Increment();
    response_.emplace(static_cast<http::status>(r.status), version);
    response_->set(http::field::server, "kytkin");
    response_->set(http::field::content_type, r.content_type);
    response_->keep_alive(keep_alive);
    response_->body() = std::move(r.body);
    response_->prepare_payload();
    stream_.expires_after(timeout());
    http::async_write(stream_, *response_,
                      [self = shared_from_this(), keep_alive](beast::error_code ec, size_t) {
                        self->OnWrite(ec, keep_alive);
                      });
  }

  void OnWrite(beast::error_code ec, bool keep_alive) {
    if (ec == beast::error::timeout) state_->timeouts.Increment();
    if (ec || !keep_alive) return Close();
    DoRead();
  }

  void Close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.close();
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::string_body>> response_;
  std::shared_ptr<HttpServerState> state_;
};

}  // namespace

HttpServer::HttpServer(std::shared_ptr<HttpServerState> state, asio::io_context& accept_context,
                       std::span<asio::io_context* const> session_contexts)
    : state_(std::move(state)),
      acceptor_(accept_context),
      accept_retry_timer_(accept_context),
      session_contexts_(session_contexts.begin(), session_contexts.end()) {}

HttpServer::~HttpServer() = default;

Result<std::unique_ptr<HttpServer>> HttpServer::Open(
    const HttpOptions& options, asio::io_context& accept_context,
    std::span<asio::io_context* const> session_contexts, HttpRouter router,
    metrics::Registry& metrics) {
  assert(!session_contexts.empty());
  router.Add(http::verb::get, "/healthz",
             [](const HttpRequest&) { return HttpResponse::Json(200, R"({"status":"ok"})"); });
  auto state = std::make_shared<HttpServerState>(options, HttpRouter(), metrics);
  router.Add(http::verb::get, "/readyz", [s = state.get()](const HttpRequest&) {
    return s->ready.load() ? HttpResponse::Json(200, R"({"status":"ready"})")
                           : HttpResponse::Error(503, "not ready");
  });
  router.Add(http::verb::get, "/metrics", [&metrics](const HttpRequest&) {
    return HttpResponse{200, "text/plain; version=0.0.4", metrics.RenderPrometheus()};
  });
  state->router = std::move(router);

  auto server =
      std::unique_ptr<HttpServer>(new HttpServer(state, accept_context, session_contexts));
  // Asio creates a context's epoll reactor on first use. Do it now for every session
  // context, so that running out of descriptors later fails one accept() (counted, retried)
  // instead of throwing from the reactor's construction on the accept thread.
  for (asio::io_context* context : session_contexts) tcp::socket warm_up(*context);
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(options.listen.host, ec);
  if (ec) {
    return Status::InvalidArgument("http.listen: '" + options.listen.host +
                                   "' is not an IP address");
  }
  const tcp::endpoint endpoint(address, options.listen.port);
  auto fail = [&](std::string_view what) {
    return Status::Unavailable("http: cannot " + std::string(what) + " " +
                               options.listen.ToString() + ": " + ec.message());
  };
  tcp::acceptor& acceptor = server->acceptor_;
  if (acceptor.open(endpoint.protocol(), ec)) return fail("open");
  if (acceptor.set_option(tcp::acceptor::reuse_address(true), ec)) return fail("configure");
  if (acceptor.bind(endpoint, ec)) return fail("bind");
  if (acceptor.listen(asio::socket_base::max_listen_connections, ec)) return fail("listen on");
  server->port_ = acceptor.local_endpoint(ec).port();
  return server;
}

void HttpServer::Start() {
  asio::post(acceptor_.get_executor(), [this] { DoAccept(); });
}

void HttpServer::DoAccept() {
  if (!acceptor_.is_open()) return;
  asio::io_context& context = *session_contexts_[next_context_++ % session_contexts_.size()];
  acceptor_.async_accept(context, [this, &context](boost::system::error_code ec,
                                                   tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    HttpServerState& state = *state_;
    if (ec) {
      // Typically EMFILE/ENFILE: back off instead of spinning on a failing accept().
      state.accept_errors.Increment();
      RetryAcceptLater();
      return;
    }
    {
      if (state.open_connections.load(std::memory_order_relaxed) >= state.options.connections_max) {
        state.refused.Increment();
        boost::system::error_code ignored;
        socket.close(ignored);
      } else {
        state.connections.Increment();
        state.open_connections.fetch_add(1, std::memory_order_relaxed);
        auto session = std::make_shared<HttpSession>(std::move(socket), state_);
        asio::dispatch(context, [session] { session->Start(); });
      }
    }
    DoAccept();
  });
}

void HttpServer::RetryAcceptLater() {
  accept_retry_timer_.expires_after(std::chrono::milliseconds(kAcceptRetryMs));
  accept_retry_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) DoAccept();
  });
}

void HttpServer::StopAccepting() {
  asio::post(acceptor_.get_executor(), [this] {
    accept_retry_timer_.cancel();
    boost::system::error_code ignored;
    acceptor_.close(ignored);
  });
}

void HttpServer::set_ready(bool ready) { state_->ready.store(ready); }
bool HttpServer::ready() const { return state_->ready.load(); }

}  // namespace kytkin
