#include "switch/settlement.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <map>
#include <tuple>

#include "core/text.h"

namespace kytkin::settlement {
namespace {

using storage::Reason;
using storage::SettlementBatch;

constexpr int64_t kMicrosPerDay = 86'400'000'000;
constexpr int64_t kMicrosPerMinute = 60'000'000;
constexpr int64_t kBasisPointsPerUnit = 10'000;
constexpr size_t kBatchIdBytesMax = storage::Request::kRequestKeyBytesMax / 2;

// Days since 1970-01-01 <-> civil date (Howard Hinnant's algorithms).
int32_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return static_cast<int32_t>(era * 146097 + static_cast<int64_t>(doe) - 719468);
}

void CivilFromDays(int64_t z, int* year, unsigned* month, unsigned* day) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *day = doy - (153 * mp + 2) / 5 + 1;
  *month = mp < 10 ? mp + 3 : mp - 9;
  *year = static_cast<int>(static_cast<int64_t>(yoe) + era * 400 + (*month <= 2));
}

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

}  // namespace

int32_t BusinessDateAt(int64_t unix_us, uint32_t cutover_minute_utc) {
  // The business date D runs from the cut-over on D-1 to the cut-over on D; with a midnight
  // cut-over that is the UTC date itself.
  const int64_t cutover_us = static_cast<int64_t>(cutover_minute_utc) * kMicrosPerMinute;
  return static_cast<int32_t>(FloorDiv(unix_us - cutover_us, kMicrosPerDay) +
                              (cutover_minute_utc > 0 ? 1 : 0));
}

std::string FormatDate(int32_t days) {
  int year = 0;
  unsigned month = 0, day = 0;
  CivilFromDays(days, &year, &month, &day);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", year, month, day);
  return buf;
}

Result<int32_t> ParseDate(std::string_view text) {
  unsigned y = 0, m = 0, d = 0;
  auto num = [&](size_t at, size_t len, unsigned& out) {
    auto r = std::from_chars(text.data() + at, text.data() + at + len, out);
    return r.ec == std::errc() && r.ptr == text.data() + at + len;
  };
  if (text.size() == 10 && text[4] == '-' && text[7] == '-' && num(0, 4, y) && num(5, 2, m) &&
      num(8, 2, d) && y >= 1970 && m >= 1 && m <= 12 && d >= 1 && d <= 31) {
    const int32_t days = DaysFromCivil(y, m, d);
    if (FormatDate(days) == text) return days;  // rejects 2026-02-30
  }
  return Status::InvalidArgument("date must be YYYY-MM-DD, got \"" + std::string(text) + "\"");
}

Result<std::vector<SettlementBatch>> CutOverIfDue(storage::Store& store,
                                                  const SettlementConfig& config,
                                                  int64_t now_unix_us) {
  const int32_t today = BusinessDateAt(now_unix_us, config.cutover_minute_utc);
  auto current = store.SettlementBusinessDate();
  if (!current.ok()) return current.status();
  if (*current >= today) return std::vector<SettlementBatch>{};
  return store.CutOverSettlement(today);
}

std::string_view ItemKindName(ItemKind kind) {
  switch (kind) {
    case ItemKind::kCapture:
      return "capture";
    case ItemKind::kRefund:
      return "refund";
    case ItemKind::kReversal:
      return "reversal";
  }
  return "unknown";
}

std::optional<ItemKind> ParseItemKind(std::string_view name) {
  for (ItemKind k : {ItemKind::kCapture, ItemKind::kRefund, ItemKind::kReversal}) {
    if (ItemKindName(k) == name) return k;
  }
  return std::nullopt;
}

std::string_view ItemResult::outcome() const {
  if (reason == Reason::kCaptureConflict) return "conflict";
  if (!IsApproval(code)) return "rejected";
  if (reason == Reason::kForcePosted) return "force_posted";
  switch (kind) {
    case ItemKind::kCapture:
      return "captured";
    case ItemKind::kRefund:
      return "refunded";
    case ItemKind::kReversal:
      return "reversed";
  }
  return "rejected";
}

Result<Reconciliation> Reconcile(storage::Store& store, std::string_view batch_id,
                                 const storage::BatchTotals& declared) {
  auto batch = store.ReconcileSettlementBatch(batch_id, declared);
  if (!batch.ok()) return batch.status();
  Reconciliation out;
  out.batch = std::move(batch).value();
  // A balanced or settled batch was reconciled before; the same totals get the same answer.
  const bool in_balance =
      out.batch.held == declared && out.batch.state != storage::BatchState::kOpen;
  out.code = in_balance ? ResponseCode::kApproved : ResponseCode::kReconciliationError;
  return out;
}

std::string ItemKey(std::string_view batch_id, uint64_t number) {
  std::string key = "stl|";
  key.append(batch_id).append("|").append(std::to_string(number));
  return key;
}

