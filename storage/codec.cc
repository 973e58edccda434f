#include "storage/codec.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/sha.h>

#include <memory>

#include <array>

namespace kytkin::storage::codec {
namespace {

constexpr uint8_t kVersion = 1;
constexpr size_t kHashBytes = 32;
// No field of any record is longer; a larger length prefix means a corrupt value.
constexpr uint32_t kStringBytesMax = 4096;
// Marks the optional trailing issuer fields of a journal record (JournalRecord::issuer_*).
constexpr uint8_t kJournalIssuerSection = 1;
// Marks the trailing items of a kSettleChunk record (JournalRecord::settlement_*).
constexpr uint8_t kJournalSettlementSection = 2;
// Marks the optional trailing approved amount (JournalRecord::approved_amount), after the other
// sections (sections must increase).
constexpr uint8_t kJournalApprovedSection = 3;

Status Bad(std::string_view what) {
  return Status::Corruption(std::string("bad ") + std::string(what) + " record");
}

bool Version(Reader* r) {
  uint8_t v = 0;
  return r->U8(&v) && v == kVersion;
}

template <typename E>
bool Enum(Reader* r, E* out) {
  uint8_t v = 0;
  if (!r->U8(&v)) return false;
  *out = static_cast<E>(v);
  return true;
}

}  // namespace

bool Reader::Fixed(uint64_t* v, int bytes) {
  if (in_.size() - pos_ < static_cast<size_t>(bytes)) return false;
  uint64_t x = 0;
  for (int i = 0; i < bytes; ++i) {
    x |= static_cast<uint64_t>(static_cast<uint8_t>(in_[pos_ + i])) << (8 * i);
  }
  pos_ += bytes;
  *v = x;
  return true;
}
bool Reader::U8(uint8_t* v) {
  uint64_t x;
  if (!Fixed(&x, 1)) return false;
  *v = static_cast<uint8_t>(x);
  return true;
}
bool Reader::U16(uint16_t* v) {
  uint64_t x;
  if (!Fixed(&x, 2)) return false;
  *v = static_cast<uint16_t>(x);
  return true;
}
bool Reader::U32(uint32_t* v) {
  uint64_t x;
  if (!Fixed(&x, 4)) return false;
  *v = static_cast<uint32_t>(x);
  return true;
}
bool Reader::U64(uint64_t* v) { return Fixed(v, 8); }
bool Reader::I64(int64_t* v) {
  uint64_t x;
  if (!Fixed(&x, 8)) return false;
  *v = static_cast<int64_t>(x);
  return true;
}
bool Reader::Str(std::string* v) {
  uint32_t n = 0;
  if (!U32(&n) || n > kStringBytesMax || in_.size() - pos_ < n) return false;
  v->assign(in_.substr(pos_, n));
  pos_ += n;
  return true;
}

std::string U64Key(uint64_t v) {
  std::string k(8, '\0');
  for (int i = 7; i >= 0; --i) {
    k[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return k;
}

Result<uint64_t> ParseU64Key(std::string_view key) {
  if (key.size() != 8) return Status::Corruption("bad u64 key");
  uint64_t v = 0;
  for (char c : key) v = (v << 8) | static_cast<uint8_t>(c);
  return v;
}

void EncodeAccount(const Account& a, std::string* out) {
  Writer w(out);
  w.U8(kVersion);
  w.U64(a.id);
  w.U8(static_cast<uint8_t>(a.kind));
  w.U16(a.currency);
  w.U8(static_cast<uint8_t>(a.status));
  w.U32(a.flags);
  w.I64(a.credit_limit_minor);
  w.Str(a.name);
  w.I64(a.debits_posted);
  w.I64(a.credits_posted);
  w.I64(a.debits_pending);
  w.I64(a.credits_pending);
}

Result<Account> DecodeAccount(std::string_view in) {
  Reader r(in);
  Account a;
  if (!Version(&r) || !r.U64(&a.id) || !Enum(&r, &a.kind) || !r.U16(&a.currency) ||
      !Enum(&r, &a.status) || !r.U32(&a.flags) || !r.I64(&a.credit_limit_minor) ||
      !r.Str(&a.name) || !r.I64(&a.debits_posted) || !r.I64(&a.credits_posted) ||
      !r.I64(&a.debits_pending) || !r.I64(&a.credits_pending) || !r.done()) {
    return Bad("account");
  }
  return a;
}

void EncodeCard(const Card& c, std::string* out) {
  Writer w(out);
  w.U8(kVersion);
  w.Str(c.token);
  w.Str(c.masked_pan);
  w.U64(c.account_id);
  w.U16(static_cast<uint16_t>(c.expiry_year));
  w.U8(static_cast<uint8_t>(c.expiry_month));
  w.U8(static_cast<uint8_t>(c.status));
  w.I64(c.single_amount_max_minor);
  w.I64(c.daily_amount_max_minor);
  w.U32(c.daily_count_max);
}

Result<Card> DecodeCard(std::string_view in) {
  Reader r(in);
  Card c;
  uint16_t year = 0;
  uint8_t month = 0;
  if (!Version(&r) || !r.Str(&c.token) || !r.Str(&c.masked_pan) || !r.U64(&c.account_id) ||
      !r.U16(&year) || !r.U8(&month) || !Enum(&r, &c.status) ||
      !r.I64(&c.single_amount_max_minor) || !r.I64(&c.daily_amount_max_minor) ||
      !r.U32(&c.daily_count_max) || !r.done()) {
    return Bad("card");
  }
  c.expiry_year = year;
  c.expiry_month = month;
  return c;
}

void EncodeTransfer(const Transfer& t, std::string* out) {
  Writer w(out);
  w.U8(kVersion);
  w.U64(t.id);
  w.U8(static_cast<uint8_t>(t.kind));
  w.U8(static_cast<uint8_t>(t.state));
  w.U64(t.debit_account);
  w.U64(t.credit_account);
  w.I64(t.amount.minor_units());
  w.U16(t.amount.currency());
  w.U64(t.pending_id);
  w.U64(t.resolved_by);
  w.I64(t.posted_amount_minor);
  w.I64(t.created_unix_us);
  w.I64(t.expires_unix_us);
  w.Str(t.card_token);
  w.I64(t.refunded_minor);
}

Result<Transfer> DecodeTransfer(std::string_view in) {
  Reader r(in);
  Transfer t;
  int64_t minor = 0;
  uint16_t currency = 0;
  if (!Version(&r) || !r.U64(&t.id) || !Enum(&r, &t.kind) || !Enum(&r, &t.state) ||
      !r.U64(&t.debit_account) || !r.U64(&t.credit_account) || !r.I64(&minor) ||
      !r.U16(&currency) || !r.U64(&t.pending_id) || !r.U64(&t.resolved_by) ||
      !r.I64(&t.posted_amount_minor) || !r.I64(&t.created_unix_us) || !r.I64(&t.expires_unix_us) ||
      // Records written before transfers carried the card end here.
      (!r.done() && !r.Str(&t.card_token)) ||
      // ... and before settlement refunds were counted against their original, here.
      (!r.done() && !r.I64(&t.refunded_minor)) || !r.done()) {
    return Bad("transfer");
  }
  t.amount = Amount(minor, currency);
  return t;
}

void EncodeDecision(const Decision& d, std::string* out) {
  Writer w(out);
  w.U8(static_cast<uint8_t>(d.response_code));
  w.U8(static_cast<uint8_t>(d.reason));
  w.Str(d.auth_code);
  w.U64(d.transfer_id);
  w.I64(d.approved_amount.minor_units());
  w.U16(d.approved_amount.currency());
  w.I64(d.available.minor_units());
  w.U16(d.available.currency());
  w.U64(d.journal_sequence);
  w.Str(d.card_token);
}

Result<Decision> DecodeDecision(Reader* r) {
  Decision d;
  int64_t approved = 0, available = 0;
  uint16_t approved_ccy = 0, available_ccy = 0;
  if (!Enum(r, &d.response_code) || !Enum(r, &d.reason) || !r->Str(&d.auth_code) ||
      !r->U64(&d.transfer_id) || !r->I64(&approved) || !r->U16(&approved_ccy) ||
      !r->I64(&available) || !r->U16(&available_ccy) || !r->U64(&d.journal_sequence) ||
      !r->Str(&d.card_token)) {
    return Bad("decision");
  }
  d.approved_amount = Amount(approved, approved_ccy);
  d.available = Amount(available, available_ccy);
  return d;
}

void EncodeDedupe(uint64_t fingerprint, const Decision& d, std::string* out) {
  Writer w(out);
  w.U8(kVersion);
  w.U64(fingerprint);
  EncodeDecision(d, out);
}

Result<std::pair<uint64_t, Decision>> DecodeDedupe(std::string_view in) {
  Reader r(in);
  uint64_t fingerprint = 0;
  if (!Version(&r) || !r.U64(&fingerprint)) return Bad("dedupe");
  auto d = DecodeDecision(&r);
  if (!d.ok() || !r.done()) return Bad("dedupe");
  return std::make_pair(fingerprint, std::move(d).value());
}

std::string VelocityKey(std::string_view token, uint32_t day) {
  std::string k(token);
  k.push_back('/');
  for (int i = 3; i >= 0; --i) k.push_back(static_cast<char>((day >> (8 * i)) & 0xff));
  return k;
}

void EncodeVelocity(const Velocity& v, std::string* out) {
  Writer w(out);
  w.U8(kVersion);
  w.U32(v.count);
  w.I64(v.amount_minor);
}

Result<Velocity> DecodeVelocity(std::string_view key, std::string_view value, std::string* token) {
  if (key.size() < 5 || key[key.size() - 5] != '/') return Bad("velocity key");
  Velocity v;
  for (size_t i = key.size() - 4; i < key.size(); ++i) {
    v.day = (v.day << 8) | static_cast<uint8_t>(key[i]);
  }
  token->assign(key.substr(0, key.size() - 5));
  Reader r(value);
  if (!Version(&r) || !r.U32(&v.count) || !r.I64(&v.amount_minor) || !r.done()) {
    return Bad("velocity");
  }
  return v;
}

void EncodeJournalContent(const JournalRecord& j, std::string* out) {
  Writer w(out);
  w.U8(kVersion);
  w.U64(j.sequence);
  w.I64(j.time_unix_us);
  w.U8(static_cast<uint8_t>(j.channel));
  w.U8(static_cast<uint8_t>(j.operation));
  w.Str(j.mti);
  w.Str(j.terminal_id);
  w.Str(j.merchant_id);
  w.Str(j.acquirer_id);
  w.Str(j.stan);
  w.Str(j.rrn);
  w.Str(j.masked_pan);
  w.Str(j.card_token);
  w.I64(j.amount.minor_units());
  w.U16(j.amount.currency());
  w.Str(j.route);
  w.U8(static_cast<uint8_t>(j.response_code));
  w.U8(static_cast<uint8_t>(j.reason));
  w.Str(j.auth_code);
  w.U64(j.transfer_id);
  w.I64(j.latency_us);
  w.Str(j.request_key);
  w.Str(j.prev_hash);
  // Routed requests only, so a record without them encodes (and hashes) exactly as records did
  // before these fields existed, and old records decode unchanged.
  if (!j.issuer_id.empty() || !j.issuer_link.empty() || j.issuer_stan != 0 ||
      !j.issuer_time.empty()) {
    w.U8(kJournalIssuerSection);
    w.Str(j.issuer_id);
    w.Str(j.issuer_link);
    w.U32(j.issuer_stan);
    w.Str(j.issuer_time);
  }
  // kSettleChunk records only, for the same reason.
  if (!j.settlement_batch_id.empty() || !j.settlement_items.empty()) {
    w.U8(kJournalSettlementSection);
    w.Str(j.settlement_batch_id);
    w.U32(static_cast<uint32_t>(j.settlement_items.size()));
    for (const SettlementItemRecord& item : j.settlement_items) {
      w.U64(item.number);
      w.U8(static_cast<uint8_t>(item.operation));
      w.U8(static_cast<uint8_t>(item.response_code));
      w.U8(static_cast<uint8_t>(item.reason));
      w.I64(item.amount_minor);
      w.I64(item.approved_minor);
      w.U64(item.transfer_id);
      w.U64(item.fingerprint);
      w.U8(item.remembered ? 1 : 0);
      w.Str(item.rrn);
      w.Str(item.original_request_key);
      w.Str(item.masked_pan);
    }
  }
  if (j.approved_amount.currency() != 0) {
    w.U8(kJournalApprovedSection);
    w.I64(j.approved_amount.minor_units());
    w.U16(j.approved_amount.currency());
  }
}

void SealJournalRecord(JournalRecord* j, std::string* value) {
  value->clear();
  // One allocation: a settlement chunk's record is ~100 bytes per item (up to ~100 KiB).
  value->reserve(256 + j->settlement_items.size() * 128);
  EncodeJournalContent(*j, value);
  j->hash = Sha256(*value);
  value->append(j->hash);
}

std::string SealJournalRecord(JournalRecord* j) {
  std::string value;
  SealJournalRecord(j, &value);
  return value;
}

Result<JournalRecord> DecodeJournalRecord(std::string_view value) {
  if (value.size() < kHashBytes + 1) return Bad("journal");
  std::string_view content = value.substr(0, value.size() - kHashBytes);
  Reader r(content);
  JournalRecord j;
  int64_t minor = 0;
  uint16_t currency = 0;
  if (!Version(&r) || !r.U64(&j.sequence) || !r.I64(&j.time_unix_us) || !Enum(&r, &j.channel) ||
      !Enum(&r, &j.operation) || !r.Str(&j.mti) || !r.Str(&j.terminal_id) ||
      !r.Str(&j.merchant_id) || !r.Str(&j.acquirer_id) || !r.Str(&j.stan) || !r.Str(&j.rrn) ||
      !r.Str(&j.masked_pan) || !r.Str(&j.card_token) || !r.I64(&minor) || !r.U16(&currency) ||
      !r.Str(&j.route) || !Enum(&r, &j.response_code) || !Enum(&r, &j.reason) ||
      !r.Str(&j.auth_code) || !r.U64(&j.transfer_id) || !r.I64(&j.latency_us) ||
      !r.Str(&j.request_key) || !r.Str(&j.prev_hash)) {
    return Bad("journal");
  }
  // Optional trailing sections, each at most once and in this order.
  uint8_t last_section = 0;
  while (!r.done()) {
    uint8_t section = 0;
    if (!r.U8(&section) || section <= last_section) return Bad("journal");
    last_section = section;
    if (section == kJournalIssuerSection) {
      if (!r.Str(&j.issuer_id) || !r.Str(&j.issuer_link) || !r.U32(&j.issuer_stan) ||
          !r.Str(&j.issuer_time)) {
        return Bad("journal");
      }
    } else if (section == kJournalSettlementSection) {
      uint32_t count = 0;
      if (!r.Str(&j.settlement_batch_id) || !r.U32(&count) ||
          count > Store::kSettlementChunkItemsMax) {
        return Bad("journal");
      }
      j.settlement_items.resize(count);
      uint8_t remembered = 0;
      for (SettlementItemRecord& item : j.settlement_items) {
        if (!r.U64(&item.number) || !Enum(&r, &item.operation) || !Enum(&r, &item.response_code) ||
            !Enum(&r, &item.reason) || !r.I64(&item.amount_minor) || !r.I64(&item.approved_minor) ||
            !r.U64(&item.transfer_id) || !r.U64(&item.fingerprint) || !r.U8(&remembered) ||
            remembered > 1 || !r.Str(&item.rrn) || !r.Str(&item.original_request_key) ||
            !r.Str(&item.masked_pan)) {
          return Bad("journal");
        }
        item.remembered = remembered == 1;
      }
    } else if (section == kJournalApprovedSection) {
      int64_t approved = 0;
      uint16_t approved_currency = 0;
      if (!r.I64(&approved) || !r.U16(&approved_currency) || approved_currency == 0) {
        return Bad("journal");
      }
      j.approved_amount = Amount(approved, approved_currency);
    } else {
      return Bad("journal");
    }
  }
  j.amount = Amount(minor, currency);
  j.hash.assign(value.substr(value.size() - kHashBytes));
  if (Sha256(content) != j.hash) {
    return Status::Corruption("journal record " + std::to_string(j.sequence) +
                              ": checksum mismatch");
  }
  return j;
}

void EncodeJournalHead(uint64_t sequence, std::string_view hash, std::string* out) {
  Writer w(out);
  w.U8(kVersion);
  w.U64(sequence);
  w.Str(hash);
}

Result<std::pair<uint64_t, std::string>> DecodeJournalHead(std::string_view in) {
  Reader r(in);
  uint64_t seq = 0;
  std::string hash;
  if (!Version(&r) || !r.U64(&seq) || !r.Str(&hash) || !r.done()) return Bad("journal head");
  return std::make_pair(seq, std::move(hash));
}

std::string Sha256(std::string_view data) {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  thread_local std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                                           &EVP_MD_CTX_free);
  std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
  unsigned int n = 0;
  if (md == nullptr || !ctx || EVP_DigestInit_ex2(ctx.get(), md, nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), digest.data(), &n) != 1) {
    // The built-in provider cannot lose SHA-256; fall back to the one-shot form all the same.
    SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest.data());
  }
  return std::string(reinterpret_cast<const char*>(digest.data()), digest.size());
}

