// kytkin settle FILE | kytkin settlement report|cutover|show: acquirer batch settlement, on the
// ledger store directly (like `kytkin accounts import`: not while `kytkin serve` holds the data
// dir), or through a running server: `settle --grpc HOST:PORT` streams each batch to
// Settlement.SubmitBatch, `report|show --http HOST:PORT` read its HTTP API. The rules live in
// switch/settlement.h; this file reads and writes the file formats.
//
// Batch file (CSV, README "Settlement"): records typed by their first field, a batch being an H
// row, its I rows and a T row:
//   H,batch_id,acquirer_id,terminal_id,merchant_id,currency
//   I,item,type,amount,auth_rrn,auth_code,pan,stan
//   T,captures,captures_amount,refunds,refunds_amount,reversals,reversals_amount
// Amounts in major units of the batch currency ("12.34"); type capture|refund|reversal; the
// authorization by kytkin's RRN (and its auth code, checked when given), or none: an offline
// sale (force-posted) or a refund, which then need the pan. Blank lines and '#' lines are
// skipped.
#include <grpcpp/grpcpp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "core/amount.h"
#include "core/currency.h"
#include "core/pan.h"
#include "core/response_code.h"
#include "core/text.h"
#include "kytkin/v1/settlement.grpc.pb.h"
#include "storage/store.h"
#include "switch/cli.h"
#include "switch/cli_flags.h"
#include "switch/config.h"
#include "switch/settlement.h"

namespace kytkin::cli {
namespace {

using settlement::BatchWriter;
using settlement::Item;
using settlement::ItemResult;
using storage::BatchTotals;
using storage::Store;

constexpr size_t kLineBytesMax = 4096;     // longer lines are an error, not a buffer
constexpr int kServerTimeoutSeconds = 30;  // --http: each read and write; --grpc: per batch
constexpr size_t kHttpResponseBytesMax = 64 << 20;  // a report of many merchants, not more
constexpr int64_t kProgressIntervalMs = 200;        // progress bar redraw on a TTY
constexpr int kProgressBarWidth = 30;

int Fail(std::string_view command, std::string_view message, int code = 1) {
  std::cerr << "kytkin " << command << ": " << message << "\n";
  return code;
}

struct SettleFlags {
  std::string data_dir = "./data";
  std::string key_file;
  std::string config;

  void Register(FlagSet& flags) {
    flags.String("--data-dir", &data_dir, "data directory (the ledger is DATA_DIR/ledger)");
    flags.String("--key-file", &key_file, "card key file (default DATA_DIR/card.key)");
    flags.String("--config", &config, "TOML configuration; only [settlement] is used");
  }

  Result<SettlementConfig> Config() const {
    if (config.empty()) return SettlementConfig{};
    auto options = LoadServeTomlFile(config, ServeOptions{});
    if (!options.ok()) return options.status();
    return options->settlement;
  }

