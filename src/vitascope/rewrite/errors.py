"""The error a rewrite backend raises when it cannot rewrite (the caller falls back to the user's prompt)."""

from vitascope.errors import VitascopeError


class RewriteError(VitascopeError):
    """A backend could not rewrite this prompt (unreachable server, bad reply, nothing understood)."""
