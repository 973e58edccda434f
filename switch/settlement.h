// Settlement (issue 6): the rules every channel shares - batch headers to ledger batches, items
// to ledger requests, reconciliation, cut-over and the settlement report. The channels (the CSV
// file of `kytkin settle`, ISO 8583 0320/0500, gRPC Settlement.SubmitBatch) only translate
// their format into BatchHeader / Item / BatchTotals and back.
//
// What moves where is decided by the ledger (storage/store.h, "Settlement"): a capture posts its
// authorization's hold, an item without authorization is force-posted, a refund credits the
// cardholder, a reversal voids or reverses; at cut-over each batch pays its merchant the gross
// less refunds and the merchant's fee.
//
// Memory: a BatchWriter keeps at most SettlementConfig::window_items_max items in flight and
// hands each result back once decided, so a batch of any size streams through in bounded
// memory. It hands the ledger chunks of up to storage::Store::kSettlementChunkItemsMax items
// (one decision, one journal record and one completion per chunk; Store::SubmitSettlementChunk).
//
// Thread safety: a BatchWriter is used by one thread; the free functions may be called from any
// thread (they block on the store: not from a store completion or an event loop).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/amount.h"
#include "core/clock.h"
#include "core/pan.h"
#include "core/response_code.h"
#include "core/status.h"
#include "storage/store.h"
#include "switch/settlement_config.h"

namespace kytkin::settlement {

// ---------------------------------------------------------------------------------------------
// Business dates

// The business date (days since 1970-01-01) of a moment: the date of the cut-over that closes
// it. With cut-over 22:00, 21:59 on the 15th is the 15th and 22:00 is the 16th.
int32_t BusinessDateAt(int64_t unix_us, uint32_t cutover_minute_utc);
std::string FormatDate(int32_t days);              // "2026-06-15"
Result<int32_t> ParseDate(std::string_view text);  // "2026-06-15"

// Pays out the batches of business dates that ended before `now_unix_us` (see
// Store::CutOverSettlement). Returns what it settled; empty when no cut-over was due.
Result<std::vector<storage::SettlementBatch>> CutOverIfDue(storage::Store& store,
                                                           const SettlementConfig& config,
                                                           int64_t now_unix_us);

// ---------------------------------------------------------------------------------------------
// Batches and items

enum class ItemKind : uint8_t { kCapture, kRefund, kReversal };
std::string_view ItemKindName(ItemKind kind);  // "capture"
std::optional<ItemKind> ParseItemKind(std::string_view name);

struct BatchHeader {
  std::string batch_id;     // unique per acquirer batch; 1..64 bytes
  std::string acquirer_id;  // DE 32
  std::string terminal_id;  // DE 41
  std::string merchant_id;  // DE 42: selects the payout account and fee (SettlementConfig)
  uint16_t currency = 0;    // ISO 4217 numeric of every item
};

struct Item {
  uint64_t number = 0;  // 1.., unique within the batch: the item's exactly-once key
  ItemKind kind = ItemKind::kCapture;
  int64_t amount_minor = 0;  // > 0, in the batch currency
  // The authorization, by kytkin's RRN (DE 37 of its approval) or by its request key (ISO:
  // acquirer|terminal|STAN|DE 7, gRPC: the idempotency key); both empty: none (an offline sale,
  // force-posted, or a refund of a card). `auth_code` (DE 38) is checked when set.
  std::string auth_rrn;
  std::string auth_request_key;
  std::string auth_code;
  // The card, needed when no authorization is named. Never stored in clear.
  std::optional<Pan> pan;
  std::string stan;  // the item's own STAN / sequence, for the journal; may be empty
};

// What became of one item.
struct ItemResult {
  uint64_t number = 0;
  ItemKind kind = ItemKind::kCapture;
  ResponseCode code = ResponseCode::kSystemMalfunction;
  storage::Reason reason = storage::Reason::kNone;
  bool duplicate = false;         // a resubmission answered with its first result
  int64_t amount_minor = 0;       // what moved; 0 when rejected
  int64_t item_amount_minor = 0;  // what the item asked for, rejected or not (the report's)
  uint64_t transfer_id = 0;
  std::string masked_pan;  // when the channel gave a PAN
  // "captured", "force_posted", "refunded", "reversed", "conflict", "rejected".
  std::string_view outcome() const;
};

struct Reconciliation {
  ResponseCode code = ResponseCode::kReconciliationError;  // 00 in balance, 95 not
  storage::SettlementBatch batch;                          // kytkin's totals in batch.held
};

// The answer to declared totals: 00 when they equal kytkin's (the batch is balanced), 95
// otherwise (it stays open for a re-upload).
Result<Reconciliation> Reconcile(storage::Store& store, std::string_view batch_id,
                                 const storage::BatchTotals& declared);

// Writes the items of one batch into the ledger, keeping at most window_items_max in flight.
class BatchWriter {
 public:
  struct Options {
    storage::Channel channel = storage::Channel::kCli;
    std::string mti = "0320";  // journal MTI of the items
  };
  // Opens (or, on a resubmission, finds) the batch in the store. InvalidArgument naming the
  // field on a bad header; FailedPrecondition when the id is known for another merchant.
  // REQUIRES: store outlives the writer.
  static Result<std::unique_ptr<BatchWriter>> Open(storage::Store& store,
                                                   const SettlementConfig& config,
                                                   const BatchHeader& header, const Clock& clock,
                                                   Options options);
  // Submits the chunk being built (its results are not delivered) and waits for every chunk.
  ~BatchWriter();

