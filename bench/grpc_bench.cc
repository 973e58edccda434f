// The gRPC front alone: kytkin's GrpcServer (switch/grpc_service.h) with a handler that answers
// at once, driven over loopback by an async client like `kytkin load --protocol grpc`
// (`channels` TCP connections, `depth` calls in flight on each). No ledger, no journal: this is
// what gRPC (HTTP/2, HPACK, protobuf, its threads) costs per Authorize call on this machine.
//
// Counters: calls/s (wall clock, so it moves with the machine's load), and CPU per call, which
// moves much less: cpu_us_per_call = the whole process (server + client) / calls, client_us_per
// _call = the client's thread alone. 2 cores / cpu_us_per_call bounds the calls/s of this gRPC
// stack on an idle machine, before any ledger work.
//
// Arguments: answer (0 = inline on gRPC's thread, 1 = from one "completion" thread in batches,
// as the store answers), channels, depth. KYTKIN_GRPC_DEADLOCK_DETECTION=1 in the environment
// runs it with Abseil's deadlock detection on (switch/grpc_runtime.h).
//
//   build/bin/grpc_bench --benchmark_min_time=2
#include <benchmark/benchmark.h>
#include <grpcpp/grpcpp.h>
#include <sys/resource.h>

#include <condition_variable>
#include <ctime>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "switch/grpc_service.h"

namespace kytkin {
namespace {

constexpr char kPan[] = "4111111111111111";

// Answers Authorize at once, or hands the completion to a thread that finishes a batch at a time
// (like storage::Store's completion thread after a group commit).
class BenchAuthorization : public AuthorizationHandler {
 public:
  explicit BenchAuthorization(bool completer) {
    if (completer) thread_ = std::thread([this] { Complete(); });
  }
  ~BenchAuthorization() override {
    if (!thread_.joinable()) return;
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }

  void Authorize(const v1::AuthorizeRequest& request, v1::AuthorizeResponse* response,
                 RpcCompletion done) override {
    v1::Decision* d = response->mutable_decision();
    SetResponseCode(ResponseCode::kApproved, d);
    d->set_auth_code("A1B2C3");
    d->set_rrn("000000000001");
    *d->mutable_approved_amount() = request.amount();
    if (!thread_.joinable()) {
      done.Finish(Status::Ok());
      return;
    }
    {
      std::lock_guard lock(mu_);
      pending_.push_back(std::move(done));
    }
    cv_.notify_one();
  }
  void Capture(const v1::CaptureRequest&, v1::CaptureResponse*, RpcCompletion done) override {
    done.Finish(Status::Ok());
  }
  void Reverse(const v1::ReverseRequest&, v1::ReverseResponse*, RpcCompletion done) override {
    done.Finish(Status::Ok());
  }
  void Refund(const v1::RefundRequest&, v1::RefundResponse*, RpcCompletion done) override {
    done.Finish(Status::Ok());
  }
  void BalanceInquiry(const v1::BalanceInquiryRequest&, v1::BalanceInquiryResponse*,
                      RpcCompletion done) override {
    done.Finish(Status::Ok());
  }

