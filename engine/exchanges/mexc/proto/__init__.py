"""MEXC's WebSocket push messages: ``push.proto`` and its generated ``push_pb2``."""
