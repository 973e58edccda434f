// End-to-end: acquirer settlement over ISO 8583 (issue 6) against the real `kytkin serve`
// binary. A day of authorizations from a terminal, then the terminal's batch upload (0320):
// full, partial, over-tolerance and DE 90 captures, a capture of a reversed authorization, a
// second capture of one authorization, a missing authorization, an offline sale and a refund,
// a retransmission; reconciliation (0500) out of balance (95 with kytkin's totals), then in
// balance (00), resubmitted; the HTTP report; after the server stops: the cut-over payout with
// `kytkin settlement cutover`, then `kytkin ledger verify` and `journal verify`.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <ctime>
#include <map>
#include <memory>
#include <string>

#include "iso8583/dialect.h"
#include "iso8583/framing.h"
#include "iso8583/message.h"
#include "kytkin/v1/authorization.grpc.pb.h"
#include "kytkin/v1/settlement.grpc.pb.h"
#include "switch/terminal_client.h"
#include "tests/kytkin_process.h"

namespace kytkin::e2e {
namespace {

using iso8583::Message;

constexpr int kTerminalTimeoutMs = 10'000;
constexpr const char* kDebitPan = "4111111111111111";   // demo: 1000.00, 500.00 single
constexpr const char* kCreditPan = "5555555555554444";  // demo: limit 2000.00
constexpr const char* kConfig = R"(threads = 2
[[iso_listener]]
name = "pos"
listen = "127.0.0.1:0"
dialect = "iso87-ascii"
framing = "binary2"

[grpc]
listen = "127.0.0.1:0"

[http]
listen = "127.0.0.1:0"

[settlement]
capture_tolerance_bps = 2000
capture_tolerance_minor_max = 2000

[settlement.merchants.KYTKINMERCH0001]
account = 1001
fee_bps = 100
fee_fixed_minor = 5
)";

// POST `body` (JSON) to the server's HTTP API; the whole response ("" when it cannot connect).
std::string HttpPost(uint16_t port, const std::string& path, const std::string& body) {
  namespace asio = boost::asio;
  asio::io_context io;
  asio::ip::tcp::socket socket(io);
  boost::system::error_code ec;
  socket.connect({asio::ip::make_address("127.0.0.1"), port}, ec);
  if (ec) return "";
  asio::write(socket,
              asio::buffer("POST " + path +
                           " HTTP/1.0\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                           "Content-Length: " +
                           std::to_string(body.size()) + "\r\n\r\n" + body),
              ec);
  std::string response;
  asio::read(socket, asio::dynamic_buffer(response), ec);
  return response;
}

struct Reply {
  std::map<int, std::string> fields;
  std::string mti;
  std::string Get(int f) const {
    auto it = fields.find(f);
    return it == fields.end() ? "" : it->second;
  }
  std::string code() const { return Get(39); }
};

// The configuration with the daily cut-over twelve hours from now: no business date ends while
// the test runs (a run across the cut-over would pay out its batch half-way), and the test asks
// the server for the date rather than computing today's.
std::string ConfigWithDistantCutOver() {
  const std::time_t now = std::time(nullptr);
  const std::time_t then = now + 12 * 3600;
  std::tm utc{};
  gmtime_r(&then, &utc);
  char cutover[64];
  std::snprintf(cutover, sizeof cutover, "cutover_utc = \"%02d:%02d\"\n", utc.tm_hour, utc.tm_min);
  std::string config = kConfig;
  const std::string table = "[settlement]\n";
  config.insert(config.find(table) + table.size(), cutover);
  return config;
}

class SettlementE2e : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("kytkin_settle_e2e_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    process_ = std::make_unique<KytkinProcess>(KYTKIN_BINARY, dir_);
    Status started = process_->Start(ConfigWithDistantCutOver());
    ASSERT_TRUE(started.ok()) << started.ToString();
    dialect_ = iso8583::FindDialect("iso87-ascii");
    ASSERT_NE(dialect_, nullptr);
    auto c = TerminalConnection::Connect("127.0.0.1", process_->ports().iso.at("pos"), *dialect_,
                                         iso8583::Framing::kBinary2, kTerminalTimeoutMs);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    conn_ = std::move(c).value();
    time_ = TransmissionTimeNow();
  }

