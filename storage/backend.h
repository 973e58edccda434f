// Private to storage/: where the engine's records go. Two implementations: RocksDB (one column
// family per record kind) and memory (ordered maps, for tests and models).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"
#include "storage/store.h"

namespace kytkin::storage {

enum class Cf : int {
  kAccounts = 0,
  kCards,
  kTransfers,
  kDedupe,
  kJournal,
  kVelocity,
  kMeta,
  kSaf,  // store-and-forward advices for remote issuers (saf_queue.h)
  // The open holds (pending transfers): their kTransfers key, written in the same batch as the
  // transfer and deleted when it resolves, so Open reads these (and a point read each) instead
  // of every transfer. The value: the approval's journal sequence and terminal (or merchant),
  // from which Open rebuilds settlement's RRN index (store.cc, EncodeOpenHoldValue); empty in
  // entries from before it and in the ones the one full scan adds to existing data dirs.
  kOpenHolds,
};
inline constexpr int kCfCount = 9;

// An atomic group of writes.
class Batch {
 public:
  virtual ~Batch() = default;
  virtual void Put(Cf cf, std::string_view key, std::string_view value) = 0;
  // Removes `key` when the batch commits (an acknowledged SAF advice).
  virtual void Delete(Cf cf, std::string_view key) = 0;
  virtual size_t count() const = 0;
  virtual void Clear() = 0;
};

// A consistent point-in-time view for scans.
class ReadView {
 public:
  virtual ~ReadView() = default;
  // Calls fn(key, value) in key order for keys in [from, to) (empty `to`: to the end); stops
  // when fn returns false.
  virtual Status Scan(Cf cf, std::string_view from, std::string_view to,
                      const std::function<bool(std::string_view, std::string_view)>& fn) = 0;
  // NotFound when absent.
  virtual Result<std::string> Get(Cf cf, std::string_view key) = 0;
  // The greatest key of `cf` (the next transfer id at Open without a scan); NotFound when empty.
  virtual Result<std::string> LastKey(Cf cf) = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::unique_ptr<Batch> NewBatch() = 0;
  // Writes `batch` atomically; with sync, returns only once it is on stable storage.
  virtual Status Commit(Batch& batch, bool sync) = 0;
  virtual std::unique_ptr<ReadView> NewReadView() = 0;
  // Bytes the backend holds in memory for Store::GetMemoryUsage (RocksDB: memtables, block
  // cache, the table readers' index and filter blocks). Default 0 (the memory backend's maps
  // are the data, not a cache, and nobody sizes them).
  virtual uint64_t MemoryBytes() { return 0; }
  // The latest committed value of `key`, without a snapshot: the store's point reads of records
  // it no longer keeps in memory (transfers, dedupe entries), one per request at most, so it
  // must be cheap (no copy of a table, bloom filters in RocksDB). NotFound when absent.
  virtual Result<std::string> Get(Cf cf, std::string_view key) = 0;
};

Result<std::unique_ptr<Backend>> OpenRocksDbBackend(const StoreOptions& options);
std::unique_ptr<Backend> NewMemoryBackend();

}  // namespace kytkin::storage
