#!/bin/sh
# Installs what building, running and testing ofa needs on Debian 12.
# Runs apt-get directly as root, through sudo otherwise.
set -eu

packages="build-essential cmake pkg-config clang
libuv1-dev libmsgpack-dev libsystemd-dev libinih-dev libjansson-dev libncurses-dev
check systemd man-db libclang-rt-14-dev
python3 python3-pytest python3-numpy
python3-prometheus-client tmux libxml2-utils librsvg2-bin"
# The Node.js package builds against the Node.js on the machine; Debian's
# nodejs and npm conflict with one installed another way (NodeSource,
# nvm), so they are installed only where there is no node at all.
if ! command -v node >/dev/null 2>&1; then
    packages="$packages nodejs npm libnode-dev"
fi

if [ "$(id -u)" -eq 0 ]; then
    as_root=""
else
    as_root="sudo"
fi

# Skip apt entirely when everything is there already: quicker, and works offline.
missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "installing:$missing"
    $as_root apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq --no-install-recommends $missing
fi
