#!/bin/sh
# Runs every command of README.md, so that the README cannot rot.
#
# Every fenced block tagged ```sh is taken in order and run in one shell
# session (variables, exports and `cd` carry from block to block, as in a
# reader's terminal), with `set -e`: the first failing command fails the
# test, and the block it belongs to is printed. Two blocks are special,
# recognised by their first line:
#   # setup: run    the command that builds and runs ofad in the foreground.
#                   It is started in the background (its own process group,
#                   output in a log) with OFAD_SOCKET set to a scratch
#                   socket; the blocks after it run once `ofactl ping`
#                   answers on that socket. At the end the process it left
#                   running (ofad) gets SIGTERM and must exit 0.
#   # setup: test   the command that runs every test, which is what CI runs:
#                   not run here (it is what runs this script); checked to
#                   appear in .ci/run instead.
# Exactly one of each must exist. Other blocks (```c, ```ini, untagged) are
# documentation and are not run.
#
# Scratch environment: a copy of the source tree (no build directories, no
# .git) is the working directory, and HOME, XDG_RUNTIME_DIR and TMPDIR point
# into the scratch directory, so that the README's commands build, install
# and write only there. The run command builds its own tree there, as on a
# reader's machine; that is the slow part of this test.
#
# Environment:
#   OFA_SOURCE_DIR       the source tree (required)
#   OFACTL               a built ofactl, to wait for the daemon (required)
#   OFA_README           the README to run (default: $OFA_SOURCE_DIR/README.md)
#   OFA_README_TIMEOUT   seconds the run command may take to answer (600)
#   OFA_README_KEEP      set to keep the scratch directory for inspection
# Exit: 0 pass, 1 fail, 2 usage.
set -eu

: "${OFA_SOURCE_DIR:?}" "${OFACTL:?}"
readme="${OFA_README:-$OFA_SOURCE_DIR/README.md}"
timeout="${OFA_README_TIMEOUT:-600}"
if [ ! -f "$readme" ]; then
    echo "FAIL: no README at $readme"
    exit 1
fi
if [ ! -x "$OFACTL" ]; then
    echo "FAIL: OFACTL=$OFACTL is not executable"
    exit 2
fi
src=$(cd "$OFA_SOURCE_DIR" && pwd)
readme=$(cd "$(dirname "$readme")" && pwd)/$(basename "$readme")

