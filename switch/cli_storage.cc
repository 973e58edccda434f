// kytkin accounts | journal | ledger: operator commands on the ledger store (storage/).
//
// Every command takes --data-dir DIR (default ./data; the RocksDB store is DIR/ledger) and
// --key-file FILE (default DIR/card.key: the 32-byte HMAC key that turns PANs into card tokens,
// created with mode 0600 on first use). The store is single-process: these commands fail with a
// lock error while `kytkin serve` has the same data dir open.
#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "core/amount.h"
#include "core/currency.h"
#include "core/pan.h"
#include "core/response_code.h"
#include "core/text.h"
#include "storage/store.h"
#include "switch/cli.h"
#include "switch/cli_flags.h"
#include "switch/settlement.h"

namespace kytkin::cli {
namespace {

using storage::Account;
using storage::Card;
using storage::Store;

constexpr size_t kImportChunkRows = 1000;       // rows per durable write
constexpr size_t kImportProgressRows = 10'000;  // a progress line every this many rows
constexpr size_t kCsvLineBytesMax = 4096;       // longer lines are an error, not a buffer

int Fail(std::string_view command, std::string_view message, int code = 1) {
  std::cerr << "kytkin " << command << ": " << message << "\n";
  return code;
}

struct StoreFlags {
  std::string data_dir = "./data";
  std::string key_file;  // default DATA_DIR/card.key

  void Register(FlagSet& flags) {
    flags.String("--data-dir", &data_dir, "data directory (the ledger is DATA_DIR/ledger)");
    flags.String("--key-file", &key_file,
                 "card key file, 32 bytes (default DATA_DIR/card.key, created 0600 if absent)");
  }

