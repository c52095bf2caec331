# fleetrestart testbed, light endpoints: many real sshd endpoints for fleet-scale tests.
# Sourced by testbed.sh (which sets TB_BASE, P, ROOTFS, KEY and die); not run on its own.
#
# An endpoint is sshd alone, as PID 1 of its own PID namespace, in its own network namespace
# (one address on the bridge ${P}br2, 10.79.0.0/16, this machine at 10.79.0.1), in its own
# mount namespace on an overlay of the testbed image (so /proc shows only the endpoint's own
# processes: a bounded /proc to scan, and writes stay in the endpoint), pivoted into it with
# the rest of this machine's mounts detached (its mount table is its own). No PAM, no systemd: cron
# runs as a sysv service (its init script logs each run to /var/log/fr-cron-runs). Killing sshd
# ends the namespaces, and with them the mounts.
#
# Private endpoints (`light-start N private`) are on ${P}br3 (10.80.0.0/16), which this machine
# has no address or route on; the bastion endpoint `b1` has a leg on both, and `b2` sits on the
# private network only (a second hop). A Linux bridge takes at most 1024 ports: 1000 endpoints
# per bridge at most.
#
# Per endpoint: $TB_BASE/light/eI/{upper,work,merged} (upper and work removed on stop), a host
# key kept across runs in $TB_BASE/light-keys, and $TB_BASE/light_known_hosts for all of them.

LIGHT=$TB_BASE/light
LKEYS=$TB_BASE/light-keys
LKNOWN=$TB_BASE/light_known_hosts
LBR=${P}br2
LBR2=${P}br3
LMAX=1000

# endpoint names: 1..N (public), p1..pN (private), b1 (bastion, both), b2 (private bastion)
light_ip() {
  local e=$1 net=10.79 n
  case $e in
    b1) echo 10.79.0.2; return ;;
    b2) echo 10.80.0.3; return ;;
    p*) net=10.80; n=${e#p} ;;
    *) n=$e ;;
  esac
  n=$((n + 9)); echo "$net.$((n / 250)).$((n % 250 + 2))"
}
light_private() { case $1 in p*|b2) return 0;; *) return 1;; esac; }

light_bridges() {
  ip link show $LBR >/dev/null 2>&1 || { ip link add $LBR type bridge && ip addr add 10.79.0.1/16 dev $LBR && ip link set $LBR up; }
  ip link show $LBR2 >/dev/null 2>&1 || { ip link add $LBR2 type bridge && ip link set $LBR2 up; }
  ip route show table main | grep -q "^unreachable 10.80.0.0/16" || ip route add unreachable 10.80.0.0/16
  # one ARP entry per endpoint here and one per endpoint in its namespace: the kernel's
  # neighbour table (shared by all namespaces) holds 1024 by default
  sysctl -qw net.ipv4.neigh.default.gc_thresh1=8192 net.ipv4.neigh.default.gc_thresh2=16384 \
      net.ipv4.neigh.default.gc_thresh3=32768
}

light_key() { # the endpoint's host key, made once and kept (known_hosts stays valid)
  local e=$1
  mkdir -p $LKEYS
  [ -f $LKEYS/$e ] || ssh-keygen -q -t ed25519 -N '' -f $LKEYS/$e -C "light-$e"
}

light_one() { # start endpoint E (in the background); its nspawn-free namespaces and sshd
  local e=$1 d=$LIGHT/e$1 ns=$P-l$1 ip br=$LBR veth=${P}l$1
  [ -f $d/pid ] && kill -0 "$(cat $d/pid)" 2>/dev/null && return 0
  ip=$(light_ip $e); light_private $e && br=$LBR2
  rm -rf $d; mkdir -p $d/upper/etc/ssh/sshd_config.d $d/upper/etc/default $d/work $d/merged
  light_key $e
  cp $LKEYS/$e $d/upper/etc/ssh/ssh_host_ed25519_key; cp $LKEYS/$e.pub $d/upper/etc/ssh/ssh_host_ed25519_key.pub
  printf 'HostKey /etc/ssh/ssh_host_ed25519_key\nUsePAM no\nUseDNS no\nMaxStartups 100:30:200\nMaxSessions 100\nPrintMotd no\n' \
      > $d/upper/etc/ssh/sshd_config.d/light.conf
  # every run of cron's init script leaves a line: the campaign tests count restarts with it
  { cat $ROOTFS/etc/default/cron; echo 'echo "$1" >> /var/log/fr-cron-runs'; } > $d/upper/etc/default/cron
  echo "light-$e" > $d/upper/etc/hostname
  [ -e /run/netns/$ns ] || ip netns add $ns
  ip link show $veth >/dev/null 2>&1 || ip link add $veth type veth peer name eth0 netns $ns
  ip link set $veth master $br up
  ip -n $ns addr add $ip/16 dev eth0 2>/dev/null
  ip -n $ns link set lo up; ip -n $ns link set eth0 up
  light_private $e || ip -n $ns route add default via 10.79.0.1 2>/dev/null
  setsid nsenter --net=/run/netns/$ns unshare --mount --pid --uts --fork --propagation private sh -c '
    d=$1; m=$d/merged; hostname "light-$3"
    mount -t overlay light -o lowerdir=$2,upperdir=$d/upper,workdir=$d/work $m || exit 1
    mount -t proc proc $m/proc && mount --rbind /dev $m/dev && mount -t tmpfs -o mode=755 run $m/run \
      && mount -t tmpfs -o mode=1777 tmp $m/tmp || exit 1
    mkdir -p $m/run/sshd $m/run/lock $m/run/oldroot
    # the root of the endpoint becomes the overlay and the rest of the mount tree of this
    # machine is detached: its namespace then holds its own mounts alone, as a host does (a
    # copy of the tree of this machine holds every netns mount made before it, ~N at N
    # endpoints, and reading /proc/self/mountinfo walks hidden mounts too: a per-host cost
    # growing with the fleet). No single quote in this script: it is quoted in one.
    cd $m && pivot_root . run/oldroot && umount -l /run/oldroot && rmdir /run/oldroot || exit 1
    /etc/init.d/cron start >/dev/null 2>&1
    exec /usr/sbin/sshd -D -e' sh $d $ROOTFS $e >$d/log 2>&1 </dev/null &
  echo $! > $d/pid
}

