// The card operations kytkin understands on ISO 8583, and how a request's MTI and processing
// code (DE 3, first two digits = transaction type) select one. Shared by the authorization
// pipeline and the terminal simulator so both speak the same codes.
//
//   MTI   DE 3 type   operation
//   0100  00          authorization (hold)
//   0120  any         authorization advice (stand-in / offline approval: post without funds check)
//   0200  00          purchase (posted)
//   0200  20          refund (credit the card)
//   0200  31          balance inquiry (balances in DE 54)
//   0200  72          gift card activation (initial load of a prepaid card)
//   0200  21          gift card reload (deposit onto a prepaid card)
//   0220  00          financial advice: completion of a pre-auth (DE 90 names it) or offline sale
//   0400  any         reversal request (DE 90 names the original)
//   0420  any         reversal advice (always acknowledged)
//   0800  DE 70 001 sign-on, 002 sign-off, 301 echo
//
// Repeats (0121, 0221, 0421) are the same operation as their base MTI.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace kytkin {

enum class CardOperation : uint8_t {
  kAuthorize,
  kAuthorizationAdvice,
  kPurchase,
  kRefund,
  kBalanceInquiry,
  kActivate,
  kReload,
  kFinancialAdvice,
  kReversal,
  kReversalAdvice,
  kSignOn,
  kSignOff,
  kEcho,
};

// Transaction types: the first two digits of DE 3.
inline constexpr std::string_view kTypeGoods = "00";
inline constexpr std::string_view kTypeRefund = "20";
inline constexpr std::string_view kTypeReload = "21";
inline constexpr std::string_view kTypeBalanceInquiry = "31";
inline constexpr std::string_view kTypeActivate = "72";

// DE 70 network management codes.
inline constexpr std::string_view kNetworkSignOn = "001";
inline constexpr std::string_view kNetworkSignOff = "002";
inline constexpr std::string_view kNetworkEcho = "301";

// The operation of a request, or nullopt when the MTI / processing code / DE 70 combination is
// not one kytkin performs (the switch answers 12, invalid transaction). `processing_code` is DE 3
// (6 digits) or empty; `network_code` is DE 70 or empty.
std::optional<CardOperation> ClassifyRequest(std::string_view mti, std::string_view processing_code,
                                             std::string_view network_code);

// "authorize", "purchase", ... (metrics labels and the journal).
std::string_view CardOperationName(CardOperation operation);

// The base MTI of a repeat: "0121" -> "0120", "0421" -> "0420"; others unchanged.
std::string_view BaseMti(std::string_view mti);

}  // namespace kytkin
