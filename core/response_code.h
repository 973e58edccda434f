// ResponseCode: the ISO 8583 DE 39 answers kytkin gives (DESIGN.md §4), with names.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace kytkin {

// The enumerator's value is the two-digit code read as a number (kInsufficientFunds = 51 -> "51").
enum class ResponseCode : uint8_t {
  kApproved = 0,
  kDoNotHonour = 5,
  kPartialApproval = 10,
  kInvalidTransaction = 12,
  kInvalidAmount = 13,
  kInvalidCardNumber = 14,
  kNoSuchIssuer = 15,
  kUnableToLocateOriginal = 25,
  kFormatError = 30,
  kLostCard = 41,
  kStolenCard = 43,
  kInsufficientFunds = 51,
  kExpiredCard = 54,
  kIncorrectPin = 55,
  kNotPermittedToCardholder = 57,
  kExceedsAmountLimit = 61,
  kRestrictedCard = 62,
  kExceedsFrequencyLimit = 65,
  kIssuerUnavailable = 91,
  kUnableToRoute = 92,
  kDuplicateTransmission = 94,
  kReconciliationError = 95,
  kSystemMalfunction = 96,
};

// "51" for kInsufficientFunds; always two characters.
std::string_view ResponseCodeDigits(ResponseCode code);
// "insufficient funds".
std::string_view ResponseCodeName(ResponseCode code);
// Parses "51"; nullopt for codes kytkin does not use.
std::optional<ResponseCode> ParseResponseCode(std::string_view digits);
// 00 and 10 are approvals (10 approves less than asked).
constexpr bool IsApproval(ResponseCode code) {
  return code == ResponseCode::kApproved || code == ResponseCode::kPartialApproval;
}

}  // namespace kytkin
