#include "storage/settlement_book.h"

#include <algorithm>

#include "storage/codec.h"

namespace kytkin::storage {
namespace {

constexpr std::string_view kBatchPrefix = "settlement/batch/";
constexpr std::string_view kBusinessDateKey = "settlement/business_date";
constexpr uint8_t kBatchVersion = 1;
constexpr std::string_view kRemotePrefix = "settlement/remote/";
constexpr std::string_view kIssuerAccountPrefix = "settlement/issuer_account/";
constexpr std::string_view kItemPrefix = "settlement/item/";
constexpr size_t kItemKeySuffixBytes = 9;  // "\0" + big-endian last number

std::string ItemKey(std::string_view batch_id, uint64_t last) {
  std::string key(kItemPrefix);
  key.append(batch_id).push_back('\0');
  key.append(codec::U64Key(last));
  return key;
}

// [prefix, the key just past every key with the prefix)
std::string PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  end.back() = static_cast<char>(end.back() + 1);
  return end;
}

Result<uint64_t> DecodeU64Value(std::string_view v) {
  codec::Reader r(v);
  uint64_t out = 0;
  if (!r.U64(&out) || !r.done()) return Status::Corruption("settlement index value");
  return out;
}

void EncodeTotals(const BatchTotals& t, codec::Writer& w) {
  w.U64(t.captures_count);
  w.I64(t.captures_minor);
  w.U64(t.refunds_count);
  w.I64(t.refunds_minor);
  w.U64(t.reversals_count);
  w.I64(t.reversals_minor);
}

bool DecodeTotals(codec::Reader& r, BatchTotals* t) {
  return r.U64(&t->captures_count) && r.I64(&t->captures_minor) && r.U64(&t->refunds_count) &&
         r.I64(&t->refunds_minor) && r.U64(&t->reversals_count) && r.I64(&t->reversals_minor);
}

}  // namespace

std::string_view BatchStateName(BatchState state) {
  switch (state) {
    case BatchState::kOpen:
      return "open";
    case BatchState::kBalanced:
      return "balanced";
    case BatchState::kSettled:
      return "settled";
  }
  return "unknown";
}

void SettlementBook::Encode(const SettlementBatch& b, std::string* out) {
  codec::Writer w(out);
  w.U8(kBatchVersion);
  w.Str(b.batch_id);
  w.U8(static_cast<uint8_t>(b.state));
  w.I64(b.business_date);
  w.Str(b.acquirer_id);
  w.Str(b.terminal_id);
  w.Str(b.merchant_id);
  w.U16(b.currency);
  w.U64(b.merchant_account);
  w.U64(b.acquirer_account);
  w.U64(b.fees_account);
  w.U32(b.fee_bps);
  w.I64(b.fee_fixed_minor);
  EncodeTotals(b.held, w);
  EncodeTotals(b.declared, w);
  w.U32(b.reconcile_attempts);
  w.U64(b.forced_count);
  w.U64(b.rejected_count);
  w.I64(b.reversed_captures_minor);
  w.U8(b.reconciled ? 1 : 0);
  w.I64(b.fee_minor);
  w.I64(b.payout_minor);
  w.I64(b.opened_unix_us);
  w.I64(b.settled_unix_us);
}

Result<SettlementBatch> SettlementBook::Decode(std::string_view in) {
  codec::Reader r(in);
  SettlementBatch b;
  uint8_t version = 0, state = 0, reconciled = 0;
  int64_t date = 0;
  bool ok = r.U8(&version) && version == kBatchVersion && r.Str(&b.batch_id) && r.U8(&state) &&
            r.I64(&date) && r.Str(&b.acquirer_id) && r.Str(&b.terminal_id) &&
            r.Str(&b.merchant_id) && r.U16(&b.currency) && r.U64(&b.merchant_account) &&
            r.U64(&b.acquirer_account) && r.U64(&b.fees_account) && r.U32(&b.fee_bps) &&
            r.I64(&b.fee_fixed_minor) && DecodeTotals(r, &b.held) && DecodeTotals(r, &b.declared) &&
            r.U32(&b.reconcile_attempts) && r.U64(&b.forced_count) && r.U64(&b.rejected_count) &&
            r.I64(&b.reversed_captures_minor) && r.U8(&reconciled) && r.I64(&b.fee_minor) &&
            r.I64(&b.payout_minor) && r.I64(&b.opened_unix_us) && r.I64(&b.settled_unix_us) &&
            r.done();
  if (!ok || state < static_cast<uint8_t>(BatchState::kOpen) ||
      state > static_cast<uint8_t>(BatchState::kSettled)) {
    return Status::Corruption("settlement batch record does not decode");
  }
  b.state = static_cast<BatchState>(state);
  b.business_date = static_cast<int32_t>(date);
  b.reconciled = reconciled != 0;
  return b;
}

