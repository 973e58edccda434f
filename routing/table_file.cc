#include "routing/table_file.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <iterator>

#include "core/currency.h"

namespace kytkin::routing {
namespace {

// The key=value arguments of one line, in order.
class Args {
 public:
  // Splits "k=v" tokens; rejects tokens without '=', empty keys or values, repeated keys and
  // keys not in `allowed`.
  Status Parse(const std::vector<std::string_view>& tokens, size_t first,
               std::initializer_list<std::string_view> allowed) {
    for (size_t i = first; i < tokens.size(); ++i) {
      const std::string_view token = tokens[i];
      const size_t eq = token.find('=');
      if (eq == std::string_view::npos || eq == 0 || eq + 1 == token.size()) {
        return Status::InvalidArgument("expected key=value, got '" + std::string(token) + "'");
      }
      const std::string_view key = token.substr(0, eq);
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        return Status::InvalidArgument("unknown key '" + std::string(key) + "'");
      }
      if (Get(key)) return Status::InvalidArgument("key '" + std::string(key) + "' repeated");
      pairs_.emplace_back(key, token.substr(eq + 1));
    }
    return Status::Ok();
  }

  std::optional<std::string_view> Get(std::string_view key) const {
    for (const auto& [k, v] : pairs_) {
      if (k == key) return v;
    }
    return std::nullopt;
  }

  Result<std::string_view> Require(std::string_view key) const {
    if (auto v = Get(key)) return *v;
    return Status::InvalidArgument("missing " + std::string(key) + "=");
  }

 private:
  std::vector<std::pair<std::string_view, std::string_view>> pairs_;
};

std::vector<std::string_view> Split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    const size_t end = text.find(separator, start);
    parts.push_back(text.substr(start, end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return parts;
}

std::vector<std::string_view> Tokens(std::string_view line) {
  std::vector<std::string_view> tokens;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    const size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) tokens.push_back(line.substr(start, i - start));
  }
  return tokens;
}

template <typename Int>
Result<Int> ParseUnsigned(std::string_view text, std::string_view what) {
  Int value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || text.front() == '+') {
    return Status::InvalidArgument(std::string(what) + " '" + std::string(text) +
                                   "' is not a whole number in range");
  }
  return value;
}

Result<uint16_t> ParseCurrency(std::string_view text) {
  std::optional<Currency> currency;
  if (!text.empty() && text.front() >= '0' && text.front() <= '9') {
    auto numeric = ParseUnsigned<uint16_t>(text, "currency");
    if (numeric.ok()) currency = FindCurrency(*numeric);
  } else {
    currency = FindCurrency(text);
  }
  if (!currency) return Status::InvalidArgument("unknown currency '" + std::string(text) + "'");
  return currency->numeric;
}

Result<ResponseCode> ParseCode(std::string_view text) {
  if (auto code = ParseResponseCode(text)) return *code;
  return Status::InvalidArgument("unknown response code '" + std::string(text) + "'");
}

Result<int64_t> ParseAmountMinor(std::string_view key, std::string_view text, uint16_t currency) {
  auto amount = Amount::Parse(text, currency);
  if (!amount.ok()) {
    return Status::InvalidArgument(std::string(key) + ": " +
                                   std::string(amount.status().message()));
  }
  return amount->minor_units();
}

Status ParseUnknownBin(const std::vector<std::string_view>& tokens, TableSpec& spec) {
  if (tokens.size() != 2) return Status::InvalidArgument("expected: unknown_bin 15|92");
  auto code = ParseCode(tokens[1]);
  if (!code.ok()) return code.status();
  if (*code != ResponseCode::kNoSuchIssuer && *code != ResponseCode::kUnableToRoute) {
    return Status::InvalidArgument("unknown_bin must be 15 or 92");
  }
  spec.unknown_bin_response = *code;
  return Status::Ok();
}

Status ParseIssuer(const std::vector<std::string_view>& tokens, uint32_t line, TableSpec& spec) {
  if (tokens.size() < 3) {
    return Status::InvalidArgument("expected: issuer <id> on_us | primary=<link> [backup=<link>]");
  }
  Issuer issuer;
  issuer.id = tokens[1];
  issuer.line = line;
  if (tokens[2] == "on_us") {
    if (tokens.size() != 3) return Status::InvalidArgument("an on_us issuer takes no links");
    issuer.on_us = true;
  } else {
    Args args;
    KYTKIN_RETURN_IF_ERROR(args.Parse(tokens, 2, {"primary", "backup"}));
    auto primary = args.Require("primary");
    if (!primary.ok()) return primary.status();
    issuer.primary_link = *primary;
    issuer.backup_link = args.Get("backup").value_or("");
  }
  spec.issuers.push_back(std::move(issuer));
  return Status::Ok();
}

