// Custom dialects from JSON (format: README.md, "ISO 8583 dialects").
//
// This translation unit also holds the one definition of Boost.JSON (header-only mode) for every
// binary that links kytkin_iso8583: other code includes <boost/json.hpp> and must not include
// <boost/json/src.hpp> again, or the link sees duplicate symbols.
#include <boost/json/src.hpp>

#include <fstream>
#include <sstream>

#include "iso8583/dialect.h"

namespace kytkin::iso8583 {
namespace {

namespace json = boost::json;

Status JsonError(std::string_view where, std::string_view why) {
  return Status::InvalidArgument("dialect JSON " + std::string(where) + ": " + std::string(why));
}

Result<Encoding> ParseEncoding(std::string_view s, std::string_view where) {
  if (s == "ascii") return Encoding::kAscii;
  if (s == "bcd") return Encoding::kBcd;
  if (s == "binary") return Encoding::kBinary;
  if (s == "hex") return Encoding::kHexAscii;
  return JsonError(where, "unknown encoding '" + std::string(s) + "' (ascii, bcd, binary, hex)");
}

Result<ContentType> ParseContentType(std::string_view s, std::string_view where) {
  for (ContentType t : {ContentType::kN, ContentType::kA, ContentType::kAn, ContentType::kAns,
                        ContentType::kB, ContentType::kZ, ContentType::kXn}) {
    if (ContentTypeName(t) == s) return t;
  }
  return JsonError(where, "unknown type '" + std::string(s) + "' (n, a, an, ans, b, z, x+n)");
}

Result<LengthKind> ParseLengthKind(std::string_view s, std::string_view where) {
  for (LengthKind k : {LengthKind::kFixed, LengthKind::kLlvar, LengthKind::kLllvar}) {
    if (LengthKindName(k) == s) return k;
  }
  return JsonError(where, "unknown length '" + std::string(s) + "' (fixed, llvar, lllvar)");
}

Result<std::string_view> GetString(const json::object& o, std::string_view key,
                                   std::string_view where) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) return JsonError(where, "missing \"" + std::string(key) + "\"");
  if (!v->is_string()) return JsonError(where, "\"" + std::string(key) + "\" must be a string");
  return std::string_view(v->as_string());
}

Status ParseField(const json::value& v, const std::string& where, FieldSpec* f) {
  if (v.is_null()) {
    *f = FieldSpec{};
    return Status::Ok();
  }
  if (!v.is_object()) return JsonError(where, "must be an object or null");
  const json::object& o = v.as_object();
  for (const auto& kv : o) {
    std::string_view k = kv.key();
    if (k != "type" && k != "length" && k != "max" && k != "encoding" && k != "length_encoding") {
      return JsonError(where, "unknown member \"" + std::string(k) + "\"");
    }
  }
  Result<std::string_view> type = GetString(o, "type", where);
  if (!type.ok()) return type.status();
  Result<ContentType> ct = ParseContentType(*type, where + ".type");
  if (!ct.ok()) return ct.status();
  f->type = *ct;

  Result<std::string_view> length = GetString(o, "length", where);
  if (!length.ok()) return length.status();
  Result<LengthKind> lk = ParseLengthKind(*length, where + ".length");
  if (!lk.ok()) return lk.status();
  f->length_kind = *lk;

  const json::value* max = o.if_contains("max");
  if (max == nullptr || !max->is_int64() || max->as_int64() < 1 || max->as_int64() > 999) {
    return JsonError(where + ".max", "must be an integer 1..999");
  }
  f->length_max = static_cast<uint16_t>(max->as_int64());

  Encoding default_data = f->type == ContentType::kB ? Encoding::kBinary : Encoding::kAscii;
  f->data_encoding = default_data;
  if (o.contains("encoding")) {
    Result<std::string_view> e = GetString(o, "encoding", where);
    if (!e.ok()) return e.status();
    Result<Encoding> enc = ParseEncoding(*e, where + ".encoding");
    if (!enc.ok()) return enc.status();
    f->data_encoding = *enc;
  }
  f->length_encoding = Encoding::kAscii;
  if (o.contains("length_encoding")) {
    Result<std::string_view> e = GetString(o, "length_encoding", where);
    if (!e.ok()) return e.status();
    Result<Encoding> enc = ParseEncoding(*e, where + ".length_encoding");
    if (!enc.ok()) return enc.status();
    f->length_encoding = *enc;
  }
  return Status::Ok();
}

}  // namespace

