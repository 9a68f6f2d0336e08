#!/usr/bin/env bash
# bench/serve.sh — lazymirror's hit and miss paths against nginx, on loopback.
#
# In one run, on this machine:
#   1. hits: nginx serving a 100 MB and a 10 KB file from disk, then lazymirror
#      serving the same files from its store (cached), each measured with wrk
#      (-t2 -c32 -d10s, three pairs of runs alternating nginx and lazymirror,
#      medians; wrk shares the machine's cores);
#   2. a cold miss: a 1 GB file through lazymirror (nginx as the upstream)
#      vs a direct download from nginx to /dev/null, in three pairs of runs
#      (direct, then lazymirror with an empty cache; medians), with
#      lazymirror's time to first byte and peak RSS; next to two ceilings:
#      curl keeping the file on the data directory's filesystem, and the
#      speed of SHA-256 on one core, which bounds any verified miss.
# Needs nginx, wrk and curl: apt-get install nginx-light wrk curl (as root).
# Usage: bench/serve.sh [DURATION]   (default 10s; ONLY=hits or ONLY=miss runs one part)
# LINK=10gbit (as root) puts the upstream behind a link of that speed (see
# bench/link.sh) and measures the miss only: the hits never cross it.
set -euo pipefail
cd "$(dirname "$0")/.."
dur=${1:-10s}
. bench/link.sh 18181 "$PWD/bench/serve.sh" "$@"
only=${ONLY:-}
[ -n "${LINK:-}" ] && only=miss
work=$(mktemp -d /tmp/lazymirror-bench.XXXXXX)
chmod 755 "$work" # nginx workers read it as www-data
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$work"; }
trap cleanup EXIT

for t in nginx wrk curl; do command -v $t >/dev/null || { echo "bench/serve.sh: $t is missing (as root: apt-get install nginx-light wrk curl)" >&2; exit 1; }; done

echo "== machine: $(uname -srm); $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(free -g | awk '/Mem:/{print $2" GiB"}'); $(go version | cut -d' ' -f3); $(nginx -v 2>&1)"
go build -o "$work/lazymirror" ./cmd/lazymirror

# The upstream tree: files nginx serves and lazymirror caches (URL-keyed).
mkdir -p "$work/www/repo/pool" "$work/nginx"
if [ "${only:-hits}" = hits ]; then
  head -c 100000000 /dev/urandom > "$work/www/repo/pool/large_1.0_all.deb"
  head -c 10240 /dev/urandom > "$work/www/repo/pool/small_1.0_all.deb"
fi
[ "${only:-miss}" = miss ] && head -c 1000000000 /dev/urandom > "$work/www/repo/pool/huge_1.0_all.deb"
sync # 1.1 GB of dirty pages written back during the runs would be measured too
cat > "$work/nginx/nginx.conf" <<NGINX
worker_processes 2;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on; tcp_nopush on; keepalive_requests 100000;
  client_body_temp_path $work/nginx; proxy_temp_path $work/nginx; fastcgi_temp_path $work/nginx; uwsgi_temp_path $work/nginx; scgi_temp_path $work/nginx;
  server { listen 127.0.0.1:18181; root $work/www; }
}
NGINX
nginx -c "$work/nginx/nginx.conf"
pids+=("$(cat "$work/nginx/nginx.pid" 2>/dev/null || true)")
trap 'nginx -c "$work/nginx/nginx.conf" -s stop 2>/dev/null || true; cleanup' EXIT

