#!/bin/sh
# runyard's helper on a box: receives code into the box's content-addressed blob store.
# Installed by runyard into WORK/bin (named by its content hash); needs POSIX sh and
# coreutils, and uses tar when the box has it.
#
#   sh helper.sh WORK receive-tar NONCE SNAPSHOT [gz]  < tar (gzipped with gz): incoming/NONCE.list,
#                                                       blobs/.., snapshots/tmp-NONCE/..
#   sh helper.sh WORK receive-plain NONCE         < frames "ab/cdef.. SIZE\n" + SIZE bytes, then "END 0\n"
#
# A transfer that dies half-way (connection cut, box rebooted) can leave a partly written
# blob. So each transfer first records its pid in incoming/NONCE.pid and what it sends in
# incoming/NONCE.list (the first member of the tar); a later transfer that finds a list
# whose owner is gone removes those blobs before anything can use them.
set -u
work=$1
op=$2
nonce=$3
cd "$work" || exit 70
umask 022
mkdir -p incoming blobs snapshots || exit 70

clean_stale() {
    for pidfile in incoming/*.pid; do
        [ -f "$pidfile" ] || continue
        owner=
        IFS= read -r owner < "$pidfile"
        if [ -n "$owner" ] && kill -0 "$owner" 2>/dev/null; then
            continue
        fi
        base=${pidfile%.pid}
        if [ -f "$base.list" ]; then
            while IFS= read -r name; do
                rm -f "blobs/$name"
            done < "$base.list"
        fi
        rm -rf "$base.list" "$base.err" "$pidfile" "snapshots/tmp-${base#incoming/}"
    done
}

finish_failed() {
    if [ -f "incoming/$nonce.list" ]; then
        while IFS= read -r name; do
            rm -f "blobs/$name"
        done < "incoming/$nonce.list"
    fi
    [ -f "incoming/$nonce.err" ] && cat "incoming/$nonce.err" >&2
    rm -rf "incoming/$nonce.list" "incoming/$nonce.err" "incoming/$nonce.pid" "snapshots/tmp-$nonce"
    exit 1
}

clean_stale
echo $$ > "incoming/$nonce.pid" || exit 71

case $op in
receive-tar)
    snapshot=$4
    if [ "${5:-}" = gz ]; then
        tar -x -z -o -f - 2> "incoming/$nonce.err" || finish_failed
    else
        tar -x -o -f - 2> "incoming/$nonce.err" || finish_failed
    fi
    tree=snapshots/tmp-$nonce
    if [ -d "snapshots/$snapshot" ]; then
        rm -rf "$tree"
    else
        mv "$tree" "snapshots/$snapshot" 2> "incoming/$nonce.err" || finish_failed
    fi
    ;;
receive-plain)
    : > "incoming/$nonce.list"
    while read -r name size; do
        [ "$name" = END ] && break
        echo "$name" >> "incoming/$nonce.list" || finish_failed
        mkdir -p "blobs/${name%/*}" 2> "incoming/$nonce.err" || finish_failed
        head -c "$size" > "blobs/$name.tmp" 2> "incoming/$nonce.err" || finish_failed
        got=$(wc -c < "blobs/$name.tmp")
        if [ "$got" -ne "$size" ]; then
            echo "the stream ended early (got $got of $size bytes)" > "incoming/$nonce.err"
            rm -f "blobs/$name.tmp"
            finish_failed
        fi
        chmod 444 "blobs/$name.tmp" && mv -f "blobs/$name.tmp" "blobs/$name" \
            2> "incoming/$nonce.err" || finish_failed
    done
    [ "$name" = END ] || { echo "the stream ended early" > "incoming/$nonce.err"; finish_failed; }
    ;;
*)
    echo "unknown operation: $op" >&2
    exit 64
    ;;
esac
rm -f "incoming/$nonce.list" "incoming/$nonce.err" "incoming/$nonce.pid"
