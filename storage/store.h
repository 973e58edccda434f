// Store: kytkin's double-entry ledger (two-phase transfers) and hash-chained journal.
//
// What it owns: accounts, cards (keyed by HMAC-SHA256 of the PAN, never the clear PAN), transfers
// (pending holds with an expiry, posts, voids, expiries, reversals, direct posted transfers),
// per-card daily velocity counters, the dedupe index (request key -> original decision) and the
// journal (one record per decision, each with a SHA-256 over its content and the previous
// record's hash). Every decision - ledger change, velocity, dedupe and journal record - is one
// atomic write.
//
// What it promises: a completion reports a decision only after the write holding it is durable
// (synced, "like write() then fdatasync()"), unless the loudly named
// StoreOptions::unsafe_disable_sync is set. Per currency the sum of all account balances is zero;
// a pending transfer resolves at most once; an account flagged kFlagDebitsMustNotExceedCredits
// never goes below zero. A failed write or sync is fatal: the store stops acknowledging, every
// later call fails with the same Status (health()), and nothing is retried.
//
// How it works: one ledger thread owns the in-memory state (the hot cache, rebuilt from disk on
// Open; cards and accounts as packed records, storage/compact_records.h, converted to the
// structs below at this API) and decides requests in arrival order, appending each decision to the
// open batch; one committer thread writes a batch with one synced write (group commit) while the
// ledger thread fills the next, and one completion thread runs a durable batch's completions while
// the committer writes the next. Decisions therefore see earlier decisions that are not yet synced;
// that is safe because a failed sync stops the store before anything of that batch is
// acknowledged.
//
// Memory: accounts, cards, open holds and today's velocity counters stay in memory. Every other
// transfer stays only until the batch that wrote it last is durable, the dedupe entries of the
// newest StoreOptions::dedupe_window_entries request keys as a ~100-byte summary; anything older
// is read back from RocksDB by key (bloom-filtered point reads) when a request names it, so
// memory does not grow with the number of requests, and a retransmission of an old request still
// gets its original answer. Open reads the open holds from their own column family (each entry
// written in the same batch as its transfer and deleted in the batch that resolves the hold), not
// every transfer; a data dir from before that index gets it by one full scan at its first Open.
// Settlement adds 16 bytes per open hold (approval sequence -> hold, for RRN lookups; rebuilt
// at Open from the open-hold entries, which carry the approval's sequence and terminal or
// merchant, ~13 bytes each; a hold whose entry has no value, written by a binary from before
// it or by the index's migration scan, is found through the journal) and ~100 bytes per run
// of consecutive item numbers decided together.
//
// Thread safety: every public method may be called from any thread. Completions run on the
// completion thread, in decision order; they must be short and must not block (post the result
// back to your own event loop; a slow completion holds back the answers behind it and, after a
// few batches, the committer). Calling Submit from a completion is allowed; the blocking calls
// (Execute, the administration, Get*, Verify*, Export*) are not - they would wait for the very
// thread they run on - and fail with FailedPrecondition there.
//
// Backends: kRocksDb (the real store, RocksDB private to storage/) and kMemory (same engine, maps
// in memory, for tests and models; "durable" means "applied").
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/amount.h"
#include "core/clock.h"
#include "core/pan.h"
#include "core/response_code.h"
#include "core/status.h"

namespace rocksdb {
class Env;
}

namespace kytkin::storage {

class Backend;  // storage/backend.h, private to storage/ (StoreOptions::wrap_backend_for_testing)

// ---------------------------------------------------------------------------------------------
// Accounts

enum class AccountKind : uint8_t {
  kCardholderDebit = 1,   // debit card account; normally flagged kFlagDebitsMustNotExceedCredits
  kCardholderCredit = 2,  // credit card account; may go negative down to -credit_limit
  kPrepaid = 3,           // prepaid / gift card; normally flagged like a debit account
  kMerchant = 4,
  kAcquirerSettlement = 5,
  kIssuerSettlement = 6,  // the per-currency counterparty the store creates on demand
  kFees = 7,
};
std::string_view AccountKindName(AccountKind kind);  // "cardholder_debit"
std::optional<AccountKind> ParseAccountKind(std::string_view name);

enum class AccountStatus : uint8_t { kOpen = 1, kBlocked = 2, kClosed = 3 };
std::string_view AccountStatusName(AccountStatus status);  // "open"
std::optional<AccountStatus> ParseAccountStatus(std::string_view name);

// Account::flags bits.
inline constexpr uint32_t kFlagDebitsMustNotExceedCredits = 1u << 0;

// Ids at or above this are reserved for the per-currency issuer settlement accounts
// (kSettlementAccountBase + ISO 4217 numeric), created by the store on first use.
inline constexpr uint64_t kSettlementAccountBase = 0xFFFF'0000'0000'0000ull;
constexpr uint64_t SettlementAccountId(uint16_t currency) {
  return kSettlementAccountBase + currency;
}
// Ids from here on are the receivable accounts of remote issuers, one per issuer and currency,
// made by settlement on its first off-us capture for them (Store::GetIssuerReceivable).
inline constexpr uint64_t kRemoteIssuerAccountBase = kSettlementAccountBase + 0x1'0000;

struct Account {
  uint64_t id = 0;  // > 0 and < kSettlementAccountBase for accounts made by callers
  AccountKind kind = AccountKind::kCardholderDebit;
  uint16_t currency = 0;  // ISO 4217 numeric
  AccountStatus status = AccountStatus::kOpen;
  uint32_t flags = 0;              // kFlag* bits
  int64_t credit_limit_minor = 0;  // kCardholderCredit only: how far below zero it may go
  std::string name;                // display name, at most kNameBytesMax bytes
  // Totals in minor units of `currency`, maintained by the store (ignored on create).
  int64_t debits_posted = 0;
  int64_t credits_posted = 0;
  int64_t debits_pending = 0;
  int64_t credits_pending = 0;

  static constexpr size_t kNameBytesMax = 128;