struct PendingStandIn {
  std::string issuer;
  StandInRule rule;
};

Status ParseStandIn(const std::vector<std::string_view>& tokens, uint32_t line,
                    std::vector<PendingStandIn>& pending) {
  if (tokens.size() < 2) return Status::InvalidArgument("expected: standin <issuer> key=value...");
  Args args;
  KYTKIN_RETURN_IF_ERROR(args.Parse(tokens, 2,
                                    {"currency", "max_transaction", "max_daily_amount",
                                     "max_daily_count", "processing_codes", "response"}));
  StandInRule rule;
  rule.enabled = true;
  rule.line = line;
  auto currency_text = args.Require("currency");
  if (!currency_text.ok()) return currency_text.status();
  auto currency = ParseCurrency(*currency_text);
  if (!currency.ok()) return currency.status();
  rule.currency = *currency;
  for (auto [key, field] : {std::pair{"max_transaction", &rule.max_transaction_minor},
                            std::pair{"max_daily_amount", &rule.max_daily_minor}}) {
    auto text = args.Require(key);
    if (!text.ok()) return text.status();
    auto minor = ParseAmountMinor(key, *text, rule.currency);
    if (!minor.ok()) return minor.status();
    *field = *minor;
  }
  auto count_text = args.Require("max_daily_count");
  if (!count_text.ok()) return count_text.status();
  auto count = ParseUnsigned<uint32_t>(*count_text, "max_daily_count");
  if (!count.ok()) return count.status();
  rule.max_daily_count = *count;
  auto codes = args.Require("processing_codes");
  if (!codes.ok()) return codes.status();
  for (std::string_view code : Split(*codes, ',')) rule.processing_codes.emplace_back(code);
  if (auto response = args.Get("response")) {
    auto code = ParseCode(*response);
    if (!code.ok()) return code.status();
    rule.decline_response = *code;
  }
  pending.push_back({std::string(tokens[1]), std::move(rule)});
  return Status::Ok();
}

Status ParseBin(const std::vector<std::string_view>& tokens, uint32_t line, TableSpec& spec) {
  if (tokens.size() != 3) return Status::InvalidArgument("expected: bin <low>[-<high>] <issuer>");
  BinEntry entry;
  const std::string_view range = tokens[1];
  const size_t dash = range.find('-');
  entry.range.low = range.substr(0, dash);
  entry.range.high = dash == std::string_view::npos ? range : range.substr(dash + 1);
  entry.range.line = line;
  entry.issuer = tokens[2];
  spec.bins.push_back(std::move(entry));
  return Status::Ok();
}

Status ParseRule(const std::vector<std::string_view>& tokens, uint32_t line, TableSpec& spec) {
  if (tokens.size() < 3) {
    return Status::InvalidArgument(
        "expected: rule <name> [conditions] route=<issuer>|decline=<code>");
  }
  Args args;
  KYTKIN_RETURN_IF_ERROR(args.Parse(tokens, 2,
                                    {"channel", "mcc", "currency", "amount_min", "amount_max",
                                     "bin_issuer", "route", "decline"}));
  Rule rule;
  rule.name = tokens[1];
  rule.line = line;
  if (auto channels = args.Get("channel")) {
    rule.channels = 0;
    for (std::string_view name : Split(*channels, ',')) {
      auto channel = ParseChannel(name);
      if (!channel) {
        return Status::InvalidArgument("unknown channel '" + std::string(name) +
                                       "' (pos, ecommerce, atm, moto)");
      }
      rule.channels |= ChannelBit(*channel);
    }
  }
  if (auto mccs = args.Get("mcc")) {
    for (std::string_view item : Split(*mccs, ',')) {
      const size_t dash = item.find('-');
      auto low = ParseUnsigned<uint16_t>(item.substr(0, dash), "merchant category");
      if (!low.ok()) return low.status();
      auto high = dash == std::string_view::npos
                      ? low
                      : ParseUnsigned<uint16_t>(item.substr(dash + 1), "merchant category");
      if (!high.ok()) return high.status();
      rule.mccs.push_back({*low, *high});
    }
  }
  const auto amount_min = args.Get("amount_min");
  const auto amount_max = args.Get("amount_max");
  if (auto currency_text = args.Get("currency")) {
    auto currency = ParseCurrency(*currency_text);
    if (!currency.ok()) return currency.status();
    rule.amount_currency = *currency;
    if (!amount_min && !amount_max) {
      return Status::InvalidArgument("currency= is only for amount_min= / amount_max=");
    }
  } else if (amount_min || amount_max) {
    return Status::InvalidArgument("amount_min= / amount_max= need currency=");
  }
  if (amount_min) {
    auto minor = ParseAmountMinor("amount_min", *amount_min, rule.amount_currency);
    if (!minor.ok()) return minor.status();
    rule.amount_min_minor = *minor;
  }
  if (amount_max) {
    auto minor = ParseAmountMinor("amount_max", *amount_max, rule.amount_currency);
    if (!minor.ok()) return minor.status();
    rule.amount_max_minor = *minor;
  }
  rule.bin_issuer = args.Get("bin_issuer").value_or("");
  rule.route_to = args.Get("route").value_or("");
  if (auto decline = args.Get("decline")) {
    auto code = ParseCode(*decline);
    if (!code.ok()) return code.status();
    rule.decline = *code;
  }
  if (rule.route_to.empty() == !rule.decline.has_value()) {
    return Status::InvalidArgument("a rule needs exactly one of route= and decline=");
  }
  spec.rules.push_back(std::move(rule));
  return Status::Ok();
}

