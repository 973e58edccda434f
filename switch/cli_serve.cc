// kytkin serve: the switch. Opens the ledger, starts the ISO 8583 listeners, the gRPC services
// and the HTTP ops server, and runs until SIGTERM/SIGINT.
#include <filesystem>
#include <iostream>
#include <memory>

#include "storage/store.h"
#include "switch/authorizer.h"
#include "switch/cli.h"
#include "switch/config.h"
#include "switch/demo.h"
#include "switch/issuer_router.h"
#include "switch/metrics.h"
#include "switch/online_handlers.h"
#include "switch/server.h"
#include "switch/settlement_grpc.h"
#include "switch/settlement_iso.h"
#include "switch/settlement_server.h"
#include "switch/store_metrics.h"

namespace kytkin::cli {
namespace {

int StartupFailure(std::string_view what, const Status& status) {
  std::cerr << "kytkin serve: " << what << ": " << status.message() << "\n";
  return 1;
}

storage::StoreOptions StoreOptionsFor(const ServeOptions& options, std::string card_key) {
  storage::StoreOptions s;
  s.backend = storage::StoreOptions::Backend::kRocksDb;
  s.data_dir = (std::filesystem::path(options.data_dir) / "ledger").string();
  s.card_key = std::move(card_key);
  s.batch_decisions_max = options.ledger.group_commit_records_max;
  s.unsafe_disable_sync = !options.ledger.sync;
  s.hold_ttl_seconds = options.ledger.hold_expiry_s;
  s.dedupe_window_entries = options.ledger.dedupe_window_entries;
  return s;
}

}  // namespace

int RunServe(Args args) {
  for (std::string_view a : args) {
    if (a == "--help" || a == "-h") {
      std::cout << "usage: kytkin serve [flags]\n\n" << ServeFlagsHelp();
      return 0;
    }
  }
  Result<ServeOptions> parsed = ServeOptionsFromFlags(args);
  if (!parsed.ok()) {
    std::cerr << "kytkin serve: " << parsed.status().message() << "\n";
    return 2;
  }
  const ServeOptions& options = *parsed;

  std::error_code ec;
  std::filesystem::create_directories(options.data_dir, ec);
  if (ec) {
    return StartupFailure(
        "data_dir", Status::IOError("cannot create " + options.data_dir + ": " + ec.message()));
  }
  const std::string key_path = (std::filesystem::path(options.data_dir) / "card.key").string();
  Result<std::string> card_key = storage::LoadOrCreateCardKey(key_path);
  if (!card_key.ok()) return StartupFailure("card key " + key_path, card_key.status());

  metrics::Registry metrics;
  storage::StoreOptions store_options = StoreOptionsFor(options, std::move(card_key).value());
  metrics::Histogram& batch_sizes = metrics.GetHistogram(
      "kytkin_commit_batch_decisions",
      "Decisions made durable by one group commit (buckets are counts, not microseconds)");
  metrics::Histogram& commit_latency = metrics.GetHistogram(
      "kytkin_commit_latency_microseconds", "One group commit: RocksDB write + fdatasync");
  store_options.on_commit = [&batch_sizes, &commit_latency](size_t decisions, int64_t us) {
    batch_sizes.Observe(decisions);
    commit_latency.Observe(static_cast<uint64_t>(us));
  };
  Result<std::unique_ptr<storage::Store>> store = storage::Store::Open(store_options);
  if (!store.ok()) return StartupFailure("ledger", store.status());
  if (options.demo) {
    if (Status s = SeedDemoData(**store, std::cout); !s.ok()) return StartupFailure("demo", s);
  }
  // The ledger's memory and its last open on /metrics, before anything listens.
  StoreMetrics store_metrics(**store, metrics);
  store_metrics.Start();

  // Routing: the table and its link ids are checked before anything listens.
  IssuerRouterOptions router_options{options.routing, options.issuer_links};
  Result<std::unique_ptr<IssuerRouter>> routing =
      IssuerRouter::Create(router_options, **store, metrics);
  if (!routing.ok()) return StartupFailure("routing", routing.status());
  IssuerRouter* issuer_router = routing->get();

  AuthorizerOptions authorizer_options;
  authorizer_options.rules = options.authorization;
  authorizer_options.router = issuer_router;
  Authorizer authorizer(**store, authorizer_options, metrics);
  // 0320/0500 settlement messages first, everything else to the authorizer.
  SettlementIsoHandler settlement_iso(**store, options.settlement, authorizer);
  SettlementService settlement_grpc(**store, options.settlement);
  OnlineAuthorizer online(**store, SystemClock::Get(), issuer_router);
  LedgerAdmin admin(**store);
  // The daily settlement cut-over (pays out batches, moves the business date), and on demand
  // over HTTP; it outlives the server (its route) and stops before the ledger closes.
  auto cutover = std::make_unique<CutOverScheduler>(**store, options.settlement);
  HttpRouter router;
  AddTransactionRoutes(**store, router);
  issuer_router->AddHttpRoutes(router);
  AddSettlementRoutes(**store, router);
  cutover->AddHttpRoutes(router);

  ServerHandlers handlers;
  handlers.iso = &settlement_iso;
  handlers.grpc_services.push_back(&settlement_grpc);
  handlers.authorization = &online;
  handlers.admin = &admin;
  storage::Store* ledger = store->get();
  CutOverScheduler* cutover_scheduler = cutover.get();
  handlers.drain = [ledger, issuer_router, cutover_scheduler] {
    issuer_router->Stop();      // links and the SAF sender, while the workers still run
    cutover_scheduler->Stop();  // answers queued cut-over requests while their sessions can
                                // still write
    return ledger->health();
  };
  Result<std::unique_ptr<Server>> server =
      Server::Start(options, std::move(handlers), std::move(router), metrics);
  if (!server.ok()) return StartupFailure("start", server.status());
  std::vector<boost::asio::io_context*> contexts;
  for (size_t i = 0; i < (*server)->thread_count(); ++i) contexts.push_back(&(*server)->context(i));
  if (Status s = issuer_router->Start(contexts); !s.ok()) {
    (*server)->RequestStop();
    (void)(*server)->WaitForShutdown();
    return StartupFailure("issuer links", s);
  }
  std::cout << (*server)->Describe() << "kytkin: ready (data in " << options.data_dir
            << ", ports in " << options.data_dir << "/ports.json)" << std::endl;
  int code = (*server)->WaitForShutdown();
  server->reset();  // every listener and call is done before the ledger closes
  cutover.reset();  // its thread uses the ledger
  Status health = ledger->health();
  store_metrics.Stop();
  store->reset();  // commits and syncs what was submitted
  if (!health.ok()) return StartupFailure("ledger", health);
  std::cout << "kytkin: stopped" << std::endl;
  return code;
}

}  // namespace kytkin::cli
