// ISO 8583 settlement messages (issue 6, DESIGN.md §4) in front of the authorization pipeline:
//
//   0320/0321 batch upload -> 0330   one captured transaction into the terminal's open batch
//   0500/0501 reconciliation -> 0510  the batch totals; DE 39 00 in balance, 95 not
//   anything else                     handed to `next` (the Authorizer) untouched
//
// 0320 fields: DE 3 type 00 capture, 20 refund, 02 reversal (void); DE 4 + DE 49 the amount;
// DE 11 the item's STAN and DE 7 its transmission time (together its exactly-once number
// within the batch: DE 7 * 10^6 + STAN, so a STAN that wraps within a batch stays distinct; the
// STAN alone without DE 7); DE 41, 42, 32 the terminal,
// merchant and acquirer; DE 37 + DE 38 the authorization's RRN and auth code as kytkin answered
// them, or DE 90 its original data (MTI, STAN, DE 7); DE 2 the card when there is no
// authorization (an offline sale is force-posted, a refund credits the card); DE 60 the batch
// number (default "1"). The answer is the item's decision (00, 13 over tolerance, 25 unknown
// authorization, 94 a second capture of one authorization, 12 reversed/expired/batch closed).
//
// 0500 fields: DE 41, 42, 32, 60 name the batch; DE 74/86 credits (refunds), 76/88 debits
// (captures), 77/89 debit reversals, 75/87 credit reversals (kytkin has none: nonzero does not
// balance), DE 97 the net (C/D + 16 digits, signed as [settlement] de97_sign says: by default
// 'C' when captures exceed reversals plus refunds; a DE 97 not starting C or D is 30). The 0510
// carries kytkin's own totals in the same fields; on 95 the batch stays open for a re-upload.
//
// The batch id is acquirer|terminal|business date|DE 60, so each business date starts new
// batches. A 0320 goes into the batch of the current business date. A 0500 reconciles the batch
// of DE 15 (settlement date, MMDD) when it carries one; else today's batch when the terminal
// uploaded into it, else the previous business date's when that exists (a 0500 that arrives just
// after the cut-over closed its batch gets that batch's totals: 00 when they match, though it is
// paid out already), else today's (an empty batch).
//
// Threading: Handle() runs on the connection's io_context and never blocks: it peeks at the MTI
// and queues settlement messages for one worker thread (bounded: kQueueMessagesMax; beyond it
// the answer is 96), which makes the blocking ledger calls and finishes the completion.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "core/clock.h"
#include "iso8583/message.h"
#include "storage/store.h"
#include "switch/iso_listener.h"
#include "switch/settlement_config.h"

namespace kytkin {

class SettlementIsoHandler final : public IsoHandler {
 public:
  // Settlement messages waiting for the worker; more are answered 96 at once.
  static constexpr size_t kQueueMessagesMax = 1024;

  // REQUIRES: store, config, next and clock outlive the handler.
  SettlementIsoHandler(storage::Store& store, const SettlementConfig& config, IsoHandler& next,
                       const Clock& clock = SystemClock::Get());
  // Answers what is queued, then stops the worker.
  ~SettlementIsoHandler() override;

  void Handle(const IsoRequest& request, IsoCompletion done) override;

  // The answer to one parsed settlement message (0320 or 0500), built in `response`. Blocking
  // (ledger calls); exposed for tests.
  Status Answer(const iso8583::Message& request, iso8583::Message& response);

 private:
  struct Work {
    const iso8583::Dialect* dialect;
    IsoCompletion done;
  };
  void WorkerLoop();
  Status AnswerUpload(const iso8583::Message& request, iso8583::Message& response);
  Status AnswerReconciliation(const iso8583::Message& request, iso8583::Message& response);
  // acquirer|terminal|business date|DE 60, of today's business date or of `date`.
  std::string BatchId(const iso8583::Message& request) const;
  std::string BatchId(const iso8583::Message& request, int32_t date) const;
  // The batch a 0500 reconciles (DE 15, or the batch the terminal uploaded into); blocking.
  // InvalidArgument on a bad DE 15.
  Result<std::string> ReconciliationBatchId(const iso8583::Message& request) const;
  // Opens the batch once per process run (the store answers repeats the same way).
  Status EnsureBatch(const iso8583::Message& request, const std::string& batch_id);

  storage::Store& store_;
  const SettlementConfig& config_;
  IsoHandler& next_;
  const Clock& clock_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Work> queue_;        // guarded by mu_
  bool stopping_ = false;         // guarded by mu_
  std::set<std::string> opened_;  // worker thread only
  std::thread worker_;
};

}  // namespace kytkin