storage::Request ItemRequest(const SettlementBatch& batch, const Item& item,
                             const SettlementConfig& config, storage::Channel channel,
                             std::string_view mti) {
  storage::Request r;
  switch (item.kind) {
    case ItemKind::kCapture:
      r.operation = storage::Operation::kSettleCapture;
      break;
    case ItemKind::kRefund:
      r.operation = storage::Operation::kSettleRefund;
      break;
    case ItemKind::kReversal:
      r.operation = storage::Operation::kSettleReversal;
      break;
  }
  r.request_key = ItemKey(batch.batch_id, item.number);
  r.batch_id = batch.batch_id;
  r.settlement_item_number = item.number;
  r.amount = Amount(item.amount_minor, batch.currency);
  r.rrn = item.auth_rrn;
  r.original_request_key = item.auth_request_key;
  r.original_auth_code = item.auth_code;
  r.pan = item.pan;
  r.channel = channel;
  r.mti = std::string(mti);
  r.terminal_id = batch.terminal_id;
  r.merchant_id = batch.merchant_id;
  r.acquirer_id = batch.acquirer_id;
  r.stan = item.stan;
  r.route = "settlement";
  r.capture_tolerance_bps = config.capture_tolerance_bps;
  r.capture_tolerance_minor_max = config.capture_tolerance_minor_max;
  return r;
}

Result<std::unique_ptr<BatchWriter>> BatchWriter::Open(storage::Store& store,
                                                       const SettlementConfig& config,
                                                       const BatchHeader& header,
                                                       const Clock& clock, Options options) {
  if (header.batch_id.empty() || header.batch_id.size() > kBatchIdBytesMax) {
    return Status::InvalidArgument("batch_id: must be 1.." + std::to_string(kBatchIdBytesMax) +
                                   " bytes");
  }
  if (header.merchant_id.empty()) return Status::InvalidArgument("merchant_id: required");
  if (header.terminal_id.empty()) return Status::InvalidArgument("terminal_id: required");
  SettlementBatch h;
  h.batch_id = header.batch_id;
  h.acquirer_id = header.acquirer_id;
  h.terminal_id = header.terminal_id;
  h.merchant_id = header.merchant_id;
  h.currency = header.currency;
  h.acquirer_account = config.acquirer_account;
  h.fees_account = config.fees_account;
  h.fee_bps = config.fee_bps;
  h.fee_fixed_minor = config.fee_fixed_minor;
  if (auto m = config.merchants.find(header.merchant_id); m != config.merchants.end()) {
    h.merchant_account = m->second.account;
    if (m->second.fee_bps >= 0) h.fee_bps = static_cast<uint32_t>(m->second.fee_bps);
    if (m->second.fee_fixed_minor >= 0) h.fee_fixed_minor = m->second.fee_fixed_minor;
  } else {
    uint64_t id = 0;
    const char* end = header.merchant_id.data() + header.merchant_id.size();
    auto [ptr, ec] = std::from_chars(header.merchant_id.data(), end, id);
    if (ec != std::errc() || ptr != end || id == 0) {
      return Status::InvalidArgument("merchant_id: " + header.merchant_id +
                                     " has no payout account ([settlement.merchants])");
    }
    h.merchant_account = id;
  }
  h.business_date = BusinessDateAt(clock.NowUnixMicros(), config.cutover_minute_utc);
  auto opened = store.OpenSettlementBatch(h);
  if (!opened.ok()) return opened.status();
  return std::unique_ptr<BatchWriter>(
      new BatchWriter(store, config, std::move(opened).value(), std::move(options)));
}

BatchWriter::BatchWriter(storage::Store& store, const SettlementConfig& config, SettlementBatch b,
                         Options options)
    : store_(store),
      config_(config),
      batch_(std::move(b)),
      options_(std::move(options)),
      chunk_items_max_(
          std::clamp<size_t>(config.window_items_max, 1, storage::Store::kSettlementChunkItemsMax)),
      building_chunk_(std::make_shared<Chunk>()) {}

BatchWriter::~BatchWriter() {
  // An item Add accepted is decided even without Finish (a gRPC stream that ends without its
  // totals), as when every item was submitted on its own.
  (void)SubmitChunk(nullptr);
  // Completions hold their own chunk; wait so none outlives the store's caller expectations.
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] {
    return std::all_of(in_flight_.begin(), in_flight_.end(), [](auto& c) { return c->done; });
  });
}

