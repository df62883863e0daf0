#!/bin/sh
# runyard's run wrapper: runs one command and records how it ended.
#
#   sh runwrap.sh RUN_DIR WORK_DIR -- COMMAND [ARGS...]
#
# Needs only POSIX sh and mv, so it also works on boxes that have nothing installed.
# Writes RUN_DIR/pid when it starts and RUN_DIR/exit_status ("CODE<TAB>REASON") when the
# command ends, through a temporary file and a rename: a reader sees a whole status or none.
# Signals sent to the process group reach the command too; the wrapper waits for the
# command to end and then records its status (a SIGKILL leaves no status, by design).
#
# The command runs in a shell of its own (`/bin/sh -c 'trap : TERM INT HUP; "$@"'`), never
# in this one: a shell builtin (`exit 0`, `exec python3 t.py`, `unset ...`) acts there and
# ends with its true code, and nothing the command names can reach this script's variables
# (the script defines no functions, so `command -v` never finds one of ours either). That
# shell waits for the command through TERM/INT/HUP (the command itself gets them as sent:
# caught signals are reset when it starts) and ends with its code.
#
# The status file's disk block is taken when the run starts (RUN_DIR/exit_status.tmp, filled
# with newlines) and overwritten in place at the end (`1<>` does not truncate), so a run that
# fills the disk still leaves its exit status behind: its first line is the status, blank
# lines may follow. The engine makes `pid` and `exit_status.tmp` beforehand (mode 0600) where
# the run folder is on its machine; this script writes into them without changing modes.
#
# RUN_DIR/cgroup, when the engine wrote it, names the cgroup.procs file of the run's own
# cgroup: the wrapper joins it before the command starts, so everything the command starts,
# daemons included, is found there by a cancel.
runyard_run_dir=$1
runyard_work_dir=$2
shift 3

if [ -s "$runyard_run_dir/cgroup" ]; then
    IFS= read -r runyard_cgroup < "$runyard_run_dir/cgroup" &&
        echo $$ 2>/dev/null > "$runyard_cgroup"
fi
echo $$ > "$runyard_run_dir/pid"
printf '\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n' \
    2>/dev/null > "$runyard_run_dir/exit_status.tmp"

trap 'runyard_signal=TERM' TERM
trap 'runyard_signal=INT' INT
trap 'runyard_signal=HUP' HUP

runyard_reason=
if ! cd "$runyard_work_dir" 2>/dev/null; then
    echo "runyard: cannot enter the working folder $runyard_work_dir" >&2
    runyard_code=126
    runyard_reason="cannot enter the working folder"
elif ! command -v "$1" >/dev/null 2>&1; then
    echo "runyard: command not found: $1" >&2
    runyard_code=127
    runyard_reason="command not found: $1"
else
    /bin/sh -c 'trap : TERM INT HUP; "$@"' "$1" "$@"
    runyard_code=$?
    if [ -n "${runyard_signal:-}" ]; then
        runyard_reason="received SIG$runyard_signal"
    fi
fi

# From here on the wrapper and the mv it starts ignore TERM/INT/HUP: a cancel that signals
# the process tree a second time must not kill the mv and lose the status.
trap '' TERM INT HUP
printf '%s\t%s\n' "$runyard_code" "$runyard_reason" 1<> "$runyard_run_dir/exit_status.tmp" &&
    mv -f "$runyard_run_dir/exit_status.tmp" "$runyard_run_dir/exit_status"
exit "$runyard_code"
