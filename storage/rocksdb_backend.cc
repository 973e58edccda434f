// The RocksDB backend: one column family per record kind (DESIGN.md §5). RocksDB stays private
// to storage/: nothing outside this file includes its headers except the fault test.
#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/memtablerep.h>
#include <rocksdb/options.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/transaction_log.h>
#include <rocksdb/write_batch.h>

#include <array>
#include <vector>

#include "storage/backend.h"

namespace kytkin::storage {
namespace {

constexpr std::array<const char*, kCfCount> kCfNames = {
    "accounts", "cards", "transfers", "dedupe", "journal", "velocity", "meta", "saf", "open_holds"};

// Memory budgets, so the store's RocksDB part has a stated ceiling (the hot cache in store.cc
// comes on top). Memtables of all column families together: past this RocksDB flushes the
// largest, whatever rocksdb_write_buffer_bytes allows one column family; without it eight
// column families x 64 MiB x 2 memtables could hold 1 GiB. Block cache: the blocks read back
// (scans at open and for verify/export, and point reads of the transfers and dedupe entries the
// store no longer keeps in memory - mostly recent ones, still in a memtable; bloom filters keep
// the misses off the disk), so a small cache is enough.
constexpr size_t kMemtableBudgetBytes = 256 << 20;
constexpr size_t kBlockCacheBytes = 32 << 20;

// Memtable bloom filter of the dedupe column family, as a fraction of the memtable
// (write_buffer_size): ~10 bits per 100-byte entry, about 1% false positives. A dedupe miss
// (every new request) then skips the memtable's skip list search.
constexpr double kMemtableBloomRatio = 0.1;

// Buckets of the dedupe column family's hash memtable: about one per entry of a full 64 MiB
// memtable (~150 B per entry), 8 bytes each (4 MiB per memtable).
constexpr size_t kDedupeMemtableBuckets = 1 << 19;
// Bytes of a transfer key (8, big-endian id) that name its memtable insert hint: ids / 65,536.
constexpr size_t kTransferHintPrefixBytes = 6;

// The "prefix" of a dedupe key is the whole key, so the hash memtable puts each key in a
// bucket of its own: a Put is a hash and a list insert instead of a skip-list search for a
// random key on the serial commit thread, and a Get is a hash probe. Scans still see the keys
// in order (RocksReadView sets total_order_seek; a flush sorts the memtable once).
class WholeKeyTransform final : public rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "kytkin.WholeKey"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override { return key; }
  bool InDomain(const rocksdb::Slice& /*key*/) const override { return true; }
};

// How a column family is written and read, which decides its memtable.
enum class CfAccess {
  // Written with random keys on every decision or batch and read only by whole scans (Load,
  // VerifyLedger): accounts, velocity, open holds.
  kScannedOnly,
  // Read by key on the hot path, mostly for keys that are absent: dedupe (a point Get per
  // request whose key is not in the store's in-memory window, i.e. every new request).
  kPointMisses,
  // Read by key for keys that exist: transfers (a Get when a capture, reversal, refund or
  // settlement item names a transfer the store no longer keeps in memory). Ascending keys.
  kPointHits,
  // Everything else: ascending keys (journal, SAF; the journal is read by key for settlement)
  // or rarely written (cards, meta).
  kDefault,
};

CfAccess AccessOf(Cf cf) {
  switch (cf) {
    case Cf::kAccounts:
    case Cf::kVelocity:
    case Cf::kOpenHolds:
      return CfAccess::kScannedOnly;
    case Cf::kDedupe:
      return CfAccess::kPointMisses;
    case Cf::kTransfers:
      return CfAccess::kPointHits;
    default:
      return CfAccess::kDefault;
  }
}

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  std::string msg = std::string(what) + ": " + s.ToString();
  if (s.IsNotFound()) return Status::NotFound(msg);
  if (s.IsCorruption()) return Status::Corruption(msg);
  if (s.IsIOError()) return Status::IOError(msg);
  return Status::Internal(msg);
}

rocksdb::Slice ToSlice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }
std::string_view ToView(const rocksdb::Slice& s) { return std::string_view(s.data(), s.size()); }

class RocksBatch final : public Batch {
 public:
  RocksBatch(std::vector<rocksdb::ColumnFamilyHandle*>* cfs) : cfs_(cfs) {}
  void Put(Cf cf, std::string_view key, std::string_view value) override {
    // A WriteBatch Put fails only past its 4 GiB size limit, which batch_decisions_max keeps
    // far away; the write itself reports any real problem.
    rocksdb::Status s = batch_.Put((*cfs_)[static_cast<int>(cf)], ToSlice(key), ToSlice(value));
    if (!s.ok()) put_failed_ = true;
  }
  void Delete(Cf cf, std::string_view key) override {
    rocksdb::Status s = batch_.Delete((*cfs_)[static_cast<int>(cf)], ToSlice(key));
    if (!s.ok()) put_failed_ = true;
  }
  size_t count() const override { return batch_.Count(); }
  void Clear() override {
    batch_.Clear();
    put_failed_ = false;
  }
  rocksdb::WriteBatch batch_;
  bool put_failed_ = false;

