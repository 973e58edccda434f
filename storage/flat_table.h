// FlatTable: a compact in-memory table of fixed-size records found by key, for the store's card
// and account caches (10^7 of each must fit in a couple of GiB; issue 7).
//
// Layout, and why:
// - Records live in fixed-size chunks of kChunkRecords, in insertion order. A record never moves
//   once inserted, so pointers and references to records stay valid across later inserts (the
//   store holds an account while it creates another), and growth never copies the records (no
//   transient 2x of the biggest part; a std::vector would copy all of them on each doubling).
// - The index is an open-addressing array of 4-byte slots with linear probing. A slot holds the
//   record number + 1 (0 = empty) in its low log2(capacity) bits and the top hash bits as a tag
//   in the rest, so most probes that do not match are rejected without reading the record. The
//   index is at most kLoadNumerator/kLoadDenominator full and doubles beyond that: 4 to 8 bytes
//   of index per record.
// - No erase: cards and accounts are never deleted (closing is a status). Not thread-safe (the
//   store's ledger thread owns it).
//
// Traits supplies: `using Key`, `using Record`, `static const Key& KeyOf(const Record&)` and
// `static uint64_t Hash(const Key&)` (well mixed in all 64 bits: the low bits pick the slot, the
// high bits are the tag).
#pragma once

#include <bit>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

namespace kytkin::storage {

template <typename Traits>
class FlatTable {
 public:
  using Key = typename Traits::Key;
  using Record = typename Traits::Record;

  // Records per chunk: 2^14 (about 1.3 MiB of card records), so the last, partly filled chunk
  // wastes little and the chunk pointer array stays small (611 pointers at 10^7 records).
  static constexpr size_t kChunkRecords = size_t{1} << 14;
  // The index doubles when it would be more than 3/4 full.
  static constexpr size_t kLoadNumerator = 3;
  static constexpr size_t kLoadDenominator = 4;
  // Slots of a new table's index (grows on demand).
  static constexpr size_t kInitialSlots = 64;
  // Record numbers + 1 must fit in a 32-bit slot of an index of at most 2^32 slots.
  static constexpr size_t kRecordsMax = (size_t{1} << 32) * kLoadNumerator / kLoadDenominator - 1;

  FlatTable() { Rehash(kInitialSlots); }
  FlatTable(const FlatTable&) = delete;
  FlatTable& operator=(const FlatTable&) = delete;
  FlatTable(FlatTable&&) noexcept = default;
  FlatTable& operator=(FlatTable&&) noexcept = default;

  // The record with `key`, or nullptr.
  Record* Find(const Key& key) { return Lookup(key); }
  const Record* Find(const Key& key) const { return Lookup(key); }
  bool Contains(const Key& key) const { return Lookup(key) != nullptr; }

  // Inserts a copy of `record` unless a record with its key exists. Returns the stored record
  // (the existing one when not inserted) and whether it was inserted. REQUIRES: size() <
  // kRecordsMax.
  std::pair<Record*, bool> Insert(const Record& record) {
    const Key key = Traits::KeyOf(record);
    if (Record* existing = Lookup(key)) return {existing, false};
    assert(size_ < kRecordsMax);
    if ((size_ + 1) * kLoadDenominator > slots_.size() * kLoadNumerator) {
      Rehash(slots_.size() * 2);
    }
    if (size_ % kChunkRecords == 0) {
      chunks_.push_back(std::make_unique<Record[]>(kChunkRecords));
    }
    Record& stored = chunks_.back()[size_ % kChunkRecords];
    stored = record;
    ++size_;
    Place(Traits::Hash(key), static_cast<uint32_t>(size_));
    return {&stored, true};
  }

  size_t size() const { return size_; }
  size_t slot_count() const { return slots_.size(); }
  // Heap bytes held: the chunks allocated and the index.
  size_t MemoryBytes() const {
    return chunks_.size() * kChunkRecords * sizeof(Record) + slots_.size() * sizeof(uint32_t) +
           chunks_.capacity() * sizeof(chunks_[0]);
  }

  // Calls fn(const Record&) for each record in insertion order.
  template <typename Fn>
  void ForEach(Fn&& fn) const {
    for (size_t n = 0; n < size_; ++n) {
      fn(static_cast<const Record&>(At(static_cast<uint32_t>(n + 1))));
    }
  }

 private:
  Record* Lookup(const Key& key) const {
    const uint64_t hash = Traits::Hash(key);
    const uint32_t tag = TagOf(hash);
    for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
      const uint32_t slot = slots_[i];
      if (slot == 0) return nullptr;  // never full, so the probe ends
      if ((slot & ~ref_mask_) == tag) {
        Record& r = At(slot & ref_mask_);
        if (Traits::KeyOf(r) == key) return &r;
      }
    }
  }

  // The record numbered `ref` (1-based, as in the slots).
  Record& At(uint32_t ref) const {
    const size_t n = ref - 1;
    return chunks_[n / kChunkRecords][n % kChunkRecords];
  }

  // The hash's top bits, shifted above the record number's bits (0 when the index is so large
  // that a slot has no room for a tag).
  uint32_t TagOf(uint64_t hash) const {
    if (ref_bits_ >= 32) return 0;
    return static_cast<uint32_t>(hash >> (32 + ref_bits_)) << ref_bits_;
  }

  void Place(uint64_t hash, uint32_t ref) {
    size_t i = hash & mask_;
    while (slots_[i] != 0) i = (i + 1) & mask_;
    slots_[i] = TagOf(hash) | ref;
  }

  void Rehash(size_t slot_count) {
    assert(std::has_single_bit(slot_count));
    // The old index goes first (the records give every key), so growth never holds both.
    slots_ = std::vector<uint32_t>();
    slots_.assign(slot_count, 0);
    mask_ = slot_count - 1;
    // Record numbers are below slot_count (the table is never full), so log2(slot_count) bits
    // hold them; the rest of the slot is tag.
    ref_bits_ = static_cast<unsigned>(std::countr_zero(slot_count));
    ref_mask_ = ref_bits_ >= 32 ? ~uint32_t{0} : (uint32_t{1} << ref_bits_) - 1;
    for (size_t n = 0; n < size_; ++n) {
      const auto ref = static_cast<uint32_t>(n + 1);
      Place(Traits::Hash(Traits::KeyOf(At(ref))), ref);
    }
  }

  std::vector<std::unique_ptr<Record[]>> chunks_;
  size_t size_ = 0;
  std::vector<uint32_t> slots_;
  size_t mask_ = 0;
  unsigned ref_bits_ = 0;
  uint32_t ref_mask_ = 0;
};

}  // namespace kytkin::storage