  void TearDown() override {
    conn_.reset();
    if (process_->running()) {
      EXPECT_EQ(process_->Stop(), 0) << process_->ServerStderr();
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  Reply Exchange(const Message& request) {
    Message response(*dialect_);
    Status s = conn_->Exchange(request, response);
    EXPECT_TRUE(s.ok()) << s.ToString();
    Reply r;
    r.mti = std::string(response.mti());
    for (int f = 2; f <= 128; ++f) {
      if (response.Has(f)) r.fields[f] = std::string(response.Get(f));
    }
    return r;
  }

  Reply Authorize(const char* pan, int64_t minor) {
    TerminalRequest r;
    r.operation = CardOperation::kAuthorize;
    r.pan = pan;
    r.expiry_yymm = "3012";
    r.amount = Amount(minor, 978);
    r.pin_present = true;
    r.stan = ++stan_;
    r.transmission_time = time_;
    Message m(*dialect_);
    EXPECT_TRUE(BuildTerminalRequest(r, identity_, m).ok());
    Reply reply = Exchange(m);
    EXPECT_EQ(reply.code(), "00");
    stans_[reply.Get(37)] = r.stan;
    return reply;
  }

  // A 0320 batch upload: DE 3 type, amount, the item's STAN, and the authorization by RRN +
  // auth code (or DE 2 / DE 90 set by the caller through `extra`).
  Reply Upload(std::string_view type, int64_t minor, uint32_t stan, const Reply* auth,
               const std::map<int, std::string>& extra = {}) {
    Message m(*dialect_);
    EXPECT_TRUE(m.SetMti("0320").ok());
    EXPECT_TRUE(m.Set(3, std::string(type) + "0000").ok());
    EXPECT_TRUE(m.SetUint(4, static_cast<uint64_t>(minor)).ok());
    EXPECT_TRUE(m.Set(7, time_).ok());
    EXPECT_TRUE(m.SetUint(11, stan).ok());
    EXPECT_TRUE(m.Set(32, identity_.acquirer_id).ok());
    if (auth != nullptr) {
      EXPECT_TRUE(m.Set(37, auth->Get(37)).ok());
      EXPECT_TRUE(m.Set(38, auth->Get(38)).ok());
    }
    EXPECT_TRUE(m.Set(41, identity_.terminal_id).ok());
    EXPECT_TRUE(m.Set(42, identity_.merchant_id).ok());
    EXPECT_TRUE(m.Set(49, "978").ok());
    EXPECT_TRUE(m.Set(60, "7").ok());
    for (const auto& [field, value] : extra) EXPECT_TRUE(m.Set(field, value).ok()) << field;
    Reply r = Exchange(m);
    EXPECT_EQ(r.mti, "0330");
    return r;
  }

  // A 0500 with debits (captures), debit reversals, credits (refunds) and the net.
  Reply Reconcile(uint64_t captures, int64_t captures_minor, uint64_t refunds,
                  int64_t refunds_minor, uint64_t reversals = 0, int64_t reversals_minor = 0) {
    Message m(*dialect_);
    EXPECT_TRUE(m.SetMti("0500").ok());
    EXPECT_TRUE(m.Set(7, time_).ok());
    EXPECT_TRUE(m.SetUint(11, ++stan_).ok());
    EXPECT_TRUE(m.Set(32, identity_.acquirer_id).ok());
    EXPECT_TRUE(m.Set(41, identity_.terminal_id).ok());
    EXPECT_TRUE(m.Set(42, identity_.merchant_id).ok());
    EXPECT_TRUE(m.Set(49, "978").ok());
    EXPECT_TRUE(m.Set(60, "7").ok());
    EXPECT_TRUE(m.SetUint(74, refunds).ok());
    EXPECT_TRUE(m.SetUint(76, captures).ok());
    EXPECT_TRUE(m.SetUint(77, reversals).ok());
    EXPECT_TRUE(m.SetUint(86, static_cast<uint64_t>(refunds_minor)).ok());
    EXPECT_TRUE(m.SetUint(88, static_cast<uint64_t>(captures_minor)).ok());
    EXPECT_TRUE(m.SetUint(89, static_cast<uint64_t>(reversals_minor)).ok());
    const int64_t net = captures_minor - reversals_minor - refunds_minor;
    char de97[24];
    std::snprintf(de97, sizeof de97, "%c%016lld", net < 0 ? 'D' : 'C',
                  static_cast<long long>(net < 0 ? -net : net));
    EXPECT_TRUE(m.Set(97, de97).ok());
    Reply r = Exchange(m);
    EXPECT_EQ(r.mti, "0510");
    return r;
  }

  std::string Balance(uint64_t account) {
    CommandResult r = process_->Run({"accounts", "show", "--id", std::to_string(account),
                                     "--data-dir", process_->data_dir().string()});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    const size_t at = r.output.find("\"balance\":\"");
    if (at == std::string::npos) return "";
    const size_t start = at + 11;
    return r.output.substr(start, r.output.find('"', start) - start);
  }

  std::filesystem::path dir_;
  std::unique_ptr<KytkinProcess> process_;
  const iso8583::Dialect* dialect_ = nullptr;
  std::unique_ptr<TerminalConnection> conn_;
  TerminalIdentity identity_;
  std::string time_;
  uint32_t stan_ = 100;
  std::map<std::string, uint32_t> stans_;  // RRN -> STAN of the authorization
};

TEST_F(SettlementE2e, BatchUploadReconciliationAndPayout) {
  Reply a1 = Authorize(kDebitPan, 1'234);
  Reply a2 = Authorize(kDebitPan, 5'000);
  Reply a3 = Authorize(kDebitPan, 1'000);
  Reply a4 = Authorize(kDebitPan, 2'000);
  Reply a5 = Authorize(kDebitPan, 800);
  // a5 is reversed online (0400) before the batch comes in.
  {
    TerminalRequest r;
    r.operation = CardOperation::kReversal;
    r.amount = Amount(800, 978);
    r.stan = ++stan_;
    r.transmission_time = time_;
    r.original.stan = stans_[a5.Get(37)];
    r.original.transmission_time = time_;
    Message m(*dialect_);
    ASSERT_TRUE(BuildTerminalRequest(r, identity_, m).ok());
    ASSERT_EQ(Exchange(m).code(), "00");
  }

  EXPECT_EQ(Upload("00", 1'234, 1, &a1).code(), "00");  // full
  EXPECT_EQ(Upload("00", 3'000, 2, &a2).code(), "00");  // partial
  EXPECT_EQ(Upload("00", 1'201, 3, &a3).code(), "13");  // 12.01 > 20 % of 10.00
  EXPECT_EQ(Upload("00", 800, 4, &a5).code(), "12");    // reversed
  EXPECT_EQ(Upload("00", 1'234, 5, &a1).code(), "94");  // second capture
  Reply missing = a1;
  missing.fields[37] = "000099999999";
  missing.fields.erase(38);
  EXPECT_EQ(Upload("00", 500, 6, &missing).code(), "25");                   // no such authorization
  EXPECT_EQ(Upload("20", 400, 7, nullptr, {{2, kDebitPan}}).code(), "00");  // refund
  EXPECT_EQ(Upload("00", 300, 8, nullptr, {{2, kCreditPan}}).code(), "00");  // offline sale
  // a4 by its original data elements (DE 90) instead of the RRN.
  char de90[64];
  std::snprintf(de90, sizeof de90, "0100%06u%s%011d%011d", stans_[a4.Get(37)], time_.c_str(),
                100001, 0);
  EXPECT_EQ(Upload("00", 2'000, 9, nullptr, {{90, de90}}).code(), "00");
  // A retransmission of item 1 gets the same answer, and moves nothing.
  EXPECT_EQ(Upload("00", 1'234, 1, &a1).code(), "00");

  // kytkin holds: captures 12.34 + 30.00 + 3.00 + 20.00 = 65.34 (4), refunds 4.00 (1).
  Reply wrong = Reconcile(4, 6'500, 1, 400);
  EXPECT_EQ(wrong.code(), "95");
  EXPECT_EQ(wrong.Get(76), "0000000004");
  EXPECT_EQ(wrong.Get(88), "0000000000006534");
  EXPECT_EQ(wrong.Get(74), "0000000001");
  EXPECT_EQ(wrong.Get(86), "0000000000000400");
  EXPECT_EQ(wrong.Get(97), "C0000000000006134");
  // Still open: the missing item can be uploaded, then the totals balance.
  Reply right = Reconcile(4, 6'534, 1, 400);
  EXPECT_EQ(right.code(), "00");
  EXPECT_EQ(Reconcile(4, 6'534, 1, 400).code(), "00");  // resubmitted: the same answer
  Reply a6 = Authorize(kDebitPan, 100);
  EXPECT_EQ(Upload("00", 100, 10, &a6).code(), "12");  // the batch is closed

  // Without a date: the server's business date, the one it gave the batch.
  const std::string batches = HttpGet(process_->ports().http, "/api/v1/settlement/batches");
  EXPECT_NE(batches.find(" 200 "), std::string::npos) << batches;
  EXPECT_NE(batches.find("\"state\":\"balanced\""), std::string::npos) << batches;
  const size_t date_at = batches.find("\"business_date\":\"");
  ASSERT_NE(date_at, std::string::npos) << batches;
  const std::string date = batches.substr(date_at + 17, 10);
  const std::string report =
      HttpGet(process_->ports().http, "/api/v1/settlement/report?date=" + date);
  EXPECT_NE(report.find(" 200 "), std::string::npos) << report;
  EXPECT_NE(report.find("\"business_date\":\"" + date + "\""), std::string::npos) << report;
  auto body = [](const std::string& response) {
    const size_t at = response.find("\r\n\r\n");
    return at == std::string::npos ? response : response.substr(at + 4);
  };
  EXPECT_EQ(body(HttpGet(process_->ports().http, "/api/v1/settlement/report")), body(report));
  const std::string batch_id = "100001%7CTERM0001%7C" + date + "%7C7";
  const std::string batch =
      HttpGet(process_->ports().http, "/api/v1/settlement/batch?id=" + batch_id);
  EXPECT_NE(batch.find("\"batch_id\":\"100001|TERM0001|" + date + "|7\""), std::string::npos)
      << batch;
  EXPECT_NE(batch.find("\"captures_minor\":6534"), std::string::npos) << batch;
  EXPECT_NE(report.find("\"merchant_id\":\"KYTKINMERCH0001\""), std::string::npos) << report;
  EXPECT_NE(report.find("\"gross_minor\":6534"), std::string::npos) << report;
  // 1 % of 65.34 = 0.65, plus 0.05 for each of 4 captures.
  EXPECT_NE(report.find("\"fees_minor\":85"), std::string::npos) << report;
  EXPECT_NE(
      HttpGet(process_->ports().http, "/api/v1/settlement/report?date=2026-13-01").find(" 400 "),
      std::string::npos);

  // Cut-over after the server stopped (the store is single-process): the merchant is paid
  // 65.34 - 4.00 - 0.85 = 60.49 once.
  conn_.reset();
  ASSERT_EQ(process_->Stop(), 0) << process_->ServerStderr();
  const std::string data = process_->data_dir().string();
  CommandResult cut = process_->Run({"settlement", "cutover", "--data-dir", data});
  ASSERT_EQ(cut.exit_code, 0) << cut.output;
  EXPECT_NE(cut.output.find("net 60.49"), std::string::npos) << cut.output;
  EXPECT_EQ(Balance(1001), "60.49");
  EXPECT_EQ(Balance(9002), "0.85");
  cut = process_->Run({"settlement", "cutover", "--data-dir", data});
  EXPECT_NE(cut.output.find("0 batch(es) paid out"), std::string::npos) << cut.output;
  EXPECT_EQ(Balance(1001), "60.49");
  CommandResult verify = process_->Run({"ledger", "verify", "--data-dir", data});
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  verify = process_->Run({"journal", "verify", "--data-dir", data});
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
}

// The operator's cut-over while the server runs: POST /api/v1/settlement/cutover pays out the
// balanced batch (200, the batch settled, as JSON), a second one finds nothing due (409), a bad
// body is 400 naming the field; the merchant is paid once.
TEST_F(SettlementE2e, HttpCutOverPaysOutTheBatchesOnce) {
  const uint16_t http = process_->ports().http;
  const std::string path = "/api/v1/settlement/cutover";
  const std::string nothing = HttpPost(http, path, "");
  EXPECT_NE(nothing.find(" 409 "), std::string::npos) << nothing;
  Reply a1 = Authorize(kDebitPan, 1'000);
  EXPECT_EQ(Upload("00", 1'000, 1, &a1).code(), "00");
  EXPECT_EQ(Reconcile(1, 1'000, 0, 0).code(), "00");

  const std::string bad = HttpPost(http, path, "{\"to_date\":\"tomorrow\"}");
  EXPECT_NE(bad.find(" 400 "), std::string::npos) << bad;
  EXPECT_NE(bad.find("\"message\":\"to_date: "), std::string::npos) << bad;
  const std::string unknown = HttpPost(http, path, "{\"date\":\"2026-11-28\"}");
  EXPECT_NE(unknown.find(" 400 "), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("date: unknown field"), std::string::npos) << unknown;
  const std::string get = HttpGet(http, path);
  EXPECT_NE(get.find(" 405 "), std::string::npos) << get;

  const std::string paid = HttpPost(http, path, "");
  EXPECT_NE(paid.find(" 200 "), std::string::npos) << paid;
  EXPECT_NE(paid.find("\"batch_id\":\"100001|TERM0001|"), std::string::npos) << paid;
  EXPECT_NE(paid.find("\"state\":\"settled\""), std::string::npos) << paid;
  EXPECT_NE(paid.find("\"payout_minor\":985"), std::string::npos) << paid;  // 10.00 - 1 % - 0.05
  const std::string again = HttpPost(http, path, "");
  EXPECT_NE(again.find(" 409 "), std::string::npos) << again;
  EXPECT_NE(again.find("nothing to cut over"), std::string::npos) << again;
  EXPECT_EQ(Upload("00", 1'000, 2, &a1).code(), "12");  // the batch is settled: no new items

  conn_.reset();
  ASSERT_EQ(process_->Stop(), 0) << process_->ServerStderr();
  EXPECT_EQ(Balance(1001), "9.85");
  const std::string data = process_->data_dir().string();
  CommandResult verify = process_->Run({"ledger", "verify", "--data-dir", data});
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  verify = process_->Run({"journal", "verify", "--data-dir", data});
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
}

// The same rules over gRPC Settlement.SubmitBatch: a capture by RRN, one by the gRPC
// idempotency key of an online authorization, an offline sale, a bad item number (rejected
// with INVALID_ARGUMENT naming the field), totals out of balance then in balance, resubmission.
TEST_F(SettlementE2e, GrpcSubmitBatchReconcilesAndResubmits) {
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(process_->ports().grpc),
                                     grpc::InsecureChannelCredentials());
  auto auth_stub = v1::Authorization::NewStub(channel);
  auto stub = v1::Settlement::NewStub(channel);
  Reply a1 = Authorize(kDebitPan, 2'500);
  {
    v1::AuthorizeRequest request;
    request.set_idempotency_key("online-order-1");
    request.mutable_card()->set_pan(kCreditPan);
    request.mutable_card()->set_expiry_yymm("2912");
    request.mutable_amount()->set_currency_code("EUR");
    request.mutable_amount()->set_minor_units(4'000);
    request.mutable_merchant()->set_merchant_id("KYTKINMERCH0001");
    request.mutable_merchant()->set_terminal_id("TERM0001");
    v1::AuthorizeResponse response;
    grpc::ClientContext context;
    grpc::Status status = auth_stub->Authorize(&context, request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_EQ(response.decision().response_code_digits(), "00");
  }
  auto submit = [&](int64_t declared_captures_minor, v1::SubmitBatchResponse* response,
                    bool bad_item = false) {
    grpc::ClientContext context;
    auto writer = stub->SubmitBatch(&context, response);
    v1::SettlementMessage m;
    auto* h = m.mutable_header();
    h->set_batch_id("GRPC-1");
    h->set_acquirer_id("100001");
    h->set_terminal_id("TERM0001");
    h->set_merchant_id("KYTKINMERCH0001");
    h->set_currency_code("EUR");
    EXPECT_TRUE(writer->Write(m));
    auto item = [&](uint64_t number, v1::SettlementItemType type, int64_t minor) {
      v1::SettlementMessage im;
      auto* i = im.mutable_item();
      i->set_item_number(number);
      i->set_type(type);
      i->set_amount_minor_units(minor);
      return im;
    };
    m = item(1, v1::SETTLEMENT_ITEM_TYPE_CAPTURE, 2'500);
    m.mutable_item()->set_auth_rrn(a1.Get(37));
    m.mutable_item()->set_auth_code(a1.Get(38));
    EXPECT_TRUE(writer->Write(m));
    m = item(2, v1::SETTLEMENT_ITEM_TYPE_CAPTURE, 4'000);
    m.mutable_item()->set_auth_idempotency_key("online-order-1");
    EXPECT_TRUE(writer->Write(m));
    m = item(bad_item ? 0 : 3, v1::SETTLEMENT_ITEM_TYPE_CAPTURE, 700);
    m.mutable_item()->set_pan(kDebitPan);
    writer->Write(m);  // may fail once the server ended the call
    m.Clear();
    m.mutable_totals()->set_captures(3);
    m.mutable_totals()->set_captures_minor_units(declared_captures_minor);
    writer->Write(m);
    writer->WritesDone();
    return writer->Finish();
  };
  v1::SubmitBatchResponse response;
  grpc::Status bad = submit(7'200, &response, true);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(bad.error_message().find("item.item_number"), std::string::npos) << bad.error_message();

  response.Clear();
  grpc::Status s = submit(7'000, &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(response.response_code_digits(), "95");
  EXPECT_EQ(response.batch_state(), "open");
  EXPECT_EQ(response.held().captures_minor_units(), 7'200);
  ASSERT_EQ(response.items_size(), 3);
  EXPECT_EQ(response.items(0).outcome(), "captured");
  EXPECT_TRUE(response.items(0).duplicate());  // already settled by the failed call
  EXPECT_EQ(response.items(1).outcome(), "captured");
  EXPECT_EQ(response.items(2).outcome(), "force_posted");

  response.Clear();
  s = submit(7'200, &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(response.response_code_digits(), "00");
  EXPECT_EQ(response.batch_state(), "balanced");
  for (const auto& item : response.items()) EXPECT_TRUE(item.duplicate()) << item.item_number();
  response.Clear();
  s = submit(7'200, &response);  // resubmitted after balancing: the same answer
  EXPECT_EQ(response.response_code_digits(), "00");
  channel.reset();
  auth_stub.reset();
  stub.reset();
  conn_.reset();
  ASSERT_EQ(process_->Stop(), 0) << process_->ServerStderr();
  CommandResult verify =
      process_->Run({"ledger", "verify", "--data-dir", process_->data_dir().string()});
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
}

}  // namespace
}  // namespace kytkin::e2e
