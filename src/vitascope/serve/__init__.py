"""Serving: a persistent job queue, one worker that owns the model, the HTTP API and the web UI (docs/serving.md)."""
