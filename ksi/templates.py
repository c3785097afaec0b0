"""Rendering of the files ksi generates (kind config, sbatch script) from ``templates/``.

The templates ship inside the wheel as ``ksi/templates`` (hatch ``force-include``); in a source
checkout they are read from the top-level ``templates/``.  Rendering is strict: an undefined
variable is an error, never an empty string.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any


def templates_dir() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here / "templates", here.parent / "templates"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("ksi's templates directory is missing from this installation")


def render(template: str, **values: Any) -> str:
    import jinja2  # lazy: keeps `ksi --help` fast

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["shell_quote"] = lambda value: shlex.quote(str(value))
    return env.get_template(template).render(**values)
