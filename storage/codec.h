// Private to storage/: the binary layout of every record the store writes, and key encodings.
//
// Values are a version byte followed by fixed-width little-endian integers and length-prefixed
// strings. Decoding checks every length and returns Corruption rather than trusting the disk
// ("check a record right after it is read").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"
#include "storage/store.h"

namespace kytkin::storage::codec {

class Writer {
 public:
  explicit Writer(std::string* out) : out_(out) {}
  void U8(uint8_t v) { out_->push_back(static_cast<char>(v)); }
  void U16(uint16_t v) { Fixed(v, 2); }
  void U32(uint32_t v) { Fixed(v, 4); }
  void U64(uint64_t v) { Fixed(v, 8); }
  void I64(int64_t v) { Fixed(static_cast<uint64_t>(v), 8); }
  void Str(std::string_view s) {
    U32(static_cast<uint32_t>(s.size()));
    out_->append(s);
  }

 private:
  void Fixed(uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out_->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  std::string* out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool U8(uint8_t* v);
  bool U16(uint16_t* v);
  bool U32(uint32_t* v);
  bool U64(uint64_t* v);
  bool I64(int64_t* v);
  bool Str(std::string* v);
  bool done() const { return pos_ == in_.size(); }
  size_t position() const { return pos_; }

 private:
  bool Fixed(uint64_t* v, int bytes);
  std::string_view in_;
  size_t pos_ = 0;
};

// Big-endian u64 keys sort numerically in RocksDB's bytewise order.
std::string U64Key(uint64_t v);
Result<uint64_t> ParseU64Key(std::string_view key);

void EncodeAccount(const Account& a, std::string* out);
Result<Account> DecodeAccount(std::string_view in);
void EncodeCard(const Card& c, std::string* out);
Result<Card> DecodeCard(std::string_view in);
void EncodeTransfer(const Transfer& t, std::string* out);
Result<Transfer> DecodeTransfer(std::string_view in);
void EncodeDecision(const Decision& d, std::string* out);
Result<Decision> DecodeDecision(Reader* r);

// Dedupe value: the content fingerprint and the original decision.
void EncodeDedupe(uint64_t fingerprint, const Decision& d, std::string* out);
Result<std::pair<uint64_t, Decision>> DecodeDedupe(std::string_view in);

// Velocity key: token + "/" + big-endian UTC day number; value: count and amount.
std::string VelocityKey(std::string_view token, uint32_t day);
struct Velocity {
  uint32_t day = 0;
  uint32_t count = 0;
  int64_t amount_minor = 0;
};
void EncodeVelocity(const Velocity& v, std::string* out);
Result<Velocity> DecodeVelocity(std::string_view key, std::string_view value, std::string* token);

// Journal: the content (everything but `hash`) is hashed; the stored value is content + hash.
void EncodeJournalContent(const JournalRecord& r, std::string* out);
// Fills r.hash from the content. Returns the stored value.
std::string SealJournalRecord(JournalRecord* r);
// The same into `value` (cleared first), whose capacity a caller can keep.
void SealJournalRecord(JournalRecord* r, std::string* value);
// Decodes and checks the hash; Corruption names the sequence on a mismatch.
Result<JournalRecord> DecodeJournalRecord(std::string_view value);

// Journal head in the meta column family: last sequence and its hash.
inline constexpr std::string_view kJournalHeadKey = "journal_head";
void EncodeJournalHead(uint64_t sequence, std::string_view hash, std::string* out);
Result<std::pair<uint64_t, std::string>> DecodeJournalHead(std::string_view in);

// SHA-256 with a digest fetched once and a context per thread (OpenSSL 3's one-shot SHA256()
// looks the algorithm up on every call, which showed in profiles).
std::string Sha256(std::string_view data);

// HMAC-SHA256 under a fixed key with the key schedule done once; not thread-safe (one per
// thread). Same result as CardTokenFor().
class CardTokenizer {
 public:
  explicit CardTokenizer(std::string_view key);
  ~CardTokenizer();
  CardTokenizer(const CardTokenizer&) = delete;
  CardTokenizer& operator=(const CardTokenizer&) = delete;
  std::string Token(std::string_view pan_digits);

 private:
  std::string key_;
  void* mac_ = nullptr;  // EVP_MAC*
  void* ctx_ = nullptr;  // EVP_MAC_CTX*, keyed
};
std::string Hex(std::string_view bytes);

}  // namespace kytkin::storage::codec
