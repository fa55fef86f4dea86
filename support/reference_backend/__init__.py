"""The bundled reference backend: a real WebSocket server that meets every MUST of protocol.md.

Run it with ``python -m support.reference_backend --port 8000``. It imports nothing of the
suite but the vocabulary and the defaults of its settings (support.config.Settings).
"""
