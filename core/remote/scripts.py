"""The POSIX sh that runyard runs on a box. Each function returns one script for `sh -s`.

A box needs POSIX sh and coreutils only (tar and setsid are used when present). Scripts
read builtins where they can (process state comes from /proc with `read`, not `ps`), so a
poll of 50 runs starts a handful of processes on the box, not hundreds. Every value put
into a script goes through `quote()`; the work folder is checked to be shell-safe.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from core.gpus import QUERY_ARGS
from core.paths import WRAPPER

HELPER = Path(__file__).with_name("boxhelper.sh")

# The reply lines of the probe.
PROBE_OK = "RUNYARD-PROBE-OK"


def quote(text: str) -> str:
    """One sh word, exactly `text`."""
    return "'" + text.replace("'", "'\"'\"'") + "'"


def work_expression(work_dir: str) -> str:
    """The work folder as a sh word; `~` is the box user's $HOME."""
    if work_dir == "~":
        return '"$HOME"'
    if work_dir.startswith("~/"):
        return '"$HOME"/' + quote(work_dir[2:])
    return quote(work_dir)


def installed_name(path: Path) -> str:
    """`runwrap-<hash>.sh`: a changed file gets a new name, so boxes never run a stale copy."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return f"{path.stem}-{digest}.sh"


def _install(path: Path) -> str:
    text = path.read_text()
    name = installed_name(path)
    marker = "RUNYARD_FILE_END_" + name.replace("-", "_").replace(".", "_")
    assert marker not in text
    return (f"if [ ! -f bin/{name} ]; then\n"
            f"    cat > bin/{name}.tmp.$$ <<'{marker}'\n{text}{marker}\n"
            f"    mv -f bin/{name}.tmp.$$ bin/{name} || fail 'cannot write into' \"$PWD/bin\"\n"
            f"fi\n")


def probe(work_dir: str) -> str:
    """Make sure the work folder exists (its parent must), install the helpers, report facts."""
    return f"""
