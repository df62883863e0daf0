"""Run output is shown, never obeyed: only colours survive."""

from core.textsafe import clean_bytes, clean_line


def test_colours_stay_everything_else_goes():
    hostile = ("\x1b[31mred\x1b[0m \x1b]0;PWNED\x07 \x1b]52;c;aGk=\x07 \x1b[?1049h\x1b[2J"
               "\x1b[10;10H\x1bP+q544e\x1b\\\x1b_apc\x1b\\\x9b31m\x07done")
    out = clean_line(hostile)
    assert out == "\x1b[31mred\x1b[0m   done"
    assert clean_line(hostile, keep_sgr=False) == "red   done"


def test_carriage_returns_and_backspaces_behave_like_a_terminal():
    assert clean_line("abcdef\rXY") == "XYcdef"
    assert clean_line(" 10%|#   |\r 50%|##  |\r100%|####|") == "100%|####|"
    assert clean_line("loss=1\r") == "loss=1"
    assert clean_line("abc\b\bX") == "aX"


def test_invalid_utf8_and_unterminated_sequences():
    assert clean_bytes(b"ok \xff\xfe \x1b]0;title-without-end") == "ok \ufffd\ufffd "
    assert clean_bytes(b"a\x00b\x1b") == "ab"


def test_long_line_is_fast_enough_to_be_usable():
    line = ("x" * 1000 + "\x1b[32m") * 10_000           # 10 MB with colour changes
    assert len(clean_line(line)) == len(line)


def test_inline_makes_any_value_one_safe_line():
    from core.textsafe import inline
    assert inline("train lr=0.1") == "train lr=0.1"
    assert inline("a\nb\rc\td") == "a\\nb\\rc\\td"
    assert inline("x\x1b[2J\x1b]0;title\x07y") == "xy"
    assert inline("\x07\x7f\x9b") == "\\x07\\x7f\\x9b"
    assert inline("abc\u202edef\u2066") == "abc\\u202edef\\u2066"
    assert inline("caf\udce9") == "caf\\xe9"                 # a byte that is not UTF-8
    assert inline("ünïcödé 日本") == "ünïcödé 日本"
    assert "\n" not in inline("\n" * 1000)
