// The store's engine (decisions on the in-memory state) and its two threads (ledger, committer).
// See store.h for the contract.
#include "storage/store.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cassert>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "storage/backend.h"
#include "storage/codec.h"
#include "storage/compact_records.h"
#include "storage/saf_queue.h"
#include "storage/settlement_book.h"

namespace kytkin::storage {
namespace {

constexpr int64_t kMicrosPerDay = 86'400'000'000;
constexpr int64_t kMicrosPerSecond = 1'000'000;
constexpr size_t kHashBytes = 32;
constexpr uint32_t kAuthCodeModulus = 1'000'000;  // six decimal digits
constexpr size_t kTransfersReserve = 1 << 18;     // initial buckets of the resident transfers
constexpr size_t kDedupeReserveMin = 1 << 14;     // entries of the batches in flight
constexpr size_t kDedupeReserveMax = 1 << 20;     // initial buckets of the dedupe window, at most
// Buckets of the velocity map checked for counters of past days per ledger loop turn: the
// pruning of a day spreads over many turns instead of stalling decisions once a day.
constexpr size_t kVelocityPruneBucketsPerTurn = 4096;
constexpr size_t kCompletionBatchesMax = 4;  // durable batches waiting for their completions
constexpr size_t kSpareBatchesMax = 2;       // written batches kept for reuse (their buffers)
// The open-hold index (Cf::kOpenHolds) is trusted when this meta key names the journal head's
// sequence: it is written with the head in every batch that moves it, and every change to a
// hold is journaled, so a head that moved without it (a writer that does not know the index)
// makes the next open rebuild the index instead of loading a stale one. A kytkin binary from
// before the index cannot open such a data dir at all: RocksDB refuses to open a database
// without naming every column family it has (`open_holds`).
constexpr std::string_view kOpenHoldsIndexKey = "open_holds_index";
// Writes per batch while Open builds the open-hold index or deletes past days' velocity records,
// so a batch stays small.
constexpr size_t kIndexBuildBatchWritesMax = 65'536;

// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

// First microsecond after the card's expiry month.
int64_t ExpiryEndUnixMicros(const CardRecord& card) {
  int64_t year = card.expiry_year();
  unsigned month = static_cast<unsigned>(card.expiry_month()) + 1;
  if (month > 12) {
    month = 1;
    ++year;
  }
  return DaysFromCivil(year, month, 1) * kMicrosPerDay;
}

// FNV-1a, 64 bit: the dedupe content fingerprint (not a security boundary: the key is given by
// the acquirer, the fingerprint only tells a retransmission from a different request).
class Fnv {
 public:
  void Add(std::string_view s) {
    for (char c : s) Byte(static_cast<uint8_t>(c));
    Byte(0xff);  // separator so ("ab","c") != ("a","bc")
  }
  void Add(uint64_t v) {
    for (int i = 0; i < 8; ++i) Byte(static_cast<uint8_t>(v >> (8 * i)));
  }
  uint64_t value() const { return h_; }

 private:
  void Byte(uint8_t b) {
    h_ ^= b;
    h_ *= 1099511628211ull;
  }
  uint64_t h_ = 14695981039346656037ull;
};

std::string Truncated(std::string_view s, size_t max) { return std::string(s.substr(0, max)); }

bool IsCardholderKind(AccountKind k) {
  return k == AccountKind::kCardholderDebit || k == AccountKind::kCardholderCredit ||
         k == AccountKind::kPrepaid;
}

struct Outcome {
  ResponseCode code = ResponseCode::kApproved;
  Reason reason = Reason::kNone;
};

Outcome Decline(ResponseCode code, Reason reason) { return {code, reason}; }

// The dedupe fingerprint under an original's request key when its reversal came first.
constexpr uint64_t kReversedBeforeOriginalMark = 0;

// The dedupe window's key: the first 16 bytes of SHA-256 of the request key (instead of the key,
// 40-130 bytes on the heap). Request keys come from acquirers and gRPC clients, so the hash is
// cryptographic: nobody can craft a second key that meets an existing one in the window.
struct DedupeKey {
  uint64_t high = 0;
  uint64_t low = 0;
  bool operator==(const DedupeKey&) const = default;
};
struct DedupeKeyHash {
  size_t operator()(const DedupeKey& k) const noexcept { return static_cast<size_t>(k.low); }
};
DedupeKey DedupeKeyOf(std::string_view request_key) {
  const std::string digest = codec::Sha256(request_key);
  DedupeKey k;
  std::memcpy(&k.high, digest.data(), sizeof k.high);
  std::memcpy(&k.low, digest.data() + sizeof k.high, sizeof k.low);
  return k;
}

// Fixed-size blocks for the nodes of one hash map, kept on a free list instead of going back
// to malloc: the resident transfers gain and lose two nodes per settled item and per
// authorization (made, then evicted once durable), and that churn, in bursts of a whole group
// commit, went past glibc's per-thread cache into its slow paths (_int_malloc, unlink_chunk,
// malloc_consolidate: a third of the ledger thread's settlement profile). Blocks are kept for
// reuse until the pool dies, so its memory is the map's peak. Not thread-safe: one owner thread.
class NodePool {
 public:
  NodePool() = default;
  NodePool(const NodePool&) = delete;
  NodePool& operator=(const NodePool&) = delete;
  // Serves requests of the first size over kPooledBytesMin it is asked for; others go to malloc.
  bool Serves(size_t bytes) {
    if (block_bytes_ == 0 && bytes >= kPooledBytesMin)
      block_bytes_ = std::max(bytes, sizeof(void*));
    return bytes == block_bytes_;
  }
  void* Allocate() {
    if (free_ == nullptr) Grow();
    void* block = free_;
    free_ = *static_cast<void**>(block);
    return block;
  }
  void Deallocate(void* block) {
    *static_cast<void**>(block) = free_;
    free_ = block;
  }

 private:
  static constexpr size_t kPooledBytesMin = 32;
  static constexpr size_t kBlocksPerSlab = 4096;
  void Grow() {
    auto& slab = slabs_.emplace_back(new std::byte[block_bytes_ * kBlocksPerSlab]);
    for (size_t i = kBlocksPerSlab; i-- > 0;) Deallocate(slab.get() + i * block_bytes_);
  }
  size_t block_bytes_ = 0;
  void* free_ = nullptr;
  std::vector<std::unique_ptr<std::byte[]>> slabs_;
};

template <typename T>
struct PoolAllocator {
  using value_type = T;
  explicit PoolAllocator(NodePool* p) : pool(p) {}
  template <typename U>
  PoolAllocator(const PoolAllocator<U>& other) : pool(other.pool) {}  // NOLINT: rebinding
  T* allocate(size_t n) {
    if (n == 1 && pool->Serves(sizeof(T))) return static_cast<T*>(pool->Allocate());
    return std::allocator<T>().allocate(n);
  }
  void deallocate(T* p, size_t n) {
    if (n == 1 && pool->Serves(sizeof(T))) {
      pool->Deallocate(p);
    } else {
      std::allocator<T>().deallocate(p, n);
    }
  }
  template <typename U>
  bool operator==(const PoolAllocator<U>& other) const {
    return pool == other.pool;
  }
  NodePool* pool;
};

// Settlement items (issue 6).
bool IsSettlementOperation(Operation op) {
  return op == Operation::kSettleCapture || op == Operation::kSettleRefund ||
         op == Operation::kSettleReversal;
}

// A settlement item the batch counts as rejected: declined, but not for a failed read (a 96 is
// not remembered, so its retry is decided and counted then).
bool CountsAsRejected(const Outcome& o) {
  return o.code != ResponseCode::kApproved && o.reason != Reason::kStorageReadFailed;
}

// The value of an open hold's Cf::kOpenHolds entry: what the RRN index (Store::Impl::IndexHold)
// needs, so Open rebuilds it without reading the journal. The approval's journal sequence as a
// LEB128 varint (3 bytes below 2.1*10^6 records, 4 below 2.7*10^8, 5 below 3.4*10^10), one byte
// for the owner's kind and the owner's id (a terminal id, 8 bytes; a merchant id when the
// approval had no terminal, up to 15): 12-14 bytes per hold with a terminal. Entries from before it
// (and the migration scan's) are empty: those holds stay out of the index and are found through the
// journal.
constexpr char kHoldOwnerTerminal = 't';
constexpr char kHoldOwnerMerchant = 'm';
constexpr size_t kVarint64BytesMax = 10;
// A terminal or merchant id longer than a journal field is declined 30 (FieldsOk), so never held.
constexpr size_t kHoldOwnerBytesMax = Request::kFieldBytesMax;

struct OpenHoldValue {
  uint64_t sequence = 0;
  bool by_merchant = false;
  std::string_view owner_id;  // points into the decoded value
};

void EncodeOpenHoldValue(uint64_t sequence, bool by_merchant, std::string_view owner_id,
                         std::string* out) {
  out->clear();
  do {
    const auto low = static_cast<uint8_t>(sequence & 0x7f);
    sequence >>= 7;
    out->push_back(static_cast<char>(sequence != 0 ? (low | 0x80) : low));
  } while (sequence != 0);
  out->push_back(by_merchant ? kHoldOwnerMerchant : kHoldOwnerTerminal);
  out->append(owner_id.substr(0, kHoldOwnerBytesMax));
}

// nullopt: not a value EncodeOpenHoldValue writes (an empty value is checked by the caller).
std::optional<OpenHoldValue> DecodeOpenHoldValue(std::string_view v) {
  OpenHoldValue out;
  size_t i = 0;
  for (int shift = 0;; shift += 7) {
    if (i == v.size() || i == kVarint64BytesMax) return std::nullopt;
    const auto byte = static_cast<uint8_t>(v[i++]);
    out.sequence |= uint64_t{byte & 0x7fu} << shift;
    if ((byte & 0x80) == 0) break;
  }
  if (i == v.size() || out.sequence == 0) return std::nullopt;
  const char kind = v[i++];
  if (kind != kHoldOwnerTerminal && kind != kHoldOwnerMerchant) return std::nullopt;
  out.by_merchant = kind == kHoldOwnerMerchant;
  out.owner_id = v.substr(i);
  if (out.owner_id.size() > kHoldOwnerBytesMax) return std::nullopt;
  return out;
}

}  // namespace

class Store::Impl {
 public:
  Impl(const StoreOptions& options, std::unique_ptr<Backend> backend)
      : options_(options),
        clock_(options.clock ? options.clock : &SystemClock::Get()),
        backend_(std::move(backend)),
        tokenizer_(options.card_key),
        journal_hash_(kHashBytes, '\0'),
        saf_(options.card_key) {
    // Sized so the ledger thread rarely pauses to rehash.
    dedupe_.reserve(
        std::clamp(options.dedupe_window_entries, kDedupeReserveMin, kDedupeReserveMax));
    transfers_.reserve(kTransfersReserve);
  }

  ~Impl() { Stop(); }

