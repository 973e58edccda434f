// The settlement rules shared by the channels (switch/settlement.h) on an in-memory ledger:
// business dates and cut-over, the streaming writer and its window, reconciliation answers,
// the report, and the [settlement] configuration.
#include "switch/settlement.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <thread>

#include "iso8583/dialect.h"
#include "switch/config.h"
#include "switch/settlement_iso.h"
#include "switch/settlement_server.h"

namespace kytkin::settlement {
namespace {

using storage::Account;
using storage::AccountKind;
using storage::BatchTotals;

constexpr uint16_t kEur = 978;
constexpr int64_t kNowUs = 1'781'524'800'000'000;  // 2026-06-15T12:00:00Z
constexpr int32_t kDay = 20'619;                   // 2026-06-15
constexpr int64_t kHourUs = 3'600'000'000;

TEST(BusinessDate, FollowsTheCutOver) {
  EXPECT_EQ(FormatDate(kDay), "2026-06-15");
  EXPECT_EQ(*ParseDate("2026-06-15"), kDay);
  EXPECT_FALSE(ParseDate("2026-02-30").ok());
  EXPECT_FALSE(ParseDate("15.06.2026").ok());
  EXPECT_EQ(BusinessDateAt(kNowUs, 0), kDay);
  // Cut-over 22:00: 21:59 belongs to the 15th, 22:00 to the 16th.
  const int64_t at_22 = kNowUs + 10 * kHourUs;
  EXPECT_EQ(BusinessDateAt(at_22 - 60'000'000, 22 * 60), kDay);
  EXPECT_EQ(BusinessDateAt(at_22, 22 * 60), kDay + 1);
  EXPECT_EQ(*ParseCutover("22:00"), 22u * 60);
  EXPECT_FALSE(ParseCutover("24:00").ok());
  EXPECT_FALSE(ParseCutover("2200").ok());
}

class SettlementTest : public ::testing::Test {
 protected:
  void SetUp() override {
    clock_.Set(kNowUs);
    storage::StoreOptions o;
    o.backend = storage::StoreOptions::Backend::kMemory;
    o.card_key = std::string(32, 'k');
    o.clock = &clock_;
    o.sweep_interval_ms = 0;
    auto s = storage::Store::Open(o);
    ASSERT_TRUE(s.ok());
    store_ = std::move(s).value();
    for (auto [id, kind] : {std::pair{1001u, AccountKind::kMerchant},
                            {9001u, AccountKind::kAcquirerSettlement},
                            {9002u, AccountKind::kFees},
                            {2001u, AccountKind::kCardholderDebit}}) {
      Account a;
      a.id = id;
      a.kind = kind;
      a.currency = kEur;
      ASSERT_TRUE(store_->CreateAccount(a, id == 2001 ? 1'000'000 : 0).ok());
    }
    storage::Card c;
    c.account_id = 2001;
    c.expiry_year = 2030;
    c.expiry_month = 12;
    ASSERT_TRUE(store_->CreateCard(pan_, c).ok());
    config_.merchants["KYTKINMERCH0001"] = MerchantSettlement{1001, 100, 5};
    config_.window_items_max = 4;  // small, so the tests cross it
  }

  BatchHeader Header(std::string id = "B1") {
    return BatchHeader{std::move(id), "100001", "TERM0001", "KYTKINMERCH0001", kEur};
  }

  storage::Decision Authorize(int64_t minor, std::string key) {
    storage::Request r;
    r.operation = storage::Operation::kAuthorize;
    r.pan = pan_;
    r.amount = Amount(minor, kEur);
    r.request_key = std::move(key);
    r.terminal_id = "TERM0001";
    auto d = store_->Execute(r);
    EXPECT_TRUE(d.ok() && d->approved());
    return d.ok() ? *d : storage::Decision{};
  }