 private:
  std::vector<rocksdb::ColumnFamilyHandle*>* cfs_;
};

class RocksReadView final : public ReadView {
 public:
  RocksReadView(rocksdb::DB* db, std::vector<rocksdb::ColumnFamilyHandle*>* cfs)
      : db_(db), cfs_(cfs), snapshot_(db->GetSnapshot()) {}
  ~RocksReadView() override { db_->ReleaseSnapshot(snapshot_); }

  Status Scan(Cf cf, std::string_view from, std::string_view to,
              const std::function<bool(std::string_view, std::string_view)>& fn) override {
    rocksdb::ReadOptions ro;
    ro.snapshot = snapshot_;
    ro.verify_checksums = true;
    ro.total_order_seek = true;  // whole-key prefixes (dedupe) must not end a scan early
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, (*cfs_)[static_cast<int>(cf)]));
    for (it->Seek(ToSlice(from)); it->Valid(); it->Next()) {
      std::string_view key = ToView(it->key());
      if (!to.empty() && key >= to) break;
      if (!fn(key, ToView(it->value()))) break;
    }
    return FromRocks(it->status(), "scan");
  }

  Result<std::string> Get(Cf cf, std::string_view key) override {
    rocksdb::ReadOptions ro;
    ro.snapshot = snapshot_;
    std::string value;
    rocksdb::Status s = db_->Get(ro, (*cfs_)[static_cast<int>(cf)], ToSlice(key), &value);
    if (s.IsNotFound()) return Status::NotFound("no such key");
    if (!s.ok()) return FromRocks(s, "get");
    return value;
  }

  Result<std::string> LastKey(Cf cf) override {
    rocksdb::ReadOptions ro;
    ro.snapshot = snapshot_;
    ro.total_order_seek = true;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, (*cfs_)[static_cast<int>(cf)]));
    it->SeekToLast();
    if (!it->Valid()) {
      KYTKIN_RETURN_IF_ERROR(FromRocks(it->status(), "seek to last"));
      return Status::NotFound("empty");
    }
    return std::string(ToView(it->key()));
  }

 private:
  rocksdb::DB* db_;
  std::vector<rocksdb::ColumnFamilyHandle*>* cfs_;
  const rocksdb::Snapshot* snapshot_;
};

class RocksBackend final : public Backend {
 public:
  ~RocksBackend() override {
    if (db_ && WalBytes() >= flush_on_close_bytes_min_) {
      // A clean close writes big memtables out, so the next open does not replay them from the
      // WAL (replay is slower than this flush: after importing 2M cards, DB::Open took 2.5 s;
      // with the flush, close 0.9 s and DB::Open 0.06 s). A failure only means the next open
      // replays.
      rocksdb::Status s = db_->Flush(rocksdb::FlushOptions(), handles_);
      (void)s;
    }
    for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
    if (db_) {
      rocksdb::Status s = db_->Close();
      (void)s;  // nothing to do about a close error: every acknowledged write was synced
      delete db_;
    }
  }