  // Opens the store; `create` makes the data dir when it is missing, else it must exist.
  Result<std::unique_ptr<Store>> Open(bool create) const {
    std::error_code ec;
    if (!std::filesystem::is_directory(data_dir, ec)) {
      if (!create) return Status::NotFound("data dir " + data_dir + " does not exist");
      std::filesystem::create_directories(data_dir, ec);
      if (ec) return Status::IOError("cannot create data dir " + data_dir + ": " + ec.message());
    }
    auto key = storage::LoadOrCreateCardKey(key_file.empty() ? data_dir + "/card.key" : key_file);
    if (!key.ok()) return key.status();
    storage::StoreOptions options;
    options.data_dir = data_dir + "/ledger";
    options.card_key = *key;
    options.sweep_interval_ms = 0;  // a tool must not expire holds as a side effect
    return Store::Open(options);
  }
};

std::string Major(int64_t minor, uint16_t currency) {
  return Amount(minor, currency).FormatMajor();
}

// Up to UINT64_MAX: the store's own accounts (issuer settlement, remote issuers' receivables)
// have 20-digit ids.
Result<uint64_t> ParseU64(std::string_view field, std::string_view text) {
  uint64_t v = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ec != std::errc() || ptr != end) {
    return Status::InvalidArgument(std::string(field) + ": want a positive integer");
  }
  return v;
}

// The fields of one account/card row, as text, from a CSV line or from flags.
struct RowText {
  std::string account_id, kind, currency, opening_balance, credit_limit, name, pan, expiry,
      card_status, single_limit, daily_limit, daily_count;
};

Result<int64_t> ParseMajor(std::string_view field, std::string_view text,
                           std::optional<uint16_t> currency) {
  if (text.empty()) return int64_t{0};
  if (!currency) return Status::InvalidArgument(std::string(field) + ": needs a currency");
  auto a = Amount::Parse(text, *currency);
  if (!a.ok()) return Status::InvalidArgument(std::string(field) + ": " + a.status().ToString());
  if (a->minor_units() < 0) return Status::InvalidArgument(std::string(field) + ": negative");
  return a->minor_units();
}

// Turns text into an import row; errors name the field and never contain the PAN.
Result<Store::ImportRow> BuildRow(const RowText& t) {
  Store::ImportRow row;
  auto id = ParseU64("account_id", t.account_id);
  if (!id.ok()) return id.status();
  std::optional<uint16_t> currency;
  if (!t.currency.empty()) {
    auto found = FindCurrencyCode(t.currency);
    if (!found) return Status::InvalidArgument("currency: unknown ISO 4217 code");
    currency = found->numeric;
  }
  if (!t.kind.empty()) {
    auto kind = storage::ParseAccountKind(t.kind);
    if (!kind) return Status::InvalidArgument("kind: unknown account kind");
    if (!currency) return Status::InvalidArgument("currency: required for a new account");
    Account a;
    a.id = *id;
    a.kind = *kind;
    a.currency = *currency;
    a.name = t.name;
    auto limit = ParseMajor("credit_limit", t.credit_limit, currency);
    if (!limit.ok()) return limit.status();
    a.credit_limit_minor = *limit;
    auto opening = ParseMajor("opening_balance", t.opening_balance, currency);
    if (!opening.ok()) return opening.status();
    row.opening_balance_minor = *opening;
    row.account = a;
  } else if (t.pan.empty()) {
    return Status::InvalidArgument("kind: a row needs an account kind, a pan, or both");
  }
  if (!t.pan.empty()) {
    auto pan = Pan::Parse(t.pan);
    if (!pan.ok()) return Status::InvalidArgument("pan: " + std::string(pan.status().message()));
    row.pan = *pan;
    Card& c = row.card;
    c.account_id = *id;
    if (t.expiry.size() != 4 || t.expiry.find_first_not_of("0123456789") != std::string::npos) {
      return Status::InvalidArgument("expiry: want YYMM");
    }
    c.expiry_year = 2000 + std::stoi(t.expiry.substr(0, 2));
    c.expiry_month = std::stoi(t.expiry.substr(2, 2));
    if (!t.card_status.empty()) {
      auto st = storage::ParseCardStatus(t.card_status);
      if (!st) return Status::InvalidArgument("card_status: unknown status");
      c.status = *st;
    }
    auto single = ParseMajor("single_limit", t.single_limit, currency);
    if (!single.ok()) return single.status();
    c.single_amount_max_minor = *single;
    auto daily = ParseMajor("daily_limit", t.daily_limit, currency);
    if (!daily.ok()) return daily.status();
    c.daily_amount_max_minor = *daily;
    if (!t.daily_count.empty()) {
      auto n = ParseU64("daily_count", t.daily_count);
      if (!n.ok()) return n.status();
      if (*n > UINT32_MAX) return Status::InvalidArgument("daily_count: too large");
      c.daily_count_max = static_cast<uint32_t>(*n);
    }
  }
  return row;
}

constexpr std::string_view kCsvColumns[] = {
    "account_id", "kind",   "currency",    "opening_balance", "credit_limit", "name",
    "pan",        "expiry", "card_status", "single_limit",    "daily_limit",  "daily_count"};

std::string* Column(RowText& t, std::string_view name) {
  if (name == "account_id") return &t.account_id;
  if (name == "kind") return &t.kind;
  if (name == "currency") return &t.currency;
  if (name == "opening_balance") return &t.opening_balance;
  if (name == "credit_limit") return &t.credit_limit;
  if (name == "name") return &t.name;
  if (name == "pan") return &t.pan;
  if (name == "expiry") return &t.expiry;
  if (name == "card_status") return &t.card_status;
  if (name == "single_limit") return &t.single_limit;
  if (name == "daily_limit") return &t.daily_limit;
  if (name == "daily_count") return &t.daily_count;
  return nullptr;
}

constexpr std::string_view kAccountsUsage =
    "usage: kytkin accounts import FILE | create | show | block [flags]\n"
    "\n"
    "  import FILE  CSV with a header row naming any of the columns\n"
    "               account_id,kind,currency,opening_balance,credit_limit,name,pan,expiry,\n"
    "               card_status,single_limit,daily_limit,daily_count\n"
    "               A row with a kind creates an account (opening_balance is a transfer from\n"
    "               the issuer settlement account); a row with a pan adds a card (expiry YYMM)\n"
    "               to that account or to an existing one. Amounts are in major units (12.34).\n"
    "               Each row applies whole or not at all; a bad row is reported with its line\n"
    "               number and the import goes on (exit 1 at the end).\n"
    "  create       the same fields as flags: --id --kind --currency --balance --credit-limit\n"
    "               --name [--pan --expiry --card-status --single-limit --daily-limit\n"
    "               --daily-count]\n"
    "  show         --id N | --pan PAN | --token HEX: the account (and card) as JSON\n"
    "  block        --id N [--status blocked|open|closed] or --pan PAN | --token HEX\n"
    "               [--status blocked|lost|stolen|active|...]\n"
    "\nflags:\n";

int AccountsImport(const StoreFlags& sf, const std::string& path) {
  std::ifstream in(path);
  if (!in) return Fail("accounts import", "cannot read " + path);
  auto store = sf.Open(true);
  if (!store.ok()) return Fail("accounts import", store.status().ToString());

  std::string line;
  size_t line_no = 0;
  std::vector<std::string> header;
  while (header.empty() && std::getline(in, line)) {
    ++line_no;
    if (line.empty() || line[0] == '#') continue;
    auto h = SplitCsvLine(line);
    if (!h.ok())
      return Fail("accounts import", "line " + std::to_string(line_no) +
                                         ": header: " + std::string(h.status().message()));
    header = *h;
    RowText probe;
    for (const auto& name : header) {
      if (!Column(probe, name)) {
        std::string known;
        for (std::string_view column : kCsvColumns) {
          if (!known.empty()) known += ", ";
          known += column;
        }
        return Fail("accounts import", "line " + std::to_string(line_no) + ": unknown column '" +
                                           name + "' (known: " + known + ")");
      }
    }
    if (std::find(header.begin(), header.end(), "account_id") == header.end()) {
      return Fail("accounts import", "header: the account_id column is required");
    }
  }
  if (header.empty()) return Fail("accounts import", path + ": no header row");

  size_t rows = 0, imported = 0, failed = 0;
  std::vector<Store::ImportRow> chunk;
  std::vector<size_t> chunk_lines;
  const auto start = std::chrono::steady_clock::now();
  auto bad = [&](size_t at, std::string_view why) {
    ++failed;
    std::cerr << path << ":" << at << ": " << why << "\n";
  };
  auto flush = [&]() -> bool {
    if (chunk.empty()) return true;
    auto results = (*store)->Import(chunk);
    if (!results.ok()) {
      Fail("accounts import", results.status().ToString());
      return false;
    }
    for (size_t i = 0; i < results->size(); ++i) {
      if ((*results)[i].ok()) {
        ++imported;
      } else {
        bad(chunk_lines[i], (*results)[i].ToString());
      }
    }
    chunk.clear();
    chunk_lines.clear();
    return true;
  };
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty() || line == "\r" || line[0] == '#') continue;
    ++rows;
    if (line.size() > kCsvLineBytesMax) {
      bad(line_no, "line longer than 4096 bytes");
      continue;
    }
    auto fields = SplitCsvLine(line);
    if (!fields.ok()) {
      bad(line_no, fields.status().message());
      continue;
    }
    if (fields->size() != header.size()) {
      bad(line_no, "has " + std::to_string(fields->size()) + " fields, the header " +
                       std::to_string(header.size()));
      continue;
    }
    RowText t;
    for (size_t i = 0; i < header.size(); ++i) *Column(t, header[i]) = (*fields)[i];
    auto row = BuildRow(t);
    if (!row.ok()) {
      bad(line_no, row.status().message());
      continue;
    }
    chunk.push_back(std::move(row).value());
    chunk_lines.push_back(line_no);
    if (chunk.size() >= kImportChunkRows && !flush()) return 1;
    if (rows % kImportProgressRows == 0) {
      const double s =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::cerr << "accounts import: " << rows << " rows read ("
                << static_cast<long long>(rows / std::max(s, 1e-3)) << " rows/s)\n";
    }
  }
  if (!flush()) return 1;
  std::cout << "imported " << imported << " of " << rows << " rows";
  if (failed > 0) std::cout << ", " << failed << " failed (see stderr)";
  std::cout << "\n";
  return failed == 0 ? 0 : 1;
}