  // Adds one item to the chunk being built and submits the chunk once it is full; waits while
  // the window is full. Results arrive in submission order through `on_result`, called from
  // Add/Finish on this thread (an item's result once its chunk is decided). Bad items (number 0,
  // amount <= 0) are InvalidArgument and not submitted.
  Status Add(const Item& item, const std::function<void(const ItemResult&)>& on_result);
  // Submits the last chunk, waits for every item and delivers the remaining results.
  Status Finish(const std::function<void(const ItemResult&)>& on_result);

  const storage::SettlementBatch& opened() const { return batch_; }

 private:
  BatchWriter(storage::Store& store, const SettlementConfig& config, storage::SettlementBatch b,
              Options options);
  void Deliver(const std::function<void(const ItemResult&)>& on_result, bool wait_all);
  // Submits the chunk being built, after waiting for room in the window.
  Status SubmitChunk(const std::function<void(const ItemResult&)>& on_result);

  struct Chunk {
    std::vector<ItemResult> results;
    bool done = false;
    Status failure;  // the store's failure, if any
  };
  storage::Store& store_;
  const SettlementConfig& config_;
  storage::SettlementBatch batch_;
  Options options_;
  size_t chunk_items_max_ = 1;  // min(Store::kSettlementChunkItemsMax, window_items_max)
  std::vector<storage::Request> building_;  // the next chunk's items, not submitted yet
  std::shared_ptr<Chunk> building_chunk_;   // their results
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Chunk>> in_flight_;  // guarded by mu_, submission order
  size_t in_flight_items_ = 0;                    // guarded by mu_
  Status failure_;                                // first store failure
};

// The request an item becomes (exposed for the channels' tests).
storage::Request ItemRequest(const storage::SettlementBatch& batch, const Item& item,
                             const SettlementConfig& config, storage::Channel channel,
                             std::string_view mti);
// The item's exactly-once key: "stl|" + batch id + "|" + number.
std::string ItemKey(std::string_view batch_id, uint64_t number);

// ---------------------------------------------------------------------------------------------
// Report

// Per acquirer and merchant for one business date, in the batch currency.
struct ReportRow {
  std::string acquirer_id;
  std::string merchant_id;
  uint16_t currency = 0;
  uint64_t batches = 0;
  uint64_t batches_settled = 0;  // paid out; the others' fees and net are projected
  uint64_t captures_count = 0;
  uint64_t refunds_count = 0;
  uint64_t reversals_count = 0;
  int64_t gross_minor = 0;  // captures less reversed captures
  int64_t refunds_minor = 0;
  int64_t fees_minor = 0;
  int64_t net_minor = 0;  // gross - refunds - fees: what the merchant is (or will be) paid
};
Result<std::vector<ReportRow>> BuildReport(storage::Store& store, int32_t business_date);
std::string ReportCsv(const std::vector<ReportRow>& rows);
std::string ReportJson(const std::vector<ReportRow>& rows, int32_t business_date);
// One batch as JSON (`kytkin settlement show`, GET /api/v1/settlement/batch): state, business
// date, held and declared totals, counts, fee and payout.
std::string BatchJson(const storage::SettlementBatch& batch);

// The merchant's fee on a batch (the store computes the same at payout).
int64_t BatchFee(const storage::SettlementBatch& batch);

}  // namespace kytkin::settlement
