#!/usr/bin/env bash
# scripts/test.sh — install what the tests need, then run every test.
#
# The end-to-end tests drive the real apt-get and dnf against lazymirror, with
# fixture repositories built by the real tools. As root, this installs those
# tools from Debian's packages when any is missing. In CI (CI=true) a test
# whose tool is missing fails instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."

tools=(dpkg-deb apt-ftparchive gpg gpgconf apt-get rpmbuild createrepo_c dnf)
pkgs=(dpkg-dev apt-utils gnupg rpm createrepo-c dnf dnf-plugins-core)
missing=0
for t in "${tools[@]}"; do command -v "$t" >/dev/null 2>&1 || missing=1; done
[ -f /usr/lib/python3/dist-packages/dnf-plugins/download.py ] || missing=1
if [ "$missing" = 1 ]; then
  if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q "${pkgs[@]}"
  else
    echo "scripts/test.sh: some test tools are missing; run as root to install: ${pkgs[*]}" >&2
  fi
fi

go vet ./...
go test -count=1 -timeout 30m "$@" ./...
