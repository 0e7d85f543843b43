#!/bin/sh
# Checks the man pages:
#  - each renders with groff's man macros with every warning enabled
#    (-ww) and without a single diagnostic, and through `man -l` as a
#    reader would see it;
#  - each has the sections its kind of page needs;
#  - ofaclient(3) names every function ofaclient.h exports, in NAME and in
#    SYNOPSIS, so the page cannot fall behind the header.
#
# Environment (set by CTest):
#   OFA_DOCS_DIR    directory holding ofad.8, ofactl.1, ofaclient.3
#   OFA_HEADER      client/ofaclient.h
# Exit: 0 pass, 1 fail, 77 skipped (neither groff nor man installed).
set -eu
: "${OFA_DOCS_DIR:?}" "${OFA_HEADER:?}"

have_groff=0
have_man=0
command -v groff >/dev/null 2>&1 && have_groff=1
command -v man >/dev/null 2>&1 && have_man=1
if [ "$have_groff" -eq 0 ] && [ "$have_man" -eq 0 ]; then
    echo "SKIP: neither groff nor man found"
    exit 77
fi

export LC_ALL=C.UTF-8 MANWIDTH=80
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
fail=0
bad() {
    echo "FAIL: $*"
    fail=1
}

for page in ofad.8 ofactl.1 ofaclient.3; do
    src="$OFA_DOCS_DIR/$page"
    if [ ! -f "$src" ]; then
        bad "$page: missing"
        continue
    fi
    if [ "$have_groff" -eq 1 ]; then
        if ! groff -man -Tutf8 -ww -z "$src" >"$tmp/groff.err" 2>&1 || [ -s "$tmp/groff.err" ]; then
            bad "$page: groff -man -ww reports:"
            sed 's/^/    /' "$tmp/groff.err"
        fi
    fi
    if [ "$have_man" -eq 1 ]; then
        if ! man -l "$src" >"$tmp/man.out" 2>"$tmp/man.err" || [ -s "$tmp/man.err" ]; then
            bad "$page: man -l reports:"
            sed 's/^/    /' "$tmp/man.err"
        fi
        name=${page%.*}
        if ! head -n 1 "$tmp/man.out" | grep -qi "^$name("; then
            bad "$page: man -l does not render a $name page"
        fi
    fi

    case "$page" in
    ofad.8) sections="NAME SYNOPSIS DESCRIPTION OPTIONS CONFIGURATION.FILE SIGNALS ENVIRONMENT FILES EXIT.STATUS EXAMPLES SEE.ALSO" ;;
    ofactl.1) sections="NAME SYNOPSIS DESCRIPTION OPTIONS COMMANDS EXIT.STATUS ENVIRONMENT EXAMPLES SEE.ALSO" ;;
    ofaclient.3) sections="NAME SYNOPSIS DESCRIPTION RETURN.VALUE ERRORS ENVIRONMENT EXAMPLES SEE.ALSO" ;;
    esac
    for s in $sections; do
        grep -q "^\.SH \"\{0,1\}$s\"\{0,1\}\$" "$src" || bad "$page: no section '$s'"
    done
done

# Every exported function of the header is documented.
sed -n 's/^OFA_EXTERN[^(]*[ *]\(ofa_[a-z_]*\)(.*/\1/p' "$OFA_HEADER" | sort -u >"$tmp/api"
if [ ! -s "$tmp/api" ]; then
    bad "no OFA_EXTERN function found in $OFA_HEADER"
fi
# NAME: the lines between .SH NAME and the next .SH.
sed -n '/^\.SH NAME/,/^\.SH/p' "$OFA_DOCS_DIR/ofaclient.3" >"$tmp/name"
sed -n '/^\.SH SYNOPSIS/,/^\.SH/p' "$OFA_DOCS_DIR/ofaclient.3" >"$tmp/synopsis"
while read -r fn; do
    grep -q "\\b$fn\\b" "$tmp/name" || bad "ofaclient.3: $fn missing from NAME"
    grep -q "[ *]$fn(" "$tmp/synopsis" || bad "ofaclient.3: $fn missing from SYNOPSIS"
done <"$tmp/api"

if [ "$fail" -ne 0 ]; then
    exit 1
fi
echo "man pages render cleanly: ofad.8 ofactl.1 ofaclient.3 ($(wc -l <"$tmp/api") API functions documented)"
