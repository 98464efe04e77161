"""The event catalog: payload schemas of every integration event, shared by producers and
consumers (ARCHITECTURE.md, "Event catalog"). Payloads only gain optional fields; a breaking change
registers a new version."""

from contracts.events import CATALOG

__all__ = ["CATALOG"]
