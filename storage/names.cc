// Names of the store's enums as they appear in CSV files, exports and the CLI.
#include <array>
#include <utility>

#include "storage/store.h"

namespace kytkin::storage {
namespace {

template <typename E, size_t N>
std::string_view NameOf(const std::array<std::pair<E, std::string_view>, N>& table, E value) {
  for (const auto& [e, name] : table) {
    if (e == value) return name;
  }
  return "unknown";
}

template <typename E, size_t N>
std::optional<E> Parse(const std::array<std::pair<E, std::string_view>, N>& table,
                       std::string_view name) {
  for (const auto& [e, n] : table) {
    if (n == name) return e;
  }
  return std::nullopt;
}

constexpr std::array<std::pair<AccountKind, std::string_view>, 7> kAccountKinds = {{
    {AccountKind::kCardholderDebit, "cardholder_debit"},
    {AccountKind::kCardholderCredit, "cardholder_credit"},
    {AccountKind::kPrepaid, "prepaid"},
    {AccountKind::kMerchant, "merchant"},
    {AccountKind::kAcquirerSettlement, "acquirer_settlement"},
    {AccountKind::kIssuerSettlement, "issuer_settlement"},
    {AccountKind::kFees, "fees"},
}};

constexpr std::array<std::pair<AccountStatus, std::string_view>, 3> kAccountStatuses = {{
    {AccountStatus::kOpen, "open"},
    {AccountStatus::kBlocked, "blocked"},
    {AccountStatus::kClosed, "closed"},
}};

constexpr std::array<std::pair<CardStatus, std::string_view>, 6> kCardStatuses = {{
    {CardStatus::kActive, "active"},
    {CardStatus::kInactive, "inactive"},
    {CardStatus::kBlocked, "blocked"},
    {CardStatus::kLost, "lost"},
    {CardStatus::kStolen, "stolen"},
    {CardStatus::kExpired, "expired"},
}};

constexpr std::array<std::pair<TransferKind, std::string_view>, 6> kTransferKinds = {{
    {TransferKind::kPending, "pending"},
    {TransferKind::kPosted, "posted"},
    {TransferKind::kPostPending, "post_pending"},
    {TransferKind::kVoidPending, "void_pending"},
    {TransferKind::kExpirePending, "expire_pending"},
    {TransferKind::kReversal, "reversal"},
}};

constexpr std::array<std::pair<TransferState, std::string_view>, 6> kTransferStates = {{
    {TransferState::kPending, "pending"},
    {TransferState::kPosted, "posted"},
    {TransferState::kVoided, "voided"},
    {TransferState::kExpired, "expired"},
    {TransferState::kReversed, "reversed"},
    {TransferState::kFinal, "final"},
}};

constexpr std::array<std::pair<Operation, std::string_view>, 16> kOperations = {{
    {Operation::kAuthorize, "authorize"},
    {Operation::kCapture, "capture"},
    {Operation::kReverse, "reverse"},
    {Operation::kPurchase, "purchase"},
    {Operation::kRefund, "refund"},
    {Operation::kBalanceInquiry, "balance_inquiry"},
    {Operation::kGiftActivate, "gift_activate"},
    {Operation::kGiftReload, "gift_reload"},
    {Operation::kAdvice, "advice"},
    {Operation::kExpire, "expire"},
    {Operation::kRemoteDecision, "remote_decision"},
    {Operation::kStandIn, "stand_in"},
    {Operation::kSettleCapture, "settle_capture"},
    {Operation::kSettleRefund, "settle_refund"},
    {Operation::kSettleReversal, "settle_reversal"},
    {Operation::kSettleChunk, "settle_chunk"},
}};

constexpr std::array<std::pair<Channel, std::string_view>, 4> kChannels = {{
    {Channel::kIso8583, "iso8583"},
    {Channel::kGrpc, "grpc"},
    {Channel::kCli, "cli"},
    {Channel::kInternal, "internal"},
}};

constexpr std::array<std::pair<Reason, std::string_view>, 29> kReasons = {{
    {Reason::kNone, "none"},
    {Reason::kUnknownCard, "unknown_card"},
    {Reason::kCardLost, "card_lost"},
    {Reason::kCardStolen, "card_stolen"},
    {Reason::kCardBlocked, "card_blocked"},
    {Reason::kCardInactive, "card_inactive"},
    {Reason::kCardExpired, "card_expired"},
    {Reason::kCurrencyMismatch, "currency_mismatch"},
    {Reason::kInvalidAmount, "invalid_amount"},
    {Reason::kSingleAmountLimit, "single_amount_limit"},
    {Reason::kDailyAmountLimit, "daily_amount_limit"},
    {Reason::kDailyCountLimit, "daily_count_limit"},
    {Reason::kInsufficientFunds, "insufficient_funds"},
    {Reason::kUnknownOriginal, "unknown_original"},
    {Reason::kCaptureExceedsHold, "capture_exceeds_hold"},
    {Reason::kAlreadyResolved, "already_resolved"},
    {Reason::kHoldExpired, "hold_expired"},
    {Reason::kNotReversible, "not_reversible"},
    {Reason::kDuplicateConflict, "duplicate_conflict"},
    {Reason::kInvalidRequest, "invalid_request"},
    {Reason::kAdviceWouldOverdraw, "advice_would_overdraw"},
    {Reason::kReversedBeforeOriginal, "reversed_before_original"},
    {Reason::kForcePosted, "force_posted"},
    {Reason::kCaptureOverTolerance, "capture_over_tolerance"},
    {Reason::kCaptureConflict, "capture_conflict"},
    {Reason::kBatchNotOpen, "batch_not_open"},
    {Reason::kOriginalMismatch, "original_mismatch"},
    {Reason::kRefundExceedsCaptured, "refund_exceeds_captured"},
    {Reason::kStorageReadFailed, "storage_read_failed"},
}};

}  // namespace

std::string_view AccountKindName(AccountKind kind) { return NameOf(kAccountKinds, kind); }
std::optional<AccountKind> ParseAccountKind(std::string_view name) {
  return Parse(kAccountKinds, name);
}
std::string_view AccountStatusName(AccountStatus status) {
  return NameOf(kAccountStatuses, status);
}
std::optional<AccountStatus> ParseAccountStatus(std::string_view name) {
  return Parse(kAccountStatuses, name);
}
std::string_view CardStatusName(CardStatus status) { return NameOf(kCardStatuses, status); }
std::optional<CardStatus> ParseCardStatus(std::string_view name) {
  return Parse(kCardStatuses, name);
}
std::string_view TransferKindName(TransferKind kind) { return NameOf(kTransferKinds, kind); }
std::string_view TransferStateName(TransferState state) { return NameOf(kTransferStates, state); }
std::string_view OperationName(Operation op) { return NameOf(kOperations, op); }
std::optional<Operation> ParseOperation(std::string_view name) { return Parse(kOperations, name); }
std::string_view ChannelName(Channel channel) { return NameOf(kChannels, channel); }
std::string_view ReasonName(Reason reason) { return NameOf(kReasons, reason); }

int64_t Account::available() const {
  int64_t available = balance() - debits_pending;
  if (kind == AccountKind::kCardholderCredit) available += credit_limit_minor;
  return available;
}

}  // namespace kytkin::storage