  // Rebuilds the in-memory state; `backend_open_us` is the backend's own open, for OpenStats.
  Status Load(int64_t backend_open_us);
  const Store::OpenStats& open_stats() const { return open_stats_; }
  void Start() {
    open_.batch = backend_->NewBatch();
    open_.seq = ++batch_seq_;
    next_sweep_us_ = clock_->NowMonotonicMicros() + options_.sweep_interval_ms * 1000;
    ledger_thread_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "kytkin-ledger");  // for top, perf and gdb
      LedgerLoop();
    });
    committer_thread_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "kytkin-commit");
      CommitterLoop();
    });
    completion_thread_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "kytkin-complete");
      completion_id_.store(std::this_thread::get_id());
      CompletionLoop();
    });
  }

  void Stop() {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      stopping_ = true;
    }
    ledger_cv_.notify_all();
    if (ledger_thread_.joinable()) ledger_thread_.join();
    {
      std::lock_guard lock(mu_);
      committer_stop_ = true;
    }
    committer_cv_.notify_all();
    if (committer_thread_.joinable()) committer_thread_.join();
    {
      std::lock_guard lock(mu_);
      completion_stop_ = true;
    }
    completion_cv_.notify_all();
    if (completion_thread_.joinable()) completion_thread_.join();
  }

  Status Submit(Request request, Completion done) {
    if (!done) return Status::InvalidArgument("Submit needs a completion");
    if (request.received_monotonic_us == 0) {
      request.received_monotonic_us = clock_->NowMonotonicMicros();
    }
    return Enqueue(Work{std::move(request), nullptr, std::move(done), {}, nullptr, {}, {}});
  }

  Status SubmitChunk(std::vector<Request> items, ChunkCompletion done) {
    if (!done) return Status::InvalidArgument("SubmitSettlementChunk needs a completion");
    if (items.empty() || items.size() > Store::kSettlementChunkItemsMax) {
      return Status::InvalidArgument("settlement chunk: 1.." +
                                     std::to_string(Store::kSettlementChunkItemsMax) + " items");
    }
    const int64_t now = clock_->NowMonotonicMicros();
    for (Request& r : items) {
      if (!IsSettlementOperation(r.operation) || r.settlement_item_number == 0 ||
          r.batch_id != items.front().batch_id) {
        return Status::InvalidArgument(
            "settlement chunk: every item a kSettle* of one batch_id with a "
            "settlement_item_number");
      }
      if (r.received_monotonic_us == 0) r.received_monotonic_us = now;
    }
    Work w;
    // Sized here, on the submitter's thread: large allocations on the ledger thread made glibc
    // consolidate its free lists once per chunk (malloc_consolidate in its profile).
    w.chunk_decisions.resize(items.size());
    w.chunk_records.reserve(items.size());
    w.chunk = std::move(items);
    w.chunk_done = std::move(done);
    return Enqueue(std::move(w));
  }

  // Runs fn on the ledger thread, in order with the decisions, and waits until the batch it
  // wrote to is durable.
  // A blocking call from a completion would wait for its own thread.
  Status CheckMayBlock() const {
    if (std::this_thread::get_id() == completion_id_.load()) {
      return Status::FailedPrecondition(
          "blocking store call from a completion (completion thread) would deadlock");
    }
    return Status::Ok();
  }

  // RunAdmin without waiting: `done` gets fn's Status (as an empty decision when OK).
  Status SubmitAdmin(std::function<Status()> fn, Completion done) {
    return Enqueue(Work{Request{}, std::move(fn), std::move(done), {}, nullptr, {}, {}});
  }

  Status RunAdmin(std::function<Status()> fn) {
    KYTKIN_RETURN_IF_ERROR(CheckMayBlock());
    std::promise<Status> promise;
    auto future = promise.get_future();
    {
      std::lock_guard lock(mu_);
      if (!fatal_.ok()) return fatal_;
      if (stopping_) return Status::Unavailable("store is stopping");
      queue_.push_back(Work{
          Request{},
          std::move(fn),
          [&promise](Result<Decision> r) { promise.set_value(r.ok() ? Status::Ok() : r.status()); },
          {},
          nullptr,
          {},
          {}});
    }
    ledger_cv_.notify_one();
    return future.get();
  }

  Status health() const {
    std::lock_guard lock(mu_);
    return fatal_;
  }

  std::string CardToken(const Pan& pan) const {
    return CardTokenFor(options_.card_key, pan.clear_digits());
  }

  // Everything below runs on the ledger thread (inside RunAdmin or the loop).
  Status CreateAccountLocked(const Account& account, int64_t opening_balance_minor);
  Result<Card> CreateCardLocked(const Pan& pan, const Card& card);
  Status SetCardStatusLocked(std::string_view token, CardStatus status);
  Status ImportRowLocked(const Store::ImportRow& row);
  Status SetAccountStatusLocked(uint64_t id, AccountStatus status);
  size_t SweepLocked();
  Result<Account> FindAccount(uint64_t id) const {
    const AccountRecord* a = accounts_.Find(id);
    if (a == nullptr) return Status::NotFound("no account " + std::to_string(id));
    return AccountOf(*a);
  }
  Result<Card> FindCard(std::string_view token) const {
    auto key = ParseCardToken(token);
    if (!key.ok()) return key.status();
    const CardRecord* c = cards_.Find(*key);
    if (c == nullptr) return Status::NotFound("no card with that token");
    return UnpackCard(*c);
  }
  void CacheMemoryLocked(Store::MemoryUsage* usage) const {
    usage->cards = cards_.size();
    usage->card_bytes = cards_.MemoryBytes();
    usage->accounts = accounts_.size();
    // A name: its hash node (key, string, next pointer, cached hash) and any heap it spills to.
    uint64_t names = account_names_.bucket_count() * sizeof(void*);
    for (const auto& [id, name] : account_names_) {
      names += sizeof(id) + sizeof(name) + 2 * sizeof(void*) +
               (name.size() > 15 ? name.capacity() + 1 : 0);
    }
    usage->account_bytes = accounts_.MemoryBytes() + names;
  }
  // The decision recorded for a request key, from the window or the dedupe column family.
  Result<Decision> FindDecisionByKey(std::string_view key);
  Result<Transfer> GetTransferLocked(uint64_t id) {
    Result<Transfer*> t = FindTransfer(id);
    if (!t.ok()) return t.status();
    return **t;
  }
  Store::MemoryStats MemoryStatsLocked() const;

  Backend& backend() { return *backend_; }
  int64_t NowUnixMicros() const { return clock_->NowUnixMicros(); }

  // Store-and-forward, on the ledger thread (inside RunAdmin, which counts the batch item).
  SafQueue& saf() { return saf_; }
  Batch& open_batch() { return *open_.batch; }

  // Settlement batches (issue 6), on the ledger thread (inside RunAdmin).
  SettlementBook& settlement() { return settlement_; }
  Result<SettlementBatch> OpenSettlementBatchLocked(const SettlementBatch& header);
  Result<SettlementBatch> ReconcileSettlementBatchLocked(std::string_view batch_id,
                                                         const BatchTotals& declared);
  std::vector<SettlementBatch> CutOverSettlementLocked(int32_t business_date);

 private:
  struct Work {
    Request request;
    std::function<Status()> admin;  // set: an administrative step instead of a request
    Completion done;                // may be empty for internal work
    // Set instead: settlement items decided as one chunk (SubmitSettlementChunk).
    std::vector<Request> chunk;
    ChunkCompletion chunk_done;
    std::vector<Decision> chunk_decisions;            // one per item, filled by DecideChunk
    std::vector<SettlementItemRecord> chunk_records;  // capacity for the chunk's record
  };
  // Queues `w` for the ledger thread unless the store failed, is stopping or its queue is full
  // (queue_requests_max).
  Status Enqueue(Work w) {
    std::unique_lock lock(mu_);
    if (!fatal_.ok()) return fatal_;
    if (stopping_) return Status::Unavailable("store is stopping");
    if (queue_.size() >= options_.queue_requests_max) {
      return Status::ResourceExhausted("store queue full (queue_requests_max)");
    }
    const bool was_empty = queue_.empty();
    queue_.push_back(std::move(w));
    lock.unlock();
    if (was_empty) ledger_cv_.notify_one();
    return Status::Ok();
  }
  struct Pending {
    Completion done;
    Result<Decision> result;
    ChunkCompletion chunk_done;  // a chunk's: `result` unused
    std::vector<Decision> chunk_decisions;
    // The chunk's requests, freed on the completion thread (which has time) instead of the
    // ledger thread.
    std::vector<Request> chunk_requests;
  };
  struct OpenBatch {
    uint64_t seq = 0;  // 1, 2, 3, ... in the order batches are written
    std::unique_ptr<Batch> batch;
    std::vector<uint64_t> written_transfers;  // ids of the transfers it writes
    std::vector<Pending> pending;
    std::unordered_set<uint64_t> dirty_accounts;
    std::unordered_set<std::string> dirty_velocity;
    bool head_dirty = false;
    size_t items = 0;
  };

  void LedgerLoop();
  void CommitterLoop();
  void CompletionLoop();
  void Process(Work& work);
  // Writes the records changed in the open batch that are written once per batch.
  void Finalize(OpenBatch& b);
  void HandOver(std::unique_lock<std::mutex>& lock);
  // Open: the open holds from their index, or from a scan of every transfer that then writes
  // the index (a data dir from before it).
  Status LoadOpenHoldIndex(ReadView& view);
  Status BuildOpenHoldIndex(ReadView& view, uint64_t head_sequence);
  // Makes a pending transfer read at Open resident (and the sweeper's).
  void AdoptOpenHold(Transfer hold);

  Decision Decide(const Request& r);
  // The field limits of Request (sizes, a known operation); false: declined 30.
  bool FieldsOk(const Request& r, const std::string& token) const;
  // Settlement items of one batch as one journal record (SubmitSettlementChunk).
  // `records`: empty, with capacity for the items' records; `out`: one per item.
  void DecideChunk(std::vector<Request>& items, std::vector<SettlementItemRecord> records,
                   std::vector<Decision>* out);
  // An item number of `batch_id` decided before: its decision (duplicate = true) and its content
  // fingerprint. `chunk` is the chunk record being built (its items are not on disk yet).
  // nullopt: not decided; a Status: a record it needs could not be read.
  struct PriorItem {
    Decision decision;
    uint64_t fingerprint = 0;
  };
  Result<std::optional<PriorItem>> FindDecidedItem(const std::string& batch_id, uint64_t number,
                                                   uint16_t currency, const JournalRecord* chunk);
  // The remembered item `number` of chunk record `record` (number `sequence`).
  Result<std::optional<PriorItem>> PriorFromChunk(const JournalRecord& record, uint64_t number,
                                                  uint64_t sequence, uint16_t currency);
  // The decision a remembered chunk item stands for.
  static PriorItem PriorOfItem(const SettlementItemRecord& item, uint64_t sequence,
                               uint16_t currency);
  // A journal record by sequence: a settlement record of a batch not yet durable from memory,
  // else from disk.
  Result<JournalRecord> ReadJournalRecord(uint64_t sequence);
  // Settlement by RRN without reading the journal: open holds by the journal sequence of their
  // approval (kytkin's RRN), with the terminal (or merchant) the approval was made for.
  // `owner_id`: the approval's terminal id, or its merchant id (by_merchant) when it had none.
  void IndexHold(uint64_t sequence, uint64_t transfer_id, std::string_view owner_id,
                 bool by_merchant);
  struct IndexedHold {
    Transfer* hold = nullptr;
    std::string_view terminal_id, merchant_id;
  };
  // The open hold approved under journal `sequence`, or hold == nullptr when the index does not
  // know it (not a hold, resolved since, or an entry of Cf::kOpenHolds without a value: made
  // by a binary from before the value, or indexed by Open's migration scan).
  IndexedHold FindHoldBySequence(uint64_t sequence);
  Outcome Evaluate(const Request& r, const std::string& token, Decision* d);
  Outcome CheckCard(const Request& r, const std::string& token, CardRecord** card,
                    AccountRecord** account, bool allow_inactive);
  Outcome CheckDebitLimits(const CardRecord& card, const std::string& token,
                           const AccountRecord& account, int64_t amount);
  Result<AccountRecord*> Counterparty(const Request& r, uint16_t currency);
  AccountRecord* EnsureSettlement(uint16_t currency);
  // Undoes the posting `orig`: `back` minor units go from `credited` (the side it credited) back
  // to `debited`, as a kReversal record; `orig` is marked reversed and both are written.
  Transfer& ReversePosting(Transfer& orig, AccountRecord& credited, AccountRecord& debited,
                           int64_t back);
  Transfer& NewTransfer(TransferKind kind, TransferState state, uint64_t debit, uint64_t credit,
                        Amount amount);
  void PutTransfer(const Transfer& t);
  void MovePosted(AccountRecord& debit, AccountRecord& credit, int64_t amount);
  // amount may be negative.
  void MovePending(AccountRecord& debit, AccountRecord& credit, int64_t amount);
  bool CanDebit(const AccountRecord& a, int64_t amount) const;
  // Cards and accounts in their compact form (compact_records.h), converted at the API edge.
  // The card a hex token names, or nullptr (also when the token is malformed).
  // One decision looks its card up several times (checks, velocity, journal): the last card
  // found is remembered by its token, so the hex is parsed and the table probed once. Records
  // never move and cards are never deleted, so the pointer stays right; misses are not kept (the
  // card may be created next).
  CardRecord* FindCardByToken(std::string_view token) {
    if (last_card_ != nullptr && token == last_card_token_) return last_card_;
    auto key = ParseCardToken(token);
    CardRecord* card = key.ok() ? cards_.Find(*key) : nullptr;
    if (card != nullptr) {
      last_card_token_.assign(token);
      last_card_ = card;
    }
    return card;
  }
  // The masked PAN of the card a token names, or "".
  std::string MaskedPanOf(std::string_view token) {
    const CardRecord* c = FindCardByToken(token);
    return c == nullptr ? std::string() : c->MaskedPan();
  }
  // An account that must exist (a transfer or batch names it): a missing one is a programmer
  // error, so the process stops rather than decide on garbage.
  AccountRecord& AccountAt(uint64_t id) {
    AccountRecord* a = accounts_.Find(id);
    if (a == nullptr) {
      std::fprintf(stderr, "kytkin storage: FATAL: account %llu missing from the cache\n",
                   static_cast<unsigned long long>(id));
      std::abort();
    }
    return *a;
  }
  Account AccountOf(const AccountRecord& a) const {
    auto name = account_names_.find(a.id);
    return ToAccount(a, name == account_names_.end() ? std::string_view() : name->second);
  }
  // Writes the card's record (the disk layout keeps the hex token and masked PAN strings).
  void PutCard(const CardRecord& c) {
    const Card card = UnpackCard(c);
    scratch_.clear();
    codec::EncodeCard(card, &scratch_);
    open_.batch->Put(Cf::kCards, card.token, scratch_);
  }
  // Residency (what the ledger thread keeps in memory, see the members below).
  // The transfer `id`: resident, or read back from the transfers column family (then resident
  // until the end of this loop turn, or until its batch is durable if the decision changes it).
  // The pointer stays valid for the rest of the request's evaluation. NotFound when there is
  // no such transfer; another Status when the read failed.
  Result<Transfer*> FindTransfer(uint64_t id);
  void MarkWritten(uint64_t transfer_id);
  // Forgets what batches up to `durable_batch` (durable now) wrote that can no longer change in
  // memory only: every transfer but an open hold, and the dedupe entries past the window.
  void EvictDurable(uint64_t durable_batch);
  void EvictTransfer(uint64_t id);
  void EvictReadBacks();
  // A request key's dedupe entry: the window first, then the dedupe column family (whose copy
  // is then returned whole). NotFound when the key was never recorded.
  struct DedupeFound {
    uint64_t fingerprint = 0;
    uint64_t transfer_id = 0;
    uint64_t journal_sequence = 0;
    uint64_t written_batch = 0;        // of a window entry; 0 when read from disk
    std::optional<Decision> decision;  // set when read from disk
  };
  Result<DedupeFound> FindDedupe(std::string_view key, const DedupeKey& hashed);
  // The whole decision of a found entry (a window entry keeps only a summary).
  Result<Decision> DedupeDecision(std::string_view key, const DedupeKey& hashed,
                                  const DedupeFound& found);
  // Writes a dedupe entry in the open batch and puts it in the window.
  void RecordDedupe(std::string_view key, const DedupeKey& hashed, uint64_t fingerprint,
                    const Decision& d);
  // Drops velocity counters of past UTC days, a slice of the map per call.
  void PruneVelocity();
  uint64_t Fingerprint(const Request& r, const std::string& token) const;
  uint64_t WriteJournal(const Request& r, const std::string& token, const std::string& masked,
                        const Decision& d);
  // Chains, seals and writes `j` (sequence and prev_hash are set here); returns its sequence.
  uint64_t AppendJournal(JournalRecord& j, bool keep);
  void CountVelocity(const std::string& token, int64_t amount);
  // Velocity counters: a card's live in its record (CardRecord::velocity_*), any other key's
  // (stand-in counters) in velocity_. VelocityOf is today's (zero on a new day); Stored is as
  // last set, any day; Set changes memory only (CountVelocity marks the key for the batch).
  codec::Velocity VelocityOf(const std::string& key);
  codec::Velocity StoredVelocity(const std::string& key);
  void SetVelocity(const std::string& key, const codec::Velocity& v);
  // Set + marks the key for the open batch, deleting the record of the day it replaces.
  void ReplaceVelocity(const std::string& token, const codec::Velocity& v);
  void ExpireOne(Transfer& pending);
  // A reversed debit no longer counts toward the card's daily limits (same UTC day only).
  void ReleaseVelocity(const Transfer& orig);
  // Remote issuers (issue 5): kRemoteDecision and kStandIn.
  Outcome EvaluateRemote(const Request& r, const std::string& token, Decision* d);
  // An online completion (0220) of a remote original, approved to go to the issuer: takes the
  // authorization's capture in the off-us capture index (SettlementBook::kCompletedOnline), so
  // no settlement item captures it again; declines a second completion (12) and one after a
  // capture item (94 kCaptureConflict).
  Outcome TakeRemoteCaptureOnline(const Request& r);
  // Queues the request's advice for its outcome in the open batch, and marks a remote original
  // reversed (RemoteFollowUp) in the same batch.
  void QueueSaf(const Request& r, const std::string& masked, const Decision& d);
  // Settlement items (issue 6): kSettleCapture, kSettleRefund, kSettleReversal.
  Outcome EvaluateSettlement(const Request& r, const std::string& token, Decision* d);
  Outcome EvaluateSettlementItem(const Request& r, const std::string& token, SettlementBatch& batch,
                                 Decision* d);
  // The authorization an item names: an on-us hold, or an off-us decision's journal record.
  struct SettlementOriginal {
    Transfer* hold = nullptr;
    std::optional<JournalRecord> remote;
  };
  Outcome FindSettlementOriginal(const Request& r, SettlementOriginal* out);
  // An open hold the RRN index found under approval `sequence`: the item's checks, then `out`.
  Outcome OriginalFromIndexedHold(const Request& r, uint64_t sequence, const IndexedHold& indexed,
                                  SettlementOriginal* out);
  Outcome EvaluateRemoteSettlementItem(const Request& r, const JournalRecord& auth,
                                       SettlementBatch& batch, Decision* d);
  AccountRecord* EnsureIssuerReceivable(std::string_view issuer, uint16_t currency);
  // An approved reversal (0400/0420) that went to the issuer of an off-us authorization: that
  // authorization can no longer be captured by settlement.
  void PayOut(SettlementBatch& batch);

  const StoreOptions options_;
  const Clock* clock_;
  std::unique_ptr<Backend> backend_;

  // Ledger thread only.
  codec::CardTokenizer tokenizer_;
  AccountTable accounts_;
  // Names of the accounts that have one (few: settlement, merchant), out of the hot records.
  std::unordered_map<uint64_t, std::string> account_names_;
  CardTable cards_;
  std::string last_card_token_;  // FindCardByToken's memo
  CardRecord* last_card_ = nullptr;
  // Resident transfers: the open holds (the sweeper and captures change them), every transfer
  // a batch not yet durable writes (RocksDB does not have it yet), and the ones read back in
  // this loop turn. The rest is read back from disk by FindTransfer when a request names it.
  struct ResidentTransfer {
    Transfer transfer;
    uint64_t written_batch = 0;  // the batch with its latest write; 0: on disk already
  };
  NodePool transfer_nodes_;  // before transfers_: outlives it
  std::unordered_map<uint64_t, ResidentTransfer, std::hash<uint64_t>, std::equal_to<uint64_t>,
                     PoolAllocator<std::pair<const uint64_t, ResidentTransfer>>>
      transfers_{0, std::hash<uint64_t>(), std::equal_to<uint64_t>(),
                 PoolAllocator<std::pair<const uint64_t, ResidentTransfer>>(&transfer_nodes_)};
  std::vector<uint64_t> read_back_transfers_;  // evicted again at the end of the loop turn
  // (batch, the transfers it writes) of batches handed to the committer, oldest first.
  std::deque<std::pair<uint64_t, std::vector<uint64_t>>> handed_transfers_;
  std::set<std::pair<int64_t, uint64_t>> pending_by_expiry_;  // (expires_unix_us, transfer id)
  // The dedupe window: a summary of the newest request keys' entries (at most
  // options_.dedupe_window_entries once their batches are durable; never an entry of a batch
  // that is not). Older keys are read from the dedupe column family.
  struct DedupeSlot {
    uint64_t fingerprint = 0;
    uint64_t transfer_id = 0;
    uint64_t journal_sequence = 0;
    uint64_t written_batch = 0;
  };
  std::unordered_map<DedupeKey, DedupeSlot, DedupeKeyHash> dedupe_;
  std::deque<std::pair<DedupeKey, uint64_t>> dedupe_order_;  // (key, written batch), oldest first
  // The whole decisions of the dedupe entries of batches not yet durable (a retransmission can
  // arrive before its original's batch is on disk), oldest first.
  struct UnsyncedDecision {
    DedupeKey key;
    uint64_t batch = 0;
    Decision decision;
  };
  std::deque<UnsyncedDecision> unsynced_decisions_;
  // Settlement journal records (chunks, numbered single items) of batches not yet durable, oldest
  // first: a resubmitted item is answered from its record, which the disk does not have yet.
  std::deque<std::pair<uint64_t, JournalRecord>> unsynced_settlement_records_;
  // Open holds by approval sequence (IndexHold), in sequence order. 16 bytes per hold: the
  // transfer id in the low 40 bits and the owner (index into owners_ + 1, 0 = none) above.
  struct HoldBySequence {
    uint64_t sequence = 0;
    uint64_t transfer_and_owner = 0;
  };
  std::vector<HoldBySequence> holds_by_sequence_;
  // Terminal ids (and merchant ids of approvals without a terminal) the holds were made for,
  // each once: few compared with the holds. The kind is kept beside each.
  std::vector<std::pair<std::string, bool>> owners_;     // (id, is merchant)
  std::unordered_map<std::string, uint32_t> owner_ids_;  // "t" / "m" + id -> index
  uint64_t batch_seq_ = 0;                               // the open batch's seq
  uint64_t evicted_batch_ = 0;  // batches up to this one are durable and evicted from memory
  uint64_t transfer_disk_reads_ = 0;
  uint64_t dedupe_disk_reads_ = 0;
  std::unordered_map<std::string, codec::Velocity> velocity_;  // keys that name no card
  uint32_t velocity_prune_day_ = 0;   // the day the current pruning pass removes days before
  size_t velocity_prune_bucket_ = 0;  // the next bucket the pass looks at
  uint64_t next_transfer_id_ = 1;
  uint64_t journal_sequence_ = 0;
  std::string journal_hash_;
  OpenBatch open_;
  int64_t next_sweep_us_ = 0;
  std::string scratch_;
  // The settlement record FindDecidedItem read last, with its remembered items by number.
  struct ReadChunk {
    uint64_t sequence = 0;  // 0: none
    JournalRecord record;
    std::vector<std::pair<uint64_t, size_t>> remembered;  // (item number, index), sorted
  };
  ReadChunk read_chunk_;
  std::vector<size_t> chunk_decided_;              // DecideChunk's, kept for its capacity
  std::vector<uint64_t> spare_written_transfers_;  // an evicted batch's list, for the next batch
  std::string journal_scratch_;  // AppendJournal's encoded record, kept for its capacity
  std::string deciding_token_;   // the card of the decision being made, for NewTransfer
  SafQueue saf_;
  SettlementBook settlement_;
  Store::OpenStats open_stats_;  // set by Load, read-only after

  // Shared between threads.
  mutable std::mutex mu_;
  std::condition_variable ledger_cv_;
  std::condition_variable committer_cv_;
  std::deque<Work> queue_;                             // guarded by mu_
  std::vector<std::unique_ptr<Batch>> spare_batches_;  // guarded by mu_: written, emptied
  std::optional<OpenBatch> handed_;  // guarded by mu_: the batch the committer writes next
  uint64_t committed_batch_ = 0;     // guarded by mu_: the seq of the last durable batch
  bool committer_busy_ = false;      // guarded by mu_
  bool stopping_ = false;            // guarded by mu_
  bool committer_stop_ = false;      // guarded by mu_
  Status fatal_;                     // guarded by mu_
  // Durable batches whose completions are still to run, oldest first; at most
  // kCompletionBatchesMax, so slow completions hold the committer back instead of piling up.
  struct Durable {
    std::vector<Pending> pending;
    Status status;  // OK, or the fatal Status every completion of the batch gets
  };
  std::deque<Durable> durable_;   // guarded by mu_
  bool completion_stop_ = false;  // guarded by mu_
  std::condition_variable completion_cv_;
  std::atomic<std::thread::id> completion_id_{};
  std::thread completion_thread_;
  std::atomic<bool> failed_{false};  // !fatal_.ok(), readable without mu_
  std::thread ledger_thread_;
  std::thread committer_thread_;
};

// ---------------------------------------------------------------------------------------------
// Loading

Status Store::Impl::Load(int64_t backend_open_us) {
  using Steady = std::chrono::steady_clock;
  const auto load_start = Steady::now();
  open_stats_.backend_open_us = backend_open_us;
  auto since_us = [](Steady::time_point from) {
    return std::chrono::duration_cast<std::chrono::microseconds>(Steady::now() - from).count();
  };
  auto view = backend_->NewReadView();
  Status bad;
  auto scan = [&](Cf cf, auto&& fn) -> Status {
    KYTKIN_RETURN_IF_ERROR(view->Scan(cf, "", "", [&](std::string_view k, std::string_view v) {
      bad = fn(k, v);
      return bad.ok();
    }));
    return bad;
  };
  auto phase_start = Steady::now();
  KYTKIN_RETURN_IF_ERROR(scan(Cf::kAccounts, [&](std::string_view, std::string_view v) {
    auto a = codec::DecodeAccount(v);
    if (!a.ok()) return a.status();
    if (!a->name.empty()) account_names_[a->id] = a->name;
    accounts_.Insert(ToAccountRecord(*a));
    ++open_stats_.accounts;
    return Status::Ok();
  }));
  open_stats_.accounts_us = since_us(phase_start);
  phase_start = Steady::now();
  KYTKIN_RETURN_IF_ERROR(scan(Cf::kCards, [&](std::string_view, std::string_view v) {
    auto c = codec::DecodeCard(v);
    if (!c.ok()) return c.status();
    auto packed = PackCard(*c);
    if (!packed.ok()) return Status::Corruption("card record: " + packed.status().ToString());
    cards_.Insert(*packed);
    ++open_stats_.cards;
    return Status::Ok();
  }));
  open_stats_.cards_us = since_us(phase_start);
  phase_start = Steady::now();
  // Only the open holds stay in memory. The dedupe index is not read at all: its window fills
  // as requests arrive.
  uint64_t head_sequence = 0;  // a bad head fails below, where the journal is checked
  if (auto head = view->Get(Cf::kMeta, codec::kJournalHeadKey); head.ok()) {
    if (auto h = codec::DecodeJournalHead(*head); h.ok()) head_sequence = h->first;
  }
  auto marker = view->Get(Cf::kMeta, kOpenHoldsIndexKey);
  if (marker.ok() && *marker == codec::U64Key(head_sequence)) {
    KYTKIN_RETURN_IF_ERROR(LoadOpenHoldIndex(*view));
  } else if (marker.ok() || marker.status().IsNotFound()) {
    KYTKIN_RETURN_IF_ERROR(BuildOpenHoldIndex(*view, head_sequence));
  } else {
    return marker.status();
  }
  open_stats_.open_holds = pending_by_expiry_.size();
  open_stats_.transfers_us = since_us(phase_start);
  phase_start = Steady::now();
  KYTKIN_RETURN_IF_ERROR(saf_.Load(*view));
  KYTKIN_RETURN_IF_ERROR(settlement_.Load(*view));
  open_stats_.saf_settlement_us = since_us(phase_start);
  phase_start = Steady::now();
  const auto today = static_cast<uint32_t>(clock_->NowUnixMicros() / kMicrosPerDay);
  // A past day's counters limit nothing: they are deleted, so the next Open does not read them
  // (data dirs from before the write path deleted them kept one record per key and day).
  std::unique_ptr<Batch> stale_velocity = backend_->NewBatch();
  KYTKIN_RETURN_IF_ERROR(scan(Cf::kVelocity, [&](std::string_view k, std::string_view v) {
    std::string token;
    auto vel = codec::DecodeVelocity(k, v, &token);
    if (!vel.ok()) return vel.status();
    ++open_stats_.velocity_entries;
    if (vel->day < today) {
      stale_velocity->Delete(Cf::kVelocity, k);
      if (stale_velocity->count() < kIndexBuildBatchWritesMax) return Status::Ok();
      Status s = backend_->Commit(*stale_velocity, /*sync=*/false);
      stale_velocity->Clear();
      return s;
    }
    if (vel->day >= StoredVelocity(token).day) SetVelocity(token, *vel);
    return Status::Ok();
  }));
  if (stale_velocity->count() > 0) {
    KYTKIN_RETURN_IF_ERROR(backend_->Commit(*stale_velocity, /*sync=*/false));
  }
  open_stats_.velocity_us = since_us(phase_start);
  auto head = view->Get(Cf::kMeta, codec::kJournalHeadKey);
  if (head.ok()) {
    auto h = codec::DecodeJournalHead(*head);
    if (!h.ok()) return h.status();
    journal_sequence_ = h->first;
    journal_hash_ = h->second;
    auto last = view->Get(Cf::kJournal, codec::U64Key(journal_sequence_));
    if (!last.ok()) return Status::Corruption("journal head names a missing record");
    auto rec = codec::DecodeJournalRecord(*last);
    if (!rec.ok()) return rec.status();
    if (rec->hash != journal_hash_) return Status::Corruption("journal head hash mismatch");
  } else if (!head.status().IsNotFound()) {
    return head.status();
  }
  // Nothing may follow the head: a record past it means a write that was not atomic.
  bool extra = false;
  KYTKIN_RETURN_IF_ERROR(view->Scan(Cf::kJournal, codec::U64Key(journal_sequence_ + 1), "",
                                    [&](std::string_view, std::string_view) {
                                      extra = true;
                                      return false;
                                    }));
  if (extra) return Status::Corruption("journal has records past its head");
  open_stats_.total_us = backend_open_us + since_us(load_start);
  return Status::Ok();
}

void Store::Impl::AdoptOpenHold(Transfer hold) {
  pending_by_expiry_.insert({hold.expires_unix_us, hold.id});
  const uint64_t id = hold.id;
  transfers_[id] = ResidentTransfer{std::move(hold), 0};
}

