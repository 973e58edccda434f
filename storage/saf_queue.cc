#include "storage/saf_queue.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <array>
#include <memory>

#include "storage/codec.h"

namespace kytkin::storage {
namespace {

constexpr uint8_t kRecordVersion = 1;
constexpr size_t kNonceBytes = 12;
constexpr size_t kTagBytes = 16;
// Domain separation: the SAF key is not the card-token key.
constexpr std::string_view kKeyLabel = "kytkin store-and-forward seal v1";

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

// The id is authenticated data: a sealed message moved to another record does not open.
std::string Aad(uint64_t id) { return codec::U64Key(id); }

void EncodeMeta(const SafMessage& m, std::string_view sealed, std::string* out) {
  codec::Writer w(out);
  w.U8(kRecordVersion);
  w.U64(m.id);
  w.Str(m.issuer);
  w.Str(m.mti);
  w.Str(m.masked_pan);
  w.U8(static_cast<uint8_t>(m.response_code));
  w.Str(m.auth_code);
  w.U64(m.journal_sequence);
  w.I64(m.created_unix_us);
  w.U32(m.attempts);
  w.U8(m.parked ? 1 : 0);
  w.Str(sealed);
  w.U64(m.names_advice_of);  // trailing: records written before it end at `sealed`
}

Status DecodeMeta(std::string_view in, SafMessage* m, std::string* sealed) {
  codec::Reader r(in);
  uint8_t version = 0, code = 0, parked = 0;
  if (!r.U8(&version) || version != kRecordVersion || !r.U64(&m->id) || !r.Str(&m->issuer) ||
      !r.Str(&m->mti) || !r.Str(&m->masked_pan) || !r.U8(&code) || !r.Str(&m->auth_code) ||
      !r.U64(&m->journal_sequence) || !r.I64(&m->created_unix_us) || !r.U32(&m->attempts) ||
      !r.U8(&parked) || parked > 1 || !r.Str(sealed) ||
      (!r.done() && !r.U64(&m->names_advice_of)) || !r.done()) {
    return Status::Corruption("saf record does not decode");
  }
  m->response_code = static_cast<ResponseCode>(code);
  m->parked = parked == 1;
  return Status::Ok();
}

}  // namespace

SafQueue::SafQueue(std::string_view card_key) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), card_key.data(), static_cast<int>(card_key.size()),
       reinterpret_cast<const unsigned char*>(kKeyLabel.data()), kKeyLabel.size(), mac.data(),
       &mac_len);
  key_.assign(reinterpret_cast<const char*>(mac.data()), 32);
}

std::string SafQueue::Key(const Record& r) const {
  std::string key = r.meta.issuer;
  key.push_back('\0');
  key += codec::U64Key(r.meta.id);
  return key;
}

void SafQueue::Write(Batch& batch, const Record& r) {
  std::string value;
  EncodeMeta(r.meta, r.sealed, &value);
  batch.Put(Cf::kSaf, Key(r), value);
}

std::string SafQueue::Seal(std::string_view clear, uint64_t id) const {
  std::string out(kNonceBytes + clear.size() + kTagBytes, '\0');
  auto* bytes = reinterpret_cast<unsigned char*>(out.data());
  // A random 96-bit nonce per record: ids restart when the queue empties, nonces must not.
  if (RAND_bytes(bytes, kNonceBytes) != 1) std::abort();  // no entropy: nothing is safe to seal
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  const std::string aad = Aad(id);
  int len = 0;
  const bool ok =
      ctx &&
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr,
                         reinterpret_cast<const unsigned char*>(key_.data()), bytes) == 1 &&
      EVP_EncryptUpdate(ctx.get(), nullptr, &len,
                        reinterpret_cast<const unsigned char*>(aad.data()),
                        static_cast<int>(aad.size())) == 1 &&
      EVP_EncryptUpdate(ctx.get(), bytes + kNonceBytes, &len,
                        reinterpret_cast<const unsigned char*>(clear.data()),
                        static_cast<int>(clear.size())) == 1 &&
      EVP_EncryptFinal_ex(ctx.get(), bytes + kNonceBytes + len, &len) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes,
                          bytes + kNonceBytes + clear.size()) == 1;
  if (!ok) std::abort();  // AES-GCM with valid sizes cannot fail short of a broken OpenSSL
  return out;
}

