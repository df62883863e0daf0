"""Params: the knobs of a run, read from its argv and written back into it.

Rules (also in the README):
- `--key value` and `--key=value` in the argv are params; `--flag` followed by another
  option or by nothing is the param `flag = true`.
- `{key}` in an argument is a placeholder filled from the params given with --set.
- Setting a param rewrites its value in the argv; a param that appears nowhere in the
  argv is appended as `--key value`; setting a flag to false removes it.
- Values are typed for display and filtering (int, float, bool, else string), while the
  argv keeps exactly the text that was given.
"""

from __future__ import annotations

import re

from core.errors import UsageError

_KEY = re.compile(r"^--([A-Za-z_][A-Za-z0-9_.\-]*)$")
_KEY_VALUE = re.compile(r"^--([A-Za-z_][A-Za-z0-9_.\-]*)=(.*)$", re.S)
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_INT = re.compile(r"^[-+]?\d+$")
_FLOAT = re.compile(r"^[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?$")


def typed(text: str):
    """`'0.01'` -> 0.01, `'32'` -> 32, `'true'` -> True; anything else stays a string."""
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
        return float(text)
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    return text


def as_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _is_value(word: str) -> bool:
    """Whether an argv word can be the value of a preceding `--key` (negative numbers can)."""
    return not word.startswith("-") or bool(_FLOAT.match(word))


def infer(argv: list[str]) -> dict:
    """The params written in an argv (placeholders are not params until they get a value)."""
    params: dict = {}
    i = 1
    while i < len(argv):
        word = argv[i]
        if m := _KEY_VALUE.match(word):
            if not _PLACEHOLDER.search(m.group(2)):
                params[m.group(1)] = typed(m.group(2))
        elif m := _KEY.match(word):
            if i + 1 < len(argv) and _is_value(argv[i + 1]):
                value = argv[i + 1]
                if not _PLACEHOLDER.search(value):
                    params[m.group(1)] = typed(value)
                i += 1
            else:
                params[m.group(1)] = True
        i += 1
    return params


def placeholders(argv: list[str]) -> set[str]:
    return {name for word in argv for name in _PLACEHOLDER.findall(word)}


def parse_assignments(items: list[str], what: str = "--set") -> dict[str, str]:
    """`["lr=0.1", "bs=32"]` -> `{"lr": "0.1", "bs": "32"}`, with a clear error for bad ones."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"{what} {item!r}: expected KEY=VALUE",
                             hint=f"for example: {what} lr=0.01")
        out[key] = value
    return out


def apply(template: list[str], values: dict[str, str]) -> list[str]:
    """Write param values (as text) into an argv template; see the module rules."""
    argv = list(template)
    used: set[str] = set()
    out: list[str] = []
    i = 0
    while i < len(argv):
        word = argv[i]
        m_kv = _KEY_VALUE.match(word) if i > 0 else None
        m_k = _KEY.match(word) if i > 0 and not m_kv else None
        if m_kv and m_kv.group(1) in values and not _PLACEHOLDER.search(m_kv.group(2)):
            key = m_kv.group(1)
            used.add(key)
            if _is_false_flag(values[key]) and typed(m_kv.group(2)) is True:
                i += 1
                continue
            out.append(f"--{key}={values[key]}")
        elif m_k and m_k.group(1) in values:
            key = m_k.group(1)
            used.add(key)
            has_value = i + 1 < len(argv) and _is_value(argv[i + 1])
            if has_value and _PLACEHOLDER.search(argv[i + 1]):
                out.append(word)             # the placeholder fills it below
            elif has_value:
                out.extend([word, values[key]])
                i += 1
            elif _is_false_flag(values[key]):
                pass                          # --flag set to false: drop it
            elif typed(values[key]) is True:
                out.append(word)
            else:
                out.extend([word, values[key]])
        else:
            out.append(word)
        i += 1

    def fill(match: re.Match) -> str:
        name = match.group(1)
        if name in values:
            used.add(name)
            return values[name]
        return match.group(0)

    out = [_PLACEHOLDER.sub(fill, word) for word in out]
    for key, value in values.items():
        if key in used:
            continue
        if typed(value) is True:
            out.append(f"--{key}")
        elif not _is_false_flag(value):
            out.extend([f"--{key}", value])
    return out


def _is_false_flag(text: str) -> bool:
    return text.lower() == "false"


def resolve(template: list[str], given: dict[str, str]) -> tuple[list[str], dict]:
    """The argv to run and its typed params, from a template and --set values."""
    command = apply(template, given)
    params = infer(template)
    params.update(infer(command))
    for key, value in given.items():
        params[key] = typed(value)
    for key in list(params):
        if params[key] is False and key not in given:
            del params[key]
    return command, params

