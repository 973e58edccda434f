#include "iso8583/message_json.h"

#include <boost/json.hpp>
#include <vector>

#include "core/pan.h"
#include "iso8583/tlv.h"

namespace kytkin::iso8583 {
namespace {

namespace json = boost::json;

constexpr size_t kTlvElementsMax = 256;  // DE 55 elements shown by decode
constexpr std::string_view kMasked = "<masked>";

std::span<const uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// "4111111111111111=2512..." -> "411111******1111=********": the PAN part as MaskDigits, then
// every character after the separator starred (expiry, service code and discretionary data).
std::string MaskTrack(std::string_view track) {
  size_t sep = track.find_first_of("=D");
  if (sep == std::string_view::npos) return MaskDigits(track);
  std::string out = MaskDigits(track.substr(0, sep));
  out += '=';
  out.append(track.size() - sep - 1, '*');
  return out;
}

std::string TagHex(uint32_t tag) {
  uint8_t bytes[4];
  const int n = TlvTagBytes(tag);
  for (int i = 0; i < n; ++i) bytes[i] = static_cast<uint8_t>(tag >> (8 * (n - 1 - i)));
  return HexEncode({bytes, static_cast<size_t>(n)});
}

// Builds the JSON array of the elements [*index, ...) at `depth`, advancing *index.
json::array TlvToJson(std::span<const TlvElement> elements, size_t* index, uint8_t depth) {
  json::array out;
  while (*index < elements.size() && elements[*index].depth == depth) {
    const TlvElement& e = elements[*index];
    ++*index;
    json::object o;
    o["tag"] = TagHex(e.tag);
    std::string_view name = EmvTagName(e.tag);
    if (!name.empty()) o["name"] = name;
    if (e.constructed) {
      o["tags"] = TlvToJson(elements, index, static_cast<uint8_t>(depth + 1));
    } else if (e.tag == 0x5A) {  // application PAN (BCD, maybe F-padded)
      std::string digits = HexEncode(e.value);
      while (!digits.empty() && digits.back() == 'F') digits.pop_back();
      o["value"] = MaskDigits(digits);
    } else if (e.tag == 0x57) {  // track 2 equivalent (BCD, separator D)
      std::string digits = HexEncode(e.value);
      while (!digits.empty() && digits.back() == 'F') digits.pop_back();
      o["value"] = MaskTrack(digits);
    } else {
      o["value"] = HexEncode(e.value);
    }
    out.push_back(std::move(o));
  }
  return out;
}

json::value FieldToJson(const Message& m, int field) {
  const std::string_view v = m.Get(field);
  switch (field) {
    case 2:
    case 34:
      return json::value(MaskDigits(v));
    case 35:
    case 36:
      return json::value(MaskTrack(v));
    case 45:
      return json::value(std::string(v.size(), '*'));
    case 52:
      return json::value(kMasked);
    case 55: {
      std::array<TlvElement, kTlvElementsMax> elements;
      Result<size_t> n = ParseTlv(AsBytes(v), elements);
      json::object o;
      if (!n.ok()) {
        // The raw bytes could hold a PAN (tag 5A); show only the error and the size.
        o["error"] = n.status().message();
        o["bytes"] = v.size();
        return o;
      }
      size_t index = 0;
      o["tags"] = TlvToJson(std::span<const TlvElement>(elements.data(), *n), &index, 0);
      return o;
    }
    default:
      break;
  }
  if (m.dialect().field(field).type == ContentType::kB) return json::value(HexEncode(AsBytes(v)));
  return json::value(v);
}

Status MemberError(std::string_view where, std::string_view why) {
  return Status::InvalidArgument(std::string(where) + ": " + std::string(why));
}

Status BuildTlv(const json::value& v, const std::string& where, TlvBuilder& builder) {
  if (!v.is_array()) return MemberError(where, "must be an array of {tag, value|tags}");
  size_t i = 0;
  for (const json::value& item : v.as_array()) {
    const std::string at = where + "[" + std::to_string(i++) + "]";
    if (!item.is_object()) return MemberError(at, "must be an object");
    const json::object& o = item.as_object();
    const json::value* tag_v = o.if_contains("tag");
    if (tag_v == nullptr || !tag_v->is_string())
      return MemberError(at, "\"tag\" hex string missing");
    Result<std::string> tag_bytes = HexDecode(tag_v->as_string());
    if (!tag_bytes.ok() || tag_bytes->empty() || tag_bytes->size() > 4) {
      return MemberError(at + ".tag", "must be 1-4 bytes of hex");
    }
    uint32_t tag = 0;
    for (char c : *tag_bytes) tag = (tag << 8) | static_cast<uint8_t>(c);
    if (const json::value* tags = o.if_contains("tags")) {
      Status s = builder.Open(tag);
      if (!s.ok()) return MemberError(at, s.message());
      KYTKIN_RETURN_IF_ERROR(BuildTlv(*tags, at + ".tags", builder));
      s = builder.Close();
      if (!s.ok()) return MemberError(at, s.message());
      continue;
    }
    const json::value* value_v = o.if_contains("value");
    if (value_v == nullptr || !value_v->is_string()) {
      return MemberError(at, "\"value\" hex string or \"tags\" missing");
    }
    Result<std::string> value = HexDecode(value_v->as_string());
    if (!value.ok()) return MemberError(at + ".value", value.status().message());
    Status s = builder.Add(tag, AsBytes(*value));
    if (!s.ok()) return MemberError(at, s.message());
  }
  return Status::Ok();
}

}  // namespace

std::string HexEncode(std::span<const uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) {
    out += kDigits[b >> 4];
    out += kDigits[b & 0xf];
  }
  return out;
}

