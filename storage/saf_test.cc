// Remote issuers in the store: journal-only remote decisions, stand-in limits and the
// store-and-forward queue (ordering, ack, retries, park, restart, sealing at rest).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>

#include "storage/codec.h"
#include "storage/store.h"
#include "storage/test_util.h"

namespace kytkin::storage {
namespace {

using namespace kytkin::storage::testing;

class SafTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  StoreOptions Options() {
    StoreOptions o;
    o.backend = StoreOptions::Backend::kRocksDb;
    o.data_dir = dir_.path() + "/db";
    o.card_key = card_key_;
    o.clock = &clock_;
    o.sweep_interval_ms = 0;
    return o;
  }
  void Reopen() {
    store_.reset();
    auto s = Store::Open(Options());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }
  Decision Do(Request r) {
    auto d = store_->Execute(std::move(r));
    EXPECT_TRUE(d.ok()) << d.status().ToString();
    return d.ok() ? *d : Decision{};
  }
  static Request Remote(const Pan& pan, ResponseCode code, std::string key) {
    Request r = TestRequest(Operation::kRemoteDecision, pan, 1500, std::move(key));
    r.remote_response = code;
    r.remote_auth_code = "A1B2C3";
    r.route = "issuer nordbank via nb-a";
    return r;
  }
  static Request StandIn(const Pan& pan, int64_t minor, std::string key) {
    Request r = TestRequest(Operation::kStandIn, pan, minor, std::move(key));
    r.stand_in_daily_amount_max_minor = 10'000;
    r.stand_in_daily_count_max = 3;
    r.saf_issuer = "southbank";
    r.saf_if_approved = {"0120", "advice for " + std::string(pan.clear_digits())};
    r.saf_if_declined = {"0420", "reversal for " + std::string(pan.clear_digits())};
    return r;
  }
  void ExpectVerified() {
    auto l = store_->VerifyLedger();
    ASSERT_TRUE(l.ok());
    EXPECT_TRUE(l->ok()) << (l->violations.empty() ? "" : l->violations[0]);
    auto j = store_->VerifyJournal();
    ASSERT_TRUE(j.ok());
    EXPECT_TRUE(j->ok());
  }

  TempDir dir_;
  ManualClock clock_{kTestNowUnixUs};
  std::string card_key_ = TestCardKey();
  std::unique_ptr<Store> store_;
};

TEST_F(SafTest, RemoteDecisionIsJournaledWithoutLedgerChangeAndDeduped) {
  const Pan pan = TestPan(7);
  Decision d = Do(Remote(pan, ResponseCode::kApproved, "k1"));
  EXPECT_EQ(d.response_code, ResponseCode::kApproved);
  EXPECT_EQ(d.auth_code, "A1B2C3");  // the issuer's, not kytkin's
  EXPECT_EQ(d.transfer_id, 0u);
  ASSERT_GT(d.journal_sequence, 0u);

  // A retransmission gets the same answer and no second record.
  Decision again = Do(Remote(pan, ResponseCode::kApproved, "k1"));
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.journal_sequence, d.journal_sequence);

  Decision declined = Do(Remote(pan, ResponseCode::kInsufficientFunds, "k2"));
  EXPECT_EQ(declined.response_code, ResponseCode::kInsufficientFunds);
  EXPECT_TRUE(declined.auth_code.empty());

  std::vector<JournalRecord> records;
  ASSERT_TRUE(store_
                  ->ExportJournal(1, 0,
                                  [&](const JournalRecord& r) {
                                    records.push_back(r);
                                    return true;
                                  })
                  .ok());
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].operation, Operation::kRemoteDecision);
  EXPECT_EQ(records[0].route, "issuer nordbank via nb-a");
  EXPECT_EQ(records[0].masked_pan, pan.masked());
  auto ledger = store_->VerifyLedger();
  ASSERT_TRUE(ledger.ok());
  EXPECT_EQ(ledger->transfers, 0u);
  ExpectVerified();
}

