"""Live streams on the wire: WebSocket protocols, SSE and the shared fan-out."""