void PrintAccount(const Account& a) {
  std::cout << "{\"account_id\":" << a.id << ",\"kind\":" << JsonQuoted(AccountKindName(a.kind))
            << ",\"currency\":" << a.currency
            << ",\"status\":" << JsonQuoted(AccountStatusName(a.status))
            << ",\"name\":" << JsonQuoted(a.name)
            << ",\"balance\":" << JsonQuoted(Major(a.balance(), a.currency))
            << ",\"available\":" << JsonQuoted(Major(a.available(), a.currency))
            << ",\"debits_pending\":" << JsonQuoted(Major(a.debits_pending, a.currency))
            << ",\"credit_limit\":" << JsonQuoted(Major(a.credit_limit_minor, a.currency)) << "}\n";
}

void PrintCard(const Card& c) {
  char expiry[8];
  std::snprintf(expiry, sizeof expiry, "%02d%02d", c.expiry_year % 100, c.expiry_month);
  std::cout << "{\"card_token\":" << JsonQuoted(c.token)
            << ",\"masked_pan\":" << JsonQuoted(c.masked_pan) << ",\"account_id\":" << c.account_id
            << ",\"expiry\":\"" << expiry
            << "\",\"status\":" << JsonQuoted(CardStatusName(c.status))
            << ",\"single_limit_minor\":" << c.single_amount_max_minor
            << ",\"daily_limit_minor\":" << c.daily_amount_max_minor
            << ",\"daily_count\":" << c.daily_count_max << "}\n";
}

}  // namespace