  // `while_serving` says what to do instead when `kytkin serve` holds the data dir.
  Result<std::unique_ptr<Store>> Open(std::string_view while_serving) const {
    std::error_code ec;
    if (!std::filesystem::is_directory(data_dir, ec)) {
      return Status::NotFound("data dir " + data_dir + " does not exist");
    }
    auto key = storage::LoadOrCreateCardKey(key_file.empty() ? data_dir + "/card.key" : key_file);
    if (!key.ok()) return key.status();
    storage::StoreOptions options;
    options.data_dir = data_dir + "/ledger";
    options.card_key = *key;
    options.sweep_interval_ms = 0;  // a tool must not expire holds as a side effect
    auto store = Store::Open(options);
    if (!store.ok() && store.status().message().find("lock") != std::string_view::npos) {
      // RocksDB's LOCK file: one process at a time, and the server keeps it while it runs.
      return Status::FailedPrecondition("data dir " + data_dir +
                                        " is locked by a running `kytkin serve`; " +
                                        std::string(while_serving));
    }
    return store;
  }
};

Result<uint64_t> ParseCount(std::string_view field, std::string_view text) {
  if (text.empty() || text.size() > 18 || text.find_first_not_of("0123456789") != text.npos) {
    return Status::InvalidArgument(std::string(field) + ": want a non-negative integer, got '" +
                                   std::string(text) + "'");
  }
  return std::stoull(std::string(text));
}

Result<int64_t> ParseMajor(std::string_view field, std::string_view text, uint16_t currency) {
  auto a = Amount::Parse(text, currency);
  if (!a.ok()) {
    return Status::InvalidArgument(std::string(field) + ": '" + std::string(text) +
                                   "': " + std::string(a.status().message()));
  }
  if (a->minor_units() < 0) return Status::InvalidArgument(std::string(field) + ": negative");
  return a->minor_units();
}

std::string Major(int64_t minor, uint16_t currency) {
  return Amount(minor, currency).FormatMajor();
}

std::string TotalsText(const BatchTotals& t, uint16_t currency) {
  return std::to_string(t.captures_count) + " captures " + Major(t.captures_minor, currency) +
         ", " + std::to_string(t.refunds_count) + " refunds " + Major(t.refunds_minor, currency) +
         ", " + std::to_string(t.reversals_count) + " reversals " +
         Major(t.reversals_minor, currency) + ", net " + Major(t.net_minor(), currency);
}

Result<settlement::BatchHeader> ParseHeader(const std::vector<std::string>& f) {
  if (f.size() != 6) {
    return Status::InvalidArgument("H row has " + std::to_string(f.size()) +
                                   " fields, want 6: H,batch_id,acquirer_id,terminal_id,"
                                   "merchant_id,currency");
  }
  settlement::BatchHeader h;
  h.batch_id = f[1];
  h.acquirer_id = f[2];
  h.terminal_id = f[3];
  h.merchant_id = f[4];
  auto currency = FindCurrencyCode(f[5]);
  if (!currency) return Status::InvalidArgument("currency: unknown '" + f[5] + "'");
  h.currency = currency->numeric;
  return h;
}

Result<Item> ParseItem(const std::vector<std::string>& f, uint16_t currency) {
  if (f.size() != 8) {
    return Status::InvalidArgument("I row has " + std::to_string(f.size()) +
                                   " fields, want 8: I,item,type,amount,auth_rrn,auth_code,pan,"
                                   "stan");
  }
  Item item;
  auto number = ParseCount("item", f[1]);
  if (!number.ok()) return number.status();
  if (*number == 0) return Status::InvalidArgument("item: must be >= 1");
  item.number = *number;
  auto kind = settlement::ParseItemKind(f[2]);
  if (!kind) {
    return Status::InvalidArgument("type: '" + f[2] + "' (want capture, refund or reversal)");
  }
  item.kind = *kind;
  auto amount = ParseMajor("amount", f[3], currency);
  if (!amount.ok()) return amount.status();
  if (*amount == 0) return Status::InvalidArgument("amount: must be > 0");
  item.amount_minor = *amount;
  if (!f[4].empty() && f[4].find_first_not_of("0123456789") != std::string::npos) {
    return Status::InvalidArgument("auth_rrn: digits only");
  }
  item.auth_rrn = f[4];
  item.auth_code = f[5];
  if (!f[6].empty()) {
    auto pan = Pan::Parse(f[6]);
    if (!pan.ok()) return Status::InvalidArgument("pan: not a valid card number");
    item.pan = std::move(pan).value();
  }
  if (item.auth_rrn.empty() && !item.pan) {
    return Status::InvalidArgument("auth_rrn or pan: an item names its authorization or its card");
  }
  item.stan = f[7];
  return item;
}

Result<BatchTotals> ParseTrailer(const std::vector<std::string>& f, uint16_t currency) {
  if (f.size() != 7) {
    return Status::InvalidArgument("T row has " + std::to_string(f.size()) +
                                   " fields, want 7: T,captures,captures_amount,refunds,"
                                   "refunds_amount,reversals,reversals_amount");
  }
  BatchTotals t;
  auto n = ParseCount("captures", f[1]);
  if (!n.ok()) return n.status();
  t.captures_count = *n;
  auto a = ParseMajor("captures_amount", f[2], currency);
  if (!a.ok()) return a.status();
  t.captures_minor = *a;
  n = ParseCount("refunds", f[3]);
  if (!n.ok()) return n.status();
  t.refunds_count = *n;
  a = ParseMajor("refunds_amount", f[4], currency);
  if (!a.ok()) return a.status();
  t.refunds_minor = *a;
  n = ParseCount("reversals", f[5]);
  if (!n.ok()) return n.status();
  t.reversals_count = *n;
  a = ParseMajor("reversals_amount", f[6], currency);
  if (!a.ok()) return a.status();
  t.reversals_minor = *a;
  return t;
}

// A progress bar on stderr when it is a terminal: share of the file read, items, items/s.
class Progress {
 public:
  explicit Progress(uintmax_t file_bytes)
      : enabled_(::isatty(STDERR_FILENO) == 1), file_bytes_(std::max<uintmax_t>(file_bytes, 1)) {}
  void Update(uintmax_t bytes_read, uint64_t items) {
    if (!enabled_) return;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::milliseconds(kProgressIntervalMs)) return;
    last_ = now;
    Draw(bytes_read, items, now);
  }
  void Done(uintmax_t bytes_read, uint64_t items) {
    if (!enabled_) return;
    Draw(bytes_read, items, std::chrono::steady_clock::now());
    std::cerr << "\n";
  }