fail() {{ echo "ERR $*"; exit 0; }}
work={work_expression(work_dir)}
case $work in /*) ;; *) fail "the work folder $work is not an absolute path (is HOME set?)" ;; esac
if [ ! -d "$work" ]; then
    parent=${{work%/*}}
    [ -n "$parent" ] || parent=/
    [ -d "$parent" ] || fail "the work folder's parent $parent does not exist"
    mkdir "$work" 2>/dev/null || fail "cannot create the work folder $work"
fi
cd "$work" || fail "cannot enter the work folder $work"
mkdir -p bin blobs snapshots runs incoming 2>/dev/null ||
    fail "cannot write into the work folder $work"
[ -w . ] || fail "cannot write into the work folder $work"
{_install(HELPER)}{_install(WRAPPER)}
echo "WORK $(pwd -P)"
command -v tar >/dev/null 2>&1 && echo "HAS tar"
command -v setsid >/dev/null 2>&1 && echo "HAS setsid"
command -v gzip >/dev/null 2>&1 && echo "HAS gzip"
echo {PROBE_OK}
"""


def gpu_query() -> str:
    args = " ".join(quote(a) for a in QUERY_ARGS)
    return f"""
command -v nvidia-smi >/dev/null 2>&1 || exit 0
nvidia-smi {args}
"""


def missing_blobs(work: str, snapshot: str, names: list[str]) -> str:
    """Print READY if the snapshot is already laid out, else the blobs the box lacks."""
    listing = "\n".join(names)
    return f"""
cd {quote(work)} || exit 70
[ -d snapshots/{snapshot} ] && {{ echo READY; exit 0; }}
while IFS= read -r name; do
    [ -f "blobs/$name" ] || echo "$name"
done <<'RUNYARD_NAMES_END'
{listing}
RUNYARD_NAMES_END
echo "FREE $(df -Pk . 2>/dev/null | tail -n 1)"
"""


def link_tree(work: str, snapshot: str, nonce: str, dirs: list[str],
              links: list[tuple[str, str]], symlinks: list[tuple[str, str]]) -> str:
    """Lay out a snapshot as hard links into the blob store, without tar (one `ln` per file)."""
    tree = f"snapshots/tmp-{nonce}"
    lines = [f"cd {quote(work)} || exit 70", "set -e", f"rm -rf {tree}", f"mkdir -p {tree}"]
    for folder in dirs:
        lines.append(f"mkdir -p {tree}/{quote(folder)}")
    for name, blob in links:
        lines.append(f"ln -f blobs/{blob} {tree}/{quote(name)}")
    for name, target in symlinks:
        lines.append(f"ln -s -- {quote(target)} {tree}/{quote(name)}")
    lines.append(f"if [ -d snapshots/{snapshot} ]; then rm -rf {tree}; "
                 f"else mv {tree} snapshots/{snapshot}; fi")
    return "\n".join(lines) + "\n"


# Reads field 22 (start time) of /proc/PID/stat with builtins; sets `started`.
_START_TIME = r"""
start_time() {
    started=
    [ -r "/proc/$1/stat" ] || return 1
    IFS= read -r stat_line < "/proc/$1/stat" || return 1
    stat_line=${stat_line##*) }
    set -f; set -- $stat_line; set +f
    [ "$1" != Z ] || return 1
    [ $# -ge 20 ] || return 0
    shift 19
    started=$1
}
"""


def _copy_code(run_dir: str, snapshot: str | None, executables: list[str]) -> str:
    """sh (in the work folder, with `fail` defined) giving a run folder its private copy."""
    code = f"{run_dir}/code"
    if not snapshot:
        return (f"rm -rf {run_dir} && mkdir -p {code} || "
                f"fail \"cannot create the run folder $PWD/{run_dir}\"\n")
    text = (f"[ -d snapshots/{snapshot} ] || {{ echo NEED; exit 0; }}\n"
            f"rm -rf {run_dir} && mkdir -p {run_dir} || "
            f"fail \"cannot create the run folder $PWD/{run_dir}\"\n"
            f"if ! error=$(cp -R snapshots/{snapshot} {code} 2>&1); then\n"
            f"    rm -rf {code}\n"
            f"    fail \"cannot copy the code into $PWD/{code}: $(echo \"$error\" | head -n 1)\"\n"
            f"fi\n"
            f"chmod -R u+w {code}\n")
    for start in range(0, len(executables), 200):
        names = " ".join(quote(f"{code}/{name}") for name in executables[start:start + 200])
        text += f"chmod 755 -- {names}\n"
    return text


def prepare_run(work: str, run_dir: str, snapshot: str | None, executables: list[str]) -> str:
    """Give a run folder its private copy of the snapshot (for executors that start runs
    their own way, e.g. sbatch). Replies NEED, ERR <why>, or READY <absolute run folder>."""
    return f"""
fail() {{ echo "ERR $*"; exit 0; }}
cd {quote(work)} || fail "cannot enter the work folder {work}"
{_copy_code(run_dir, snapshot, executables)}: >> {run_dir}/output.log ||
    fail "cannot write $PWD/{run_dir}/output.log"
echo "READY $PWD/{run_dir}"
"""


def launch(work: str, run_dir: str, snapshot: str | None, subdir: str, executables: list[str],
           env: dict[str, str], command: list[str], wrapper: str) -> str:
    """Copy the snapshot into the run folder and start the run in its own session.

    Replies NEED when the snapshot is not on the box yet, ERR <why>, or PID <pid> <start>.
    If the run already started there (an earlier reply was lost with the connection), it
    is not started twice: its PID comes back instead.
    """
    code = f"{run_dir}/code"
    workdir = f"{code}/{subdir}" if subdir else code
    assignments = " ".join(quote(f"{k}={v}") for k, v in env.items())
    argv = " ".join(quote(a) for a in command)
    start_cmd = (f"env {assignments} sh \"$work/bin/{wrapper}\" \"$work/{run_dir}\" "
                 f"\"$work/{workdir}\" -- {argv} < /dev/null "
                 f">> \"$work/{run_dir}/output.log\" 2>&1 &")
    return f"""
fail() {{ echo "ERR $*"; exit 0; }}
{_START_TIME}
cd {quote(work)} || fail "cannot enter the work folder {work}"
work=$PWD
if [ -s {run_dir}/pid ]; then
    IFS= read -r pid < {run_dir}/pid
    if [ -f {run_dir}/exit_status ] || start_time "$pid"; then
        echo "PID $pid $started"
        exit 0
    fi
fi
{_copy_code(run_dir, snapshot, executables)}: >> {run_dir}/output.log ||
    fail "cannot write $PWD/{run_dir}/output.log"
cd {run_dir}
if command -v setsid >/dev/null 2>&1; then
    setsid {start_cmd}
else
    {start_cmd}
fi
pid=$!
tries=0
while [ ! -s pid ] && [ $tries -lt 40 ]; do
    sleep 0.05 2>/dev/null || break
    tries=$((tries + 1))
done
[ -s pid ] && IFS= read -r pid < pid
start_time "$pid"
echo "PID $pid $started"
"""


def find_pid(work: str, run_dir: str) -> str:
    """PID <pid> <start> of a run whose start the engine did not record, or NONE."""
    return f"""
{_START_TIME}
cd {quote(work)} || exit 70
if [ -s {run_dir}/pid ]; then
    IFS= read -r pid < {run_dir}/pid
    start_time "$pid"
    echo "PID $pid $started"
else
    echo NONE
fi
"""


# The pids of a run: its session and process group, and every descendant, from /proc.
_TREE = r"""
tree() {
    root=$1
    found=" $root "
    pairs=
    for stat_file in /proc/[0-9]*/stat; do
        IFS= read -r stat_line 2>/dev/null < "$stat_file" || continue
        p=${stat_file#/proc/}
        p=${p%/stat}
        stat_line=${stat_line##*) }
        set -f; set -- $stat_line; set +f
        [ $# -ge 4 ] || continue
        case " $3 $4 " in *" $root "*) found="$found$p " ;; esac
        pairs="$pairs $p:$2"
    done
    changed=1
    while [ $changed = 1 ]; do
        changed=0
        for pair in $pairs; do
            p=${pair%%:*}
            case $found in *" $p "*) continue ;; esac
            case $found in *" ${pair#*:} "*) found="$found$p "; changed=1 ;; esac
        done
    done
    echo $found
}
"""


def signal_tree(work: str, run_dir: str, pid: int | None, signal_name: str) -> str:
    """Send a signal to the run's process group and every process of its tree.

    Replies SENT <n> with how many processes got it.
    """
    pid_text = str(pid) if pid else ""
    return f"""
{_TREE}
cd {quote(work)} || exit 70
pid={pid_text}
[ -n "$pid" ] || {{ [ -s {run_dir}/pid ] && IFS= read -r pid < {run_dir}/pid; }}
[ -n "$pid" ] || {{ echo "SENT 0"; exit 0; }}
sent=0
kill -{signal_name} -"$pid" 2>/dev/null && sent=1
for p in $(tree "$pid"); do
    [ "$p" = $$ ] && continue
    kill -{signal_name} "$p" 2>/dev/null && sent=$((sent + 1))
