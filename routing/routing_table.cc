#include "routing/routing_table.h"

#include <algorithm>

#include "core/currency.h"

namespace kytkin::routing {
namespace {

std::string Where(uint32_t line, std::string_view what) {
  return line != 0 ? "line " + std::to_string(line) : std::string(what);
}

bool IsValidProcessingCode(std::string_view code) {
  return (code.size() == 2 || code.size() == 6) &&
         std::all_of(code.begin(), code.end(), [](char c) { return c >= '0' && c <= '9'; });
}

Status CheckStandIn(const Issuer& issuer) {
  const StandInRule& rule = issuer.stand_in;
  if (!rule.enabled) return Status::Ok();
  const std::string where =
      Where(rule.line != 0 ? rule.line : issuer.line, "issuer " + issuer.id) + ": stand-in: ";
  if (issuer.on_us) {
    return Status::InvalidArgument(where + "an on-us issuer is kytkin itself, it has no stand-in");
  }
  if (!FindCurrency(rule.currency)) {
    return Status::InvalidArgument(where + "unknown currency " + std::to_string(rule.currency));
  }
  if (rule.max_transaction_minor <= 0) {
    return Status::InvalidArgument(where + "max transaction amount must be above zero");
  }
  if (rule.max_daily_minor < rule.max_transaction_minor) {
    return Status::InvalidArgument(where + "max daily amount is below the max transaction amount");
  }
  if (rule.max_daily_count == 0) {
    return Status::InvalidArgument(where + "max daily count must be at least 1");
  }
  if (rule.processing_codes.empty()) {
    return Status::InvalidArgument(where + "no processing codes allowed");
  }
  for (const std::string& code : rule.processing_codes) {
    if (!IsValidProcessingCode(code)) {
      return Status::InvalidArgument(where + "processing code '" + code +
                                     "' must be 2 or 6 digits");
    }
  }
  if (IsApproval(rule.decline_response)) {
    return Status::InvalidArgument(where + "the response outside the limits must not approve");
  }
  return Status::Ok();
}

Status CheckIssuer(const Issuer& issuer) {
  const std::string where = Where(issuer.line, "issuer " + issuer.id);
  if (!IsValidId(issuer.id)) {
    return Status::InvalidArgument(where + ": issuer id '" + issuer.id +
                                   "' must be 1 to 32 characters of A-Z a-z 0-9 _ . -");
  }
  if (issuer.on_us) {
    if (!issuer.primary_link.empty() || !issuer.backup_link.empty()) {
      return Status::InvalidArgument(where + ": on-us issuer " + issuer.id + " has no links");
    }
  } else {
    if (issuer.primary_link.empty()) {
      return Status::InvalidArgument(where + ": issuer " + issuer.id + " needs a primary link");
    }
    for (const std::string* link : {&issuer.primary_link, &issuer.backup_link}) {
      if (!link->empty() && !IsValidId(*link)) {
        return Status::InvalidArgument(where + ": link id '" + *link +
                                       "' must be 1 to 32 characters of A-Z a-z 0-9 _ . -");
      }
    }
    if (issuer.backup_link == issuer.primary_link) {
      return Status::InvalidArgument(where + ": backup link is the primary link");
    }
  }
  return CheckStandIn(issuer);
}

}  // namespace

std::string_view ChannelName(Channel channel) {
  switch (channel) {
    case Channel::kPos:
      return "pos";
    case Channel::kEcommerce:
      return "ecommerce";
    case Channel::kAtm:
      return "atm";
    case Channel::kMoto:
      return "moto";
  }
  return "unknown";
}

std::optional<Channel> ParseChannel(std::string_view name) {
  for (Channel c : {Channel::kPos, Channel::kEcommerce, Channel::kAtm, Channel::kMoto}) {
    if (ChannelName(c) == name) return c;
  }
  return std::nullopt;
}

bool IsValidId(std::string_view id) {
  if (id.empty() || id.size() > kIdBytesMax) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
  });
}