Result<std::string> SafQueue::Unseal(std::string_view sealed, uint64_t id) const {
  if (sealed.size() < kSealOverheadBytes) return Status::Corruption("saf message too short");
  const size_t clear_bytes = sealed.size() - kSealOverheadBytes;
  std::string out(clear_bytes, '\0');
  const auto* in = reinterpret_cast<const unsigned char*>(sealed.data());
  std::array<unsigned char, kTagBytes> tag{};
  std::copy(in + kNonceBytes + clear_bytes, in + sealed.size(), tag.begin());
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  const std::string aad = Aad(id);
  int len = 0;
  const bool ok =
      ctx &&
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr,
                         reinterpret_cast<const unsigned char*>(key_.data()), in) == 1 &&
      EVP_DecryptUpdate(ctx.get(), nullptr, &len,
                        reinterpret_cast<const unsigned char*>(aad.data()),
                        static_cast<int>(aad.size())) == 1 &&
      EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &len,
                        in + kNonceBytes, static_cast<int>(clear_bytes)) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes, tag.data()) == 1 &&
      EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(out.data()) + len, &len) == 1;
  if (!ok) {
    return Status::Corruption("saf message " + std::to_string(id) +
                              " does not open (tampered, or another card key)");
  }
  return out;
}

namespace {

// Follow-up memory keys (see saf_queue.h).
constexpr char kMemoryPrefix = '\0';
constexpr char kReceiptTag = 'a';
constexpr char kReversedTag = 'r';
constexpr uint8_t kRememberedVersion = 1;
// Entries forgotten per call at most, so one call never stalls the ledger thread.
constexpr int kForgetPerCallMax = 16;

std::string MemoryKey(char tag, std::string_view rest) {
  std::string key(1, kMemoryPrefix);
  key.push_back(tag);
  key += rest;
  return key;
}

}  // namespace

Status SafQueue::LoadRemembered(std::string_view key, std::string_view value) {
  codec::Reader r(value);
  uint8_t version = 0;
  Remembered m;
  if (key.size() < 2 || (key[1] != kReceiptTag && key[1] != kReversedTag) || !r.U8(&version) ||
      version != kRememberedVersion || !r.U64(&m.value) || !r.I64(&m.unix_us) || !r.done()) {
    return Status::Corruption("saf follow-up record does not decode");
  }
  remembered_by_time_.emplace(m.unix_us, std::string(key));
  remembered_.emplace(std::string(key), m);
  return Status::Ok();
}

void SafQueue::Remember(Batch& batch, std::string key, uint64_t value, int64_t now_unix_us) {
  Forget(&batch, now_unix_us);
  std::string encoded;
  codec::Writer w(&encoded);
  w.U8(kRememberedVersion);
  w.U64(value);
  w.I64(now_unix_us);
  batch.Put(Cf::kSaf, key, encoded);
  auto [it, inserted] = remembered_.try_emplace(key, Remembered{value, now_unix_us});
  if (!inserted) it->second = Remembered{value, now_unix_us};  // its old time entry ages out
  remembered_by_time_.emplace(now_unix_us, std::move(key));
}

void SafQueue::Forget(Batch* batch, int64_t now_unix_us) {
  const int64_t oldest_kept_us = now_unix_us - kFollowUpMemorySeconds * 1'000'000;
  for (int i = 0; i < kForgetPerCallMax && !remembered_by_time_.empty(); ++i) {
    auto it = remembered_by_time_.begin();
    if (it->first >= oldest_kept_us) return;
    auto m = remembered_.find(it->second);
    // Only when the entry was not written again later.
    if (m != remembered_.end() && m->second.unix_us == it->first) {
      if (batch != nullptr) batch->Delete(Cf::kSaf, it->second);
      remembered_.erase(m);
    }
    remembered_by_time_.erase(it);
  }
}

bool SafQueue::Reversed(const std::string& original_request_key) const {
  return remembered_.contains(MemoryKey(kReversedTag, original_request_key));
}

void SafQueue::NoteReversed(Batch& batch, const std::string& original_request_key,
                            uint64_t journal_sequence, int64_t now_unix_us) {
  Remember(batch, MemoryKey(kReversedTag, original_request_key), journal_sequence, now_unix_us);
}

uint32_t SafQueue::ReceiptStan(uint64_t journal_sequence) const {
  auto it = remembered_.find(MemoryKey(kReceiptTag, codec::U64Key(journal_sequence)));
  return it == remembered_.end() ? 0 : static_cast<uint32_t>(it->second.value);
}

void SafQueue::FillNamed(SafMessage& m) const {
  if (m.names_advice_of != 0) m.named_advice_stan = ReceiptStan(m.names_advice_of);
}

