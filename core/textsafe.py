"""Making a run's output safe to show: colours may stay, nothing else reaches the terminal.

A run's output is untrusted. `clean_line()` keeps SGR colour sequences (when asked),
removes every other escape sequence (titles, clipboard, modes, cursor movement, device
queries), C0 and C1 control characters, and plays carriage returns and backspaces the way
a terminal would, so a progress bar is one line showing its last state. Invalid UTF-8
becomes U+FFFD.

Values a user or a run chose (run names, params, tags, reasons, commands, paths, error
messages that quote them) go through `inline()`: one line, whatever they hold. Escape
sequences are dropped; a line break, tab or other control character, a bidirectional
override and a byte that is not UTF-8 (a surrogate from the file system's encoding) are
shown as escapes (`\n`, `\x1b`, `\u202e`, `\xff`), so a name cannot forge a line of
output nor reorder what the terminal shows.
"""

from __future__ import annotations

import re

# Every escape sequence: CSI, OSC (to BEL or ST, or the end of the text), DCS/SOS/PM/APC
# strings, and two- or three-character ESC sequences; plus 8-bit C1 controls.
_ESCAPE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]?"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"
    r"|\x1b[ -/]*[0-~]?"
    r"|\x9b[0-?]*[ -/]*[@-~]?"
    r"|\x9d[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|[\x90\x98\x9e\x9f][^\x1b\x9c]*(?:\x1b\\|\x9c)?"
    r"|[\x80-\x9f]")
_SGR = re.compile(r"\x1b\[[0-9;:]*m")
_CONTROLS = re.compile(r"[\x00-\x07\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f]")
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _drop_escapes(text: str, keep_sgr: bool) -> str:
    if keep_sgr:
        return _ESCAPE.sub(lambda m: m.group(0) if _SGR.fullmatch(m.group(0)) else "", text)
    return _ESCAPE.sub("", text)


def visible(text: str) -> str:
    """The text a cleaned line shows, without its colour sequences."""
    return _SGR.sub("", text)


def _backspaces(text: str) -> str:
    out: list[str] = []
    for char in text:
        if char == "\b":
            if out:
                out.pop()
        else:
            out.append(char)
    return "".join(out)


def _carriage_returns(text: str) -> str:
    """`abcdef\\rXY` shows `XYcdef`: each segment overwrites the start of the one before."""
    shown = ""
    for segment in text.split("\r"):
        if not segment:
            continue
        seen = visible(segment)
        rest = visible(shown)[len(seen):]
        shown = segment + rest
    return shown


def clean_line(line: str, keep_sgr: bool = True) -> str:
    """One line (without its newline) made safe to print."""
    if not _UNSAFE.search(line) and "\x1b" not in line:
        return line                                # the common case: nothing to do
    line = _drop_escapes(line, keep_sgr)
    if "\b" in line:
        line = _backspaces(line)
    line = _CONTROLS.sub("", line)
    if "\r" in line:
        line = _carriage_returns(line)
    return line


def clean_text(text: str, keep_sgr: bool = True) -> str:
    return "\n".join(clean_line(line, keep_sgr) for line in text.split("\n"))


def clean_bytes(data: bytes, keep_sgr: bool = True) -> str:
    return clean_text(data.decode("utf-8", "replace"), keep_sgr)


# Line breaks and other controls, bidi embeddings/overrides/isolates and marks, and the
# surrogates Python uses for bytes that are not UTF-8 (os.fsdecode, surrogateescape).
_NOT_INLINE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e"
                         "\u2066-\u2069\ud800-\udfff]")
_SHOWN = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match) -> str:
    char = match.group(0)
    if char in _SHOWN:
        return _SHOWN[char]
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:                   # an undecodable byte, as Python keeps it
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def inline(text: str) -> str:
    """A value as one line that is safe to print (see the module docstring)."""
    if "\x1b" in text:
        text = _drop_escapes(text, keep_sgr=False)
    return _NOT_INLINE.sub(_escape, text) if _NOT_INLINE.search(text) else text