int RunAccounts(Args args) {
  if (args.empty()) return Fail("accounts", "which: import, create, show or block?", 2);
  const std::string_view sub = args[0];
  if (sub == "--help" || sub == "-h") {
    std::cout << kAccountsUsage;
    return 0;
  }
  FlagSet flags;
  StoreFlags sf;
  sf.Register(flags);
  RowText t;
  t.kind = "cardholder_debit";
  t.currency = "EUR";
  std::string token, status;
  flags.String("--id", &t.account_id, "account id");
  flags.String("--kind", &t.kind, "account kind (create)");
  flags.String("--currency", &t.currency, "ISO 4217 alpha or numeric (create)");
  flags.String("--balance", &t.opening_balance, "opening balance, major units (create)");
  flags.String("--credit-limit", &t.credit_limit, "credit limit, major units (create)");
  flags.String("--name", &t.name, "display name (create)");
  flags.String("--pan", &t.pan, "card number (create, show, block)");
  flags.String("--expiry", &t.expiry, "card expiry YYMM (create)");
  flags.String("--card-status", &t.card_status, "initial card status (create)");
  flags.String("--single-limit", &t.single_limit, "per-transaction limit (create)");
  flags.String("--daily-limit", &t.daily_limit, "daily amount limit (create)");
  flags.String("--daily-count", &t.daily_count, "daily count limit (create)");
  flags.String("--token", &token, "card token (show, block)");
  flags.String("--status", &status, "new status (block; default blocked)");
  std::vector<std::string_view> positional;
  if (Status s = flags.Parse(args.subspan(1), &positional); !s.ok()) {
    return Fail("accounts", s.message(), 2);
  }
  if (flags.help_requested()) {
    std::cout << kAccountsUsage << flags.Help();
    return 0;
  }
  const std::string command = "accounts " + std::string(sub);
  if (sub == "import") {
    if (positional.size() != 1) return Fail(command, "want exactly one FILE", 2);
    return AccountsImport(sf, std::string(positional[0]));
  }
  if (!positional.empty()) return Fail(command, "unexpected argument", 2);
  if (sub == "create") {
    if (!flags.Seen("--id")) return Fail(command, "--id is required", 2);
    if (!flags.Seen("--pan")) t.expiry.clear();
    auto row = BuildRow(t);
    if (!row.ok()) return Fail(command, row.status().message(), 2);
    auto store = sf.Open(true);
    if (!store.ok()) return Fail(command, store.status().ToString());
    auto result = (*store)->Import({*row});
    if (!result.ok()) return Fail(command, result.status().ToString());
    if (!(*result)[0].ok()) return Fail(command, (*result)[0].ToString());
    auto account = (*store)->GetAccount(*ParseU64("id", t.account_id));
    if (account.ok()) PrintAccount(*account);
    if (row->pan) {
      auto card = (*store)->GetCard((*store)->CardToken(*row->pan));
      if (card.ok()) PrintCard(*card);
    }
    return 0;
  }
  if (sub != "show" && sub != "block") {
    return Fail("accounts", "unknown subcommand '" + std::string(sub) + "'", 2);
  }
  const int selectors = flags.Seen("--id") + flags.Seen("--pan") + flags.Seen("--token");
  if (selectors != 1) return Fail(command, "give exactly one of --id, --pan, --token", 2);
  auto store = sf.Open(false);
  if (!store.ok()) return Fail(command, store.status().ToString());
  if (!t.pan.empty()) {
    auto pan = Pan::Parse(t.pan);
    if (!pan.ok()) return Fail(command, "--pan: " + std::string(pan.status().message()), 2);
    token = (*store)->CardToken(*pan);
  }
  if (sub == "show") {
    uint64_t id = 0;
    if (!token.empty()) {
      auto card = (*store)->GetCard(token);
      if (!card.ok()) return Fail(command, card.status().ToString());
      id = card->account_id;
      auto account = (*store)->GetAccount(id);
      if (account.ok()) PrintAccount(*account);
      PrintCard(*card);
      return 0;
    }
    auto parsed = ParseU64("--id", t.account_id);
    if (!parsed.ok()) return Fail(command, parsed.status().message(), 2);
    auto account = (*store)->GetAccount(*parsed);
    if (!account.ok()) return Fail(command, account.status().ToString());
    PrintAccount(*account);
    return 0;
  }
  // block
  if (!token.empty()) {
    auto st = storage::ParseCardStatus(status.empty() ? "blocked" : status);
    if (!st) return Fail(command, "--status: unknown card status", 2);
    Status s = (*store)->SetCardStatus(token, *st);
    if (!s.ok()) return Fail(command, s.ToString());
    auto card = (*store)->GetCard(token);
    if (card.ok()) PrintCard(*card);
    return 0;
  }
  auto parsed = ParseU64("--id", t.account_id);
  if (!parsed.ok()) return Fail(command, parsed.status().message(), 2);
  auto st = storage::ParseAccountStatus(status.empty() ? "blocked" : status);
  if (!st) return Fail(command, "--status: unknown account status", 2);
  Status s = (*store)->SetAccountStatus(*parsed, *st);
  if (!s.ok()) return Fail(command, s.ToString());
  auto account = (*store)->GetAccount(*parsed);
  if (account.ok()) PrintAccount(*account);
  return 0;
}

