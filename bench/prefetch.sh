#!/usr/bin/env bash
# bench/prefetch.sh — prefetch of N packages (default 500) through lazymirror
# from a local upstream (nginx), against a plain parallel curl of the same
# URLs from that upstream, in one run on this machine.
# Needs nginx and curl (apt-get install nginx-light curl), dpkg-deb and apt-ftparchive
# (scripts/test.sh installs those two).
# Usage: bench/prefetch.sh [N] [SIZE_KB] [JOBS]
# LINK=1gbit (as root) puts the upstream behind a link of that speed (see
# bench/link.sh): does prefetch saturate it, as curl does?
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-500} kb=${2:-200} jobs=${3:-8}
. bench/link.sh 18281 "$PWD/bench/prefetch.sh" "$@"
work=$(mktemp -d /tmp/lazymirror-prefetch.XXXXXX)
chmod 755 "$work"
cleanup() { nginx -c "$work/nginx.conf" -s stop 2>/dev/null || true; [ -n "${lmpid:-}" ] && kill "$lmpid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
for t in nginx curl dpkg-deb apt-ftparchive; do command -v $t >/dev/null || { echo "bench/prefetch.sh: $t is missing (as root: apt-get install nginx-light curl dpkg-dev apt-utils)" >&2; exit 1; }; done
echo "== machine: $(uname -srm); $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(go version | cut -d' ' -f3)"
go build -o "$work/lazymirror" ./cmd/lazymirror

# An apt archive of n packages of kb KiB (incompressible payloads).
arc="$work/www/debian"
mkdir -p "$arc/dists/stable/main/binary-amd64"
for i in $(seq 1 "$n"); do
  p="pkg$i-lm"; d="$work/build/$p"
  mkdir -p "$d/DEBIAN" "$d/usr/share/$p"
  printf 'Package: %s\nVersion: 1.0\nArchitecture: amd64\nMaintainer: bench <bench@localhost>\nDescription: bench\n' "$p" > "$d/DEBIAN/control"
  head -c $((kb * 1024)) /dev/urandom > "$d/usr/share/$p/payload"
  mkdir -p "$arc/pool/main/p/$p"
  dpkg-deb -Znone --root-owner-group -b "$d" "$arc/pool/main/p/$p/${p}_1.0_amd64.deb" >/dev/null
  echo "$p" >> "$work/list"
done
(cd "$arc" && apt-ftparchive packages pool > dists/stable/main/binary-amd64/Packages && gzip -k dists/stable/main/binary-amd64/Packages \
  && apt-ftparchive -o APT::FTPArchive::Release::Suite=stable -o APT::FTPArchive::Release::Architectures=amd64 -o APT::FTPArchive::Release::Components=main release dists/stable > dists/stable/Release)
(cd "$arc" && find pool -name '*.deb' | sed 's|^|http://127.0.0.1:18281/debian/|') > "$work/urls"
total=$(du -cb "$arc"/pool/main/p/*/*.deb | tail -1 | cut -f1)

cat > "$work/nginx.conf" <<NGINX
worker_processes 2; pid $work/nginx.pid; error_log $work/nginx.err;
events { worker_connections 1024; }
http { access_log off; sendfile on; client_body_temp_path $work; proxy_temp_path $work; fastcgi_temp_path $work; uwsgi_temp_path $work; scgi_temp_path $work;
  server { listen 127.0.0.1:18281; root $work/www; } }
NGINX
nginx -c "$work/nginx.conf"
cat > "$work/lazymirror.yaml" <<YAML
listen: 127.0.0.1:18282
data_dir: ${DATA_DIR:-$work/data}
repos:
  debian: {type: deb, mirrors: [http://127.0.0.1:18281/debian/], suites: [stable]}
YAML
"$work/lazymirror" serve --config "$work/lazymirror.yaml" --log-level warn 2>"$work/lazymirror.log" &
lmpid=$!
for _ in $(seq 1 100); do curl -fsS -o /dev/null http://127.0.0.1:18282/_/healthz 2>/dev/null && break; sleep 0.1; done

echo "== $n packages of ${kb} KiB ($((total / 1024 / 1024)) MiB), $jobs at a time"
# Two references: curl discarding what it downloads (the network alone),
# and curl keeping the files on the data directory's filesystem, as any
# downloader that keeps packages must (network and disk; lazymirror also
# fsyncs each blob before it counts as stored, curl does not).
keep="$(dirname "${DATA_DIR:-$work/data}")/curl-out.$$"
mkdir -p "$keep"
tk0=$(date +%s.%N)
xargs -P "$jobs" -n 16 curl -fsS --remote-name-all --output-dir "$keep" < "$work/urls"
tk1=$(date +%s.%N)
rm -rf "$keep"
sync # its writeback must not land on the runs that follow
t0=$(date +%s.%N)
xargs -P "$jobs" -n 16 curl -fsS -o /dev/null < "$work/urls"
t1=$(date +%s.%N)
[ -n "${PROFILE:-}" ] && (curl -fsS -o "$PROFILE" "http://127.0.0.1:18282/_/debug/pprof/profile?seconds=2" &)
"$work/lazymirror" prefetch --config "$work/lazymirror.yaml" --server http://127.0.0.1:18282 --repo debian --jobs "$jobs" "$work/list" > "$work/summary"
t2=$(date +%s.%N)
awk -v a="$t0" -v b="$t1" -v c="$t2" -v ka="$tk0" -v kb="$tk1" -v n="$n" -v bytes="$total" 'BEGIN{
  printf "parallel curl from the upstream, to /dev/null: %.2f s, %.0f packages/s, %.0f MB/s\n", b-a, n/(b-a), bytes/1e6/(b-a);
  printf "parallel curl from the upstream, keeping the files: %.2f s, %.0f packages/s, %.0f MB/s\n", kb-ka, n/(kb-ka), bytes/1e6/(kb-ka);
  printf "lazymirror prefetch (through the server, metadata included): %.2f s, %.0f packages/s, %.0f MB/s (%.2fx curl to /dev/null, %.2fx curl keeping the files)\n", c-b, n/(c-b), bytes/1e6/(c-b), (b-a)/(c-b), (kb-ka)/(c-b) }'
cat "$work/summary" | head -3
