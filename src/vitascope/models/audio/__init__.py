"""Audio-driven avatar pieces: Whisper windows, face mask, the Avatar DiT (import the submodules directly;
they load transformers / OpenCV lazily)."""
