#!/usr/bin/env bash
# bench/serve.sh — lazymirror's hit and miss paths against nginx, on loopback.
#
# In one run, on this machine:
#   1. hits: nginx serving a 100 MB and a 10 KB file from disk, then lazymirror
#      serving the same files from its store (cached), each measured with wrk
#      (-t2 -c32 -d10s, three pairs of runs alternating nginx and lazymirror,
#      medians; wrk shares the machine's cores);
#   2. a cold miss: a 1 GB file through lazymirror (nginx as the upstream)
#      vs a direct download from nginx (to /dev/null, and kept on disk), and
#      vs the speed of SHA-256 on one core, which bounds any verified miss;
#      with lazymirror's peak RSS.
# Needs nginx, wrk and curl: apt-get install nginx-light wrk curl (as root).
# Usage: bench/serve.sh [DURATION]   (default 10s; ONLY=hits or ONLY=miss runs one part)
set -euo pipefail
cd "$(dirname "$0")/.."
dur=${1:-10s}
work=$(mktemp -d /tmp/lazymirror-bench.XXXXXX)
chmod 755 "$work" # nginx workers read it as www-data
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$work"; }
trap cleanup EXIT
keep=${KEEP:-}

for t in nginx wrk curl; do command -v $t >/dev/null || { echo "bench/serve.sh: $t is missing (as root: apt-get install nginx-light wrk curl)" >&2; exit 1; }; done

echo "== machine: $(uname -srm); $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(free -g | awk '/Mem:/{print $2" GiB"}'); $(go version | cut -d' ' -f3); $(nginx -v 2>&1)"
go build -o "$work/lazymirror" ./cmd/lazymirror

# The upstream tree: files nginx serves and lazymirror caches (URL-keyed).
mkdir -p "$work/www/repo/pool" "$work/nginx"
head -c 100000000 /dev/urandom > "$work/www/repo/pool/large_1.0_all.deb"
head -c 10240 /dev/urandom > "$work/www/repo/pool/small_1.0_all.deb"
head -c 1000000000 /dev/urandom > "$work/www/repo/pool/huge_1.0_all.deb"
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

cat > "$work/lazymirror.yaml" <<YAML
listen: 127.0.0.1:18182
data_dir: ${DATA_DIR:-$work/data}
repos:
  bench: {type: deb, mirrors: [http://127.0.0.1:18181/repo/]}
YAML
"$work/lazymirror" serve --config "$work/lazymirror.yaml" --log-level warn 2>"$work/lazymirror.log" &
lmpid=$!
pids+=("$lmpid")
for _ in $(seq 1 100); do curl -fsS -o /dev/null http://127.0.0.1:18182/_/healthz 2>/dev/null && break; sleep 0.1; done

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

# Warm lazymirror's cache.
for f in large small; do curl -fsS -o /dev/null "http://127.0.0.1:18182/bench/pool/${f}_1.0_all.deb"; done

if [ "${ONLY:-hits}" = hits ]; then
echo
echo "== hits (wrk -t2 -c32 -d$dur; three pairs of runs, nginx then lazymirror; medians)"
read -r nl_mb nl_rps lm_l_mb lm_l_rps l_ratio l_all < <(run_pair 1 http://127.0.0.1:18181/repo/pool/large_1.0_all.deb http://127.0.0.1:18182/bench/pool/large_1.0_all.deb)
read -r ns_mb ns_rps lm_s_mb lm_s_rps s_ratio s_all < <(run_pair 2 http://127.0.0.1:18181/repo/pool/small_1.0_all.deb http://127.0.0.1:18182/bench/pool/small_1.0_all.deb)
printf '%-28s %12s %12s\n' "" "MB/s" "req/s"
printf '%-28s %12s %12s\n' "nginx 100 MB" "$nl_mb" "$nl_rps" "lazymirror 100 MB (hit)" "$lm_l_mb" "$lm_l_rps" "nginx 10 KB" "$ns_mb" "$ns_rps" "lazymirror 10 KB (hit)" "$lm_s_mb" "$lm_s_rps"
echo "ratio (median of the pairs; all three in brackets): 100 MB throughput ${l_ratio}x nginx [${l_all% }] (target >= 0.95); 10 KB request rate ${s_ratio}x nginx [${s_all% }] (target >= 0.80)"

fi

if [ "${ONLY:-miss}" = miss ]; then
echo
echo "== cold miss, 1 GB"
# The ceiling of any verified miss: one stream's SHA-256 runs on one core
# (Go's crypto/sha256, the hash lazymirror uses, on this machine).
sha=$(go test ./store -run XXX -bench 'SHA256$' -benchtime 10x | awk '/MB\/s/{for (i=1;i<=NF;i++) if ($(i+1)=="MB/s") print $i}')
direct=$(curl -fsS -o /dev/null -w '%{speed_download} %{time_starttransfer}' http://127.0.0.1:18181/repo/pool/huge_1.0_all.deb)
# A second reference that, like lazymirror, writes the file: curl keeping
# it on the data directory's filesystem (no fsync, no checksum).
keepdir="$(dirname "${DATA_DIR:-$work/data}")/curl-out.$$"
mkdir -p "$keepdir"
kept=$(curl -fsS -o "$keepdir/huge" -w '%{speed_download}' http://127.0.0.1:18181/repo/pool/huge_1.0_all.deb)
rm -rf "$keepdir"
sync # its writeback must not land on the run that follows
[ -n "${PROFILE:-}" ] && (curl -fsS -o "$PROFILE" "http://127.0.0.1:18182/_/debug/pprof/profile?seconds=4" &)
miss=$(curl -fsS -o /dev/null -w '%{speed_download} %{time_starttransfer}' http://127.0.0.1:18182/bench/pool/huge_1.0_all.deb)
rss=$(awk '/VmHWM/{print $2/1024" MB"}' "/proc/$lmpid/status")
read -r dspeed dttfb <<<"$direct"
read -r mspeed mttfb <<<"$miss"
awk -v d="$dspeed" -v k="$kept" -v m="$mspeed" -v dt="$dttfb" -v mt="$mttfb" -v sha="$sha" 'BEGIN{printf "direct from nginx: %.0f MB/s, first byte %.1f ms\ndirect from nginx, keeping the file: %.0f MB/s\nsha256 of one stream (crypto/sha256): %.0f MB/s: no verified miss can be faster\nthrough lazymirror: %.0f MB/s, first byte %.1f ms\nratio %.2fx direct (target >= 0.95), %.2fx direct keeping the file, %.2fx the sha256 ceiling\n", d/1e6, dt*1000, k/1e6, sha, m/1e6, mt*1000, m/d, m/k, m/1e6/sha}'
echo "lazymirror peak RSS over the whole run: $rss (target <= 100 MB)"
fi
