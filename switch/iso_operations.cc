#include "switch/iso_operations.h"

namespace kytkin {

std::string_view BaseMti(std::string_view mti) {
  if (mti == "0121") return "0120";
  if (mti == "0221") return "0220";
  if (mti == "0421") return "0420";
  return mti;
}

std::optional<CardOperation> ClassifyRequest(std::string_view mti, std::string_view processing_code,
                                             std::string_view network_code) {
  mti = BaseMti(mti);
  if (mti == "0800") {
    if (network_code == kNetworkSignOn) return CardOperation::kSignOn;
    if (network_code == kNetworkSignOff) return CardOperation::kSignOff;
    if (network_code == kNetworkEcho) return CardOperation::kEcho;
    return std::nullopt;
  }
  if (mti == "0400") return CardOperation::kReversal;
  if (mti == "0420") return CardOperation::kReversalAdvice;
  if (mti == "0120") return CardOperation::kAuthorizationAdvice;
  if (processing_code.size() != 6) return std::nullopt;
  std::string_view type = processing_code.substr(0, 2);
  if (mti == "0100") {
    if (type == kTypeGoods) return CardOperation::kAuthorize;
    return std::nullopt;
  }
  if (mti == "0220") {
    if (type == kTypeGoods) return CardOperation::kFinancialAdvice;
    return std::nullopt;
  }
  if (mti == "0200") {
    if (type == kTypeGoods) return CardOperation::kPurchase;
    if (type == kTypeRefund) return CardOperation::kRefund;
    if (type == kTypeBalanceInquiry) return CardOperation::kBalanceInquiry;
    if (type == kTypeActivate) return CardOperation::kActivate;
    if (type == kTypeReload) return CardOperation::kReload;
  }
  return std::nullopt;
}

std::string_view CardOperationName(CardOperation operation) {
  switch (operation) {
    case CardOperation::kAuthorize:
      return "authorize";
    case CardOperation::kAuthorizationAdvice:
      return "authorization_advice";
    case CardOperation::kPurchase:
      return "purchase";
    case CardOperation::kRefund:
      return "refund";
    case CardOperation::kBalanceInquiry:
      return "balance_inquiry";
    case CardOperation::kActivate:
      return "activate";
    case CardOperation::kReload:
      return "reload";
    case CardOperation::kFinancialAdvice:
      return "financial_advice";
    case CardOperation::kReversal:
      return "reversal";
    case CardOperation::kReversalAdvice:
      return "reversal_advice";
    case CardOperation::kSignOn:
      return "sign_on";
    case CardOperation::kSignOff:
      return "sign_off";
    case CardOperation::kEcho:
      return "echo";
  }
  return "unknown";
}

}  // namespace kytkin
