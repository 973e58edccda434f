#include "iso8583/dialect.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "iso8583/message.h"

namespace kytkin::iso8583 {
namespace {

TEST(Dialect, BuiltinsByName) {
  for (std::string_view name : {"iso87-ascii", "iso87-ascii-bbitmap", "iso87-bcd"}) {
    const Dialect* d = FindDialect(name);
    ASSERT_NE(d, nullptr) << name;
    EXPECT_EQ(d->name, name);
    EXPECT_TRUE(ValidateDialect(*d).ok()) << ValidateDialect(*d).ToString();
  }
  EXPECT_EQ(FindDialect("iso93"), nullptr);
  EXPECT_EQ(BuiltinDialects().size(), 3u);
}

TEST(Dialect, Iso87LayoutSpotChecks) {
  const Dialect& a = *FindDialect("iso87-ascii");
  const Dialect& b = *FindDialect("iso87-bcd");
  EXPECT_EQ(a.field(2).type, ContentType::kN);
  EXPECT_EQ(a.field(2).length_kind, LengthKind::kLlvar);
  EXPECT_EQ(a.field(2).length_max, 19);
  EXPECT_EQ(a.field(35).type, ContentType::kZ);
  EXPECT_EQ(a.field(55).type, ContentType::kB);
  EXPECT_EQ(a.field(55).data_encoding, Encoding::kHexAscii);
  EXPECT_EQ(b.field(55).data_encoding, Encoding::kBinary);
  EXPECT_EQ(b.field(4).data_encoding, Encoding::kBcd);
  EXPECT_EQ(b.field(41).data_encoding, Encoding::kAscii);
  EXPECT_EQ(b.field(2).length_encoding, Encoding::kBcd);
  EXPECT_EQ(a.field(90).length_max, 42);
  EXPECT_EQ(a.field(28).type, ContentType::kXn);
  EXPECT_EQ(a.bitmap_encoding, Encoding::kHexAscii);
  EXPECT_EQ(b.mti_encoding, Encoding::kBcd);
  EXPECT_EQ(FieldName(11), "System trace audit number");
  EXPECT_EQ(FieldName(0), "");
  EXPECT_EQ(FieldName(129), "");
}

constexpr std::string_view kCustom = R"({
  "name": "acme-87",
  "base": "iso87-bcd",
  "always_secondary_bitmap": true,
  "fields": {
    "48": {"type": "ans", "length": "lllvar", "max": 500, "length_encoding": "binary"},
    "62": null,
    "2":  {"type": "n", "length": "llvar", "max": 19, "encoding": "ascii", "length_encoding": "ascii"}
  }
})";

TEST(DialectJson, LoadsBaseAndOverrides) {
  Result<Dialect> d = LoadDialectJson(kCustom);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->name, "acme-87");
  EXPECT_TRUE(d->always_secondary_bitmap);
  EXPECT_EQ(d->mti_encoding, Encoding::kBcd);
  EXPECT_EQ(d->field(48).length_max, 500);
  EXPECT_EQ(d->field(48).length_encoding, Encoding::kBinary);
  EXPECT_FALSE(d->field(62).defined());
  EXPECT_EQ(d->field(2).data_encoding, Encoding::kAscii);
  EXPECT_EQ(d->field(4).data_encoding, Encoding::kBcd);  // inherited

  // A message in the custom dialect: DE 2 ASCII, DE 48 with a binary LLL prefix.
  Message m(*d);
  ASSERT_TRUE(m.SetMti("0100").ok());
  ASSERT_TRUE(m.Set(2, "4111111111111111").ok());
  ASSERT_TRUE(m.Set(48, "hello").ok());
  EXPECT_FALSE(m.Set(62, "x").ok());
  Result<std::string> packed = m.PackToString();
  ASSERT_TRUE(packed.ok());
  std::string expected =
      std::string("\x01\x00", 2) + std::string("\xC0\x00\x00\x00\x00\x01\x00\x00", 8) +  // 1, 2, 48
      std::string(8, '\0') + "16" + "4111111111111111" + std::string("\x00\x05", 2) + "hello";
  EXPECT_EQ(*packed, expected);
  Message back(*d);
  ASSERT_TRUE(back.Parse(*packed).ok());
  EXPECT_EQ(back.Get(48), "hello");
}

