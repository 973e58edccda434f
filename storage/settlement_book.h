// Private to storage/: the settlement batch records (issue 6) and the business date.
//
// Batch records are small (one per acquirer batch, independent of its item count) and all of
// them stay in memory (the off-us capture index, one entry per item, does not: see
// RemoteAuthorization), so a batch's totals are updated in the same ledger-thread step as the
// item that changes them. A changed record is written once per group commit (Flush), in the same
// atomic write as the items that changed it.
//
// Keys in Cf::kMeta: "settlement/batch/" + batch id, "settlement/remote/" + sequence,
// "settlement/issuer_account/" + issuer|currency, and "settlement/business_date".
//
// Thread safety: none; the store's ledger thread owns it.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "storage/backend.h"
#include "storage/store.h"

namespace kytkin::storage {

class SettlementBook {
 public:
  // Reads every batch record and the business date; Corruption on a record that does not
  // decode.
  Status Load(ReadView& view);

  // nullptr when unknown. The pointer stays valid (records are never removed).
  SettlementBatch* Find(std::string_view batch_id);
  // Adds or replaces a record; marks it for the next Flush.
  SettlementBatch& Put(const SettlementBatch& batch);
  // Marks a record found with Find as changed.
  void Touch(const SettlementBatch& batch) { dirty_.insert(batch.batch_id); }

  int32_t business_date() const { return business_date_; }
  void set_business_date(int32_t date) {
    business_date_ = date;
    business_date_dirty_ = true;
  }

  const std::map<std::string, SettlementBatch, std::less<>>& batches() const { return batches_; }

  // Off-us authorizations (approved by a remote issuer: no hold in this ledger) whose capture is
  // taken, by the authorization's journal sequence: the transfer of its capture item, or
  // kCompletedOnline | the journal sequence of the terminal's online completion (0220) that went
  // to the issuer; 0: not captured. (Whether the terminal reversed it online is the SAF queue's
  // durable mark.) Keys "settlement/remote/" + big-endian sequence, one per off-us capture, so
  // they are not kept in memory: only the entries a batch not yet durable wrote stay
  // (EvictDurable); any other is read back with a point Get on `backend` (NotFound is 0; a
  // failed read or a record that does not decode is the error).
  Result<uint64_t> RemoteAuthorization(Backend& backend, uint64_t sequence) const;
  // `batch_seq`: the store's open batch, the one Flush writes the entry to.
  void SetRemoteAuthorization(uint64_t sequence, uint64_t value, uint64_t batch_seq);
  // Drops the entries of batches up to `durable_batch` (durable: a Get finds them).
  void EvictDurable(uint64_t durable_batch);
  size_t resident_remote_authorizations() const { return remote_.size(); }
  // Runs of decided item numbers kept in memory, over all batches.
  size_t item_runs() const;
  // Marks a RemoteAuthorization value as an online completion rather than a capture transfer
  // (transfer ids never reach bit 63).
  static constexpr uint64_t kCompletedOnline = 1ull << 63;

  // The receivable account of a remote issuer in a currency (kRemoteIssuerAccountBase + n, n in
  // order of first use); 0 when it has none yet. AddIssuerAccount assigns the next id.
  uint64_t IssuerAccount(std::string_view issuer, uint16_t currency) const;
  uint64_t AddIssuerAccount(std::string_view issuer, uint16_t currency);

  // Decided items of each batch, by item number (Request::settlement_item_number): runs of
  // consecutive numbers decided in one chunk record (its items carry the outcomes and
  // fingerprints). Items decided alone take no run (their dedupe entries find them); data dirs
  // may hold single-item runs written before that (`fingerprint` is then the item's).
  // Keys "settlement/item/" + batch id + "\0" + big-endian last number; ~100 bytes of memory
  // per run, so a densely numbered batch costs one run per chunk (~1,000 for 1,000,000 items)
  // and a sparsely numbered chunk a run per item.
  struct ItemRun {
    uint64_t first = 0;
    uint64_t journal_sequence = 0;
    uint64_t fingerprint = 0;  // single-item records only; 0 for a chunk
  };
  class ItemRuns {
   public:
    // The run holding `number`, or nullptr.
    const ItemRun* Find(uint64_t number) const;
    // Numbers in the runs.
    uint64_t decided() const { return decided_; }

   private:
    friend class SettlementBook;
    std::map<uint64_t, ItemRun> by_last_;
    uint64_t decided_ = 0;
  };
  // nullptr when no item of the batch was decided with a number yet.
  const ItemRuns* Items(std::string_view batch_id) const;
  // Records numbers first..last (none of them decided before) as decided by one record.
  void AddItemRun(std::string_view batch_id, uint64_t first, uint64_t last, const ItemRun& run);

  // Writes the changed records to `batch`.
  void Flush(Batch& batch);

  static void Encode(const SettlementBatch& b, std::string* out);
  static Result<SettlementBatch> Decode(std::string_view in);

 private:
  static std::string IssuerKey(std::string_view issuer, uint16_t currency);

  std::map<std::string, SettlementBatch, std::less<>> batches_;
  std::map<std::string, ItemRuns, std::less<>> items_;
  std::vector<std::pair<std::string, uint64_t>> items_dirty_;  // (batch id, last) to write
  std::set<std::string> dirty_;
  struct RemoteEntry {
    uint64_t value = 0;
    uint64_t batch_seq = 0;  // the store batch that writes it
  };
  // Authorization sequence -> entry, only until its batch is durable.
  std::map<uint64_t, RemoteEntry> remote_;
  std::set<uint64_t> remote_dirty_;
  std::map<std::string, uint64_t, std::less<>> issuer_accounts_;  // "issuer|currency" -> id
  std::set<std::string> issuer_accounts_dirty_;
  uint64_t next_issuer_account_ = kRemoteIssuerAccountBase;
  int32_t business_date_ = 0;
  bool business_date_dirty_ = false;
  std::string scratch_;
};

}  // namespace kytkin::storage