TEST_F(SafTest, ARetryOfARoutedRequestIsFoundWithoutBlockingAndAnsweredFromTheOriginal) {
  const Pan pan = TestPan(12);
  auto find = [&](std::string key) {
    std::promise<Result<Decision>> promise;
    auto future = promise.get_future();
    EXPECT_TRUE(
        store_
            ->SubmitFindDecision(std::move(key), [&](Result<Decision> d) { promise.set_value(d); })
            .ok());
    return future.get();
  };
  EXPECT_TRUE(find("s1").status().IsNotFound());
  Decision original = Do(StandIn(pan, 100, "s1"));
  ASSERT_EQ(original.response_code, ResponseCode::kApproved);
  Result<Decision> found = find("s1");
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->journal_sequence, original.journal_sequence);
  // The retry goes in as a remote decision; it matches the stand-in original, not 94.
  Request retry = Remote(pan, ResponseCode::kSystemMalfunction, "s1");
  retry.amount = Amount(100, kEur);
  Decision again = Do(retry);
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.response_code, ResponseCode::kApproved);
  EXPECT_EQ(again.auth_code, original.auth_code);
}

TEST_F(SafTest, StandInLimitsCountPerCardAndDay) {
  const Pan pan = TestPan(8);  // not a card of kytkin's ledger: no transfer, limits only
  EXPECT_EQ(Do(StandIn(pan, 10'001, "over")).response_code, ResponseCode::kIssuerUnavailable);
  EXPECT_EQ(Do(StandIn(pan, 6'000, "a")).response_code, ResponseCode::kApproved);
  // 6000 + 4000 = the daily amount exactly (inclusive); one more minor unit is not.
  EXPECT_EQ(Do(StandIn(pan, 4'001, "b")).response_code, ResponseCode::kIssuerUnavailable);
  EXPECT_EQ(Do(StandIn(pan, 4'000, "c")).response_code, ResponseCode::kApproved);
  Request other = StandIn(pan, 1, "d");
  other.stand_in_daily_amount_max_minor = 0;  // no amount limit: the count of 3 decides
  EXPECT_EQ(Do(other).response_code, ResponseCode::kApproved);
  other.request_key = "e";
  Decision fourth = Do(other);
  EXPECT_EQ(fourth.response_code, ResponseCode::kIssuerUnavailable);
  EXPECT_EQ(fourth.reason, Reason::kDailyCountLimit);
  // The next UTC day starts again.
  clock_.Advance(86'400'000'000);
  other.request_key = "f";
  EXPECT_EQ(Do(other).response_code, ResponseCode::kApproved);
  ExpectVerified();
}

TEST_F(SafTest, StandInOnAKnownCardHoldsFundsAndChecksStatus) {
  ASSERT_TRUE(store_->CreateAccount(TestAccount(1), 5'000).ok());
  const Pan pan = TestPan(1);
  auto card = store_->CreateCard(pan, TestCard(1));
  ASSERT_TRUE(card.ok());
  Decision d = Do(StandIn(pan, 3'000, "s1"));
  ASSERT_EQ(d.response_code, ResponseCode::kApproved);
  EXPECT_NE(d.transfer_id, 0u);
  EXPECT_EQ(store_->GetAccount(1)->debits_pending, 3'000);
  // kytkin's view of the funds declines before the stand-in limits are reached.
  EXPECT_EQ(Do(StandIn(pan, 2'001, "s2")).response_code, ResponseCode::kInsufficientFunds);
  ASSERT_TRUE(store_->SetCardStatus(card->token, CardStatus::kStolen).ok());
  EXPECT_EQ(Do(StandIn(pan, 10, "s3")).response_code, ResponseCode::kStolenCard);
  ExpectVerified();
}

TEST_F(SafTest, AdviceIsQueuedWithTheDecisionInOrderPerIssuer) {
  const Pan pan = TestPan(9);
  Decision approved = Do(StandIn(pan, 100, "a"));
  Decision declined = Do(StandIn(pan, 20'000, "b"));            // over the limit: 91 and a reversal
  Request nothing = Remote(pan, ResponseCode::kApproved, "c");  // no saf_issuer: nothing queued
  Do(nothing);
  Request other = StandIn(pan, 100, "d");
  other.saf_issuer = "nordbank";
  Do(other);
  // A retransmission queues nothing more.
  EXPECT_TRUE(Do(StandIn(pan, 100, "a")).duplicate);

  auto south = store_->SafPending("southbank", 10);
  ASSERT_TRUE(south.ok());
  ASSERT_EQ(south->size(), 2u);
  EXPECT_EQ((*south)[0].mti, "0120");
  EXPECT_EQ((*south)[0].message, "advice for " + std::string(pan.clear_digits()));
  EXPECT_EQ((*south)[0].response_code, ResponseCode::kApproved);
  EXPECT_EQ((*south)[0].auth_code, approved.auth_code);
  EXPECT_EQ((*south)[0].journal_sequence, approved.journal_sequence);
  EXPECT_EQ((*south)[0].masked_pan, pan.masked());
  EXPECT_EQ((*south)[1].mti, "0420");
  EXPECT_EQ((*south)[1].response_code, ResponseCode::kIssuerUnavailable);
  EXPECT_EQ((*south)[1].journal_sequence, declined.journal_sequence);
  EXPECT_LT((*south)[0].id, (*south)[1].id);
  auto limited = store_->SafPending("southbank", 1);
  ASSERT_TRUE(limited.ok());
  EXPECT_EQ(limited->size(), 1u);
  auto north = store_->SafPending("nordbank", 10);
  ASSERT_TRUE(north.ok());
  EXPECT_EQ(north->size(), 1u);
  EXPECT_TRUE(store_->SafPending("nobody", 10)->empty());
}

TEST_F(SafTest, AckAttemptsAndParkSurviveARestart) {
  const Pan pan = TestPan(10);
  Do(StandIn(pan, 100, "a"));
  Do(StandIn(pan, 200, "b"));
  Do(StandIn(pan, 300, "c"));
  auto pending = store_->SafPending("southbank", 10);
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 3u);
  const uint64_t first = (*pending)[0].id, second = (*pending)[1].id, third = (*pending)[2].id;

  auto attempt = store_->SafRecordAttempt(first);
  ASSERT_TRUE(attempt.ok());
  EXPECT_EQ(attempt->attempts, 1u);
  EXPECT_EQ(store_->SafRecordAttempt(first)->attempts, 2u);
  ASSERT_TRUE(store_->SafAck(first).ok());
  EXPECT_TRUE(store_->SafAck(first).IsNotFound());
  EXPECT_TRUE(store_->SafRecordAttempt(first).status().IsNotFound());
  EXPECT_TRUE(store_->SafPark(12345).IsNotFound());
  ASSERT_TRUE(store_->SafRecordAttempt(second).ok());
  ASSERT_TRUE(store_->SafPark(third).ok());

  Reopen();
  pending = store_->SafPending("southbank", 10);
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 1u);  // first acked, third parked
  EXPECT_EQ((*pending)[0].id, second);
  EXPECT_EQ((*pending)[0].attempts, 1u);  // a restart sends it as a repeat
  EXPECT_FALSE((*pending)[0].message.empty());
  auto all = store_->SafList();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  auto counts = store_->SafCounts();
  ASSERT_TRUE(counts.ok());
  ASSERT_EQ(counts->size(), 1u);
  EXPECT_EQ((*counts)[0].issuer, "southbank");
  EXPECT_EQ((*counts)[0].queued, 1u);
  EXPECT_EQ((*counts)[0].parked, 1u);
  EXPECT_TRUE((*all)[1].parked);
  EXPECT_TRUE((*all)[1].message.empty());  // the list never carries the message
  // New ids keep increasing after a restart.
  Do(StandIn(pan, 50, "d"));
  pending = store_->SafPending("southbank", 10);
  ASSERT_EQ(pending->size(), 2u);
  EXPECT_GT((*pending)[1].id, third);
  ExpectVerified();
}

TEST_F(SafTest, TheMessageIsSealedAtRest) {
  const Pan pan = TestPan(11);
  Do(StandIn(pan, 100, "a"));
  store_.reset();
  // No file of the database holds the clear PAN.
  const std::string digits(pan.clear_digits());
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir_.path())) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(bytes.find(digits), std::string::npos) << entry.path();
  }
  // Under another card key the message does not open (and says so, rather than garbage).
  card_key_ = std::string(32, '\x11');
  Reopen();
  auto pending = store_->SafPending("southbank", 10);
  ASSERT_FALSE(pending.ok());
  EXPECT_TRUE(pending.status().IsCorruption()) << pending.status().ToString();
}

// Issue 5 gap: the link STAN and DE 7 of a routed request were kept in the route text, which is
// cut at 64 bytes; they are record fields now, and records written before them still decode.
TEST_F(SafTest, TheJournalKeepsTheIssuerFieldsAndOldRecordsStillDecode) {
  const Pan pan = TestPan(13);
  Request r = Remote(pan, ResponseCode::kApproved, "k1");
  r.route = "issuer " + std::string(40, 'i') + " via " + std::string(30, 'l') + " 812us";
  r.issuer_id = std::string(40, 'i');
  r.issuer_link = std::string(30, 'l');
  r.issuer_stan = 999'999;
  r.issuer_time = "1127050712";
  Do(r);
  Do(Remote(pan, ResponseCode::kApproved, "k2"));  // not routed: no issuer fields
  Reopen();
  std::vector<JournalRecord> records;
  ASSERT_TRUE(store_
                  ->ExportJournal(1, 0,
                                  [&](const JournalRecord& j) {
                                    records.push_back(j);
                                    return true;
                                  })
                  .ok());
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].issuer_id, std::string(40, 'i'));
  EXPECT_EQ(records[0].issuer_link, std::string(30, 'l'));
  EXPECT_EQ(records[0].issuer_stan, 999'999u);
  EXPECT_EQ(records[0].issuer_time, "1127050712");
  EXPECT_EQ(records[0].route.size(), Request::kFieldBytesMax);  // the text is still cut
  EXPECT_TRUE(records[1].issuer_id.empty());
  EXPECT_EQ(records[1].issuer_stan, 0u);
  ExpectVerified();

  // A record as written before the issuer fields: the same content ending at prev_hash.
  std::string old;
  codec::Writer w(&old);
  w.U8(1);
  w.U64(7);
  w.I64(kTestNowUnixUs);
  w.U8(static_cast<uint8_t>(Channel::kIso8583));
  w.U8(static_cast<uint8_t>(Operation::kRemoteDecision));
  for (const char* field :
       {"0100", "TERM0001", "", "100001", "000042", "", "411111******1111", "token"}) {
    w.Str(field);
  }
  w.I64(1234);
  w.U16(978);
  w.Str("issuer nordbank via nb-a 812us stan 17");
  w.U8(0);
  w.U8(0);
  w.Str("123456");
  w.U64(0);
  w.I64(5);
  w.Str("key");
  w.Str(std::string(32, '\0'));
  const std::string hash = codec::Sha256(old);
  auto decoded = codec::DecodeJournalRecord(old + hash);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->route, "issuer nordbank via nb-a 812us stan 17");
  EXPECT_TRUE(decoded->issuer_id.empty());
  EXPECT_EQ(decoded->issuer_stan, 0u);
  // Re-encoding it gives the same bytes, so the hash chain of old records verifies.
  JournalRecord again = *decoded;
  EXPECT_EQ(codec::SealJournalRecord(&again), old + hash);
  // A trailing section that is not the issuer's is corruption, not silently ignored.
  std::string bad = old;
  bad.push_back('\x09');
  EXPECT_FALSE(codec::DecodeJournalRecord(bad + codec::Sha256(bad)).ok());
}

// The approved amount of a partial approval is a trailing section after the issuer's: it
// round-trips with both, a record without it encodes as before, and a section out of order or
// repeated is corruption.
TEST(JournalCodec, TheApprovedAmountSectionRoundTripsAfterTheIssuerSection) {
  JournalRecord j;
  j.sequence = 9;
  j.operation = Operation::kRemoteDecision;
  j.amount = Amount(10'000, kEur);
  j.prev_hash = std::string(32, '\0');
  j.issuer_id = "nordbank";
  const std::string without = codec::SealJournalRecord(&j);
  j.approved_amount = Amount(6'000, kEur);
  const std::string with = codec::SealJournalRecord(&j);
  EXPECT_GT(with.size(), without.size());
  auto decoded = codec::DecodeJournalRecord(with);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->approved_amount, Amount(6'000, kEur));
  EXPECT_EQ(decoded->issuer_id, "nordbank");
  decoded = codec::DecodeJournalRecord(without);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->approved_amount.currency(), 0);
  // The approved section again after itself: refused, even with a matching hash.
  std::string content = with.substr(0, with.size() - 32);
  const std::string section = content.substr(content.size() - 11);  // tag + I64 + U16
  ASSERT_EQ(section[0], '\x03');
  std::string twice = content + section;
  EXPECT_FALSE(codec::DecodeJournalRecord(twice + codec::Sha256(twice)).ok());
}

// Issue 5 gap: the "already reversed" memory of remote originals was a process map, so after a
// restart a second, different reversal queued another 0420, and a completion after a reversal
// was approved and queued. Both are declined 12 now, from what the store keeps, across a restart.
TEST_F(SafTest, AReversedRemoteOriginalStaysReversedAcrossARestart) {
  const Pan pan = TestPan(14);
  ASSERT_EQ(Do(Remote(pan, ResponseCode::kApproved, "orig")).response_code,
            ResponseCode::kApproved);
  ASSERT_EQ(Do(Remote(pan, ResponseCode::kApproved, "orig2")).response_code,
            ResponseCode::kApproved);
  auto follow_up = [&](std::string key, std::string original, RemoteFollowUp kind) {
    Request r = Remote(pan, ResponseCode::kApproved, std::move(key));
    r.original_request_key = std::move(original);
    r.remote_follow_up = kind;
    r.saf_issuer = "nordbank";
    r.saf_if_approved = {kind == RemoteFollowUp::kReversal ? "0420" : "0220", "advice", 0};
    return r;
  };
  EXPECT_EQ(Do(follow_up("rev1", "orig", RemoteFollowUp::kReversal)).response_code,
            ResponseCode::kApproved);
  EXPECT_TRUE(Do(follow_up("rev1", "orig", RemoteFollowUp::kReversal)).duplicate);
  ASSERT_EQ(store_->SafPending("nordbank", 10)->size(), 1u);

  Reopen();
  Decision second = Do(follow_up("rev2", "orig", RemoteFollowUp::kReversal));
  EXPECT_EQ(second.response_code, ResponseCode::kInvalidTransaction);
  EXPECT_EQ(second.reason, Reason::kAlreadyResolved);
  Decision completion = Do(follow_up("cmp1", "orig", RemoteFollowUp::kCompletion));
  EXPECT_EQ(completion.response_code, ResponseCode::kInvalidTransaction);
  EXPECT_EQ(completion.reason, Reason::kAlreadyResolved);
  EXPECT_EQ(store_->SafPending("nordbank", 10)->size(), 1u);  // nothing more queued
  // Another original is not affected; a completion does not mark it reversed.
  EXPECT_EQ(Do(follow_up("cmp2", "orig2", RemoteFollowUp::kCompletion)).response_code,
            ResponseCode::kApproved);
  EXPECT_EQ(Do(follow_up("rev3", "orig2", RemoteFollowUp::kReversal)).response_code,
            ResponseCode::kApproved);
  EXPECT_EQ(store_->SafPending("nordbank", 10)->size(), 3u);

  // Forgotten after kFollowUpMemorySeconds, as the next note comes.
  clock_.Advance((kFollowUpMemorySeconds + 1) * 1'000'000);
  ASSERT_EQ(Do(Remote(pan, ResponseCode::kApproved, "orig3")).response_code,
            ResponseCode::kApproved);
  EXPECT_EQ(Do(follow_up("rev4", "orig3", RemoteFollowUp::kReversal)).response_code,
            ResponseCode::kApproved);
  Reopen();
  EXPECT_EQ(Do(follow_up("rev5", "orig", RemoteFollowUp::kReversal)).response_code,
            ResponseCode::kApproved);
  EXPECT_EQ(Do(follow_up("rev6", "orig3", RemoteFollowUp::kReversal)).response_code,
            ResponseCode::kInvalidTransaction);
  ExpectVerified();
}

// Issue 5 gap: a 0420 of a stand-in approval must name the 0120 as the issuer got it, and the
// 0120's STAN is the link's, chosen when it is sent. The ack keeps it for the 0420, whether the
// reversal came before the 0120 was sent or after, across a restart.
TEST_F(SafTest, A0420NamingA0120GetsTheStanItWasAcknowledgedUnder) {
  const Pan pan = TestPan(15);
  Decision stand_in = Do(StandIn(pan, 100, "s1"));
  ASSERT_EQ(stand_in.response_code, ResponseCode::kApproved);
  Request reversal = Remote(pan, ResponseCode::kApproved, "rev1");
  reversal.saf_issuer = "southbank";
  reversal.saf_if_approved = {"0420", "reversal", stand_in.journal_sequence};
  Do(reversal);
  auto pending = store_->SafPending("southbank", 10);
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 2u);
  EXPECT_EQ((*pending)[0].mti, "0120");
  EXPECT_EQ((*pending)[1].names_advice_of, stand_in.journal_sequence);
  EXPECT_EQ((*pending)[1].named_advice_stan, 0u);  // the 0120 has not gone yet

  ASSERT_TRUE(store_->SafRecordAttempt((*pending)[0].id).ok());
  ASSERT_TRUE(store_->SafAck((*pending)[0].id, 4711).ok());
  Reopen();
  pending = store_->SafPending("southbank", 10);
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ((*pending)[0].mti, "0420");
  EXPECT_EQ((*pending)[0].named_advice_stan, 4711u);
  EXPECT_EQ(store_->SafRecordAttempt((*pending)[0].id)->named_advice_stan, 4711u);
  // A 0420's own ack keeps no receipt; a 0120 acked without a STAN neither.
  ASSERT_TRUE(store_->SafAck((*pending)[0].id, 99).ok());
  Decision other = Do(StandIn(pan, 100, "s2"));
  pending = store_->SafPending("southbank", 10);
  ASSERT_EQ(pending->size(), 1u);
  ASSERT_TRUE(store_->SafAck((*pending)[0].id).ok());
  Request late = Remote(pan, ResponseCode::kApproved, "rev2");
  late.saf_issuer = "southbank";
  late.saf_if_approved = {"0420", "reversal", other.journal_sequence};
  Do(late);
  EXPECT_EQ((*store_->SafPending("southbank", 10))[0].named_advice_stan, 0u);
  ExpectVerified();
}

}  // namespace
}  // namespace kytkin::storage
