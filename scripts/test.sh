#!/usr/bin/env bash
# scripts/test.sh — install what the tests need, then run every test.
#
# The end-to-end tests drive the real apt-get and dnf against lazymirror, with
# fixture repositories built by the real tools. As root, this installs those
# tools from Debian's packages when any is missing. In CI (CI=true) a test
# whose tool is missing fails instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."

tools=(dpkg-deb apt-ftparchive gpg rpmbuild createrepo_c dnf xz zstd bzip2 nginx wrk)
pkgs=(dpkg-dev apt-utils gnupg rpm createrepo-c dnf dnf-plugins-core xz-utils zstd bzip2 nginx-light wrk)
missing=0
for t in "${tools[@]}"; do command -v "$t" >/dev/null 2>&1 || missing=1; done
[ -f /usr/lib/python3/dist-packages/dnf-plugins/download.py ] || missing=1
if [ "$missing" = 1 ]; then
  if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${pkgs[@]}"
  else
    echo "scripts/test.sh: some test tools are missing; run as root to install: ${pkgs[*]}" >&2
  fi
fi

go vet ./...
go test -count=1 -timeout 30m "$@" ./...
