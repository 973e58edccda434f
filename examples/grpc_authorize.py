#!/usr/bin/env python3
"""An e-commerce gateway's first authorization against kytkin over gRPC (kytkin.v1).

Generate the stubs first (see README "First steps"), then:
    PYTHONPATH=/tmp/kytkin-py /usr/bin/python3 examples/grpc_authorize.py 127.0.0.1:50051
"""
import sys
import uuid

import grpc
from kytkin.v1 import authorization_pb2 as auth
from kytkin.v1 import authorization_pb2_grpc as auth_grpc
from kytkin.v1 import common_pb2 as common

target = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:50051"
stub = auth_grpc.AuthorizationStub(grpc.insecure_channel(target))

key = f"order-{uuid.uuid4()}"
request = auth.AuthorizeRequest(
    idempotency_key=key,
    card=common.CardReference(pan="4111111111111111", expiry_yymm="3012"),
    amount=common.Money(currency_code="EUR", minor_units=1234),  # 12.34 EUR
    merchant=auth.Merchant(merchant_id="KYTKINMERCH0001"),
)
decision = stub.Authorize(request).decision
print(f"authorize {key}: {decision.response_code_digits} auth code {decision.auth_code} "
      f"RRN {decision.rrn}, available {decision.available_balance.minor_units / 100:.2f} "
      f"{decision.available_balance.currency_code}")

# A retry with the same key returns the same decision (same RRN); nothing is held twice.
again = stub.Authorize(request).decision
print(f"retry with the same key: {again.response_code_digits}, RRN {again.rrn}")

# Release the hold.
reversal = stub.Reverse(auth.ReverseRequest(
    idempotency_key=f"{key}-void",
    original=common.TransactionReference(idempotency_key=key),
)).decision
print(f"reverse: {reversal.response_code_digits}, available "
      f"{reversal.available_balance.minor_units / 100:.2f}")

# Invalid arguments are a gRPC error naming the field; a decline is a normal answer.
try:
    stub.Authorize(auth.AuthorizeRequest(idempotency_key="bad"))
except grpc.RpcError as e:
    print(f"invalid request: {e.code().name}: {e.details()}")
