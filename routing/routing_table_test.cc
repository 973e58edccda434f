#include "routing/routing_table.h"

#include <functional>

#include <gtest/gtest.h>

namespace kytkin::routing {
namespace {

constexpr uint16_t kEur = 978;
constexpr uint16_t kUsd = 840;

Issuer OnUs(std::string id) {
  Issuer issuer;
  issuer.id = std::move(id);
  issuer.on_us = true;
  return issuer;
}

Issuer Remote(std::string id, std::string primary, std::string backup = "") {
  Issuer issuer;
  issuer.id = std::move(id);
  issuer.primary_link = std::move(primary);
  issuer.backup_link = std::move(backup);
  return issuer;
}

StandInRule EnabledStandIn() {
  StandInRule rule;
  rule.enabled = true;
  rule.currency = kEur;
  rule.max_transaction_minor = 10000;
  rule.max_daily_minor = 30000;
  rule.max_daily_count = 5;
  rule.processing_codes = {"00"};
  return rule;
}

BinEntry Bin(std::string low, std::string issuer, std::string high = "") {
  BinEntry entry;
  entry.range.high = high.empty() ? low : high;
  entry.range.low = std::move(low);
  entry.issuer = std::move(issuer);
  return entry;
}

// kytkin (on-us) owns 520000-529999; nordbank (a-1 / a-2 links) owns 411111 except the 8-digit
// 41111199, which is kytkin's; southbank has only a primary link and stand-in.
TableSpec BaseSpec() {
  TableSpec spec;
  spec.issuers.push_back(OnUs("kytkin"));
  spec.issuers.push_back(Remote("nordbank", "a-1", "a-2"));
  Issuer south = Remote("southbank", "s-1");
  south.stand_in = EnabledStandIn();
  spec.issuers.push_back(south);
  spec.bins = {Bin("520000", "kytkin", "529999"), Bin("411111", "nordbank"),
               Bin("41111199", "kytkin"), Bin("433333", "southbank")};
  return spec;
}

RoutingTable MustBuild(TableSpec spec) {
  auto table = RoutingTable::Build(std::move(spec));
  EXPECT_TRUE(table.ok()) << table.status().ToString();
  return table.ok() ? std::move(table).value() : RoutingTable();
}

LinkHealth AllUp() {
  LinkHealth links;
  for (const char* link : {"a-1", "a-2", "s-1"}) links.Set(link, true);
  return links;
}

RouteRequest Request(std::string_view pan, Channel channel = Channel::kPos, uint16_t mcc = 5411,
                     int64_t minor = 1000, uint16_t currency = kEur) {
  return RouteRequest{pan, channel, mcc, Amount(minor, currency)};
}

TEST(RoutingTableTest, EmptyTableAnswersNoSuchIssuer) {
  RoutingTable table;
  RoutingDecision d = table.Route(Request("4111111111111111"), AllUp());
  EXPECT_EQ(d.kind, RouteKind::kDecline);
  EXPECT_EQ(d.reason, RouteReason::kUnknownBin);
  EXPECT_EQ(d.response, ResponseCode::kNoSuchIssuer);
}

TEST(RoutingTableTest, BinChoosesOnUsOrRemoteIssuer) {
  RoutingTable table = MustBuild(BaseSpec());
  RoutingDecision on_us = table.Route(Request("5212345678901234"), AllUp());
  EXPECT_EQ(on_us.kind, RouteKind::kOnUs);
  EXPECT_EQ(on_us.reason, RouteReason::kBinMatch);
  ASSERT_NE(on_us.issuer, nullptr);
  EXPECT_EQ(on_us.issuer->id, "kytkin");
  EXPECT_EQ(on_us.link_role, LinkRole::kNone);

  RoutingDecision remote = table.Route(Request("4111111111111111"), AllUp());
  EXPECT_EQ(remote.kind, RouteKind::kIssuer);
  EXPECT_EQ(remote.issuer->id, "nordbank");
  EXPECT_EQ(remote.link_role, LinkRole::kPrimary);
  EXPECT_EQ(remote.link, "a-1");
  ASSERT_NE(remote.bin, nullptr);
  EXPECT_EQ(remote.bin->low, "411111");

  // The 8-digit BIN inside nordbank's 6-digit BIN belongs to kytkin.
  RoutingDecision carved = table.Route(Request("4111119911111111"), AllUp());
  EXPECT_EQ(carved.kind, RouteKind::kOnUs);
  EXPECT_EQ(carved.bin->low, "41111199");
}

TEST(RoutingTableTest, UnknownBinAnswersTheConfiguredCode) {
  TableSpec spec = BaseSpec();
  EXPECT_EQ(MustBuild(spec).Route(Request("6011000000000004"), AllUp()).response,
            ResponseCode::kNoSuchIssuer);
  spec.unknown_bin_response = ResponseCode::kUnableToRoute;
  RoutingDecision d = MustBuild(spec).Route(Request("6011000000000004"), AllUp());
  EXPECT_EQ(d.kind, RouteKind::kDecline);
  EXPECT_EQ(d.response, ResponseCode::kUnableToRoute);
  EXPECT_EQ(d.issuer, nullptr);

  spec.unknown_bin_response = ResponseCode::kDoNotHonour;
  EXPECT_FALSE(RoutingTable::Build(spec).ok());
}

TEST(RoutingTableTest, LinkHealthPicksPrimaryThenBackupThenNone) {
  RoutingTable table = MustBuild(BaseSpec());
  LinkHealth links = AllUp();
  EXPECT_EQ(table.Route(Request("4111111111111111"), links).link, "a-1");

  links.Set("a-1", false);
  RoutingDecision backup = table.Route(Request("4111111111111111"), links);
  EXPECT_EQ(backup.kind, RouteKind::kIssuer);
  EXPECT_EQ(backup.link_role, LinkRole::kBackup);
  EXPECT_EQ(backup.link, "a-2");

  links.Set("a-2", false);
  RoutingDecision none = table.Route(Request("4111111111111111"), links);
  EXPECT_EQ(none.kind, RouteKind::kDecline);
  EXPECT_EQ(none.reason, RouteReason::kLinksDown);
  EXPECT_EQ(none.response, ResponseCode::kIssuerUnavailable);
  EXPECT_EQ(none.issuer->id, "nordbank");

  links.Set("a-1", true);  // primary back
  EXPECT_EQ(table.Route(Request("4111111111111111"), links).link_role, LinkRole::kPrimary);

  // An issuer with stand-in and no link up goes to stand-in instead of 91.
  links.Set("s-1", false);
  RoutingDecision stand_in = table.Route(Request("4333331111111111"), links);
  EXPECT_EQ(stand_in.kind, RouteKind::kStandIn);
  EXPECT_EQ(stand_in.reason, RouteReason::kLinksDown);
  EXPECT_EQ(stand_in.issuer->id, "southbank");
  EXPECT_TRUE(stand_in.issuer->stand_in.enabled);

  // On-us ignores link health entirely.
  EXPECT_EQ(table.Route(Request("5212345678901234"), LinkHealth()).kind, RouteKind::kOnUs);
}

TEST(RoutingTableTest, ChooseLinkForSafDelivery) {
  RoutingTable table = MustBuild(BaseSpec());
  const Issuer& nordbank = *table.FindIssuer("nordbank");
  LinkHealth links;
  EXPECT_EQ(ChooseLink(nordbank, links).role, LinkRole::kNone);
  EXPECT_TRUE(ChooseLink(nordbank, links).link.empty());
  links.Set("a-2", true);
  EXPECT_EQ(ChooseLink(nordbank, links).role, LinkRole::kBackup);
  EXPECT_EQ(ChooseLink(nordbank, links).link, "a-2");
  links.Set("a-1", true);
  EXPECT_EQ(ChooseLink(nordbank, links).link, "a-1");
  EXPECT_EQ(ChooseLink(*table.FindIssuer("kytkin"), links).role, LinkRole::kNone);
  EXPECT_EQ(table.FindIssuer("nobody"), nullptr);
}

TEST(RoutingTableTest, LinkHealthSetIsIdempotent) {
  LinkHealth links;
  EXPECT_FALSE(links.IsUp("x"));
  links.Set("x", true);
  links.Set("x", true);
  links.Set("y", true);
  EXPECT_TRUE(links.IsUp("x"));
  links.Set("x", false);
  EXPECT_FALSE(links.IsUp("x"));
  EXPECT_TRUE(links.IsUp("y"));
  EXPECT_FALSE(links.IsUp(""));
}

TEST(RoutingTableTest, RulesOverrideByChannelCategoryAndAmount) {
  TableSpec spec = BaseSpec();
  Rule online;
  online.name = "online-to-kytkin";
  online.channels = ChannelBit(Channel::kEcommerce);
  online.bin_issuer = "nordbank";
  online.route_to = "kytkin";
  Rule gambling;
  gambling.name = "gambling";
  gambling.mccs = {{7995, 7995}, {7800, 7802}};
  gambling.decline = ResponseCode::kNotPermittedToCardholder;
  Rule big;
  big.name = "big";
  big.amount_currency = kEur;
  big.amount_min_minor = 500000;
  big.route_to = "southbank";
  spec.rules = {online, gambling, big};
  RoutingTable table = MustBuild(spec);
  const LinkHealth links = AllUp();

  RoutingDecision d = table.Route(Request("4111111111111111", Channel::kEcommerce), links);
  EXPECT_EQ(d.kind, RouteKind::kOnUs);
  EXPECT_EQ(d.reason, RouteReason::kRule);
  ASSERT_NE(d.rule, nullptr);
  EXPECT_EQ(d.rule->name, "online-to-kytkin");
  // Same card in a shop: the BIN decides.
  EXPECT_EQ(table.Route(Request("4111111111111111", Channel::kPos), links).reason,
            RouteReason::kBinMatch);
  // The channel rule is limited to nordbank's BINs.
  EXPECT_EQ(table.Route(Request("4333331111111111", Channel::kEcommerce), links).issuer->id,
            "southbank");

  d = table.Route(Request("5212345678901234", Channel::kPos, 7995), links);
  EXPECT_EQ(d.kind, RouteKind::kDecline);
  EXPECT_EQ(d.response, ResponseCode::kNotPermittedToCardholder);
  EXPECT_EQ(d.issuer->id, "kytkin");  // the BIN's issuer, for the journal
  EXPECT_EQ(table.Route(Request("5212345678901234", Channel::kPos, 7801), links).kind,
            RouteKind::kDecline);
  EXPECT_EQ(table.Route(Request("5212345678901234", Channel::kPos, 7803), links).kind,
            RouteKind::kOnUs);

  // Amount bound is inclusive, and only in its currency.
  EXPECT_EQ(table.Route(Request("5212345678901234", Channel::kPos, 5411, 499999), links).kind,
            RouteKind::kOnUs);
  d = table.Route(Request("5212345678901234", Channel::kPos, 5411, 500000), links);
  EXPECT_EQ(d.kind, RouteKind::kIssuer);
  EXPECT_EQ(d.issuer->id, "southbank");
  EXPECT_EQ(table.Route(Request("5212345678901234", Channel::kPos, 5411, 500000, kUsd), links).kind,
            RouteKind::kOnUs);
}

TEST(RoutingTableTest, FirstMatchingRuleInTableOrderWins) {
  TableSpec spec = BaseSpec();
  Rule decline_online;
  decline_online.name = "decline-online";
  decline_online.channels = ChannelBit(Channel::kEcommerce);
  decline_online.decline = ResponseCode::kRestrictedCard;
  Rule route_online;
  route_online.name = "route-online";
  route_online.channels = ChannelBit(Channel::kEcommerce) | ChannelBit(Channel::kMoto);
  route_online.route_to = "kytkin";
  spec.rules = {decline_online, route_online};
  RoutingTable first = MustBuild(spec);
  RoutingDecision d = first.Route(Request("4111111111111111", Channel::kEcommerce), AllUp());
  EXPECT_EQ(d.kind, RouteKind::kDecline);
  EXPECT_EQ(d.rule->name, "decline-online");
  EXPECT_EQ(first.Route(Request("4111111111111111", Channel::kMoto), AllUp()).rule->name,
            "route-online");

  std::swap(spec.rules[0], spec.rules[1]);
  RoutingTable swapped = MustBuild(spec);
  d = swapped.Route(Request("4111111111111111", Channel::kEcommerce), AllUp());
  EXPECT_EQ(d.kind, RouteKind::kOnUs);
  EXPECT_EQ(d.rule->name, "route-online");
}

TEST(RoutingTableTest, RuleWithoutIssuerConditionAppliesToUnknownBins) {
  TableSpec spec = BaseSpec();
  Rule atm;
  atm.name = "atm";
  atm.channels = ChannelBit(Channel::kAtm);
  atm.route_to = "nordbank";
  spec.rules = {atm};
  RoutingTable table = MustBuild(spec);
  RoutingDecision d = table.Route(Request("6011000000000004", Channel::kAtm), AllUp());
  EXPECT_EQ(d.kind, RouteKind::kIssuer);
  EXPECT_EQ(d.bin, nullptr);
  EXPECT_EQ(table.Route(Request("6011000000000004", Channel::kPos), AllUp()).reason,
            RouteReason::kUnknownBin);
}

TEST(RoutingTableTest, RuleRoutingToAnIssuerWithLinksDownFollowsLinkHealth) {
  TableSpec spec = BaseSpec();
  Rule online;
  online.name = "online";
  online.channels = ChannelBit(Channel::kEcommerce);
  online.route_to = "southbank";
  spec.rules = {online};
  RoutingTable table = MustBuild(spec);
  LinkHealth links = AllUp();
  links.Set("s-1", false);
  RoutingDecision d = table.Route(Request("5212345678901234", Channel::kEcommerce), links);
  EXPECT_EQ(d.kind, RouteKind::kStandIn);
  EXPECT_EQ(d.reason, RouteReason::kLinksDown);
  EXPECT_EQ(d.rule->name, "online");
}

TEST(RoutingTableTest, DescribeNamesRouteWithoutPanDigits) {
  TableSpec spec = BaseSpec();
  spec.bins[1].range.line = 12;
  RoutingTable table = MustBuild(spec);
  LinkHealth links = AllUp();
  links.Set("a-1", false);
  const std::string text = table.Route(Request("4111111111111111"), links).Describe();
  EXPECT_EQ(text, "issuer nordbank via a-2 (backup); bin match; range 411111 line 12");
  EXPECT_EQ(table.Route(Request("6011000000000004"), links).Describe(), "decline 15; unknown bin");
}

TEST(RoutingTableTest, InvalidSpecsAreRejectedWithTheReason) {
  struct Case {
    std::string name;
    std::function<void(TableSpec&)> edit;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {"duplicate issuer", [](TableSpec& s) { s.issuers.push_back(OnUs("kytkin")); },
       "defined twice"},
      {"bad id", [](TableSpec& s) { s.issuers.push_back(OnUs("has space")); }, "issuer id"},
      {"remote without link", [](TableSpec& s) { s.issuers.push_back(Remote("x", "")); },
       "needs a primary link"},
      {"on-us with link", [](TableSpec& s) { s.issuers[0].primary_link = "l"; }, "has no links"},
      {"backup equals primary", [](TableSpec& s) { s.issuers.push_back(Remote("x", "l", "l")); },
       "backup link is the primary"},
      {"bin to unknown issuer", [](TableSpec& s) { s.bins.push_back(Bin("600000", "nobody")); },
       "unknown issuer 'nobody'"},
      {"rule to unknown issuer",
       [](TableSpec& s) {
         Rule r;
         r.name = "r";
         r.route_to = "nobody";
         s.rules.push_back(r);
       },
       "routes to unknown issuer"},
      {"rule with two actions",
       [](TableSpec& s) {
         Rule r;
         r.name = "r";
         r.route_to = "kytkin";
         r.decline = ResponseCode::kDoNotHonour;
         s.rules.push_back(r);
       },
       "exactly one action"},
      {"rule declining with approval",
       [](TableSpec& s) {
         Rule r;
         r.name = "r";
         r.decline = ResponseCode::kApproved;
         s.rules.push_back(r);
       },
       "must not be an approval"},
      {"rule amount without currency",
       [](TableSpec& s) {
         Rule r;
         r.name = "r";
         r.amount_max_minor = 5;
         r.route_to = "kytkin";
         s.rules.push_back(r);
       },
       "known currency"},
      {"duplicate rule name",
       [](TableSpec& s) {
         Rule r;
         r.name = "r";
         r.route_to = "kytkin";
         s.rules.push_back(r);
         s.rules.push_back(r);
       },
       "name already used"},
      {"mcc out of range",
       [](TableSpec& s) {
         Rule r;
         r.name = "r";
         r.mccs = {{9000, 10000}};
         r.route_to = "kytkin";
         s.rules.push_back(r);
       },
       "merchant category"},
      {"stand-in without codes", [](TableSpec& s) { s.issuers[2].stand_in.processing_codes = {}; },
       "no processing codes"},
      {"stand-in daily below transaction",
       [](TableSpec& s) { s.issuers[2].stand_in.max_daily_minor = 9999; }, "below the max"},
      {"stand-in approving outside limits",
       [](TableSpec& s) { s.issuers[2].stand_in.decline_response = ResponseCode::kApproved; },
       "must not approve"},
      {"stand-in on on-us", [](TableSpec& s) { s.issuers[0].stand_in = EnabledStandIn(); },
       "on-us"},
  };
  for (const Case& c : cases) {
    TableSpec spec = BaseSpec();
    c.edit(spec);
    auto table = RoutingTable::Build(spec);
    ASSERT_FALSE(table.ok()) << c.name;
    EXPECT_NE(table.status().message().find(c.reason), std::string::npos)
        << c.name << ": " << table.status().ToString();
  }
}

TEST(RoutingTableTest, LimitsAreEnforcedAtLimitPlusOne) {
  TableLimits limits;
  limits.bin_ranges_max = 4;  // BaseSpec has 4
  limits.issuers_max = 3;     // and 3 issuers
  limits.rules_max = 1;
  TableSpec spec = BaseSpec();
  Rule r;
  r.name = "r";
  r.route_to = "kytkin";
  spec.rules = {r};
  EXPECT_TRUE(RoutingTable::Build(spec, limits).ok());

  TableSpec more_bins = spec;
  more_bins.bins.push_back(Bin("600000", "kytkin"));
  EXPECT_NE(RoutingTable::Build(more_bins, limits).status().message().find("too many BIN"),
            std::string::npos);
  TableSpec more_issuers = spec;
  more_issuers.issuers.push_back(OnUs("extra"));
  EXPECT_NE(RoutingTable::Build(more_issuers, limits).status().message().find("too many issuers"),
            std::string::npos);
  TableSpec more_rules = spec;
  r.name = "r2";
  more_rules.rules.push_back(r);
  EXPECT_NE(RoutingTable::Build(more_rules, limits).status().message().find("too many rules"),
            std::string::npos);
}

}  // namespace
}  // namespace kytkin::routing