 private:
  void Draw(uintmax_t bytes_read, uint64_t items, std::chrono::steady_clock::time_point now) {
    const double share = std::min(1.0, static_cast<double>(bytes_read) / file_bytes_);
    const int filled = static_cast<int>(share * kProgressBarWidth);
    const double s = std::chrono::duration<double>(now - start_).count();
    std::cerr << "\r[" << std::string(filled, '#') << std::string(kProgressBarWidth - filled, '.')
              << "] " << static_cast<int>(share * 100) << "% " << items << " items "
              << static_cast<uint64_t>(items / std::max(s, 1e-3)) << " items/s" << std::flush;
  }
  bool enabled_;
  double file_bytes_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_{};
};

// Where the batches of a file go: the ledger of the data dir, or a running server.
class BatchSink {
 public:
  using OnResult = std::function<void(const ItemResult&)>;
  // A batch's answer once its items are in.
  struct Closed {
    bool reconciled = false;  // declared totals were given and answered
    ResponseCode code = ResponseCode::kReconciliationError;
    std::string state;  // open, balanced, settled
    std::string business_date;
    BatchTotals held;
    uint64_t rejected = 0, forced = 0;
  };
  virtual ~BatchSink() = default;
  // InvalidArgument / FailedPrecondition: the H row is refused (the batch is skipped).
  virtual Status Open(const settlement::BatchHeader& header) = 0;
  // Results arrive in item order, from Add or Close. Not OK: the sink failed (stop).
  virtual Status Add(const Item& item, const OnResult& on_result) = 0;
  // Delivers the remaining results; with `declared` (the T row), reconciles. InvalidArgument /
  // FailedPrecondition / ResourceExhausted: this batch was refused; other errors: stop.
  virtual Result<Closed> Close(const BatchTotals* declared, const OnResult& on_result) = 0;
};

// The ledger of the data dir, through settlement::BatchWriter.
class StoreSink final : public BatchSink {
 public:
  StoreSink(Store& store, const SettlementConfig& config) : store_(store), config_(config) {}

  Status Open(const settlement::BatchHeader& header) override {
    BatchWriter::Options options;
    options.channel = storage::Channel::kCli;
    auto w = BatchWriter::Open(store_, config_, header, SystemClock::Get(), options);
    if (!w.ok()) return w.status();
    writer_ = std::move(w).value();
    return Status::Ok();
  }
  Status Add(const Item& item, const OnResult& on_result) override {
    return writer_->Add(item, on_result);
  }
  Result<Closed> Close(const BatchTotals* declared, const OnResult& on_result) override {
    std::unique_ptr<BatchWriter> writer = std::move(writer_);
    KYTKIN_RETURN_IF_ERROR(writer->Finish(on_result));
    Closed out;
    out.business_date = settlement::FormatDate(writer->opened().business_date);
    if (declared == nullptr) return out;
    auto rec = settlement::Reconcile(store_, writer->opened().batch_id, *declared);
    if (!rec.ok()) return rec.status();
    out.reconciled = true;
    out.code = rec->code;
    out.state = storage::BatchStateName(rec->batch.state);
    out.held = rec->batch.held;
    out.rejected = rec->batch.rejected_count;
    out.forced = rec->batch.forced_count;
    return out;
  }

 private:
  Store& store_;
  const SettlementConfig& config_;
  std::unique_ptr<BatchWriter> writer_;
};

Status FromGrpc(const grpc::Status& s) {
  const std::string message = "server: " + s.error_message();
  switch (s.error_code()) {
    case grpc::StatusCode::OK:
      return Status::Ok();
    case grpc::StatusCode::INVALID_ARGUMENT:
      return Status::InvalidArgument(message);
    case grpc::StatusCode::FAILED_PRECONDITION:
      return Status::FailedPrecondition(message);
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return Status::ResourceExhausted(message);
    default:
      return Status::Unavailable(message);
  }
}

// A running server: one Settlement.SubmitBatch stream per batch. The server answers the items
// when the stream ends, after the T row's totals or without them (at most 100,000 items per
// batch there).
class GrpcSink final : public BatchSink {
 public:
  explicit GrpcSink(const std::string& target)
      : stub_(v1::Settlement::NewStub(
            grpc::CreateChannel(target, grpc::InsecureChannelCredentials()))) {}

