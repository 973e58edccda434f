#include "switch/server.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/signal_set.hpp>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace kytkin {

namespace asio = boost::asio;

struct Server::Runtime {
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  std::unique_ptr<asio::signal_set> signals;
};

std::string BoundPorts::ToJson() const {
  std::ostringstream out;
  out << "{\"iso8583\":{";
  for (size_t i = 0; i < iso.size(); ++i) {
    // Listener names are validated config values; quote and backslash cannot appear in
    // practice, but escape them anyway so the file stays JSON.
    std::string name;
    for (char c : iso[i].first) {
      if (c == '"' || c == '\\') name += '\\';
      name += c;
    }
    out << (i ? "," : "") << "\"" << name << "\":" << iso[i].second;
  }
  out << "},\"grpc\":" << grpc << ",\"http\":" << http << "}";
  return out.str();
}

namespace {

// Writes `text` to `path` through a temporary file and a rename, so a reader never sees half a
// file.
Status WriteFileAtomically(const std::filesystem::path& path, const std::string& text) {
  const std::filesystem::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text << "\n";
    out.flush();
    if (!out) return Status::IOError("cannot write " + tmp.string());
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Status::IOError("cannot rename " + tmp.string() + ": " + ec.message());
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<Server>> Server::Start(const ServeOptions& options, ServerHandlers handlers,
                                              HttpRouter router, metrics::Registry& metrics) {
  if (handlers.iso == nullptr || handlers.authorization == nullptr || handlers.admin == nullptr) {
    return Status::InvalidArgument("server: iso, authorization and admin handlers are required");
  }
  auto server = std::unique_ptr<Server>(new Server());
  server->options_ = options;
  server->handlers_ = std::move(handlers);
  server->runtime_ = std::make_unique<Runtime>();
  const uint32_t threads = options.EffectiveThreads();
  for (uint32_t i = 0; i < threads; ++i) {
    // Concurrency hint 1: each context is run by exactly one thread, so Asio can skip locking.
    server->contexts_.push_back(std::make_unique<asio::io_context>(1));
    server->context_ptrs_.push_back(server->contexts_.back().get());
  }
  asio::io_context& accept_context = *server->contexts_[0];

  // Bind everything before anything runs: a failure leaves nothing half-started.
  for (const IsoListenerOptions& l : options.iso_listeners) {
    Result<std::unique_ptr<IsoListener>> listener = IsoListener::Open(
        l, accept_context, server->context_ptrs_, *server->handlers_.iso, metrics);
    if (!listener.ok()) return listener.status();
    server->ports_.iso.emplace_back(l.name, (*listener)->port());
    server->iso_listeners_.push_back(std::move(listener).value());
  }
  Result<std::unique_ptr<HttpServer>> http = HttpServer::Open(
      options.http, accept_context, server->context_ptrs_, std::move(router), metrics);
  if (!http.ok()) return http.status();
  server->http_ = std::move(http).value();
  server->ports_.http = server->http_->port();
  Result<std::unique_ptr<GrpcServer>> grpc =
      GrpcServer::Start(options.grpc, *server->handlers_.authorization, *server->handlers_.admin,
                        metrics, server->handlers_.grpc_services);
  if (!grpc.ok()) return grpc.status();
  server->grpc_ = std::move(grpc).value();
  server->ports_.grpc = server->grpc_->port();

  std::error_code ec;
  std::filesystem::create_directories(options.data_dir, ec);
  if (ec) {
    return Status::IOError("data_dir: cannot create '" + options.data_dir + "': " + ec.message());
  }
  KYTKIN_RETURN_IF_ERROR(WriteFileAtomically(std::filesystem::path(options.data_dir) / "ports.json",
                                             server->ports_.ToJson()));

  Runtime& rt = *server->runtime_;
  rt.signals = std::make_unique<asio::signal_set>(accept_context, SIGINT, SIGTERM);
  rt.signals->async_wait([s = server.get()](boost::system::error_code error, int) {
    if (!error) s->RequestStop();
  });
  for (auto& context : server->contexts_) rt.guards.emplace_back(context->get_executor());
  for (auto& l : server->iso_listeners_) l->Start();
  server->http_->Start();
  for (auto& context : server->contexts_) {
    server->threads_.emplace_back([c = context.get()] { c->run(); });
  }
  server->http_->set_ready(true);
  return server;
}

std::string Server::Describe() const {
  std::ostringstream out;
  for (size_t i = 0; i < iso_listeners_.size(); ++i) {
    const IsoListenerOptions& l = iso_listeners_[i]->options();
    out << "iso8583 " << l.name << " " << HostPort(l.listen.host, ports_.iso[i].second).ToString()
        << " (" << l.dialect << ", " << FramingName(l.framing) << ")\n";
  }
  out << "grpc " << HostPort(options_.grpc.listen.host, ports_.grpc).ToString() << "\n";
  out << "http " << HostPort(options_.http.listen.host, ports_.http).ToString() << "\n";
  return out.str();
}

void Server::RequestStop() {
  {
    std::lock_guard lock(mu_);
    stop_requested_ = true;
  }
  stop_cv_.notify_all();
}

int Server::WaitForShutdown() {
  {
    std::unique_lock lock(mu_);
    stop_cv_.wait(lock, [this] { return stop_requested_; });
  }
  return Shutdown();
}

int Server::Shutdown() {
  if (shut_down_) return exit_code_;
  shut_down_ = true;
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::milliseconds(kDrainTimeoutMs);

  http_->set_ready(false);
  for (auto& l : iso_listeners_) {
    l->StopAccepting();
    l->Drain();
  }
  http_->StopAccepting();
  // Blocks until gRPC calls in progress finish, or the deadline cancels them.
  grpc_->Shutdown(kDrainTimeoutMs);
  auto iso_busy = [this] {
    for (auto& l : iso_listeners_) {
      if (l->connections() > 0) return true;
    }
    return false;
  };
  while (iso_busy() && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (auto& l : iso_listeners_) l->CloseAll();

  if (handlers_.drain) {
    drain_status_ = handlers_.drain();
    if (!drain_status_.ok()) exit_code_ = 1;
  }

  boost::system::error_code ignored;
  runtime_->signals->cancel(ignored);
  runtime_->guards.clear();
  for (auto& context : contexts_) context->stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
  return exit_code_;
}

Server::~Server() {
  if (!threads_.empty()) Shutdown();
  // Listeners and the HTTP server own acceptors on contexts_[0]; they go before the contexts.
  iso_listeners_.clear();
  http_.reset();
  runtime_.reset();
  grpc_.reset();
}

}  // namespace kytkin