  Status Open(const StoreOptions& options) {
    rocksdb::Options db_options;
    db_options.create_if_missing = true;
    db_options.create_missing_column_families = true;
    db_options.paranoid_checks = true;
    if (options.rocksdb_env_for_testing) db_options.env = options.rocksdb_env_for_testing;
    flush_on_close_bytes_min_ = options.rocksdb_flush_on_close_bytes_min;
    db_options.max_background_jobs = 2;
    db_options.IncreaseParallelism(2);
    // One thread writes (the committer), so concurrent memtable inserts buy nothing; turning
    // them off is what allows the vector memtables below.
    db_options.allow_concurrent_memtable_write = false;
    db_options.db_write_buffer_size = kMemtableBudgetBytes;

    rocksdb::ColumnFamilyOptions cf_options;
    cf_options.write_buffer_size = options.rocksdb_write_buffer_bytes;
    rocksdb::BlockBasedTableOptions table;
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    block_cache_ = rocksdb::NewLRUCache(kBlockCacheBytes);
    table.block_cache = block_cache_;
    cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
    // Column families written with random keys but only ever scanned whole (accounts,
    // velocity): a vector memtable appends in O(1) on the serial commit thread and sorts once,
    // when a background flush writes it out. A skip list paid a random-key search per Put
    // there (the commit thread's top entry in profiles: InlineSkipList::FindSpliceForLevel).
    // A point Get on them sorts a copy of the memtable: fine at open, wrong on a hot path -
    // anything looked up by key belongs in a skip-list column family.
    rocksdb::ColumnFamilyOptions vector_options = cf_options;
    vector_options.memtable_factory = std::make_shared<rocksdb::VectorRepFactory>();
    // Read by key per request, mostly missing (dedupe): the default skip list, whose Get is a
    // search, plus a bloom filter over whole keys in the memtable, so a new request key costs a
    // filter probe instead. The SST files' bloom filter above covers whole keys too
    // (BlockBasedTableOptions::whole_key_filtering defaults to true). Transfers (read by key,
    // found) keep the default skip list: a memtable bloom cannot shorten a hit. The skip list
    // costs the commit thread a search per dedupe Put (~3% of a pipelined storage_bench profile).
    rocksdb::ColumnFamilyOptions point_miss_options = cf_options;
    point_miss_options.memtable_prefix_bloom_size_ratio = kMemtableBloomRatio;
    point_miss_options.memtable_whole_key_filtering = true;
    point_miss_options.prefix_extractor = std::make_shared<WholeKeyTransform>();
    point_miss_options.memtable_factory.reset(
        rocksdb::NewHashLinkListRepFactory(kDedupeMemtableBuckets));

    // Transfers: every write is a new id (the tail of the key space) or an update of an older
    // one (a hold being captured, voided or expired), so one insert position alternates between
    // two distant places and the skip list searched from its head for the update (a settlement
    // chunk's commit: memcmp in InlineSkipList::KeyIsAfterNode, ~8 % of all samples). RocksDB
    // keeps an insert hint per key prefix: with the id's top six bytes as the prefix (ranges of
    // 65,536 ids) the new ids and the updates of each older range keep their own positions.
    rocksdb::ColumnFamilyOptions point_hit_options = cf_options;
    point_hit_options.memtable_insert_with_hint_prefix_extractor.reset(
        rocksdb::NewFixedPrefixTransform(kTransferHintPrefixBytes));

    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    cfs.emplace_back(rocksdb::kDefaultColumnFamilyName, cf_options);
    for (int i = 0; i < kCfCount; ++i) {
      switch (AccessOf(static_cast<Cf>(i))) {
        case CfAccess::kScannedOnly:
          cfs.emplace_back(kCfNames[i], vector_options);
          break;
        case CfAccess::kPointMisses:
          cfs.emplace_back(kCfNames[i], point_miss_options);
          break;
        case CfAccess::kPointHits:
          cfs.emplace_back(kCfNames[i], point_hit_options);
          break;
        case CfAccess::kDefault:
          cfs.emplace_back(kCfNames[i], cf_options);
          break;
      }
    }
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::Status s = rocksdb::DB::Open(db_options, options.data_dir, cfs, &handles, &db_);
    if (!s.ok()) return FromRocks(s, "cannot open RocksDB at " + options.data_dir);
    default_ = handles[0];
    handles_ = handles;
    cfs_.assign(handles.begin() + 1, handles.end());
    return Status::Ok();
  }

  std::unique_ptr<Batch> NewBatch() override { return std::make_unique<RocksBatch>(&cfs_); }

  Status Commit(Batch& batch, bool sync) override {
    auto& b = static_cast<RocksBatch&>(batch);
    if (b.put_failed_) return Status::Internal("write batch too large");
    rocksdb::WriteOptions wo;
    wo.sync = sync;
    return FromRocks(db_->Write(wo, &b.batch_), "write");
  }

  std::unique_ptr<ReadView> NewReadView() override {
    return std::make_unique<RocksReadView>(db_, &cfs_);
  }

  // What the next open would replay: the live write-ahead logs (0 when they cannot be listed,
  // so a close does not flush on a guess).
  uint64_t WalBytes() {
    rocksdb::VectorLogPtr files;
    if (!db_->GetSortedWalFiles(files).ok()) return 0;
    uint64_t bytes = 0;
    for (const auto& f : files) bytes += f->SizeFileBytes();
    return bytes;
  }

  uint64_t MemoryBytes() override {
    uint64_t bytes = block_cache_ ? block_cache_->GetUsage() : 0;
    for (auto* h : handles_) {
      uint64_t v = 0;
      if (db_->GetIntProperty(h, "rocksdb.cur-size-all-mem-tables", &v)) bytes += v;
      if (db_->GetIntProperty(h, "rocksdb.estimate-table-readers-mem", &v)) bytes += v;
    }
    return bytes;
  }

  Result<std::string> Get(Cf cf, std::string_view key) override {
    std::string value;
    rocksdb::Status s =
        db_->Get(rocksdb::ReadOptions(), cfs_[static_cast<int>(cf)], ToSlice(key), &value);
    if (s.IsNotFound()) return Status::NotFound("no such key");
    if (!s.ok()) return FromRocks(s, "get");
    return value;
  }

 private:
  rocksdb::DB* db_ = nullptr;
  std::shared_ptr<rocksdb::Cache> block_cache_;  // shared by the column families
  uint64_t flush_on_close_bytes_min_ = 0;
  rocksdb::ColumnFamilyHandle* default_ = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;  // all, including default_, for cleanup
  std::vector<rocksdb::ColumnFamilyHandle*> cfs_;      // indexed by Cf
};

}  // namespace

Result<std::unique_ptr<Backend>> OpenRocksDbBackend(const StoreOptions& options) {
  auto backend = std::make_unique<RocksBackend>();
  KYTKIN_RETURN_IF_ERROR(backend->Open(options));
  return std::unique_ptr<Backend>(std::move(backend));
}

}  // namespace kytkin::storage
