"""A subset of Go's text/template, enough for the ``--format`` strings kind and people pass to nerdctl.

Upstream: golang text/template (syntax, ``index``/``printf``/``len`` builtins, ``with``/``range``/
``if``), docker/cli ``templates.Parse`` (adds ``json``, ``join``, ``lower``, ``upper``, ``title``,
``split``, ``println``), nerdctl ``pkg/formatter/common.go`` (``json`` alone means ``{{json .}}``).

Values are plain Python data.  A :class:`GoStruct` is a Go struct: unknown fields are an execution
error, like ``can't evaluate field X in type *container.ListItem``; a ``dict`` is a Go map: a missing
key prints ``<no value>``.  :class:`GoTime` prints like Go's ``time.Time``.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any, Callable


class TemplateError(Exception):
    """A parse or execution error, worded like Go's."""


class GoStruct(dict):  # type: ignore[type-arg]
    """A dict that behaves as a Go struct with a type name and methods."""

    def __init__(self, type_name: str, fields: dict[str, Any], methods: dict[str, Callable[..., Any]] | None = None):
        super().__init__(fields)
        self.type_name = type_name
        self.methods = methods or {}


class GoTime:
    """A time.Time: ``str`` gives Go's default layout, JSON gives RFC 3339 with nanoseconds."""

    def __init__(self, ts: float):
        self.ts = ts

    def __str__(self) -> str:
        dt = datetime.fromtimestamp(self.ts, tz=timezone.utc)
        frac = f"{int(round((self.ts % 1) * 1e9)):09d}".rstrip("0")
        return dt.strftime("%Y-%m-%d %H:%M:%S") + (f".{frac}" if frac else "") + " +0000 UTC"

    def json(self) -> str:
        dt = datetime.fromtimestamp(self.ts, tz=timezone.utc)
        frac = f"{int(round((self.ts % 1) * 1e9)):09d}".rstrip("0")
        return dt.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if frac else "") + "Z"


_NO_VALUE = object()


def _jsonable(v: Any) -> Any:
    if isinstance(v, GoTime):
        return v.json()
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


def to_json(v: Any) -> str:
    """docker/cli's ``json`` template function (no HTML escaping, no trailing newline)."""
    return json.dumps(_jsonable(v), ensure_ascii=False, separators=(",", ":"))


def go_str(v: Any) -> str:
    """fmt's ``%v`` for the values this module knows."""
    if v is _NO_VALUE:
        return "<no value>"
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, GoStruct):
        return "{" + " ".join(go_str(x) for x in v.values()) + "}"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{k}:{go_str(v[k])}" for k in sorted(v)) + "]"
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(go_str(x) for x in v) + "]"
    return str(v)


def _truthy(v: Any) -> bool:
    return not (v is None or v is _NO_VALUE or v is False or v == 0 or v == "" or v == [] or v == {})


def _printf(fmt: str, *args: Any) -> str:
    out, i, argi = [], 0, 0
    while i < len(fmt):
        c = fmt[i]
        if c != "%" or i + 1 >= len(fmt):
            out.append(c)
            i += 1
            continue
        verb = fmt[i + 1]
        i += 2
        if verb == "%":
            out.append("%")
            continue
        if argi >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        a = args[argi]
        argi += 1
        if verb == "q":
            out.append(json.dumps(go_str(a)))
        elif verb == "d" and isinstance(a, int):
            out.append(str(a))
        else:
            out.append(go_str(a))
    return "".join(out)


def _index(item: Any, *keys: Any) -> Any:
    for k in keys:
        if isinstance(item, dict):
            if k in item:
                item = item[k]
            else:
                values = list(item.values())
                item = "" if values and all(isinstance(x, str) for x in values) else None
        elif isinstance(item, (list, tuple, str)):
            if not isinstance(k, int) or not 0 <= k < len(item):
                raise TemplateError(f"error calling index: index out of range: {k}")
            item = item[k]
        elif item is None or item is _NO_VALUE:
            raise TemplateError("error calling index: index of untyped nil")
        else:
            raise TemplateError(f"error calling index: can't index item of type {type(item).__name__}")
    return item