  // credits_posted - debits_posted.
  int64_t balance() const { return credits_posted - debits_posted; }
  // What a new debit may use: balance - debits_pending (+ credit_limit for credit accounts).
  int64_t available() const;
};

// ---------------------------------------------------------------------------------------------
// Cards

enum class CardStatus : uint8_t {
  kActive = 1,
  kInactive = 2,  // issued gift card not yet activated
  kBlocked = 3,   // declines 62
  kLost = 4,      // declines 41
  kStolen = 5,    // declines 43
  kExpired = 6,   // declines 54
};
std::string_view CardStatusName(CardStatus status);  // "active"
std::optional<CardStatus> ParseCardStatus(std::string_view name);

struct Card {
  std::string token;       // lowercase hex of HMAC-SHA256(card key, PAN digits), 64 chars
  std::string masked_pan;  // "411111******1111"
  uint64_t account_id = 0;
  int expiry_year = 0;   // four digits; the card is valid through the end of expiry_month (UTC)
  int expiry_month = 0;  // 1..12
  CardStatus status = CardStatus::kActive;
  // Per-card limits in minor units of the account currency; 0 means "no limit".
  int64_t single_amount_max_minor = 0;  // one authorization or purchase (declines 61)
  int64_t daily_amount_max_minor = 0;   // sum of approved debits per UTC day (declines 61)
  uint32_t daily_count_max = 0;         // approved debits per UTC day (declines 65)
};

// ---------------------------------------------------------------------------------------------
// Transfers

enum class TransferKind : uint8_t {
  kPending = 1,        // a hold: moves debit/credit *_pending
  kPosted = 2,         // a direct posted transfer (purchase, refund, load, advice, opening)
  kPostPending = 3,    // posts (part of) a pending transfer
  kVoidPending = 4,    // voids a pending transfer (reversal of an authorization)
  kExpirePending = 5,  // the sweeper released a hold past its expiry
  kReversal = 6,       // reverses a posted transfer (opposite direction)
};
std::string_view TransferKindName(TransferKind kind);

enum class TransferState : uint8_t {
  kPending = 1,   // hold still open
  kPosted = 2,    // pending that was posted, or a direct posted transfer
  kVoided = 3,    // pending that was voided
  kExpired = 4,   // pending that expired
  kReversed = 5,  // posted transfer that a kReversal undid
  kFinal = 6,     // resolution records (post/void/expire/reversal) themselves
};
std::string_view TransferStateName(TransferState state);

struct Transfer {
  uint64_t id = 0;
  TransferKind kind = TransferKind::kPosted;
  TransferState state = TransferState::kFinal;
  uint64_t debit_account = 0;
  uint64_t credit_account = 0;
  Amount amount;
  uint64_t pending_id = 0;   // for kPostPending/kVoidPending/kExpirePending/kReversal: original
  uint64_t resolved_by = 0;  // for kPending/kPosted: the transfer that resolved it, 0 if none
  int64_t posted_amount_minor = 0;  // for a posted pending: the amount actually posted
  // For a posted pending: the settlement refund items naming it, summed; never above
  // posted_amount_minor (a refund past it is declined 13 refund_exceeds_captured).
  int64_t refunded_minor = 0;
  int64_t created_unix_us = 0;
  int64_t expires_unix_us = 0;  // kPending only
  // The card of the request that made it; resolutions inherit the original's. Empty for
  // opening balances.
  std::string card_token;
};

// ---------------------------------------------------------------------------------------------
// Requests and decisions

enum class Operation : uint8_t {
  kAuthorize = 1,       // 0100: checks + pending hold card account -> counterparty
  kCapture = 2,         // 0220 completion: post a hold fully or partly (never more)
  kReverse = 3,         // 0400/0420: void a hold, or reverse a posted purchase/capture
  kPurchase = 4,        // 0200 DE3=00: checks + direct posted transfer
  kRefund = 5,          // 0200 DE3=20: credit the cardholder, debit the counterparty
  kBalanceInquiry = 6,  // 0200 DE3=31: card checks, no ledger change
  kGiftActivate = 7,    // inactive gift card -> active, loaded with `amount` (may be 0)
  kGiftReload = 8,      // load `amount` onto an active card
  kAdvice = 9,          // 0120/0220 offline approval: post without funds or limit checks
  kExpire = 10,         // internal: the sweeper expiring one hold (journal only)
  // Remote issuers (issue 5); numbered apart so other additions do not collide.
  // An answer decided elsewhere (the issuer's, or kytkin's 91 when it could not reach it) is
  // journaled (and deduped) with no ledger change: Request::remote_response / remote_auth_code.
  kRemoteDecision = 20,
  // Stand-in for an unreachable issuer: the issuer's per-card daily stand-in limits (separate
  // counters from the card's own), then, when kytkin's ledger knows the card, its status,
  // expiry, limits and funds and a hold as for kAuthorize. A card kytkin does not know is
  // approved within the stand-in limits without a ledger transfer.
  kStandIn = 21,
  // Settlement items (issue 6, see "Settlement" below), numbered apart like the above. Each is
  // decided in one atomic write, exactly once per request key (batch id + item number).
  kSettleCapture = 40,   // post the authorization's hold (tolerance above it), or force-post
  kSettleRefund = 41,    // credit the cardholder (the merchant is debited at payout)
  kSettleReversal = 42,  // void the hold, or reverse its capture
  // Journal only: one record for a chunk of items of one batch decided together
  // (Store::SubmitSettlementChunk); each item's outcome is in JournalRecord::settlement_items.
  kSettleChunk = 43,
};
std::string_view OperationName(Operation op);  // "authorize"
std::optional<Operation> ParseOperation(std::string_view name);

enum class Channel : uint8_t { kIso8583 = 1, kGrpc = 2, kCli = 3, kInternal = 4 };
std::string_view ChannelName(Channel channel);

// Finer reason behind a response code, for logs, metrics and tests.
enum class Reason : uint8_t {
  kNone = 0,
  kUnknownCard,          // 14
  kCardLost,             // 41
  kCardStolen,           // 43
  kCardBlocked,          // 62 (card or account blocked/closed)
  kCardInactive,         // 62
  kCardExpired,          // 54 (status or expiry date)
  kCurrencyMismatch,     // 13
  kInvalidAmount,        // 13 (amount <= 0 where a positive amount is needed)
  kSingleAmountLimit,    // 61
  kDailyAmountLimit,     // 61
  kDailyCountLimit,      // 65
  kInsufficientFunds,    // 51
  kUnknownOriginal,      // 25
  kCaptureExceedsHold,   // 13
  kAlreadyResolved,      // 12 (double post / double void / reversal of a reversed transfer)
  kHoldExpired,          // 12 (capture or void after the hold expired)
  kNotReversible,        // 12 (the original is not a hold or posted debit of this store)
  kDuplicateConflict,    // 94 (same request key, different content)
  kInvalidRequest,       // 30 (missing card, bad fields)
  kAdviceWouldOverdraw,  // 51 (advice on a kFlagDebitsMustNotExceedCredits account)
  // 05: the original of a reversal that arrived first. The reversal is remembered (durably, in
  // the dedupe index under the original's request key) so the late original cannot take money.
  kReversedBeforeOriginal,
  // Settlement items (issue 6), numbered apart so other additions do not collide.
  kForcePosted = 40,           // 00, flagged: an offline sale without authorization, posted
  kCaptureOverTolerance = 41,  // 13: capture above the hold by more than the tolerance
  kCaptureConflict = 42,       // 94: the authorization was already captured (another item)
  kBatchNotOpen = 43,          // 12: unknown batch, or balanced / settled (no new items)
  // 12: the authorization's terminal (or, made without one, its merchant) or auth code differs
  // from the item's, or the item names it by transfer id only (which ties it to no terminal).
  kOriginalMismatch = 44,
  kRefundExceedsCaptured = 45,  // 13: refunds naming an authorization above what it captured
  // 96: a record the decision needed (a transfer or dedupe entry the store no longer keeps in
  // memory) could not be read from RocksDB. Not remembered under the request key: a retry is
  // decided again.
  kStorageReadFailed = 60,
};
std::string_view ReasonName(Reason reason);

// ---------------------------------------------------------------------------------------------
// Store-and-forward (SAF): advices kytkin owes remote issuers

// An advice to queue with a decision: the MTI of its first send ("0120", "0420"; repeats go as
// 0121/0421) and the packed ISO 8583 message (no frame header). The message carries the clear
// PAN: the store seals it (AES-256-GCM, key derived from the card key) before it reaches disk.
struct SafAdvice {
  std::string mti;
  std::string message;  // empty: nothing to queue
  // A 0420 of a stand-in approval: the journal sequence of that approval, whose 0120 this
  // reversal names in DE 90. The 0120's STAN is the link's, chosen when it is sent, so the
  // sender fills it in from SafMessage::named_advice_stan. 0 = names no advice.
  uint64_t names_advice_of = 0;
};

struct SafMessage {
  uint64_t id = 0;  // increasing in arrival order
  std::string issuer;
  std::string mti;
  std::string message;  // unsealed by SafPending/SafRecordAttempt only; empty in SafList
  std::string masked_pan;
  ResponseCode response_code = ResponseCode::kSystemMalfunction;  // the decision it reports
  std::string auth_code;                                          // of that decision, if any
  uint64_t journal_sequence = 0;                                  // of that decision
  int64_t created_unix_us = 0;
  uint32_t attempts = 0;  // sends so far (recorded before each send)
  bool parked = false;    // retries exhausted (or the issuer is gone): not sent again
  // SafAdvice::names_advice_of, and the STAN the named 0120 was acknowledged under (SafAck), when
  // it was (0 = not yet, or parked). Filled by SafPending / SafRecordAttempt.
  uint64_t names_advice_of = 0;
  uint32_t named_advice_stan = 0;
};

// A follow-up of an original decided elsewhere (a remote issuer's approval, or a stand-in
// approval without a kytkin hold), decided as a kRemoteDecision: the store keeps, durably and
// beside the SAF queue, which such originals were reversed, so a second, different reversal and a
// completion after the reversal are declined 12 (kAlreadyResolved) with nothing queued, also
// after a restart. An approved completion takes the original's capture (see "Settlement"
// below): a second completion is declined 12, and a settlement capture of it 94.
enum class RemoteFollowUp : uint8_t { kNone = 0, kReversal = 1, kCompletion = 2 };
// How long the store remembers a reversed remote original and the STAN an acknowledged 0120 went
// under, seconds: longer than any reversal or completion window of the card networks (30 days).
// Older entries are dropped as new ones come. 35 days.
inline constexpr int64_t kFollowUpMemorySeconds = 35 * 24 * 3600;

struct Request {
  Operation operation = Operation::kAuthorize;
  // Dedupe key (DESIGN.md §3: DE32+DE41+DE11+DE7, or the gRPC idempotency key). Empty: no dedupe.
  // A later request with the same key and the same content gets the original decision back
  // (Decision::duplicate = true); the same key with different content is declined 94. At most
  // kRequestKeyBytesMax bytes.
  std::string request_key;
  // The card: a PAN (hashed with the card key inside the store) or a card token. Not needed for
  // kCapture/kReverse, which find the card through the original.
  std::optional<Pan> pan;
  std::string card_token;
  // Amount in the card account's currency (a different currency declines 13). kCapture: 0 means
  // the whole hold. kReverse always undoes the whole original and ignores the amount.
  Amount amount;
  // The other side of the transfer; 0 = the issuer settlement account of the currency.
  uint64_t counterparty_account = 0;
  // kCapture/kReverse: the original, by its request key or its transfer id (key wins if set).
  std::string original_request_key;
  uint64_t original_transfer_id = 0;
  // Journal fields (free text, each at most kFieldBytesMax bytes).
  Channel channel = Channel::kIso8583;
  std::string mti;          // "0100"
  std::string terminal_id;  // DE 41
  std::string merchant_id;  // DE 42
  std::string acquirer_id;  // DE 32
  std::string stan;         // DE 11
  std::string rrn;          // DE 37
  std::string route = "on-us";
  // Routed requests: the issuer (routing table id) and link it went to, the link's STAN (DE 11
  // as the issuer saw it; 0 = never sent) and DE 7 as sent (MMDDhhmmss), so a follow-up names
  // the original to the issuer whatever the route text holds. Empty / 0 when not routed.
  std::string issuer_id;
  std::string issuer_link;
  uint32_t issuer_stan = 0;
  std::string issuer_time;
  // Monotonic time (Clock::NowMonotonicMicros) the request arrived, for the journal's latency;
  // 0 = the time of Submit.
  int64_t received_monotonic_us = 0;