  Status Open(const settlement::BatchHeader& header) override {
    context_ = std::make_unique<grpc::ClientContext>();
    context_->set_deadline(std::chrono::system_clock::now() +
                           std::chrono::seconds(kServerTimeoutSeconds) * kDeadlineBatches);
    response_.Clear();
    sent_.clear();
    broken_ = false;
    writer_ = stub_->SubmitBatch(context_.get(), &response_);
    v1::SettlementMessage m;
    auto* h = m.mutable_header();
    h->set_batch_id(header.batch_id);
    h->set_acquirer_id(header.acquirer_id);
    h->set_terminal_id(header.terminal_id);
    h->set_merchant_id(header.merchant_id);
    h->set_currency_code(std::to_string(header.currency));
    broken_ = !writer_->Write(m);
    return Status::Ok();  // a refused header shows in Close (the stream ends early)
  }

  Status Add(const Item& item, const OnResult& /*on_result*/) override {
    ItemResult sent;
    sent.number = item.number;
    sent.kind = item.kind;
    sent.item_amount_minor = item.amount_minor;
    if (item.pan) sent.masked_pan = item.pan->masked();
    sent_.push_back(std::move(sent));
    if (broken_) return Status::Ok();
    v1::SettlementMessage m;
    auto* i = m.mutable_item();
    i->set_item_number(item.number);
    i->set_type(item.kind == settlement::ItemKind::kCapture  ? v1::SETTLEMENT_ITEM_TYPE_CAPTURE
                : item.kind == settlement::ItemKind::kRefund ? v1::SETTLEMENT_ITEM_TYPE_REFUND
                                                             : v1::SETTLEMENT_ITEM_TYPE_REVERSAL);
    i->set_amount_minor_units(item.amount_minor);
    i->set_auth_rrn(item.auth_rrn);
    i->set_auth_code(item.auth_code);
    if (item.pan) i->set_pan(std::string(item.pan->clear_digits()));
    broken_ = !writer_->Write(m);
    return Status::Ok();
  }

  Result<Closed> Close(const BatchTotals* declared, const OnResult& on_result) override {
    if (!broken_ && declared != nullptr) {
      v1::SettlementMessage m;
      auto* t = m.mutable_totals();
      t->set_captures(declared->captures_count);
      t->set_captures_minor_units(declared->captures_minor);
      t->set_refunds(declared->refunds_count);
      t->set_refunds_minor_units(declared->refunds_minor);
      t->set_reversals(declared->reversals_count);
      t->set_reversals_minor_units(declared->reversals_minor);
      writer_->Write(m);
    }
    writer_->WritesDone();
    grpc::Status status = writer_->Finish();
    writer_.reset();
    Closed out;
    if (declared == nullptr && status.error_code() == grpc::StatusCode::INVALID_ARGUMENT &&
        status.error_message().starts_with("totals:")) {
      // A server from before it answered a batch without totals: it settled the items but
      // answered none of them.
      return out;
    }
    KYTKIN_RETURN_IF_ERROR(FromGrpc(status));
    for (int i = 0; i < response_.items_size(); ++i) {
      const v1::SettlementItemOutcome& o = response_.items(i);
      ItemResult r = static_cast<size_t>(i) < sent_.size() ? sent_[i] : ItemResult{};
      r.number = o.item_number();
      r.code =
          ParseResponseCode(o.response_code_digits()).value_or(ResponseCode::kSystemMalfunction);
      r.reason = ReasonNamed(o.reason());
      r.duplicate = o.duplicate();
      r.amount_minor = o.amount_minor_units();
      r.transfer_id = o.transfer_id();
      on_result(r);
    }
    // Without totals the server answers the items and leaves the batch unreconciled.
    out.reconciled = response_.reconciled();
    out.code = ParseResponseCode(response_.response_code_digits())
                   .value_or(ResponseCode::kReconciliationError);
    out.state = response_.batch_state();
    out.business_date = response_.business_date();
    const v1::SettlementTotals& h = response_.held();
    out.held =
        BatchTotals{h.captures(),  h.captures_minor_units(), h.refunds(), h.refunds_minor_units(),
                    h.reversals(), h.reversals_minor_units()};
    out.rejected = response_.rejected();
    out.forced = response_.force_posted();
    return out;
  }

 private:
  // The batch deadline: this many server timeouts (a large batch streams for a while).
  static constexpr int kDeadlineBatches = 20;

  static storage::Reason ReasonNamed(std::string_view name) {
    for (int i = 0; i <= UINT8_MAX; ++i) {
      const auto reason = static_cast<storage::Reason>(i);
      if (storage::ReasonName(reason) == name) return reason;
    }
    return storage::Reason::kNone;
  }