Status BatchWriter::Add(const Item& item, const std::function<void(const ItemResult&)>& on_result) {
  if (item.number == 0) return Status::InvalidArgument("item: number must be >= 1");
  if (item.amount_minor <= 0) return Status::InvalidArgument("amount: must be > 0");
  {
    std::unique_lock lock(mu_);
    if (!failure_.ok()) return failure_;
  }
  Deliver(on_result, false);
  ItemResult& result = building_chunk_->results.emplace_back();
  result.number = item.number;
  result.kind = item.kind;
  result.item_amount_minor = item.amount_minor;
  if (item.pan) result.masked_pan = item.pan->masked();
  building_.push_back(ItemRequest(batch_, item, config_, options_.channel, options_.mti));
  if (building_.size() >= chunk_items_max_) return SubmitChunk(on_result);
  return Status::Ok();
}

Status BatchWriter::SubmitChunk(const std::function<void(const ItemResult&)>& on_result) {
  if (building_.empty()) return Status::Ok();
  // Wait for room: deliver what is done, then block for the oldest chunk.
  {
    std::unique_lock lock(mu_);
    while (!in_flight_.empty() && in_flight_items_ + building_.size() > config_.window_items_max) {
      cv_.wait(lock, [&] { return in_flight_.front()->done; });
      lock.unlock();
      Deliver(on_result, false);
      lock.lock();
    }
  }
  std::shared_ptr<Chunk> chunk = std::move(building_chunk_);
  building_chunk_ = std::make_shared<Chunk>();
  const size_t items = building_.size();
  {
    std::lock_guard lock(mu_);
    in_flight_.push_back(chunk);
    in_flight_items_ += items;
  }
  std::vector<storage::Request> requests = std::move(building_);
  building_.clear();
  building_.reserve(chunk_items_max_);
  Status s = store_.SubmitSettlementChunk(
      std::move(requests), [this, chunk](Result<std::vector<storage::Decision>> decided) {
        std::lock_guard lock(mu_);
        if (decided.ok() && decided->size() == chunk->results.size()) {
          for (size_t i = 0; i < decided->size(); ++i) {
            const storage::Decision& d = (*decided)[i];
            ItemResult& r = chunk->results[i];
            r.code = d.response_code;
            r.reason = d.reason;
            r.duplicate = d.duplicate;
            r.amount_minor = d.approved_amount.minor_units();
            r.transfer_id = d.transfer_id;
          }
        } else {
          chunk->failure = decided.ok() ? Status::Internal("settlement chunk: decisions missing")
                                        : decided.status();
        }
        chunk->done = true;
        cv_.notify_all();
      });
  if (!s.ok()) {
    std::lock_guard lock(mu_);
    in_flight_.pop_back();
    in_flight_items_ -= items;
    if (failure_.ok()) failure_ = s;
    return s;
  }
  return Status::Ok();
}

void BatchWriter::Deliver(const std::function<void(const ItemResult&)>& on_result, bool wait_all) {
  for (;;) {
    std::shared_ptr<Chunk> chunk;
    {
      std::unique_lock lock(mu_);
      if (in_flight_.empty()) return;
      if (wait_all) cv_.wait(lock, [&] { return in_flight_.front()->done; });
      if (!in_flight_.front()->done) return;
      chunk = std::move(in_flight_.front());
      in_flight_.pop_front();
      in_flight_items_ -= chunk->results.size();
      if (!chunk->failure.ok() && failure_.ok()) failure_ = chunk->failure;
    }
    if (!chunk->failure.ok() || !on_result) continue;
    for (const ItemResult& r : chunk->results) on_result(r);
  }
}

Status BatchWriter::Finish(const std::function<void(const ItemResult&)>& on_result) {
  Status submitted = SubmitChunk(on_result);
  Deliver(on_result, true);
  std::lock_guard lock(mu_);
  if (!submitted.ok() && failure_.ok()) failure_ = submitted;
  return failure_;
}

int64_t BatchFee(const SettlementBatch& b) {
  if (b.state == storage::BatchState::kSettled) return b.fee_minor;
  const int64_t gross = b.gross_minor();
  if (gross <= 0) return 0;
  __extension__ using Wide = __int128;
  const Wide scaled = static_cast<Wide>(gross) * b.fee_bps;
  return static_cast<int64_t>((scaled + kBasisPointsPerUnit / 2) / kBasisPointsPerUnit) +
         b.fee_fixed_minor * static_cast<int64_t>(b.held.captures_count);
}

