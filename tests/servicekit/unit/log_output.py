"""Reading what a process wrote to stdout as JSON lines (the ``output`` fixture's stream)."""

from __future__ import annotations

import io
import json


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]