  // Remote issuers (issue 5).
  // kRemoteDecision: the answer to journal and return, and its DE 38 (at most 6 characters).
  ResponseCode remote_response = ResponseCode::kSystemMalfunction;
  std::string remote_auth_code;
  // kRemoteDecision: the available balance the issuer reported (DE 54), returned as
  // Decision::available; currency 0 = none.
  Amount remote_available;
  // kRemoteDecision: what the issuer approved when it approved less than `amount` (a partial
  // approval: DE 39 10 with the approved amount in DE 4); returned as Decision::approved_amount
  // and journaled (JournalRecord::approved_amount), so a completion or a settlement capture is
  // bounded by it. Currency 0 = all of `amount`. Another currency, <= 0 or above `amount` is
  // declined 30.
  Amount remote_approved_amount;
  // kStandIn: the issuer's stand-in limits per card and UTC day, including this request (0 = no
  // limit), and the answer when they are exceeded (normally 91).
  int64_t stand_in_daily_amount_max_minor = 0;
  uint32_t stand_in_daily_count_max = 0;
  ResponseCode stand_in_decline = ResponseCode::kIssuerUnavailable;
  // Store-and-forward: with saf_issuer set, the advice for the outcome (approved or not) is
  // queued for that issuer in the same atomic write as the decision (not for a retransmission).
  std::string saf_issuer;
  SafAdvice saf_always;  // queued first, whatever the outcome (the 0420 of a timed-out request)
  SafAdvice saf_if_approved;
  SafAdvice saf_if_declined;
  // kRemoteDecision of a terminal's reversal or completion of `original_request_key` (see
  // RemoteFollowUp): an approval of a reversal marks the original reversed.
  RemoteFollowUp remote_follow_up = RemoteFollowUp::kNone;

