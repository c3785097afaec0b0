"""Parameter types the commands share: durations that must be real numbers."""

from __future__ import annotations

import math
from typing import Any

import click


class Seconds(click.FloatRange):
    """A number of seconds >= ``min``: ``nan`` and ``inf`` are refused (a wait of ``inf`` never
    ends, and ``nan`` compares false with every limit, so it would pass ``FloatRange``)."""

    name = "seconds"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number of seconds.", param, ctx)
        return number
