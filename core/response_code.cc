#include "core/response_code.h"

#include <array>

namespace kytkin {
namespace {

struct Entry {
  ResponseCode code;
  std::string_view digits;
  std::string_view name;
};

constexpr std::array<Entry, 23> kEntries = {{
    {ResponseCode::kApproved, "00", "approved"},
    {ResponseCode::kDoNotHonour, "05", "do not honour"},
    {ResponseCode::kPartialApproval, "10", "partial approval"},
    {ResponseCode::kInvalidTransaction, "12", "invalid transaction"},
    {ResponseCode::kInvalidAmount, "13", "invalid amount"},
    {ResponseCode::kInvalidCardNumber, "14", "invalid card number"},
    {ResponseCode::kNoSuchIssuer, "15", "no such issuer"},
    {ResponseCode::kUnableToLocateOriginal, "25", "unable to locate original"},
    {ResponseCode::kFormatError, "30", "format error"},
    {ResponseCode::kLostCard, "41", "lost card"},
    {ResponseCode::kStolenCard, "43", "stolen card"},
    {ResponseCode::kInsufficientFunds, "51", "insufficient funds"},
    {ResponseCode::kExpiredCard, "54", "expired card"},
    {ResponseCode::kIncorrectPin, "55", "incorrect PIN"},
    {ResponseCode::kNotPermittedToCardholder, "57", "transaction not permitted to cardholder"},
    {ResponseCode::kExceedsAmountLimit, "61", "exceeds amount limit"},
    {ResponseCode::kRestrictedCard, "62", "restricted card"},
    {ResponseCode::kExceedsFrequencyLimit, "65", "exceeds frequency limit"},
    {ResponseCode::kIssuerUnavailable, "91", "issuer unavailable"},
    {ResponseCode::kUnableToRoute, "92", "unable to route"},
    {ResponseCode::kDuplicateTransmission, "94", "duplicate transmission"},
    {ResponseCode::kReconciliationError, "95", "reconciliation error"},
    {ResponseCode::kSystemMalfunction, "96", "system malfunction"},
}};

const Entry* Find(ResponseCode code) {
  for (const Entry& e : kEntries) {
    if (e.code == code) return &e;
  }
  return nullptr;
}

}  // namespace

std::string_view ResponseCodeDigits(ResponseCode code) {
  const Entry* e = Find(code);
  return e ? e->digits : "96";
}

std::string_view ResponseCodeName(ResponseCode code) {
  const Entry* e = Find(code);
  return e ? e->name : "unknown";
}

std::optional<ResponseCode> ParseResponseCode(std::string_view digits) {
  for (const Entry& e : kEntries) {
    if (e.digits == digits) return e.code;
  }
  return std::nullopt;
}

}  // namespace kytkin
