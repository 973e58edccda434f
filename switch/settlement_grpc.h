// gRPC kytkin.v1.Settlement (issue 6): SubmitBatch, a client stream of a header, items and the
// declared totals (proto/kytkin/v1/settlement.proto), on the rules of switch/settlement.h.
//
// Each message is handled as it arrives (items stream through settlement::BatchWriter, whose
// window bounds what is in flight); the one response goes out after the totals. Bad input ends
// the call with INVALID_ARGUMENT naming the field ("item.amount_minor_units: must be > 0",
// "header: must come first"). At most kItemsMax items per call, so the response (one outcome
// per item) stays bounded; larger batches go through `kytkin settle` or several calls.
//
// Threading: gRPC's callback threads run the reactor; the ledger calls there block for about one
// group commit at a time (like the Admin service's).
#pragma once

#include <grpcpp/grpcpp.h>

#include "core/clock.h"
#include "kytkin/v1/settlement.grpc.pb.h"
#include "storage/store.h"
#include "switch/settlement_config.h"

namespace kytkin {

class SettlementService final : public v1::Settlement::CallbackService {
 public:
  static constexpr uint64_t kItemsMax = 100'000;

  // REQUIRES: store, config and clock outlive the service (and the gRPC server serving it).
  SettlementService(storage::Store& store, const SettlementConfig& config,
                    const Clock& clock = SystemClock::Get());

  grpc::ServerReadReactor<v1::SettlementMessage>* SubmitBatch(
      grpc::CallbackServerContext* context, v1::SubmitBatchResponse* response) override;

 private:
  class Call;
  storage::Store& store_;
  const SettlementConfig& config_;
  const Clock& clock_;
};

}  // namespace kytkin
