#include "switch/terminal_client.h"

#include <poll.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <ctime>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

namespace kytkin {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

std::string ZeroPad(std::string_view digits, size_t width) {
  std::string out;
  if (digits.size() < width) out.assign(width - digits.size(), '0');
  out += digits;
  return out;
}

std::string_view RequestMti(CardOperation op, bool repeat) {
  switch (op) {
    case CardOperation::kAuthorize:
      return "0100";
    case CardOperation::kAuthorizationAdvice:
      return repeat ? "0121" : "0120";
    case CardOperation::kPurchase:
    case CardOperation::kRefund:
    case CardOperation::kBalanceInquiry:
    case CardOperation::kActivate:
    case CardOperation::kReload:
      return "0200";
    case CardOperation::kFinancialAdvice:
      return repeat ? "0221" : "0220";
    case CardOperation::kReversal:
      return "0400";
    case CardOperation::kReversalAdvice:
      return repeat ? "0421" : "0420";
    case CardOperation::kSignOn:
    case CardOperation::kSignOff:
    case CardOperation::kEcho:
      return "0800";
  }
  return "0100";
}

std::string_view TransactionType(CardOperation op) {
  switch (op) {
    case CardOperation::kRefund:
      return kTypeRefund;
    case CardOperation::kBalanceInquiry:
      return kTypeBalanceInquiry;
    case CardOperation::kActivate:
      return kTypeActivate;
    case CardOperation::kReload:
      return kTypeReload;
    default:
      return kTypeGoods;
  }
}

bool IsNetwork(CardOperation op) {
  return op == CardOperation::kSignOn || op == CardOperation::kSignOff ||
         op == CardOperation::kEcho;
}

bool NeedsOriginal(CardOperation op) {
  return op == CardOperation::kReversal || op == CardOperation::kReversalAdvice;
}

}  // namespace

std::string TransmissionTimeNow() {
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  std::array<char, 16> buf{};
  std::strftime(buf.data(), buf.size(), "%m%d%H%M%S", &utc);
  return buf.data();
}

Status BuildTerminalRequest(const TerminalRequest& request, const TerminalIdentity& identity,
                            iso8583::Message& out) {
  out.Reset();
  const CardOperation op = request.operation;
  KYTKIN_RETURN_IF_ERROR(out.SetMti(RequestMti(op, request.repeat)));
  const std::string transmission_time =
      request.transmission_time.empty() ? TransmissionTimeNow() : request.transmission_time;
  KYTKIN_RETURN_IF_ERROR(out.Set(7, transmission_time));
  KYTKIN_RETURN_IF_ERROR(out.SetUint(11, request.stan));
  if (IsNetwork(op)) {
    std::string_view code = op == CardOperation::kSignOn    ? kNetworkSignOn
                            : op == CardOperation::kSignOff ? kNetworkSignOff
                                                            : kNetworkEcho;
    KYTKIN_RETURN_IF_ERROR(out.Set(41, identity.terminal_id));
    return out.Set(70, code);
  }
  if (!request.pan.empty()) KYTKIN_RETURN_IF_ERROR(out.Set(2, request.pan));
  KYTKIN_RETURN_IF_ERROR(out.Set(3, std::string(TransactionType(op)) + "0000"));
  if (op != CardOperation::kBalanceInquiry || request.amount.minor_units() > 0) {
    if (request.amount.minor_units() < 0) return Status::InvalidArgument("amount is negative");
    KYTKIN_RETURN_IF_ERROR(out.SetUint(4, static_cast<uint64_t>(request.amount.minor_units())));
  }
  std::string local_time = transmission_time.substr(4, 6);  // hhmmss
  std::string local_date = transmission_time.substr(0, 4);  // MMDD
  KYTKIN_RETURN_IF_ERROR(out.Set(12, local_time));
  KYTKIN_RETURN_IF_ERROR(out.Set(13, local_date));
  if (!request.expiry_yymm.empty()) KYTKIN_RETURN_IF_ERROR(out.Set(14, request.expiry_yymm));
  KYTKIN_RETURN_IF_ERROR(out.Set(18, identity.merchant_category));
  // POS entry mode: 051 chip with PIN capability, 012 key-entered.
  KYTKIN_RETURN_IF_ERROR(out.Set(22, request.pin_present ? "051" : "012"));
  KYTKIN_RETURN_IF_ERROR(out.Set(25, "00"));
  KYTKIN_RETURN_IF_ERROR(out.Set(32, identity.acquirer_id));
  if (!request.rrn.empty()) KYTKIN_RETURN_IF_ERROR(out.Set(37, request.rrn));
  KYTKIN_RETURN_IF_ERROR(out.Set(41, identity.terminal_id));
  KYTKIN_RETURN_IF_ERROR(out.Set(42, identity.merchant_id));
  KYTKIN_RETURN_IF_ERROR(out.SetUint(49, request.amount.currency()));
  if (request.pin_present) {
    static constexpr std::array<uint8_t, 8> kDummyPinBlock{};  // simulator only: not a real PIN
    KYTKIN_RETURN_IF_ERROR(out.SetBytes(52, kDummyPinBlock));
  }
  bool completion = op == CardOperation::kFinancialAdvice && request.original.stan != 0;
  if (NeedsOriginal(op) || completion) {
    if (request.original.transmission_time.size() != 10 || request.original.stan == 0) {
      return Status::InvalidArgument("original STAN and transmission time are required");
    }
    std::array<char, 8> stan{};
    std::snprintf(stan.data(), stan.size(), "%06u", request.original.stan % 1000000);
    std::string de90 = request.original.mti + stan.data() + request.original.transmission_time +
                       ZeroPad(identity.acquirer_id, 11) + std::string(11, '0');
    KYTKIN_RETURN_IF_ERROR(out.Set(90, de90));
  }
  return Status::Ok();
}

