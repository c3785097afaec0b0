"""spf13/pflag + cobra argument parsing, with their error messages, for the kind and nerdctl doubles.

Upstream: spf13/pflag ``flag.go`` (``unknown flag: --x``, ``unknown shorthand flag: 'x' in -x``,
``flag needs an argument: --x``, ``invalid argument "v" for "--x" flag: ...``), spf13/cobra
``args.go`` (``accepts at most 1 arg(s), received 2``, ``unknown command "x" for "kind get"``),
golang ``time.ParseDuration`` (``time: invalid duration "x"``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


class FlagError(Exception):
    """A parse error worded like pflag/cobra."""


@dataclass(frozen=True)
class Flag:
    name: str
    kind: str = "string"  # string | bool | list (StringSlice/StringArray) | int | duration
    short: str = ""
    default: Any = None
    #: "slice": comma-separated values are split (pflag StringSlice); "array": they are not
    split: bool = False


@dataclass
class Parsed:
    values: dict[str, Any] = field(default_factory=dict)
    changed: set[str] = field(default_factory=set)
    args: list[str] = field(default_factory=list)


_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)?")


def parse_duration(text: str) -> float:
    """Go's ``time.ParseDuration`` (seconds as float); raises ValueError with Go's message."""
    s = text
    sign = 1.0
    if s[:1] in "+-" and s:
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    if s == "0":
        return 0.0
    if not s:
        raise ValueError(f'time: invalid duration "{text}"')
    total, pos = 0.0, 0
    while pos < len(s):
        m = _DURATION_PART.match(s, pos)
        if not m:
            raise ValueError(f'time: invalid duration "{text}"')
        if m.group(2) is None:
            raise ValueError(f'time: missing unit in duration "{text}"')
        total += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    return sign * total


def format_duration(seconds: float) -> str:
    """Go's ``time.Duration.String`` for whole seconds (``0s``, ``45s``, ``5m0s``, ``1h2m3s``)."""
    total = int(round(seconds))
    if total == 0:
        return "0s"
    h, rem = divmod(total, 3600)
    m, s = divmod(rem, 60)
    if h:
        return f"{h}h{m}m{s}s"
    if m:
        return f"{m}m{s}s"
    return f"{s}s"


def _convert(flag: Flag, raw: str, spelled: str) -> Any:
    try:
        if flag.kind == "int":
            if not re.fullmatch(r"[+-]?\d+", raw):
                raise ValueError(f'strconv.ParseInt: parsing "{raw}": invalid syntax')
            return int(raw)
        if flag.kind == "bool":
            low = raw.lower()
            if low in ("1", "t", "true"):
                return True
            if low in ("0", "f", "false"):
                return False
            raise ValueError(f'strconv.ParseBool: parsing "{raw}": invalid syntax')
        if flag.kind == "duration":
            return parse_duration(raw)
    except ValueError as e:
        name = f"-{flag.short}, --{flag.name}" if flag.short else f"--{flag.name}"
        raise FlagError(f'invalid argument "{raw}" for "{name}" flag: {e}') from e
    return raw


def parse(argv: list[str], flags: list[Flag], interspersed: bool = True) -> Parsed:
    """Parse ``argv`` like pflag; ``interspersed=False`` stops at the first positional (``run``)."""
    by_name = {f.name: f for f in flags}
    by_short = {f.short: f for f in flags if f.short}
    out = Parsed(values={f.name: ([] if f.kind == "list" else f.default) for f in flags})

    def store(flag: Flag, raw: str, spelled: str) -> None:
        out.changed.add(flag.name)
        if flag.kind == "list":
            items = next(_csv([raw])) if flag.split else [raw]
            out.values[flag.name] = list(out.values[flag.name]) + items
        else:
            out.values[flag.name] = _convert(flag, raw, spelled)

    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            out.args.extend(argv[i:])
            break
        if arg.startswith("--") and len(arg) > 2:
            name, eq, value = arg[2:].partition("=")
            flag = by_name.get(name)
            if flag is None:
                raise FlagError(f"unknown flag: --{name}")
            if eq:
                store(flag, value, arg)
            elif flag.kind == "bool":
                store(flag, "true", arg)
            elif i < len(argv):
                store(flag, argv[i], arg)
                i += 1
            else:
                raise FlagError(f"flag needs an argument: --{name}")
        elif arg.startswith("-") and len(arg) > 1:
            shorts = arg[1:]
            j = 0
            while j < len(shorts):
                c = shorts[j]
                flag = by_short.get(c)
                if flag is None:
                    raise FlagError(f"unknown shorthand flag: '{c}' in -{shorts}")
                rest = shorts[j + 1 :]
                if rest.startswith("="):
                    store(flag, rest[1:], arg)
                    break
                if flag.kind == "bool":
                    store(flag, "true", arg)
                    j += 1
                    continue
                if rest:
                    store(flag, rest, arg)
                elif i < len(argv):
                    store(flag, argv[i], arg)
                    i += 1
                else:
                    raise FlagError(f"flag needs an argument: '{c}' in -{shorts}")
                break
        else:
            out.args.append(arg)
            if not interspersed:
                out.args.extend(argv[i:])
                break
    return out


def _csv(values: list[str]):  # type: ignore[no-untyped-def]
    import csv

    yield from csv.reader(values)


def no_args(parsed: Parsed, command_path: str) -> None:
    """cobra.NoArgs."""
    if parsed.args:
        raise FlagError(f'unknown command "{parsed.args[0]}" for "{command_path}"')


def max_args(parsed: Parsed, n: int) -> None:
    """cobra.MaximumNArgs."""
    if len(parsed.args) > n:
        raise FlagError(f"accepts at most {n} arg(s), received {len(parsed.args)}")


def min_args(parsed: Parsed, n: int) -> None:
    """cobra.MinimumNArgs."""
    if len(parsed.args) < n:
        raise FlagError(f"requires at least {n} arg(s), only received {len(parsed.args)}")
