// RoutingTable: where an authorization goes — kytkin's own ledger (on-us), a remote issuer over
// one of its links, stand-in, or a decline — and why.
//
//   1. The BIN table maps the PAN's leading digits (6 to 11, longest prefix wins) to an issuer.
//   2. Rules, in table order, may override that: the first rule whose conditions all hold
//      (channel, merchant category code, amount, the BIN's issuer) routes to another issuer or
//      declines with a response code. A rule without an issuer condition also applies to PANs
//      whose BIN is unknown.
//   3. With no BIN and no rule, the answer is the table's unknown-BIN response (15 or 92).
//   4. For a remote issuer the primary link is used when up, else the backup; with neither up the
//      decision is stand-in when the issuer allows it, else 91.
//
// Pure: no I/O, no clock, no locks. Link health is an input. A RoutingTable is immutable once
// built; decisions point into it, so keep the table (its shared_ptr) alive while using one.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/amount.h"
#include "core/response_code.h"
#include "core/status.h"
#include "routing/bin_table.h"
#include "routing/stand_in.h"

namespace kytkin::routing {

// How the request reached kytkin; rules can select on it.
enum class Channel : uint8_t {
  kPos,        // card present, ISO 8583 terminal
  kEcommerce,  // card not present, online gateway
  kAtm,
  kMoto,  // mail / telephone order
};
inline constexpr uint32_t ChannelBit(Channel c) { return 1u << static_cast<unsigned>(c); }
inline constexpr uint32_t kAllChannels = 0b1111;
std::string_view ChannelName(Channel channel);               // "ecommerce"
std::optional<Channel> ParseChannel(std::string_view name);  // "pos", "ecommerce", "atm", "moto"

// Issuer and link ids: 1 to 32 characters of [A-Za-z0-9_.-].
inline constexpr size_t kIdBytesMax = 32;
bool IsValidId(std::string_view id);

struct Issuer {
  std::string id;
  // True for kytkin's own ledger: authorized locally, no links.
  bool on_us = false;
  // Link ids the switch maps to its issuer connections. Primary is required unless on_us; the
  // backup is optional and must differ from the primary.
  std::string primary_link;
  std::string backup_link;
  StandInRule stand_in;  // disabled unless configured
  uint32_t line = 0;     // source line, 0 when built in code
};

struct MccRange {
  uint16_t low = 0;   // inclusive, 0..9999
  uint16_t high = 0;  // inclusive, >= low
};

struct Rule {
  std::string name;  // unique, same characters as ids
  // Conditions; all must hold. An absent condition always holds.
  uint32_t channels = kAllChannels;  // ChannelBit set
  std::vector<MccRange> mccs;        // empty: any merchant category
  // Amount bounds, minor units, inclusive, in amount_currency (required with either bound). A
  // request in another currency does not match an amount condition.
  uint16_t amount_currency = 0;
  std::optional<int64_t> amount_min_minor;
  std::optional<int64_t> amount_max_minor;
  std::string bin_issuer;  // the issuer the BIN table chose; empty: any, including none
  // Action: exactly one of route_to (an issuer id) and decline (a non-approval code).
  std::string route_to;
  std::optional<ResponseCode> decline;
  uint32_t line = 0;
};

struct BinEntry {
  BinRange range;  // range.value is ignored; the table fills it
  std::string issuer;
};

// Limits a table is checked against; the defaults are far above real tables.
struct TableLimits {
  size_t bin_ranges_max = BinTable::kRangesMax;  // BIN ranges per table
  size_t issuers_max = 10'000;                   // issuers per table
  size_t rules_max = 1'000;                      // rules per table; evaluated in order per request
};

struct TableSpec {
  ResponseCode unknown_bin_response = ResponseCode::kNoSuchIssuer;  // 15 or 92
  std::vector<Issuer> issuers;
  std::vector<BinEntry> bins;
  std::vector<Rule> rules;
};

// Which links are up, by link id. Links not mentioned are down. The switch keeps one per worker
// (or an atomically swapped snapshot) and updates it on sign-on / echo failure.
class LinkHealth {
 public:
  void Set(std::string_view link, bool up);
  bool IsUp(std::string_view link) const;