light_bastion() { # b1: legs on both networks; b2: on the private one only
  local ns=$P-lb1
  light_one b1
  ip -n $ns link show eth1 >/dev/null 2>&1 && return 0
  ip link add ${P}lb1x type veth peer name eth1 netns $ns
  ip link set ${P}lb1x master $LBR2 up
  ip -n $ns addr add 10.80.0.2/16 dev eth1; ip -n $ns link set eth1 up
}

light_wait() { # until each endpoint's sshd answers (60 s at most each); print the failures
  local e ns n
  for e in "$@"; do
    ns=$P-l$e n=0
    until nsenter --net=/run/netns/$ns nc -z -w1 "$(light_ip $e)" 22 2>/dev/null; do
      [ $((n++)) -lt 600 ] || { echo "light: endpoint $e did not come up: $(tail -3 $LIGHT/e$e/log)" >&2; break; }
      sleep 0.1
    done
  done
}

light_known() {
  local d e
  : > $LKNOWN.new
  for d in $LIGHT/e*; do
    [ -f $d/pid ] || continue
    e=${d##*/e}; echo "$(light_ip $e) $(cut -d' ' -f1,2 $LKEYS/$e.pub)" >> $LKNOWN.new
  done
  mv $LKNOWN.new $LKNOWN
}

light_start() { # N [private]: endpoints 1..N (or p1..pN and the bastions)
  local n=$1 kind=${2:-public} i names=
  [ "$n" -le $LMAX ] || die "at most $LMAX light endpoints per network (a bridge takes 1024 ports)"
  [ -d $ROOTFS ] || die "no image: testbed.sh image first"
  light_bridges
  if [ "$kind" = private ]; then
    light_bastion; light_one b2; names="b1 b2"
    for i in $(seq 1 $n); do light_one p$i; names="$names p$i"; done
  else
    for i in $(seq 1 $n); do light_one $i; names="$names $i"; done
  fi
  light_wait $names
  light_known
}

light_stop() { # every endpoint; safe to re-run after a crash
  local d pid kids
  for d in $LIGHT/e*; do # sshd is the child of the unshare process: PID 1 of the endpoint
    [ -e "$d" ] || continue
    pid=$(cat $d/pid 2>/dev/null) || continue
    kids=$(cat /proc/$pid/task/$pid/children 2>/dev/null) && [ -n "$kids" ] && kill -KILL $kids 2>/dev/null
  done
  for d in $LIGHT/e*; do
    [ -e "$d" ] || continue
    pid=$(cat $d/pid 2>/dev/null) && for _ in $(seq 50); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
    rm -rf $d
  done
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$P-l"); do ip netns del $ns; done
  ip link show $LBR >/dev/null 2>&1 && ip link del $LBR
  ip link show $LBR2 >/dev/null 2>&1 && ip link del $LBR2
  ip route del unreachable 10.80.0.0/16 2>/dev/null
  rm -f $LKNOWN
  return 0
}

light_inventory() { # FILE [public|private|private2]: YAML inventory of the public endpoints, or
  # of the private ones through b1 (private2: through b1 then b2, two hops)
  local out=$1 kind=${2:-public} d e
  { echo "all:"; echo "  vars:"; echo "    ansible_user: root"; echo "    ansible_ssh_private_key_file: $KEY"
    echo "  hosts:"
    for d in $LIGHT/e*; do
      [ -f $d/pid ] || continue
      e=${d##*/e}
      case $e in b*) continue;; esac
      if light_private $e; then
        local via=root@$(light_ip b1)
        case $kind in private) ;; private2) via=$via,root@$(light_ip b2) ;; *) continue ;; esac
        echo "    l$e:"; echo "      ansible_host: $(light_ip $e)"
        echo "      ansible_ssh_common_args: '-o ProxyJump=$via'"
      else
        [ "$kind" = public ] || continue
        echo "    l$e:"; echo "      ansible_host: $(light_ip $e)"
      fi
    done; } > "$out"
}

light_exec() { # E CMD...: run CMD inside endpoint E (all its namespaces, its root)
  local e=$1 pid sshd; shift
  pid=$(cat $LIGHT/e$e/pid 2>/dev/null) || die "light endpoint $e is not running"
  read -r sshd _ < /proc/$pid/task/$pid/children 2>/dev/null; [ -n "$sshd" ] || die "light endpoint $e has no sshd"
  nsenter -t "$sshd" -a -r -w -- "$@"
}
