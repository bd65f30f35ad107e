"""The read-only public HTTP endpoint (SPEC §8). `create_app(settings)` builds it."""

from habitctl.api.app import create_app

__all__ = ["create_app"]