  std::unique_ptr<v1::Settlement::Stub> stub_;
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientWriter<v1::SettlementMessage>> writer_;
  v1::SubmitBatchResponse response_;
  std::vector<ItemResult> sent_;  // this batch's items, in order (at most the server's limit)
  bool broken_ = false;           // the server ended the stream early; Close says why
};

// An HTTP answer: its status and body.
struct HttpAnswer {
  unsigned status = 0;
  std::string body;
};

// `method` http://HOST:PORT/TARGET of a running server's HTTP API, with a JSON `body` (none when
// empty); any answer the server gives, or an error when it cannot be reached.
Result<HttpAnswer> HttpCall(const std::string& host_port, boost::beast::http::verb method,
                            const std::string& target, const std::string& body) {
  namespace asio = boost::asio;
  namespace http = boost::beast::http;
  const size_t colon = host_port.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == host_port.size()) {
    return Status::InvalidArgument("--http: want HOST:PORT, got '" + host_port + "'");
  }
  asio::io_context io;
  boost::system::error_code ec;
  asio::ip::tcp::resolver resolver(io);
  auto endpoints = resolver.resolve(host_port.substr(0, colon), host_port.substr(colon + 1), ec);
  if (ec) return Status::Unavailable("--http " + host_port + ": " + ec.message());
  asio::ip::tcp::socket socket(io);
  asio::connect(socket, endpoints, ec);
  if (ec) return Status::Unavailable("--http " + host_port + ": " + ec.message());
  const timeval timeout{kServerTimeoutSeconds, 0};
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  http::request<http::string_body> request(method, target, 11);
  request.set(http::field::host, host_port);
  request.set(http::field::connection, "close");
  if (!body.empty()) request.set(http::field::content_type, "application/json");
  request.body() = body;
  request.prepare_payload();
  http::write(socket, request, ec);
  if (ec) return Status::Unavailable("--http " + host_port + ": " + ec.message());
  boost::beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kHttpResponseBytesMax);
  http::read(socket, buffer, parser, ec);
  if (ec) return Status::Unavailable("--http " + host_port + ": " + ec.message());
  return HttpAnswer{parser.get().result_int(), parser.get().body()};
}

// GET: the body of a 200, else an error with the server's message.
Result<std::string> HttpGet(const std::string& host_port, const std::string& target) {
  auto answer = HttpCall(host_port, boost::beast::http::verb::get, target, "");
  if (!answer.ok()) return answer.status();
  if (answer->status != 200) {
    return Status::FailedPrecondition("server answered " + std::to_string(answer->status) + ": " +
                                      answer->body);
  }
  return std::move(answer->body);
}

std::string PercentEncoded(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

constexpr std::string_view kSettleUsage =
    "usage: kytkin settle FILE [--data-dir DIR] [--config FILE] [--report FILE]\n"
    "       kytkin settle FILE --grpc HOST:PORT [--report FILE]   (to a running server)\n"
    "\n"
    "Settles the acquirer batches of a CSV file on the ledger: each item is matched to its\n"
    "authorization and posted exactly once, each batch's declared totals (T row) are reconciled\n"
    "against kytkin's (00 in balance, 95 not: the batch stays open for a re-upload). Resubmitting\n"
    "a file moves no money twice. Writes one line per item to the report file (default\n"
    "FILE.report.csv) and a summary per batch to stdout. A bad row is reported with its line\n"
    "number and skipped; exit 1 when any row was bad or any batch out of balance.\n"
    "With --grpc the batches go to a running `kytkin serve` (its Settlement.SubmitBatch; at\n"
    "most 100,000 items per batch) and its [settlement] configuration applies; without it the\n"
    "data dir is opened directly, which only works while no server holds it.\n"
    "\n"
    "  H,batch_id,acquirer_id,terminal_id,merchant_id,currency\n"
    "  I,item,type,amount,auth_rrn,auth_code,pan,stan     (type capture|refund|reversal)\n"
    "  T,captures,captures_amount,refunds,refunds_amount,reversals,reversals_amount\n"
    "\nflags:\n";

}  // namespace