Status Store::Impl::LoadOpenHoldIndex(ReadView& view) {
  Status bad;
  // The RRN index of the holds whose entry has a value, put in sequence order below (the scan
  // is in transfer id order).
  struct Indexed {
    uint64_t sequence, transfer_id;
    bool by_merchant;
    std::string owner_id;
  };
  std::vector<Indexed> indexed;
  KYTKIN_RETURN_IF_ERROR(
      view.Scan(Cf::kOpenHolds, "", "", [&](std::string_view k, std::string_view value) {
        // The index names the hold; its record is the transfer's own (one point read).
        auto v = view.Get(Cf::kTransfers, k);
        if (!v.ok()) {
          bad = v.status().IsNotFound() ? Status::Corruption("open hold index: entry " +
                                                             codec::Hex(k) + " names no transfer")
                                        : v.status();
          return false;
        }
        auto t = codec::DecodeTransfer(*v);
        auto id = codec::ParseU64Key(k);
        if (!t.ok() || !id.ok() || t->id != *id || t->kind != TransferKind::kPending ||
            t->state != TransferState::kPending) {
          bad = Status::Corruption("open hold index: entry " + codec::Hex(k) +
                                   " is not an open hold under its own id");
          return false;
        }
        if (!value.empty()) {
          auto hold_value = DecodeOpenHoldValue(value);
          if (!hold_value) {
            bad = Status::Corruption("open hold index: entry " + codec::Hex(k) +
                                     " has a malformed value");
            return false;
          }
          indexed.push_back({hold_value->sequence, *id, hold_value->by_merchant,
                             std::string(hold_value->owner_id)});
        }
        AdoptOpenHold(std::move(t).value());
        return true;
      }));
  KYTKIN_RETURN_IF_ERROR(bad);
  std::sort(indexed.begin(), indexed.end(),
            [](const Indexed& a, const Indexed& b) { return a.sequence < b.sequence; });
  holds_by_sequence_.reserve(indexed.size());
  for (const Indexed& h : indexed) {
    IndexHold(h.sequence, h.transfer_id, h.owner_id, h.by_merchant);
  }
  // The next transfer id: one past the greatest key, without reading the others.
  auto last = view.LastKey(Cf::kTransfers);
  if (last.ok()) {
    auto id = codec::ParseU64Key(*last);
    if (!id.ok()) return Status::Corruption("transfers: a key that is not a transfer id");
    next_transfer_id_ = *id + 1;
  } else if (!last.status().IsNotFound()) {
    return last.status();
  }
  for (const auto& [id, rt] : transfers_) {
    if (id >= next_transfer_id_) {
      return Status::Corruption("open hold index names transfer " + std::to_string(id) +
                                " past the last transfer");
    }
  }
  return Status::Ok();
}

Status Store::Impl::BuildOpenHoldIndex(ReadView& view, uint64_t head_sequence) {
  // A data dir from before the index, one whose first build was interrupted (the marker is
  // written last), or one an older binary wrote to since: every transfer is read once, and the
  // index is written before anything is decided, so later opens read only the open holds.
  open_stats_.open_hold_index_built = true;
  std::unique_ptr<Batch> batch = backend_->NewBatch();
  Status bad;
  KYTKIN_RETURN_IF_ERROR(
      view.Scan(Cf::kTransfers, "", "", [&](std::string_view k, std::string_view v) {
        auto t = codec::DecodeTransfer(v);
        if (!t.ok()) {
          bad = t.status();
          return false;
        }
        ++open_stats_.transfers_scanned;
        next_transfer_id_ = std::max(next_transfer_id_, t->id + 1);
        if (t->state == TransferState::kPending) {
          batch->Put(Cf::kOpenHolds, k, std::string_view());
          AdoptOpenHold(std::move(t).value());
        }
        if (batch->count() >= kIndexBuildBatchWritesMax) {
          bad = backend_->Commit(*batch, /*sync=*/false);
          batch->Clear();
        }
        return bad.ok();
      }));
  KYTKIN_RETURN_IF_ERROR(bad);
  // Entries left by an interrupted build or by an older binary: drop any that no longer name
  // an open hold.
  KYTKIN_RETURN_IF_ERROR(view.Scan(Cf::kOpenHolds, "", "", [&](std::string_view k, auto) {
    auto id = codec::ParseU64Key(k);
    if (!id.ok() || !transfers_.contains(*id)) batch->Delete(Cf::kOpenHolds, k);
    return true;
  }));
  batch->Put(Cf::kMeta, kOpenHoldsIndexKey, codec::U64Key(head_sequence));
  return backend_->Commit(*batch, !options_.unsafe_disable_sync);
}

// ---------------------------------------------------------------------------------------------
// Threads

