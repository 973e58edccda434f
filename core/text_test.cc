#include "core/text.h"

#include <gtest/gtest.h>

namespace kytkin {
namespace {

TEST(JsonTest, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(JsonEscape("plain"), "plain");
  EXPECT_EQ(JsonEscape("a\"b\\c"), "a\\\"b\\\\c");
  EXPECT_EQ(JsonEscape(std::string_view("x\n\x01", 3)), "x\\u000a\\u0001");
  EXPECT_EQ(JsonQuoted("Kahvila \"K\""), "\"Kahvila \\\"K\\\"\"");
  EXPECT_EQ(JsonQuoted(""), "\"\"");
}

TEST(CsvTest, QuotesOnlyWhenNeeded) {
  EXPECT_EQ(CsvField("1001"), "1001");
  EXPECT_EQ(CsvField("Alice, A"), "\"Alice, A\"");
  EXPECT_EQ(CsvField("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(CsvField("two\nlines"), "\"two\nlines\"");
}

TEST(CsvTest, SplitsQuotedFieldsAndDropsCarriageReturn) {
  auto f = SplitCsvLine("1,\"Alice, A\",\"say \"\"hi\"\"\",,x\r");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(*f, (std::vector<std::string>{"1", "Alice, A", "say \"hi\"", "", "x"}));
  auto one = SplitCsvLine("");
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->size(), 1u);
}

TEST(CsvTest, RoundTripsWhatCsvFieldWrites) {
  for (std::string_view s : {"a,b", "q\"q", "", "plain"}) {
    auto f = SplitCsvLine(CsvField(s) + "," + CsvField("z"));
    ASSERT_TRUE(f.ok()) << s;
    EXPECT_EQ((*f)[0], s);
  }
}

TEST(CsvTest, UnterminatedQuoteIsAnError) {
  auto f = SplitCsvLine("1,\"open");
  ASSERT_FALSE(f.ok());
  EXPECT_NE(std::string(f.status().message()).find("unterminated quote"), std::string::npos);
}

}  // namespace
}  // namespace kytkin