  // Settlement items (issue 6, kSettle*). `rrn` names the authorization by kytkin's RRN (the
  // journal sequence of the approval), an alternative to original_request_key. The item's batch
  // (OpenSettlementBatch); the auth code the acquirer holds (checked when set); how far a capture
  // may exceed its hold: min(hold * capture_tolerance_bps / 10000, capture_tolerance_minor_max),
  // both 0 = not at all.
  std::string batch_id;
  std::string original_auth_code;
  uint32_t capture_tolerance_bps = 0;
  int64_t capture_tolerance_minor_max = 0;
  // The item's number within its batch (1..): its exactly-once key on every channel, so an item
  // decided in a chunk (SubmitSettlementChunk) and the same item sent alone (ISO 8583 0320) are
  // one item. 0: the request key alone identifies it.
  uint64_t settlement_item_number = 0;

  static constexpr size_t kRequestKeyBytesMax = 128;
  static constexpr size_t kFieldBytesMax = 64;
};

struct Decision {
  ResponseCode response_code = ResponseCode::kSystemMalfunction;
  Reason reason = Reason::kNone;
  std::string auth_code;          // 6 digits when approved, else empty
  uint64_t transfer_id = 0;       // the transfer this decision created, 0 if none
  Amount approved_amount;         // what moved or was held; 0 on a decline
  Amount available;               // card account's available funds after the decision
  uint64_t journal_sequence = 0;  // the journal record of this decision (of the original if dup)
  bool duplicate = false;         // true: a retransmission answered with the original decision
  std::string card_token;         // the card's token when known

