// A point-of-sale terminal's side of ISO 8583: building requests and exchanging them with a
// switch over TCP. Used by `kytkin term` (the operators' terminal simulator) and by end-to-end
// tests. Blocking I/O with a deadline; one connection per object; not for the server's hot path.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/amount.h"
#include "core/status.h"
#include "iso8583/dialect.h"
#include "iso8583/framing.h"
#include "iso8583/message.h"
#include "switch/iso_operations.h"

namespace kytkin {

// Who is sending: the acquirer's ids for this terminal.
struct TerminalIdentity {
  std::string terminal_id = "TERM0001";         // DE 41, 8 characters
  std::string merchant_id = "KYTKINMERCH0001";  // DE 42, 15 characters
  std::string acquirer_id = "100001";           // DE 32, up to 11 digits
  std::string merchant_category = "5411";       // DE 18, 4 digits (5411 = grocery)
};

// The original of a reversal or a completion (DE 90).
struct OriginalTransaction {
  std::string mti = "0100";
  uint32_t stan = 0;
  std::string transmission_time;  // DE 7 of the original, MMDDhhmmss
};

struct TerminalRequest {
  CardOperation operation = CardOperation::kAuthorize;
  std::string pan;                // clear digits; kept in memory only, never printed
  std::string expiry_yymm;        // DE 14; empty = not sent
  Amount amount{0, 978};          // DE 4 + DE 49
  bool pin_present = false;       // sends a (dummy, all-zero) PIN block in DE 52
  uint32_t stan = 0;              // DE 11, 1..999999
  std::string transmission_time;  // DE 7 MMDDhhmmss; empty = now (UTC)
  std::string rrn;                // DE 37; empty = not sent (the switch assigns one)
  OriginalTransaction original;   // for reversals and completions
  bool repeat = false;            // send 0121/0221/0421 instead of 0120/0220/0420
};

// Fills `out` (in its dialect) with the request. Errors name the field.
Status BuildTerminalRequest(const TerminalRequest& request, const TerminalIdentity& identity,
                            iso8583::Message& out);

// DE 7 for the current UTC time: MMDDhhmmss.
std::string TransmissionTimeNow();

// Balances reported in DE 54 (ISO 8583 additional amounts, 20 characters per entry).
struct AdditionalAmount {
  std::string account_type;  // "00" default, "10" savings, "20" checking, "30" credit
  std::string amount_type;   // "01" ledger balance, "02" available balance
  uint16_t currency = 0;
  int64_t minor_units = 0;  // signed: C positive, D negative
};
Result<std::vector<AdditionalAmount>> ParseAdditionalAmounts(std::string_view de54);

class TerminalConnection {
 public:
  // Connects to host:port. `dialect` must outlive the connection.
  static Result<std::unique_ptr<TerminalConnection>> Connect(const std::string& host, uint16_t port,
                                                             const iso8583::Dialect& dialect,
                                                             iso8583::Framing framing,
                                                             int timeout_ms);
  ~TerminalConnection();

  // Sends one framed message.
  Status Send(const iso8583::Message& message);
  // Writes raw bytes as they are (tests: garbage, split frames).
  Status SendRaw(std::string_view bytes);
  // Receives the next message. The response's values stay valid until the next Receive.
  Status Receive(iso8583::Message& response);
  // Send, then Receive until a response with the request's DE 11 arrives.
  Status Exchange(const iso8583::Message& request, iso8583::Message& response);
  // True when the peer closed the connection (a Receive returned end of stream).
  bool closed() const { return closed_; }

 private:
  struct Impl;
  explicit TerminalConnection(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  bool closed_ = false;
};

}  // namespace kytkin
