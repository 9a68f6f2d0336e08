# bench/link.sh — sourced near the top of a bench, after it cd'd to the
# repository:   . bench/link.sh UPSTREAM_PORT "$PWD/bench/NAME.sh" "$@"
# With LINK set (a tc rate: 1gbit, 2500mbit, 10gbit; needs root and
# iproute2), it runs the bench again in a network namespace of its own,
# whose loopback carries what the upstream (nginx, sending from
# UPSTREAM_PORT) sends at LINK at most (tc htb): as if the upstream were
# across a link of that speed, while lazymirror's own clients are not
# limited. Every packet stays on 127.0.0.1. Without LINK it does nothing.
if [ -n "${LINK:-}" ] && [ -z "${LAZYMIRROR_BENCH_NETNS:-}" ]; then
  link_port=$1
  shift
  for t in ip tc; do command -v $t >/dev/null || { echo "$1: LINK needs $t (as root: apt-get install iproute2)" >&2; exit 1; }; done
  link_ns=lazymirror-bench-$$
  ip netns add "$link_ns"
  trap 'ip netns del "$link_ns"' EXIT
  link_tc() { ip netns exec "$link_ns" tc "$@"; }
  ip netns exec "$link_ns" ip link set lo up
  link_tc qdisc add dev lo root handle 1: htb default 20
  # Bursts of a few loopback super-packets (64 KiB) at most.
  link_tc class add dev lo parent 1: classid 1:10 htb rate "$LINK" burst 256kb cburst 256kb quantum 200000
  link_tc class add dev lo parent 1: classid 1:20 htb rate 100gbit burst 4mb cburst 4mb quantum 200000
  link_tc filter add dev lo parent 1: protocol ip u32 match ip sport "$link_port" 0xffff flowid 1:10
  echo "== link: in network namespace $link_ns, what the upstream (port $link_port) sends is limited to $LINK (tc htb on lo)"
  LAZYMIRROR_BENCH_NETNS=1 ip netns exec "$link_ns" "$@"
  exit
fi
