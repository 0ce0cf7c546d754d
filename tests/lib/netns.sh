# tests/lib/netns.sh: hosts on one machine, each a network namespace on a
# bridge, for the tests that need more than one host. Source it.
#
#   net_up PREFIX SUBNET NAME...  namespace PREFIXsw holds the bridge br0 at
#                                 SUBNET.254; each NAME gets namespace
#                                 PREFIXNAME with eth0 at SUBNET.1, .2, ...
#   net_cut PREFIX NAME           NAME's link to the bridge down
#   net_mend PREFIX NAME          and up again
#   net_down PREFIX NAME...       every process in the namespaces (and the
#                                 bridge's) ended, then the namespaces gone

net_up() {
	prefix=$1 subnet=$2
	shift 2
	ip netns add "${prefix}sw"
	ip -n "${prefix}sw" link add br0 type bridge
	ip -n "${prefix}sw" addr add "$subnet.254/24" dev br0
	ip -n "${prefix}sw" link set br0 up
	ip -n "${prefix}sw" link set lo up
	i=1
	for n in "$@"; do
		ip netns add "$prefix$n"
		ip -n "${prefix}sw" link add "v$n" type veth peer name eth0 netns "$prefix$n"
		ip -n "${prefix}sw" link set "v$n" master br0 up
		ip -n "$prefix$n" addr add "$subnet.$i/24" dev eth0
		ip -n "$prefix$n" link set eth0 up
		ip -n "$prefix$n" link set lo up
		i=$((i + 1))
	done
}

net_cut() { ip -n "${1}sw" link set "v$2" down; }
net_mend() { ip -n "${1}sw" link set "v$2" up; }

net_down() {
	prefix=$1
	shift
	for n in "$@" sw; do
		ip netns pids "$prefix$n" 2>/dev/null | xargs -r kill 2>/dev/null || true
	done
	sleep 0.2
	for n in "$@" sw; do
		ip netns pids "$prefix$n" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
		ip netns del "$prefix$n" 2>/dev/null || true
	done
}