CardTokenizer::CardTokenizer(std::string_view key) : key_(key) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  EVP_MAC_CTX* ctx = mac ? EVP_MAC_CTX_new(mac) : nullptr;
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest, 0),
                         OSSL_PARAM_construct_end()};
  if (ctx && EVP_MAC_init(ctx, reinterpret_cast<const unsigned char*>(key_.data()), key_.size(),
                          params) != 1) {
    EVP_MAC_CTX_free(ctx);
    ctx = nullptr;
  }
  mac_ = mac;
  ctx_ = ctx;
}

CardTokenizer::~CardTokenizer() {
  EVP_MAC_CTX_free(static_cast<EVP_MAC_CTX*>(ctx_));
  EVP_MAC_free(static_cast<EVP_MAC*>(mac_));
}

std::string CardTokenizer::Token(std::string_view pan_digits) {
  auto* ctx = static_cast<EVP_MAC_CTX*>(ctx_);
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  size_t n = 0;
  // A NULL key re-initialises with the key already set, skipping the key schedule.
  if (ctx == nullptr || EVP_MAC_init(ctx, nullptr, 0, nullptr) != 1 ||
      EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(pan_digits.data()),
                     pan_digits.size()) != 1 ||
      EVP_MAC_final(ctx, out.data(), &n, out.size()) != 1) {
    return CardTokenFor(key_, pan_digits);
  }
  return Hex(std::string_view(reinterpret_cast<const char*>(out.data()), n));
}

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) {
    const auto b = static_cast<uint8_t>(c);
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xf]);
  }
  return out;
}

}  // namespace kytkin::storage::codec
