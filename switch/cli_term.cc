// kytkin term: a point-of-sale terminal simulator for operators and the README's first steps.
#include <iostream>
#include <random>
#include <string>

#include "core/amount.h"
#include "core/currency.h"
#include "core/pan.h"
#include "core/response_code.h"
#include "switch/cli.h"
#include "switch/cli_flags.h"
#include "switch/terminal_client.h"

namespace kytkin::cli {
namespace {

constexpr std::string_view kUsage =
    "usage: kytkin term <operation> [flags]\n"
    "\n"
    "Sends one ISO 8583 request to a running kytkin, as a shop terminal would, and prints the\n"
    "answer. Operations:\n"
    "  authorize   0100 hold                      purchase   0200 sale (DE 3 = 00)\n"
    "  refund      0200 refund (20)               balance    0200 balance inquiry (31)\n"
    "  activate    0200 gift card activation (72) reload     0200 gift card reload (21)\n"
    "  advice      0120 offline approval          completion 0220 capture of a hold\n"
    "  reverse     0400 reversal                  reversal-advice 0420\n"
    "  echo | signon | signoff                    0800 network management\n"
    "\n"
    "Reversals and completions name their original with --original-stan and --original-time\n"
    "(printed after every answer).\n\nflags:\n";

struct OperationName {
  std::string_view name;
  CardOperation operation;
};
constexpr OperationName kOperations[] = {
    {"authorize", CardOperation::kAuthorize},
    {"purchase", CardOperation::kPurchase},
    {"refund", CardOperation::kRefund},
    {"balance", CardOperation::kBalanceInquiry},
    {"activate", CardOperation::kActivate},
    {"reload", CardOperation::kReload},
    {"advice", CardOperation::kAuthorizationAdvice},
    {"completion", CardOperation::kFinancialAdvice},
    {"reverse", CardOperation::kReversal},
    {"reversal-advice", CardOperation::kReversalAdvice},
    {"echo", CardOperation::kEcho},
    {"signon", CardOperation::kSignOn},
    {"signoff", CardOperation::kSignOff},
};

int Fail(std::string_view message, int code = 2) {
  std::cerr << "kytkin term: " << message << "\n";
  return code;
}

std::string AmountText(std::string_view minor_digits, std::string_view currency_digits) {
  uint64_t minor = 0;
  for (char c : minor_digits) minor = minor * 10 + static_cast<uint64_t>(c - '0');
  uint16_t currency = 0;
  for (char c : currency_digits) currency = static_cast<uint16_t>(currency * 10 + (c - '0'));
  return Amount(static_cast<int64_t>(minor), currency).ToString();
}

}  // namespace

int RunTerm(Args args) {
  std::string host = "127.0.0.1:8583", dialect_name = "iso87-ascii", framing_name = "binary2";
  std::string pan, expiry, amount_text = "0", currency_text = "EUR";
  std::string original_time, original_mti;
  int64_t stan = 0, original_stan = 0, timeout_ms = 5000;
  bool pin = false, repeat = false;
  TerminalIdentity identity;
  FlagSet flags;
  flags.String("--host", &host, "kytkin's ISO 8583 listener, HOST:PORT");
  flags.String("--dialect", &dialect_name, "ISO 8583 dialect");
  flags.String("--framing", &framing_name, "binary2 | ascii4");
  flags.String("--pan", &pan, "card number (12-19 digits)");
  flags.String("--expiry", &expiry, "card expiry YYMM (DE 14); omitted when empty");
  flags.String("--amount", &amount_text, "amount in major units, e.g. 12.34");
  flags.String("--currency", &currency_text, "ISO 4217 code, alphabetic or numeric");
  flags.Bool("--pin", &pin, "the cardholder entered a PIN (sends a PIN block)");
  flags.Int("--stan", &stan, "system trace audit number (DE 11); 0 = random");
  flags.String("--terminal", &identity.terminal_id, "terminal id (DE 41)");
  flags.String("--merchant", &identity.merchant_id, "merchant id (DE 42)");
  flags.String("--acquirer", &identity.acquirer_id, "acquirer id (DE 32)");
  flags.String("--mcc", &identity.merchant_category, "merchant category code (DE 18)");
  flags.Int("--original-stan", &original_stan, "reverse/completion: the original's STAN");
  flags.String("--original-time", &original_time,
               "reverse/completion: the original's transmission time MMDDhhmmss (DE 7)");
  flags.String("--original-mti", &original_mti, "reverse/completion: the original's MTI");
  flags.Bool("--repeat", &repeat, "send an advice as a repeat (0121 / 0221 / 0421)");
  flags.Int("--timeout-ms", &timeout_ms, "how long to wait for the answer");

  std::vector<std::string_view> positional;
  if (Status s = flags.Parse(args, &positional); !s.ok()) return Fail(s.message());
  if (flags.help_requested() || positional.empty()) {
    std::cout << kUsage << flags.Help();
    return positional.empty() && !flags.help_requested() ? 2 : 0;
  }
  if (positional.size() != 1) return Fail("give exactly one operation");
  const OperationName* op = nullptr;
  for (const auto& o : kOperations) {
    if (o.name == positional[0]) op = &o;
  }
  if (op == nullptr) return Fail("unknown operation '" + std::string(positional[0]) + "'");

  auto colon = host.rfind(':');
  if (colon == std::string::npos) return Fail("--host: expected HOST:PORT");
  int port = std::atoi(host.c_str() + colon + 1);
  if (port <= 0 || port > 65535) return Fail("--host: bad port");
  const iso8583::Dialect* dialect = iso8583::FindDialect(dialect_name);
  if (dialect == nullptr) return Fail("--dialect: unknown dialect '" + dialect_name + "'");
  auto framing = iso8583::ParseFraming(framing_name);
  if (!framing.ok()) return Fail("--framing: " + std::string(framing.status().message()));

  std::optional<Currency> currency = FindCurrency(currency_text);
  if (!currency && !currency_text.empty() &&
      currency_text.find_first_not_of("0123456789") == std::string::npos) {
    currency = FindCurrency(static_cast<uint16_t>(std::stoi(currency_text)));
  }
  if (!currency) return Fail("--currency: unknown currency '" + currency_text + "'");
  auto amount = Amount::Parse(amount_text, currency->numeric);
  if (!amount.ok()) return Fail("--amount: " + std::string(amount.status().message()));

  TerminalRequest request;
  request.operation = op->operation;
  request.pan = pan;
  request.expiry_yymm = expiry;
  request.amount = *amount;
  request.pin_present = pin;
  request.repeat = repeat;
  if (stan == 0) stan = std::random_device{}() % 999999 + 1;
  if (stan < 1 || stan > 999999) return Fail("--stan: must be 1..999999");
  request.stan = static_cast<uint32_t>(stan);
  request.original.stan = static_cast<uint32_t>(original_stan);
  request.original.transmission_time = original_time;
  if (!original_mti.empty()) {
    request.original.mti = original_mti;
  } else if (op->operation == CardOperation::kReversal ||
             op->operation == CardOperation::kReversalAdvice) {
    request.original.mti = "0100";
  }
  bool network = op->operation == CardOperation::kEcho || op->operation == CardOperation::kSignOn ||
                 op->operation == CardOperation::kSignOff;
  bool names_original =
      op->operation == CardOperation::kReversal || op->operation == CardOperation::kReversalAdvice;
  if (!network && !names_original && pan.empty()) {
    return Fail("--pan is required for " + std::string(op->name));
  }

  iso8583::Message message(*dialect);
  if (Status s = BuildTerminalRequest(request, identity, message); !s.ok()) {
    return Fail(s.message());
  }
  auto connection = TerminalConnection::Connect(host.substr(0, colon), static_cast<uint16_t>(port),
                                                *dialect, *framing, static_cast<int>(timeout_ms));
  if (!connection.ok()) return Fail(connection.status().message(), 1);
  iso8583::Message response(*dialect);
  if (Status s = (*connection)->Exchange(message, response); !s.ok()) {
    return Fail(s.message(), 1);
  }

  std::string_view code_digits = response.Get(39);
  auto code = ParseResponseCode(code_digits);
  std::cout << response.mti() << " "
            << (code ? ResponseCodeName(*code) : std::string_view("unknown response code")) << " ("
            << code_digits << ")\n";
  if (response.Has(38)) std::cout << "  auth code  " << response.Get(38) << "\n";
  if (response.Has(37)) std::cout << "  RRN        " << response.Get(37) << "\n";
  std::cout << "  STAN       " << message.Get(11) << "   time " << message.Get(7) << "\n";
  if (response.Has(4) && response.Has(49)) {
    std::cout << "  amount     " << AmountText(response.Get(4), response.Get(49)) << "\n";
  }
  if (response.Has(2)) std::cout << "  card       " << MaskDigits(response.Get(2)) << "\n";
  if (response.Has(54)) {
    auto balances = ParseAdditionalAmounts(response.Get(54));
    if (balances.ok()) {
      for (const auto& b : *balances) {
        std::cout << "  " << (b.amount_type == "02" ? "available  " : "balance    ")
                  << Amount(b.minor_units, b.currency).ToString() << "\n";
      }
    }
  }
  if (code && IsApproval(*code) &&
      (op->operation == CardOperation::kAuthorize || op->operation == CardOperation::kPurchase)) {
    std::cout << "  reverse it: kytkin term reverse --original-mti " << message.mti()
              << " --original-stan " << message.Get(11) << " --original-time " << message.Get(7)
              << "\n";
  }
  return code && IsApproval(*code) ? 0 : 3;
}

}  // namespace kytkin::cli