  bool approved() const { return IsApproval(response_code); }
};

// ---------------------------------------------------------------------------------------------
// Journal

// One item of a kSettleChunk record: what the acquirer sent and what was decided. The card is
// named by the transfer (Transfer::card_token) or, for an item sent with a PAN, by its masked PAN.
struct SettlementItemRecord {
  uint64_t number = 0;                              // Request::settlement_item_number
  Operation operation = Operation::kSettleCapture;  // kSettleCapture/Refund/Reversal
  ResponseCode response_code = ResponseCode::kSystemMalfunction;
  Reason reason = Reason::kNone;
  int64_t amount_minor = 0;    // what the item asked for, in the batch currency
  int64_t approved_minor = 0;  // what moved; 0 when declined
  uint64_t transfer_id = 0;    // the transfer the item created; 0 when declined
  // FNV-1a of the item's content: a resubmission with the same number and other content is
  // declined 94 instead of being answered with this outcome.
  uint64_t fingerprint = 0;
  // false: not remembered under its number (a 94 for other content under a decided number, a
  // 30, a 96), so a resubmission of the item is decided again.
  bool remembered = true;
  std::string rrn, original_request_key, masked_pan;  // the item's references, as sent
};

struct JournalRecord {
  uint64_t sequence = 0;  // 1, 2, 3, ... without gaps
  int64_t time_unix_us = 0;
  Channel channel = Channel::kIso8583;
  Operation operation = Operation::kAuthorize;
  std::string mti, terminal_id, merchant_id, acquirer_id, stan, rrn;
  std::string masked_pan;  // never the clear PAN
  std::string card_token;
  Amount amount;
  std::string route;
  ResponseCode response_code = ResponseCode::kSystemMalfunction;
  Reason reason = Reason::kNone;
  std::string auth_code;
  uint64_t transfer_id = 0;
  int64_t latency_us = 0;  // request arrival to decision
  std::string request_key;
  // Request::issuer_id / issuer_link / issuer_stan / issuer_time. Records written before these
  // fields existed decode with them empty.
  std::string issuer_id, issuer_link;
  uint32_t issuer_stan = 0;
  std::string issuer_time;
  // kSettleChunk records only: the batch and every item decided in the chunk, in order (the
  // record's own amount, response code and transfer id are 0). Other records decode with these
  // empty.
  std::string settlement_batch_id;
  std::vector<SettlementItemRecord> settlement_items;
  // What was approved when it is less than `amount`: an issuer's partial approval
  // (Request::remote_approved_amount). Currency 0: all of `amount` (or nothing, declined).
  // Records without it encode and hash as before it existed.
  Amount approved_amount;
  std::string prev_hash;  // 32 bytes: hash of record sequence-1 (zeros for the first)
  std::string hash;       // 32 bytes: SHA-256 over the encoded content including prev_hash
};

// ---------------------------------------------------------------------------------------------
// Verification reports

struct LedgerReport {
  uint64_t accounts = 0;
  uint64_t transfers = 0;
  uint64_t pending_open = 0;
  std::vector<std::string> violations;  // empty: all invariants hold
  bool ok() const { return violations.empty(); }
};

struct JournalReport {
  uint64_t records = 0;
  uint64_t last_sequence = 0;
  std::vector<std::string> violations;  // empty: checksums and the hash chain are intact
  bool ok() const { return violations.empty(); }
};

// ---------------------------------------------------------------------------------------------
// Settlement (issue 6): acquirer batches
//
// Money flows (double entry, DESIGN.md §3: the hold runs from the cardholder toward the
// counterparty of the authorization, normally the issuer settlement account of the currency):
//   capture item    posts the hold: cardholder -> hold's counterparty (partial: the rest is
//                   released; above the hold within the tolerance: the extra is posted too)
//   force-post item cardholder -> issuer settlement, posted without a hold (flagged kForcePosted)
//   refund item     issuer settlement -> cardholder
//   reversal item   voids the hold, or reverses its capture (counterparty -> cardholder)
//   off-us items    an authorization a remote issuer approved (journal kRemoteDecision, or a
//                   kStandIn approval without a hold here) has no hold in this ledger: its
//                   capture posts the issuer's receivable account (GetIssuerReceivable) ->
//                   the batch's acquirer settlement account, which the payout passes on to the
//                   merchant; a refund naming it runs back (acquirer -> receivable, at most what
//                   was captured), a reversal reverses the capture. Captured at most once, like
//                   a hold, with the tolerance over what the issuer approved (after a partial
//                   approval, JournalRecord::approved_amount); not once its reversal went to
//                   the issuer online; an uncaptured one is not reversed by an item (12: the
//                   issuer releases its own hold).
//                   An online completion (0220) the terminal sent, which kytkin passed on to
//                   the issuer, is that authorization's capture: the issuer posts its hold on
//                   it and clears the sale with the acquirer through the scheme, outside
//                   kytkin's batches. So a capture item naming it is declined 94
//                   (kCaptureConflict; not in the batch totals, so the acquirer's batch
//                   reconciles without it), a refund item naming it 13 (nothing captured here)
//                   and a reversal item 12; and an online completion of an authorization a
//                   capture item took is declined 94, a second online completion 12. The mark
//                   is durable (the off-us capture index) and never expires.
//   payout          at cut-over, per batch: acquirer settlement -> merchant (gross captures less
//                   reversed captures), merchant -> acquirer settlement (refunds), merchant ->
//                   fees (the merchant's fee). The issuer side is credited and the acquirer side
//                   debited by the same net amount; the scheme settles the two outside kytkin.
// Every item and every payout is one atomic write with its journal record (items) and the batch
// record, so a crash never leaves a half-posted item or a batch total that disagrees with it.

enum class BatchState : uint8_t {
  kOpen = 1,      // accepting items
  kBalanced = 2,  // declared totals matched kytkin's: closed to items, waiting for the payout
  kSettled = 3,   // paid out at cut-over (reconciled or not); final
};
std::string_view BatchStateName(BatchState state);  // "open"

// Largest settlement item, minor units: the 12 digits of ISO 8583 DE 4, on every channel (a CSV
// or gRPC amount could otherwise reach INT64_MAX and overflow an account or a batch total).
inline constexpr int64_t kSettlementItemMinorMax = 999'999'999'999;
// Largest batch total (captures, refunds or reversals), minor units: the 16 digits of DE 86-89,
// which the 0510 carries back. The item that would pass it is declined 13.
inline constexpr int64_t kSettlementBatchMinorMax = 9'999'999'999'999'999;

// Counts and amounts (minor units of the batch currency) as ISO 8583 0500 carries them:
// captures = debits (DE 76 count / DE 88 amount), reversals = debit reversals (DE 77 / DE 89),
// refunds = credits (DE 74 / DE 86); credit reversals (DE 75 / DE 87) are not used.
struct BatchTotals {
  uint64_t captures_count = 0;
  int64_t captures_minor = 0;
  uint64_t refunds_count = 0;
  int64_t refunds_minor = 0;
  uint64_t reversals_count = 0;
  int64_t reversals_minor = 0;
  // DE 97 as kytkin signs it by default: debits minus credits as the acquirer counts them. Not
  // the payout: a reversal that voids an uncaptured hold lowers it though nothing was captured;
  // the merchant is paid SettlementBatch::gross_minor() - refunds - fee (PayOut).
  int64_t net_minor() const { return captures_minor - reversals_minor - refunds_minor; }
  bool operator==(const BatchTotals&) const = default;
};

struct SettlementBatch {
  std::string batch_id;  // unique per acquirer batch, at most Request::kRequestKeyBytesMax/2
  BatchState state = BatchState::kOpen;
  int32_t business_date = 0;  // days since 1970-01-01 (see CutOverSettlement)
  std::string acquirer_id, terminal_id, merchant_id;  // DE 32, 41, 42
  uint16_t currency = 0;                              // ISO 4217 numeric; items must match
  // Payout accounts (must exist in `currency`) and the merchant's fee: fee_bps of the gross plus
  // fee_fixed_minor per capture.
  uint64_t merchant_account = 0;
  uint64_t acquirer_account = 0;
  uint64_t fees_account = 0;
  uint32_t fee_bps = 0;
  int64_t fee_fixed_minor = 0;
  // Kept by the store.
  BatchTotals held;      // kytkin's totals of the items it accepted
  BatchTotals declared;  // the last totals the acquirer declared (ReconcileSettlementBatch)
  uint32_t reconcile_attempts = 0;
  uint64_t forced_count = 0;            // captures force-posted without an authorization
  uint64_t rejected_count = 0;          // items declined (each has its own decision)
  int64_t reversed_captures_minor = 0;  // reversals that took back a posted capture
  bool reconciled = false;              // declared == held at some reconciliation
  int64_t fee_minor = 0;                // set at payout
  int64_t payout_minor = 0;             // set at payout: gross - refunds - fee
  int64_t opened_unix_us = 0;
  int64_t settled_unix_us = 0;
  // Gross the merchant is credited at payout.
  int64_t gross_minor() const { return held.captures_minor - reversed_captures_minor; }
};

// ---------------------------------------------------------------------------------------------
// The store

struct StoreOptions {
  enum class Backend { kRocksDb, kMemory };
  // Where the data lives. Default kRocksDb.
  Backend backend = Backend::kRocksDb;
  // RocksDB directory (created if absent). Required for kRocksDb, ignored for kMemory.
  std::string data_dir;
  // The 32-byte HMAC key for card tokens, raw bytes. Required. See LoadOrCreateCardKey.
  std::string card_key;
  // Time source for expiries, velocity days and journal times. Not owned; default the system
  // clock. Must outlive the store.
  const Clock* clock = nullptr;
  // Group commit: most decisions in one synced write. Default 4096; 1 disables grouping.
  size_t batch_decisions_max = 4096;
  // Submitted requests waiting for the ledger thread; Submit fails with ResourceExhausted
  // beyond this. Default 65536.
  size_t queue_requests_max = 65536;
  // How long an authorization hold lives before the sweeper may expire it, seconds. Default
  // 7 days.
  int64_t hold_ttl_seconds = 7 * 24 * 3600;
  // How often the ledger thread sweeps expired holds, milliseconds; 0 disables the automatic
  // sweep (SweepExpiredHolds still works). Default 1000.
  int64_t sweep_interval_ms = 1000;
  // Holds expired per sweep, so a sweep never stalls authorizations for long. Default 1024.
  size_t sweep_holds_max = 1024;
  // DANGER: write the WAL without fdatasync. Acknowledged decisions survive a process crash but
  // can be lost on power failure or an OS crash. For experiments only. Default false.
  bool unsafe_disable_sync = false;
  // RocksDB memtable size per column family, bytes. Default 64 MiB.
  size_t rocksdb_write_buffer_bytes = 64 << 20;
  // At a clean close (the destructor), RocksDB's memtables are written to table files when the
  // write-ahead logs hold at least this many bytes, so the next open does not replay them,
  // which is slower (after a 2M-card import: close +0.9 s, next open -2.5 s). Smaller ones
  // are left to the replay: a flush costs a few fsyncs per column family (~0.1-0.3 s here).
  // Bytes; 0 flushes at every close. Default 32 MiB.
  size_t rocksdb_flush_on_close_bytes_min = 32 << 20;
  // Request keys whose dedupe entry the store keeps in memory, newest first: a 16-byte hash of
  // the key, its content fingerprint, transfer and journal sequence, ~100 bytes each. An older
  // key costs one RocksDB point read when a request or a follow-up (capture, reversal,
  // settlement item) names it; its retransmission still gets the original answer, or 94 with
  // other content. Entries of batches not yet durable stay whatever this says. 0: only those.
  // Default 0: a new key misses the window anyway (and pays the bloom-filtered read), so a
  // window only spares the rare retransmission or follow-up a read, while its inserts and
  // evictions in a 262,144-entry table cost the ledger thread cache misses on every request
  // (storage_bench Pipelined/8 under perf: 10.8-12.8 ledger-thread samples per 1,000
  // authorizations at 0 against 13.9-16.0 at 262,144).
  size_t dedupe_window_entries = 0;
  // Called on the committer thread after each batch is durable, before its completions run:
  // how many decisions the batch carried and how long the write + sync took. For metrics; must
  // be quick and must not call the store. Default: none.
  std::function<void(size_t batch_decisions, int64_t commit_us)> on_commit;
  // For fault tests: the RocksDB Env to use (not owned). Default: the process's default Env.
  rocksdb::Env* rocksdb_env_for_testing = nullptr;
  // For fault tests: wraps the backend Open made (RocksDB or memory) before the store uses it,
  // e.g. to fail point reads on the decision path (storage/fault_backend.h). Default: none.
  std::function<std::unique_ptr<storage::Backend>(std::unique_ptr<storage::Backend>)>
      wrap_backend_for_testing;
};

class Store {
 public:
  using Completion = std::function<void(Result<Decision>)>;

