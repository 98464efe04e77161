"""The event catalog: payload schemas of every integration event, shared by producers and
consumers, and the service that owns each aggregate (docs/architecture.md, "Event catalog";
docs/asyncapi.yaml is generated from it). Payloads only gain optional fields; a breaking change
registers a new version."""

from contracts.events import AGGREGATE_OWNERS, CATALOG

__all__ = ["AGGREGATE_OWNERS", "CATALOG"]
