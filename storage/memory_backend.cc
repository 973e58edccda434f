// The memory backend: one ordered map per column family behind a mutex. Commit applies a batch
// atomically; read views copy the maps (tests only, so simplicity beats speed); Get looks one
// key up under the lock without a copy.
#include <array>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "storage/backend.h"

namespace kytkin::storage {
namespace {

using Table = std::map<std::string, std::string, std::less<>>;
using Tables = std::array<Table, kCfCount>;

class MemoryBatch final : public Batch {
 public:
  void Put(Cf cf, std::string_view key, std::string_view value) override {
    puts_.push_back({cf, std::string(key), std::string(value), false});
  }
  void Delete(Cf cf, std::string_view key) override {
    puts_.push_back({cf, std::string(key), std::string(), true});
  }
  size_t count() const override { return puts_.size(); }
  void Clear() override { puts_.clear(); }

  struct Entry {
    Cf cf;
    std::string key, value;
    bool erase;
  };
  std::vector<Entry> puts_;
};

class MemoryReadView final : public ReadView {
 public:
  explicit MemoryReadView(Tables tables) : tables_(std::move(tables)) {}
  Status Scan(Cf cf, std::string_view from, std::string_view to,
              const std::function<bool(std::string_view, std::string_view)>& fn) override {
    const Table& t = tables_[static_cast<int>(cf)];
    for (auto it = t.lower_bound(from); it != t.end(); ++it) {
      if (!to.empty() && it->first >= to) break;
      if (!fn(it->first, it->second)) break;
    }
    return Status::Ok();
  }
  Result<std::string> Get(Cf cf, std::string_view key) override {
    const Table& t = tables_[static_cast<int>(cf)];
    auto it = t.find(key);
    if (it == t.end()) return Status::NotFound("no such key");
    return it->second;
  }
  Result<std::string> LastKey(Cf cf) override {
    const Table& t = tables_[static_cast<int>(cf)];
    if (t.empty()) return Status::NotFound("empty");
    return t.rbegin()->first;
  }

 private:
  Tables tables_;
};

class MemoryBackend final : public Backend {
 public:
  std::unique_ptr<Batch> NewBatch() override { return std::make_unique<MemoryBatch>(); }
  Status Commit(Batch& batch, bool /*sync*/) override {
    auto& b = static_cast<MemoryBatch&>(batch);
    std::lock_guard lock(mu_);
    for (auto& e : b.puts_) {
      Table& t = tables_[static_cast<int>(e.cf)];
      if (e.erase) {
        t.erase(e.key);
      } else {
        t[e.key] = e.value;
      }
    }
    return Status::Ok();
  }
  std::unique_ptr<ReadView> NewReadView() override {
    std::lock_guard lock(mu_);
    return std::make_unique<MemoryReadView>(tables_);
  }
  Result<std::string> Get(Cf cf, std::string_view key) override {
    std::lock_guard lock(mu_);
    const Table& t = tables_[static_cast<int>(cf)];
    auto it = t.find(key);
    if (it == t.end()) return Status::NotFound("no such key");
    return it->second;
  }

 private:
  std::mutex mu_;
  Tables tables_;  // guarded by mu_
};

}  // namespace

std::unique_ptr<Backend> NewMemoryBackend() { return std::make_unique<MemoryBackend>(); }

}  // namespace kytkin::storage