  // Opens (or creates) the store and rebuilds the in-memory state from disk. Fails on a corrupt
  // record or a journal chain that does not end where the stored head says.
  static Result<std::unique_ptr<Store>> Open(const StoreOptions& options);

  // Stops the threads after committing everything already submitted; completions still run.
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Queues a request. OK: `done` will be called exactly once, on the completion thread, with the
  // decision once it is durable, or with the store's fatal Status if the write failed (then the
  // decision must not be reported as approved: it is not on disk). Not OK (queue full, store
  // stopped or failed): `done` is never called.
  Status Submit(Request request, Completion done);

  // Submit and wait. For tools and tests, not the event loop.
  Result<Decision> Execute(Request request);

  // Settlement items of one batch decided together (the file and gRPC channels): each item
  // (Operation::kSettle*, the same batch_id, settlement_item_number >= 1, distinct numbers
  // are not required) is decided in order by the same rules as a single item, and the chunk is
  // one journal record carrying every item's outcome (JournalRecord::settlement_items), durable
  // before `done` runs once with one Decision per item, in order. An item whose number was
  // decided before (in a chunk or alone, also before a restart) gets that decision back
  // (Decision::duplicate), or 94 when its content differs; nothing moves twice. A bad item is
  // declined on its own; its neighbours are decided as usual.
  // InvalidArgument (nothing submitted, `done` never called): empty, more than
  // kSettlementChunkItemsMax items, mixed batch ids, a non-settlement operation or number 0.
  // Otherwise as Submit.
  using ChunkCompletion = std::function<void(Result<std::vector<Decision>>)>;
  static constexpr size_t kSettlementChunkItemsMax = 1024;
  Status SubmitSettlementChunk(std::vector<Request> items, ChunkCompletion done);