Result<std::vector<AdditionalAmount>> ParseAdditionalAmounts(std::string_view de54) {
  constexpr size_t kEntryChars = 20;
  if (de54.size() % kEntryChars != 0) {
    return Status::InvalidArgument("DE 54 length is not a multiple of 20");
  }
  std::vector<AdditionalAmount> out;
  for (size_t at = 0; at < de54.size(); at += kEntryChars) {
    std::string_view e = de54.substr(at, kEntryChars);
    AdditionalAmount amount;
    amount.account_type = e.substr(0, 2);
    amount.amount_type = e.substr(2, 2);
    int currency = 0;
    int64_t minor = 0;
    for (char c : e.substr(4, 3)) {
      if (c < '0' || c > '9') return Status::InvalidArgument("DE 54 currency is not numeric");
      currency = currency * 10 + (c - '0');
    }
    char sign = e[7];
    if (sign != 'C' && sign != 'D') return Status::InvalidArgument("DE 54 sign is not C or D");
    for (char c : e.substr(8, 12)) {
      if (c < '0' || c > '9') return Status::InvalidArgument("DE 54 amount is not numeric");
      minor = minor * 10 + (c - '0');
    }
    amount.currency = static_cast<uint16_t>(currency);
    amount.minor_units = sign == 'D' ? -minor : minor;
    out.push_back(std::move(amount));
  }
  return out;
}

struct TerminalConnection::Impl {
  Impl(const iso8583::Dialect& d, iso8583::Framing f, int timeout)
      : socket(io),
        dialect(&d),
        framing(f),
        timeout_ms(timeout),
        decoder(iso8583::FrameDecoderOptions{f, 65535, 16384}) {}
  asio::io_context io;
  tcp::socket socket;
  const iso8583::Dialect* dialect;
  iso8583::Framing framing;
  int timeout_ms;
  iso8583::FrameDecoder decoder;
  std::vector<uint8_t> send_buffer = std::vector<uint8_t>(70000);

  // Waits until the socket is readable; false on timeout.
  bool WaitReadable() {
    pollfd p{socket.native_handle(), POLLIN, 0};
    return ::poll(&p, 1, timeout_ms) > 0;
  }
};

TerminalConnection::TerminalConnection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TerminalConnection::~TerminalConnection() = default;

Result<std::unique_ptr<TerminalConnection>> TerminalConnection::Connect(
    const std::string& host, uint16_t port, const iso8583::Dialect& dialect,
    iso8583::Framing framing, int timeout_ms) {
  auto impl = std::make_unique<Impl>(dialect, framing, timeout_ms);
  boost::system::error_code ec;
  tcp::resolver resolver(impl->io);
  auto endpoints = resolver.resolve(host, std::to_string(port), ec);
  if (ec) return Status::Unavailable("cannot resolve " + host + ": " + ec.message());
  asio::connect(impl->socket, endpoints, ec);
  if (ec) {
    return Status::Unavailable("cannot connect to " + host + ":" + std::to_string(port) + ": " +
                               ec.message());
  }
  impl->socket.set_option(tcp::no_delay(true), ec);
  return std::unique_ptr<TerminalConnection>(new TerminalConnection(std::move(impl)));
}

Status TerminalConnection::Send(const iso8583::Message& message) {
  const size_t header = iso8583::FrameHeaderBytes(impl_->framing);
  std::span<uint8_t> buffer(impl_->send_buffer);
  auto packed = message.Pack(buffer.subspan(header));
  if (!packed.ok()) return packed.status();
  KYTKIN_RETURN_IF_ERROR(iso8583::WriteFrameHeader(impl_->framing, *packed, buffer));
  return SendRaw({reinterpret_cast<const char*>(buffer.data()), header + *packed});
}

Status TerminalConnection::SendRaw(std::string_view bytes) {
  boost::system::error_code ec;
  asio::write(impl_->socket, asio::buffer(bytes.data(), bytes.size()), ec);
  if (ec) return Status::IOError("send failed: " + ec.message());
  return Status::Ok();
}

Status TerminalConnection::Receive(iso8583::Message& response) {
  for (;;) {
    auto frame = impl_->decoder.Next();
    if (frame.state == iso8583::FrameDecoder::State::kError) return impl_->decoder.error();
    if (frame.state == iso8583::FrameDecoder::State::kFrame) {
      auto error = response.Parse(frame.payload);
      return error.ToStatus();
    }
    if (!impl_->WaitReadable()) {
      return Status::Unavailable("no response within " + std::to_string(impl_->timeout_ms) + " ms");
    }
    std::span<uint8_t> space = impl_->decoder.WritableSpan();
    boost::system::error_code ec;
    size_t n = impl_->socket.read_some(asio::buffer(space.data(), space.size()), ec);
    if (ec == asio::error::eof) {
      closed_ = true;
      return Status::Unavailable("the switch closed the connection");
    }
    if (ec) return Status::IOError("receive failed: " + ec.message());
    impl_->decoder.Commit(n);
  }
}

Status TerminalConnection::Exchange(const iso8583::Message& request, iso8583::Message& response) {
  KYTKIN_RETURN_IF_ERROR(Send(request));
  for (;;) {
    KYTKIN_RETURN_IF_ERROR(Receive(response));
    if (response.Get(11) == request.Get(11)) return Status::Ok();
  }
}

}  // namespace kytkin