namespace {

constexpr std::string_view kJournalUsage =
    "usage: kytkin journal export [--from N] [--to N] [--format jsonl|csv] [--out FILE]\n"
    "       kytkin journal verify\n"
    "\n"
    "  export  records from..to (inclusive sequence numbers; --to 0 = the end), one per line.\n"
    "          Records carry the masked PAN and the card token, never the clear PAN.\n"
    "  verify  recomputes every record's SHA-256, follows the hash chain and checks the stored\n"
    "          head; exit 1 naming the first violations.\n"
    "\nflags:\n";

constexpr std::string_view kJournalCsvHeader =
    "sequence,time_unix_us,channel,operation,mti,terminal_id,merchant_id,acquirer_id,stan,rrn,"
    "masked_pan,card_token,amount_minor,currency,route,response_code,reason,auth_code,"
    "transfer_id,latency_us,request_key,hash";

// ,"approved_minor":N for a partial approval (the issuer approved less than the amount).
std::string ApprovedMinorJson(const storage::JournalRecord& j) {
  if (j.approved_amount.currency() == 0) return "";
  return ",\"approved_minor\":" + std::to_string(j.approved_amount.minor_units());
}

void WriteRecord(std::ostream& out, const storage::JournalRecord& j, bool csv) {
  const std::string hash = [&] {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string h;
    for (char c : j.hash) {
      h += kHex[(static_cast<unsigned char>(c) >> 4) & 0xf];
      h += kHex[static_cast<unsigned char>(c) & 0xf];
    }
    return h;
  }();
  const std::string_view rc = ResponseCodeDigits(j.response_code);
  if (csv && j.operation == storage::Operation::kSettleChunk) {
    // A settlement chunk: a row per item, as a single item's record would be (the record's
    // sequence and hash on each; request_key names the item as the channels do).
    for (const storage::SettlementItemRecord& item : j.settlement_items) {
      out << j.sequence << ',' << j.time_unix_us << ',' << ChannelName(j.channel) << ','
          << OperationName(item.operation) << ',' << CsvField(j.mti) << ','
          << CsvField(j.terminal_id) << ',' << CsvField(j.merchant_id) << ','
          << CsvField(j.acquirer_id) << ",," << CsvField(item.rrn) << ','
          << CsvField(item.masked_pan) << ",," << item.amount_minor << ',' << j.amount.currency()
          << ',' << CsvField(j.route) << ',' << ResponseCodeDigits(item.response_code) << ','
          << ReasonName(item.reason) << ",," << item.transfer_id << ',' << j.latency_us << ','
          << CsvField(settlement::ItemKey(j.settlement_batch_id, item.number)) << ',' << hash
          << '\n';
    }
    return;
  }
  if (csv) {
    out << j.sequence << ',' << j.time_unix_us << ',' << ChannelName(j.channel) << ','
        << OperationName(j.operation) << ',' << CsvField(j.mti) << ',' << CsvField(j.terminal_id)
        << ',' << CsvField(j.merchant_id) << ',' << CsvField(j.acquirer_id) << ','
        << CsvField(j.stan) << ',' << CsvField(j.rrn) << ',' << CsvField(j.masked_pan) << ','
        << j.card_token << ',' << j.amount.minor_units() << ',' << j.amount.currency() << ','
        << CsvField(j.route) << ',' << rc << ',' << ReasonName(j.reason) << ',' << j.auth_code
        << ',' << j.transfer_id << ',' << j.latency_us << ',' << CsvField(j.request_key) << ','
        << hash << '\n';
    return;
  }
  out << "{\"sequence\":" << j.sequence << ",\"time_unix_us\":" << j.time_unix_us
      << ",\"channel\":" << JsonQuoted(ChannelName(j.channel))
      << ",\"operation\":" << JsonQuoted(OperationName(j.operation))
      << ",\"mti\":" << JsonQuoted(j.mti) << ",\"terminal_id\":" << JsonQuoted(j.terminal_id)
      << ",\"merchant_id\":" << JsonQuoted(j.merchant_id)
      << ",\"acquirer_id\":" << JsonQuoted(j.acquirer_id) << ",\"stan\":" << JsonQuoted(j.stan)
      << ",\"rrn\":" << JsonQuoted(j.rrn) << ",\"masked_pan\":" << JsonQuoted(j.masked_pan)
      << ",\"card_token\":" << JsonQuoted(j.card_token)
      << ",\"amount_minor\":" << j.amount.minor_units() << ",\"currency\":" << j.amount.currency()
      << ApprovedMinorJson(j) << ",\"route\":" << JsonQuoted(j.route)
      << ",\"issuer_id\":" << JsonQuoted(j.issuer_id)
      << ",\"issuer_link\":" << JsonQuoted(j.issuer_link) << ",\"issuer_stan\":" << j.issuer_stan
      << ",\"issuer_time\":" << JsonQuoted(j.issuer_time) << ",\"response_code\":\"" << rc << "\""
      << ",\"reason\":" << JsonQuoted(ReasonName(j.reason))
      << ",\"auth_code\":" << JsonQuoted(j.auth_code) << ",\"transfer_id\":" << j.transfer_id
      << ",\"latency_us\":" << j.latency_us << ",\"request_key\":" << JsonQuoted(j.request_key);
  if (j.operation == storage::Operation::kSettleChunk) {
    // Every item the chunk decided, with what it asked for and what became of it.
    out << ",\"settlement_batch_id\":" << JsonQuoted(j.settlement_batch_id)
        << ",\"settlement_items\":[";
    for (size_t i = 0; i < j.settlement_items.size(); ++i) {
      const storage::SettlementItemRecord& item = j.settlement_items[i];
      out << (i == 0 ? "" : ",") << "{\"number\":" << item.number
          << ",\"operation\":" << JsonQuoted(OperationName(item.operation))
          << ",\"response_code\":\"" << ResponseCodeDigits(item.response_code) << '"'
          << ",\"reason\":" << JsonQuoted(ReasonName(item.reason))
          << ",\"amount_minor\":" << item.amount_minor
          << ",\"approved_minor\":" << item.approved_minor
          << ",\"transfer_id\":" << item.transfer_id
          << ",\"remembered\":" << (item.remembered ? "true" : "false")
          << ",\"rrn\":" << JsonQuoted(item.rrn)
          << ",\"original_request_key\":" << JsonQuoted(item.original_request_key)
          << ",\"masked_pan\":" << JsonQuoted(item.masked_pan) << '}';
    }
    out << ']';
  }
  out << ",\"hash\":\"" << hash << "\"}\n";
}

}  // namespace

