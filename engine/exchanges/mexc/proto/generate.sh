#!/bin/sh
# Regenerates push_pb2.py (and its type stub push_pb2.pyi) from push.proto. Run from the repository root; check in the result.
set -eu
.venv/bin/python -m grpc_tools.protoc -I engine/exchanges/mexc/proto --python_out=engine/exchanges/mexc/proto --pyi_out=engine/exchanges/mexc/proto engine/exchanges/mexc/proto/push.proto
