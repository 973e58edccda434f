// Private to storage/: the store-and-forward (SAF) queue of advices for remote issuers.
//
// A record is an advice (0120 after a stand-in approval, 0420 after a timeout or a late
// approval) that kytkin owes an issuer. It is written in the same batch as the decision it
// reports, so it is durable before the terminal's answer leaves, and removed when the issuer
// acknowledges it. The packed message carries the clear PAN, so it is sealed with AES-256-GCM
// under a key derived from the card key (PCI DSS 3.5: never stored readable); the rest of the
// record (issuer, MTI, masked PAN, attempts) is plain for the admin API.
//
// Key: issuer id + '\0' + big-endian id, so a scan per issuer is in arrival order.
//
// Beside the queue, under keys starting with '\0' (no issuer id is empty), what kytkin told
// issuers that a later follow-up needs, kept kFollowUpMemorySeconds:
//  - receipts: the link STAN each acknowledged 0120 went under, by the journal sequence of the
//    stand-in approval it reported ("\0" "a" + big-endian sequence), for the 0420 naming it;
//  - reversed remote originals: the original's request key -> the approving reversal's journal
//    sequence ("\0" "r" + key), so a second reversal or a completion after it is declined.
//
// Thread safety: none; the store's ledger thread owns it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/status.h"
#include "storage/backend.h"
#include "storage/store.h"

namespace kytkin::storage {

class SafQueue {
 public:
  // Derives the sealing key from the store's card key.
  explicit SafQueue(std::string_view card_key);

  // Reads every record of Cf::kSaf; Corruption on a record that does not decode.
  Status Load(ReadView& view);

  // Queues an advice and writes it to `batch`; returns its id.
  uint64_t Enqueue(Batch& batch, std::string_view issuer, const SafAdvice& advice,
                   std::string_view masked_pan, ResponseCode response, std::string_view auth_code,
                   uint64_t journal_sequence, int64_t now_unix_us);

  // Up to `max` unparked advices of `issuer`, oldest first, with the message unsealed.
  Result<std::vector<SafMessage>> Pending(std::string_view issuer, size_t max) const;
  // Counts one more send; returns the record after it (message unsealed).
  Result<SafMessage> RecordAttempt(Batch& batch, uint64_t id);
  // Removes the record; for a 0120, keeps `sent_stan` as its receipt (when not 0).
  Status Ack(Batch& batch, uint64_t id, uint32_t sent_stan, int64_t now_unix_us);
  // Remote originals reversed (Store: RemoteFollowUp).
  bool Reversed(const std::string& original_request_key) const;
  void NoteReversed(Batch& batch, const std::string& original_request_key,
                    uint64_t journal_sequence, int64_t now_unix_us);
  Status Park(Batch& batch, uint64_t id);
  // Every record, without its message.
  std::vector<SafMessage> List() const;
  // Queued and parked per issuer (issuers with neither are left out).
  std::vector<Store::SafIssuerCounts> Counts() const;

  // A record whose message is not readable anymore (tampered, or another card key).
  static constexpr size_t kSealOverheadBytes = 12 + 16;  // nonce + GCM tag

 private:
  struct Record {
    SafMessage meta;     // message left empty
    std::string sealed;  // nonce | ciphertext | tag
  };
  std::string Key(const Record& r) const;
  void Write(Batch& batch, const Record& r);
  Result<std::string> Unseal(std::string_view sealed, uint64_t id) const;
  std::string Seal(std::string_view clear, uint64_t id) const;
  Record* Find(uint64_t id);
  // Adds `delta` to the queued or parked count of the record's issuer.
  void Count(const Record& r, int delta);

  // Follow-up memory (see the top of this file).
  struct Remembered {
    uint64_t value = 0;  // receipt: the STAN; reversed original: the reversal's sequence
    int64_t unix_us = 0;
  };
  Status LoadRemembered(std::string_view key, std::string_view value);
  void Remember(Batch& batch, std::string key, uint64_t value, int64_t now_unix_us);
  // Forgets entries older than kFollowUpMemorySeconds (a few per call, oldest first).
  void Forget(Batch* batch, int64_t now_unix_us);
  uint32_t ReceiptStan(uint64_t journal_sequence) const;
  void FillNamed(SafMessage& m) const;

  std::string key_;  // 32 bytes
  uint64_t next_id_ = 1;
  std::unordered_map<std::string, Remembered> remembered_;       // by key in Cf::kSaf
  std::multimap<int64_t, std::string> remembered_by_time_;       // unix_us -> key, for Forget
  std::map<std::pair<std::string, uint64_t>, Record> records_;   // (issuer, id)
  std::unordered_map<uint64_t, std::string> issuer_of_;          // id -> issuer
  std::map<std::string, std::pair<uint64_t, uint64_t>> counts_;  // issuer -> (queued, parked)
};

}  // namespace kytkin::storage
