// Server: everything `kytkin serve` runs, wired together: the io_context pool (one io_context
// and one thread per worker), the ISO 8583 listeners, the HTTP ops server, the gRPC server and
// the SIGTERM/SIGINT shutdown.
//
// Start() binds every address first and fails (naming the address) before anything runs, so a
// port in use or a bad address exits non-zero with one clear line. Then it writes the ports
// actually bound to DATA_DIR/ports.json, starts the threads and sets /readyz.
//
// Shutdown (signal or RequestStop()): /readyz goes 503, listeners stop accepting, ISO
// connections stop reading and answer what they have in flight, gRPC calls in progress
// finish, then the drain hook runs (the ledger's final sync), then the threads stop. Requests
// still unanswered after kDrainTimeoutMs are dropped (their connections close).
#pragma once

#include <boost/asio/io_context.hpp>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/status.h"
#include "switch/config.h"
#include "switch/grpc_service.h"
#include "switch/http_server.h"
#include "switch/iso_listener.h"
#include "switch/metrics.h"

namespace kytkin {

// How long shutdown waits for in-flight requests (ISO 8583 and gRPC) before dropping them.
inline constexpr int64_t kDrainTimeoutMs = 10'000;

// The pipeline, as the server sees it. All pointers are required and must outlive the Server.
struct ServerHandlers {
  IsoHandler* iso = nullptr;
  AuthorizationHandler* authorization = nullptr;
  AdminHandler* admin = nullptr;
  // More gRPC services to serve beside Authorization and Admin (settlement), not owned; they
  // must outlive the server. Optional.
  std::vector<grpc::Service*> grpc_services;
  // Runs once during shutdown, after the listeners went quiet and before the threads stop:
  // the ledger's final sync. A non-OK Status makes WaitForShutdown() return 1. Optional.
  std::function<Status()> drain;
};

// The ports actually bound (port 0 in the options picks a free one).
struct BoundPorts {
  std::vector<std::pair<std::string, uint16_t>> iso;  // listener name -> port
  uint16_t grpc = 0;
  uint16_t http = 0;
  // {"iso8583":{"pos":8583},"grpc":50051,"http":8080}
  std::string ToJson() const;
};

class Server {
 public:
  // REQUIRES: options validated (ValidateServeOptions). `router` carries the API routes the
  // switch adds; /healthz, /readyz and /metrics are added here. `metrics` outlives the server.
  static Result<std::unique_ptr<Server>> Start(const ServeOptions& options, ServerHandlers handlers,
                                               HttpRouter router, metrics::Registry& metrics);
  ~Server();  // shuts down if still running

  const BoundPorts& ports() const { return ports_; }
  // One line per listener: "iso8583 pos 0.0.0.0:8583 (iso87-ascii, binary2)".
  std::string Describe() const;

  // Blocks until SIGTERM, SIGINT or RequestStop(), then shuts down as described above.
  // Returns the process exit code: 0, or 1 when the drain hook failed.
  int WaitForShutdown();
  // Any thread, including a signal-free test.
  void RequestStop();
  // The drain hook's result, after WaitForShutdown(); for the one line the CLI prints.
  const Status& drain_status() const { return drain_status_; }

  // The worker contexts, for components that want to run on the pool (the lead's pipeline).
  size_t thread_count() const { return contexts_.size(); }
  boost::asio::io_context& context(size_t i) { return *contexts_[i]; }

 private:
  Server() = default;
  int Shutdown();

  ServeOptions options_;
  ServerHandlers handlers_;
  std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
  std::vector<boost::asio::io_context*> context_ptrs_;
  std::vector<std::unique_ptr<IsoListener>> iso_listeners_;
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<GrpcServer> grpc_;
  struct Runtime;  // work guards and the signal set
  std::unique_ptr<Runtime> runtime_;
  std::vector<std::thread> threads_;
  BoundPorts ports_;

  std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stop_requested_ = false;  // guarded by mu_
  bool shut_down_ = false;
  int exit_code_ = 0;
  Status drain_status_;
};

}  // namespace kytkin