int RunJournal(Args args) {
  if (args.empty()) return Fail("journal", "which: export or verify?", 2);
  const std::string_view sub = args[0];
  if (sub == "--help" || sub == "-h") {
    std::cout << kJournalUsage;
    return 0;
  }
  FlagSet flags;
  StoreFlags sf;
  sf.Register(flags);
  int64_t from = 1, to = 0;
  std::string format = "jsonl", out_path;
  flags.Int("--from", &from, "first sequence number (export)");
  flags.Int("--to", &to, "last sequence number, 0 = the end (export)");
  flags.String("--format", &format, "jsonl or csv (export)");
  flags.String("--out", &out_path, "write to FILE instead of stdout (export)");
  if (Status s = flags.Parse(args.subspan(1)); !s.ok()) return Fail("journal", s.message(), 2);
  if (flags.help_requested()) {
    std::cout << kJournalUsage << flags.Help();
    return 0;
  }
  const std::string command = "journal " + std::string(sub);
  if (sub == "export") {
    if (format != "jsonl" && format != "csv") return Fail(command, "--format: jsonl or csv", 2);
    if (from < 0 || to < 0 || (to != 0 && to < from)) {
      return Fail(command, "--from/--to: want 0 <= from <= to (to 0 = the end)", 2);
    }
    auto store = sf.Open(false);
    if (!store.ok()) return Fail(command, store.status().ToString());
    std::ofstream file;
    if (!out_path.empty()) {
      file.open(out_path, std::ios::trunc);
      if (!file) return Fail(command, "cannot write " + out_path);
    }
    std::ostream& out = out_path.empty() ? std::cout : file;
    const bool csv = format == "csv";
    if (csv) out << kJournalCsvHeader << '\n';
    uint64_t n = 0;
    Status s = (*store)->ExportJournal(static_cast<uint64_t>(from), static_cast<uint64_t>(to),
                                       [&](const storage::JournalRecord& j) {
                                         WriteRecord(out, j, csv);
                                         ++n;
                                         return static_cast<bool>(out);
                                       });
    out.flush();
    if (!s.ok()) return Fail(command, s.ToString());
    if (!out) return Fail(command, "write failed");
    std::cerr << "exported " << n << " records\n";
    return 0;
  }
  if (sub == "verify") {
    auto store = sf.Open(false);
    if (!store.ok()) return Fail(command, store.status().ToString());
    auto report = (*store)->VerifyJournal();
    if (!report.ok()) return Fail(command, report.status().ToString());
    if (!report->ok()) {
      for (const auto& v : report->violations) std::cout << "VIOLATION: " << v << "\n";
      return Fail(command, "journal damaged: " + report->violations[0]);
    }
    std::cout << "journal ok: " << report->records << " records, hash chain intact, last sequence "
              << report->last_sequence << "\n";
    return 0;
  }
  return Fail("journal", "unknown subcommand '" + std::string(sub) + "'", 2);
}

