// RouteCardRequest: what the pipeline does with a card request the routing table does not keep
// on-us - one function for ISO 8583 (Authorizer) and gRPC (OnlineAuthorizer).
//
//   table decline (unknown BIN 15, a rule)  -> journaled as a kRemoteDecision, answered
//   remote issuer, answered                 -> its DE 39 / DE 38 journaled (kRemoteDecision,
//                                              route "issuer X via L 123us", and the issuer,
//                                              link, link STAN and DE 7 as fields) and returned
//   deadline, or the link lost after sending -> stand-in if the issuer allows it (per-request
//                                              conditions here, day counters in the store):
//                                              approved -> hold + 0120 queued, and a late
//                                              approval is reversed; else 91 (or the rule's
//                                              answer) + 0420 queued for what the issuer may
//                                              have approved
//   links down or full (nothing sent)        -> stand-in or 91, nothing to reverse
// Every outcome is one durable store write; advices are queued in that same write.
#pragma once

#include <functional>
#include <optional>

#include "iso8583/message.h"
#include "routing/routing_table.h"
#include "storage/store.h"
#include "switch/iso_operations.h"
#include "switch/issuer_router.h"
#include "switch/metrics.h"

namespace kytkin {

using RoutedCompletion = std::function<void(Result<storage::Decision>)>;

struct RoutedCardRequest {
  CardOperation operation = CardOperation::kAuthorize;
  routing::Channel channel = routing::Channel::kPos;
  uint16_t mcc = 0;  // DE 18
  // The request as the issuer should see it (any dialect; copied when routed).
  const iso8583::Message* message = nullptr;
};

// Operations routing applies to: authorization, purchase, refund, balance inquiry.
bool IsRoutableOperation(CardOperation op);

// The amount of an issuer's partial approval (DE 39 10): the answer's DE 4, in the request's
// currency (DE 49, when the answer carries one, must be it), more than 0 and at most
// `requested`. nullopt otherwise: RouteCardRequest then answers 05 and queues a 0420 that undoes
// whatever the issuer holds for it.
std::optional<Amount> PartialApprovedAmount(const iso8583::Message& answer,
                                            const Amount& requested);

// Returns false, touching nothing, when the request stays on-us (or routing is off, or the
// request names no PAN): the caller goes on to the ledger. Otherwise takes `request` and calls
// `done` exactly once - on a link thread, the store's completion thread, or (when the store
// refuses the write) before returning - with the durable decision or the store's error.
// `issuer_latency` (optional) observes each issuer round trip.
bool RouteCardRequest(IssuerRouter& router, storage::Store& store, const RoutedCardRequest& in,
                      storage::Request& request, RoutedCompletion done,
                      metrics::Histogram* issuer_latency = nullptr);

// A terminal's reversal (0400/0420) or completion (0220 with DE 90), or a gRPC Reverse/Capture:
// `request` is a kReverse or kCapture naming its original by request key, while routing is on.
// The original is looked up (dedupe index and its journal record, whose issuer fields - issuer,
// link STAN, DE 7 as sent - name it to the issuer; records older than those fields are read from
// their route text):
//  - one a remote issuer approved (kRemoteDecision; for a completion, a 0100) is decided
//    journal-only - approved, no ledger change; a reversal takes the original's amount, a
//    completion its DE 4 (0 = all; above the approval or in another currency 13) - with a 0420
//    (0220) for that issuer queued in the same write, naming the original as the issuer saw it
//    (DE 90: its MTI, the link STAN, DE 7; DE 41 as the original carried it);
//  - one kytkin approved in stand-in (kStandIn, its 0120 queued for the issuer) gets the same,
//    with DE 90 naming that 0120 (its link STAN filled in by the SAF sender, which sends the 0120
//    first); a stand-in that holds funds on kytkin's ledger is voided / posted there as well, and
//    the advice goes only if the ledger approves.
// The store declines 12 (nothing queued) a second, different reversal of a remote or stand-in
// original without a hold, and a completion after its reversal, also after a restart. A DE 2
// that is not the original's card (masked first6/last4) is declined 25, nothing queued.
// Any other original (on-us, unknown) goes to the ledger as before. An original still at the
// issuer (IssuerRouter::BeginInFlight) is waited for, and the follow-up holds its key until
// decided, so a retransmission of the original is answered, not forwarded.
// Returns false, touching nothing, when routing is off or `request` is neither; otherwise
// takes `request` and calls `done` exactly once, as RouteCardRequest.
bool RouteFollowUp(IssuerRouter& router, storage::Store& store, const iso8583::Message& follow_up,
                   storage::Request& request, RoutedCompletion done);

}  // namespace kytkin