# Unix socket paths are short (108 bytes): keep the scratch path short.
work=$(mktemp -d "${TMPDIR:-/tmp}/ofa-readme.XXXXXX")
cleanup() {
    # A daemon the session could not stop (this script interrupted).
    if [ -s "$work/run.pid" ]; then
        pid=$(cat "$work/run.pid")
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    if [ -n "${OFA_README_KEEP:-}" ]; then
        echo "scratch directory kept: $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM
mkdir -p "$work/blocks" "$work/home" "$work/run" "$work/tmp" "$work/tree"
chmod 700 "$work/run"

# --- extract: blocks/N.sh, and blocks/N.line holding its README line ---
awk -v dir="$work/blocks" '
    function close_block() { close(file); inblock = 0 }
    !inblock && /^[ \t]*```[ \t]*sh[ \t]*$/ {
        n++; inblock = 1
        match($0, /^[ \t]*/); indent = RLENGTH
        file = sprintf("%s/%03d.sh", dir, n)
        printf "" > file
        printf "%d\n", NR + 1 > sprintf("%s/%03d.line", dir, n)
        close(sprintf("%s/%03d.line", dir, n))
        next
    }
    inblock && /^[ \t]*```[ \t]*$/ { close_block(); next }
    inblock { print substr($0, indent + 1) > file }
    END { if (inblock) { print "unterminated sh block at end of file" > "/dev/stderr"; exit 1 } }
' "$readme"

blocks=$(cd "$work/blocks" && ls -- *.sh 2>/dev/null | sort) || true
if [ -z "$blocks" ]; then
    echo "FAIL: no \`\`\`sh block in $readme"
    exit 1
fi
first_line() {
    sed -n '/[^[:space:]]/{p;q;}' "$1"
}
is_tag() { # is_tag FILE WORD: the first line is "# setup: WORD"
    first_line "$1" | grep -Eq "^#[[:space:]]*setup:[[:space:]]*$2[[:space:]]*\$"
}
n_run=0
n_test=0
for b in $blocks; do
    if is_tag "$work/blocks/$b" run; then n_run=$((n_run + 1)); fi
    if is_tag "$work/blocks/$b" test; then n_test=$((n_test + 1)); fi
done
if [ "$n_run" -ne 1 ] || [ "$n_test" -ne 1 ]; then
    echo "FAIL: README needs exactly one '# setup: run' and one '# setup: test' block" \
        "(found $n_run and $n_test)"
    exit 1
fi

# The test command must be what CI runs: each of its command lines appears
# in .ci/run.
for b in $blocks; do
    is_tag "$work/blocks/$b" test || continue
    [ -f "$src/.ci/run" ] || continue
    grep -v '^[[:space:]]*#' "$work/blocks/$b" | sed '/^[[:space:]]*$/d' >"$work/test-cmds"
    while IFS= read -r cmd; do
        if ! grep -qF -- "$cmd" "$src/.ci/run"; then
            echo "FAIL: the README's test command '$cmd' is not what .ci/run runs"
            exit 1
        fi
    done <"$work/test-cmds"
done

# --- the scratch tree: the sources as a reader would have them ---
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
    # Tracked and untracked-but-not-ignored files: the tree as it stands.
    git -C "$src" ls-files -z --cached --others --exclude-standard |
        (cd "$src" && tar --null --ignore-failed-read -T - -cf -) 2>/dev/null |
        tar -C "$work/tree" -xf -
else
    (cd "$src" && tar --exclude='./build*' --exclude=./.git -cf - .) | tar -C "$work/tree" -xf -
fi

# --- the session: one shell, every block sourced in order ---
sock="$work/run/ofad.sock"
driver="$work/driver.sh"
{
    cat <<EOF
set -e
__ofa_work='$work'
__ofa_ofactl='$OFACTL'
__ofa_timeout='$timeout'
__ofa_pid=
EOF
    cat <<'EOF'
# Starts the run command in its own process group and waits until the
# daemon answers on $OFAD_SOCKET, or the command dies, or time runs out.
__ofa_start() {
    if command -v setsid >/dev/null 2>&1; then
        setsid sh -e "$1" >"$__ofa_work/run.log" 2>&1 </dev/null &
    else
        sh -e "$1" >"$__ofa_work/run.log" 2>&1 </dev/null &
    fi
    __ofa_pid=$!
    echo "$__ofa_pid" >"$__ofa_work/run.pid"
    __ofa_t=0
    until "$__ofa_ofactl" --socket "$OFAD_SOCKET" ping --wait 1 >/dev/null 2>&1; do
        if ! kill -0 "$__ofa_pid" 2>/dev/null; then
            wait "$__ofa_pid" && __ofa_st=0 || __ofa_st=$?
            __ofa_pid=
            : >"$__ofa_work/run.pid"
            echo "the run command exited (status $__ofa_st) before ofad answered"
            return 1
        fi
        __ofa_t=$((__ofa_t + 1))
        if [ "$__ofa_t" -ge "$__ofa_timeout" ]; then
            echo "ofad did not answer on $OFAD_SOCKET within $__ofa_timeout s"
            return 1
        fi
        sleep 1
    done
    echo "ofad answers on $OFAD_SOCKET"
}
# Sends SIGTERM to the process the run command left running (the child of
# the shell that runs the block: ofad, which run.sh execs) and waits for the
# block's shell, whose status is then ofad's: it must be 0.
__ofa_stop() {
    [ -n "$__ofa_pid" ] || return 0
    if ! pkill -TERM -P "$__ofa_pid" 2>/dev/null; then
        kill -TERM "$__ofa_pid" 2>/dev/null || true
    fi
    __ofa_t=0
    while kill -0 "$__ofa_pid" 2>/dev/null && [ "$__ofa_t" -lt 300 ]; do
        sleep 0.1
        __ofa_t=$((__ofa_t + 1))
    done
    if kill -0 "$__ofa_pid" 2>/dev/null; then
        kill -KILL -- "-$__ofa_pid" 2>/dev/null || kill -KILL "$__ofa_pid" 2>/dev/null || true
        wait "$__ofa_pid" 2>/dev/null || true
        __ofa_pid=
        : >"$__ofa_work/run.pid"
        echo "ofad did not stop within 30 s of SIGTERM"
        return 1
    fi
    wait "$__ofa_pid" && __ofa_st=0 || __ofa_st=$?
    __ofa_pid=
    : >"$__ofa_work/run.pid"
    if [ "$__ofa_st" -ne 0 ]; then
        echo "ofad exited with status $__ofa_st after SIGTERM (expected 0)"
        return 1
    fi
    echo "ofad stopped cleanly"
}
__ofa_done() {
    __ofa_st=$?
    if [ "$__ofa_st" -ne 0 ]; then
        echo "$__ofa_blk" >"$__ofa_work/failed"
    fi
    if [ -n "$__ofa_pid" ]; then
        kill -KILL -- "-$__ofa_pid" 2>/dev/null || kill -KILL "$__ofa_pid" 2>/dev/null || true
    fi
    exit "$__ofa_st"
}
trap __ofa_done EXIT
EOF
    for b in $blocks; do
        n=${b%.sh}
        line=$(cat "$work/blocks/$n.line")
        if is_tag "$work/blocks/$b" test; then
            echo "echo '== README block $n (line $line): skipped, it is the test command'"
        elif is_tag "$work/blocks/$b" run; then
            echo "__ofa_blk=$n"
            echo "echo '== README block $n (line $line): started in the background'"
            echo "__ofa_start '$work/blocks/$b'"
        else
            echo "__ofa_blk=$n"
            echo "echo '== README block $n (line $line)'"
            echo ". '$work/blocks/$b'"
        fi
    done
    echo "__ofa_blk=stop"
    echo "__ofa_stop"
} >"$driver"

echo "running $(echo "$blocks" | wc -w) sh blocks of $readme in $work/tree"
status=0
(
    cd "$work/tree"
    env HOME="$work/home" XDG_RUNTIME_DIR="$work/run" TMPDIR="$work/tmp" \
        OFAD_SOCKET="$sock" sh "$driver"
) || status=$?

if [ "$status" -ne 0 ]; then
    failed=$(cat "$work/failed" 2>/dev/null || echo "?")
    if [ -f "$work/blocks/$failed.sh" ]; then
        echo "FAIL: README block $failed (line $(cat "$work/blocks/$failed.line")) failed" \
            "with status $status:"
        sed 's/^/    | /' "$work/blocks/$failed.sh"
    else
        echo "FAIL: stopping ofad at the end (status $status)"
    fi
    if [ -s "$work/run.log" ]; then
        echo "last lines of the run command's output:"
        tail -n 30 "$work/run.log" | sed 's/^/    /'
    fi
    exit 1
fi
echo "README: every sh block ran"