  ManualClock clock_;
  std::unique_ptr<storage::Store> store_;
  SettlementConfig config_;
  Pan pan_ = *Pan::Parse("4111111111111111");
};

TEST_F(SettlementTest, StreamsItemsThroughTheWindowInOrder) {
  auto writer = BatchWriter::Open(*store_, config_, Header(), clock_, {});
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  EXPECT_EQ((*writer)->opened().merchant_account, 1001u);
  EXPECT_EQ((*writer)->opened().fee_bps, 100u);
  EXPECT_EQ((*writer)->opened().business_date, kDay);
  std::vector<ItemResult> results;
  auto collect = [&](const ItemResult& r) { results.push_back(r); };
  constexpr int kItems = 50;
  for (int i = 1; i <= kItems; ++i) {
    storage::Decision auth = Authorize(1'000, "auth" + std::to_string(i));
    Item item;
    item.number = static_cast<uint64_t>(i);
    item.amount_minor = i % 10 == 0 ? 1'300 : 1'000;  // every tenth: 3.00 over a 10.00 hold
    item.auth_rrn = std::to_string(auth.journal_sequence);
    item.auth_code = auth.auth_code;
    ASSERT_TRUE((*writer)->Add(item, collect).ok());
  }
  ASSERT_TRUE((*writer)->Finish(collect).ok());
  ASSERT_EQ(results.size(), static_cast<size_t>(kItems));
  for (int i = 0; i < kItems; ++i) {
    EXPECT_EQ(results[i].number, static_cast<uint64_t>(i + 1));
    // 3.00 over 10.00 is 30 %: above the default 20 % tolerance.
    EXPECT_EQ(results[i].outcome(), (i + 1) % 10 == 0 ? "rejected" : "captured") << i;
  }
  Item bad;
  EXPECT_EQ((*writer)->Add(bad, collect).code(), Status::Code::kInvalidArgument);

  BatchTotals declared;
  declared.captures_count = 45;
  declared.captures_minor = 45'000;
  auto rec = Reconcile(*store_, "B1", declared);
  ASSERT_TRUE(rec.ok());
  EXPECT_EQ(rec->code, ResponseCode::kApproved);
  EXPECT_EQ(rec->batch.rejected_count, 5u);
}

TEST_F(SettlementTest, OutOfBalanceThenReuploadThenReport) {
  auto writer = BatchWriter::Open(*store_, config_, Header(), clock_, {});
  ASSERT_TRUE(writer.ok());
  Item sale;
  sale.number = 1;
  sale.amount_minor = 2'000;
  sale.pan = pan_;  // offline sale: force-posted
  std::vector<ItemResult> results;
  auto collect = [&](const ItemResult& r) { results.push_back(r); };
  ASSERT_TRUE((*writer)->Add(sale, collect).ok());
  ASSERT_TRUE((*writer)->Finish(collect).ok());
  EXPECT_EQ(results.at(0).outcome(), "force_posted");

  BatchTotals declared;
  declared.captures_count = 2;
  declared.captures_minor = 3'000;
  auto rec = Reconcile(*store_, "B1", declared);
  EXPECT_EQ(rec->code, ResponseCode::kReconciliationError);
  EXPECT_EQ(rec->batch.held.captures_minor, 2'000);  // kytkin's totals go back
  // The re-upload adds the missing item to the same, still open, batch.
  auto again = BatchWriter::Open(*store_, config_, Header(), clock_, {});
  ASSERT_TRUE(again.ok());
  ASSERT_TRUE((*again)->Add(sale, collect).ok());  // the first item again: a duplicate
  Item missing = sale;
  missing.number = 2;
  missing.amount_minor = 1'000;
  ASSERT_TRUE((*again)->Add(missing, collect).ok());
  ASSERT_TRUE((*again)->Finish(collect).ok());
  EXPECT_TRUE(results.at(1).duplicate);
  EXPECT_EQ(Reconcile(*store_, "B1", declared)->code, ResponseCode::kApproved);
  EXPECT_EQ(Reconcile(*store_, "B1", declared)->code, ResponseCode::kApproved);  // resubmitted

  auto rows = BuildReport(*store_, kDay);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].gross_minor, 3'000);
  EXPECT_EQ((*rows)[0].fees_minor, 30 + 2 * 5);  // 1 % + 0.05 per capture, projected
  EXPECT_EQ((*rows)[0].batches_settled, 0u);
  // Cut-over is due at the next midnight UTC, not before.
  EXPECT_TRUE(CutOverIfDue(*store_, config_, kNowUs + kHourUs)->empty());
  auto paid = CutOverIfDue(*store_, config_, kNowUs + 12 * kHourUs);
  ASSERT_TRUE(paid.ok());
  ASSERT_EQ(paid->size(), 1u);
  EXPECT_EQ((*paid)[0].payout_minor, 3'000 - 40);
  rows = BuildReport(*store_, kDay);
  EXPECT_EQ((*rows)[0].batches_settled, 1u);
  EXPECT_EQ((*rows)[0].net_minor, 2'960);
  EXPECT_NE(ReportCsv(*rows).find("100001,KYTKINMERCH0001,978,1,1,2,0,0,3000,0,40,2960"),
            std::string::npos);
  EXPECT_NE(ReportJson(*rows, kDay).find("\"business_date\":\"2026-06-15\""), std::string::npos);
  auto ledger = store_->VerifyLedger();
  ASSERT_TRUE(ledger.ok());
  EXPECT_TRUE(ledger->ok());
}

TEST_F(SettlementTest, SchedulerPaysOutOnceTheCutOverPasses) {
  config_.cutover_minute_utc = 22 * 60;
  auto writer = BatchWriter::Open(*store_, config_, Header(), clock_, {});
  ASSERT_TRUE(writer.ok());
  Item sale;
  sale.number = 1;
  sale.amount_minor = 10'000;
  sale.pan = pan_;
  ASSERT_TRUE((*writer)->Add(sale, nullptr).ok());
  ASSERT_TRUE((*writer)->Finish(nullptr).ok());
  EXPECT_EQ((*writer)->opened().business_date, kDay);  // 12:00 is before the 22:00 cut-over
  CutOverScheduler scheduler(*store_, config_, clock_);
  auto state = [&] { return store_->GetSettlementBatch("B1")->state; };
  // Before 22:00 nothing happens (the scheduler checks once a second).
  std::this_thread::sleep_for(std::chrono::milliseconds(1'200));
  EXPECT_EQ(state(), storage::BatchState::kOpen);
  clock_.Advance(10 * kHourUs);  // 22:00: the business date of the 15th ends
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (state() != storage::BatchState::kSettled && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(state(), storage::BatchState::kSettled);
  EXPECT_EQ(*store_->SettlementBusinessDate(), kDay + 1);
  EXPECT_EQ(store_->GetAccount(1001)->balance(), 10'000 - 100 - 5);  // 1 % + 0.05
}

// POST /api/v1/settlement/cutover: pays out on the scheduler's thread what is due (by default
// the current business date and earlier, or up to to_date), once: a second call is 409 and
// changes nothing; a bad body is 400 naming the field.
TEST_F(SettlementTest, HttpCutOverPaysOutWhatIsDueOnce) {
  CutOverScheduler scheduler(*store_, config_, clock_);
  HttpRouter router;
  scheduler.AddHttpRoutes(router);
  auto post = [&](std::string_view body) {
    HttpRequest request;
    request.method = boost::beast::http::verb::post;
    request.path = "/api/v1/settlement/cutover";
    request.body = body;
    std::promise<HttpResponse> answered;
    router.Dispatch(request, [&](HttpResponse r) { answered.set_value(std::move(r)); });
    auto future = answered.get_future();
    EXPECT_EQ(future.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    return future.get();
  };
  auto open_batch = [&](std::string id, int32_t date) {
    BatchHeader h = Header(std::move(id));
    auto writer = BatchWriter::Open(*store_, config_, h, clock_, {});
    ASSERT_TRUE(writer.ok()) << writer.status().ToString();
    Item sale;
    sale.number = 1;
    sale.amount_minor = 10'000;
    sale.pan = pan_;
    ASSERT_TRUE((*writer)->Add(sale, nullptr).ok());
    ASSERT_TRUE((*writer)->Finish(nullptr).ok());
    EXPECT_EQ((*writer)->opened().business_date, date);
  };
  HttpResponse nothing = post("");
  EXPECT_EQ(nothing.status, 409u) << nothing.body;
  EXPECT_NE(nothing.body.find("nothing to cut over"), std::string::npos) << nothing.body;
  // The scheduler's own check at start made today the business date; the 409 did not move it.
  EXPECT_EQ(*store_->SettlementBusinessDate(), kDay);
  open_batch("B1", kDay);

  for (std::string_view bad : {"{", "[1]", "{\"to_date\":20260616}", "{\"to_date\":\"2026-02-30\"}",
                               "{\"date\":\"2026-06-16\"}"}) {
    HttpResponse r = post(bad);
    EXPECT_EQ(r.status, 400u) << bad;
    const bool names_field = r.body.find("to_date") != std::string::npos ||
                             r.body.find("body:") != std::string::npos ||
                             r.body.find("date: unknown field") != std::string::npos;
    EXPECT_TRUE(names_field) << r.body;
  }
  EXPECT_EQ(post(std::string(CutOverScheduler::kBodyBytesMax + 1, ' ') + "{}").status, 400u);
  // to_date not past the batch's date: nothing due.
  EXPECT_EQ(post("{\"to_date\":\"2026-06-15\"}").status, 409u);
  EXPECT_EQ(store_->GetSettlementBatch("B1")->state, storage::BatchState::kOpen);

  HttpResponse paid = post("");  // the default: the day after today's business date
  ASSERT_EQ(paid.status, 200u) << paid.body;
  EXPECT_NE(paid.body.find("\"business_date\":\"2026-06-16\""), std::string::npos) << paid.body;
  EXPECT_NE(paid.body.find("\"batch_id\":\"B1\""), std::string::npos) << paid.body;
  EXPECT_EQ(store_->GetSettlementBatch("B1")->state, storage::BatchState::kSettled);
  EXPECT_EQ(store_->GetAccount(1001)->balance(), 10'000 - 100 - 5);
  EXPECT_EQ(post("").status, 409u);  // paid once
  EXPECT_EQ(store_->GetAccount(1001)->balance(), 10'000 - 100 - 5);

  // A batch of the new date, paid by naming a later to_date.
  open_batch("B2", kDay + 1);
  HttpResponse named = post(" {\"to_date\": \"2026-06-20\"} ");
  ASSERT_EQ(named.status, 200u) << named.body;
  EXPECT_NE(named.body.find("\"business_date\":\"2026-06-20\""), std::string::npos);
  EXPECT_NE(named.body.find("\"batch_id\":\"B2\""), std::string::npos);
  EXPECT_EQ(named.body.find("\"batch_id\":\"B1\""), std::string::npos);
  EXPECT_EQ(*store_->SettlementBusinessDate(), kDay + 5);
  auto ledger = store_->VerifyLedger();
  ASSERT_TRUE(ledger.ok());
  EXPECT_TRUE(ledger->ok());
}

TEST_F(SettlementTest, BadHeadersNameTheField) {
  BatchHeader h = Header();
  h.merchant_id = "UNKNOWNSHOP";
  auto w = BatchWriter::Open(*store_, config_, h, clock_, {});
  ASSERT_FALSE(w.ok());
  EXPECT_NE(w.status().message().find("merchant_id"), std::string::npos);
  h = Header(std::string(65, 'x'));
  EXPECT_NE(BatchWriter::Open(*store_, config_, h, clock_, {}).status().message().find("batch_id"),
            std::string::npos);
  h = Header("B9");
  h.merchant_id = "1001";  // all digits: the account itself
  auto by_number = BatchWriter::Open(*store_, config_, h, clock_, {});
  ASSERT_TRUE(by_number.ok());
  EXPECT_EQ((*by_number)->opened().merchant_account, 1001u);
  EXPECT_EQ((*by_number)->opened().fee_bps, 0u);  // the default fee
  EXPECT_TRUE(Reconcile(*store_, "nope", BatchTotals{}).status().IsNotFound());
}

// The 0320/0500 answers need no pipeline; a message reaching it is a test failure.
class NoPipeline final : public IsoHandler {
 public:
  void Handle(const IsoRequest&, IsoCompletion done) override {
    ADD_FAILURE() << "settlement message handed to the pipeline";
    done.Finish(IsoReply::kNoReply);
  }
};

// DE 97 signed both ways: a sales batch (3000 captured, 1000 refunded) is C2000 debits minus
// credits and D2000 credits minus debits; a 0500 in the configured convention balances, the
// other sign does not, and the 0510 carries kytkin's net in the configured convention.
TEST_F(SettlementTest, De97FollowsTheConfiguredSignConvention) {
  const iso8583::Dialect* dialect = iso8583::FindDialect("iso87-ascii");
  ASSERT_NE(dialect, nullptr);
  NoPipeline pipeline;
  struct Case {
    NetAmountSign sign;
    const char* batch_number;
    std::string net, opposite;
  };
  for (const Case& c :
       {Case{NetAmountSign::kDebitsMinusCredits, "1", "C0000000000002000", "D0000000000002000"},
        Case{NetAmountSign::kCreditsMinusDebits, "2", "D0000000000002000", "C0000000000002000"}}) {
    SCOPED_TRACE(c.batch_number);
    config_.de97_sign = c.sign;
    SettlementIsoHandler handler(*store_, config_, pipeline, clock_);
    auto message = [&](const char* mti) {
      iso8583::Message m(*dialect);
      EXPECT_TRUE(m.SetMti(mti).ok());
      EXPECT_TRUE(m.Set(32, "100001").ok());
      EXPECT_TRUE(m.Set(41, "TERM0001").ok());
      EXPECT_TRUE(m.Set(42, "KYTKINMERCH0001").ok());
      EXPECT_TRUE(m.Set(49, "978").ok());
      EXPECT_TRUE(m.Set(60, c.batch_number).ok());
      return m;
    };
    auto upload = [&](const char* processing, uint64_t stan, uint64_t minor) {
      iso8583::Message m = message("0320");
      EXPECT_TRUE(m.Set(2, "4111111111111111").ok());
      EXPECT_TRUE(m.Set(3, processing).ok());
      EXPECT_TRUE(m.SetUint(4, minor).ok());
      EXPECT_TRUE(m.SetUint(11, stan).ok());
      iso8583::Message response(*dialect);
      ASSERT_TRUE(handler.Answer(m, response).ok());
      EXPECT_EQ(response.Get(39), "00");
    };
    upload("000000", 1, 3'000);  // an offline sale, force-posted
    upload("200000", 2, 1'000);  // a refund
    auto reconcile = [&](const std::string& de97) {
      iso8583::Message m = message("0500");
      EXPECT_TRUE(m.SetUint(11, 3).ok());
      EXPECT_TRUE(m.SetUint(74, 1).ok());
      EXPECT_TRUE(m.SetUint(76, 1).ok());
      EXPECT_TRUE(m.SetUint(86, 1'000).ok());
      EXPECT_TRUE(m.SetUint(88, 3'000).ok());
      EXPECT_TRUE(m.Set(97, de97).ok());
      iso8583::Message response(*dialect);
      EXPECT_TRUE(handler.Answer(m, response).ok());
      return std::pair{std::string(response.Get(39)), std::string(response.Get(97))};
    };
    EXPECT_EQ(reconcile(c.opposite), std::pair(std::string("95"), c.net));
    EXPECT_EQ(reconcile(c.net), std::pair(std::string("00"), c.net));
  }
}

// Builds and answers 0320 / 0500 messages of terminal TERM0001 through a SettlementIsoHandler.
class IsoSettlementTest : public SettlementTest {
 protected:
  void SetUp() override {
    SettlementTest::SetUp();
    dialect_ = iso8583::FindDialect("iso87-ascii");
    ASSERT_NE(dialect_, nullptr);
    handler_ = std::make_unique<SettlementIsoHandler>(*store_, config_, pipeline_, clock_);
  }
  iso8583::Message Message(const char* mti, const char* batch_number) {
    iso8583::Message m(*dialect_);
    EXPECT_TRUE(m.SetMti(mti).ok());
    EXPECT_TRUE(m.Set(32, "100001").ok());
    EXPECT_TRUE(m.Set(41, "TERM0001").ok());
    EXPECT_TRUE(m.Set(42, "KYTKINMERCH0001").ok());
    EXPECT_TRUE(m.Set(49, "978").ok());
    EXPECT_TRUE(m.Set(60, batch_number).ok());
    return m;
  }
  std::string Answer(const iso8583::Message& m, iso8583::Message* out = nullptr) {
    iso8583::Message response(*dialect_);
    EXPECT_TRUE(handler_->Answer(m, response).ok());
    if (out != nullptr) *out = response;
    return std::string(response.Get(39));
  }
  // An offline sale (force-posted) of the card, with DE 11 and DE 7 as given.
  std::string Upload(const char* batch_number, uint64_t stan, const char* de7, uint64_t minor,
                     const char* mti = "0320") {
    iso8583::Message m = Message(mti, batch_number);
    EXPECT_TRUE(m.Set(2, "4111111111111111").ok());
    EXPECT_TRUE(m.Set(3, "000000").ok());
    EXPECT_TRUE(m.SetUint(4, minor).ok());
    EXPECT_TRUE(m.SetUint(11, stan).ok());
    if (de7 != nullptr) {
      EXPECT_TRUE(m.Set(7, de7).ok());
    }
    return Answer(m);
  }
  // A 0500 declaring `count` captures of `minor` in all; DE 15 when `de15` is set.
  std::string Reconcile(const char* batch_number, uint64_t count, uint64_t minor,
                        const char* de15 = nullptr, iso8583::Message* response = nullptr) {
    iso8583::Message m = Message("0500", batch_number);
    EXPECT_TRUE(m.SetUint(11, 999).ok());
    EXPECT_TRUE(m.SetUint(76, count).ok());
    EXPECT_TRUE(m.SetUint(88, minor).ok());
    if (de15 != nullptr) {
      EXPECT_TRUE(m.Set(15, de15).ok());
    }
    return Answer(m, response);
  }

  NoPipeline pipeline_;
  const iso8583::Dialect* dialect_ = nullptr;
  std::unique_ptr<SettlementIsoHandler> handler_;
};

// The STAN wraps (999999 -> 1) within a long batch: with DE 7 the two items numbered 1 stay
// distinct; a 0321 repeat (same STAN and DE 7) is still the same item.
TEST_F(IsoSettlementTest, StanWrapWithinABatchKeepsItemsDistinct) {
  EXPECT_EQ(Upload("1", 999'999, "0615115958", 1'000), "00");
  EXPECT_EQ(Upload("1", 1, "0615115959", 2'000), "00");
  EXPECT_EQ(Upload("1", 1, "0615120003", 3'000), "00");          // after the wrap
  EXPECT_EQ(Upload("1", 1, "0615120003", 3'000, "0321"), "00");  // its repeat
  iso8583::Message response(*dialect_);
  EXPECT_EQ(Reconcile("1", 3, 6'000, nullptr, &response), "00");
  EXPECT_EQ(response.Get(76), "0000000003");
}

// A 0500 that arrives just after the cut-over reconciles the batch its 0320s went into (now
// closed), not the new business date's empty one; DE 15 names a batch's date outright.
TEST_F(IsoSettlementTest, ReconciliationAfterTheCutOverFindsTheTerminalsBatch) {
  clock_.Set(kNowUs + 12 * kHourUs - 30'000'000);  // 23:59:30 on the 15th (cut-over 00:00)
  EXPECT_EQ(Upload("5", 1, "0615235930", 1'000), "00");
  EXPECT_EQ(Upload("5", 2, "0615235931", 2'500), "00");
  clock_.Advance(60'000'000);  // 00:00:30 on the 16th: the scheduler pays the 15th out
  auto settled = CutOverIfDue(*store_, config_, clock_.NowUnixMicros());
  ASSERT_TRUE(settled.ok());
  ASSERT_EQ(settled->size(), 1u);
  iso8583::Message response(*dialect_);
  EXPECT_EQ(Reconcile("5", 2, 3'500, nullptr, &response), "00");
  EXPECT_EQ(response.Get(88), "0000000000003500");
  EXPECT_EQ(Reconcile("5", 2, 3'600), "95");

  // Once the terminal uploads into the 16th's batch, a 0500 without DE 15 is that one's; DE 15
  // 0615 still names the 15th's.
  EXPECT_EQ(Upload("5", 3, "0616000100", 700), "00");
  EXPECT_EQ(Reconcile("5", 1, 700), "00");
  EXPECT_EQ(Reconcile("5", 2, 3'500, "0615"), "00");
  EXPECT_EQ(Reconcile("5", 2, 3'500, "1315"), "30");  // no 13th month
  auto today = store_->ListSettlementBatches(kDay + 1);
  ASSERT_TRUE(today.ok());
  ASSERT_EQ(today->size(), 1u);
  EXPECT_EQ(today->front().state, storage::BatchState::kBalanced);
}

// The HTTP read API: the report and the batch list default to the store's business date, a
// batch id arrives percent-encoded ('|' as %7C), bad parameters are 400 naming them.
TEST_F(SettlementTest, HttpRoutesReadReportsAndBatches) {
  HttpRouter router;
  AddSettlementRoutes(*store_, router);
  auto get = [&](std::string_view path, std::string_view query) {
    HttpRequest request;
    request.path = path;
    request.query = query;
    HttpResponse response;
    router.Dispatch(request, [&](HttpResponse r) { response = std::move(r); });  // synchronous
    return response;
  };
  EXPECT_EQ(get("/api/v1/settlement/report", "").status, 400u);  // no batch, no date yet
  auto writer =
      BatchWriter::Open(*store_, config_, Header("100001|TERM0001|2026-06-15|1"), clock_, {});
  ASSERT_TRUE(writer.ok());
  Item sale;
  sale.number = 1;
  sale.amount_minor = 1'000;
  sale.pan = pan_;
  ASSERT_TRUE((*writer)->Add(sale, nullptr).ok());
  ASSERT_TRUE((*writer)->Finish(nullptr).ok());

  HttpResponse report = get("/api/v1/settlement/report", "");
  EXPECT_EQ(report.status, 200u);
  EXPECT_NE(report.body.find("\"business_date\":\"2026-06-15\""), std::string::npos);
  EXPECT_NE(report.body.find("\"gross_minor\":1000"), std::string::npos) << report.body;
  EXPECT_EQ(get("/api/v1/settlement/report", "date=2026-06-14").body.find("gross_minor"),
            std::string::npos);
  EXPECT_EQ(get("/api/v1/settlement/report", "date=2026-02-30").status, 400u);
  EXPECT_EQ(get("/api/v1/settlement/report", "format=xml").status, 400u);
  HttpResponse batches = get("/api/v1/settlement/batches", "");
  EXPECT_EQ(batches.status, 200u);
  EXPECT_NE(batches.body.find("\"batch_id\":\"100001|TERM0001|2026-06-15|1\""), std::string::npos)
      << batches.body;
  HttpResponse batch = get("/api/v1/settlement/batch", "id=100001%7CTERM0001%7C2026-06-15%7c1");
  EXPECT_EQ(batch.status, 200u) << batch.body;
  EXPECT_NE(batch.body.find("\"state\":\"open\""), std::string::npos);
  EXPECT_EQ(get("/api/v1/settlement/batch", "id=NOPE").status, 404u);
  EXPECT_EQ(get("/api/v1/settlement/batch", "id=100001%7").status, 400u);
  EXPECT_EQ(get("/api/v1/settlement/batch", "").status, 400u);
}

TEST(SettlementConfigToml, ReadsAndRejects) {
  auto o = ParseServeToml(R"(
[settlement]
cutover_utc = "22:30"
capture_tolerance_bps = 1500
fee_bps = 120
[settlement.merchants.KYTKINMERCH0001]
account = 1001
fee_bps = 90
)",
                          "test.toml", ServeOptions{});
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->settlement.cutover_minute_utc, 22u * 60 + 30);
  EXPECT_EQ(o->settlement.capture_tolerance_bps, 1500u);
  EXPECT_EQ(o->settlement.merchants.at("KYTKINMERCH0001").fee_bps, 90);
  EXPECT_EQ(o->settlement.de97_sign, NetAmountSign::kDebitsMinusCredits);  // the default
  auto sign = ParseServeToml("[settlement]\nde97_sign = \"credits_minus_debits\"\n", "t.toml",
                             ServeOptions{});
  ASSERT_TRUE(sign.ok()) << sign.status().ToString();
  EXPECT_EQ(sign->settlement.de97_sign, NetAmountSign::kCreditsMinusDebits);
  sign = ParseServeToml("[settlement]\nde97_sign = \"C\"\n", "t.toml", ServeOptions{});
  ASSERT_FALSE(sign.ok());
  EXPECT_NE(sign.status().message().find("settlement.de97_sign"), std::string::npos);
  auto bad = ParseServeToml("[settlement]\ncutover_utc = \"25:00\"\n", "t.toml", ServeOptions{});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("settlement.cutover_utc"), std::string::npos);
  bad = ParseServeToml("[settlement]\nfee_bps = 10001\n", "t.toml", ServeOptions{});
  EXPECT_NE(bad.status().message().find("settlement.fee_bps"), std::string::npos);
  bad = ParseServeToml("[settlement]\nfee = 1\n", "t.toml", ServeOptions{});
  EXPECT_NE(bad.status().message().find("unknown key"), std::string::npos);
  bad = ParseServeToml("[settlement.merchants.X]\nfee_bps = 1\n", "t.toml", ServeOptions{});
  EXPECT_NE(bad.status().message().find("account: required"), std::string::npos);
}

}  // namespace
}  // namespace kytkin::settlement