 private:
  void Complete() {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return stop_ || !pending_.empty(); });
      if (pending_.empty() && stop_) return;
      std::deque<RpcCompletion> batch;
      batch.swap(pending_);
      lock.unlock();
      for (RpcCompletion& done : batch) done.Finish(Status::Ok());
      lock.lock();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<RpcCompletion> pending_;  // guarded by mu_
  bool stop_ = false;                  // guarded by mu_
  std::thread thread_;
};

class NoAdmin : public AdminHandler {
 public:
  void CreateAccount(const v1::CreateAccountRequest&, v1::Account*, RpcCompletion d) override {
    d.Finish(Status::Unavailable("bench"));
  }
  void CreateCard(const v1::CreateCardRequest&, v1::Card*, RpcCompletion d) override {
    d.Finish(Status::Unavailable("bench"));
  }
  void ImportAccounts(const v1::ImportAccountsRequest&, v1::ImportAccountsResponse*,
                      RpcCompletion d) override {
    d.Finish(Status::Unavailable("bench"));
  }
  void BlockCard(const v1::BlockCardRequest&, v1::Card*, RpcCompletion d) override {
    d.Finish(Status::Unavailable("bench"));
  }
  void UnblockCard(const v1::UnblockCardRequest&, v1::Card*, RpcCompletion d) override {
    d.Finish(Status::Unavailable("bench"));
  }
  void GetTransaction(const v1::GetTransactionRequest&, v1::Transaction*,
                      RpcCompletion d) override {
    d.Finish(Status::Unavailable("bench"));
  }
};

double ProcessCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

double ThreadCpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

struct Slot {
  v1::Authorization::Stub* stub = nullptr;
  std::unique_ptr<grpc::ClientContext> context;
  std::unique_ptr<grpc::ClientAsyncResponseReader<v1::AuthorizeResponse>> reader;
  v1::AuthorizeResponse response;
  grpc::Status status;
};

void Start(Slot& slot, const v1::AuthorizeRequest& request, grpc::CompletionQueue& queue) {
  slot.context = std::make_unique<grpc::ClientContext>();
  slot.context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  slot.reader = slot.stub->PrepareAsyncAuthorize(slot.context.get(), request, &queue);
  slot.reader->StartCall();
  slot.reader->Finish(&slot.response, &slot.status, &slot);
}

void BM_GrpcAuthorize(benchmark::State& state) {
  const bool completer = state.range(0) != 0;
  const int channels = static_cast<int>(state.range(1));
  const int depth = static_cast<int>(state.range(2));

  metrics::Registry metrics;
  BenchAuthorization authorization(completer);
  NoAdmin admin;
  GrpcOptions options;
  options.listen = {"127.0.0.1", 0};
  auto server = GrpcServer::Start(options, authorization, admin, metrics);
  if (!server.ok()) {
    state.SkipWithError(std::string(server.status().message()).c_str());
    return;
  }
  const std::string target = "127.0.0.1:" + std::to_string((*server)->port());
  std::vector<std::unique_ptr<v1::Authorization::Stub>> stubs;
  for (int c = 0; c < channels; ++c) {
    grpc::ChannelArguments args;
    args.SetInt("kytkin.bench.channel", c);  // one TCP connection per channel
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    stubs.push_back(v1::Authorization::NewStub(
        grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args)));
  }
  v1::AuthorizeRequest request;
  request.set_idempotency_key("bench-key-0001");
  request.mutable_card()->set_pan(kPan);
  request.mutable_card()->set_expiry_yymm("3012");
  request.mutable_amount()->set_currency_code("EUR");
  request.mutable_amount()->set_minor_units(1250);
  request.mutable_merchant()->set_merchant_id("KYTKINMERCH0001");

  grpc::CompletionQueue queue;
  std::vector<Slot> slots(static_cast<size_t>(channels * depth));
  for (size_t i = 0; i < slots.size(); ++i) slots[i].stub = stubs[i % stubs.size()].get();
  for (Slot& slot : slots) Start(slot, request, queue);

  uint64_t failed = 0;
  const double process_cpu_start = ProcessCpuSeconds();
  const double client_cpu_start = ThreadCpuSeconds();
  for (auto _ : state) {
    void* tag = nullptr;
    bool ok = false;
    if (!queue.Next(&tag, &ok)) break;
    Slot& slot = *static_cast<Slot*>(tag);
    if (!slot.status.ok()) ++failed;
    Start(slot, request, queue);
  }
  const double process_cpu = ProcessCpuSeconds() - process_cpu_start;
  const double client_cpu = ThreadCpuSeconds() - client_cpu_start;
  const double calls = static_cast<double>(state.iterations());
  state.counters["calls_per_s"] = benchmark::Counter(calls, benchmark::Counter::kIsRate);
  state.counters["cpu_us_per_call"] = process_cpu * 1e6 / calls;
  state.counters["client_us_per_call"] = client_cpu * 1e6 / calls;
  state.counters["failed"] = static_cast<double>(failed);

  // Let the calls still in flight finish before the queue and the server go away.
  for (size_t i = 0; i < slots.size(); ++i) {
    void* tag = nullptr;
    bool ok = false;
    if (!queue.Next(&tag, &ok)) break;
  }
  queue.Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (queue.Next(&tag, &ok)) {
  }
  (*server)->Shutdown(1000);
}

BENCHMARK(BM_GrpcAuthorize)
    ->ArgNames({"completer", "channels", "depth"})
    ->Args({1, 1, 128})
    ->Args({1, 2, 64})
    ->Args({1, 8, 16})
    ->Args({1, 1, 16})
    ->Args({0, 1, 128})
    ->Args({0, 8, 16})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace kytkin

BENCHMARK_MAIN();