void LinkHealth::Set(std::string_view link, bool up) {
  auto it = std::lower_bound(up_.begin(), up_.end(), link);
  const bool present = it != up_.end() && *it == link;
  if (up && !present) up_.insert(it, std::string(link));
  if (!up && present) up_.erase(it);
}

bool LinkHealth::IsUp(std::string_view link) const {
  if (link.empty()) return false;
  auto it = std::lower_bound(up_.begin(), up_.end(), link);
  return it != up_.end() && *it == link;
}

LinkChoice ChooseLink(const Issuer& issuer, const LinkHealth& links) {
  if (issuer.on_us) return {};
  if (links.IsUp(issuer.primary_link)) return {LinkRole::kPrimary, issuer.primary_link};
  if (links.IsUp(issuer.backup_link)) return {LinkRole::kBackup, issuer.backup_link};
  return {};
}

RoutingTable::RoutingTable() = default;

Result<RoutingTable> RoutingTable::Build(TableSpec spec, const TableLimits& limits) {
  RoutingTable table;
  if (spec.unknown_bin_response != ResponseCode::kNoSuchIssuer &&
      spec.unknown_bin_response != ResponseCode::kUnableToRoute) {
    return Status::InvalidArgument("the unknown-BIN response must be 15 or 92");
  }
  table.unknown_bin_response_ = spec.unknown_bin_response;

  if (spec.issuers.size() > limits.issuers_max) {
    return Status::InvalidArgument("too many issuers: " + std::to_string(spec.issuers.size()) +
                                   " > " + std::to_string(limits.issuers_max));
  }
  for (const Issuer& issuer : spec.issuers) KYTKIN_RETURN_IF_ERROR(CheckIssuer(issuer));
  table.issuers_ = std::move(spec.issuers);
  std::stable_sort(table.issuers_.begin(), table.issuers_.end(),
                   [](const Issuer& a, const Issuer& b) { return a.id < b.id; });
  for (size_t i = 1; i < table.issuers_.size(); ++i) {
    if (table.issuers_[i].id == table.issuers_[i - 1].id) {
      const Issuer& dup = table.issuers_[i];
      return Status::InvalidArgument(Where(dup.line, "issuer " + dup.id) + ": issuer " + dup.id +
                                     " is defined twice");
    }
  }
  auto index_of = [&table](std::string_view id) -> uint32_t {
    auto it = std::lower_bound(table.issuers_.begin(), table.issuers_.end(), id,
                               [](const Issuer& a, std::string_view b) { return a.id < b; });
    if (it == table.issuers_.end() || it->id != id) return kNoIssuer;
    return static_cast<uint32_t>(it - table.issuers_.begin());
  };

  if (spec.bins.size() > limits.bin_ranges_max) {
    return Status::InvalidArgument("too many BIN ranges: " + std::to_string(spec.bins.size()) +
                                   " > " + std::to_string(limits.bin_ranges_max));
  }
  std::vector<BinRange> ranges;
  ranges.reserve(spec.bins.size());
  for (size_t i = 0; i < spec.bins.size(); ++i) {
    BinEntry& entry = spec.bins[i];
    const uint32_t issuer = index_of(entry.issuer);
    if (issuer == kNoIssuer) {
      return Status::InvalidArgument(
          Where(entry.range.line, "BIN range #" + std::to_string(i + 1)) + ": BIN range " +
          entry.range.low + ": unknown issuer '" + entry.issuer + "'");
    }
    entry.range.value = issuer;
    ranges.push_back(std::move(entry.range));
  }
  auto bins = BinTable::Build(std::move(ranges));
  if (!bins.ok()) return bins.status();
  table.bins_ = std::move(bins).value();

  if (spec.rules.size() > limits.rules_max) {
    return Status::InvalidArgument("too many rules: " + std::to_string(spec.rules.size()) + " > " +
                                   std::to_string(limits.rules_max));
  }
  for (size_t i = 0; i < spec.rules.size(); ++i) {
    const Rule& rule = spec.rules[i];
    const std::string where =
        Where(rule.line, "rule #" + std::to_string(i + 1)) + ": rule " + rule.name + ": ";
    if (!IsValidId(rule.name)) {
      return Status::InvalidArgument(where +
                                     "name must be 1 to 32 characters of A-Z a-z 0-9 _ . -");
    }
    for (size_t j = 0; j < i; ++j) {
      if (spec.rules[j].name == rule.name) {
        return Status::InvalidArgument(where + "name already used at " +
                                       Where(spec.rules[j].line, "rule #" + std::to_string(j + 1)));
      }
    }
    if ((rule.channels & kAllChannels) == 0 || (rule.channels & ~kAllChannels) != 0) {
      return Status::InvalidArgument(where + "channel set is empty or unknown");
    }
    for (const MccRange& mcc : rule.mccs) {
      if (mcc.low > mcc.high || mcc.high > 9999) {
        return Status::InvalidArgument(where + "merchant category range " +
                                       std::to_string(mcc.low) + "-" + std::to_string(mcc.high) +
                                       " is not within 0-9999 with low <= high");
      }
    }
    if (rule.amount_min_minor || rule.amount_max_minor) {
      if (!FindCurrency(rule.amount_currency)) {
        return Status::InvalidArgument(where + "an amount condition needs a known currency");
      }
      if (rule.amount_min_minor && rule.amount_max_minor &&
          *rule.amount_min_minor > *rule.amount_max_minor) {
        return Status::InvalidArgument(where + "amount minimum is above the maximum");
      }
    }
    uint32_t bin_issuer = kNoIssuer;
    if (!rule.bin_issuer.empty()) {
      bin_issuer = index_of(rule.bin_issuer);
      if (bin_issuer == kNoIssuer) {
        return Status::InvalidArgument(where + "unknown issuer '" + rule.bin_issuer + "'");
      }
    }
    uint32_t route_to = kNoIssuer;
    if (rule.route_to.empty() == !rule.decline.has_value()) {
      return Status::InvalidArgument(where + "needs exactly one action: route or decline");
    }
    if (rule.decline && IsApproval(*rule.decline)) {
      return Status::InvalidArgument(where + "decline code must not be an approval");
    }
    if (!rule.route_to.empty()) {
      route_to = index_of(rule.route_to);
      if (route_to == kNoIssuer) {
        return Status::InvalidArgument(where + "routes to unknown issuer '" + rule.route_to + "'");
      }
    }
    table.rule_bin_issuer_.push_back(bin_issuer);
    table.rule_route_to_.push_back(route_to);
  }
  table.rules_ = std::move(spec.rules);
  return table;
}