done
echo "SENT $sent"
"""


def poll(work: str, token: str, runs: list, max_chunk: int) -> str:
    """One look at many runs: their state, and the new bytes of their files.

    `runs`: (run_dir, pid or None, start time or None, [(file name, local size)]) each;
    pid None reads the run folder's `pid` file; pid 0 means "no process to watch here" (a
    Slurm job, say): such a run is running until its exit_status appears, never gone.
    Replies, per run i: `S i running`, `S i ended MTIME STATUS-LINE` or `S i gone`; per file j
    that exists: `Z i j SIZE`, and when it grew, `D i j OFFSET LENGTH`, LENGTH raw bytes and
    a line `E<token>`; finally `END <token>`. Files only grow, so LENGTH bytes are there.
    """
    checks = []
    cases = []
    paths = []
    for i, (run_dir, pid, started, files) in enumerate(runs):
        pid_text = "" if pid is None else str(pid)
        checks.append(f"check {i} {run_dir} '{pid_text}' '{started or ''}'")
        for j, (name, offset) in enumerate(files):
            path = f"{run_dir}/{name}"
            paths.append(f"[ -f {path} ] && set -- \"$@\" {path}")
            cases.append(f"    {path}) i={i} j={j} offset={offset} ;;")
    case_body = "\n".join(cases)
    return f"""
{_START_TIME}
alive() {{
    if [ -d /proc/self ]; then
        want=$2
        start_time "$1" || return 1
        [ -z "$want" ] || [ -z "$started" ] || [ "$started" = "$want" ]
    else
        kill -0 "$1" 2>/dev/null
    fi
}}
ended() {{
    IFS= read -r status < "$2/exit_status"
    mtime=$(stat -c %Y "$2/exit_status" 2>/dev/null || date -r "$2/exit_status" +%s 2>/dev/null)
    printf 'S %s ended %s %s\\n' "$1" "${{mtime:-0}}" "$status"
}}
check() {{
    if [ -f "$2/exit_status" ]; then ended "$1" "$2"; return; fi
    pid=$3
    [ "$pid" = 0 ] && {{ printf 'S %s running\\n' "$1"; return; }}
    [ -n "$pid" ] || {{ [ -s "$2/pid" ] && IFS= read -r pid < "$2/pid"; }}
    if [ -n "$pid" ] && alive "$pid" "$4"; then
        printf 'S %s running\\n' "$1"
    elif [ -f "$2/exit_status" ]; then
        ended "$1" "$2"
    else
        printf 'S %s gone\\n' "$1"
    fi
}}
cd {quote(work)} || exit 70
{chr(10).join(checks)}
set --
{chr(10).join(paths)}
if [ $# -gt 0 ]; then
    wc -c -- "$@" 2>/dev/null | while read -r size name; do
        case $name in
{case_body}
        *) continue ;;
        esac
        printf 'Z %s %s %s\\n' "$i" "$j" "$size"
        if [ "$size" -gt "$offset" ]; then
            length=$((size - offset))
            [ "$length" -le {max_chunk} ] || length={max_chunk}
            printf 'D %s %s %s %s\\n' "$i" "$j" "$offset" "$length"
            tail -c +$((offset + 1)) -- "$name" | head -c "$length"
            printf '\\nE%s\\n' {token}
        fi
    done
fi
printf 'END %s\\n' {token}
"""
