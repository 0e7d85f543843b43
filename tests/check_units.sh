#!/bin/sh
# Checks the systemd units as configured for installation:
#  - `systemd-analyze verify` prints nothing and succeeds, man pages named
#    in Documentation= included (they are looked up in the source tree);
#  - ofad.sysusers creates the ofad user and group (in a scratch root);
#  - the options that would break shared memory between ofad and its
#    clients stay out (RemoveIPC, DynamicUser, PrivateUsers, a
#    RuntimeDirectory that is not preserved), and the ones the design relies
#    on stay in (Type=notify, the socket's path, owner and mode).
#
# Environment (set by CTest):
#   OFA_UNITS_DIR   directory holding the configured ofad.socket, ofad.service
#   OFA_DOCS_DIR    directory holding ofad.8, ofactl.1, ofaclient.3
#   OFA_SYSUSERS    systemd/ofad.sysusers
#   OFAD            the built ofad, standing in for the installed one when
#                   the latter does not exist yet (verify checks ExecStart);
#                   without it a stub stands in
# Exit: 0 pass, 1 fail, 77 skipped (no systemd-analyze).
set -eu

if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "SKIP: systemd-analyze not found"
    exit 77
fi
: "${OFA_UNITS_DIR:?}" "${OFA_DOCS_DIR:?}"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
fail=0
bad() {
    echo "FAIL: $*"
    fail=1
}

cp "$OFA_UNITS_DIR/ofad.socket" "$OFA_UNITS_DIR/ofad.service" "$OFA_UNITS_DIR/ofa-metrics.service" \
    "$OFA_UNITS_DIR/ofa-metrics.timer" "$tmp/"

# verify insists that ExecStart's program exists. Before installation it
# does not: point the copy at the built daemon, changing nothing else.
exec_start=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$tmp/ofad.service")
case "$exec_start" in
/*/ofad) ;;
*) bad "ExecStart does not run an absolute .../ofad: '$exec_start'" ;;
esac
if [ ! -x "$exec_start" ]; then
    stand_in="${OFAD:-}"
    if [ -z "$stand_in" ] || [ ! -x "$stand_in" ]; then
        # Only the executable bit matters to verify.
        stand_in="$tmp/ofad"
        printf '#!/bin/sh\nexit 0\n' >"$stand_in"
        chmod +x "$stand_in"
    fi
    sed "s|^ExecStart=$exec_start |ExecStart=$stand_in |" "$OFA_UNITS_DIR/ofad.service" \
        >"$tmp/ofad.service"
fi

# Documentation=man:... is checked with man(1): give it the source pages.
mkdir -p "$tmp/man/man1" "$tmp/man/man3" "$tmp/man/man8"
ln -s "$OFA_DOCS_DIR/ofad.8" "$tmp/man/man8/ofad.8"
ln -s "$OFA_DOCS_DIR/ofactl.1" "$tmp/man/man1/ofactl.1"
ln -s "$OFA_DOCS_DIR/ofaclient.3" "$tmp/man/man3/ofaclient.3"
if command -v man >/dev/null 2>&1; then
    man_opt="--man=yes"
else
    echo "note: man not found, Documentation= not checked"
    man_opt="--man=no"
fi

if ! (cd "$tmp" && MANPATH="$tmp/man" SYSTEMD_LOG_LEVEL=notice \
    systemd-analyze verify "$man_opt" ./ofad.socket ./ofad.service ./ofa-metrics.service \
        ./ofa-metrics.timer) >"$tmp/verify.out" 2>&1; then
    bad "systemd-analyze verify failed"
fi
if [ -s "$tmp/verify.out" ]; then
    bad "systemd-analyze verify is not clean:"
    sed 's/^/    /' "$tmp/verify.out"
fi

# The decisions that keep /dev/shm working for clients. A line is a setting
# only when it does not start with '#' or ';'.
svc="$OFA_UNITS_DIR/ofad.service"
sock="$OFA_UNITS_DIR/ofad.socket"
setting() { # setting FILE KEY: prints the last value of KEY, or nothing
    sed -n "s/^$2=//p" "$1" | tail -n 1
}
expect() { # expect FILE KEY VALUE
    v=$(setting "$1" "$2")
    [ "$v" = "$3" ] || bad "$(basename "$1"): $2='$v', expected '$3'"
}
expect "$svc" Type notify
expect "$svc" User ofad
expect "$svc" Group ofad
expect "$svc" ExecReload '/bin/kill -HUP $MAINPID'
for k in RemoveIPC DynamicUser PrivateUsers; do
    case "$(setting "$svc" "$k")" in
    "" | no | false | 0) ;;
    *) bad "ofad.service: $k= would take shared memory or client identities away" ;;
    esac
done
if [ -n "$(setting "$svc" RuntimeDirectory)" ]; then
    case "$(setting "$svc" RuntimeDirectoryPreserve)" in
    yes | restart | true | 1) ;;
    *) bad "ofad.service: RuntimeDirectory= without RuntimeDirectoryPreserve= removes the socket" ;;
    esac
fi
grep -q '^ExecStart=.* --config /.*/ofad/ofad.conf\( \|$\)' "$svc" ||
    bad "ofad.service: ExecStart does not pass --config .../ofad/ofad.conf"
# The state lives in the runtime directory, which restarts keep, and the
# pages in the fd store, which must have room.
grep -q '^ExecStart=.* --state-dir /run/ofad/private/' "$svc" ||
    bad "ofad.service: ExecStart does not keep its state in the runtime directory"
[ "$(setting "$svc" FileDescriptorStoreMax)" -gt 0 ] 2>/dev/null ||
    bad "ofad.service: no FileDescriptorStoreMax= for the pages of the state"
expect "$sock" ListenStream /run/ofad/ofad.sock
expect "$sock" SocketMode 0660
expect "$sock" SocketUser ofad
expect "$sock" SocketGroup ofad

# The sysusers entry creates the user and group the units name, in a
# scratch root (never on this system).
if [ -n "${OFA_SYSUSERS:-}" ] && command -v systemd-sysusers >/dev/null 2>&1; then
    mkdir -p "$tmp/root/etc"
    if ! systemd-sysusers --root="$tmp/root" "$OFA_SYSUSERS" >"$tmp/sysusers.out" 2>&1; then
        bad "systemd-sysusers refused $OFA_SYSUSERS:"
        sed 's/^/    /' "$tmp/sysusers.out"
    fi
    grep -q '^ofad:x:[0-9]*:[0-9]*:.*:/:.*nologin$' "$tmp/root/etc/passwd" 2>/dev/null ||
        bad "ofad.sysusers does not create a system user ofad without a login shell"
    grep -q '^ofad:x:[0-9]*:' "$tmp/root/etc/group" 2>/dev/null ||
        bad "ofad.sysusers does not create the group ofad"
else
    echo "note: systemd-sysusers or OFA_SYSUSERS missing, ofad.sysusers not checked"
fi

if [ "$fail" -ne 0 ]; then
    exit 1
fi
echo "units verified: ofad.socket ofad.service ofad.sysusers"