Status SettlementBook::Load(ReadView& view) {
  Status bad;
  std::string end(kBatchPrefix);
  end.back() = static_cast<char>(end.back() + 1);  // "settlement/batch0": just past the prefix
  KYTKIN_RETURN_IF_ERROR(
      view.Scan(Cf::kMeta, kBatchPrefix, end, [&](std::string_view, std::string_view v) {
        auto b = Decode(v);
        if (!b.ok()) {
          bad = b.status();
          return false;
        }
        batches_[b->batch_id] = std::move(b).value();
        return true;
      }));
  KYTKIN_RETURN_IF_ERROR(bad);
  // The off-us capture index is not read: RemoteAuthorization reads an entry when an item asks.
  KYTKIN_RETURN_IF_ERROR(
      view.Scan(Cf::kMeta, kIssuerAccountPrefix, PrefixEnd(kIssuerAccountPrefix),
                [&](std::string_view k, std::string_view v) {
                  auto id = DecodeU64Value(v);
                  if (!id.ok() || *id < kRemoteIssuerAccountBase) {
                    bad = Status::Corruption("settlement issuer account record");
                    return false;
                  }
                  issuer_accounts_[std::string(k.substr(kIssuerAccountPrefix.size()))] = *id;
                  next_issuer_account_ = std::max(next_issuer_account_, *id + 1);
                  return true;
                }));
  KYTKIN_RETURN_IF_ERROR(bad);
  KYTKIN_RETURN_IF_ERROR(view.Scan(
      Cf::kMeta, kItemPrefix, PrefixEnd(kItemPrefix), [&](std::string_view k, std::string_view v) {
        k.remove_prefix(kItemPrefix.size());
        codec::Reader r(v);
        ItemRun run;
        auto last = k.size() >= kItemKeySuffixBytes
                        ? codec::ParseU64Key(k.substr(k.size() - kItemKeySuffixBytes + 1))
                        : Result<uint64_t>(Status::Corruption("short"));
        if (!last.ok() || k[k.size() - kItemKeySuffixBytes] != '\0' || !r.U64(&run.first) ||
            !r.U64(&run.journal_sequence) || !r.U64(&run.fingerprint) || !r.done() ||
            run.first == 0 || run.first > *last) {
          bad = Status::Corruption("settlement item run record");
          return false;
        }
        const std::string_view batch_id = k.substr(0, k.size() - kItemKeySuffixBytes);
        auto it = items_.find(batch_id);
        if (it == items_.end()) it = items_.emplace(std::string(batch_id), ItemRuns{}).first;
        it->second.by_last_[*last] = run;
        it->second.decided_ += *last - run.first + 1;
        return true;
      }));
  KYTKIN_RETURN_IF_ERROR(bad);
  auto date = view.Get(Cf::kMeta, kBusinessDateKey);
  if (date.ok()) {
    codec::Reader r(*date);
    int64_t d = 0;
    if (!r.I64(&d) || !r.done()) return Status::Corruption("settlement business date");
    business_date_ = static_cast<int32_t>(d);
  } else if (!date.status().IsNotFound()) {
    return date.status();
  }
  return Status::Ok();
}

SettlementBatch* SettlementBook::Find(std::string_view batch_id) {
  auto it = batches_.find(batch_id);
  return it == batches_.end() ? nullptr : &it->second;
}

const SettlementBook::ItemRun* SettlementBook::ItemRuns::Find(uint64_t number) const {
  auto it = by_last_.lower_bound(number);
  return it != by_last_.end() && it->second.first <= number ? &it->second : nullptr;
}

size_t SettlementBook::item_runs() const {
  size_t runs = 0;
  for (const auto& [batch_id, batch_runs] : items_) runs += batch_runs.by_last_.size();
  return runs;
}