void Store::Impl::LedgerLoop() {
  std::vector<Work> works;
  for (;;) {
    works.clear();
    uint64_t durable_batch = 0;
    {
      std::unique_lock lock(mu_);
      auto ready = [&] {
        return stopping_ || !queue_.empty() || (open_.items > 0 && !committer_busy_) ||
               committed_batch_ > evicted_batch_;
      };
      if (options_.sweep_interval_ms > 0) {
        // The clock may be a ManualClock: wait in real time, compare in clock time.
        ledger_cv_.wait_for(lock, std::chrono::milliseconds(options_.sweep_interval_ms), ready);
      } else {
        ledger_cv_.wait(lock, ready);
      }
      const size_t room = options_.batch_decisions_max > open_.items
                              ? options_.batch_decisions_max - open_.items
                              : 0;
      // A chunk counts as its items, so a group commit stays near batch_decisions_max.
      size_t taken = 0;
      while (!queue_.empty() && taken < room) {
        taken += std::max<size_t>(1, queue_.front().chunk.size());
        works.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      durable_batch = committed_batch_;
      if (works.empty() && stopping_ && queue_.empty() && open_.items == 0) break;
    }
    if (durable_batch > evicted_batch_) EvictDurable(durable_batch);
    for (Work& w : works) Process(w);
    if (options_.sweep_interval_ms > 0 && clock_->NowMonotonicMicros() >= next_sweep_us_) {
      next_sweep_us_ = clock_->NowMonotonicMicros() + options_.sweep_interval_ms * 1000;
      SweepLocked();
    }
    EvictReadBacks();
    PruneVelocity();
    if (open_.items == 0) continue;
    std::unique_lock lock(mu_);
    if (open_.items >= options_.batch_decisions_max || stopping_) {
      ledger_cv_.wait(lock, [&] { return !committer_busy_; });
    }
    if (!committer_busy_) HandOver(lock);
  }
  std::unique_lock lock(mu_);
  ledger_cv_.wait(lock, [&] { return !committer_busy_; });
}

void Store::Impl::HandOver(std::unique_lock<std::mutex>& lock) {
  lock.unlock();
  Finalize(open_);
  handed_transfers_.emplace_back(open_.seq, std::move(open_.written_transfers));
  // The next batch's lists start at this one's size (or reuse an evicted batch's list): grown
  // from nothing, each doubling past a few KiB was a large malloc, and glibc consolidates its
  // free lists on every one (malloc_consolidate on the ledger thread).
  const size_t pending_items = open_.pending.size();
  const size_t dirty_accounts = open_.dirty_accounts.size();
  lock.lock();
  handed_.emplace(std::move(open_));
  committer_busy_ = true;
  open_ = OpenBatch{};
  open_.written_transfers = std::move(spare_written_transfers_);
  open_.written_transfers.clear();
  spare_written_transfers_ = {};
  open_.pending.reserve(pending_items);
  open_.dirty_accounts.reserve(dirty_accounts);
  // A written batch again, emptied: its buffer is already the size a group commit grows to, so
  // the next batch does not re-grow it from nothing (a settlement chunk's batch reaches a few
  // MiB, and each doubling was a large malloc, a copy and a free on the ledger thread).
  if (!spare_batches_.empty()) {
    open_.batch = std::move(spare_batches_.back());
    spare_batches_.pop_back();
  } else {
    open_.batch = backend_->NewBatch();
  }
  open_.seq = ++batch_seq_;
  committer_cv_.notify_one();
}

void Store::Impl::Finalize(OpenBatch& b) {
  settlement_.Flush(*b.batch);
  for (uint64_t id : b.dirty_accounts) {
    scratch_.clear();
    codec::EncodeAccount(AccountOf(AccountAt(id)), &scratch_);
    b.batch->Put(Cf::kAccounts, codec::U64Key(id), scratch_);
  }
  for (const std::string& token : b.dirty_velocity) {
    const codec::Velocity v = StoredVelocity(token);
    scratch_.clear();
    codec::EncodeVelocity(v, &scratch_);
    b.batch->Put(Cf::kVelocity, codec::VelocityKey(token, v.day), scratch_);
  }
  if (b.head_dirty) {
    scratch_.clear();
    codec::EncodeJournalHead(journal_sequence_, journal_hash_, &scratch_);
    b.batch->Put(Cf::kMeta, codec::kJournalHeadKey, scratch_);
    b.batch->Put(Cf::kMeta, kOpenHoldsIndexKey, codec::U64Key(journal_sequence_));
  }
}

void Store::Impl::CommitterLoop() {
  for (;;) {
    std::optional<OpenBatch> batch;
    Status fatal;
    {
      std::unique_lock lock(mu_);
      committer_cv_.wait(lock, [&] { return handed_.has_value() || committer_stop_; });
      if (!handed_) return;
      batch.emplace(std::move(*handed_));
      handed_.reset();
      fatal = fatal_;
    }
    Status s = fatal;
    if (s.ok() && batch->batch->count() > 0) {
      const int64_t start_us = clock_->NowMonotonicMicros();
      s = backend_->Commit(*batch->batch, !options_.unsafe_disable_sync);
      if (s.ok() && options_.on_commit) {
        options_.on_commit(batch->pending.size(), clock_->NowMonotonicMicros() - start_us);
      }
      if (!s.ok()) {
        s = Status::IOError(
            "store stopped: a write or sync failed, nothing after it is "
            "acknowledged: " +
            s.ToString());
        std::fprintf(stderr, "kytkin storage: FATAL: %s\n", s.ToString().c_str());
        std::lock_guard lock(mu_);
        fatal_ = s;
        failed_.store(true, std::memory_order_release);
      }
    }
    // The completions run on their own thread, so this one can write the next batch while
    // they answer (answering costs CPU: a gRPC Finish, a post to an event loop).
    {
      std::unique_lock lock(mu_);
      completion_cv_.wait(lock, [&] { return durable_.size() < kCompletionBatchesMax; });
      durable_.push_back(Durable{std::move(batch->pending), s});
      if (spare_batches_.size() < kSpareBatchesMax) {
        batch->batch->Clear();
        spare_batches_.push_back(std::move(batch->batch));
      }
      committer_busy_ = false;
      if (s.ok()) committed_batch_ = batch->seq;  // the ledger thread may now evict its records
    }
    completion_cv_.notify_all();
    ledger_cv_.notify_all();
  }
}

void Store::Impl::CompletionLoop() {
  for (;;) {
    Durable batch;
    {
      std::unique_lock lock(mu_);
      completion_cv_.wait(lock, [&] { return !durable_.empty() || completion_stop_; });
      if (durable_.empty()) return;  // stopping, and every batch answered
      batch = std::move(durable_.front());
      durable_.pop_front();
    }
    completion_cv_.notify_all();  // room for the committer
    for (Pending& p : batch.pending) {
      if (p.chunk_done) {
        if (batch.status.ok()) {
          p.chunk_done(std::move(p.chunk_decisions));
        } else {
          p.chunk_done(Result<std::vector<Decision>>(batch.status));
        }
        continue;
      }
      if (!p.done) continue;
      if (batch.status.ok()) {
        p.done(std::move(p.result));
      } else {
        p.done(Result<Decision>(batch.status));
      }
    }
  }
}

void Store::Impl::Process(Work& work) {
  if (work.chunk_done) {
    open_.items += work.chunk.size();
    Pending p{nullptr, Result<Decision>(Decision{}), std::move(work.chunk_done), {}, {}};
    // A stopped store decides nothing more: the batch's fatal Status reaches the submitter.
    p.chunk_decisions = std::move(work.chunk_decisions);
    if (!failed_.load(std::memory_order_acquire)) {
      DecideChunk(work.chunk, std::move(work.chunk_records), &p.chunk_decisions);
    }
    p.chunk_requests = std::move(work.chunk);
    open_.pending.push_back(std::move(p));
    return;
  }
  ++open_.items;
  if (failed_.load(std::memory_order_acquire)) {
    // The store is stopped: decide nothing more, tell the submitter.
    open_.pending.push_back({std::move(work.done), Result<Decision>(health()), nullptr, {}, {}});
    return;
  }
  if (work.admin) {
    Status s = work.admin();
    Result<Decision> r = s.ok() ? Result<Decision>(Decision{}) : Result<Decision>(s);
    open_.pending.push_back({std::move(work.done), std::move(r), nullptr, {}, {}});
    return;
  }
  open_.pending.push_back({std::move(work.done), Decide(work.request), nullptr, {}, {}});
}

// ---------------------------------------------------------------------------------------------
// Decisions

uint64_t Store::Impl::Fingerprint(const Request& r, const std::string& token) const {
  // The MTI is left out on purpose: a repeat (0101, 0401) is a retransmission of 0100/0400.
  Fnv f;
  // A routed request is journaled as kStandIn or kRemoteDecision depending on what the issuer
  // did, not on what the client sent: a retry must match either.
  const Operation op =
      r.operation == Operation::kStandIn ? Operation::kRemoteDecision : r.operation;
  f.Add(static_cast<uint64_t>(op));
  f.Add(static_cast<uint64_t>(r.amount.minor_units()));
  f.Add(static_cast<uint64_t>(r.amount.currency()));
  f.Add(token);
  f.Add(r.counterparty_account);
  f.Add(r.original_request_key);
  f.Add(r.original_transfer_id);
  f.Add(r.terminal_id);
  f.Add(r.merchant_id);
  f.Add(r.acquirer_id);
  f.Add(r.stan);
  if (IsSettlementOperation(r.operation)) {
    f.Add(r.batch_id);
    f.Add(r.rrn);
    f.Add(r.original_auth_code);
  }
  // 0 marks "reversed before its original arrived" in the dedupe index.
  return f.value() == kReversedBeforeOriginalMark ? 1 : f.value();
}

bool Store::Impl::FieldsOk(const Request& r, const std::string& token) const {
  return r.request_key.size() <= Request::kRequestKeyBytesMax &&
         r.mti.size() <= Request::kFieldBytesMax &&
         r.terminal_id.size() <= Request::kFieldBytesMax &&
         r.merchant_id.size() <= Request::kFieldBytesMax &&
         r.acquirer_id.size() <= Request::kFieldBytesMax &&
         r.stan.size() <= Request::kFieldBytesMax && r.rrn.size() <= Request::kFieldBytesMax &&
         r.route.size() <= Request::kFieldBytesMax &&
         r.issuer_id.size() <= Request::kFieldBytesMax &&
         r.issuer_link.size() <= Request::kFieldBytesMax &&
         r.issuer_time.size() <= Request::kFieldBytesMax &&
         r.original_request_key.size() <= Request::kRequestKeyBytesMax &&
         token.size() <= Request::kRequestKeyBytesMax && r.operation != Operation::kExpire &&
         ((static_cast<uint8_t>(r.operation) >= 1 &&
           static_cast<uint8_t>(r.operation) <= static_cast<uint8_t>(Operation::kExpire)) ||
          r.operation == Operation::kRemoteDecision || r.operation == Operation::kStandIn ||
          IsSettlementOperation(r.operation));
}

Decision Store::Impl::Decide(const Request& r) {
  std::string token = r.card_token;
  if (r.pan) token = tokenizer_.Token(r.pan->clear_digits());
  Decision d;
  d.card_token = token;

  const bool fields_ok = FieldsOk(r, token);
  // A settlement item with a number is one item whatever the channel: one decided in a chunk
  // (which has no dedupe entry) is answered from the chunk's record.
  const bool numbered_item =
      fields_ok && IsSettlementOperation(r.operation) && r.settlement_item_number != 0;

  uint64_t fingerprint = 0;
  bool reversed_before_original = false;
  DedupeKey dedupe_key;
  // Journaled with no ledger change and no dedupe entry: a 96 for a request whose dedupe entry
  // could not be read (deciding it could approve a retransmission twice), or a 94.
  auto journal_only = [&](ResponseCode code, Reason reason) {
    d.response_code = code;
    d.reason = reason;
    std::string masked = r.pan ? r.pan->masked() : "";
    d.journal_sequence = WriteJournal(r, token, masked, d);
    return d;
  };
  if (fields_ok && !r.request_key.empty()) {
    fingerprint = Fingerprint(r, token);
    dedupe_key = DedupeKeyOf(r.request_key);
    Result<DedupeFound> found = FindDedupe(r.request_key, dedupe_key);
    if (!found.ok() && !found.status().IsNotFound()) {
      return journal_only(ResponseCode::kSystemMalfunction, Reason::kStorageReadFailed);
    }
    if (found.ok() && found->fingerprint == kReversedBeforeOriginalMark) {
      reversed_before_original = true;  // decided below; its own record replaces the mark
    } else if (found.ok()) {
      if (found->fingerprint == fingerprint) {
        // A retransmission: the original answer, no new record. Its completion runs after the
        // original's batch is durable because batches complete in order.
        Result<Decision> original = DedupeDecision(r.request_key, dedupe_key, *found);
        if (!original.ok())
          return journal_only(ResponseCode::kSystemMalfunction, Reason::kStorageReadFailed);
        original->duplicate = true;
        return std::move(original).value();
      }
      return journal_only(ResponseCode::kDuplicateTransmission, Reason::kDuplicateConflict);
    }
  }
  if (numbered_item && !reversed_before_original) {
    if (fingerprint == 0) fingerprint = Fingerprint(r, token);
    auto prior =
        FindDecidedItem(r.batch_id, r.settlement_item_number, r.amount.currency(), nullptr);
    if (!prior.ok())
      return journal_only(ResponseCode::kSystemMalfunction, Reason::kStorageReadFailed);
    if (prior->has_value()) {
      if ((*prior)->fingerprint == fingerprint) return std::move((*prior)->decision);
      return journal_only(ResponseCode::kDuplicateTransmission, Reason::kDuplicateConflict);
    }
  }

  Outcome o;
  if (!fields_ok) {
    o = Decline(ResponseCode::kFormatError, Reason::kInvalidRequest);
  } else if (reversed_before_original) {
    o = Decline(ResponseCode::kDoNotHonour, Reason::kReversedBeforeOriginal);
  } else {
    deciding_token_ = token;
    o = Evaluate(r, token, &d);
    deciding_token_.clear();
  }
  d.response_code = o.code;
  d.reason = o.reason;
  if (!d.approved()) {
    d.transfer_id = 0;
    d.approved_amount = Amount(0, r.amount.currency());
  }
  std::string masked;
  if (r.pan) {
    masked = r.pan->masked();
  } else {
    masked = MaskedPanOf(d.card_token);
  }
  const uint64_t seq = journal_sequence_ + 1;
  if (r.operation == Operation::kRemoteDecision) {
    if (d.approved()) d.auth_code = r.remote_auth_code.substr(0, 6);  // the issuer's DE 38
  } else if (d.approved()) {
    char code[8];
    std::snprintf(code, sizeof code, "%06u", static_cast<unsigned>(seq % kAuthCodeModulus));
    d.auth_code = code;
  }
  const bool remembered = fields_ok && d.reason != Reason::kStorageReadFailed;
  d.journal_sequence = WriteJournal(r, d.card_token, masked, d);
  if (fields_ok) QueueSaf(r, masked, d);
  // A decision made without a record it needed is not remembered: a retry is decided again.
  if (remembered && !r.request_key.empty()) {
    RecordDedupe(r.request_key, dedupe_key, fingerprint, d);
  }
  if (remembered && d.approved() && d.transfer_id != 0 && !r.request_key.empty() &&
      !IsSettlementOperation(r.operation) && r.operation != Operation::kRemoteDecision) {
    auto it = transfers_.find(d.transfer_id);
    if (it != transfers_.end() && it->second.transfer.kind == TransferKind::kPending &&
        it->second.transfer.state == TransferState::kPending) {
      const bool by_merchant = r.terminal_id.empty();
      const std::string& owner_id = by_merchant ? r.merchant_id : r.terminal_id;
      // The hold's open-hold entry gets what the index keeps, in the batch that writes the hold
      // (this Put follows PutTransfer's key-only one), so Open rebuilds the index from it.
      EncodeOpenHoldValue(d.journal_sequence, by_merchant, owner_id, &scratch_);
      open_.batch->Put(Cf::kOpenHolds, codec::U64Key(d.transfer_id), scratch_);
      IndexHold(d.journal_sequence, d.transfer_id, owner_id, by_merchant);
    }
  }
  return d;
}

// ---------------------------------------------------------------------------------------------
// Settlement chunks (SubmitSettlementChunk): items decided one by one by the single-item rules
// (EvaluateSettlementItem), journaled as one record, remembered by item number (SettlementBook
// item runs) instead of a dedupe entry each.

void Store::Impl::DecideChunk(std::vector<Request>& items,
                              std::vector<SettlementItemRecord> records,
                              std::vector<Decision>* out) {
  out->resize(items.size());
  const std::string& batch_id = items.front().batch_id;
  // Nothing else is journaled while the chunk is decided, so its record takes the next number.
  const uint64_t sequence = journal_sequence_ + 1;
  SettlementBatch* batch = settlement_.Find(batch_id);
  // Items decided before item runs existed have only their dedupe entries: a batch whose
  // totals count more decisions than its runs hold looks its new numbers up there too (a 96 is
  // counted but not remembered, so such a batch merely pays the lookups).
  bool check_dedupe = false;
  if (batch != nullptr) {
    const SettlementBook::ItemRuns* runs = settlement_.Items(batch_id);
    const uint64_t counted = batch->held.captures_count + batch->held.refunds_count +
                             batch->held.reversals_count + batch->rejected_count;
    check_dedupe = counted > (runs ? runs->decided() : 0);
  }
  JournalRecord j;
  const Request& head = items.front();
  j.channel = head.channel;
  j.operation = Operation::kSettleChunk;
  j.mti = Truncated(head.mti, Request::kFieldBytesMax);
  j.terminal_id = Truncated(head.terminal_id, Request::kFieldBytesMax);
  j.merchant_id = Truncated(head.merchant_id, Request::kFieldBytesMax);
  j.acquirer_id = Truncated(head.acquirer_id, Request::kFieldBytesMax);
  j.route = Truncated(head.route, Request::kFieldBytesMax);
  j.amount = Amount(0, head.amount.currency());
  j.response_code = ResponseCode::kApproved;
  j.settlement_batch_id = Truncated(batch_id, Request::kRequestKeyBytesMax);
  j.settlement_items = std::move(records);
  j.settlement_items.clear();
  // The run of consecutive numbers this chunk decides, added to the book when it ends.
  uint64_t run_first = 0, run_last = 0;
  auto close_run = [&] {
    if (run_first != 0) settlement_.AddItemRun(batch_id, run_first, run_last, {0, sequence, 0});
    run_first = 0;
  };
  std::vector<size_t>& decided = chunk_decided_;  // indexes of the items this record decides
  decided.clear();
  for (size_t i = 0; i < items.size(); ++i) {
    const Request& r = items[i];
    Decision& d = (*out)[i];
    std::string token = r.card_token;
    if (r.pan) token = tokenizer_.Token(r.pan->clear_digits());
    const uint64_t number = r.settlement_item_number;
    const bool fields_ok = FieldsOk(r, token);
    const uint64_t fingerprint = fields_ok ? Fingerprint(r, token) : 0;
    SettlementItemRecord item;
    item.number = number;
    item.operation = r.operation;
    item.amount_minor = r.amount.minor_units();
    item.fingerprint = fingerprint;
    item.rrn = Truncated(r.rrn, Request::kFieldBytesMax);
    item.original_request_key = Truncated(r.original_request_key, Request::kRequestKeyBytesMax);
    if (r.pan) item.masked_pan = r.pan->masked();
    auto decline_unremembered = [&](ResponseCode code, Reason reason) {
      d = Decision{};
      d.response_code = code;
      d.reason = reason;
      d.approved_amount = Amount(0, r.amount.currency());
      item.response_code = code;
      item.reason = reason;
      item.remembered = false;
      j.settlement_items.push_back(std::move(item));
      decided.push_back(i);
    };
    if (!fields_ok) {
      decline_unremembered(ResponseCode::kFormatError, Reason::kInvalidRequest);
      continue;
    }
    // Decided before: in an earlier record, or earlier in this chunk.
    std::optional<PriorItem> prior;
    {
      // The open run is not in the book yet: its items are this record's.
      const bool in_open_run = run_first != 0 && number >= run_first && number <= run_last;
      auto earlier = in_open_run ? PriorFromChunk(j, number, sequence, r.amount.currency())
                                 : FindDecidedItem(batch_id, number, r.amount.currency(), &j);
      if (!earlier.ok()) {
        decline_unremembered(ResponseCode::kSystemMalfunction, Reason::kStorageReadFailed);
        continue;
      }
      prior = std::move(*earlier);
    }
    if (!prior && check_dedupe && !r.request_key.empty()) {
      const DedupeKey hashed = DedupeKeyOf(r.request_key);
      Result<DedupeFound> found = FindDedupe(r.request_key, hashed);
      if (!found.ok() && !found.status().IsNotFound()) {
        decline_unremembered(ResponseCode::kSystemMalfunction, Reason::kStorageReadFailed);
        continue;
      }
      if (found.ok()) {
        Result<Decision> original = DedupeDecision(r.request_key, hashed, *found);
        if (!original.ok()) {
          decline_unremembered(ResponseCode::kSystemMalfunction, Reason::kStorageReadFailed);
          continue;
        }
        prior = PriorItem{std::move(original).value(), found->fingerprint};
        prior->decision.duplicate = true;
      }
    }
    if (prior) {
      // As a retransmission of a single request: the first answer, no new record; other
      // content under the same number is a 94, journaled and not remembered.
      if (prior->fingerprint == fingerprint) {
        d = std::move(prior->decision);
      } else {
        decline_unremembered(ResponseCode::kDuplicateTransmission, Reason::kDuplicateConflict);
      }
      continue;
    }
    Outcome o;
    if (batch == nullptr || batch->state != BatchState::kOpen) {
      o = Decline(ResponseCode::kInvalidTransaction, Reason::kBatchNotOpen);
    } else {
      d = Decision{};
      d.card_token = token;
      deciding_token_ = token;
      o = EvaluateSettlementItem(r, token, *batch, &d);
      deciding_token_.clear();
      if (CountsAsRejected(o)) ++batch->rejected_count;
    }
    d.response_code = o.code;
    d.reason = o.reason;
    if (!d.approved()) {
      d.transfer_id = 0;
      d.approved_amount = Amount(0, r.amount.currency());
    }
    item.response_code = d.response_code;
    item.reason = d.reason;
    item.approved_minor = d.approved_amount.minor_units();
    item.transfer_id = d.transfer_id;
    // Remembered by number (an unknown batch has nothing to remember it in, a 96 is decided
    // again on a retry).
    item.remembered = batch != nullptr && d.reason != Reason::kStorageReadFailed;
    const bool remembered = item.remembered;
    j.settlement_items.push_back(std::move(item));
    decided.push_back(i);
    if (!remembered) continue;
    if (run_first != 0 && number == run_last + 1) {
      run_last = number;
    } else {
      close_run();
      run_first = run_last = number;
    }
  }
  close_run();
  if (batch != nullptr) settlement_.Touch(*batch);
  if (j.settlement_items.empty()) return;  // every item a retransmission: nothing to journal
  j.time_unix_us = clock_->NowUnixMicros();
  j.latency_us = head.received_monotonic_us > 0
                     ? clock_->NowMonotonicMicros() - head.received_monotonic_us
                     : 0;
  char code[8];
  std::snprintf(code, sizeof code, "%06u", static_cast<unsigned>(sequence % kAuthCodeModulus));
  for (size_t i : decided) {
    Decision& d = (*out)[i];
    d.journal_sequence = sequence;
    if (d.approved()) d.auth_code = code;
  }
  const uint64_t written = AppendJournal(j, true);
  (void)written;
  assert(written == sequence);
}

Result<std::optional<Store::Impl::PriorItem>> Store::Impl::FindDecidedItem(
    const std::string& batch_id, uint64_t number, uint16_t currency, const JournalRecord* chunk) {
  const SettlementBook::ItemRuns* runs = settlement_.Items(batch_id);
  const SettlementBook::ItemRun* run = runs ? runs->Find(number) : nullptr;
  if (run == nullptr) return std::optional<PriorItem>();
  const uint64_t sequence = run->journal_sequence;
  if (chunk != nullptr && sequence == journal_sequence_ + 1) {
    return PriorFromChunk(*chunk, number, sequence, currency);
  }
  // A resubmitted chunk asks for each of its items in turn: the record is read and indexed
  // once, not once per item (~1,024 decodes of ~100 KB per chunk otherwise).
  if (read_chunk_.sequence != sequence) {
    Result<JournalRecord> record = ReadJournalRecord(sequence);
    if (!record.ok()) return record.status();
    read_chunk_.record = std::move(record).value();
    read_chunk_.remembered.clear();
    const std::vector<SettlementItemRecord>& items = read_chunk_.record.settlement_items;
    for (size_t i = 0; i < items.size(); ++i) {
      if (items[i].remembered) read_chunk_.remembered.emplace_back(items[i].number, i);
    }
    std::sort(read_chunk_.remembered.begin(), read_chunk_.remembered.end());
    read_chunk_.sequence = sequence;
  }
  const JournalRecord& record = read_chunk_.record;
  if (record.operation == Operation::kSettleChunk) {
    auto it = std::lower_bound(read_chunk_.remembered.begin(), read_chunk_.remembered.end(),
                               std::pair<uint64_t, size_t>(number, 0));
    if (it == read_chunk_.remembered.end() || it->first != number) {
      return Status::Corruption("journal record " + std::to_string(sequence) + " lacks item " +
                                std::to_string(number));
    }
    return std::optional<PriorItem>(
        PriorOfItem(record.settlement_items[it->second], sequence, currency));
  }
  // A single item's record (items decided alone before they stopped taking runs).
  PriorItem prior;
  prior.fingerprint = run->fingerprint;
  Decision& d = prior.decision;
  d.response_code = record.response_code;
  d.reason = record.reason;
  d.auth_code = record.auth_code;
  d.transfer_id = record.transfer_id;
  d.approved_amount = Amount(d.approved() ? record.amount.minor_units() : 0, currency);
  d.journal_sequence = record.sequence;
  d.card_token = record.card_token;
  d.duplicate = true;
  return std::optional<PriorItem>(std::move(prior));
}

Store::Impl::PriorItem Store::Impl::PriorOfItem(const SettlementItemRecord& item, uint64_t sequence,
                                                uint16_t currency) {
  PriorItem prior;
  prior.fingerprint = item.fingerprint;
  Decision& d = prior.decision;
  d.response_code = item.response_code;
  d.reason = item.reason;
  d.transfer_id = item.transfer_id;
  d.approved_amount = Amount(item.approved_minor, currency);
  d.journal_sequence = sequence;
  d.duplicate = true;
  if (d.approved()) {
    char code[8];
    std::snprintf(code, sizeof code, "%06u", static_cast<unsigned>(sequence % kAuthCodeModulus));
    d.auth_code = code;
  }
  return prior;
}

Result<std::optional<Store::Impl::PriorItem>> Store::Impl::PriorFromChunk(
    const JournalRecord& record, uint64_t number, uint64_t sequence, uint16_t currency) {
  // The item of the record that is remembered under the number (a 30, 94 or 96 under the same
  // number is journaled too, and not remembered).
  for (const SettlementItemRecord& item : record.settlement_items) {
    if (item.number == number && item.remembered) {
      return std::optional<PriorItem>(PriorOfItem(item, sequence, currency));
    }
  }
  return Status::Corruption("journal record " + std::to_string(sequence) + " lacks item " +
                            std::to_string(number));
}

Result<JournalRecord> Store::Impl::ReadJournalRecord(uint64_t sequence) {
  for (auto it = unsynced_settlement_records_.rbegin(); it != unsynced_settlement_records_.rend();
       ++it) {
    if (it->second.sequence == sequence) return it->second;
  }
  Result<std::string> value = backend_->Get(Cf::kJournal, codec::U64Key(sequence));
  if (!value.ok()) return value.status();
  return codec::DecodeJournalRecord(*value);
}

void Store::Impl::IndexHold(uint64_t sequence, uint64_t transfer_id, std::string_view owner_id,
                            bool by_merchant) {
  constexpr uint64_t kTransferBits = 40;
  constexpr uint64_t kOwnersMax = (uint64_t{1} << (64 - kTransferBits)) - 1;
  if (transfer_id >> kTransferBits != 0) return;  // not indexed: found the slow way
  auto it = transfers_.find(transfer_id);
  if (it == transfers_.end() || it->second.transfer.kind != TransferKind::kPending ||
      it->second.transfer.state != TransferState::kPending) {
    return;
  }
  if (!holds_by_sequence_.empty() && holds_by_sequence_.back().sequence >= sequence) return;
  // Resolved holds stay until the index is twice the open holds, then go in one pass.
  if (holds_by_sequence_.size() >= 2 * pending_by_expiry_.size() + 1024) {
    std::erase_if(holds_by_sequence_, [&](const HoldBySequence& h) {
      auto t = transfers_.find(h.transfer_and_owner & ((uint64_t{1} << kTransferBits) - 1));
      return t == transfers_.end() || t->second.transfer.state != TransferState::kPending;
    });
  }
  uint64_t owner = 0;
  const std::string_view id = owner_id;
  if (!id.empty()) {
    std::string key = (by_merchant ? "m" : "t") + std::string(id);
    auto [pos, inserted] = owner_ids_.try_emplace(std::move(key), owners_.size());
    if (inserted) {
      if (owners_.size() >= kOwnersMax) {
        owner_ids_.erase(pos);
        return;
      }
      owners_.emplace_back(id, by_merchant);
    }
    owner = pos->second + 1;
  }
  holds_by_sequence_.push_back({sequence, transfer_id | (owner << kTransferBits)});
}

Store::Impl::IndexedHold Store::Impl::FindHoldBySequence(uint64_t sequence) {
  constexpr uint64_t kTransferBits = 40;
  IndexedHold out;
  auto it = std::lower_bound(holds_by_sequence_.begin(), holds_by_sequence_.end(), sequence,
                             [](const HoldBySequence& h, uint64_t s) { return h.sequence < s; });
  if (it == holds_by_sequence_.end() || it->sequence != sequence) return out;
  auto t = transfers_.find(it->transfer_and_owner & ((uint64_t{1} << kTransferBits) - 1));
  if (t == transfers_.end() || t->second.transfer.state != TransferState::kPending) return out;
  out.hold = &t->second.transfer;
  const uint64_t owner = it->transfer_and_owner >> kTransferBits;
  if (owner != 0) {
    const auto& [id, by_merchant] = owners_[owner - 1];
    (by_merchant ? out.merchant_id : out.terminal_id) = id;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Residency: transfers and dedupe entries in memory only while they may change there or are
// recent; the rest is read back from RocksDB (point Gets on bloom-filtered column families).

Result<Transfer*> Store::Impl::FindTransfer(uint64_t id) {
  if (id == 0 || id >= next_transfer_id_) {
    return Status::NotFound("no transfer " + std::to_string(id));
  }
  if (auto it = transfers_.find(id); it != transfers_.end()) return &it->second.transfer;
  // Not resident: not an open hold and written by a durable batch, so the disk has its latest
  // state.
  ++transfer_disk_reads_;
  Result<std::string> value = backend_->Get(Cf::kTransfers, codec::U64Key(id));
  if (!value.ok()) return value.status();
  Result<Transfer> t = codec::DecodeTransfer(*value);
  if (!t.ok()) return t.status();
  if (t->id != id)
    return Status::Corruption("transfer " + std::to_string(id) + " names another id");
  auto [pos, inserted] = transfers_.emplace(id, ResidentTransfer{std::move(t).value(), 0});
  (void)inserted;  // it was not resident
  read_back_transfers_.push_back(id);
  return &pos->second.transfer;
}

void Store::Impl::MarkWritten(uint64_t transfer_id) {
  ResidentTransfer& rt = transfers_.at(transfer_id);
  if (rt.written_batch == open_.seq) return;
  rt.written_batch = open_.seq;
  open_.written_transfers.push_back(transfer_id);
}

void Store::Impl::EvictTransfer(uint64_t id) {
  auto it = transfers_.find(id);
  if (it == transfers_.end()) return;
  // An open hold stays (the sweeper and captures change it), and so does a transfer a later
  // batch, not yet durable, writes again.
  if (it->second.transfer.state == TransferState::kPending ||
      it->second.written_batch > evicted_batch_) {
    return;
  }
  transfers_.erase(it);
}

void Store::Impl::EvictReadBacks() {
  for (uint64_t id : read_back_transfers_) EvictTransfer(id);
  read_back_transfers_.clear();
}

void Store::Impl::EvictDurable(uint64_t durable_batch) {
  evicted_batch_ = durable_batch;
  settlement_.EvictDurable(durable_batch);
  while (!handed_transfers_.empty() && handed_transfers_.front().first <= durable_batch) {
    std::vector<uint64_t>& ids = handed_transfers_.front().second;
    for (uint64_t id : ids) EvictTransfer(id);
    if (ids.capacity() > spare_written_transfers_.capacity()) {
      spare_written_transfers_ = std::move(ids);
    }
    handed_transfers_.pop_front();
  }
  while (!unsynced_decisions_.empty() && unsynced_decisions_.front().batch <= durable_batch) {
    unsynced_decisions_.pop_front();
  }
  while (!unsynced_settlement_records_.empty() &&
         unsynced_settlement_records_.front().first <= durable_batch) {
    unsynced_settlement_records_.pop_front();
  }
  // Oldest first, and only entries whose batch is durable: a later read finds them on disk.
  while (dedupe_.size() > options_.dedupe_window_entries && !dedupe_order_.empty() &&
         dedupe_order_.front().second <= durable_batch) {
    auto it = dedupe_.find(dedupe_order_.front().first);
    // The key may have been written again since (a reversal's mark, then its original).
    if (it != dedupe_.end() && it->second.written_batch == dedupe_order_.front().second) {
      dedupe_.erase(it);
    }
    dedupe_order_.pop_front();
  }
}

Result<Store::Impl::DedupeFound> Store::Impl::FindDedupe(std::string_view key,
                                                         const DedupeKey& hashed) {
  DedupeFound found;
  if (auto it = dedupe_.find(hashed); it != dedupe_.end()) {
    found.fingerprint = it->second.fingerprint;
    found.transfer_id = it->second.transfer_id;
    found.journal_sequence = it->second.journal_sequence;
    found.written_batch = it->second.written_batch;
    return found;
  }
  // Not in the window: never seen, or recorded by a durable batch and evicted since.
  ++dedupe_disk_reads_;
  Result<std::string> value = backend_->Get(Cf::kDedupe, key);
  if (!value.ok()) return value.status();
  auto decoded = codec::DecodeDedupe(*value);
  if (!decoded.ok()) return decoded.status();
  found.fingerprint = decoded->first;
  found.transfer_id = decoded->second.transfer_id;
  found.journal_sequence = decoded->second.journal_sequence;
  found.decision = std::move(decoded->second);
  return found;
}

Result<Decision> Store::Impl::DedupeDecision(std::string_view key, const DedupeKey& hashed,
                                             const DedupeFound& found) {
  if (found.decision) return *found.decision;
  if (found.written_batch > evicted_batch_) {
    // Not on disk yet (or not known to be): the newest unsynced decision under the key. Only a
    // retransmission within a commit or two of its original comes here.
    for (auto it = unsynced_decisions_.rbegin(); it != unsynced_decisions_.rend(); ++it) {
      if (it->key == hashed) return it->decision;
    }
  }
  Result<std::string> value = backend_->Get(Cf::kDedupe, key);
  if (!value.ok()) return value.status();
  auto decoded = codec::DecodeDedupe(*value);
  if (!decoded.ok()) return decoded.status();
  return std::move(decoded->second);
}

void Store::Impl::RecordDedupe(std::string_view key, const DedupeKey& hashed, uint64_t fingerprint,
                               const Decision& d) {
  scratch_.clear();
  codec::EncodeDedupe(fingerprint, d, &scratch_);
  open_.batch->Put(Cf::kDedupe, key, scratch_);
  dedupe_[hashed] = DedupeSlot{fingerprint, d.transfer_id, d.journal_sequence, open_.seq};
  dedupe_order_.emplace_back(hashed, open_.seq);
  unsynced_decisions_.push_back(UnsyncedDecision{hashed, open_.seq, d});
}

Result<Decision> Store::Impl::FindDecisionByKey(std::string_view key) {
  const DedupeKey hashed = DedupeKeyOf(key);
  Result<DedupeFound> found = FindDedupe(key, hashed);
  if (!found.ok()) {
    if (found.status().IsNotFound()) return Status::NotFound("no decision for this request key");
    return found.status();
  }
  return DedupeDecision(key, hashed, *found);
}

void Store::Impl::PruneVelocity() {
  const auto today = static_cast<uint32_t>(clock_->NowUnixMicros() / kMicrosPerDay);
  if (today != velocity_prune_day_) {
    velocity_prune_day_ = today;
    velocity_prune_bucket_ = 0;
  }
  // A rehash during a pass moves entries between buckets; one the pass misses is a past day's
  // counter that VelocityOf resets anyway, and the next day's pass drops it.
  const size_t end =
      std::min(velocity_.bucket_count(), velocity_prune_bucket_ + kVelocityPruneBucketsPerTurn);
  if (velocity_prune_bucket_ >= end) return;
  std::vector<std::pair<std::string, uint32_t>> stale;
  for (size_t b = velocity_prune_bucket_; b < end; ++b) {
    for (auto it = velocity_.begin(b); it != velocity_.end(b); ++it) {
      // A counter the open batch writes stays for Finalize.
      if (it->second.day < today && !open_.dirty_velocity.contains(it->first)) {
        stale.emplace_back(it->first, it->second.day);
      }
    }
  }
  for (const auto& [token, day] : stale) {
    velocity_.erase(token);
    // Its record goes too (with the next batch written), so Open does not read it again.
    open_.batch->Delete(Cf::kVelocity, codec::VelocityKey(token, day));
  }
  velocity_prune_bucket_ = end;
}

Store::MemoryStats Store::Impl::MemoryStatsLocked() const {
  Store::MemoryStats stats;
  stats.resident_transfers = transfers_.size();
  stats.open_holds = pending_by_expiry_.size();
  stats.dedupe_window_entries = dedupe_.size();
  stats.unsynced_decisions = unsynced_decisions_.size();
  stats.velocity_counters = velocity_.size();
  stats.transfer_disk_reads = transfer_disk_reads_;
  stats.dedupe_disk_reads = dedupe_disk_reads_;
  stats.settlement_index_entries = settlement_.resident_remote_authorizations();
  stats.settlement_item_runs = settlement_.item_runs();
  stats.hold_index_entries = holds_by_sequence_.size();
  stats.hold_index_bytes = holds_by_sequence_.capacity() * sizeof(HoldBySequence);
  for (const auto& [id, by_merchant] : owners_) {
    // The id twice (the list and the map's "t"/"m" key), a map node and bucket.
    stats.hold_index_bytes += 2 * (sizeof(std::string) + id.size() + 1) + 4 * sizeof(void*);
  }
  return stats;
}

uint64_t Store::Impl::WriteJournal(const Request& r, const std::string& token,
                                   const std::string& masked, const Decision& d) {
  JournalRecord j;
  j.time_unix_us = clock_->NowUnixMicros();
  j.channel = r.channel;
  j.operation = r.operation;
  j.mti = Truncated(r.mti, Request::kFieldBytesMax);
  j.terminal_id = Truncated(r.terminal_id, Request::kFieldBytesMax);
  j.merchant_id = Truncated(r.merchant_id, Request::kFieldBytesMax);
  j.acquirer_id = Truncated(r.acquirer_id, Request::kFieldBytesMax);
  j.stan = Truncated(r.stan, Request::kFieldBytesMax);
  j.rrn = Truncated(r.rrn, Request::kFieldBytesMax);
  j.masked_pan = masked;
  j.card_token = Truncated(token, Request::kRequestKeyBytesMax);
  j.amount = r.amount;
  j.route = Truncated(r.route, Request::kFieldBytesMax);
  j.response_code = d.response_code;
  j.reason = d.reason;
  j.auth_code = d.auth_code;
  j.transfer_id = d.transfer_id;
  j.latency_us =
      r.received_monotonic_us > 0 ? clock_->NowMonotonicMicros() - r.received_monotonic_us : 0;
  j.request_key = Truncated(r.request_key, Request::kRequestKeyBytesMax);
  j.issuer_id = Truncated(r.issuer_id, Request::kFieldBytesMax);
  j.issuer_link = Truncated(r.issuer_link, Request::kFieldBytesMax);
  j.issuer_stan = r.issuer_stan;
  j.issuer_time = Truncated(r.issuer_time, Request::kFieldBytesMax);
  if (r.operation == Operation::kRemoteDecision && r.remote_approved_amount.currency() != 0 &&
      d.approved()) {
    j.approved_amount = d.approved_amount;
  }
  return AppendJournal(j, false);
}

uint64_t Store::Impl::AppendJournal(JournalRecord& j, bool keep) {
  j.sequence = ++journal_sequence_;
  j.prev_hash = journal_hash_;
  codec::SealJournalRecord(&j, &journal_scratch_);
  journal_hash_ = j.hash;
  open_.batch->Put(Cf::kJournal, codec::U64Key(j.sequence), journal_scratch_);
  open_.head_dirty = true;
  if (keep) unsynced_settlement_records_.emplace_back(open_.seq, std::move(j));
  return journal_sequence_;
}

Outcome Store::Impl::CheckCard(const Request& r, const std::string& token, CardRecord** card,
                               AccountRecord** account, bool allow_inactive) {
  if (token.empty()) return Decline(ResponseCode::kFormatError, Reason::kInvalidRequest);
  CardRecord* c = FindCardByToken(token);
  if (c == nullptr) return Decline(ResponseCode::kInvalidCardNumber, Reason::kUnknownCard);
  *card = c;
  AccountRecord* a = accounts_.Find(c->account_id);
  if (a == nullptr) return Decline(ResponseCode::kInvalidCardNumber, Reason::kUnknownCard);
  *account = a;
  switch (c->status()) {
    case CardStatus::kActive:
      break;
    case CardStatus::kInactive:
      if (!allow_inactive) return Decline(ResponseCode::kRestrictedCard, Reason::kCardInactive);
      break;
    case CardStatus::kBlocked:
      return Decline(ResponseCode::kRestrictedCard, Reason::kCardBlocked);
    case CardStatus::kLost:
      return Decline(ResponseCode::kLostCard, Reason::kCardLost);
    case CardStatus::kStolen:
      return Decline(ResponseCode::kStolenCard, Reason::kCardStolen);
    case CardStatus::kExpired:
      return Decline(ResponseCode::kExpiredCard, Reason::kCardExpired);
  }
  if (clock_->NowUnixMicros() >= ExpiryEndUnixMicros(*c)) {
    return Decline(ResponseCode::kExpiredCard, Reason::kCardExpired);
  }
  if (a->status != AccountStatus::kOpen) {
    return Decline(ResponseCode::kRestrictedCard, Reason::kCardBlocked);
  }
  if (r.amount.currency() != 0 && r.amount.currency() != a->currency) {
    return Decline(ResponseCode::kInvalidAmount, Reason::kCurrencyMismatch);
  }
  return {};
}

codec::Velocity Store::Impl::StoredVelocity(const std::string& key) {
  if (const CardRecord* card = FindCardByToken(key)) {
    return codec::Velocity{card->velocity_day, card->velocity_count, card->velocity_amount_minor};
  }
  auto it = velocity_.find(key);
  return it == velocity_.end() ? codec::Velocity{} : it->second;
}

void Store::Impl::SetVelocity(const std::string& key, const codec::Velocity& v) {
  if (CardRecord* card = FindCardByToken(key)) {
    card->velocity_day = v.day;
    card->velocity_count = v.count;
    card->velocity_amount_minor = v.amount_minor;
    return;
  }
  velocity_[key] = v;
}

codec::Velocity Store::Impl::VelocityOf(const std::string& key) {
  const auto today = static_cast<uint32_t>(clock_->NowUnixMicros() / kMicrosPerDay);
  codec::Velocity v = StoredVelocity(key);
  if (v.day != today) v = codec::Velocity{today, 0, 0};
  return v;
}

void Store::Impl::CountVelocity(const std::string& token, int64_t amount) {
  codec::Velocity v = VelocityOf(token);
  ++v.count;
  v.amount_minor += amount;
  ReplaceVelocity(token, v);
}

void Store::Impl::ReplaceVelocity(const std::string& token, const codec::Velocity& v) {
  // One record per key on disk: a counter of an earlier day is deleted in the batch that writes
  // the new day's (Finalize), so Open reads at most one record per card or stand-in key.
  const codec::Velocity stored = StoredVelocity(token);
  if (stored.day != 0 && stored.day != v.day) {
    open_.batch->Delete(Cf::kVelocity, codec::VelocityKey(token, stored.day));
  }
  SetVelocity(token, v);
  open_.dirty_velocity.insert(token);
}

Outcome Store::Impl::CheckDebitLimits(const CardRecord& card, const std::string& token,
                                      const AccountRecord& account, int64_t amount) {
  if (card.single_amount_max_minor > 0 && amount > card.single_amount_max_minor) {
    return Decline(ResponseCode::kExceedsAmountLimit, Reason::kSingleAmountLimit);
  }
  const codec::Velocity v = VelocityOf(token);
  if (card.daily_amount_max_minor > 0 && v.amount_minor + amount > card.daily_amount_max_minor) {
    return Decline(ResponseCode::kExceedsAmountLimit, Reason::kDailyAmountLimit);
  }
  if (card.daily_count_max > 0 && v.count + 1 > card.daily_count_max) {
    return Decline(ResponseCode::kExceedsFrequencyLimit, Reason::kDailyCountLimit);
  }
  if (!CanDebit(account, amount)) {
    return Decline(ResponseCode::kInsufficientFunds, Reason::kInsufficientFunds);
  }
  return {};
}

bool Store::Impl::CanDebit(const AccountRecord& a, int64_t amount) const {
  const bool limited = IsCardholderKind(a.kind) || (a.flags & kFlagDebitsMustNotExceedCredits) != 0;
  return !limited || a.available() >= amount;
}

AccountRecord* Store::Impl::EnsureSettlement(uint16_t currency) {
  const uint64_t id = SettlementAccountId(currency);
  if (AccountRecord* known = accounts_.Find(id)) return known;
  AccountRecord a;
  a.id = id;
  a.kind = AccountKind::kIssuerSettlement;
  a.currency = currency;
  account_names_[id] = "issuer settlement " + std::to_string(currency);
  AccountRecord* stored = accounts_.Insert(a).first;
  open_.dirty_accounts.insert(id);
  return stored;
}

Result<AccountRecord*> Store::Impl::Counterparty(const Request& r, uint16_t currency) {
  if (r.counterparty_account == 0) return EnsureSettlement(currency);
  AccountRecord* a = accounts_.Find(r.counterparty_account);
  if (a == nullptr || a->currency != currency) return Status::NotFound("counterparty");
  return a;
}

Transfer& Store::Impl::NewTransfer(TransferKind kind, TransferState state, uint64_t debit,
                                   uint64_t credit, Amount amount) {
  Transfer t;
  t.id = next_transfer_id_++;
  t.kind = kind;
  t.state = state;
  t.debit_account = debit;
  t.credit_account = credit;
  t.amount = amount;
  t.created_unix_us = clock_->NowUnixMicros();
  t.card_token = deciding_token_;
  ResidentTransfer& stored = transfers_[t.id];
  stored.transfer = std::move(t);
  MarkWritten(stored.transfer.id);
  return stored.transfer;
}

void Store::Impl::PutTransfer(const Transfer& t) {
  scratch_.clear();
  codec::EncodeTransfer(t, &scratch_);
  const std::string key = codec::U64Key(t.id);
  open_.batch->Put(Cf::kTransfers, key, scratch_);
  // The open-hold index, in the same batch: a restart finds exactly the holds still open. No
  // copy of the record: it would add ~150 bytes per authorization to the WAL, memtables and
  // compactions; open pays a point read per hold instead (~2.4 us: 300k holds in 0.66-0.77 s).
  // The key alone here; Decide then puts the RRN index's ~13 bytes (EncodeOpenHoldValue) in
  // the same batch. A hold written again while still open would lose that value (found through
  // the journal after a restart); no request does that today.
  if (t.kind == TransferKind::kPending) {
    if (t.state == TransferState::kPending) {
      open_.batch->Put(Cf::kOpenHolds, key, std::string_view());
    } else {
      open_.batch->Delete(Cf::kOpenHolds, key);
    }
  }
  MarkWritten(t.id);  // resident until this batch is durable
}

Transfer& Store::Impl::ReversePosting(Transfer& orig, AccountRecord& credited,
                                      AccountRecord& debited, int64_t back) {
  Transfer& t = NewTransfer(TransferKind::kReversal, TransferState::kFinal, credited.id, debited.id,
                            Amount(back, orig.amount.currency()));
  t.pending_id = orig.id;
  MovePosted(credited, debited, back);
  orig.state = TransferState::kReversed;
  orig.resolved_by = t.id;
  PutTransfer(t);
  PutTransfer(orig);
  return t;
}

void Store::Impl::MovePosted(AccountRecord& debit, AccountRecord& credit, int64_t amount) {
  debit.debits_posted += amount;
  credit.credits_posted += amount;
  open_.dirty_accounts.insert(debit.id);
  open_.dirty_accounts.insert(credit.id);
}

void Store::Impl::MovePending(AccountRecord& debit, AccountRecord& credit, int64_t amount) {
  debit.debits_pending += amount;
  credit.credits_pending += amount;
  open_.dirty_accounts.insert(debit.id);
  open_.dirty_accounts.insert(credit.id);
}

Outcome Store::Impl::Evaluate(const Request& r, const std::string& token, Decision* d) {
  const int64_t amount = r.amount.minor_units();
  CardRecord* card = nullptr;
  AccountRecord* account = nullptr;
  auto finish_available = [&] {
    if (account) d->available = Amount(account->available(), account->currency);
  };

  switch (r.operation) {
    case Operation::kAuthorize:
    case Operation::kPurchase: {
      Outcome o = CheckCard(r, token, &card, &account, false);
      finish_available();
      if (o.code != ResponseCode::kApproved) return o;
      if (amount <= 0) return Decline(ResponseCode::kInvalidAmount, Reason::kInvalidAmount);
      o = CheckDebitLimits(*card, token, *account, amount);
      if (o.code != ResponseCode::kApproved) return o;
      auto other = Counterparty(r, account->currency);
      if (!other.ok()) return Decline(ResponseCode::kInvalidTransaction, Reason::kInvalidRequest);
      const Amount a(amount, account->currency);
      if (r.operation == Operation::kAuthorize) {
        Transfer& t = NewTransfer(TransferKind::kPending, TransferState::kPending, account->id,
                                  (*other)->id, a);
        t.expires_unix_us = t.created_unix_us + options_.hold_ttl_seconds * kMicrosPerSecond;
        pending_by_expiry_.insert({t.expires_unix_us, t.id});
        MovePending(*account, **other, amount);
        PutTransfer(t);
        d->transfer_id = t.id;
      } else {
        Transfer& t = NewTransfer(TransferKind::kPosted, TransferState::kPosted, account->id,
                                  (*other)->id, a);
        MovePosted(*account, **other, amount);
        PutTransfer(t);
        d->transfer_id = t.id;
      }
      CountVelocity(token, amount);
      d->approved_amount = a;
      finish_available();
      return {};
    }

    case Operation::kRefund:
    case Operation::kGiftReload:
    case Operation::kGiftActivate: {
      const bool activate = r.operation == Operation::kGiftActivate;
      Outcome o = CheckCard(r, token, &card, &account, activate);
      finish_available();
      if (o.code != ResponseCode::kApproved) return o;
      if (activate && card->status() != CardStatus::kInactive) {
        return Decline(ResponseCode::kInvalidTransaction, Reason::kAlreadyResolved);
      }
      if (amount < 0 || (amount == 0 && !activate)) {
        return Decline(ResponseCode::kInvalidAmount, Reason::kInvalidAmount);
      }
      auto other = Counterparty(r, account->currency);
      if (!other.ok()) return Decline(ResponseCode::kInvalidTransaction, Reason::kInvalidRequest);
      if (!CanDebit(**other, amount)) {
        return Decline(ResponseCode::kInsufficientFunds, Reason::kInsufficientFunds);
      }
      if (activate) {
        card->set_status(CardStatus::kActive);
        PutCard(*card);
      }
      const Amount a(amount, account->currency);
      if (amount > 0) {
        Transfer& t = NewTransfer(TransferKind::kPosted, TransferState::kPosted, (*other)->id,
                                  account->id, a);
        MovePosted(**other, *account, amount);
        PutTransfer(t);
        d->transfer_id = t.id;
      }
      d->approved_amount = a;
      finish_available();
      return {};
    }

    case Operation::kBalanceInquiry: {
      Outcome o = CheckCard(r, token, &card, &account, false);
      finish_available();
      return o;
    }

    case Operation::kAdvice: {
      // Already approved offline: card status, expiry and limits no longer apply; the card must
      // exist, the currency match, and a flagged account must not be overdrawn.
      if (token.empty()) return Decline(ResponseCode::kFormatError, Reason::kInvalidRequest);
      card = FindCardByToken(token);
      if (card == nullptr) {
        return Decline(ResponseCode::kInvalidCardNumber, Reason::kUnknownCard);
      }
      account = accounts_.Find(card->account_id);
      if (account == nullptr) {
        return Decline(ResponseCode::kInvalidCardNumber, Reason::kUnknownCard);
      }
      finish_available();
      if (r.amount.currency() != account->currency) {
        return Decline(ResponseCode::kInvalidAmount, Reason::kCurrencyMismatch);
      }
      if (amount <= 0) return Decline(ResponseCode::kInvalidAmount, Reason::kInvalidAmount);
      const bool flagged = account->kind == AccountKind::kCardholderDebit ||
                           account->kind == AccountKind::kPrepaid ||
                           (account->flags & kFlagDebitsMustNotExceedCredits) != 0;
      if (flagged && account->balance() - account->debits_pending < amount) {
        return Decline(ResponseCode::kInsufficientFunds, Reason::kAdviceWouldOverdraw);
      }
      auto other = Counterparty(r, account->currency);
      if (!other.ok()) return Decline(ResponseCode::kInvalidTransaction, Reason::kInvalidRequest);
      const Amount a(amount, account->currency);
      Transfer& t =
          NewTransfer(TransferKind::kPosted, TransferState::kPosted, account->id, (*other)->id, a);
      MovePosted(*account, **other, amount);
      PutTransfer(t);
      CountVelocity(token, amount);
      d->transfer_id = t.id;
      d->approved_amount = a;
      finish_available();
      return {};
    }

    case Operation::kCapture:
    case Operation::kReverse: {
      uint64_t original_id = r.original_transfer_id;
      bool original_key_known = false;
      DedupeKey original_key;
      if (!r.original_request_key.empty()) {
        original_key = DedupeKeyOf(r.original_request_key);
        Result<DedupeFound> found = FindDedupe(r.original_request_key, original_key);
        if (!found.ok() && !found.status().IsNotFound()) {
          return Decline(ResponseCode::kSystemMalfunction, Reason::kStorageReadFailed);
        }
        original_key_known = found.ok();
        original_id = found.ok() ? found->transfer_id : 0;
      }
      Result<Transfer*> ot =
          original_id == 0 ? Result<Transfer*>(Status::NotFound("")) : FindTransfer(original_id);
      if (!ot.ok() && !ot.status().IsNotFound()) {
        return Decline(ResponseCode::kSystemMalfunction, Reason::kStorageReadFailed);
      }
      if (!ot.ok()) {
        if (r.operation == Operation::kReverse && !r.original_request_key.empty() &&
            !original_key_known) {
          // The reversal overtook its original (a terminal timed out before the original got
          // here). Remember it in the same write, so the late original is declined.
          Decision mark;
          mark.response_code = ResponseCode::kDoNotHonour;
          mark.reason = Reason::kReversedBeforeOriginal;
          RecordDedupe(r.original_request_key, original_key, kReversedBeforeOriginalMark, mark);
        }
        return Decline(ResponseCode::kUnableToLocateOriginal, Reason::kUnknownOriginal);
      }
      Transfer& orig = **ot;
      // The resolution belongs to the original's card (the request names no card).
      deciding_token_ = orig.card_token;
      d->card_token = orig.card_token;
      AccountRecord& debit = AccountAt(orig.debit_account);
      AccountRecord& credit = AccountAt(orig.credit_account);
      // The cardholder side: the debit of a hold or purchase, the credit of a refund or load.
      account = IsCardholderKind(debit.kind) ? &debit : &credit;
      finish_available();
      if (r.amount.currency() != 0 && r.amount.currency() != orig.amount.currency()) {
        return Decline(ResponseCode::kInvalidAmount, Reason::kCurrencyMismatch);
      }
      const int64_t now = clock_->NowUnixMicros();
      if (r.operation == Operation::kCapture) {
        if (orig.kind != TransferKind::kPending) {
          return Decline(ResponseCode::kInvalidTransaction, Reason::kNotReversible);
        }
        if (orig.state == TransferState::kExpired ||
            (orig.state == TransferState::kPending && now >= orig.expires_unix_us)) {
          return Decline(ResponseCode::kInvalidTransaction, Reason::kHoldExpired);
        }
        if (orig.state != TransferState::kPending) {
          return Decline(ResponseCode::kInvalidTransaction, Reason::kAlreadyResolved);
        }
        const int64_t post = amount == 0 ? orig.amount.minor_units() : amount;
        if (post < 0) return Decline(ResponseCode::kInvalidAmount, Reason::kInvalidAmount);
        if (post > orig.amount.minor_units()) {
          return Decline(ResponseCode::kInvalidAmount, Reason::kCaptureExceedsHold);
        }
        Transfer& t =
            NewTransfer(TransferKind::kPostPending, TransferState::kFinal, orig.debit_account,
                        orig.credit_account, Amount(post, orig.amount.currency()));
        t.pending_id = orig.id;
        MovePending(debit, credit, -orig.amount.minor_units());
        MovePosted(debit, credit, post);
        orig.state = TransferState::kPosted;
        orig.resolved_by = t.id;
        orig.posted_amount_minor = post;
        pending_by_expiry_.erase({orig.expires_unix_us, orig.id});
        PutTransfer(t);
        PutTransfer(orig);
        d->transfer_id = t.id;
        d->approved_amount = t.amount;
        finish_available();
        return {};
      }
      // kReverse.
      if (orig.kind == TransferKind::kPending && orig.state == TransferState::kPending) {
        Transfer& t = NewTransfer(TransferKind::kVoidPending, TransferState::kFinal,
                                  orig.debit_account, orig.credit_account, orig.amount);
        t.pending_id = orig.id;
        MovePending(debit, credit, -orig.amount.minor_units());
        orig.state = TransferState::kVoided;
        orig.resolved_by = t.id;
        pending_by_expiry_.erase({orig.expires_unix_us, orig.id});
        ReleaseVelocity(orig);
        PutTransfer(t);
        PutTransfer(orig);
        d->transfer_id = t.id;
        d->approved_amount = orig.amount;
        finish_available();
        return {};
      }
      if (orig.kind == TransferKind::kPending && orig.state == TransferState::kExpired) {
        return Decline(ResponseCode::kInvalidTransaction, Reason::kHoldExpired);
      }
      const bool posted_hold =
          orig.kind == TransferKind::kPending && orig.state == TransferState::kPosted;
      const bool posted_direct =
          orig.kind == TransferKind::kPosted && orig.state == TransferState::kPosted;
      if (!posted_hold && !posted_direct) {
        if (orig.state == TransferState::kVoided || orig.state == TransferState::kReversed) {
          return Decline(ResponseCode::kInvalidTransaction, Reason::kAlreadyResolved);
        }
        return Decline(ResponseCode::kInvalidTransaction, Reason::kNotReversible);
      }
      if (orig.refunded_minor > 0) {
        // Settlement refunded part of it already: reversing the whole posting would pay the
        // cardholder twice (as for a settlement reversal item).
        return Decline(ResponseCode::kInvalidTransaction, Reason::kAlreadyResolved);
      }
      const int64_t back = posted_hold ? orig.posted_amount_minor : orig.amount.minor_units();
      // The reversal debits the side the original credited; it must not overdraw it.
      if (!CanDebit(credit, back)) {
        return Decline(ResponseCode::kInsufficientFunds, Reason::kInsufficientFunds);
      }
      const Transfer& t = ReversePosting(orig, credit, debit, back);
      ReleaseVelocity(orig);
      d->transfer_id = t.id;
      d->approved_amount = t.amount;
      finish_available();
      return {};
    }

    case Operation::kExpire:
      break;

    case Operation::kRemoteDecision:
    case Operation::kStandIn:
      return EvaluateRemote(r, token, d);

    case Operation::kSettleCapture:
    case Operation::kSettleRefund:
    case Operation::kSettleReversal:
      return EvaluateSettlement(r, token, d);

    case Operation::kSettleChunk:  // a journal record kind, never a request (FieldsOk)
      break;
  }
  return Decline(ResponseCode::kFormatError, Reason::kInvalidRequest);
}

// ---------------------------------------------------------------------------------------------
// Remote issuers: journal-only decisions, stand-in and store-and-forward (issue 5)

// Stand-in counters live beside the card's own velocity counters under a prefixed token, so a
// stand-in approval counts toward both the card's limits and the issuer's stand-in limits.
static std::string StandInCounterKey(const std::string& token) { return "standin:" + token; }

Outcome Store::Impl::EvaluateRemote(const Request& r, const std::string& token, Decision* d) {
  if (r.operation == Operation::kRemoteDecision) {
    if (r.remote_follow_up != RemoteFollowUp::kNone && IsApproval(r.remote_response) &&
        saf_.Reversed(r.original_request_key)) {
      // Reversed already (by another request: a retransmission was answered by the dedupe).
      return Decline(ResponseCode::kInvalidTransaction, Reason::kAlreadyResolved);
    }
    // Nothing moves in kytkin's ledger: the issuer holds the money, what it approved of it.
    // Checked before the completion takes its capture mark, so a 30 leaves no mark behind.
    const Amount& partial = r.remote_approved_amount;
    if (partial.currency() != 0 &&
        (partial.currency() != r.amount.currency() || partial.minor_units() <= 0 ||
         partial.minor_units() > r.amount.minor_units())) {
      return Decline(ResponseCode::kFormatError, Reason::kInvalidRequest);
    }
    if (r.remote_follow_up == RemoteFollowUp::kCompletion && IsApproval(r.remote_response)) {
      Outcome taken = TakeRemoteCaptureOnline(r);
      if (taken.code != ResponseCode::kApproved) return taken;
    }
    d->approved_amount = !IsApproval(r.remote_response) ? Amount(0, r.amount.currency())
                         : partial.currency() != 0      ? partial
                                                        : r.amount;
    d->available = r.remote_available;
    return Decline(r.remote_response, Reason::kNone);
  }
  const int64_t amount = r.amount.minor_units();
  if (token.empty()) return Decline(ResponseCode::kFormatError, Reason::kInvalidRequest);
  if (amount <= 0) return Decline(ResponseCode::kInvalidAmount, Reason::kInvalidAmount);
  const std::string counter_key = StandInCounterKey(token);
  const codec::Velocity counters = VelocityOf(counter_key);
  // A subtraction, so a huge amount cannot wrap the sum below the limit.
  if (r.stand_in_daily_amount_max_minor > 0 &&
      amount > r.stand_in_daily_amount_max_minor - counters.amount_minor) {
    return Decline(r.stand_in_decline, Reason::kDailyAmountLimit);
  }
  if (r.stand_in_daily_count_max > 0 && counters.count + 1 > r.stand_in_daily_count_max) {
    return Decline(r.stand_in_decline, Reason::kDailyCountLimit);
  }
  if (FindCardByToken(token) != nullptr) {
    // kytkin's own view of the card: the same checks and hold as an authorization.
    Request hold = r;
    hold.operation = Operation::kAuthorize;
    Outcome o = Evaluate(hold, token, d);
    if (o.code != ResponseCode::kApproved) return o;
  } else {
    d->approved_amount = r.amount;
  }
  CountVelocity(counter_key, amount);
  return {};
}

Outcome Store::Impl::TakeRemoteCaptureOnline(const Request& r) {
  const DedupeKey hashed = DedupeKeyOf(r.original_request_key);
  Result<DedupeFound> found = FindDedupe(r.original_request_key, hashed);
  if (!found.ok() && !found.status().IsNotFound()) {
    return Decline(ResponseCode::kSystemMalfunction, Reason::kStorageReadFailed);
  }
  if (!found.ok() || found->fingerprint == kReversedBeforeOriginalMark) {
    return Decline(ResponseCode::kUnableToLocateOriginal, Reason::kUnknownOriginal);
  }
  Result<uint64_t> taken = settlement_.RemoteAuthorization(*backend_, found->journal_sequence);
  if (!taken.ok()) return Decline(ResponseCode::kSystemMalfunction, Reason::kStorageReadFailed);
  if ((*taken & SettlementBook::kCompletedOnline) != 0) {
    return Decline(ResponseCode::kInvalidTransaction, Reason::kAlreadyResolved);  // 2nd 0220
  }
  if (*taken != 0) {  // a settlement item captured it already
    return Decline(ResponseCode::kDuplicateTransmission, Reason::kCaptureConflict);
  }
  // This decision's journal sequence (Decide writes its record next).
  settlement_.SetRemoteAuthorization(found->journal_sequence,
                                     SettlementBook::kCompletedOnline | (journal_sequence_ + 1),
                                     open_.seq);
  return {};
}

void Store::Impl::QueueSaf(const Request& r, const std::string& masked, const Decision& d) {
  if (r.operation == Operation::kRemoteDecision &&
      r.remote_follow_up == RemoteFollowUp::kReversal && d.approved()) {
    saf_.NoteReversed(*open_.batch, r.original_request_key, d.journal_sequence,
                      clock_->NowUnixMicros());
  }
  if (r.saf_issuer.empty()) return;
  if (!r.saf_always.message.empty()) {
    saf_.Enqueue(*open_.batch, r.saf_issuer, r.saf_always, masked, d.response_code, d.auth_code,
                 d.journal_sequence, clock_->NowUnixMicros());
  }
  const SafAdvice& advice = d.approved() ? r.saf_if_approved : r.saf_if_declined;
  if (advice.message.empty()) return;
  saf_.Enqueue(*open_.batch, r.saf_issuer, advice, masked, d.response_code, d.auth_code,
               d.journal_sequence, clock_->NowUnixMicros());
}

// ---------------------------------------------------------------------------------------------
// Settlement items and batches (issue 6). Money flows: see "Settlement" in store.h.

namespace {

constexpr int64_t kBasisPointsPerUnit = 10'000;

// round(amount * bps / 10000), half up, without overflow for any int64 amount.
int64_t BasisPointsOf(int64_t amount, uint32_t bps) {
  __extension__ using Wide = __int128;  // amount * bps may not fit in 64 bits
  const Wide scaled = static_cast<Wide>(amount) * bps;
  return static_cast<int64_t>((scaled + kBasisPointsPerUnit / 2) / kBasisPointsPerUnit);
}

// The route text of an off-us decision written before JournalRecord::issuer_id names its issuer:
// "issuer X via L 412us stan 17" for an issuer's answer, "stand-in WHY X via L" for a stand-in
// (switch/routed_request.cc). Empty when it names none.
std::string_view RemoteIssuerOfRoute(std::string_view route) {
  constexpr std::string_view kIssuer = "issuer ";
  constexpr std::string_view kStandIn = "stand-in ";
  constexpr std::string_view kVia = " via ";
  if (route.starts_with(kIssuer)) {
    route.remove_prefix(kIssuer.size());
    return route.substr(0, route.find(' '));
  }
  if (!route.starts_with(kStandIn)) return {};
  route = route.substr(0, route.find(kVia));
  const size_t space = route.rfind(' ');
  return space == std::string_view::npos || space < kStandIn.size() - 1 ? std::string_view{}
                                                                        : route.substr(space + 1);
}

// An authorization belongs to the terminal that made it; one made without a terminal (gRPC may
// send none) to the merchant it names. An item from another terminal or merchant must not
// capture it: that batch's merchant would be paid for another's sale.
Outcome CheckOriginalBelongsToItem(std::string_view auth_terminal_id,
                                   std::string_view auth_merchant_id, const Request& item) {
  if (!auth_terminal_id.empty()) {
    if (!item.terminal_id.empty() && auth_terminal_id != item.terminal_id) {
      return Decline(ResponseCode::kInvalidTransaction, Reason::kOriginalMismatch);
    }
  } else if (!auth_merchant_id.empty() && !item.merchant_id.empty() &&
             auth_merchant_id != item.merchant_id) {
    return Decline(ResponseCode::kInvalidTransaction, Reason::kOriginalMismatch);
  }
  return {};
}
Outcome CheckOriginalBelongsToItem(const JournalRecord& auth, const Request& item) {
  return CheckOriginalBelongsToItem(auth.terminal_id, auth.merchant_id, item);
}

}  // namespace

Outcome Store::Impl::OriginalFromIndexedHold(const Request& r, uint64_t sequence,
                                             const IndexedHold& indexed, SettlementOriginal* out) {
  // The checks the journal record would allow: kytkin's auth code is the last six digits of the
  // approval's sequence, and the terminal (or merchant) is kept in the index.
  char code[8];
  std::snprintf(code, sizeof code, "%06u", static_cast<unsigned>(sequence % kAuthCodeModulus));
  if (!r.original_auth_code.empty() && r.original_auth_code != code) {
    return Decline(ResponseCode::kInvalidTransaction, Reason::kOriginalMismatch);
  }
  Outcome belongs = CheckOriginalBelongsToItem(indexed.terminal_id, indexed.merchant_id, r);
  if (belongs.code != ResponseCode::kApproved) return belongs;
  out->hold = indexed.hold;
  return {};
}

Outcome Store::Impl::FindSettlementOriginal(const Request& r, SettlementOriginal* out) {
  // The authorization's journal record, read (once) from the backend: its terminal, and for an
  // off-us decision everything settlement knows of it. A point read per item.
  std::optional<JournalRecord> record;
  bool read_failed = false;  // a read error, not a missing record: 96, and not remembered
  auto read_record = [&](uint64_t sequence) {
    if (record && record->sequence == sequence) return true;
    record.reset();
    auto value = backend_->Get(Cf::kJournal, codec::U64Key(sequence));
    read_failed = !value.ok() && !value.status().IsNotFound();
    if (!value.ok()) return false;
    auto decoded = codec::DecodeJournalRecord(*value);
    if (!decoded.ok()) return false;
    record = std::move(decoded).value();
    return true;
  };
  std::string key = r.original_request_key;
  if (key.empty() && !r.rrn.empty()) {
    // An open hold is found in memory by the sequence of its approval (IndexHold), with what the
    // checks below need: its auth code is the sequence's last six digits, and the terminal or
    // merchant is kept beside it. Anything else is read as below.
    uint64_t sequence = 0;
    const char* end = r.rrn.data() + r.rrn.size();
    auto [ptr, ec] = std::from_chars(r.rrn.data(), end, sequence);
    if (ec == std::errc() && ptr == end && sequence != 0) {
      const IndexedHold indexed = FindHoldBySequence(sequence);
      if (indexed.hold != nullptr) return OriginalFromIndexedHold(r, sequence, indexed, out);
    }
  }
  if (key.empty() && !r.rrn.empty()) {
    // kytkin's RRN is the journal sequence of the approval; its record names the request key.
    uint64_t sequence = 0;
    const char* end = r.rrn.data() + r.rrn.size();
    auto [ptr, ec] = std::from_chars(r.rrn.data(), end, sequence);
    if (ec != std::errc() || ptr != end || sequence == 0) {
      return Decline(ResponseCode::kFormatError, Reason::kInvalidRequest);
    }
    if (sequence > journal_sequence_ || !read_record(sequence) || record->request_key.empty()) {
      if (read_failed) return Decline(ResponseCode::kSystemMalfunction, Reason::kStorageReadFailed);
      return Decline(ResponseCode::kUnableToLocateOriginal, Reason::kUnknownOriginal);
    }
    key = record->request_key;
  }
  uint64_t id = r.original_transfer_id;
  if (!key.empty()) {
    const DedupeKey hashed = DedupeKeyOf(key);
    Result<DedupeFound> found = FindDedupe(key, hashed);
    if (!found.ok() && !found.status().IsNotFound()) {
      return Decline(ResponseCode::kSystemMalfunction, Reason::kStorageReadFailed);
    }
    if (!found.ok() || found->fingerprint == kReversedBeforeOriginalMark) {
      return Decline(ResponseCode::kUnableToLocateOriginal, Reason::kUnknownOriginal);
    }
    // An open hold: the index has what the record would tell (by the approval's sequence).
    if (found->transfer_id != 0) {
      const IndexedHold indexed = FindHoldBySequence(found->journal_sequence);
      if (indexed.hold != nullptr && indexed.hold->id == found->transfer_id) {
        return OriginalFromIndexedHold(r, found->journal_sequence, indexed, out);
      }
    }
    // The authorization's journal record (the RRN path read it already): its auth code, its
    // terminal or merchant, and for an off-us decision everything settlement knows of it. The
    // dedupe window keeps only a summary, so the record is the one place all of this is.
    if (!read_record(found->journal_sequence)) {
      if (read_failed) return Decline(ResponseCode::kSystemMalfunction, Reason::kStorageReadFailed);
      return Decline(ResponseCode::kUnableToLocateOriginal, Reason::kUnknownOriginal);
    }
    if (!r.original_auth_code.empty() && record->auth_code != r.original_auth_code) {
      return Decline(ResponseCode::kInvalidTransaction, Reason::kOriginalMismatch);
    }
    Outcome belongs = CheckOriginalBelongsToItem(*record, r);
    if (belongs.code != ResponseCode::kApproved) return belongs;
    if (found->transfer_id == 0) {
      // No transfer here: an off-us approval (the issuer holds the money), or a decline.
      if (IsApproval(record->response_code) && (record->operation == Operation::kRemoteDecision ||
                                                record->operation == Operation::kStandIn)) {
        out->remote = std::move(record);
        return {};
      }
      return Decline(ResponseCode::kUnableToLocateOriginal, Reason::kUnknownOriginal);
    }
    id = found->transfer_id;
  } else if (!r.terminal_id.empty()) {
    // By transfer id alone nothing says which terminal made the authorization (the channels
    // never send one): an item of a batch with a terminal names it by RRN or request key.
    return Decline(ResponseCode::kInvalidTransaction, Reason::kOriginalMismatch);
  }
  Result<Transfer*> t = FindTransfer(id);
  if (!t.ok() && !t.status().IsNotFound()) {
    return Decline(ResponseCode::kSystemMalfunction, Reason::kStorageReadFailed);
  }
  if (!t.ok()) return Decline(ResponseCode::kUnableToLocateOriginal, Reason::kUnknownOriginal);
  if ((*t)->kind != TransferKind::kPending) {
    return Decline(ResponseCode::kInvalidTransaction, Reason::kNotReversible);
  }
  out->hold = *t;
  return {};
}

Outcome Store::Impl::EvaluateSettlement(const Request& r, const std::string& token, Decision* d) {
  SettlementBatch* batch = settlement_.Find(r.batch_id);
  if (batch == nullptr || batch->state != BatchState::kOpen) {
    return Decline(ResponseCode::kInvalidTransaction, Reason::kBatchNotOpen);
  }
  Outcome o = EvaluateSettlementItem(r, token, *batch, d);
  if (CountsAsRejected(o)) ++batch->rejected_count;
  settlement_.Touch(*batch);
  return o;
}

Outcome Store::Impl::EvaluateSettlementItem(const Request& r, const std::string& token,
                                            SettlementBatch& batch, Decision* d) {
  const int64_t amount = r.amount.minor_units();
  if (r.amount.currency() != batch.currency) {
    return Decline(ResponseCode::kInvalidAmount, Reason::kCurrencyMismatch);
  }
  if (amount <= 0) return Decline(ResponseCode::kInvalidAmount, Reason::kInvalidAmount);
  // Bounded before anything moves, so no account or batch total can overflow.
  const int64_t batch_total = r.operation == Operation::kSettleCapture ? batch.held.captures_minor
                              : r.operation == Operation::kSettleRefund
                                  ? batch.held.refunds_minor
                                  : batch.held.reversals_minor;
  if (amount > kSettlementItemMinorMax || amount > kSettlementBatchMinorMax - batch_total) {
    return Decline(ResponseCode::kInvalidAmount, Reason::kInvalidAmount);
  }
  const bool has_original =
      !r.rrn.empty() || !r.original_request_key.empty() || r.original_transfer_id != 0;
  Transfer* orig = nullptr;
  if (has_original) {
    SettlementOriginal found_original;
    Outcome found = FindSettlementOriginal(r, &found_original);
    if (found.code != ResponseCode::kApproved) return found;
    if (found_original.remote) {
      deciding_token_ = found_original.remote->card_token;
      d->card_token = found_original.remote->card_token;
      return EvaluateRemoteSettlementItem(r, *found_original.remote, batch, d);
    }
    orig = found_original.hold;
    deciding_token_ = orig->card_token;
    d->card_token = orig->card_token;
  } else if (r.operation == Operation::kSettleReversal) {
    return Decline(ResponseCode::kFormatError, Reason::kInvalidRequest);  // names nothing
  }
  const std::string& card_token = orig ? orig->card_token : token;
  auto set_available = [&](const AccountRecord& account) {
    d->available = Amount(account.available(), account.currency);
  };

  // Refund and force-post: a posted transfer on the card's account, no hold involved.
  if (r.operation == Operation::kSettleRefund ||
      (r.operation == Operation::kSettleCapture && orig == nullptr)) {
    if (card_token.empty()) return Decline(ResponseCode::kFormatError, Reason::kInvalidRequest);
    const CardRecord* c = FindCardByToken(card_token);
    if (c == nullptr) return Decline(ResponseCode::kInvalidCardNumber, Reason::kUnknownCard);
    AccountRecord* a = accounts_.Find(c->account_id);
    if (a == nullptr) return Decline(ResponseCode::kInvalidCardNumber, Reason::kUnknownCard);
    AccountRecord& account = *a;
    set_available(account);
    if (account.currency != batch.currency) {
      return Decline(ResponseCode::kInvalidAmount, Reason::kCurrencyMismatch);
    }
    AccountRecord* issuer = EnsureSettlement(batch.currency);
    const Amount moved(amount, batch.currency);
    if (r.operation == Operation::kSettleRefund) {
      if (orig != nullptr) {
        // A refund naming its authorization gives back at most what was captured of it, over
        // all the refunds naming it; one naming nothing (a card only) is not bounded.
        const int64_t captured =
            orig->state == TransferState::kPosted ? orig->posted_amount_minor : 0;
        if (amount > captured - orig->refunded_minor) {
          return Decline(ResponseCode::kInvalidAmount, Reason::kRefundExceedsCaptured);
        }
      }
      Transfer& t =
          NewTransfer(TransferKind::kPosted, TransferState::kPosted, issuer->id, account.id, moved);
      MovePosted(*issuer, account, amount);
      if (orig != nullptr) {
        orig->refunded_minor += amount;
        PutTransfer(*orig);
      }
      PutTransfer(t);
      d->transfer_id = t.id;
      ++batch.held.refunds_count;
      batch.held.refunds_minor += amount;
      d->approved_amount = moved;
      set_available(account);
      return {};
    }
    // Offline sale: approved at the terminal already, so no card status or limit applies; an
    // account that must not go below zero still must not (like an advice).
    if (!CanDebit(account, amount)) {
      return Decline(ResponseCode::kInsufficientFunds, Reason::kAdviceWouldOverdraw);
    }
    Transfer& t =
        NewTransfer(TransferKind::kPosted, TransferState::kPosted, account.id, issuer->id, moved);
    MovePosted(account, *issuer, amount);
    PutTransfer(t);
    d->transfer_id = t.id;
    ++batch.held.captures_count;
    batch.held.captures_minor += amount;
    ++batch.forced_count;
    d->approved_amount = moved;
    set_available(account);
    return Decline(ResponseCode::kApproved, Reason::kForcePosted);
  }

  AccountRecord& debit = AccountAt(orig->debit_account);
  AccountRecord& credit = AccountAt(orig->credit_account);
  set_available(debit);
  if (orig->amount.currency() != batch.currency) {
    return Decline(ResponseCode::kInvalidAmount, Reason::kCurrencyMismatch);
  }
  const int64_t hold = orig->amount.minor_units();
  const int64_t now = clock_->NowUnixMicros();
  const bool expired = orig->state == TransferState::kExpired ||
                       (orig->state == TransferState::kPending && now >= orig->expires_unix_us);

  if (r.operation == Operation::kSettleCapture) {
    if (expired) return Decline(ResponseCode::kInvalidTransaction, Reason::kHoldExpired);
    if (orig->state == TransferState::kPosted) {
      return Decline(ResponseCode::kDuplicateTransmission, Reason::kCaptureConflict);
    }
    if (orig->state != TransferState::kPending) {  // voided or reversed
      return Decline(ResponseCode::kInvalidTransaction, Reason::kAlreadyResolved);
    }
    const int64_t over = amount - hold;
    if (over > 0) {
      const int64_t allowed =
          std::min(BasisPointsOf(hold, r.capture_tolerance_bps), r.capture_tolerance_minor_max);
      if (over > allowed) {
        return Decline(ResponseCode::kInvalidAmount, Reason::kCaptureOverTolerance);
      }
      // The hold covers itself; the extra (a tip) needs funds like a new debit.
      if (!CanDebit(debit, over)) {
        return Decline(ResponseCode::kInsufficientFunds, Reason::kInsufficientFunds);
      }
    }
    Transfer& t =
        NewTransfer(TransferKind::kPostPending, TransferState::kFinal, orig->debit_account,
                    orig->credit_account, Amount(amount, batch.currency));
    t.pending_id = orig->id;
    MovePending(debit, credit, -hold);  // a partial capture releases the rest
    MovePosted(debit, credit, amount);
    orig->state = TransferState::kPosted;
    orig->resolved_by = t.id;
    orig->posted_amount_minor = amount;
    pending_by_expiry_.erase({orig->expires_unix_us, orig->id});
    PutTransfer(t);
    PutTransfer(*orig);
    d->transfer_id = t.id;
    d->approved_amount = t.amount;
    ++batch.held.captures_count;
    batch.held.captures_minor += amount;
    set_available(debit);
    return {};
  }

  // kSettleReversal: the item's amount must be what it undoes.
  if (orig->state == TransferState::kPending && !expired) {
    if (amount != hold) return Decline(ResponseCode::kInvalidAmount, Reason::kInvalidAmount);
    Transfer& t = NewTransfer(TransferKind::kVoidPending, TransferState::kFinal,
                              orig->debit_account, orig->credit_account, orig->amount);
    t.pending_id = orig->id;
    MovePending(debit, credit, -hold);
    orig->state = TransferState::kVoided;
    orig->resolved_by = t.id;
    pending_by_expiry_.erase({orig->expires_unix_us, orig->id});
    PutTransfer(t);
    PutTransfer(*orig);
    d->transfer_id = t.id;
  } else if (orig->state == TransferState::kPosted) {
    const int64_t back = orig->posted_amount_minor;
    if (amount != back) return Decline(ResponseCode::kInvalidAmount, Reason::kInvalidAmount);
    if (orig->refunded_minor > 0) {
      // Part of it went back already by refund: reversing the whole capture would pay the
      // cardholder twice. The acquirer refunds the rest instead.
      return Decline(ResponseCode::kInvalidTransaction, Reason::kAlreadyResolved);
    }
    if (!CanDebit(credit, back)) {
      return Decline(ResponseCode::kInsufficientFunds, Reason::kInsufficientFunds);
    }
    d->transfer_id = ReversePosting(*orig, credit, debit, back).id;
    batch.reversed_captures_minor += back;
  } else if (expired) {
    return Decline(ResponseCode::kInvalidTransaction, Reason::kHoldExpired);
  } else {
    return Decline(ResponseCode::kInvalidTransaction, Reason::kAlreadyResolved);
  }
  ++batch.held.reversals_count;
  batch.held.reversals_minor += amount;
  d->approved_amount = Amount(amount, batch.currency);
  set_available(debit);
  return {};
}

AccountRecord* Store::Impl::EnsureIssuerReceivable(std::string_view issuer, uint16_t currency) {
  uint64_t id = settlement_.IssuerAccount(issuer, currency);
  if (id != 0) return &AccountAt(id);
  id = settlement_.AddIssuerAccount(issuer, currency);
  AccountRecord a;
  a.id = id;
  a.kind = AccountKind::kIssuerSettlement;
  a.currency = currency;
  account_names_[id] =
      Truncated("issuer receivable " + std::string(issuer) + " " + std::to_string(currency),
                Account::kNameBytesMax);
  AccountRecord* stored = accounts_.Insert(a).first;
  open_.dirty_accounts.insert(id);
  return stored;
}

Outcome Store::Impl::EvaluateRemoteSettlementItem(const Request& r, const JournalRecord& auth,
                                                  SettlementBatch& batch, Decision* d) {
  const int64_t amount = r.amount.minor_units();
  // Only an authorization (a hold at the issuer) is captured later, as on-us.
  if (auth.mti.size() != 4 || auth.mti.compare(0, 3, "010") != 0) {
    return Decline(ResponseCode::kInvalidTransaction, Reason::kNotReversible);
  }
  if (auth.amount.currency() != batch.currency) {
    return Decline(ResponseCode::kInvalidAmount, Reason::kCurrencyMismatch);
  }
  // The journal's issuer field; records written before it existed name the issuer only in
  // their route text.
  const std::string_view issuer =
      auth.issuer_id.empty() ? RemoteIssuerOfRoute(auth.route) : std::string_view(auth.issuer_id);
  if (issuer.empty()) {
    return Decline(ResponseCode::kUnableToLocateOriginal, Reason::kUnknownOriginal);
  }
  // The transfer of its capture item, if any; else whether the terminal's reversal reached the
  // issuer (the durable mark the routing follow-up path keeps for remote originals): then the
  // issuer released its hold and there is nothing to capture. A capture settled before an
  // online reversal stays; the issuer answers that reversal on its own books.
  Result<uint64_t> taken = settlement_.RemoteAuthorization(*backend_, auth.sequence);
  if (!taken.ok()) return Decline(ResponseCode::kSystemMalfunction, Reason::kStorageReadFailed);
  const uint64_t capture_id = *taken;
  // The terminal's online completion went to the issuer: the issuer posted its hold on that
  // completion, so the sale is cleared between issuer and acquirer outside this batch.
  const bool completed_online = (capture_id & SettlementBook::kCompletedOnline) != 0;
  const bool reversed_online = capture_id == 0 && saf_.Reversed(auth.request_key);
  Transfer* capture = nullptr;
  if (capture_id != 0 && !completed_online) {
    Result<Transfer*> t = FindTransfer(capture_id);
    if (!t.ok()) {
      return t.status().IsNotFound()
                 ? Decline(ResponseCode::kUnableToLocateOriginal, Reason::kUnknownOriginal)
                 : Decline(ResponseCode::kSystemMalfunction, Reason::kStorageReadFailed);
    }
    capture = *t;
  }
  AccountRecord& acquirer = AccountAt(batch.acquirer_account);
  const Amount moved(amount, batch.currency);

  if (r.operation == Operation::kSettleCapture) {
    if (reversed_online) {
      return Decline(ResponseCode::kInvalidTransaction, Reason::kAlreadyResolved);
    }
    if (completed_online) {
      return Decline(ResponseCode::kDuplicateTransmission, Reason::kCaptureConflict);
    }
    if (capture != nullptr) {
      return capture->state == TransferState::kPosted
                 ? Decline(ResponseCode::kDuplicateTransmission, Reason::kCaptureConflict)
                 : Decline(ResponseCode::kInvalidTransaction, Reason::kAlreadyResolved);
    }
    // The issuer's hold lives as long as kytkin's own would (hold_ttl_seconds).
    if (clock_->NowUnixMicros() >=
        auth.time_unix_us + options_.hold_ttl_seconds * kMicrosPerSecond) {
      return Decline(ResponseCode::kInvalidTransaction, Reason::kHoldExpired);
    }
    // What the issuer approved: all of the request, or less (a partial approval).
    const int64_t authorized = auth.approved_amount.currency() != 0
                                   ? auth.approved_amount.minor_units()
                                   : auth.amount.minor_units();
    const int64_t over = amount - authorized;
    if (over > 0 && over > std::min(BasisPointsOf(authorized, r.capture_tolerance_bps),
                                    r.capture_tolerance_minor_max)) {
      return Decline(ResponseCode::kInvalidAmount, Reason::kCaptureOverTolerance);
    }
    AccountRecord* receivable = EnsureIssuerReceivable(issuer, batch.currency);
    Transfer& t = NewTransfer(TransferKind::kPosted, TransferState::kPosted, receivable->id,
                              acquirer.id, moved);
    t.posted_amount_minor = amount;
    MovePosted(*receivable, acquirer, amount);
    PutTransfer(t);
    settlement_.SetRemoteAuthorization(auth.sequence, t.id, open_.seq);
    d->transfer_id = t.id;
    d->approved_amount = moved;
    ++batch.held.captures_count;
    batch.held.captures_minor += amount;
    return {};
  }

  const bool captured = capture != nullptr && capture->state == TransferState::kPosted;
  if (r.operation == Operation::kSettleRefund) {
    // At most what was captured of it, over all the refunds naming it (as on-us).
    if (amount > (captured ? capture->posted_amount_minor - capture->refunded_minor : 0)) {
      return Decline(ResponseCode::kInvalidAmount, Reason::kRefundExceedsCaptured);
    }
    AccountRecord& receivable = AccountAt(capture->debit_account);
    Transfer& t = NewTransfer(TransferKind::kPosted, TransferState::kPosted, acquirer.id,
                              receivable.id, moved);
    MovePosted(acquirer, receivable, amount);
    capture->refunded_minor += amount;
    PutTransfer(*capture);
    PutTransfer(t);
    d->transfer_id = t.id;
    d->approved_amount = moved;
    ++batch.held.refunds_count;
    batch.held.refunds_minor += amount;
    return {};
  }

  // kSettleReversal: reverses the capture. An uncaptured authorization is the issuer's hold,
  // released by the terminal's online reversal (which reaches the issuer), not by an item.
  if (!captured) {
    return Decline(ResponseCode::kInvalidTransaction, capture == nullptr && !reversed_online
                                                          ? Reason::kNotReversible
                                                          : Reason::kAlreadyResolved);
  }
  const int64_t back = capture->posted_amount_minor;
  if (amount != back) return Decline(ResponseCode::kInvalidAmount, Reason::kInvalidAmount);
  if (capture->refunded_minor > 0) {
    return Decline(ResponseCode::kInvalidTransaction, Reason::kAlreadyResolved);
  }
  AccountRecord& receivable = AccountAt(capture->debit_account);
  d->transfer_id = ReversePosting(*capture, acquirer, receivable, back).id;
  d->approved_amount = moved;
  batch.reversed_captures_minor += back;
  ++batch.held.reversals_count;
  batch.held.reversals_minor += amount;
  return {};
}

Result<SettlementBatch> Store::Impl::OpenSettlementBatchLocked(const SettlementBatch& header) {
  if (header.batch_id.empty() || header.batch_id.size() > Request::kRequestKeyBytesMax / 2) {
    return Status::InvalidArgument("batch_id: 1.." +
                                   std::to_string(Request::kRequestKeyBytesMax / 2) + " bytes");
  }
  if (header.acquirer_id.size() > Request::kFieldBytesMax ||
      header.terminal_id.size() > Request::kFieldBytesMax ||
      header.merchant_id.size() > Request::kFieldBytesMax) {
    return Status::InvalidArgument("acquirer_id/terminal_id/merchant_id: too long");
  }
  if (SettlementBatch* known = settlement_.Find(header.batch_id)) {
    if (known->acquirer_id != header.acquirer_id || known->terminal_id != header.terminal_id ||
        known->merchant_id != header.merchant_id || known->currency != header.currency) {
      return Status::FailedPrecondition("batch " + header.batch_id +
                                        " exists for another acquirer, terminal, merchant or "
                                        "currency");
    }
    return *known;  // a resubmission
  }
  if (!FindCurrency(header.currency)) {
    return Status::InvalidArgument("currency: unknown ISO 4217 code");
  }
  auto check_account = [&](uint64_t id, std::string_view field) -> Status {
    const AccountRecord* account = accounts_.Find(id);
    if (account == nullptr) {
      return Status::InvalidArgument(std::string(field) + ": no account " + std::to_string(id));
    }
    if (account->currency != header.currency) {
      return Status::InvalidArgument(std::string(field) + ": account " + std::to_string(id) +
                                     " is in another currency");
    }
    if ((account->flags & kFlagDebitsMustNotExceedCredits) != 0 ||
        IsCardholderKind(account->kind)) {
      // The payout debits the merchant (refunds, fees) and the acquirer side without a check.
      return Status::InvalidArgument(std::string(field) + ": account " + std::to_string(id) +
                                     " may not go below zero, a payout could overdraw it");
    }
    return Status::Ok();
  };
  KYTKIN_RETURN_IF_ERROR(check_account(header.merchant_account, "merchant_account"));
  KYTKIN_RETURN_IF_ERROR(check_account(header.acquirer_account, "acquirer_account"));
  KYTKIN_RETURN_IF_ERROR(check_account(header.fees_account, "fees_account"));
  if (header.fee_fixed_minor < 0) return Status::InvalidArgument("fee_fixed_minor: negative");
  if (header.fee_fixed_minor > kSettlementItemMinorMax) {
    // Times the capture count at payout, a larger fee per capture could overflow the fee.
    return Status::InvalidArgument("fee_fixed_minor: above " +
                                   std::to_string(kSettlementItemMinorMax) + " (the largest item)");
  }
  if (header.fee_bps > kBasisPointsPerUnit) {
    return Status::InvalidArgument("fee_bps: above 10000 (100%)");
  }
  SettlementBatch b;
  b.batch_id = header.batch_id;
  b.acquirer_id = header.acquirer_id;
  b.terminal_id = header.terminal_id;
  b.merchant_id = header.merchant_id;
  b.currency = header.currency;
  b.merchant_account = header.merchant_account;
  b.acquirer_account = header.acquirer_account;
  b.fees_account = header.fees_account;
  b.fee_bps = header.fee_bps;
  b.fee_fixed_minor = header.fee_fixed_minor;
  b.state = BatchState::kOpen;
  b.business_date = std::max(header.business_date, settlement_.business_date());
  if (b.business_date > settlement_.business_date()) {
    settlement_.set_business_date(b.business_date);
  }
  b.opened_unix_us = clock_->NowUnixMicros();
  return settlement_.Put(b);
}

Result<SettlementBatch> Store::Impl::ReconcileSettlementBatchLocked(std::string_view batch_id,
                                                                    const BatchTotals& declared) {
  SettlementBatch* b = settlement_.Find(batch_id);
  if (b == nullptr) return Status::NotFound("no settlement batch " + std::string(batch_id));
  if (b->state != BatchState::kOpen) return *b;  // reconciled before: the same answer
  b->declared = declared;
  ++b->reconcile_attempts;
  if (declared == b->held) {
    b->reconciled = true;
    b->state = BatchState::kBalanced;
  }
  settlement_.Touch(*b);
  return *b;
}

void Store::Impl::PayOut(SettlementBatch& b) {
  AccountRecord& merchant = AccountAt(b.merchant_account);
  AccountRecord& acquirer = AccountAt(b.acquirer_account);
  AccountRecord& fees = AccountAt(b.fees_account);
  auto post = [&](AccountRecord& from, AccountRecord& to, int64_t amount) {
    if (amount <= 0) return;
    Transfer& t = NewTransfer(TransferKind::kPosted, TransferState::kPosted, from.id, to.id,
                              Amount(amount, b.currency));
    MovePosted(from, to, amount);
    PutTransfer(t);
  };
  const int64_t gross = b.gross_minor();
  b.fee_minor = gross > 0 ? BasisPointsOf(gross, b.fee_bps) +
                                b.fee_fixed_minor * static_cast<int64_t>(b.held.captures_count)
                          : 0;
  post(acquirer, merchant, gross);
  post(merchant, acquirer, -gross);  // reversals took back more than was captured
  post(merchant, acquirer, b.held.refunds_minor);
  post(merchant, fees, b.fee_minor);
  b.payout_minor = gross - b.held.refunds_minor - b.fee_minor;
  b.state = BatchState::kSettled;
  b.settled_unix_us = clock_->NowUnixMicros();
  settlement_.Touch(b);
}

std::vector<SettlementBatch> Store::Impl::CutOverSettlementLocked(int32_t business_date) {
  std::vector<SettlementBatch> settled;
  for (const auto& [id, record] : settlement_.batches()) {
    if (record.state == BatchState::kSettled || record.business_date >= business_date) continue;
    SettlementBatch* b = settlement_.Find(id);
    PayOut(*b);
    settled.push_back(*b);
  }
  if (business_date > settlement_.business_date()) settlement_.set_business_date(business_date);
  return settled;
}

void Store::Impl::ExpireOne(Transfer& orig) {
  AccountRecord& debit = AccountAt(orig.debit_account);
  AccountRecord& credit = AccountAt(orig.credit_account);
  deciding_token_ = orig.card_token;
  Transfer& t = NewTransfer(TransferKind::kExpirePending, TransferState::kFinal, orig.debit_account,
                            orig.credit_account, orig.amount);
  deciding_token_.clear();
  t.pending_id = orig.id;
  MovePending(debit, credit, -orig.amount.minor_units());
  orig.state = TransferState::kExpired;
  orig.resolved_by = t.id;
  PutTransfer(t);
  PutTransfer(orig);
  Request r;
  r.operation = Operation::kExpire;
  r.channel = Channel::kInternal;
  r.amount = orig.amount;
  r.route = "sweeper";
  Decision d;
  d.response_code = ResponseCode::kApproved;
  d.transfer_id = t.id;
  WriteJournal(r, orig.card_token, MaskedPanOf(orig.card_token), d);
}

void Store::Impl::ReleaseVelocity(const Transfer& orig) {
  // Only debits of the card counted, and only today's counter can give them back.
  const auto today = static_cast<uint32_t>(clock_->NowUnixMicros() / kMicrosPerDay);
  if (orig.card_token.empty() || orig.created_unix_us / kMicrosPerDay != today) return;
  const AccountRecord* debit = accounts_.Find(orig.debit_account);
  if (debit == nullptr || !IsCardholderKind(debit->kind)) return;
  codec::Velocity v = VelocityOf(orig.card_token);
  if (v.count > 0) --v.count;
  v.amount_minor = std::max<int64_t>(0, v.amount_minor - orig.amount.minor_units());
  ReplaceVelocity(orig.card_token, v);
}

size_t Store::Impl::SweepLocked() {
  const int64_t now = clock_->NowUnixMicros();
  size_t expired = 0;
  while (!pending_by_expiry_.empty() && expired < options_.sweep_holds_max) {
    auto first = pending_by_expiry_.begin();
    if (first->first > now) break;
    Transfer& t = transfers_.at(first->second).transfer;  // open holds are resident
    pending_by_expiry_.erase(first);
    ExpireOne(t);
    ++expired;
  }
  return expired;
}

// ---------------------------------------------------------------------------------------------
// Administration (ledger thread)

Status Store::Impl::CreateAccountLocked(const Account& in, int64_t opening_balance_minor) {
  if (in.id == 0 || in.id >= kSettlementAccountBase) {
    return Status::InvalidArgument("account id: must be between 1 and 2^64-2^48-1");
  }
  if (!FindCurrency(in.currency)) return Status::InvalidArgument("currency: unknown ISO 4217 code");
  if (in.name.size() > Account::kNameBytesMax) return Status::InvalidArgument("name: too long");
  if (in.credit_limit_minor < 0) return Status::InvalidArgument("credit_limit: negative");
  if (opening_balance_minor < 0) return Status::InvalidArgument("opening balance: negative");
  if (accounts_.Contains(in.id)) {
    return Status::AlreadyExists("account " + std::to_string(in.id) + " exists");
  }
  AccountRecord a = ToAccountRecord(in);
  a.debits_posted = a.credits_posted = a.debits_pending = a.credits_pending = 0;
  if (a.kind == AccountKind::kCardholderDebit || a.kind == AccountKind::kPrepaid) {
    a.flags |= kFlagDebitsMustNotExceedCredits;
  }
  if (!in.name.empty()) account_names_[a.id] = in.name;
  // Records never move, so `stored` stays valid while EnsureSettlement adds an account.
  AccountRecord& stored = *accounts_.Insert(a).first;
  open_.dirty_accounts.insert(a.id);
  if (opening_balance_minor > 0) {
    AccountRecord* settlement = EnsureSettlement(a.currency);
    Transfer& t = NewTransfer(TransferKind::kPosted, TransferState::kPosted, settlement->id,
                              stored.id, Amount(opening_balance_minor, a.currency));
    MovePosted(*settlement, stored, opening_balance_minor);
    PutTransfer(t);
  }
  return Status::Ok();
}

Status Store::Impl::SetAccountStatusLocked(uint64_t id, AccountStatus status) {
  AccountRecord* a = accounts_.Find(id);
  if (a == nullptr) return Status::NotFound("no account " + std::to_string(id));
  a->status = status;
  open_.dirty_accounts.insert(id);
  return Status::Ok();
}

// Checks everything about a new card except that its account exists.
static Status ValidateCard(const Card& c) {
  if (c.expiry_month < 1 || c.expiry_month > 12) {
    return Status::InvalidArgument("expiry: month must be 01..12");
  }
  if (c.expiry_year < 2000 || c.expiry_year > 2099) {
    return Status::InvalidArgument("expiry: year must be 2000..2099");
  }
  if (c.single_amount_max_minor < 0 || c.daily_amount_max_minor < 0) {
    return Status::InvalidArgument("limits: negative");
  }
  if (!IsKnownCardStatus(c.status)) return Status::InvalidArgument("status: unknown card status");
  return Status::Ok();
}

Result<Card> Store::Impl::CreateCardLocked(const Pan& pan, const Card& in) {
  Card c = in;
  c.token = CardToken(pan);
  c.masked_pan = pan.masked();
  if (FindCardByToken(c.token) != nullptr) {
    return Status::AlreadyExists("a card with this PAN exists");
  }
  if (!accounts_.Contains(c.account_id)) {
    return Status::NotFound("account " + std::to_string(c.account_id) + " does not exist");
  }
  KYTKIN_RETURN_IF_ERROR(ValidateCard(c));
  auto packed = PackCard(c);  // cannot fail after ValidateCard; checked all the same
  if (!packed.ok()) return packed.status();
  scratch_.clear();
  codec::EncodeCard(c, &scratch_);
  open_.batch->Put(Cf::kCards, c.token, scratch_);
  cards_.Insert(*packed);
  return c;
}

Status Store::Impl::ImportRowLocked(const Store::ImportRow& row) {
  // Validate the card first, so a bad card never leaves its account half-imported.
  if (row.pan) {
    Card c = row.card;
    if (row.account) c.account_id = row.account->id;
    if (FindCardByToken(CardToken(*row.pan)) != nullptr) {
      return Status::AlreadyExists("pan: a card with this PAN exists");
    }
    if (!row.account && !accounts_.Contains(c.account_id)) {
      return Status::NotFound("account " + std::to_string(c.account_id) + " does not exist");
    }
    KYTKIN_RETURN_IF_ERROR(ValidateCard(c));
  }
  if (row.account) {
    KYTKIN_RETURN_IF_ERROR(CreateAccountLocked(*row.account, row.opening_balance_minor));
  }
  if (row.pan) {
    Card c = row.card;
    if (row.account) c.account_id = row.account->id;
    auto created = CreateCardLocked(*row.pan, c);
    // Validated above; a failure here would be a programmer error.
    assert(created.ok());
    if (!created.ok()) return created.status();
  }
  return Status::Ok();
}

Status Store::Impl::SetCardStatusLocked(std::string_view token, CardStatus status) {
  auto key = ParseCardToken(token);
  if (!key.ok()) return key.status();
  if (!IsKnownCardStatus(status)) return Status::InvalidArgument("status: unknown card status");
  CardRecord* card = cards_.Find(*key);
  if (card == nullptr) return Status::NotFound("no card with that token");
  card->set_status(status);
  PutCard(*card);
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Store

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;

const Store::OpenStats& Store::open_stats() const { return impl_->open_stats(); }

Result<std::unique_ptr<Store>> Store::Open(const StoreOptions& options) {
  if (options.card_key.size() != 32) return Status::InvalidArgument("card_key: need 32 bytes");
  if (options.batch_decisions_max == 0) {
    return Status::InvalidArgument("batch_decisions_max: must be at least 1");
  }
  if (options.queue_requests_max == 0) {
    return Status::InvalidArgument("queue_requests_max: must be at least 1");
  }
  if (options.hold_ttl_seconds <= 0)
    return Status::InvalidArgument("hold_ttl_seconds: must be > 0");
  if (options.sweep_interval_ms < 0) return Status::InvalidArgument("sweep_interval_ms: negative");
  const auto backend_start = std::chrono::steady_clock::now();
  std::unique_ptr<Backend> backend;
  if (options.backend == StoreOptions::Backend::kMemory) {
    backend = NewMemoryBackend();
  } else {
    if (options.data_dir.empty()) return Status::InvalidArgument("data_dir: required");
    auto b = OpenRocksDbBackend(options);
    if (!b.ok()) return b.status();
    backend = std::move(b).value();
  }
  if (options.wrap_backend_for_testing) {
    backend = options.wrap_backend_for_testing(std::move(backend));
    if (backend == nullptr) return Status::InvalidArgument("wrap_backend_for_testing: no backend");
  }
  const int64_t backend_open_us = std::chrono::duration_cast<std::chrono::microseconds>(
                                      std::chrono::steady_clock::now() - backend_start)
                                      .count();
  auto impl = std::make_unique<Impl>(options, std::move(backend));
  KYTKIN_RETURN_IF_ERROR(impl->Load(backend_open_us));
  impl->Start();
  return std::unique_ptr<Store>(new Store(std::move(impl)));
}

Status Store::Submit(Request request, Completion done) {
  return impl_->Submit(std::move(request), std::move(done));
}

Status Store::SubmitSettlementChunk(std::vector<Request> items, ChunkCompletion done) {
  return impl_->SubmitChunk(std::move(items), std::move(done));
}

Result<Decision> Store::Execute(Request request) {
  KYTKIN_RETURN_IF_ERROR(impl_->CheckMayBlock());
  std::promise<Result<Decision>> promise;
  auto future = promise.get_future();
  Status s = Submit(std::move(request),
                    [&promise](Result<Decision> r) { promise.set_value(std::move(r)); });
  if (!s.ok()) return s;
  return future.get();
}

Status Store::CreateAccount(const Account& account, int64_t opening_balance_minor) {
  return impl_->RunAdmin(
      [&] { return impl_->CreateAccountLocked(account, opening_balance_minor); });
}

Status Store::SetAccountStatus(uint64_t account_id, AccountStatus status) {
  return impl_->RunAdmin([&] { return impl_->SetAccountStatusLocked(account_id, status); });
}

Result<Card> Store::CreateCard(const Pan& pan, const Card& card) {
  std::optional<Result<Card>> out;
  Status s = impl_->RunAdmin([&] {
    out.emplace(impl_->CreateCardLocked(pan, card));
    return out->status();
  });
  if (!s.ok()) return s;
  return std::move(*out);
}

Result<std::vector<Status>> Store::Import(const std::vector<ImportRow>& rows) {
  std::vector<Status> out;
  out.reserve(rows.size());
  KYTKIN_RETURN_IF_ERROR(impl_->RunAdmin([&] {
    for (const ImportRow& row : rows) out.push_back(impl_->ImportRowLocked(row));
    return Status::Ok();
  }));
  return out;
}

Status Store::SetCardStatus(std::string_view card_token, CardStatus status) {
  return impl_->RunAdmin([&] { return impl_->SetCardStatusLocked(card_token, status); });
}

Result<Account> Store::GetAccount(uint64_t account_id) {
  std::optional<Result<Account>> out;
  Status s = impl_->RunAdmin([&] {
    out.emplace(impl_->FindAccount(account_id));
    return out->status();
  });
  if (!s.ok()) return s;
  return std::move(*out);
}

Result<Card> Store::GetCard(std::string_view card_token) {
  std::optional<Result<Card>> out;
  Status s = impl_->RunAdmin([&] {
    out.emplace(impl_->FindCard(card_token));
    return out->status();
  });
  if (!s.ok()) return s;
  return std::move(*out);
}

Result<Decision> Store::FindDecision(std::string_view request_key) {
  std::optional<Result<Decision>> out;
  Status s = impl_->RunAdmin([&] {
    out.emplace(impl_->FindDecisionByKey(request_key));
    return out->status();
  });
  if (!s.ok()) return s;
  return std::move(*out);
}

Result<Transfer> Store::GetTransfer(uint64_t transfer_id) {
  std::optional<Result<Transfer>> out;
  Status s = impl_->RunAdmin([&] {
    out.emplace(impl_->GetTransferLocked(transfer_id));
    return out->status();
  });
  if (!s.ok()) return s;
  return std::move(*out);
}

std::string Store::CardToken(const Pan& pan) const { return impl_->CardToken(pan); }

Result<Store::MemoryUsage> Store::GetMemoryUsage() {
  MemoryUsage usage;
  KYTKIN_RETURN_IF_ERROR(impl_->RunAdmin([&] {
    impl_->CacheMemoryLocked(&usage);
    return Status::Ok();
  }));
  usage.rocksdb_bytes = impl_->backend().MemoryBytes();
  return usage;
}

Result<Store::MemoryStats> Store::GetMemoryStats() {
  MemoryStats out;
  KYTKIN_RETURN_IF_ERROR(impl_->RunAdmin([&] {
    out = impl_->MemoryStatsLocked();
    return Status::Ok();
  }));
  return out;
}

Result<size_t> Store::SweepExpiredHolds() {
  size_t n = 0;
  Status s = impl_->RunAdmin([&] {
    n = impl_->SweepLocked();
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return n;
}

Status Store::health() const { return impl_->health(); }

Result<std::vector<SafMessage>> Store::SafPending(std::string_view issuer, size_t max) {
  std::optional<Result<std::vector<SafMessage>>> out;
  Status s = impl_->RunAdmin([&] {
    out.emplace(impl_->saf().Pending(issuer, max));
    return out->status();
  });
  if (!s.ok()) return s;
  return std::move(*out);
}

Status Store::SubmitFindDecision(std::string request_key, Completion done) {
  auto found = std::make_shared<Result<Decision>>(Status::NotFound("no decision"));
  return impl_->SubmitAdmin(
      [this, found, key = std::move(request_key)] {
        *found = impl_->FindDecisionByKey(key);
        return Status::Ok();
      },
      [found, done = std::move(done)](Result<Decision> r) {
        done(r.ok() ? std::move(*found) : std::move(r));
      });
}

Status Store::SubmitFindDecisionRecord(std::string request_key,
                                       std::function<void(Result<FoundDecision>)> done) {
  auto found = std::make_shared<Result<FoundDecision>>(Status::NotFound("no decision"));
  return impl_->SubmitAdmin(
      [this, found, key = std::move(request_key)] {
        Result<Decision> decision = impl_->FindDecisionByKey(key);
        if (!decision.ok()) {
          *found = decision.status();
          return Status::Ok();
        }
        // Read from disk: a record still in the open batch is NotFound (its requester has not
        // had its answer yet, so a reversal of it is early anyway).
        Result<std::string> value =
            impl_->backend().Get(Cf::kJournal, codec::U64Key(decision->journal_sequence));
        if (!value.ok()) {
          *found = value.status();
          return Status::Ok();
        }
        Result<JournalRecord> record = codec::DecodeJournalRecord(*value);
        if (!record.ok()) {
          *found = record.status();
          return Status::Ok();
        }
        *found = FoundDecision{std::move(decision).value(), std::move(record).value()};
        return Status::Ok();
      },
      [found, done = std::move(done)](Result<Decision> r) {
        done(r.ok() ? std::move(*found) : Result<FoundDecision>(r.status()));
      });
}

Result<SafMessage> Store::SafRecordAttempt(uint64_t id) {
  std::optional<Result<SafMessage>> out;
  Status s = impl_->RunAdmin([&] {
    out.emplace(impl_->saf().RecordAttempt(impl_->open_batch(), id));
    return out->status();
  });
  if (!s.ok()) return s;
  return std::move(*out);
}

Status Store::SafAck(uint64_t id, uint32_t sent_stan) {
  return impl_->RunAdmin(
      [&] { return impl_->saf().Ack(impl_->open_batch(), id, sent_stan, impl_->NowUnixMicros()); });
}

Status Store::SafPark(uint64_t id) {
  return impl_->RunAdmin([&] { return impl_->saf().Park(impl_->open_batch(), id); });
}

Result<std::vector<Store::SafIssuerCounts>> Store::SafCounts() {
  std::vector<SafIssuerCounts> out;
  Status s = impl_->RunAdmin([&] {
    out = impl_->saf().Counts();
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return out;
}

Result<std::vector<SafMessage>> Store::SafList() {
  std::vector<SafMessage> out;
  Status s = impl_->RunAdmin([&] {
    out = impl_->saf().List();
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return out;
}

// Settlement batches (issue 6): each an admin step on the ledger thread, durable on return.
Result<SettlementBatch> Store::OpenSettlementBatch(const SettlementBatch& header) {
  std::optional<Result<SettlementBatch>> out;
  Status s = impl_->RunAdmin([&] {
    out.emplace(impl_->OpenSettlementBatchLocked(header));
    return out->status();
  });
  if (!s.ok()) return s;
  return std::move(*out);
}

Result<SettlementBatch> Store::ReconcileSettlementBatch(std::string_view batch_id,
                                                        const BatchTotals& declared) {
  std::optional<Result<SettlementBatch>> out;
  Status s = impl_->RunAdmin([&] {
    out.emplace(impl_->ReconcileSettlementBatchLocked(batch_id, declared));
    return out->status();
  });
  if (!s.ok()) return s;
  return std::move(*out);
}

Result<std::vector<SettlementBatch>> Store::CutOverSettlement(int32_t business_date) {
  std::vector<SettlementBatch> out;
  KYTKIN_RETURN_IF_ERROR(impl_->RunAdmin([&] {
    out = impl_->CutOverSettlementLocked(business_date);
    return Status::Ok();
  }));
  return out;
}

Result<int32_t> Store::SettlementBusinessDate() {
  int32_t out = 0;
  KYTKIN_RETURN_IF_ERROR(impl_->RunAdmin([&] {
    out = impl_->settlement().business_date();
    return Status::Ok();
  }));
  return out;
}

Result<SettlementBatch> Store::GetSettlementBatch(std::string_view batch_id) {
  std::optional<SettlementBatch> out;
  KYTKIN_RETURN_IF_ERROR(impl_->RunAdmin([&] {
    if (const SettlementBatch* b = impl_->settlement().Find(batch_id)) out = *b;
    return Status::Ok();
  }));
  if (!out) return Status::NotFound("no settlement batch " + std::string(batch_id));
  return std::move(*out);
}

Result<Account> Store::GetIssuerReceivable(std::string_view issuer, uint16_t currency) {
  uint64_t id = 0;
  KYTKIN_RETURN_IF_ERROR(impl_->RunAdmin([&] {
    id = impl_->settlement().IssuerAccount(issuer, currency);
    return Status::Ok();
  }));
  if (id == 0) {
    return Status::NotFound("no receivable account for issuer " + std::string(issuer) + " in " +
                            std::to_string(currency));
  }
  return GetAccount(id);
}

Result<std::vector<SettlementBatch>> Store::ListSettlementBatches(int32_t business_date) {
  std::vector<SettlementBatch> out;
  KYTKIN_RETURN_IF_ERROR(impl_->RunAdmin([&] {
    for (const auto& [id, b] : impl_->settlement().batches()) {
      if (business_date == 0 || b.business_date == business_date) out.push_back(b);
    }
    return Status::Ok();
  }));
  return out;
}

// Verification and export read what is durable: a no-op admin step first makes everything
// submitted before it durable.
Result<LedgerReport> Store::VerifyLedger() {
  KYTKIN_RETURN_IF_ERROR(impl_->RunAdmin([] { return Status::Ok(); }));
  auto view = impl_->backend().NewReadView();
  LedgerReport report;
  std::map<uint64_t, Account> accounts;
  std::map<uint64_t, Transfer> transfers;
  Status bad;
  KYTKIN_RETURN_IF_ERROR(view->Scan(Cf::kAccounts, "", "", [&](auto, std::string_view v) {
    auto a = codec::DecodeAccount(v);
    if (!a.ok()) {
      bad = a.status();
      return false;
    }
    accounts[a->id] = *a;
    return true;
  }));
  KYTKIN_RETURN_IF_ERROR(bad);
  KYTKIN_RETURN_IF_ERROR(view->Scan(Cf::kTransfers, "", "", [&](auto, std::string_view v) {
    auto t = codec::DecodeTransfer(v);
    if (!t.ok()) {
      bad = t.status();
      return false;
    }
    transfers[t->id] = *t;
    return true;
  }));
  KYTKIN_RETURN_IF_ERROR(bad);
  report.accounts = accounts.size();
  report.transfers = transfers.size();
  auto violation = [&](std::string text) { report.violations.push_back(std::move(text)); };
  // The open-hold index (what Open reads) names exactly the pending transfers.
  std::set<uint64_t> indexed;
  KYTKIN_RETURN_IF_ERROR(
      view->Scan(Cf::kOpenHolds, "", "", [&](std::string_view k, std::string_view v) {
        auto id = codec::ParseU64Key(k);
        if (!id.ok()) {
          violation("open hold index: malformed key " + codec::Hex(k));
          return true;
        }
        indexed.insert(*id);
        auto t = transfers.find(*id);
        if (t == transfers.end() || t->second.state != TransferState::kPending) {
          violation("open hold index names transfer " + std::to_string(*id) +
                    ", which is not an open hold");
          return true;
        }
        // A value (the approval's sequence and owner, for the RRN index) or none (older entries).
        if (!v.empty() && !DecodeOpenHoldValue(v)) {
          violation("open hold index entry " + std::to_string(*id) + " has a malformed value");
        }
        return true;
      }));
  for (const auto& [id, t] : transfers) {
    if (t.state == TransferState::kPending && !indexed.contains(id)) {
      violation("open hold " + std::to_string(id) + " is missing from the open hold index");
    }
  }

  struct Totals {
    int64_t debits_posted = 0, credits_posted = 0, debits_pending = 0, credits_pending = 0;
  };
  std::map<uint64_t, Totals> recomputed;
  std::map<uint64_t, std::vector<uint64_t>> resolutions;  // original -> resolving transfers
  for (const auto& [id, t] : transfers) {
    if (!accounts.count(t.debit_account) || !accounts.count(t.credit_account)) {
      violation("transfer " + std::to_string(id) + " names a missing account");
      continue;
    }
    const int64_t a = t.amount.minor_units();
    switch (t.kind) {
      case TransferKind::kPending:
        if (t.state == TransferState::kPending) {
          recomputed[t.debit_account].debits_pending += a;
          recomputed[t.credit_account].credits_pending += a;
          ++report.pending_open;
        }
        break;
      case TransferKind::kPosted:
      case TransferKind::kPostPending:
      case TransferKind::kReversal:
        recomputed[t.debit_account].debits_posted += a;
        recomputed[t.credit_account].credits_posted += a;
        break;
      case TransferKind::kVoidPending:
      case TransferKind::kExpirePending:
        break;
    }
    if (t.kind != TransferKind::kPending && t.kind != TransferKind::kPosted) {
      resolutions[t.pending_id].push_back(id);
    }
  }
  for (const auto& [id, t] : transfers) {
    const auto it = resolutions.find(id);
    const size_t n = it == resolutions.end() ? 0 : it->second.size();
    size_t want = 0;
    if (t.kind == TransferKind::kPending) {
      // Posted then reversed: the post and the reversal.
      want = t.state == TransferState::kPending ? 0 : t.state == TransferState::kReversed ? 2 : 1;
    } else if (t.kind == TransferKind::kPosted) {
      want = t.state == TransferState::kReversed ? 1 : 0;
    }
    if (n != want) {
      violation("transfer " + std::to_string(id) + " (" + std::string(TransferKindName(t.kind)) +
                ", " + std::string(TransferStateName(t.state)) + ") resolved " + std::to_string(n) +
                " times, expected " + std::to_string(want));
    }
    if (it != resolutions.end() && t.resolved_by != 0 &&
        std::find(it->second.begin(), it->second.end(), t.resolved_by) == it->second.end()) {
      violation("transfer " + std::to_string(id) + " names resolver " +
                std::to_string(t.resolved_by) + " that does not resolve it");
    }
    if (t.kind == TransferKind::kPending && it != resolutions.end()) {
      // A hold resolves at most once by post/void/expire.
      size_t settles = 0;
      for (uint64_t r : it->second) {
        if (transfers.at(r).kind != TransferKind::kReversal) ++settles;
      }
      if (settles > 1) violation("hold " + std::to_string(id) + " settled more than once");
    }
  }
  std::map<uint16_t, std::pair<int64_t, int64_t>> per_currency;  // balance, pending
  for (const auto& [id, a] : accounts) {
    const Totals& want = recomputed[id];
    if (a.debits_posted != want.debits_posted || a.credits_posted != want.credits_posted ||
        a.debits_pending != want.debits_pending || a.credits_pending != want.credits_pending) {
      violation("account " + std::to_string(id) + " totals differ from the sum of its transfers");
    }
    per_currency[a.currency].first += a.balance();
    per_currency[a.currency].second += a.credits_pending - a.debits_pending;
    const bool limited = a.kind == AccountKind::kCardholderDebit ||
                         a.kind == AccountKind::kPrepaid ||
                         (a.flags & kFlagDebitsMustNotExceedCredits) != 0;
    if (limited && a.balance() - a.debits_pending < 0) {
      violation("debit account " + std::to_string(id) + " is below zero: balance " +
                std::to_string(a.balance()) + ", pending debits " +
                std::to_string(a.debits_pending));
    }
  }
  for (const auto& [currency, sums] : per_currency) {
    if (sums.first != 0) {
      violation("currency " + std::to_string(currency) + ": posted balances sum to " +
                std::to_string(sums.first) + ", not 0");
    }
    if (sums.second != 0) {
      violation("currency " + std::to_string(currency) + ": pending balances sum to " +
                std::to_string(sums.second) + ", not 0");
    }
  }
  return report;
}

Result<JournalReport> Store::VerifyJournal() {
  KYTKIN_RETURN_IF_ERROR(impl_->RunAdmin([] { return Status::Ok(); }));
  auto view = impl_->backend().NewReadView();
  JournalReport report;
  std::string prev_hash(kHashBytes, '\0');
  uint64_t expect = 1;
  KYTKIN_RETURN_IF_ERROR(
      view->Scan(Cf::kJournal, "", "", [&](std::string_view k, std::string_view v) {
        auto key = codec::ParseU64Key(k);
        auto rec = codec::DecodeJournalRecord(v);
        ++report.records;
        if (!key.ok() || !rec.ok()) {
          report.violations.push_back(!key.ok() ? "bad journal key"
                                                : "journal record " + std::to_string(*key) + ": " +
                                                      std::string(rec.status().message()));
          return report.violations.size() < 100;
        }
        if (*key != rec->sequence) {
          report.violations.push_back("record under key " + std::to_string(*key) +
                                      " says sequence " + std::to_string(rec->sequence));
        }
        if (rec->sequence != expect) {
          report.violations.push_back("sequence gap: expected " + std::to_string(expect) +
                                      ", found " + std::to_string(rec->sequence));
        }
        if (rec->prev_hash != prev_hash) {
          report.violations.push_back("record " + std::to_string(rec->sequence) +
                                      ": previous-record hash does not match (chain broken)");
        }
        prev_hash = rec->hash;
        expect = rec->sequence + 1;
        report.last_sequence = rec->sequence;
        return report.violations.size() < 100;
      }));
  auto head = view->Get(Cf::kMeta, codec::kJournalHeadKey);
  if (head.ok()) {
    auto h = codec::DecodeJournalHead(*head);
    if (!h.ok()) {
      report.violations.push_back("journal head unreadable");
    } else if (h->first != report.last_sequence || h->second != prev_hash) {
      report.violations.push_back("journal head says sequence " + std::to_string(h->first) +
                                  " but the chain ends at " + std::to_string(report.last_sequence) +
                                  " (records missing or added at the end)");
    }
  } else if (report.records > 0) {
    report.violations.push_back("journal head missing");
  }
  return report;
}

Status Store::ExportJournal(uint64_t from_sequence, uint64_t to_sequence,
                            const std::function<bool(const JournalRecord&)>& fn) {
  KYTKIN_RETURN_IF_ERROR(impl_->RunAdmin([] { return Status::Ok(); }));
  auto view = impl_->backend().NewReadView();
  Status bad;
  const std::string to = to_sequence == 0 || to_sequence == UINT64_MAX
                             ? std::string()
                             : codec::U64Key(to_sequence + 1);
  KYTKIN_RETURN_IF_ERROR(view->Scan(Cf::kJournal, codec::U64Key(from_sequence), to,
                                    [&](std::string_view, std::string_view v) {
                                      auto rec = codec::DecodeJournalRecord(v);
                                      if (!rec.ok()) {
                                        bad = rec.status();
                                        return false;
                                      }
                                      return fn(*rec);
                                    }));
  return bad;
}

}  // namespace kytkin::storage
