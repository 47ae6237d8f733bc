"""Talking to any HTTP or WebSocket service: redaction, recorded exchanges, bounded transport,
the recording HTTP client, file descriptors."""