const SettlementBook::ItemRuns* SettlementBook::Items(std::string_view batch_id) const {
  auto it = items_.find(batch_id);
  return it == items_.end() ? nullptr : &it->second;
}

void SettlementBook::AddItemRun(std::string_view batch_id, uint64_t first, uint64_t last,
                                const ItemRun& run) {
  auto it = items_.find(batch_id);
  if (it == items_.end()) it = items_.emplace(std::string(batch_id), ItemRuns{}).first;
  ItemRun stored = run;
  stored.first = first;
  it->second.by_last_[last] = stored;
  it->second.decided_ += last - first + 1;
  items_dirty_.emplace_back(it->first, last);
}

Result<uint64_t> SettlementBook::RemoteAuthorization(Backend& backend, uint64_t sequence) const {
  if (auto it = remote_.find(sequence); it != remote_.end()) return it->second.value;
  // Not written by a batch still in flight: the disk has its latest value, or none.
  Result<std::string> stored =
      backend.Get(Cf::kMeta, std::string(kRemotePrefix) + codec::U64Key(sequence));
  if (!stored.ok()) {
    if (stored.status().IsNotFound()) return uint64_t{0};
    return stored.status();
  }
  return DecodeU64Value(*stored);
}

void SettlementBook::SetRemoteAuthorization(uint64_t sequence, uint64_t value, uint64_t batch_seq) {
  remote_[sequence] = RemoteEntry{value, batch_seq};
  remote_dirty_.insert(sequence);
}

void SettlementBook::EvictDurable(uint64_t durable_batch) {
  std::erase_if(remote_, [&](const auto& e) { return e.second.batch_seq <= durable_batch; });
}

std::string SettlementBook::IssuerKey(std::string_view issuer, uint16_t currency) {
  std::string key(issuer);
  key.append("|").append(std::to_string(currency));
  return key;
}

uint64_t SettlementBook::IssuerAccount(std::string_view issuer, uint16_t currency) const {
  auto it = issuer_accounts_.find(IssuerKey(issuer, currency));
  return it == issuer_accounts_.end() ? 0 : it->second;
}

uint64_t SettlementBook::AddIssuerAccount(std::string_view issuer, uint16_t currency) {
  std::string key = IssuerKey(issuer, currency);
  const uint64_t id = next_issuer_account_++;
  issuer_accounts_[key] = id;
  issuer_accounts_dirty_.insert(std::move(key));
  return id;
}

SettlementBatch& SettlementBook::Put(const SettlementBatch& batch) {
  dirty_.insert(batch.batch_id);
  return batches_[batch.batch_id] = batch;
}

void SettlementBook::Flush(Batch& batch) {
  for (const std::string& id : dirty_) {
    scratch_.clear();
    Encode(batches_.at(id), &scratch_);
    batch.Put(Cf::kMeta, std::string(kBatchPrefix) + id, scratch_);
  }
  dirty_.clear();
  for (uint64_t sequence : remote_dirty_) {
    scratch_.clear();
    codec::Writer w(&scratch_);
    w.U64(remote_.at(sequence).value);
    batch.Put(Cf::kMeta, std::string(kRemotePrefix) + codec::U64Key(sequence), scratch_);
  }
  remote_dirty_.clear();
  for (const std::string& key : issuer_accounts_dirty_) {
    scratch_.clear();
    codec::Writer w(&scratch_);
    w.U64(issuer_accounts_.at(key));
    batch.Put(Cf::kMeta, std::string(kIssuerAccountPrefix) + key, scratch_);
  }
  issuer_accounts_dirty_.clear();
  for (const auto& [batch_id, last] : items_dirty_) {
    const ItemRun& run = items_.at(batch_id).by_last_.at(last);
    scratch_.clear();
    codec::Writer w(&scratch_);
    w.U64(run.first);
    w.U64(run.journal_sequence);
    w.U64(run.fingerprint);
    batch.Put(Cf::kMeta, ItemKey(batch_id, last), scratch_);
  }
  items_dirty_.clear();
  if (business_date_dirty_) {
    scratch_.clear();
    codec::Writer w(&scratch_);
    w.I64(business_date_);
    batch.Put(Cf::kMeta, kBusinessDateKey, scratch_);
    business_date_dirty_ = false;
  }
}

}  // namespace kytkin::storage
