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
  Status Ack(Batch& batch, uint64_t id);
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

  std::string key_;  // 32 bytes
  uint64_t next_id_ = 1;
  std::map<std::pair<std::string, uint64_t>, Record> records_;   // (issuer, id)
  std::unordered_map<uint64_t, std::string> issuer_of_;          // id -> issuer
  std::map<std::string, std::pair<uint64_t, uint64_t>> counts_;  // issuer -> (queued, parked)
};

}  // namespace kytkin::storage
