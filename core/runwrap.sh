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
run_dir=$1
work_dir=$2
shift 3

echo $$ > "$run_dir/pid"

finish() {
    # From here on the wrapper and the mv it starts ignore TERM/INT/HUP: a cancel that
    # signals the process tree a second time must not kill the mv and lose the status.
    trap '' TERM INT HUP
    printf '%s\t%s\n' "$1" "$2" > "$run_dir/exit_status.tmp" &&
        mv -f "$run_dir/exit_status.tmp" "$run_dir/exit_status"
    exit "$1"
}

trap 'runyard_signal=TERM' TERM
trap 'runyard_signal=INT' INT
trap 'runyard_signal=HUP' HUP

cd "$work_dir" 2>/dev/null || {
    echo "runyard: cannot enter the working folder $work_dir" >&2
    finish 126 "cannot enter the working folder"
}
if ! command -v "$1" >/dev/null 2>&1; then
    echo "runyard: command not found: $1" >&2
    finish 127 "command not found: $1"
fi
"$@"
code=$?
if [ -n "${runyard_signal:-}" ]; then
    finish "$code" "received SIG$runyard_signal"
fi
finish "$code" ""
