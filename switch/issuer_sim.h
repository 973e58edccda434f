// IssuerSim: an issuer host for tests, demos and load runs (`kytkin issuer-sim`). It listens for
// ISO 8583 links from a switch and answers them from its own small in-memory ledger, with
// configurable misbehaviour: a latency distribution, a share of declines, dropped responses,
// late responses, disconnects and down periods.
//
// What it answers (ISO 8583:1987 MTIs):
//   0800  sign-on (DE 70 001), sign-off (002), echo (301): 0810 with 00, without latency or faults
//   0100  authorization: a hold on the card's balance -> 0110 00 (DE 38), 51, 14 (unknown card);
//         with partial approvals on, a hold on what is left -> 0110 10, DE 4 the approved amount
//   0200  purchase (DE 3 00) debits, refund (20) and reload (21) credit, balance inquiry (31,
//         the available balance in DE 54)
//   0120/0121  authorization advice: applied without a funds check -> 0130 00
//   0420/0421  reversal advice: gives back what the original (DE 90, else DE 41 + DE 11) took;
//              DE 90 may name a 0120 by the STAN of any of its sends (0120 or a repeat)
//              -> 0430 00, always (an unknown original is acknowledged and counted)
//   0220/0221  completion of an authorization (DE 90): its hold becomes DE 4 (once) -> 0230 00
// Advices and reversals are idempotent by key (base MTI, DE 41, DE 37 or else DE 11, DE 7): a
// repeat (0121, 0421, or the same 0120 / 0420 again) is answered like the first and changes
// nothing. DE 37 wins because a switch's link re-sends a repeat with a STAN of its own.
// Anything else gets the response MTI with 12 (invalid transaction).
//
// The ledger effect happens when the request is read; the faults only change what goes back. So a
// dropped or late approval has taken the money, as with a real issuer, and the switch must
// reverse it.
//
// Down: SetDown(true) closes every connection and closes each new one at once (the switch's
// connect fails with end of stream); SetDown(false) accepts links again. up_period_ms /
// down_period_ms make it alternate on its own. The CLI maps SIGUSR1 -> down, SIGUSR2 -> up.
//
// Threading: one io_context thread owned by the simulator; every public method may be called from
// any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "core/amount.h"
#include "core/status.h"
#include "iso8583/dialect.h"
#include "iso8583/framing.h"
#include "iso8583/message.h"

namespace kytkin {

// How the simulator misbehaves; may change while it runs (SetBehavior). Shares are fractions in
// [0, 1] of card requests (everything but 0800), drawn independently per request from a seeded
// generator in this order: disconnect, drop, late, decline.
struct IssuerSimBehavior {
  // Latency of every card answer: fixed part plus an exponential part with this mean, in
  // microseconds. Default 0 + 0 (answer at once).
  int64_t latency_fixed_us = 0;
  int64_t latency_exponential_mean_us = 0;
  // Share of requests for which the connection is closed instead of answering. Default 0.
  double disconnect_share = 0;
  // Share of requests that are never answered. Default 0.
  double drop_share = 0;
  // Share of requests answered late_delay_us after their normal latency. Default 0, 0 us.
  double late_share = 0;
  int64_t late_delay_us = 0;
  // Share of 0100/0200 requests declined with 05 (do not honour) whatever the funds. Default 0.
  double decline_share = 0;
  // Echoes (0800 DE 70 301) go unanswered: a host that hangs but keeps its TCP connections open.
  // Default false.
  bool ignore_echoes = false;
  // A 0100 the card's funds do not cover, while it has some, is approved for what it has:
  // 0110 with 10 (partial approval) and the approved amount in DE 4, instead of 51. Default false.
  bool partial_approvals = false;
};

// Counters, for tests and the CLI's exit line.
struct IssuerSimStats {
  uint64_t connections = 0;          // accepted while up
  uint64_t refused_while_down = 0;   // accepted and closed at once
  uint64_t requests = 0;             // frames parsed as messages (all MTIs)
  uint64_t parse_errors = 0;         // frames that were not a message in the dialect
  uint64_t sign_ons = 0;             // 0800 DE 70 001
  uint64_t echoes = 0;               // 0800 DE 70 301
  uint64_t approvals = 0;            // 0100/0200 answered 00 or 10 (partial)
  uint64_t partial_approvals = 0;    // of those, 0100 answered 10
  uint64_t declines = 0;             // 0100/0200 answered anything else
  uint64_t advices_applied = 0;      // 0120/0121 and 0220/0221 applied (first time)
  uint64_t advice_repeats = 0;       // 0120/0121 and 0220/0221 seen again: not applied
  uint64_t reversals_applied = 0;    // 0420/0421 that gave money back (first time)
  uint64_t reversal_repeats = 0;     // 0420/0421 seen again
  uint64_t reversals_unmatched = 0;  // 0420/0421 whose original the simulator never approved
  uint64_t dropped = 0;              // answers not sent (drop_share)
  uint64_t late = 0;                 // answers delayed by late_delay_us
  uint64_t disconnects = 0;          // connections closed instead of answering
  // {"connections":1,...} on one line.
  std::string ToJson() const;
};

// The protocol and ledger part, without sockets: tests call it directly. Not thread-safe; the
// simulator guards it with its mutex.
class IssuerSimLedger {
 public:
  // Cards not added are answered 14, unless unknown_card_balance is set (then an unknown card
  // starts with that balance on first use; for load runs with random PANs).
  void AddCard(std::string_view pan, Amount balance);
  void SetUnknownCardBalance(Amount balance) { unknown_card_balance_ = balance; }