  // Administration; each is one atomic durable write, ordered with the decisions.
  // Creates an account; a positive opening balance is a posted transfer from the issuer
  // settlement account of its currency (so balances still sum to zero). AlreadyExists if the id
  // is taken; InvalidArgument on a bad field (message names it).
  Status CreateAccount(const Account& account, int64_t opening_balance_minor = 0);
  Status SetAccountStatus(uint64_t account_id, AccountStatus status);
  // Creates a card for `pan` (token computed here; `card.token`/`masked_pan` are ignored) and
  // returns it. AlreadyExists if the PAN has a card; NotFound if the account does not exist.
  Result<Card> CreateCard(const Pan& pan, const Card& card);
  // NotFound for an unknown card; InvalidArgument when the token is not 64 lowercase hex digits
  // (message names card_token) or the status is not a CardStatus.
  Status SetCardStatus(std::string_view card_token, CardStatus status);

  // One row of a bulk import: an account to create (optional), a card to create for a PAN
  // (optional; its account is `account` or an existing one), or both.
  struct ImportRow {
    std::optional<Account> account;
    int64_t opening_balance_minor = 0;
    std::optional<Pan> pan;
    Card card;
  };
  // Applies each row on its own: a row either applies whole or not at all (its Status says
  // why), and the other rows are unaffected. All rows share one durable write. The outer
  // Status is the store's failure, if any.
  Result<std::vector<Status>> Import(const std::vector<ImportRow>& rows);

  // Reads of the ledger thread's view (includes decisions not yet durable; a transfer or decision
  // no longer in memory is read from disk).
  Result<Account> GetAccount(uint64_t account_id);
  // NotFound for an unknown card; InvalidArgument (naming card_token) for a malformed token.
  Result<Card> GetCard(std::string_view card_token);
  Result<Transfer> GetTransfer(uint64_t transfer_id);
  // The decision recorded for a request key (the dedupe index). NotFound when the key is unknown.
  Result<Decision> FindDecision(std::string_view request_key);
  // The same without blocking, for event loops (a routed request asks before it goes to an
  // issuer): `done` runs once on the completion thread, in order with the decisions, with the
  // decision or NotFound. Not OK (queue full, stopped): `done` is never called.
  Status SubmitFindDecision(std::string request_key, Completion done);
  // The decision for a request key with its journal record (operation, route, MTI), for a
  // reversal that must know where its original was decided (a remote issuer). `done` runs once
  // on the completion thread; NotFound when the key is unknown or its record is not durable yet.
  // Not OK (queue full, stopped): `done` is never called.
  struct FoundDecision {
    Decision decision;
    JournalRecord record;
  };
  Status SubmitFindDecisionRecord(std::string request_key,
                                  std::function<void(Result<FoundDecision>)> done);
  // The card token of a PAN under this store's key (lowercase hex, 64 chars).
  std::string CardToken(const Pan& pan) const;

  // Memory held by the card and account caches and by RocksDB, bytes: what was requested from
  // the allocator (its own overhead and free lists not included). For benchmarks and metrics.
  struct MemoryUsage {
    uint64_t cards = 0;
    uint64_t card_bytes = 0;  // packed records (84 bytes each, velocity included) + index
    uint64_t accounts = 0;
    uint64_t account_bytes = 0;  // packed records (56 bytes each) + index + the names kept aside
    uint64_t rocksdb_bytes = 0;  // memtables, block cache, index/filter blocks; 0 for kMemory
  };
  Result<MemoryUsage> GetMemoryUsage();
  // What the store keeps in memory per request, for tests and metrics. Transfers stay only
  // while they can change in memory (open holds) or their batch is not durable yet; dedupe
  // entries in a window (StoreOptions::dedupe_window_entries); the rest is read back from disk.
  struct MemoryStats {
    uint64_t resident_transfers = 0;  // open holds + transfers of batches not yet evicted
    uint64_t open_holds = 0;          // pending transfers (the sweeper's queue)
    uint64_t dedupe_window_entries = 0;
    uint64_t unsynced_decisions = 0;   // whole decisions kept until their batch is durable
    uint64_t velocity_counters = 0;    // stand-in counters per card, today's only (a card's own
                                       // counters live in its record)
    uint64_t transfer_disk_reads = 0;  // transfers read back from disk since Open
    uint64_t dedupe_disk_reads = 0;    // dedupe lookups that went to disk since Open
    // Off-us capture index entries (settlement, one per off-us capture) kept until their batch
    // is durable; the rest is read back by key.
    uint64_t settlement_index_entries = 0;
    // Runs of settlement item numbers decided together (one per chunk of densely numbered
    // items; items decided alone are found through their dedupe entries and take none).
    uint64_t settlement_item_runs = 0;
    // Open holds by the journal sequence of their approval (settlement's RRN lookups): entries
    // (resolved holds stay until a compaction) and bytes, owner ids included.
    uint64_t hold_index_entries = 0;
    uint64_t hold_index_bytes = 0;
  };
  Result<MemoryStats> GetMemoryStats();
  // What Open read to rebuild the in-memory state and how long each part took (wall clock), so
  // a slow restart says where its time went. Fixed once Open returns.
  struct OpenStats {
    uint64_t accounts = 0;               // account records read (all of them)
    uint64_t cards = 0;                  // card records read (all of them)
    uint64_t open_holds = 0;             // open holds made resident
    uint64_t transfers_scanned = 0;      // transfer records read: 0 when the open-hold index
                                         // exists, every transfer once when Open had to build it
    bool open_hold_index_built = false;  // this Open scanned the transfers and wrote the index
    uint64_t velocity_entries = 0;       // velocity records read (a past day's are then
                                         // deleted: at most one per key is left)
    int64_t backend_open_us = 0;         // RocksDB's own open: mostly replaying the WAL of what no
                                         // memtable flush had written to table files yet
    int64_t accounts_us = 0;
    int64_t cards_us = 0;
    int64_t transfers_us = 0;       // the open holds: index read, or scan + index build
    int64_t saf_settlement_us = 0;  // SAF queue and settlement batches
    int64_t velocity_us = 0;
    int64_t total_us = 0;  // all of Open: backend_open_us + reading the records
  };
  const OpenStats& open_stats() const;