bool RoutingTable::Matches(size_t rule_index, const RouteRequest& request,
                           uint32_t bin_issuer) const {
  const Rule& rule = rules_[rule_index];
  if ((rule.channels & ChannelBit(request.channel)) == 0) return false;
  if (rule_bin_issuer_[rule_index] != kNoIssuer && rule_bin_issuer_[rule_index] != bin_issuer) {
    return false;
  }
  if (!rule.mccs.empty() &&
      std::none_of(rule.mccs.begin(), rule.mccs.end(), [&request](const MccRange& m) {
        return request.mcc >= m.low && request.mcc <= m.high;
      })) {
    return false;
  }
  if (rule.amount_min_minor || rule.amount_max_minor) {
    if (request.amount.currency() != rule.amount_currency) return false;
    const int64_t amount = request.amount.minor_units();
    if (rule.amount_min_minor && amount < *rule.amount_min_minor) return false;
    if (rule.amount_max_minor && amount > *rule.amount_max_minor) return false;
  }
  return true;
}

RoutingDecision RoutingTable::ToIssuer(uint32_t issuer_index, RouteReason reason,
                                       const LinkHealth& links) const {
  RoutingDecision decision;
  const Issuer& issuer = issuers_[issuer_index];
  decision.issuer = &issuer;
  decision.reason = reason;
  if (issuer.on_us) {
    decision.kind = RouteKind::kOnUs;
    decision.response = ResponseCode::kApproved;
    return decision;
  }
  if (const LinkChoice choice = ChooseLink(issuer, links); choice.role != LinkRole::kNone) {
    decision.kind = RouteKind::kIssuer;
    decision.link_role = choice.role;
    decision.link = choice.link;
    decision.response = ResponseCode::kApproved;
    return decision;
  }
  decision.reason = RouteReason::kLinksDown;
  if (issuer.stand_in.enabled) {
    decision.kind = RouteKind::kStandIn;
    decision.response = ResponseCode::kApproved;  // EvaluateStandIn decides the answer
  } else {
    decision.kind = RouteKind::kDecline;
    decision.response = ResponseCode::kIssuerUnavailable;
  }
  return decision;
}