Status WithLine(uint32_t line, const Status& status) {
  return Status::InvalidArgument("line " + std::to_string(line) + ": " +
                                 std::string(status.message()));
}

}  // namespace

Result<TableSpec> ParseTableSpec(std::string_view text) {
  TableSpec spec;
  std::vector<PendingStandIn> stand_ins;
  bool unknown_bin_seen = false;
  uint32_t line_number = 0;
  size_t start = 0;
  while (start < text.size()) {
    ++line_number;
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > kTableLineBytesMax) {
      return Status::InvalidArgument("line " + std::to_string(line_number) + ": longer than " +
                                     std::to_string(kTableLineBytesMax) + " bytes");
    }
    if (const size_t hash = line.find('#'); hash != std::string_view::npos) {
      line = line.substr(0, hash);
    }
    const std::vector<std::string_view> tokens = Tokens(line);
    if (tokens.empty()) continue;
    const std::string_view directive = tokens[0];
    Status status;
    if (directive == "unknown_bin") {
      if (unknown_bin_seen) {
        status = Status::InvalidArgument("unknown_bin given twice");
      } else {
        unknown_bin_seen = true;
        status = ParseUnknownBin(tokens, spec);
      }
    } else if (directive == "issuer") {
      status = ParseIssuer(tokens, line_number, spec);
    } else if (directive == "standin") {
      status = ParseStandIn(tokens, line_number, stand_ins);
    } else if (directive == "bin") {
      status = ParseBin(tokens, line_number, spec);
    } else if (directive == "rule") {
      status = ParseRule(tokens, line_number, spec);
    } else {
      status = Status::InvalidArgument("unknown directive '" + std::string(directive) +
                                       "' (unknown_bin, issuer, standin, bin, rule)");
    }
    if (!status.ok()) return WithLine(line_number, status);
  }
  // Stand-in lines may come before or after their issuer.
  for (PendingStandIn& pending : stand_ins) {
    auto it = std::find_if(spec.issuers.begin(), spec.issuers.end(),
                           [&](const Issuer& i) { return i.id == pending.issuer; });
    if (it == spec.issuers.end()) {
      return WithLine(pending.rule.line, Status::InvalidArgument("standin for unknown issuer '" +
                                                                 pending.issuer + "'"));
    }
    if (it->stand_in.enabled) {
      return WithLine(
          pending.rule.line,
          Status::InvalidArgument("second standin for issuer " + pending.issuer +
                                  " (first at line " + std::to_string(it->stand_in.line) + ")"));
    }
    it->stand_in = std::move(pending.rule);
  }
  return spec;
}

Result<RoutingTable> ParseRoutingTable(std::string_view text, const TableLimits& limits) {
  auto spec = ParseTableSpec(text);
  if (!spec.ok()) return spec.status();
  return RoutingTable::Build(std::move(spec).value(), limits);
}

Result<RoutingTable> LoadRoutingTableFile(const std::string& path, const TableLimits& limits) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return Status::IOError(path + ": cannot open the routing table");
  std::string text;
  char buffer[64 * 1024];
  while (file.read(buffer, sizeof buffer) || file.gcount() > 0) {
    if (text.size() + static_cast<size_t>(file.gcount()) > kTableFileBytesMax) {
      return Status::InvalidArgument(path + ": larger than " + std::to_string(kTableFileBytesMax) +
                                     " bytes");
    }
    text.append(buffer, static_cast<size_t>(file.gcount()));
  }
  if (file.bad()) return Status::IOError(path + ": read error");
  auto table = ParseRoutingTable(text, limits);
  if (!table.ok()) {
    return Status::InvalidArgument(path + ": " + std::string(table.status().message()));
  }
  return table;
}

}  // namespace kytkin::routing
