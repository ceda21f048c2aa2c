"""MEXC spot: REST client, protobuf WebSocket pushes, channel names and depth sync."""
