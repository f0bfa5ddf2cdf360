#!/usr/bin/env bash
# The vCenter simulator the vSphere tests and benchmark talk to: the project's own launcher
# (tools/vcsim) on Debian's govmomi simulator library, built in GOPATH mode (Debian ships
# Go libraries as GOPATH sources, not modules) into .cache/vcsim/vcsim. The build is skipped
# while the sources are unchanged (a stamp holds their hash); a cold build takes 15 to 20 s.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib.sh
apt_install golang-go golang-github-vmware-govmomi-dev
out=.cache/vcsim
hash=$(cat tools/vcsim/*.go | sha256sum | cut -c1-16)
if [ -x "$out/vcsim" ] && [ "$(cat "$out/stamp" 2>/dev/null)" = "$hash" ]; then
    exit 0
fi
mkdir -p "$out"
echo "building tools/vcsim"
(cd tools/vcsim && GO111MODULE=off GOPATH="$PWD/../../$out/gopath:/usr/share/gocode" \
    GOCACHE="$PWD/../../$out/go-build" GOFLAGS= go build -o "../../$out/vcsim" .)
echo "$hash" > "$out/stamp"