# start_lm NAME starts lazymirror on an empty data directory of that name
# (under DATA_DIR when set), as lmpid.
start_lm() {
  lmdata="${DATA_DIR:-$work}/data.$1"
  cat > "$work/lazymirror.yaml" <<YAML
listen: 127.0.0.1:18182
data_dir: $lmdata
repos:
  bench: {type: deb, mirrors: [http://127.0.0.1:18181/repo/]}
YAML
  "$work/lazymirror" serve --config "$work/lazymirror.yaml" --log-level warn 2>>"$work/lazymirror.log" &
  lmpid=$!
  pids+=("$lmpid")
  for _ in $(seq 1 100); do curl -fsS -o /dev/null http://127.0.0.1:18182/_/healthz 2>/dev/null && return; sleep 0.1; done
  echo "bench/serve.sh: lazymirror did not start: $(tail -3 "$work/lazymirror.log")" >&2
  exit 1
}
# stop_lm stops it (it finishes its downloads first) and drops its data.
stop_lm() {
  kill "$lmpid"
  wait "$lmpid" || true
  rm -rf "$lmdata"
  sync # its writeback must not land on the run that follows
}

median() { sort -g | sed -n 2p; }
wrk1() { # url -> "MB/s req/s" of one wrk run
  wrk -t2 -c32 -d"$dur" "$1" | awk '/Requests\/sec/{r=$2} /Transfer\/sec/{v=$2; if (v ~ /GB/) {sub(/GB/,"",v); v*=1024} else if (v ~ /MB/) {sub(/MB/,"",v)} else if (v ~ /KB/) {sub(/KB/,"",v); v/=1024}; m=v} END{print m, r}'
}
run_pair() { # field nginx-url lazymirror-url -> "MB/s req/s" of each (medians), then the median of lazymirror/nginx per pair of field 1 (MB/s) or 2 (req/s)
  # Runs alternate (nginx, lazymirror, nginx, ...): this machine drifts over a
  # minute, and a pair measured back to back shares the drift.
  local field=$1 a b ams=() ars=() bms=() brs=() ratios=()
  for _ in 1 2 3; do
    read -r a_mb a_rps < <(wrk1 "$2")
    read -r b_mb b_rps < <(wrk1 "$3")
    ams+=("$a_mb") ars+=("$a_rps") bms+=("$b_mb") brs+=("$b_rps")
    if [ "$field" = 1 ]; then a=$a_mb b=$b_mb; else a=$a_rps b=$b_rps; fi
    ratios+=("$(awk -v a="$a" -v b="$b" 'BEGIN{printf "%.2f", b/a}')")
  done
  echo "$(printf '%s\n' "${ams[@]}" | median) $(printf '%s\n' "${ars[@]}" | median) $(printf '%s\n' "${bms[@]}" | median) $(printf '%s\n' "${brs[@]}" | median) $(printf '%s\n' "${ratios[@]}" | median) $(printf '%s\n' "${ratios[@]}" | sort -g | tr '\n' ' ')"
}

if [ "${only:-hits}" = hits ]; then
start_lm hits
for f in large small; do curl -fsS -o /dev/null "http://127.0.0.1:18182/bench/pool/${f}_1.0_all.deb"; done # cached
echo
echo "== hits (wrk -t2 -c32 -d$dur; three pairs of runs, nginx then lazymirror; medians)"
read -r nl_mb nl_rps lm_l_mb lm_l_rps l_ratio l_all < <(run_pair 1 http://127.0.0.1:18181/repo/pool/large_1.0_all.deb http://127.0.0.1:18182/bench/pool/large_1.0_all.deb)
read -r ns_mb ns_rps lm_s_mb lm_s_rps s_ratio s_all < <(run_pair 2 http://127.0.0.1:18181/repo/pool/small_1.0_all.deb http://127.0.0.1:18182/bench/pool/small_1.0_all.deb)
printf '%-28s %12s %12s\n' "" "MB/s" "req/s"
printf '%-28s %12s %12s\n' "nginx 100 MB" "$nl_mb" "$nl_rps" "lazymirror 100 MB (hit)" "$lm_l_mb" "$lm_l_rps" "nginx 10 KB" "$ns_mb" "$ns_rps" "lazymirror 10 KB (hit)" "$lm_s_mb" "$lm_s_rps"
echo "ratio (median of the pairs; all three in brackets): 100 MB throughput ${l_ratio}x nginx [${l_all% }] (target >= 0.95); 10 KB request rate ${s_ratio}x nginx [${s_all% }] (target >= 0.80)"

stop_lm
fi

if [ "${only:-miss}" = miss ]; then
echo
echo "== cold miss, 1 GB"
# The ceilings: SHA-256 of one stream runs on one core (Go's crypto/sha256,
# the hash lazymirror uses, on this machine, hashing chunks already in the
# CPU's cache as a download does); and curl keeping the file on
# the data directory's filesystem (no fsync, no checksum), as any cache
# must store it.
sha=$(go test ./store -run XXX -bench 'SHA256/cached' -benchtime 10x | awk '/MB\/s/{for (i=1;i<=NF;i++) if ($(i+1)=="MB/s") print $i}')
keepdir="${DATA_DIR:-$work}/curl-out.$$"
mkdir -p "$keepdir"
kept=$(curl -fsS -o "$keepdir/huge" -w '%{speed_download}' http://127.0.0.1:18181/repo/pool/huge_1.0_all.deb)
rm -rf "$keepdir"
sync
runs=() ratios=() rss=0
for i in 1 2 3; do
  read -r dspeed dttfb < <(curl -fsS -o /dev/null -w '%{speed_download} %{time_starttransfer}\n' http://127.0.0.1:18181/repo/pool/huge_1.0_all.deb)
  start_lm "miss$i"
  [ -n "${PROFILE:-}" ] && [ "$i" = 1 ] && (curl -fsS -o "$PROFILE" "http://127.0.0.1:18182/_/debug/pprof/profile?seconds=4" &)
  read -r mspeed mttfb < <(curl -fsS -o /dev/null -w '%{speed_download} %{time_starttransfer}\n' http://127.0.0.1:18182/bench/pool/huge_1.0_all.deb)
  r=$(awk '/VmHWM/{print int($2/1024)}' "/proc/$lmpid/status")
  stop_lm
  [ "$r" -gt "$rss" ] && rss=$r
  line=$(awk -v d="$dspeed" -v dt="$dttfb" -v m="$mspeed" -v mt="$mttfb" 'BEGIN{printf "%.0f %.1f %.0f %.1f %.2f", d/1e6, dt*1000, m/1e6, mt*1000, m/d}')
  runs+=("$line")
  ratios+=("${line##* }")
done
printf '%-5s %14s %14s %14s %14s %8s\n' run "direct MB/s" "first byte ms" "miss MB/s" "first byte ms" ratio
for i in 0 1 2; do
  read -r d dt m mt r <<<"${runs[$i]}"
  printf '%-5s %14s %14s %14s %14s %8s\n' $((i + 1)) "$d" "$dt" "$m" "$mt" "$r"
done
med=$(printf '%s\n' "${ratios[@]}" | median)
mmed=$(for l in "${runs[@]}"; do echo "$l" | cut -d' ' -f3; done | median)
awk -v k="$kept" -v sha="$sha" -v m="$mmed" -v r="$med" -v all="${ratios[*]}" 'BEGIN{
  printf "ceilings: curl keeping the file %.0f MB/s; sha256 of one stream (crypto/sha256) %.0f MB/s: no verified miss can be faster\n", k/1e6, sha
  printf "miss: median %.2fx direct [%s] (target >= 0.95), %.2fx curl keeping the file, %.2fx the sha256 ceiling\n", r, all, m*1e6/k, m/sha }'
echo "lazymirror peak RSS: ${rss} MB at most over the runs (target <= 100 MB)"
echo "(first byte before the upstream sent 1 MB: TestConcurrentFirstRequests holds the upstream at 256 KiB until every client has its first byte)"
fi