  // Writes the answer to `request` into `response` (same dialect). `force_decline` answers 05
  // to a 0100/0200 that would have been approved; `partial_approvals` as
  // IssuerSimBehavior::partial_approvals. Returns false when the request is itself a response
  // (no answer is due). Errors only when the response cannot be built.
  Result<bool> Answer(const iso8583::Message& request, bool force_decline,
                      iso8583::Message& response, IssuerSimStats& stats,
                      bool partial_approvals = false);

  // The card's available balance in minor units; NotFound for a card the ledger never saw.
  Result<int64_t> AvailableMinor(std::string_view pan) const;

 private:
  struct Card {
    int64_t available_minor = 0;
    uint16_t currency = 0;
  };
  // What an approved 0100/0200 took, to give back on a reversal.
  struct Taken {
    std::string pan;
    int64_t minor = 0;  // signed: positive = debit taken, negative = credit given
    bool reversed = false;
    bool completed = false;  // a 0220 set `minor` to the completed amount
  };
  Card* FindCard(std::string_view pan);

  std::unordered_map<std::string, Card> cards_;
  std::optional<Amount> unknown_card_balance_;
  // Approved originals by "MTI|STAN|DE7" (as DE 90 names them) and by "DE41|STAN".
  std::unordered_map<std::string, std::shared_ptr<Taken>> by_original_;
  std::unordered_map<std::string, std::shared_ptr<Taken>> by_terminal_stan_;
  // Advice and reversal keys already applied (repeats are acknowledged only).
  std::unordered_set<std::string> advice_keys_;
  // What each applied 0120 took, by its advice key: a repeat (0121, a new link STAN) names the
  // same original too, so a 0420 naming the advice by any STAN it came under finds it.
  std::unordered_map<std::string, std::shared_ptr<Taken>> advice_taken_;
  uint64_t next_approval_code_ = 1;
};

struct IssuerSimOptions {
  // Address to listen on. Default 127.0.0.1, port 0 (a free port; see IssuerSim::port()).
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  // Built-in dialect name (iso8583/dialect.h). Default iso87-ascii.
  std::string dialect = "iso87-ascii";
  iso8583::Framing framing = iso8583::Framing::kBinary2;
  // Largest accepted frame in bytes; a larger one closes the connection. Default 8192.
  size_t frame_bytes_max = 8192;
  // Seed of the fault and latency generator, so a run can be repeated. Default 1.
  uint64_t seed = 1;
  // Balance given to a card the ledger does not know, in minor units of `currency`; -1 (default)
  // answers unknown cards 14.
  int64_t unknown_card_balance_minor = -1;
  uint16_t currency = 978;
  // Both > 0: the simulator alternates up_period_ms up and down_period_ms down, starting up.
  // Default 0, 0 (always up unless SetDown).
  int64_t up_period_ms = 0;
  int64_t down_period_ms = 0;
  IssuerSimBehavior behavior;
};

class IssuerSim {
 public:
  // Binds, then starts the simulator's thread. Errors: bad dialect (InvalidArgument), address
  // in use (Unavailable, naming the address).
  static Result<std::unique_ptr<IssuerSim>> Start(const IssuerSimOptions& options);
  ~IssuerSim();  // Stop()
  IssuerSim(const IssuerSim&) = delete;
  IssuerSim& operator=(const IssuerSim&) = delete;

  // The port actually bound.
  uint16_t port() const { return port_; }

  void AddCard(std::string_view pan, Amount balance);
  void SetBehavior(const IssuerSimBehavior& behavior);
  // Down closes all links and refuses new ones; up accepts again.
  void SetDown(bool down);
  bool down() const;
  IssuerSimStats stats() const;
  Result<int64_t> AvailableMinor(std::string_view pan) const;
  // Closes everything and joins the thread; idempotent.
  void Stop();

  struct Impl;

 private:
  explicit IssuerSim(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  uint16_t port_ = 0;
};

}  // namespace kytkin