Status SafQueue::Load(ReadView& view) {
  Status bad;
  KYTKIN_RETURN_IF_ERROR(view.Scan(Cf::kSaf, "", "", [&](std::string_view k, std::string_view v) {
    if (!k.empty() && k[0] == kMemoryPrefix) {
      bad = LoadRemembered(k, v);
      return bad.ok();
    }
    Record r;
    bad = DecodeMeta(v, &r.meta, &r.sealed);
    if (!bad.ok()) return false;
    next_id_ = std::max(next_id_, r.meta.id + 1);
    issuer_of_[r.meta.id] = r.meta.issuer;
    Count(r, +1);
    records_[{r.meta.issuer, r.meta.id}] = std::move(r);
    return true;
  }));
  return bad;
}

uint64_t SafQueue::Enqueue(Batch& batch, std::string_view issuer, const SafAdvice& advice,
                           std::string_view masked_pan, ResponseCode response,
                           std::string_view auth_code, uint64_t journal_sequence,
                           int64_t now_unix_us) {
  Record r;
  r.meta.id = next_id_++;
  r.meta.issuer = std::string(issuer);
  r.meta.mti = advice.mti;
  r.meta.masked_pan = std::string(masked_pan);
  r.meta.response_code = response;
  r.meta.auth_code = std::string(auth_code);
  r.meta.journal_sequence = journal_sequence;
  r.meta.created_unix_us = now_unix_us;
  r.meta.names_advice_of = advice.names_advice_of;
  r.sealed = Seal(advice.message, r.meta.id);
  Write(batch, r);
  issuer_of_[r.meta.id] = r.meta.issuer;
  Count(r, +1);
  const uint64_t id = r.meta.id;
  records_[{r.meta.issuer, id}] = std::move(r);
  return id;
}

SafQueue::Record* SafQueue::Find(uint64_t id) {
  auto it = issuer_of_.find(id);
  if (it == issuer_of_.end()) return nullptr;
  auto r = records_.find({it->second, id});
  return r == records_.end() ? nullptr : &r->second;
}

Result<std::vector<SafMessage>> SafQueue::Pending(std::string_view issuer, size_t max) const {
  std::vector<SafMessage> out;
  for (auto it = records_.lower_bound({std::string(issuer), 0});
       it != records_.end() && it->first.first == issuer && out.size() < max; ++it) {
    if (it->second.meta.parked) continue;
    SafMessage m = it->second.meta;
    FillNamed(m);
    auto clear = Unseal(it->second.sealed, m.id);
    if (!clear.ok()) return clear.status();
    m.message = std::move(clear).value();
    out.push_back(std::move(m));
  }
  return out;
}

Result<SafMessage> SafQueue::RecordAttempt(Batch& batch, uint64_t id) {
  Record* r = Find(id);
  if (r == nullptr) return Status::NotFound("no saf message " + std::to_string(id));
  ++r->meta.attempts;
  Write(batch, *r);
  SafMessage m = r->meta;
  FillNamed(m);
  auto clear = Unseal(r->sealed, id);
  if (!clear.ok()) return clear.status();
  m.message = std::move(clear).value();
  return m;
}

Status SafQueue::Ack(Batch& batch, uint64_t id, uint32_t sent_stan, int64_t now_unix_us) {
  Record* r = Find(id);
  if (r == nullptr) return Status::NotFound("no saf message " + std::to_string(id));
  batch.Delete(Cf::kSaf, Key(*r));
  if (sent_stan != 0 && r->meta.mti.starts_with("012")) {
    Remember(batch, MemoryKey(kReceiptTag, codec::U64Key(r->meta.journal_sequence)), sent_stan,
             now_unix_us);
  }
  Count(*r, -1);
  const std::pair<std::string, uint64_t> key{r->meta.issuer, id};
  issuer_of_.erase(id);
  records_.erase(key);
  return Status::Ok();
}

Status SafQueue::Park(Batch& batch, uint64_t id) {
  Record* r = Find(id);
  if (r == nullptr) return Status::NotFound("no saf message " + std::to_string(id));
  if (r->meta.parked) return Status::Ok();
  Count(*r, -1);
  r->meta.parked = true;
  Count(*r, +1);
  Write(batch, *r);
  return Status::Ok();
}

void SafQueue::Count(const Record& r, int delta) {
  auto& [queued, parked] = counts_[r.meta.issuer];
  (r.meta.parked ? parked : queued) += static_cast<uint64_t>(static_cast<int64_t>(delta));
  if (queued == 0 && parked == 0) counts_.erase(r.meta.issuer);
}

std::vector<Store::SafIssuerCounts> SafQueue::Counts() const {
  std::vector<Store::SafIssuerCounts> out;
  for (const auto& [issuer, c] : counts_) out.push_back({issuer, c.first, c.second});
  return out;
}

std::vector<SafMessage> SafQueue::List() const {
  std::vector<SafMessage> out;
  out.reserve(records_.size());
  for (const auto& [key, r] : records_) out.push_back(r.meta);
  return out;
}

}  // namespace kytkin::storage
