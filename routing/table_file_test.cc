#include "routing/table_file.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <unistd.h>

namespace kytkin::routing {
namespace {

constexpr std::string_view kGoodTable = R"(# kytkin routing table
unknown_bin 92

issuer kytkin on_us
issuer nordbank primary=nb-a backup=nb-b   # two hosts
issuer southbank primary=sb-a
standin southbank currency=EUR max_transaction=100.00 max_daily_amount=300.00 max_daily_count=5 processing_codes=00,010000 response=91

bin 411111 nordbank
bin 41111199 kytkin
bin 52000000-52999999 kytkin
bin 433333 southbank

rule gambling mcc=7995,7800-7802 decline=57
rule big-online channel=ecommerce,moto currency=EUR amount_min=5000.00 bin_issuer=nordbank route=kytkin
)";

std::string ErrorOf(std::string_view text) {
  auto table = ParseRoutingTable(text);
  return table.ok() ? "OK" : std::string(table.status().message());
}

TEST(TableFileTest, ParsesEveryDirective) {
  auto parsed = ParseRoutingTable(kGoodTable);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  const RoutingTable& table = *parsed;
  EXPECT_EQ(table.unknown_bin_response(), ResponseCode::kUnableToRoute);
  ASSERT_EQ(table.issuers().size(), 3u);
  const Issuer* nordbank = table.FindIssuer("nordbank");
  ASSERT_NE(nordbank, nullptr);
  EXPECT_EQ(nordbank->primary_link, "nb-a");
  EXPECT_EQ(nordbank->backup_link, "nb-b");
  EXPECT_EQ(nordbank->line, 5u);
  EXPECT_FALSE(nordbank->stand_in.enabled);
  EXPECT_TRUE(table.FindIssuer("kytkin")->on_us);

  const StandInRule& stand_in = table.FindIssuer("southbank")->stand_in;
  EXPECT_TRUE(stand_in.enabled);
  EXPECT_EQ(stand_in.currency, 978);
  EXPECT_EQ(stand_in.max_transaction_minor, 10000);
  EXPECT_EQ(stand_in.max_daily_minor, 30000);
  EXPECT_EQ(stand_in.max_daily_count, 5u);
  EXPECT_EQ(stand_in.processing_codes, (std::vector<std::string>{"00", "010000"}));
  EXPECT_EQ(stand_in.decline_response, ResponseCode::kIssuerUnavailable);

  EXPECT_EQ(table.bins().size(), 4u);
  EXPECT_EQ(table.FindIssuerByPan("5234567890123456")->id, "kytkin");
  EXPECT_EQ(table.FindIssuerByPan("4111119900000000")->id, "kytkin");
  EXPECT_EQ(table.FindIssuerByPan("4111110000000000")->id, "nordbank");

  ASSERT_EQ(table.rules().size(), 2u);
  const Rule& gambling = table.rules()[0];
  EXPECT_EQ(gambling.line, 14u);
  ASSERT_EQ(gambling.mccs.size(), 2u);
  EXPECT_EQ(gambling.mccs[1].low, 7800);
  EXPECT_EQ(gambling.mccs[1].high, 7802);
  EXPECT_EQ(gambling.decline, ResponseCode::kNotPermittedToCardholder);
  const Rule& big = table.rules()[1];
  EXPECT_EQ(big.channels, ChannelBit(Channel::kEcommerce) | ChannelBit(Channel::kMoto));
  EXPECT_EQ(big.amount_min_minor, 500000);
  EXPECT_FALSE(big.amount_max_minor.has_value());
  EXPECT_EQ(big.bin_issuer, "nordbank");
  EXPECT_EQ(big.route_to, "kytkin");

  LinkHealth links;
  links.Set("nb-b", true);
  RoutingDecision d =
      table.Route({"4111111111111111", Channel::kPos, 5411, Amount(100, 978)}, links);
  EXPECT_EQ(d.link, "nb-b");
  EXPECT_EQ(d.bin->line, 9u);
}

TEST(TableFileTest, EmptyAndCommentOnlyFilesGiveAnEmptyTable) {
  auto table = ParseRoutingTable("\n# nothing\r\n   \t\n");
  ASSERT_TRUE(table.ok()) << table.status().ToString();
  EXPECT_EQ(table->bins().size(), 0u);
  EXPECT_EQ(table->unknown_bin_response(), ResponseCode::kNoSuchIssuer);
}

TEST(TableFileTest, WindowsLineEndingsAndTabsAreAccepted) {
  auto table = ParseRoutingTable("issuer\tkytkin\ton_us\r\nbin 411111\tkytkin\r\n");
  ASSERT_TRUE(table.ok()) << table.status().ToString();
  EXPECT_EQ(table->FindIssuerByPan("4111111111111111")->id, "kytkin");
}

TEST(TableFileTest, ErrorsNameTheLineAndTheReason) {
  const std::string header = "issuer kytkin on_us\nissuer nb primary=l1\n";  // lines 1-2
  struct Case {
    std::string line3;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"route 411111 kytkin", "line 3: unknown directive 'route'"},
      {"bin 41111 kytkin", "line 3: BIN must have 6 to 11 digits, got 5"},
      {"bin 411111111111 kytkin", "line 3: BIN must have 6 to 11 digits, got 12"},
      {"bin 4111x1 kytkin", "line 3: BIN must contain only digits"},
      {"bin 411119-411111 kytkin", "line 3: BIN range 411119-411111: low end is above high end"},
      {"bin 411111-4111119 kytkin", "line 3: BIN range 411111-4111119: both ends must have"},
      {"bin 411111 nobody", "line 3: BIN range 411111: unknown issuer 'nobody'"},
      {"bin 411111", "line 3: expected: bin <low>[-<high>] <issuer>"},
      {"unknown_bin 05", "line 3: unknown_bin must be 15 or 92"},
      {"unknown_bin 7", "line 3: unknown response code '7'"},
      {"issuer kytkin on_us", "line 3: issuer kytkin is defined twice"},
      {"issuer x", "line 3: expected: issuer"},
      {"issuer x backup=l2", "line 3: missing primary="},
      {"issuer x primary=l1 primary=l2", "line 3: key 'primary' repeated"},
      {"issuer x primary=l1 color=red", "line 3: unknown key 'color'"},
      {"issuer x primary=", "line 3: expected key=value, got 'primary='"},
      {"issuer x on_us primary=l1", "line 3: an on_us issuer takes no links"},
      {"issuer x/y on_us", "line 3: issuer id 'x/y' must be"},
      {"rule r mcc=7995", "line 3: a rule needs exactly one of route= and decline="},
      {"rule r mcc=7995 route=kytkin decline=05", "line 3: a rule needs exactly one"},
      {"rule r mcc=79x5 decline=05", "line 3: merchant category '79x5' is not a whole number"},
      {"rule r mcc=99999 decline=05", "line 3: merchant category '99999' is not a whole number"},
      {"rule r mcc=10000 decline=05", "line 3: rule r: merchant category range 10000-10000"},
      {"rule r channel=web decline=05", "line 3: unknown channel 'web'"},
      {"rule r amount_min=5.00 decline=05", "line 3: amount_min= / amount_max= need currency="},
      {"rule r currency=EUR decline=05", "line 3: currency= is only for"},
      {"rule r currency=XXX amount_min=1 decline=05", "line 3: unknown currency 'XXX'"},
      {"rule r currency=EUR amount_min=1.001 decline=05", "line 3: amount_min: "},
      {"rule r currency=EUR amount_min=9 amount_max=1 decline=05",
       "line 3: rule r: amount minimum is above the maximum"},
      {"rule r decline=00", "line 3: rule r: decline code must not be an approval"},
      {"rule r decline=99", "line 3: unknown response code '99'"},
      {"rule r route=nobody", "line 3: rule r: routes to unknown issuer 'nobody'"},
      {"rule r bin_issuer=nobody route=kytkin", "line 3: rule r: unknown issuer 'nobody'"},
      {"standin nobody currency=EUR max_transaction=1 max_daily_amount=1 max_daily_count=1 "
       "processing_codes=00",
       "line 3: standin for unknown issuer 'nobody'"},
      {"standin nb currency=EUR max_transaction=1 max_daily_amount=1 processing_codes=00",
       "line 3: missing max_daily_count="},
      {"standin nb currency=EUR max_transaction=1 max_daily_amount=1 max_daily_count=-1 "
       "processing_codes=00",
       "line 3: max_daily_count '-1' is not a whole number"},
      {"standin nb currency=EUR max_transaction=0 max_daily_amount=1 max_daily_count=1 "
       "processing_codes=00",
       "line 3: stand-in: max transaction amount must be above zero"},
      {"standin nb currency=EUR max_transaction=1 max_daily_amount=1 max_daily_count=0 "
       "processing_codes=00",
       "line 3: stand-in: max daily count must be at least 1"},
      {"standin nb currency=EUR max_transaction=1 max_daily_amount=1 max_daily_count=1 "
       "processing_codes=00,0",
       "line 3: stand-in: processing code '0' must be 2 or 6 digits"},
      {"standin kytkin currency=EUR max_transaction=1 max_daily_amount=1 max_daily_count=1 "
       "processing_codes=00",
       "line 3: stand-in: an on-us issuer is kytkin itself"},
      {"standin nb currency=EUR max_transaction=1 max_daily_amount=1 max_daily_count=1 "
       "processing_codes=00 response=00",
       "line 3: stand-in: the response outside the limits must not approve"},
      {std::string(kTableLineBytesMax + 1, ' '), "line 3: longer than 1024 bytes"},
  };
  for (const Case& c : cases) {
    const std::string error = ErrorOf(header + c.line3 + "\nbin 522222 kytkin\n");
    EXPECT_EQ(error.rfind(c.expected, 0), 0u) << "for '" << c.line3 << "' got: " << error;
  }
  // A line of exactly the limit is fine.
  EXPECT_EQ(ErrorOf(header + std::string(kTableLineBytesMax, ' ') + "\n"), "OK");
}