int RunLedger(Args args) {
  if (args.empty() || args[0] != "verify") {
    if (!args.empty() && (args[0] == "--help" || args[0] == "-h")) {
      std::cout << "usage: kytkin ledger verify [--data-dir DIR] [--key-file FILE]\n\n"
                   "Checks per currency that balances sum to zero, that every account's totals\n"
                   "equal its transfers, that each pending transfer resolved at most once, and\n"
                   "that no debit account is below zero. Exit 1 naming each violation.\n";
      return 0;
    }
    return Fail("ledger", "usage: kytkin ledger verify [--data-dir DIR]", 2);
  }
  FlagSet flags;
  StoreFlags sf;
  sf.Register(flags);
  if (Status s = flags.Parse(args.subspan(1)); !s.ok()) return Fail("ledger", s.message(), 2);
  auto store = sf.Open(false);
  if (!store.ok()) return Fail("ledger verify", store.status().ToString());
  auto report = (*store)->VerifyLedger();
  if (!report.ok()) return Fail("ledger verify", report.status().ToString());
  if (!report->ok()) {
    for (const auto& v : report->violations) std::cout << "VIOLATION: " << v << "\n";
    return Fail("ledger verify", std::to_string(report->violations.size()) + " violation(s)");
  }
  std::cout << "ledger ok: " << report->accounts << " accounts, " << report->transfers
            << " transfers, " << report->pending_open
            << " holds open; balances sum to zero per currency\n";
  return 0;
}

}  // namespace kytkin::cli
