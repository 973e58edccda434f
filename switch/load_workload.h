// The protocol-free parts of `kytkin load`: when each request is due (the open-loop schedule),
// which operation it is (the mix) and which card it uses (a Zipf-skewed population).
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/status.h"

namespace kytkin::load {

// Open loop: request i is due at start + i / rate, whatever happened to the requests before it,
// so a stall in the server shows up as latency of every request that fell due during it.
class OpenLoopSchedule {
 public:
  // rate_per_s > 0. `start_ns` is on the caller's monotonic clock.
  OpenLoopSchedule(uint64_t start_ns, uint64_t rate_per_s);
  // When request `index` is due (ns on the same clock).
  [[nodiscard]] uint64_t DueNs(uint64_t index) const;
  // How many requests are due at or before `now_ns` (index of the first one not yet due).
  [[nodiscard]] uint64_t DueCount(uint64_t now_ns) const;

 private:
  uint64_t start_ns_;
  uint64_t rate_per_s_;
};

enum class LoadOperation : uint8_t {
  kAuthorize,       // 0100 / Authorize on a funded card
  kPurchase,        // 0200 sale / Capture of an own earlier approval (gRPC)
  kReversal,        // 0400 / Reverse of an own earlier approval
  kBalanceInquiry,  // 0200 DE 3 = 31 / BalanceInquiry
  kDeclineUnknown,  // authorization on a card that was never issued (answer 14)
  kDeclineNoFunds,  // authorization on an empty account (answer 51)
};
inline constexpr int kLoadOperationCount = 6;
std::string_view LoadOperationName(LoadOperation op);

// Shares of each operation, in parts (any scale; 0 = never). Parsed from
// "authorize=60,purchase=20,reversal=5,balance=5,unknown=5,nofunds=5".
struct OperationMix {
  uint32_t parts[kLoadOperationCount] = {60, 20, 5, 5, 5, 5};
  static Result<OperationMix> Parse(std::string_view text);
  std::string ToString() const;
};

// Picks operations by their shares. Deterministic for a seed.
class OperationPicker {
 public:
  explicit OperationPicker(const OperationMix& mix);
  template <class Rng>
  LoadOperation Pick(Rng& rng) const {
    uint64_t x = rng() % total_;
    for (int i = 0; i < kLoadOperationCount; ++i) {
      if (x < cumulative_[i]) return static_cast<LoadOperation>(i);
    }
    return LoadOperation::kAuthorize;
  }

 private:
  uint64_t cumulative_[kLoadOperationCount] = {};
  uint64_t total_ = 1;
};

// Card ranks 0..n-1 with P(rank k) proportional to 1/(k+1)^s: a few cards take most of the
// traffic, as in a real portfolio. The table is built once (n doubles); Pick does not allocate.
class ZipfPicker {
 public:
  // n >= 1, s >= 0 (0 = uniform).
  ZipfPicker(uint32_t n, double s);
  template <class Rng>
  uint32_t Pick(Rng& rng) const {
    double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
    return Find(u);
  }
  uint32_t Find(double u) const;  // u in [0, 1)

 private:
  std::vector<double> cdf_;
};

// The load generator's cards: 16-digit Luhn-valid PANs "49" + 13 digits + check digit, derived
// from a card number so that every run of `kytkin load` addresses the same cards.
std::string LoadCardPan(uint64_t card_number);
// The account of a funded card (ledger account ids are chosen by the caller).
inline constexpr uint64_t kLoadAccountBase = 700'000'000;
// Card numbers of the funded population: 0 .. cards-1. The empty-account cards follow at
// kEmptyCardBase, and the never-issued ones at kUnknownCardBase.
inline constexpr uint64_t kEmptyCardBase = 900'000'000;
inline constexpr uint64_t kEmptyCardCount = 64;
inline constexpr uint64_t kUnknownCardBase = 990'000'000;

}  // namespace kytkin::load