Result<std::string> HexDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size() / 2);
  int high = -1;
  size_t high_offset = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    int v = -1;
    if (c >= '0' && c <= '9') v = c - '0';
    if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
    if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
    if (v < 0) {
      return Status::InvalidArgument("hex input: character " + std::to_string(i) +
                                     " is not a hex digit");
    }
    if (high < 0) {
      high = v;
      high_offset = i;
    } else {
      out += static_cast<char>((high << 4) | v);
      high = -1;
    }
  }
  if (high >= 0) {
    return Status::InvalidArgument("hex input: odd number of hex digits (last at character " +
                                   std::to_string(high_offset) + ")");
  }
  return out;
}

std::string MessageToJson(const Message& m) {
  json::object root;
  root["dialect"] = m.dialect().name;
  root["mti"] = m.mti();
  json::object fields;
  m.ForEachField(
      [&](int field, std::string_view) { fields[std::to_string(field)] = FieldToJson(m, field); });
  root["fields"] = std::move(fields);
  return json::serialize(root);
}

Status MessageFromJson(std::string_view json_text, Message& out) {
  json::error_code ec;
  json::value root = json::parse(json_text, ec);
  if (ec) return Status::InvalidArgument("JSON input: " + ec.message());
  if (!root.is_object()) return Status::InvalidArgument("JSON input: must be an object");
  const json::object& o = root.as_object();
  out.Reset();
  const json::value* mti = o.if_contains("mti");
  if (mti == nullptr || !mti->is_string()) return MemberError("mti", "missing or not a string");
  Status s = out.SetMti(std::string_view(mti->as_string()));
  if (!s.ok()) return MemberError("mti", s.message());
  const json::value* fields = o.if_contains("fields");
  if (fields == nullptr) return Status::Ok();
  if (!fields->is_object()) return MemberError("fields", "must be an object keyed by number");
  for (const auto& kv : fields->as_object()) {
    const std::string key(kv.key());
    const std::string where = "fields." + key;
    int field = 0;
    for (char c : key) {
      if (c < '0' || c > '9' || field > kFieldMax) return MemberError(where, "not a field number");
      field = field * 10 + (c - '0');
    }
    if (key.empty() || field < kFieldMin || field > kFieldMax) {
      return MemberError(where, "not a field number 2..128");
    }
    const json::value& v = kv.value();
    const FieldSpec& spec = out.dialect().field(field);
    if (v.is_int64() || v.is_uint64()) {
      if (v.is_int64() && v.as_int64() < 0) return MemberError(where, "negative number");
      s = out.SetUint(field, v.is_int64() ? static_cast<uint64_t>(v.as_int64()) : v.as_uint64());
    } else if (v.is_object() && spec.type == ContentType::kB) {
      const json::value* tags = v.as_object().if_contains("tags");
      if (tags == nullptr) return MemberError(where, "object needs \"tags\"");
      std::vector<uint8_t> buffer(spec.length_max);
      TlvBuilder builder(buffer);
      KYTKIN_RETURN_IF_ERROR(BuildTlv(*tags, where + ".tags", builder));
      Result<std::span<const uint8_t>> bytes = builder.Finish();
      if (!bytes.ok()) return MemberError(where, bytes.status().message());
      s = out.SetBytes(field, *bytes);
    } else if (v.is_string()) {
      if (spec.type == ContentType::kB) {
        Result<std::string> bytes = HexDecode(v.as_string());
        if (!bytes.ok()) return MemberError(where, bytes.status().message());
        s = out.Set(field, *bytes);
      } else {
        s = out.Set(field, std::string_view(v.as_string()));
      }
    } else {
      return MemberError(where, "must be a string, an integer, or {\"tags\": [...]} for b fields");
    }
    if (!s.ok()) return MemberError(where, s.message());
  }
  return Status::Ok();
}

}  // namespace kytkin::iso8583