TEST(DialectJson, FromScratchWithoutBase) {
  Result<Dialect> d = LoadDialectJson(R"({"name": "tiny", "bitmap_encoding": "hex",
      "fields": {"11": {"type": "n", "length": "fixed", "max": 6}}})");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_TRUE(d->field(11).defined());
  EXPECT_FALSE(d->field(2).defined());
  Message m(*d);
  const std::string in = std::string("0800") + "4020000000000000" + "12" + "000001";
  ParseError e = m.Parse(in);
  EXPECT_EQ(e.reason, ParseErrorReason::kUndefinedField);
  EXPECT_EQ(e.field, 2);
}

TEST(DialectJson, ErrorsNameTheMember) {
  auto err = [](std::string_view json) {
    Result<Dialect> d = LoadDialectJson(json);
    return d.ok() ? std::string("ok") : std::string(d.status().message());
  };
  EXPECT_NE(err("{").find("not valid JSON"), std::string::npos);
  EXPECT_NE(err("[]").find("top level"), std::string::npos);
  EXPECT_NE(err(R"({"base": "iso87-bcd"})").find("missing \"name\""), std::string::npos);
  EXPECT_NE(err(R"({"name": "x", "base": "nope"})").find("base"), std::string::npos);
  EXPECT_NE(err(R"({"name": "x", "colour": 1})").find("colour"), std::string::npos);
  EXPECT_NE(err(R"({"name": "x", "fields": {"1": null}})").find("2..128"), std::string::npos);
  EXPECT_NE(err(R"({"name": "x", "fields": {"abc": null}})").find("abc"), std::string::npos);
  EXPECT_NE(err(R"({"name": "x", "fields": {"5": {"type": "q", "length": "fixed", "max": 1}}})")
                .find("fields.5.type"),
            std::string::npos);
  EXPECT_NE(err(R"({"name": "x", "fields": {"5": {"type": "n", "length": "llvar", "max": 100}}})")
                .find("field 5"),
            std::string::npos);
  EXPECT_NE(err(R"({"name": "x", "fields": {"5": {"type": "n", "length": "fixed", "max": 0}}})")
                .find("fields.5.max"),
            std::string::npos);
  EXPECT_NE(
      err(R"({"name": "x", "fields": {"5": {"type": "an", "length": "fixed", "max": 3, "encoding": "bcd"}}})")
          .find("bcd data encoding only"),
      std::string::npos);
  EXPECT_NE(err(R"({"name": "x", "mti_encoding": "hex"})").find("mti_encoding"), std::string::npos);
  EXPECT_NE(err(R"({"name": "x", "fields": {"5": {"type": "n", "length": "fixed", "max": 3,
                   "extra": 1}}})")
                .find("fields.5"),
            std::string::npos);
}

TEST(DialectJson, LoadFile) {
  auto path = std::filesystem::temp_directory_path() /
              ("kytkin-dialect-" + std::to_string(::getpid()) + ".json");
  {
    std::ofstream out(path);
    out << kCustom;
  }
  Result<Dialect> d = LoadDialectFile(path.string());
  std::filesystem::remove(path);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->name, "acme-87");
  EXPECT_EQ(LoadDialectFile(path.string()).status().code(), Status::Code::kIOError);
}

TEST(DialectJson, ReadmeExampleLoads) {
  // The example in README.md ("ISO 8583 dialects") is kept in the repo; it must stay loadable.
  Result<Dialect> d = LoadDialectFile(KYTKIN_SOURCE_DIR "/iso8583/testdata/example-dialect.json");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
}

}  // namespace
}  // namespace kytkin::iso8583
