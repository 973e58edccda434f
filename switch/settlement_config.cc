#include "switch/settlement_config.h"

#include <charconv>
#include <cstdio>

#include "switch/settlement_config_toml.h"

namespace kytkin {
namespace {

constexpr uint32_t kMinutesPerDay = 24 * 60;
constexpr int64_t kBasisPointsMax = 10'000;
constexpr uint32_t kWindowItemsMax = 65'536;

Status KeyError(std::string_view source, std::string_view key, const toml::node& node,
                std::string_view message) {
  const auto& where = node.source().begin;
  return Status::InvalidArgument(std::string(source) + ":" + std::to_string(where.line) +
                                 ": settlement." + std::string(key) + ": " + std::string(message));
}

Status ReadInt(std::string_view source, std::string_view key, const toml::node& node, int64_t min,
               int64_t max, int64_t& out) {
  const auto* value = node.as_integer();
  if (value == nullptr || value->get() < min || value->get() > max) {
    return KeyError(source, key, node,
                    "must be an integer in " + std::to_string(min) + ".." + std::to_string(max));
  }
  out = value->get();
  return Status::Ok();
}

Status ReadMerchant(const toml::table& table, std::string_view source, const std::string& id,
                    MerchantSettlement& out) {
  for (auto&& [k, node] : table) {
    const std::string key = "merchants." + id + "." + std::string(k.str());
    int64_t v = 0;
    if (k.str() == "account") {
      KYTKIN_RETURN_IF_ERROR(ReadInt(source, key, node, 1, INT64_MAX, v));
      out.account = static_cast<uint64_t>(v);
    } else if (k.str() == "fee_bps") {
      KYTKIN_RETURN_IF_ERROR(ReadInt(source, key, node, 0, kBasisPointsMax, out.fee_bps));
    } else if (k.str() == "fee_fixed_minor") {
      KYTKIN_RETURN_IF_ERROR(ReadInt(source, key, node, 0, INT64_MAX, out.fee_fixed_minor));
    } else {
      return KeyError(source, key, node, "unknown key (known: account, fee_bps, fee_fixed_minor)");
    }
  }
  if (out.account == 0) {
    return Status::InvalidArgument(std::string(source) + ": settlement.merchants." + id +
                                   ".account: required");
  }
  return Status::Ok();
}

}  // namespace

Result<uint32_t> ParseCutover(std::string_view text) {
  unsigned hours = 0, minutes = 0;
  const bool shape = text.size() == 5 && text[2] == ':';
  if (shape) {
    auto h = std::from_chars(text.data(), text.data() + 2, hours);
    auto m = std::from_chars(text.data() + 3, text.data() + 5, minutes);
    if (h.ec == std::errc() && h.ptr == text.data() + 2 && m.ec == std::errc() &&
        m.ptr == text.data() + 5 && hours < 24 && minutes < 60) {
      return hours * 60 + minutes;
    }
  }
  return Status::InvalidArgument("cut-over must be \"HH:MM\" (UTC, 00:00..23:59), got \"" +
                                 std::string(text) + "\"");
}

std::string FormatCutover(uint32_t minute_utc) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%02u:%02u", (minute_utc / 60) % 24, minute_utc % 60);
  return buf;
}

Status ReadSettlementToml(const toml::table& table, std::string_view source,
                          SettlementConfig& out) {
  for (auto&& [k, node] : table) {
    const std::string_view key = k.str();
    int64_t v = 0;
    if (key == "cutover_utc") {
      const auto* text = node.as_string();
      Result<uint32_t> minute = text ? ParseCutover(text->get()) : ParseCutover("");
      if (!minute.ok()) return KeyError(source, key, node, minute.status().message());
      out.cutover_minute_utc = *minute;
    } else if (key == "capture_tolerance_bps") {
      KYTKIN_RETURN_IF_ERROR(ReadInt(source, key, node, 0, kBasisPointsMax * 10, v));
      out.capture_tolerance_bps = static_cast<uint32_t>(v);
    } else if (key == "capture_tolerance_minor_max") {
      KYTKIN_RETURN_IF_ERROR(
          ReadInt(source, key, node, 0, INT64_MAX, out.capture_tolerance_minor_max));
    } else if (key == "acquirer_account") {
      KYTKIN_RETURN_IF_ERROR(ReadInt(source, key, node, 1, INT64_MAX, v));
      out.acquirer_account = static_cast<uint64_t>(v);
    } else if (key == "fees_account") {
      KYTKIN_RETURN_IF_ERROR(ReadInt(source, key, node, 1, INT64_MAX, v));
      out.fees_account = static_cast<uint64_t>(v);
    } else if (key == "fee_bps") {
      KYTKIN_RETURN_IF_ERROR(ReadInt(source, key, node, 0, kBasisPointsMax, v));
      out.fee_bps = static_cast<uint32_t>(v);
    } else if (key == "fee_fixed_minor") {
      KYTKIN_RETURN_IF_ERROR(ReadInt(source, key, node, 0, INT64_MAX, out.fee_fixed_minor));
    } else if (key == "window_items_max") {
      KYTKIN_RETURN_IF_ERROR(ReadInt(source, key, node, 1, kWindowItemsMax, v));
      out.window_items_max = static_cast<uint32_t>(v);
    } else if (key == "de97_sign") {
      const auto* text = node.as_string();
      if (text != nullptr && text->get() == "debits_minus_credits") {
        out.de97_sign = NetAmountSign::kDebitsMinusCredits;
      } else if (text != nullptr && text->get() == "credits_minus_debits") {
        out.de97_sign = NetAmountSign::kCreditsMinusDebits;
      } else {
        return KeyError(source, key, node,
                        "must be \"debits_minus_credits\" or \"credits_minus_debits\"");
      }
    } else if (key == "merchants") {
      const toml::table* merchants = node.as_table();
      if (merchants == nullptr) {
        return KeyError(source, key, node, "must be a table, [settlement.merchants.\"ID\"]");
      }
      for (auto&& [id, entry] : *merchants) {
        const std::string merchant(id.str());
        const toml::table* t = entry.as_table();
        if (t == nullptr) {
          return KeyError(source, "merchants." + merchant, entry,
                          "must be a table with account, fee_bps, fee_fixed_minor");
        }
        MerchantSettlement m;
        KYTKIN_RETURN_IF_ERROR(ReadMerchant(*t, source, merchant, m));
        out.merchants[merchant] = m;
      }
    } else {
      return KeyError(source, key, node,
                      "unknown key (known: cutover_utc, capture_tolerance_bps, "
                      "capture_tolerance_minor_max, acquirer_account, fees_account, fee_bps, "
                      "fee_fixed_minor, window_items_max, de97_sign, merchants)");
    }
  }
  return ValidateSettlementConfig(out);
}

Status ValidateSettlementConfig(const SettlementConfig& c) {
  if (c.cutover_minute_utc >= kMinutesPerDay) {
    return Status::InvalidArgument("settlement.cutover_utc: out of range");
  }
  if (c.fee_bps > kBasisPointsMax) {
    return Status::InvalidArgument("settlement.fee_bps: above 10000 (100 %)");
  }
  if (c.window_items_max < 1 || c.window_items_max > kWindowItemsMax) {
    return Status::InvalidArgument("settlement.window_items_max: out of range 1..65536");
  }
  if (c.capture_tolerance_minor_max < 0 || c.fee_fixed_minor < 0) {
    return Status::InvalidArgument("settlement: amounts must not be negative");
  }
  return Status::Ok();
}

}  // namespace kytkin