Result<std::vector<ReportRow>> BuildReport(storage::Store& store, int32_t business_date) {
  auto batches = store.ListSettlementBatches(business_date);
  if (!batches.ok()) return batches.status();
  std::map<std::tuple<std::string, std::string, uint16_t>, ReportRow> rows;
  for (const SettlementBatch& b : *batches) {
    ReportRow& row = rows[{b.acquirer_id, b.merchant_id, b.currency}];
    row.acquirer_id = b.acquirer_id;
    row.merchant_id = b.merchant_id;
    row.currency = b.currency;
    ++row.batches;
    if (b.state == storage::BatchState::kSettled) ++row.batches_settled;
    row.captures_count += b.held.captures_count;
    row.refunds_count += b.held.refunds_count;
    row.reversals_count += b.held.reversals_count;
    row.gross_minor += b.gross_minor();
    row.refunds_minor += b.held.refunds_minor;
    const int64_t fee = BatchFee(b);
    row.fees_minor += fee;
    row.net_minor += b.gross_minor() - b.held.refunds_minor - fee;
  }
  std::vector<ReportRow> out;
  out.reserve(rows.size());
  for (auto& [key, row] : rows) out.push_back(std::move(row));
  return out;
}

namespace {

std::string TotalsJson(const storage::BatchTotals& t) {
  return "{\"captures\":" + std::to_string(t.captures_count) +
         ",\"captures_minor\":" + std::to_string(t.captures_minor) +
         ",\"refunds\":" + std::to_string(t.refunds_count) +
         ",\"refunds_minor\":" + std::to_string(t.refunds_minor) +
         ",\"reversals\":" + std::to_string(t.reversals_count) +
         ",\"reversals_minor\":" + std::to_string(t.reversals_minor) +
         ",\"net_minor\":" + std::to_string(t.net_minor()) + "}";
}

}  // namespace

std::string BatchJson(const storage::SettlementBatch& b) {
  return "{\"batch_id\":" + JsonQuoted(b.batch_id) +
         ",\"state\":" + JsonQuoted(storage::BatchStateName(b.state)) +
         ",\"business_date\":" + JsonQuoted(FormatDate(b.business_date)) +
         ",\"acquirer_id\":" + JsonQuoted(b.acquirer_id) +
         ",\"terminal_id\":" + JsonQuoted(b.terminal_id) +
         ",\"merchant_id\":" + JsonQuoted(b.merchant_id) +
         ",\"currency\":" + std::to_string(b.currency) + ",\"held\":" + TotalsJson(b.held) +
         ",\"declared\":" + TotalsJson(b.declared) +
         ",\"reconcile_attempts\":" + std::to_string(b.reconcile_attempts) +
         ",\"reconciled\":" + (b.reconciled ? "true" : "false") +
         ",\"forced\":" + std::to_string(b.forced_count) +
         ",\"rejected\":" + std::to_string(b.rejected_count) +
         ",\"gross_minor\":" + std::to_string(b.gross_minor()) +
         ",\"fee_minor\":" + std::to_string(BatchFee(b)) +
         ",\"payout_minor\":" + std::to_string(b.payout_minor) + "}";
}

std::string ReportCsv(const std::vector<ReportRow>& rows) {
  std::string out =
      "acquirer_id,merchant_id,currency,batches,batches_settled,captures,refunds,reversals,"
      "gross_minor,refunds_minor,fees_minor,net_minor\n";
  for (const ReportRow& r : rows) {
    out += CsvField(r.acquirer_id) + "," + CsvField(r.merchant_id) + "," +
           std::to_string(r.currency) + "," + std::to_string(r.batches) + "," +
           std::to_string(r.batches_settled) + "," + std::to_string(r.captures_count) + "," +
           std::to_string(r.refunds_count) + "," + std::to_string(r.reversals_count) + "," +
           std::to_string(r.gross_minor) + "," + std::to_string(r.refunds_minor) + "," +
           std::to_string(r.fees_minor) + "," + std::to_string(r.net_minor) + "\n";
  }
  return out;
}

std::string ReportJson(const std::vector<ReportRow>& rows, int32_t business_date) {
  std::string out = "{\"business_date\":" + JsonQuoted(FormatDate(business_date)) + ",\"rows\":[";
  for (size_t i = 0; i < rows.size(); ++i) {
    const ReportRow& r = rows[i];
    if (i > 0) out += ",";
    out += "{\"acquirer_id\":" + JsonQuoted(r.acquirer_id) +
           ",\"merchant_id\":" + JsonQuoted(r.merchant_id) +
           ",\"currency\":" + std::to_string(r.currency) +
           ",\"batches\":" + std::to_string(r.batches) +
           ",\"batches_settled\":" + std::to_string(r.batches_settled) +
           ",\"captures\":" + std::to_string(r.captures_count) +
           ",\"refunds\":" + std::to_string(r.refunds_count) +
           ",\"reversals\":" + std::to_string(r.reversals_count) +
           ",\"gross_minor\":" + std::to_string(r.gross_minor) +
           ",\"refunds_minor\":" + std::to_string(r.refunds_minor) +
           ",\"fees_minor\":" + std::to_string(r.fees_minor) +
           ",\"net_minor\":" + std::to_string(r.net_minor) + "}";
  }
  return out + "]}\n";
}

}  // namespace kytkin::settlement