 private:
  std::vector<std::string> up_;  // sorted, unique
};

struct RouteRequest {
  std::string_view pan_digits;  // clear PAN digits; only the first 11 are read, never stored
  Channel channel = Channel::kPos;
  uint16_t mcc = 0;  // DE 18 merchant category code
  Amount amount;
};

enum class RouteKind : uint8_t {
  kOnUs,     // authorize on kytkin's ledger
  kIssuer,   // send to the issuer on `link`
  kStandIn,  // issuer unreachable: decide with EvaluateStandIn(issuer->stand_in, ...)
  kDecline,  // answer `response` now
};

enum class RouteReason : uint8_t {
  kBinMatch,    // the BIN table chose the issuer
  kRule,        // a rule routed or declined
  kUnknownBin,  // no BIN range and no rule
  kLinksDown,   // the chosen issuer (by BIN or rule) has no link up
};

enum class LinkRole : uint8_t { kNone, kPrimary, kBackup };

// The link to use for a remote issuer: the primary when up, else the backup when up, else none.
// Route uses it; the SAF sender uses it to pick the link for queued advices.
struct LinkChoice {
  LinkRole role = LinkRole::kNone;
  std::string_view link;  // empty for kNone; points into the issuer
};
[[nodiscard]] LinkChoice ChooseLink(const Issuer& issuer, const LinkHealth& links);

struct RoutingDecision {
  RouteKind kind = RouteKind::kDecline;
  RouteReason reason = RouteReason::kUnknownBin;
  ResponseCode response = ResponseCode::kNoSuchIssuer;  // the answer for kDecline
  const Issuer* issuer = nullptr;  // the issuer chosen; for a rule decline the BIN's issuer
  const Rule* rule = nullptr;      // the rule that decided, if any
  const BinRange* bin = nullptr;   // the BIN range that matched, if any
  LinkRole link_role = LinkRole::kNone;
  std::string_view link;  // link id for kIssuer

  // One line for logs and the journal, without PAN digits:
  // "issuer nordbank via nb-b (backup); bin match; range 41111100-41111199 line 12".
  std::string Describe() const;
};

class RoutingTable {
 public:
  // An empty table: every PAN is an unknown BIN (15).
  RoutingTable();

  // Validates the whole spec and indexes it. Errors name the source line (or the entry when
  // built in code) and the reason.
  static Result<RoutingTable> Build(TableSpec spec, const TableLimits& limits = {});

  [[nodiscard]] RoutingDecision Route(const RouteRequest& request, const LinkHealth& links) const;

  // The issuer whose BIN range is the longest match for `pan_digits`, or nullptr.
  const Issuer* FindIssuerByPan(std::string_view pan_digits) const;
  const Issuer* FindIssuer(std::string_view id) const;

  ResponseCode unknown_bin_response() const { return unknown_bin_response_; }
  const std::vector<Issuer>& issuers() const { return issuers_; }
  const std::vector<Rule>& rules() const { return rules_; }
  const BinTable& bins() const { return bins_; }

 private:
  static constexpr uint32_t kNoIssuer = UINT32_MAX;

  bool Matches(size_t rule_index, const RouteRequest& request, uint32_t bin_issuer) const;
  RoutingDecision ToIssuer(uint32_t issuer, RouteReason reason, const LinkHealth& links) const;

  ResponseCode unknown_bin_response_ = ResponseCode::kNoSuchIssuer;
  std::vector<Issuer> issuers_;  // sorted by id
  std::vector<Rule> rules_;      // table order
  // Resolved issuer indices per rule: rule_route_to_ (kNoIssuer for declines) and
  // rule_bin_issuer_ (kNoIssuer for "any").
  std::vector<uint32_t> rule_route_to_;
  std::vector<uint32_t> rule_bin_issuer_;
  BinTable bins_;  // value = index into issuers_
};

std::string_view RouteKindName(RouteKind kind);
std::string_view RouteReasonName(RouteReason reason);

}  // namespace kytkin::routing