Result<Dialect> LoadDialectJson(std::string_view json_text) {
  json::error_code ec;
  json::value root = json::parse(json_text, ec);
  if (ec) return JsonError("", "not valid JSON: " + ec.message());
  if (!root.is_object()) return JsonError("", "top level must be an object");
  const json::object& o = root.as_object();
  for (const auto& kv : o) {
    std::string_view k = kv.key();
    if (k != "name" && k != "base" && k != "mti_encoding" && k != "bitmap_encoding" &&
        k != "always_secondary_bitmap" && k != "fields") {
      return JsonError("", "unknown member \"" + std::string(k) + "\"");
    }
  }

  Dialect d;
  if (const json::value* base = o.if_contains("base")) {
    if (!base->is_string()) return JsonError("base", "must be a string");
    const Dialect* b = FindDialect(std::string_view(base->as_string()));
    if (b == nullptr) {
      return JsonError("base", "unknown dialect '" + std::string(base->as_string()) + "'");
    }
    d = *b;
  }
  Result<std::string_view> name = GetString(o, "name", "");
  if (!name.ok()) return name.status();
  if (name->empty()) return JsonError("name", "must not be empty");
  d.name = std::string(*name);
  if (o.contains("mti_encoding")) {
    Result<std::string_view> s = GetString(o, "mti_encoding", "");
    if (!s.ok()) return s.status();
    Result<Encoding> e = ParseEncoding(*s, "mti_encoding");
    if (!e.ok()) return e.status();
    d.mti_encoding = *e;
  }
  if (o.contains("bitmap_encoding")) {
    Result<std::string_view> s = GetString(o, "bitmap_encoding", "");
    if (!s.ok()) return s.status();
    Result<Encoding> e = ParseEncoding(*s, "bitmap_encoding");
    if (!e.ok()) return e.status();
    d.bitmap_encoding = *e;
  }
  if (const json::value* v = o.if_contains("always_secondary_bitmap")) {
    if (!v->is_bool()) return JsonError("always_secondary_bitmap", "must be true or false");
    d.always_secondary_bitmap = v->as_bool();
  }
  if (const json::value* fields = o.if_contains("fields")) {
    if (!fields->is_object()) return JsonError("fields", "must be an object keyed by number");
    for (const auto& kv : fields->as_object()) {
      std::string key(kv.key());
      int n = 0;
      for (char c : key) {
        if (c < '0' || c > '9' || n > kFieldMax)
          return JsonError("fields", "bad key \"" + key + "\"");
        n = n * 10 + (c - '0');
      }
      if (key.empty() || n < kFieldMin || n > kFieldMax) {
        return JsonError("fields", "key \"" + key + "\" is not a field number 2..128");
      }
      KYTKIN_RETURN_IF_ERROR(
          ParseField(kv.value(), "fields." + key, &d.fields[static_cast<size_t>(n)]));
    }
  }
  KYTKIN_RETURN_IF_ERROR(ValidateDialect(d));
  return d;
}

Result<Dialect> LoadDialectFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IOError("cannot open dialect file " + path);
  std::ostringstream text;
  text << in.rdbuf();
  Result<Dialect> d = LoadDialectJson(text.str());
  if (!d.ok()) return Status::InvalidArgument(path + ": " + std::string(d.status().message()));
  return d;
}

}  // namespace kytkin::iso8583
