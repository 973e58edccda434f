// Authorizer, remote issuers: the ISO 8583 side of RouteCardRequest (routed_request.h).
#include "switch/authorizer.h"
#include "switch/routed_request.h"

namespace kytkin {

bool Authorizer::RouteRequest(const iso8583::Message& m, CardOperation operation,
                              storage::Request& request, int64_t received_us,
                              const iso8583::Dialect* dialect, IsoCompletion& done) {
  IssuerRouter* router = options_.router;
  if (router == nullptr || !router->enabled()) return false;
  RoutedCardRequest in;
  in.operation = operation;
  const std::string_view entry_mode = m.Get(22);
  in.channel = entry_mode.starts_with("81") || entry_mode.starts_with("10")
                   ? routing::Channel::kEcommerce
                   : routing::Channel::kPos;
  in.mcc = static_cast<uint16_t>(m.GetUint(18).ok() ? *m.GetUint(18) % 10000 : 0);
  in.message = &m;
  // The completion owns the terminal's slot from here; it comes back if the request is on-us.
  auto pending =
      std::make_shared<Pending>(Pending{std::move(done), operation, received_us, dialect});
  in_flight_.Increment();
  auto on_durable = [this, pending](Result<storage::Decision> decision) {
    OnDurable(*pending, decision);
  };
  // A reversal or completion goes to the issuer that approved its original (or to the ledger).
  const bool follow_up = request.operation == storage::Operation::kReverse ||
                         request.operation == storage::Operation::kCapture;
  const bool routed = follow_up ? RouteFollowUp(*router, store_, m, request, std::move(on_durable))
                                : RouteCardRequest(*router, store_, in, request,
                                                   std::move(on_durable), &latency_issuer_);
  if (!routed) {
    in_flight_.Decrement();
    done = std::move(pending->done);
  }
  return routed;
}

}  // namespace kytkin