int RunSettle(Args args) {
  FlagSet flags;
  SettleFlags sf;
  sf.Register(flags);
  std::string report_path, grpc_target;
  flags.String("--report", &report_path, "per-item report CSV (default FILE.report.csv)");
  flags.String("--grpc", &grpc_target,
               "HOST:PORT of a running `kytkin serve`'s gRPC: settle there, not on --data-dir");
  std::vector<std::string_view> positional;
  if (Status s = flags.Parse(args, &positional); !s.ok()) return Fail("settle", s.message(), 2);
  if (flags.help_requested()) {
    std::cout << kSettleUsage << flags.Help();
    return 0;
  }
  if (positional.size() != 1) return Fail("settle", "usage: kytkin settle FILE (see --help)", 2);
  const std::string path(positional[0]);
  if (report_path.empty()) report_path = path + ".report.csv";
  auto config = sf.Config();
  if (!config.ok()) return Fail("settle", config.status().ToString(), 2);
  std::ifstream in(path);
  if (!in) return Fail("settle", "cannot read " + path);
  std::error_code ec;
  const uintmax_t file_bytes = std::filesystem::file_size(path, ec);
  std::unique_ptr<Store> store;
  std::unique_ptr<BatchSink> sink;
  if (grpc_target.empty()) {
    auto opened = sf.Open("settle through it with --grpc HOST:PORT (its gRPC listen address)");
    if (!opened.ok()) return Fail("settle", opened.status().ToString());
    store = std::move(opened).value();
    sink = std::make_unique<StoreSink>(*store, *config);
  } else {
    sink = std::make_unique<GrpcSink>(grpc_target);
  }
  std::ofstream report(report_path, std::ios::trunc);
  if (!report) return Fail("settle", "cannot write " + report_path);
  report << "batch_id,item,type,amount,outcome,response_code,reason,duplicate,transfer_id,"
            "masked_pan,line\n";

  Progress progress(ec ? 0 : file_bytes);
  size_t line_no = 0, bad_rows = 0, batches = 0, unbalanced = 0;
  uint64_t items = 0, accepted = 0, rejected = 0;
  bool open = false;  // a batch is open in the sink
  std::optional<settlement::BatchHeader> header;
  bool writer_failed = false;
  // Lines of the items in flight, in order, for the report (bounded by the writer's window).
  std::deque<size_t> item_lines;
  auto bad = [&](size_t at, std::string_view why) {
    ++bad_rows;
    std::cerr << path << ":" << at << ": " << why << "\n";
  };
  auto on_result = [&](const ItemResult& r) {
    const size_t at = item_lines.empty() ? 0 : item_lines.front();
    if (!item_lines.empty()) item_lines.pop_front();
    IsApproval(r.code) ? ++accepted : ++rejected;
    report << CsvField(header ? header->batch_id : "") << "," << r.number << ","
           << settlement::ItemKindName(r.kind) << ","
           << Major(r.item_amount_minor, header->currency) << "," << r.outcome() << ","
           << ResponseCodeDigits(r.code) << "," << storage::ReasonName(r.reason) << ","
           << (r.duplicate ? "true" : "false") << "," << r.transfer_id << "," << r.masked_pan << ","
           << at << "\n";
  };
  // Waits for the batch's items; with totals, reconciles and prints the answer. False: stop.
  auto close_batch = [&](const BatchTotals* declared) -> bool {
    if (!open) return true;
    open = false;
    auto closed = sink->Close(declared, on_result);
    item_lines.clear();  // lines of items a refused batch never answered
    const std::string batch_id = header->batch_id;
    if (!closed.ok()) {
      const Status& s = closed.status();
      if (s.code() == Status::Code::kInvalidArgument ||
          s.code() == Status::Code::kFailedPrecondition ||
          s.code() == Status::Code::kResourceExhausted) {
        bad(line_no, "batch " + batch_id + ": " + std::string(s.message()));
        header.reset();
        return true;
      }
      Fail("settle", "batch " + batch_id + ": " + s.ToString());
      writer_failed = true;
      return false;
    }
    const uint16_t currency = header->currency;
    std::cout << "batch " << batch_id << " (acquirer " << header->acquirer_id << ", terminal "
              << header->terminal_id << ", merchant " << header->merchant_id;
    if (!closed->business_date.empty()) std::cout << ", business date " << closed->business_date;
    std::cout << ")";
    if (declared == nullptr) {
      std::cout << ": no T row, not reconciled\n";
      ++unbalanced;
    } else {
      const bool ok = closed->code == ResponseCode::kApproved;
      std::cout << ": " << ResponseCodeDigits(closed->code)
                << (ok ? " in balance" : " OUT OF BALANCE") << ", state " << closed->state << "\n"
                << "  kytkin:   " << TotalsText(closed->held, currency) << "\n";
      if (!ok) {
        std::cout << "  declared: " << TotalsText(*declared, currency) << "\n";
        ++unbalanced;
      }
      std::cout << "  items rejected: " << closed->rejected << ", force-posted: " << closed->forced
                << "\n";
    }
    header.reset();
    return true;
  };

  std::string line;
  uintmax_t bytes_read = 0;
  while (std::getline(in, line)) {
    ++line_no;
    bytes_read += line.size() + 1;
    progress.Update(bytes_read, items);
    if (line.empty() || line == "\r" || line[0] == '#') continue;
    if (line.size() > kLineBytesMax) {
      bad(line_no, "line longer than 4096 bytes");
      continue;
    }
    auto fields = SplitCsvLine(line);
    if (!fields.ok()) {
      bad(line_no, fields.status().message());
      continue;
    }
    const std::string& type = (*fields)[0];
    if (type == "H") {
      if (open) {
        bad(line_no, "H row before the T row of batch " + header->batch_id);
        if (!close_batch(nullptr)) return 1;
      }
      auto h = ParseHeader(*fields);
      if (!h.ok()) {
        bad(line_no, h.status().message());
        continue;
      }
      if (Status opened = sink->Open(*h); !opened.ok()) {
        bad(line_no, opened.message());
        continue;
      }
      ++batches;
      open = true;
      header = *h;
    } else if (type == "I") {
      if (!open) {
        bad(line_no, "I row outside a batch (no open H row)");
        continue;
      }
      auto item = ParseItem(*fields, header->currency);
      if (!item.ok()) {
        bad(line_no, item.status().message());
        continue;
      }
      ++items;
      item_lines.push_back(line_no);
      Status s = sink->Add(*item, on_result);
      if (!s.ok()) {
        item_lines.pop_back();
        Fail("settle", "ledger: " + s.ToString());
        return 1;
      }
    } else if (type == "T") {
      if (!open) {
        bad(line_no, "T row outside a batch (no open H row)");
        continue;
      }
      auto totals = ParseTrailer(*fields, header->currency);
      if (!totals.ok()) {
        bad(line_no, totals.status().message());
        if (!close_batch(nullptr)) return 1;
        continue;
      }
      if (!close_batch(&*totals)) return 1;
    } else {
      bad(line_no, "record type '" + type + "' (want H, I or T)");
    }
  }
  if (open) {
    bad(line_no, "end of file inside batch " + header->batch_id + " (no T row)");
    if (!close_batch(nullptr)) return 1;
  }
  progress.Done(bytes_read, items);
  report.flush();
  std::cout << "settled " << batches << " batch(es): " << items << " items, " << accepted
            << " accepted, " << rejected << " rejected; " << bad_rows << " bad row(s); "
            << unbalanced << " batch(es) not in balance; report " << report_path << "\n";
  if (writer_failed || !report) return 1;
  return bad_rows == 0 && unbalanced == 0 ? 0 : 1;
}

