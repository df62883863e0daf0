"""The POSIX sh a box runs for a run's files: list them, hash them, send bytes from an offset.

Like core.remote.scripts, each function returns one script for `sh -s`; every value put
into a script goes through `quote()`. The box needs find, stat, sha256sum, tail and head
(coreutils or busybox). File names are the run's: a name with a newline is counted, never
listed, so every reply line is one file.
"""

from __future__ import annotations

from core.remote.scripts import quote

HASH_BATCH = 200        # files per sha256sum call (keeps each command line short)


def _enter(work: str, run_dir: str) -> str:
    return f"cd {quote(work)}/{quote(run_dir)}/code 2>/dev/null || {{ echo GONE; exit 0; }}\n"


def list_files(work: str, run_dir: str) -> str:
    """`NOW <epoch>`, then `F <size> <mtime> <inode> <ctime> ./<path>` per regular file,
    `ODD <count>` (names with a newline, not listed) and `END`; or `GONE`. Without find
    (a box with coreutils only) a shell walk does it, with one stat per file."""
    return _enter(work, run_dir) + """echo "NOW $(date +%s)"
nl='
'
if command -v find >/dev/null 2>&1; then
    find . -type f ! -name "*$nl*" -exec stat -c 'F %s %Y %i %Z %n' {} + 2>/dev/null
    echo "ODD $(find . -type f -name "*$nl*" -exec printf . \\; 2>/dev/null | wc -c)"
else
    odd=0
    walk() {
        for entry in "$1"/* "$1"/.[!.]* "$1"/..?*; do
            if [ -h "$entry" ] || [ ! -e "$entry" ]; then
                continue
            elif [ -d "$entry" ]; then
                walk "$entry"
            elif [ -f "$entry" ]; then
                case $entry in
                *"$nl"*) odd=$((odd + 1)) ;;
                *) stat -c 'F %s %Y %i %Z %n' -- "$entry" 2>/dev/null ;;
                esac
            fi
        done
    }
    walk .
    echo "ODD $odd"
fi
echo END
"""


def hash_files(work: str, run_dir: str, paths: list[str]) -> str:
    """sha256sum's lines for these files (those still there), then `END`; or `GONE`."""
    lines = [_enter(work, run_dir).rstrip("\n"),
             "command -v sha256sum >/dev/null 2>&1 || { echo NOSHA; exit 0; }"]
    for start in range(0, len(paths), HASH_BATCH):
        names = " ".join(quote(p) for p in paths[start:start + HASH_BATCH])
        lines.append(f"sha256sum -- {names} 2>/dev/null")
    lines.append("echo END")
    return "\n".join(lines) + "\n"


def send_files(work: str, run_dir: str, wanted: list[tuple[str, int]], token: str) -> str:
    """For file i of `wanted` (path, offset): `F i LENGTH`, LENGTH bytes from the offset and
    a line `E<token>`; or `G i` when it is gone (or not a regular file). Then `END <token>`.
    A file that shrinks while it is sent is padded with zeros to LENGTH, so the framing
    holds; its sha256 then tells it changed."""
    calls = "\n".join(f"send {i} {offset} {quote(path)}"
                      for i, (path, offset) in enumerate(wanted))
    return _enter(work, run_dir) + f"""send() {{
    if [ -f "$3" ] && [ ! -h "$3" ]; then
        size=$(stat -c %s -- "$3" 2>/dev/null) || {{ printf 'G %s\\n' "$1"; return; }}
        length=$((size - $2))
        [ "$length" -ge 0 ] || length=0
        printf 'F %s %s\\n' "$1" "$length"
        {{ tail -c +$(($2 + 1)) -- "$3"; cat /dev/zero; }} | head -c "$length"
        printf '\\nE%s\\n' {token}
    else
        printf 'G %s\\n' "$1"
    fi
}}
{calls}
printf 'END %s\\n' {token}
"""


def send_tar(work: str, run_dir: str, paths: list[str], token: str) -> str:
    """These files (from their start) as one tar on stdout: one process for all of them.
    Each name is given as ./NAME, so a run's file named `-C/etc` stays a file name. A file
    that vanished is left out and one that shrank is padded (tar says so on stderr); the
    sha256 check on the other side catches both, so tar's exit code does not end the reply."""
    names = "\n".join("./" + p for p in paths)
    marker = f"RUNYARD_NAMES_{token}"
    enter = _enter(work, run_dir).replace("echo GONE; exit 0", "echo GONE >&2; exit 3")
    return enter + f"""list="${{TMPDIR:-/tmp}}/runyard-send-$$-{token}"
cat > "$list" <<'{marker}'
{names}
{marker}
tar -c -f - -T "$list"
rm -f "$list"
exit 0
"""
