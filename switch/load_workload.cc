#include "switch/load_workload.h"

#include <algorithm>
#include <cassert>
#include <charconv>
#include <cmath>

namespace kytkin::load {
namespace {

constexpr std::string_view kMixNames[kLoadOperationCount] = {"authorize", "purchase", "reversal",
                                                             "balance",   "unknown",  "nofunds"};

constexpr uint64_t kNsPerSecond = 1'000'000'000;

}  // namespace

OpenLoopSchedule::OpenLoopSchedule(uint64_t start_ns, uint64_t rate_per_s)
    : start_ns_(start_ns), rate_per_s_(rate_per_s) {
  assert(rate_per_s_ > 0);
}

uint64_t OpenLoopSchedule::DueNs(uint64_t index) const {
  // Whole seconds and the remainder apart, so index * 1e9 cannot overflow.
  const uint64_t seconds = index / rate_per_s_;
  const uint64_t rest = index % rate_per_s_;
  return start_ns_ + seconds * kNsPerSecond + rest * kNsPerSecond / rate_per_s_;
}

uint64_t OpenLoopSchedule::DueCount(uint64_t now_ns) const {
  if (now_ns < start_ns_) return 0;
  const uint64_t elapsed = now_ns - start_ns_;
  const uint64_t seconds = elapsed / kNsPerSecond;
  const uint64_t rest = elapsed % kNsPerSecond;
  // Requests with DueNs(i) <= now: i <= elapsed * rate / 1e9.
  uint64_t index = seconds * rate_per_s_ + rest * rate_per_s_ / kNsPerSecond;
  // Integer rounding of DueNs may differ by one from this estimate: settle it exactly.
  while (DueNs(index + 1) <= now_ns) ++index;
  while (index > 0 && DueNs(index) > now_ns) --index;
  return index + 1;
}

std::string_view LoadOperationName(LoadOperation op) { return kMixNames[static_cast<int>(op)]; }

Result<OperationMix> OperationMix::Parse(std::string_view text) {
  OperationMix mix;
  for (auto& p : mix.parts) p = 0;
  uint64_t total = 0;
  while (!text.empty()) {
    size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      return Status::InvalidArgument("mix: expected NAME=PARTS, got '" + std::string(item) + "'");
    }
    std::string_view name = item.substr(0, eq), value = item.substr(eq + 1);
    auto found = std::find(std::begin(kMixNames), std::end(kMixNames), name);
    if (found == std::end(kMixNames)) {
      return Status::InvalidArgument("mix: unknown operation '" + std::string(name) +
                                     "' (authorize, purchase, reversal, balance, unknown, "
                                     "nofunds)");
    }
    uint32_t parts = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), parts);
    if (ec != std::errc() || end != value.data() + value.size() || parts > 1'000'000) {
      return Status::InvalidArgument("mix: " + std::string(name) +
                                     " needs a whole number 0..1000000");
    }
    mix.parts[found - std::begin(kMixNames)] = parts;
    total += parts;
  }
  if (total == 0) return Status::InvalidArgument("mix: all shares are zero");
  return mix;
}

std::string OperationMix::ToString() const {
  std::string out;
  for (int i = 0; i < kLoadOperationCount; ++i) {
    if (!out.empty()) out += ",";
    out += std::string(kMixNames[i]) + "=" + std::to_string(parts[i]);
  }
  return out;
}

OperationPicker::OperationPicker(const OperationMix& mix) {
  uint64_t sum = 0;
  for (int i = 0; i < kLoadOperationCount; ++i) {
    sum += mix.parts[i];
    cumulative_[i] = sum;
  }
  total_ = std::max<uint64_t>(sum, 1);
}

ZipfPicker::ZipfPicker(uint32_t n, double s) {
  assert(n >= 1);
  cdf_.resize(n);
  double sum = 0;
  for (uint32_t k = 0; k < n; ++k) {
    sum += 1.0 / std::pow(static_cast<double>(k) + 1.0, s);
    cdf_[k] = sum;
  }
  for (double& c : cdf_) c /= sum;
}

uint32_t ZipfPicker::Find(double u) const {
  auto it = std::upper_bound(cdf_.begin(), cdf_.end(), u);
  if (it == cdf_.end()) return static_cast<uint32_t>(cdf_.size() - 1);
  return static_cast<uint32_t>(it - cdf_.begin());
}

std::string LoadCardPan(uint64_t card_number) {
  std::string pan = "49";
  std::string digits = std::to_string(card_number % 10'000'000'000'000ull);
  pan += std::string(13 - digits.size(), '0') + digits;
  // Luhn check digit: double every second digit from the right of the final number.
  int sum = 0;
  for (size_t i = 0; i < pan.size(); ++i) {
    int d = pan[pan.size() - 1 - i] - '0';
    if (i % 2 == 0) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  pan += static_cast<char>('0' + (10 - sum % 10) % 10);
  return pan;
}

}  // namespace kytkin::load