namespace {

constexpr std::string_view kSettlementUsage =
    "usage: kytkin settlement report --date YYYY-MM-DD [--format csv|json] [--http HOST:PORT]\n"
    "       kytkin settlement cutover [--to-date YYYY-MM-DD] [--http HOST:PORT]\n"
    "       kytkin settlement show --batch ID [--http HOST:PORT]\n"
    "\n"
    "On the data dir while no server runs; with --http, from a running `kytkin serve`'s HTTP\n"
    "API (report without --date: the server's current business date). A running server cuts\n"
    "over by itself at settlement.cutover_utc; `cutover --http` asks it to now (its answer,\n"
    "the batches paid out, is printed as JSON).\n"
    "\n"
    "  report   per acquirer and merchant for one business date: batches, captures, refunds,\n"
    "           reversals, gross, refunds, fees and net (fees and net of batches not yet paid\n"
    "           out are projected)\n"
    "  cutover  pays out every open or balanced batch of the current business date and earlier\n"
    "           and moves the business date on (default: to the day after the current one)\n"
    "  show     one batch as JSON: state, held and declared totals, payout\n"
    "\nflags:\n";

}  // namespace

int RunSettlement(Args args) {
  FlagSet flags;
  SettleFlags sf;
  sf.Register(flags);
  std::string date_text, format = "csv", batch_id, to_date, http_target;
  flags.String("--http", &http_target,
               "HOST:PORT of a running `kytkin serve`'s HTTP API (report, show, cutover)");
  flags.String("--date", &date_text, "business date (report)");
  flags.String("--format", &format, "csv or json (report)");
  flags.String("--batch", &batch_id, "batch id (show)");
  flags.String("--to-date", &to_date, "the new business date (cutover)");
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::cout << kSettlementUsage << flags.Help();
    return args.empty() ? 2 : 0;
  }
  const std::string_view command = args[0];
  if (Status s = flags.Parse(args.subspan(1)); !s.ok()) return Fail("settlement", s.message(), 2);
  auto config = sf.Config();
  if (!config.ok()) return Fail("settlement", config.status().ToString(), 2);

  if (command == "report") {
    if (format != "csv" && format != "json") {
      return Fail("settlement report", "--format: csv or json, got " + format, 2);
    }
    if (!http_target.empty()) {
      std::string target = "/api/v1/settlement/report?format=" + format;
      if (!date_text.empty()) {
        auto date = settlement::ParseDate(date_text);
        if (!date.ok()) {
          return Fail("settlement report", "--date: " + std::string(date.status().message()), 2);
        }
        target += "&date=" + date_text;
      }
      auto body = HttpGet(http_target, target);
      if (!body.ok()) return Fail("settlement report", body.status().ToString());
      std::cout << *body;
      return 0;
    }
    auto date = settlement::ParseDate(date_text);
    if (!date.ok())
      return Fail("settlement report", "--date: " + std::string(date.status().message()), 2);
    auto store = sf.Open("read the report from it with --http HOST:PORT (its HTTP listen address)");
    if (!store.ok()) return Fail("settlement report", store.status().ToString());
    auto rows = settlement::BuildReport(**store, *date);
    if (!rows.ok()) return Fail("settlement report", rows.status().ToString());
    std::cout << (format == "csv" ? settlement::ReportCsv(*rows)
                                  : settlement::ReportJson(*rows, *date));
    return 0;
  }
  if (command == "cutover") {
    if (!http_target.empty()) {
      // The server's POST /api/v1/settlement/cutover: the same payout, on its own thread.
      std::string body;
      if (!to_date.empty()) {
        auto d = settlement::ParseDate(to_date);
        if (!d.ok())
          return Fail("settlement cutover", "--to-date: " + std::string(d.status().message()), 2);
        body = "{\"to_date\":\"" + to_date + "\"}";
      }
      auto answer =
          HttpCall(http_target, boost::beast::http::verb::post, "/api/v1/settlement/cutover", body);
      if (!answer.ok()) return Fail("settlement cutover", answer.status().ToString());
      if (answer->status == 409) {  // nothing due: not an error, as on the data dir
        std::cout << "0 batch(es) paid out: " << answer->body;
        return 0;
      }
      if (answer->status != 200) {
        return Fail("settlement cutover",
                    "server answered " + std::to_string(answer->status) + ": " + answer->body);
      }
      std::cout << answer->body;
      return 0;
    }
    auto store =
        sf.Open("it cuts over by itself at settlement.cutover_utc; stop it to cut over by hand");
    if (!store.ok()) return Fail("settlement cutover", store.status().ToString());
    auto current = (*store)->SettlementBusinessDate();
    if (!current.ok()) return Fail("settlement cutover", current.status().ToString());
    int32_t target =
        std::max(*current, settlement::BusinessDateAt(SystemClock::Get().NowUnixMicros(),
                                                      config->cutover_minute_utc)) +
        1;
    if (!to_date.empty()) {
      auto d = settlement::ParseDate(to_date);
      if (!d.ok())
        return Fail("settlement cutover", "--to-date: " + std::string(d.status().message()), 2);
      target = *d;
    }
    auto settled = (*store)->CutOverSettlement(target);
    if (!settled.ok()) return Fail("settlement cutover", settled.status().ToString());
    for (const auto& b : *settled) {
      std::cout << "paid out batch " << b.batch_id << " ("
                << settlement::FormatDate(b.business_date)
                << (b.reconciled ? ", reconciled" : ", NOT reconciled") << "): merchant "
                << b.merchant_id << " gross " << Major(b.gross_minor(), b.currency) << " refunds "
                << Major(b.held.refunds_minor, b.currency) << " fee "
                << Major(b.fee_minor, b.currency) << " net " << Major(b.payout_minor, b.currency)
                << "\n";
    }
    std::cout << "business date is now " << settlement::FormatDate(target) << "; "
              << settled->size() << " batch(es) paid out\n";
    return 0;
  }
  if (command == "show") {
    if (batch_id.empty()) return Fail("settlement show", "--batch: required", 2);
    if (!http_target.empty()) {
      auto body = HttpGet(http_target, "/api/v1/settlement/batch?id=" + PercentEncoded(batch_id));
      if (!body.ok()) return Fail("settlement show", body.status().ToString());
      std::cout << *body;
      return 0;
    }
    auto store = sf.Open("show the batch from it with --http HOST:PORT (its HTTP listen address)");
    if (!store.ok()) return Fail("settlement show", store.status().ToString());
    auto b = (*store)->GetSettlementBatch(batch_id);
    if (!b.ok()) return Fail("settlement show", b.status().ToString());
    std::cout << settlement::BatchJson(*b) << "\n";
    return 0;
  }
  return Fail("settlement",
              "unknown command '" + std::string(command) + "' (report, cutover, show)", 2);
}

}  // namespace kytkin::cli