TEST(TableFileTest, OverlapErrorNamesBothLines) {
  const std::string error = ErrorOf("issuer a on_us\nbin 400000-400100 a\n\nbin 400050-400200 a\n");
  EXPECT_EQ(error,
            "line 4: BIN range 400050-400200 overlaps 400000-400100 (line 2) of the same length");
}

TEST(TableFileTest, SecondStandInForOneIssuerIsRejected) {
  const std::string line =
      "standin nb currency=EUR max_transaction=1 max_daily_amount=1 max_daily_count=1 "
      "processing_codes=00\n";
  EXPECT_EQ(ErrorOf("issuer nb primary=l\n" + line + line),
            "line 3: second standin for issuer nb (first at line 2)");
  // A stand-in may come before its issuer.
  EXPECT_EQ(ErrorOf(line + "issuer nb primary=l\n"), "OK");
}

TEST(TableFileTest, LimitsApplyToParsedTables) {
  TableLimits limits;
  limits.bin_ranges_max = 2;
  const std::string two = "issuer a on_us\nbin 411111 a\nbin 422222 a\n";
  EXPECT_TRUE(ParseRoutingTable(two, limits).ok());
  auto three = ParseRoutingTable(two + "bin 433333 a\n", limits);
  ASSERT_FALSE(three.ok());
  EXPECT_EQ(three.status().message(), "too many BIN ranges: 3 > 2");
}

class TableFileOnDiskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("kytkin_routing_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Write(const std::string& name, std::string_view text) {
    const auto path = dir_ / name;
    std::ofstream(path, std::ios::binary) << text;
    return path.string();
  }
  std::filesystem::path dir_;
};

TEST_F(TableFileOnDiskTest, LoadsAFileAndPrefixesErrorsWithItsPath) {
  auto table = LoadRoutingTableFile(Write("good.txt", kGoodTable));
  ASSERT_TRUE(table.ok()) << table.status().ToString();
  EXPECT_EQ(table->bins().size(), 4u);

  const std::string bad = Write("bad.txt", "issuer a on_us\nbin 4111 a\n");
  auto failed = LoadRoutingTableFile(bad);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().message(), bad + ": line 2: BIN must have 6 to 11 digits, got 4");

  auto missing = LoadRoutingTableFile((dir_ / "missing.txt").string());
  EXPECT_TRUE(missing.status().IsIOError());
}

TEST(TableFileTest, TheExampleFileInTheRepositoryLoads) {
  auto table = LoadRoutingTableFile(KYTKIN_ROUTING_TESTDATA "/routes.txt");
  ASSERT_TRUE(table.ok()) << table.status().ToString();
  LinkHealth links;
  links.Set("nb-b", true);
  const RoutingDecision d =
      table->Route({"4111111111111111", Channel::kPos, 5411, Amount(100, 978)}, links);
  EXPECT_EQ(d.Describe(), "issuer nordbank via nb-b (backup); bin match; range 411111 line 14");
  EXPECT_EQ(table->Route({"4333331111111111", Channel::kPos, 5411, Amount(100, 978)}, links).kind,
            RouteKind::kStandIn);
  EXPECT_EQ(
      table->Route({"6011000000000004", Channel::kPos, 5411, Amount(100, 978)}, links).response,
      ResponseCode::kNoSuchIssuer);
}

}  // namespace
}  // namespace kytkin::routing
