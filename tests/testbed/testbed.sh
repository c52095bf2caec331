#!/usr/bin/env bash
# fleetrestart testbed: real Debian hosts (systemd, sshd, services) booted with systemd-nspawn on
# per-host overlays of one debootstrap'd rootfs, each in its own network namespace on a bridge.
#
# usage: testbed.sh image                 build the image if its recipe changed (cached)
#        testbed.sh start N               boot hosts 1..N (already running ones are left alone)
#        testbed.sh stop I | stopall      clean shutdown of one host / of everything, removing every
#                                         mount, namespace, cgroup and bridge made (safe to re-run)
#        testbed.sh exec I CMD...         run CMD inside host I (nsenter)
#        testbed.sh ssh I CMD...          ssh root@host I with the test key, strict host keys
#        testbed.sh ip I                  the address of host I
#        testbed.sh inventory FILE        Ansible YAML inventory of the running hosts
#        testbed.sh down|up I             fault: power off (SIGKILL PID 1 + link down) / boot again
#        testbed.sh hang|thaw I           fault: freeze / thaw every process of host I
#        testbed.sh netcut|netfix I       fault: link down / up
#        testbed.sh partition|heal I      fault: silently drop host I's replies / undo
#        testbed.sh start-private I       boot host I on the private network only (TB_SUBNET2, default
#                                         10.78.0): this machine has no address or route there
#        testbed.sh start-sysv I          boot host I without systemd: fr-sysv-init is its PID 1 and
#                                         starts ssh, cron and lighttpd through /etc/init.d
#        testbed.sh bastion I             give running host I a second interface on the private
#                                         network: the jump host for the private ones (ssh -J)
#        testbed.sh upgrade I PKG...      make host I stale for real: dpkg -i newer .debs of PKG
#                                         (apt-get download on this machine, cached; the image is
#                                         from bookworm main, so security/updates versions are newer)
#        testbed.sh replace-file I PATH   make host I stale: copy PATH (a library, a daemon's script)
#                                         and rename the copy over it, as dpkg does
#        testbed.sh revert I              undo any scenario: reboot host I on a pristine overlay
#        testbed.sh no-return I           fault: host I powers off at its next reboot (never returns)
#        testbed.sh boots I               how many times host I booted since its start (reboots + 1)
#        testbed.sh wait-running I        wait until host I runs again (after a reboot)
#        testbed.sh light-start N [private]   N light endpoints (sshd alone in its own namespaces,
#                                         see light.sh); private: p1..pN behind bastions b1, b2
#        testbed.sh light-stop            stop every light endpoint
#        testbed.sh light-inventory FILE [public|private|private2]   their inventory (private2: two hops)
#        testbed.sh light-exec E CMD...   run CMD inside light endpoint E
#        testbed.sh light-ip E | light-known-hosts   an endpoint's address | their known_hosts file
#        testbed.sh corpus I              start the real-daemon corpus on host I (postfix, dovecot,
#                                         haproxy, unbound chrooted; nginx, munin-node, fail2ban,
#                                         mariadb, a nested pivot_root container, a daemon with
#                                         memfd/SYSV/deleted-shm mappings) and wait for it
#
# Environment: TB_BASE (default /var/lib/fleetrestart-testbed) holds the image, hosts and keys;
# TB_PREFIX (default frtb) prefixes every global name (netns, veth, bridge, cgroups) so that a
# second instance with another prefix and TB_SUBNET (default 10.77.0) does not collide.
# Needs root, debootstrap, systemd-container, iproute2 (cargo xtask deps installs them).
set -u
TB_BASE=${TB_BASE:-/var/lib/fleetrestart-testbed}
P=${TB_PREFIX:-frtb}
SUBNET=${TB_SUBNET:-10.77.0}
SUBNET2=${TB_SUBNET2:-10.78.0}
ROOTFS=$TB_BASE/rootfs
HOSTS=$TB_BASE/hosts
KEY=$TB_BASE/keys/id_ed25519
KNOWN=$TB_BASE/known_hosts
BR=${P}br0
BR2=${P}br1   # the private network: a bridge with no address on this machine
CGS="systemd unified freezer"
HERE=$(cd "$(dirname "$0")" && pwd)
MIRROR=${MIRROR:-$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
PACKAGES=systemd-sysv,dbus,libpam-systemd,openssh-server,sudo,lighttpd,cron,procps,iproute2,curl,perl,python3,needrestart,debian-goodies,iputils-ping,netcat-openbsd,less,time
# the real-daemon corpus: installed in the image, started only on the hosts a test asks for
# (`corpus I`), so that the many-host tests keep small hosts
CORPUS_PACKAGES=perl-openssl-defaults,postfix,dovecot-imapd,haproxy,unbound,nginx-light,munin-node,fail2ban,mariadb-server
CORPUS_UNITS="postfix@- dovecot haproxy unbound nginx munin-node fail2ban mariadb fr-nested fr-oddmaps"
PACKAGES=$PACKAGES,$CORPUS_PACKAGES
# the password of the user whose sudo asks for one (a test fixture, not a secret)
PASS_USER_PASSWORD=frpass-secret

die() { echo "testbed: $*" >&2; exit 1; }
is_private() { [ -f $HOSTS/h$1/private ]; }
is_sysv() { [ -f $HOSTS/h$1/sysv ]; }
ip_of() { if is_private $1; then echo "$SUBNET2.$((10 + $1))"; else echo "$SUBNET.$((10 + $1))"; fi; }
cg_dir() { echo "/sys/fs/cgroup/$1/$P/h$2"; }

recipe_hash() { # the image is rebuilt when this script's image part or the package list changes
  { echo "$PACKAGES"; sed -n '/^image_build()/,/^}/p' "$0"; cat "$HERE"/image/*; } | sha256sum | cut -c1-16
}

image_build() {
  local tmp=$TB_BASE/rootfs.new
  rm -rf "$tmp"; mkdir -p "$TB_BASE/keys"
  debootstrap --variant=minbase --include=$PACKAGES bookworm "$tmp" "$MIRROR" >"$TB_BASE/debootstrap.log" 2>&1 \
    || die "debootstrap failed, see $TB_BASE/debootstrap.log"
  [ -f $KEY ] || ssh-keygen -q -t ed25519 -N '' -f $KEY -C fleetrestart-testbed
  install -d -m700 "$tmp/root/.ssh"; install -m600 $KEY.pub "$tmp/root/.ssh/authorized_keys"
  # quiet, deterministic hosts: no periodic apt/dpkg jobs; needrestart must never restart by itself
  chroot "$tmp" systemctl mask apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer \
      fstrim.timer dpkg-db-backup.timer e2scrub_reap.service >/dev/null 2>&1
  printf '$nrconf{restart} = %s;\n' "'l'" > "$tmp/etc/needrestart/conf.d/testbed.conf"
  # users: a NOPASSWD sudoer and a sudoer who must give a password; both log in with the test key
  chroot "$tmp" useradd -m -s /bin/sh fradmin
  chroot "$tmp" useradd -m -s /bin/sh frpass
  chroot "$tmp" useradd -r -s /usr/sbin/nologin frsvc
  echo "frpass:$PASS_USER_PASSWORD" | chroot "$tmp" chpasswd
  chroot "$tmp" usermod -p '*' fradmin   # no password, key login only ('!' would lock the account)
  echo 'fradmin ALL=(ALL) NOPASSWD: ALL' > "$tmp/etc/sudoers.d/fradmin"
  echo 'frpass ALL=(ALL) ALL' > "$tmp/etc/sudoers.d/frpass"
  chmod 440 "$tmp/etc/sudoers.d/fradmin" "$tmp/etc/sudoers.d/frpass"
  for u in fradmin frpass; do
    install -d -m700 -o "$(chroot "$tmp" id -u $u)" -g "$(chroot "$tmp" id -g $u)" "$tmp/home/$u/.ssh"
    install -m600 -o "$(chroot "$tmp" id -u $u)" -g "$(chroot "$tmp" id -g $u)" $KEY.pub "$tmp/home/$u/.ssh/authorized_keys"
  done
  # scenario services: a perl daemon, a python daemon, a non-root service, a multi-process one
  install -m755 "$HERE/image/fr-perl-daemon" "$HERE/image/fr-python-daemon" "$HERE/image/fr-multi" "$HERE/image/fr-nested" "$HERE/image/fr-oddmaps" "$tmp/usr/local/bin/"
  install -m755 "$HERE/image/fr-sysv-init" "$tmp/usr/local/sbin/"
  install -m644 "$HERE"/image/*.service "$tmp/etc/systemd/system/"
  for s in "$HERE"/image/*.service; do chroot "$tmp" systemctl enable "$(basename "$s")" >/dev/null 2>&1; done
  # the corpus daemons are off until `corpus I`; their configuration makes them chroot as they
  # do on real hosts (postfix's master.cf and dovecot's login processes already do)
  chroot "$tmp" systemctl disable postfix dovecot haproxy unbound nginx munin-node fail2ban mariadb fr-nested fr-oddmaps >/dev/null 2>&1
  install -m644 "$HERE/image/haproxy.cfg" "$tmp/etc/haproxy/haproxy.cfg"
  install -m644 "$HERE/image/unbound-chroot.conf" "$tmp/etc/unbound/unbound.conf.d/zz-fr-chroot.conf"
  install -m644 "$HERE/image/fail2ban-testbed.conf" "$tmp/etc/fail2ban/jail.d/zz-testbed.conf"
  : > "$tmp/var/log/fr-auth.log"
  sed -i -e 's/listen 80 default_server;/listen 8081 default_server;/' \
      -e 's/listen \[::\]:80 default_server;/listen [::]:8081 default_server;/' "$tmp/etc/nginx/sites-available/default"
  : > "$tmp/etc/machine-id"       # per-host ids and host keys are made in each host's upper layer
  rm -f "$tmp"/etc/ssh/ssh_host_*
  echo "$(recipe_hash)" > "$tmp/.testbed-recipe"
  rm -rf "$ROOTFS"; mv "$tmp" "$ROOTFS"
}

image() {
  command -v debootstrap >/dev/null && command -v systemd-nspawn >/dev/null || die "needs debootstrap and systemd-container"
  if [ "$(cat "$ROOTFS/.testbed-recipe" 2>/dev/null)" = "$(recipe_hash)" ]; then return 0; fi
  mountpoint -q "$HOSTS"/h1/merged 2>/dev/null && die "hosts are running on the old image: stopall first"
  echo "testbed: building image (debootstrap, a few minutes)" >&2
  image_build
}

prepare() { # the host's overlay and identity
  local i=$1 d=$HOSTS/h$1 m
  mountpoint -q $d/merged || rm -rf $d/upper $d/work $d/boots   # pristine on every start
  mkdir -p $d/upper $d/work $d/merged
  mountpoint -q $d/merged || mount -t overlay $P-h$i -o lowerdir=$ROOTFS,upperdir=$d/upper,workdir=$d/work $d/merged || die "overlay mount failed"
  m=$d/merged
  echo h$i > $m/etc/hostname
  printf '127.0.0.1 localhost\n%s h%s\n' "$(ip_of $i)" $i > $m/etc/hosts
  [ -s $m/etc/machine-id ] || systemd-id128 new > $m/etc/machine-id
  [ -f $m/etc/ssh/ssh_host_ed25519_key ] || ssh-keygen -q -t ed25519 -N '' -f $m/etc/ssh/ssh_host_ed25519_key -C h$i
  printf 'HostKey /etc/ssh/ssh_host_ed25519_key\nUseDNS no\nMaxStartups 200:30:400\nMaxSessions 100\n' > $m/etc/ssh/sshd_config.d/testbed.conf
}

netns_up() {
  local i=$1 ns=$P-h$1 br=$BR
  if is_private $i; then
    br=$BR2
    private_net
  elif ! ip link show $BR >/dev/null 2>&1; then
    ip link add $BR type bridge && ip addr add $SUBNET.1/24 dev $BR && ip link set $BR up
  fi
  ip netns list | grep -qw $ns && return 0
  ip netns add $ns
  ip link add ${P}v$i type veth peer name eth0 netns $ns
  ip link set ${P}v$i master $br up
  ip -n $ns addr add $(ip_of $i)/24 dev eth0
  ip -n $ns link set lo up; ip -n $ns link set eth0 up
  is_private $i || ip -n $ns route add default via $SUBNET.1
}

private_net() { # the private bridge, and an unreachable route so that nothing for it leaves this machine
  ip link show $BR2 >/dev/null 2>&1 || { ip link add $BR2 type bridge && ip link set $BR2 up; }
  ip route show table main | grep -q "^unreachable $SUBNET2.0/24" || ip route add unreachable $SUBNET2.0/24
}

bastion() { # host I gets eth1 on the private network
  local i=$1 ns=$P-h$1
  private_net
  ip -n $ns link show eth1 >/dev/null 2>&1 && return 0
  ip link add ${P}b$i type veth peer name eth1 netns $ns
  ip link set ${P}b$i master $BR2 up
  ip -n $ns addr add $SUBNET2.$((10 + i))/24 dev eth1
  ip -n $ns link set eth1 up
  echo $i > $TB_BASE/bastion
}

leader() { # the host's PID 1 as seen from here
  local np; np=$(cat $HOSTS/h$1/nspawn.pid 2>/dev/null) || return 1
  if is_sysv $1; then pgrep -P "$np" -x fr-sysv-init | head -1; else pgrep -P "$np" -x systemd | head -1; fi
}

start_one() {
  local i=$1 d=$HOSTS/h$1 cg
  [ -f $d/nspawn.pid ] && kill -0 "$(cat $d/nspawn.pid)" 2>/dev/null && return 0
  prepare $i; netns_up $i
  # own cgroups per host: without systemd on this machine every nspawn would share one
  for cg in $CGS; do mkdir -p "$(cg_dir $cg $i)"; done
  # a sysv host runs fr-sysv-init as its PID 1 instead of booting systemd
  local boot=-b; is_sysv $i && boot=/usr/local/sbin/fr-sysv-init
  # a reboot inside the host makes systemd-nspawn exit with 133: the loop boots it again on the
  # same overlay (disk state kept, /run fresh), as a machine's firmware would, unless the host was
  # told not to come back (no-return: powered off during the reboot). Each boot is counted in
  # boots (one line per boot), which reboot campaign tests read. The console is copied into
  # nspawn.log (read-only): a passive console nobody reads fills up, and PID 1 then blocks in a
  # write to it after ~140 journald restarts (restart-race-2026-12.md).
  rm -f $d/nspawn.pid
  setsid bash -c 'for cg in '"$CGS"'; do echo $$ > /sys/fs/cgroup/$cg/'"$P"'/h'$i'/cgroup.procs; done
    while :; do
      date +%s.%N >> '$d'/boots
      systemd-nspawn -q -D '$d'/merged -M '$P'-h'$i' --register=no --keep-unit --console=read-only \
        --network-namespace-path=/run/netns/'$P'-h'$i' '$boot' &
      echo $! > '$d'/nspawn.pid
      wait $!; rc=$?
      [ $rc = 133 ] && [ ! -f '$d'/no-return ] || break
      echo "reboot: exit $rc, booting again" >&2
    done
    rm -f '$d'/no-return' nspawn >$d/nspawn.log 2>&1 </dev/null &
  for _ in $(seq 50); do [ -s $d/nspawn.pid ] && break; sleep 0.02; done
}

wait_running() { # until systemd says running/degraded (120 s at most)
  local i=$1 l s=timeout n=0
  is_sysv $i && { s=sysv; n=1200; }   # no systemd: sshd below is the sign of life
  while [ $((n++)) -lt 1200 ]; do
    l=$(leader $i 2>/dev/null)
    if [ -n "$l" ]; then
      s=$(nsenter -t $l -a -- systemctl is-system-running 2>/dev/null)
      case $s in running|degraded) break;; esac
    fi
    sleep 0.1
  done
  # sshd must answer too
  is_sysv $i && n=0
  while [ $((n++)) -lt 1200 ] && ! nc -z -w1 "$(ip_of $i)" 22 2>/dev/null; do sleep 0.1; done
  echo "h$i $s"
}

wait_running_private() {
  local i=$1 l s=timeout n=0
  while [ $((n++)) -lt 1200 ]; do
    l=$(leader $i 2>/dev/null)
    if [ -n "$l" ]; then
      s=$(nsenter -t $l -a -- systemctl is-system-running 2>/dev/null)
      case $s in running|degraded) nsenter -t $l -a -- sh -c 'ss -ltn | grep -q ":22 "' && break;; esac
    fi
    sleep 0.1
  done
  echo "h$i $s (private)"
}

known_hosts() { # one line per running host, from its own host key
  local d i; : > $KNOWN.new
  for d in $HOSTS/h*; do
    i=${d##*/h}; [ -f $d/merged/etc/ssh/ssh_host_ed25519_key.pub ] || continue
    echo "$(ip_of $i) $(cut -d' ' -f1,2 $d/merged/etc/ssh/ssh_host_ed25519_key.pub)" >> $KNOWN.new
  done
  mv $KNOWN.new $KNOWN
}

inventory() { # Ansible YAML inventory of the running hosts
  local out=$1 d i
  { echo "all:"; echo "  vars:"; echo "    ansible_user: root"; echo "    ansible_ssh_private_key_file: $KEY"
    echo "  children:"; echo "    testbed:"; echo "      hosts:"
    for d in $HOSTS/h*; do
      i=${d##*/h}; mountpoint -q $d/merged || continue
      echo "        h$i:"; echo "          ansible_host: $(ip_of $i)"
      if is_private $i && [ -f $TB_BASE/bastion ]; then
        echo "          ansible_ssh_common_args: '-o ProxyJump=root@$(ip_of "$(cat $TB_BASE/bastion)")'"
      fi
    done; } > "$out"
}

stop_begin() {
  { echo THAWED > "$(cg_dir freezer $1)/freezer.state"; } 2>/dev/null
  local np; np=$(cat $HOSTS/h$1/nspawn.pid 2>/dev/null) && kill -TERM $np 2>/dev/null
  return 0
}

stop_end() {
  local i=$1 d=$HOSTS/h$1 np cg l
  np=$(cat $d/nspawn.pid 2>/dev/null)
  if [ -n "$np" ]; then
    for _ in $(seq 100); do kill -0 $np 2>/dev/null || break; sleep 0.1; done
    if kill -0 $np 2>/dev/null; then
      l=$(leader $i); [ -n "$l" ] && kill -KILL $l 2>/dev/null
      kill -KILL $np 2>/dev/null; sleep 0.5
    fi
  fi
  mountpoint -q $d/merged && umount $d/merged
  ip link del ${P}v$i 2>/dev/null; ip link del ${P}b$i 2>/dev/null
  [ "$(cat $TB_BASE/bastion 2>/dev/null)" = $i ] && rm -f $TB_BASE/bastion
  ip netns list | grep -qw $P-h$i && ip netns del $P-h$i
  for cg in $CGS; do
    [ -d "$(cg_dir $cg $i)" ] && find "$(cg_dir $cg $i)" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
  rm -rf /run/systemd/nspawn/propagate/$P-h$i
  rm -f $d/nspawn.pid
}

stopall() {
  local ids d i cg
  ids=$(for d in $HOSTS/h*; do [ -e "$d" ] && echo ${d##*/h}; done)
  for i in $ids; do stop_begin $i; done
  for i in $ids; do stop_end $i; done
  # leftovers of a crashed run: any netns, veth or cgroup with our prefix
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$P-h"); do ip netns del $ns; done
  ip link show $BR >/dev/null 2>&1 && ip link del $BR
  ip link show $BR2 >/dev/null 2>&1 && ip link del $BR2
  ip route del unreachable $SUBNET2.0/24 2>/dev/null
  rm -f $HOSTS/h*/private $HOSTS/h*/sysv $TB_BASE/bastion
  for cg in $CGS; do [ -d /sys/fs/cgroup/$cg/$P ] && find /sys/fs/cgroup/$cg/$P -depth -type d -exec rmdir {} \; 2>/dev/null; done
  return 0
}

debs() { # download (once) the newest .debs of the packages into $TB_BASE/debs; print their paths
  local p f; mkdir -p $TB_BASE/debs
  for p in "$@"; do
    f=$(ls $TB_BASE/debs/${p}_*.deb 2>/dev/null | head -1)
    if [ -z "$f" ]; then
      (cd $TB_BASE/debs && apt-get download -q "$p" >/dev/null 2>&1) || die "apt-get download $p failed"
      f=$(ls $TB_BASE/debs/${p}_*.deb | head -1)
    fi
    echo "$f"
  done
}

corpus() { # start the real-daemon corpus on host I and wait until every unit is active
  local i=$1 l u bad=
  l=$(leader $i) || die "h$i is not running"
  nsenter -t $l -a -- systemctl start $CORPUS_UNITS 2>/dev/null
  for u in $CORPUS_UNITS; do
    for _ in $(seq 600); do
      nsenter -t $l -a -- systemctl is-active -q $u && break
      sleep 0.1
    done
    nsenter -t $l -a -- systemctl is-active -q $u || bad="$bad $u"
  done
  [ -z "$bad" ] || die "h$i: corpus units not active:$bad"
}

upgrade() { # dpkg -i inside host I (plain dpkg: needrestart's apt hook does not run)
  local i=$1 l f; shift
  l=$(leader $i) || die "h$i is not running"
  mkdir -p $HOSTS/h$i/merged/root/debs
  for f in $(debs "$@"); do cp "$f" $HOSTS/h$i/merged/root/debs/; done
  nsenter -t $l -a -- sh -c 'DEBIAN_FRONTEND=noninteractive dpkg -i /root/debs/*.deb' >/dev/null
}

hssh() {
  local i=$1; shift
  ssh -i $KEY -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=$KNOWN \
      -o LogLevel=ERROR -o ConnectTimeout=5 root@$(ip_of $i) "$@"
}

. "$HERE/light.sh"

[ "$(id -u)" = 0 ] || die "must run as root"
cmd=${1:-}; shift || true
case $cmd in
  image) image ;;
  start-private) i=${1:?index}; image; mkdir -p $HOSTS/h$i; touch $HOSTS/h$i/private
         sysctl -qw fs.inotify.max_user_instances=8192 fs.inotify.max_user_watches=1048576
         start_one $i; wait_running_private $i; known_hosts ;;
  bastion) bastion ${1:?index} ;;
  start-sysv) i=${1:?index}; image; mkdir -p $HOSTS/h$i; touch $HOSTS/h$i/sysv
         start_one $i; wait_running $i; known_hosts ;;
  start) n=${1:?count}; image
         sysctl -qw fs.inotify.max_user_instances=8192 fs.inotify.max_user_watches=1048576
         for i in $(seq 1 $n); do start_one $i; done
         for i in $(seq 1 $n); do wait_running $i; done
         known_hosts ;;
  stop)  stop_begin $1; stop_end $1; known_hosts ;;
  stopall) stopall ;;
  leader) leader ${1:?index} ;;
  exec)  i=$1; shift; l=$(leader $i) || die "h$i is not running"; nsenter -t $l -a -- "$@" ;;
  ssh)   hssh "$@" ;;
  ip)    ip_of $1 ;;
  key)   echo $KEY ;;
  known-hosts) echo $KNOWN ;;
  inventory) inventory "${1:?file}" ;;
  down)  l=$(leader $1) && kill -KILL $l; ip link set ${P}v$1 down
         # as once the ARP cache has expired (a host that has been off for a while)
         ip neigh del "$(ip_of $1)" dev $BR 2>/dev/null; true ;;
  up)    ip link set ${P}v$1 up
         for cg in $CGS; do find "$(cg_dir $cg $1)" -mindepth 1 -depth -type d -exec rmdir {} \; 2>/dev/null; done
         rm -f $HOSTS/h$1/nspawn.pid   # the overlay stays mounted: its disk state is kept
         start_one $1; wait_running $1 ;;
  upgrade) upgrade "$@" ;;
  light-start) image; light_start "${1:?count}" "${2:-public}" ;;
  light-stop) light_stop ;;
  light-inventory) light_inventory "${1:?file}" "${2:-public}" ;;
  light-exec) light_exec "$@" ;;
  light-ip) light_ip "${1:?endpoint}" ;;
  light-known-hosts) echo $LKNOWN ;;
  corpus) corpus ${1:?index} ;;
  replace-file) l=$(leader $1) || die "h$1 is not running"
         nsenter -t $l -a -- sh -c 'cp "$1" "$1.fr-new" && mv "$1.fr-new" "$1"' sh "$2" ;;
  revert) stop_begin $1; stop_end $1; rm -f $HOSTS/h$1/boots; start_one $1; wait_running $1; known_hosts ;;
  no-return) touch $HOSTS/h${1:?index}/no-return ;;
  boots) wc -l < $HOSTS/h${1:?index}/boots ;;
  wait-running) wait_running ${1:?index} ;;
  hang)  echo FROZEN > "$(cg_dir freezer $1)/freezer.state" ;;
  thaw)  echo THAWED > "$(cg_dir freezer $1)/freezer.state" ;;
  netcut) ip link set ${P}v$1 down ;;
  netfix) ip link set ${P}v$1 up ;;
  partition) ip -n $P-h$1 route add blackhole $SUBNET.1/32 ;;
  heal)  ip -n $P-h$1 route del blackhole $SUBNET.1/32 ;;
  *) sed -n 2,41p "$0"; exit 2 ;;
esac