  // Expires up to sweep_holds_max holds past their expiry; returns how many.
  Result<size_t> SweepExpiredHolds();

  // Checks of what is durable on disk (waits until everything submitted before is durable):
  // per currency the balances sum to zero, every account's totals equal the sum of its
  // transfers, each pending transfer is resolved at most once and consistently, no account with
  // kFlagDebitsMustNotExceedCredits is below zero.
  Result<LedgerReport> VerifyLedger();
  // Recomputes every record's hash, checks the chain, sequence gaps and the stored head.
  Result<JournalReport> VerifyJournal();
  // Calls `fn` for records from_sequence..to_sequence (inclusive; 0 = open end) in order; stops
  // early when fn returns false.
  Status ExportJournal(uint64_t from_sequence, uint64_t to_sequence,
                       const std::function<bool(const JournalRecord&)>& fn);

  // Store-and-forward (blocking; ordered with the decisions; each change durable on return).
  // Up to `max` unparked advices for `issuer`, oldest first, messages unsealed.
  Result<std::vector<SafMessage>> SafPending(std::string_view issuer, size_t max);
  // Counts a send before it happens (so a restart repeats it as 0121/0421); returns the record.
  // NotFound when the id is unknown (acknowledged already).
  Result<SafMessage> SafRecordAttempt(uint64_t id);
  // The issuer acknowledged it: removed. NotFound when unknown. `sent_stan`: the link STAN of
  // the acknowledged send; for a 0120 it is kept (with the ack) for a later 0420 naming it
  // (SafMessage::named_advice_stan), for kFollowUpMemorySeconds.
  Status SafAck(uint64_t id, uint32_t sent_stan = 0);
  // Retries exhausted: kept, shown, never sent again. NotFound when unknown.
  Status SafPark(uint64_t id);
  // Every queued and parked advice, oldest first per issuer, without messages.
  Result<std::vector<SafMessage>> SafList();
  // Queued and parked advices per issuer, kept as counters (cheap enough to poll).
  struct SafIssuerCounts {
    std::string issuer;
    uint64_t queued = 0;
    uint64_t parked = 0;
  };
  Result<std::vector<SafIssuerCounts>> SafCounts();

  // Settlement batches (issue 6; items are Requests with Operation::kSettle*). Batch records
  // are small and independent of the number of items; items are not kept beyond their dedupe
  // entry and transfer.
  //
  // Opens `header.batch_id` in state kOpen, or returns the existing record when the id is known
  // (a resubmission) - FailedPrecondition when it names another acquirer, terminal, merchant or
  // currency. The business date is the later of header.business_date and the store's (see
  // CutOverSettlement). InvalidArgument (naming the field) on a bad header or missing account.
  Result<SettlementBatch> OpenSettlementBatch(const SettlementBatch& header);
  // Records the declared totals: equal to the held ones -> kBalanced (reconciled); else the batch
  // stays open for a re-upload. A balanced or settled batch is returned unchanged.
  Result<SettlementBatch> ReconcileSettlementBatch(std::string_view batch_id,
                                                   const BatchTotals& declared);
  // Cut-over: pays out every open or balanced batch of a business date before `business_date`
  // (each one atomic write), and makes `business_date` the store's (it never moves back).
  // Returns the batches it settled.
  Result<std::vector<SettlementBatch>> CutOverSettlement(int32_t business_date);
  // The store's business date (0 before the first batch or cut-over).
  Result<int32_t> SettlementBusinessDate();
  Result<SettlementBatch> GetSettlementBatch(std::string_view batch_id);
  // The receivable account of remote issuer `issuer` in `currency` (kind kIssuerSettlement, id
  // from kRemoteIssuerAccountBase). NotFound before its first off-us capture.
  Result<Account> GetIssuerReceivable(std::string_view issuer, uint16_t currency);
  // Batches of one business date (0: all), in batch id order.
  Result<std::vector<SettlementBatch>> ListSettlementBatches(int32_t business_date);

  // OK while the store works; the fatal Status after a failed write or sync.
  Status health() const;

  class Impl;

 private:
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Reads the 32-byte card key from `path`, or creates it (random bytes from OpenSSL, file mode
// 0600) when the file does not exist. A file of another size is an error, as is a key file
// readable by group or others.
Result<std::string> LoadOrCreateCardKey(const std::string& path);

// Lowercase hex of HMAC-SHA256(key, digits).
std::string CardTokenFor(std::string_view card_key, std::string_view pan_digits);

}  // namespace kytkin::storage