FUNCS: dict[str, Callable[..., Any]] = {
    "json": to_json,
    "index": _index,
    "printf": _printf,
    "print": lambda *a: "".join(go_str(x) for x in a),
    "println": lambda *a: " ".join(go_str(x) for x in a) + "\n",
    "len": lambda x: len(x),
    "join": lambda items, sep: sep.join(go_str(x) for x in items),
    "split": lambda s, sep: s.split(sep),
    "lower": lambda s: go_str(s).lower(),
    "upper": lambda s: go_str(s).upper(),
    "title": lambda s: go_str(s).title(),
    "not": lambda x: not _truthy(x),
    "eq": lambda a, *b: any(a == x for x in b),
    "ne": lambda a, b: a != b,
}

_TOKEN = re.compile(
    r"""\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<raw>`[^`]*`)|(?P<num>-?\d+)|(?P<lp>\()|(?P<rp>\))"""
    r"""|(?P<pipe>\|)|(?P<field>(?:\$[A-Za-z0-9_]*)?(?:\.[A-Za-z0-9_]+)+|\.|\$[A-Za-z0-9_]*)"""
    r"""|(?P<ident>[A-Za-z_][A-Za-z0-9_]*))"""
)


def _tokens(src: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    src = src.strip()
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if not m or m.end() == pos:
            raise TemplateError(f"template: :1: unexpected {src[pos:pos + 1]!r} in command")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
        while pos < len(src) and src[pos].isspace():
            pos += 1
    return out


class Template:
    """A parsed template; :meth:`execute` renders it for one value."""

    def __init__(self, src: str):
        self.src = src
        self.nodes = self._parse(self._lex(src))

    # lexing: [("text", s) | ("action", s)] with {{- -}} trimming applied
    @staticmethod
    def _lex(src: str) -> list[tuple[str, str]]:
        parts: list[tuple[str, str]] = []
        pos = 0
        while True:
            start = src.find("{{", pos)
            if start < 0:
                parts.append(("text", src[pos:]))
                break
            end = src.find("}}", start)
            if end < 0:
                raise TemplateError('template: :1: unclosed action')
            text = src[pos:start]
            body = src[start + 2 : end]
            if body.startswith("- "):
                text = text.rstrip()
                body = body[2:]
            trim_after = body.endswith(" -")
            if trim_after:
                body = body[:-2]
            parts.append(("text", text))
            parts.append(("action", body.strip()))
            pos = end + 2
            if trim_after:
                while pos < len(src) and src[pos].isspace():
                    pos += 1
        return [p for p in parts if p != ("text", "")]

    def _parse(self, parts: list[tuple[str, str]]) -> list[Any]:
        stack: list[tuple[list[Any], Any]] = []
        nodes: list[Any] = []
        for kind, body in parts:
            if kind == "text":
                nodes.append(("text", body))
                continue
            if body.startswith("/*"):
                continue
            word = body.split(None, 1)[0] if body else ""
            if word in ("if", "with", "range"):
                block = [word, _tokens(body[len(word) :]), [], None]
                nodes.append(block)
                stack.append((nodes, block))
                nodes = block[2]
            elif word == "else":
                if not stack:
                    raise TemplateError("template: :1: unexpected {{else}}")
                block = stack[-1][1]
                block[3] = []
                nodes = block[3]
            elif word == "end":
                if not stack:
                    raise TemplateError("template: :1: unexpected {{end}}")
                nodes, _ = stack.pop()
            else:
                nodes.append(("action", _tokens(body)))
        if stack:
            raise TemplateError("template: :1: unexpected EOF")
        return nodes

    def execute(self, data: Any) -> str:
        out: list[str] = []
        self._run(self.nodes, data, data, out)
        return "".join(out)

    def _run(self, nodes: list[Any], dot: Any, root: Any, out: list[str]) -> None:
        for node in nodes:
            if node[0] == "text":
                out.append(node[1])
            elif node[0] == "action":
                out.append(go_str(self._pipeline(node[1], dot, root)))
            else:
                word, toks, body, other = node
                value = self._pipeline(toks, dot, root)
                if word == "range":
                    items = list(value.values()) if isinstance(value, dict) else list(value or [])
                    for item in items:
                        self._run(body, item, root, out)
                    if not items and other:
                        self._run(other, dot, root, out)
                elif _truthy(value):
                    self._run(body, value if word == "with" else dot, root, out)
                elif other:
                    self._run(other, dot, root, out)

    def _pipeline(self, toks: list[tuple[str, str]], dot: Any, root: Any) -> Any:
        commands: list[list[tuple[str, str]]] = [[]]
        depth = 0
        for t in toks:
            if t[0] == "pipe" and depth == 0:
                commands.append([])
                continue
            depth += t[0] == "lp"
            depth -= t[0] == "rp"
            commands[-1].append(t)
        value: Any = _NO_VALUE
        for i, cmd in enumerate(commands):
            value = self._command(cmd, dot, root, None if i == 0 else value)
        return value

    def _command(self, toks: list[tuple[str, str]], dot: Any, root: Any, piped: Any) -> Any:
        operands: list[Any] = []
        i = 0
        while i < len(toks):
            kind, text = toks[i]
            if kind == "lp":
                depth, j = 1, i + 1
                while j < len(toks) and depth:
                    depth += toks[j][0] == "lp"
                    depth -= toks[j][0] == "rp"
                    j += 1
                operands.append(("value", self._pipeline(toks[i + 1 : j - 1], dot, root)))
                i = j
                continue
            operands.append((kind, text))
            i += 1
        if not operands:
            raise TemplateError("template: :1: missing value for command")
        head_kind, head = operands[0]
        args = [self._operand(o, dot, root) for o in operands[1:]]
        if piped is not None:
            args.append(piped)
        if head_kind == "ident":
            if head in ("true", "false"):
                return head == "true"
            if head == "nil":
                return None
            if head not in FUNCS:
                raise TemplateError(f'template: :1: function "{head}" not defined')
            try:
                return FUNCS[head](*args)
            except TemplateError:
                raise
            except Exception as e:  # noqa: BLE001 - Go reports any failure of a function call
                raise TemplateError(f"template: :1: error calling {head}: {e}") from e
        if head_kind == "field" and args:
            return self._field(head, dot, root, args)
        if args:
            raise TemplateError(f"template: :1: can't give argument to non-function {head}")
        return self._operand(operands[0], dot, root)

    def _operand(self, operand: tuple[str, Any], dot: Any, root: Any) -> Any:
        kind, text = operand
        if kind == "value":
            return text
        if kind == "str":
            return json.loads(text, strict=False)
        if kind == "raw":
            return text[1:-1]
        if kind == "num":
            return int(text)
        if kind == "field":
            return self._field(text, dot, root, None)
        if kind == "ident":
            return self._command([(kind, text)], dot, root, None)
        raise TemplateError(f"template: :1: unexpected {text!r} in operand")

    def _field(self, chain: str, dot: Any, root: Any, args: list[Any] | None) -> Any:
        if chain.startswith("$"):
            value, chain = root, chain[chain.find(".") :] if "." in chain else ""
        else:
            value = dot
        names = [n for n in chain.split(".") if n]
        for pos, name in enumerate(names):
            last = pos == len(names) - 1
            if isinstance(value, GoStruct):
                if name in value.methods:
                    value = value.methods[name](*(args or [])) if last else value.methods[name]()
                    if last:
                        return value
                    continue
                if name not in value:
                    raise TemplateError(
                        f'template: :1:{3 + len(chain)}: executing "" at <.{name}>: '
                        f"can't evaluate field {name} in type {value.type_name}"
                    )
                value = value[name]
            elif isinstance(value, dict):
                value = value.get(name, _NO_VALUE)
            elif value is None or value is _NO_VALUE:
                raise TemplateError(f'template: :1: executing "" at <.{name}>: nil pointer evaluating .{name}')
            else:
                raise TemplateError(
                    f'template: :1: executing "" at <.{name}>: can\'t evaluate field {name} in type {type(value).__name__}'
                )
        if args:
            raise TemplateError(f"template: :1: {chain} is not a method but has arguments")
        return value


def parse(fmt: str) -> Template:
    """nerdctl's ``formatter.ParseTemplate``: ``json`` is an alias of ``{{json .}}``."""
    return Template("{{json .}}" if fmt == "json" else fmt)