RoutingDecision RoutingTable::Route(const RouteRequest& request, const LinkHealth& links) const {
  const BinMatch match = bins_.Match(request.pan_digits);
  const BinRange* bin = match.range;  // not dereferenced here: a cache miss in a large table
  const uint32_t bin_issuer = bin ? match.value : kNoIssuer;
  for (size_t i = 0; i < rules_.size(); ++i) {
    if (!Matches(i, request, bin_issuer)) continue;
    RoutingDecision decision;
    if (rules_[i].decline) {
      decision.kind = RouteKind::kDecline;
      decision.reason = RouteReason::kRule;
      decision.response = *rules_[i].decline;
      decision.issuer = bin ? &issuers_[bin_issuer] : nullptr;
    } else {
      decision = ToIssuer(rule_route_to_[i], RouteReason::kRule, links);
    }
    decision.rule = &rules_[i];
    decision.bin = bin;
    return decision;
  }
  if (!bin) {
    RoutingDecision decision;
    decision.kind = RouteKind::kDecline;
    decision.reason = RouteReason::kUnknownBin;
    decision.response = unknown_bin_response_;
    return decision;
  }
  RoutingDecision decision = ToIssuer(bin_issuer, RouteReason::kBinMatch, links);
  decision.bin = bin;
  return decision;
}

const Issuer* RoutingTable::FindIssuerByPan(std::string_view pan_digits) const {
  const BinMatch match = bins_.Match(pan_digits);
  return match.range ? &issuers_[match.value] : nullptr;
}

const Issuer* RoutingTable::FindIssuer(std::string_view id) const {
  auto it = std::lower_bound(issuers_.begin(), issuers_.end(), id,
                             [](const Issuer& a, std::string_view b) { return a.id < b; });
  return it != issuers_.end() && it->id == id ? &*it : nullptr;
}

std::string_view RouteKindName(RouteKind kind) {
  switch (kind) {
    case RouteKind::kOnUs:
      return "on-us";
    case RouteKind::kIssuer:
      return "issuer";
    case RouteKind::kStandIn:
      return "stand-in";
    case RouteKind::kDecline:
      return "decline";
  }
  return "unknown";
}

std::string_view RouteReasonName(RouteReason reason) {
  switch (reason) {
    case RouteReason::kBinMatch:
      return "bin match";
    case RouteReason::kRule:
      return "rule";
    case RouteReason::kUnknownBin:
      return "unknown bin";
    case RouteReason::kLinksDown:
      return "links down";
  }
  return "unknown";
}

std::string RoutingDecision::Describe() const {
  std::string out(RouteKindName(kind));
  if (issuer) out += " " + issuer->id;
  if (kind == RouteKind::kIssuer) {
    out += " via ";
    out += link;
    out += link_role == LinkRole::kBackup ? " (backup)" : " (primary)";
  }
  if (kind == RouteKind::kDecline) {
    out += " ";
    out += ResponseCodeDigits(response);
  }
  out += "; ";
  out += RouteReasonName(reason);
  if (rule) out += " " + rule->name;
  if (bin) {
    out += "; range " + bin->low;
    if (bin->high != bin->low) out += "-" + bin->high;
    if (bin->line != 0) out += " line " + std::to_string(bin->line);
  }
  return out;
}

}  // namespace kytkin::routing
