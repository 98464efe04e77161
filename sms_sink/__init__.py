"""An SMS sink: an SMS provider's HTTP API that keeps every message instead of sending it."""
