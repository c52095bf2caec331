# shellcheck shell=sh
# The host side of the scanner's delivery (src/audit/delivery.rs), run by the host's `sh -c`
# after a preamble that sets:
#   d         the cache directory (an expression the host's shell expands)
#   deadline  seconds after which the delivered scanner ends itself
#   rules     bytes of rules that follow the scanner on standard input (0: none)
#   scanner() a function that sets b (file name), h (sha256) and n (bytes) of the scanner for
#             the architecture $1, or fails
# It prints one asking line (FLEETRESTART-...) and runs the cached scanner when its hash
# matches, else receives it on standard input, verifies its hash and runs it. Exit codes:
# 95 no scanner for the architecture, 96 upload failed, 97 unknown architecture, 98 unsafe
# cache directory, 99 hash mismatch. POSIX sh: dash, bash and BusyBox run it.
#
# Standard input carries the upload: every command that must not read it gets </dev/null,
# even one that never reads (shellcheck SC2217, excluded with the others below on purpose);
# LC_ALL is exported inside a command substitution for that `ls` alone (SC2030, SC2031);
# `a && b || c` means "c when a or b failed" (SC2015). The test that shellchecks the script
# as sent (delivery.rs) excludes exactly these.

a=
read -r a 2>/dev/null </proc/sys/kernel/arch || a=$(uname -m </dev/null)
case $a in
  x86_64|amd64) a=x86_64 ;;
  aarch64|arm64) a=aarch64 ;;
  *) printf 'FLEETRESTART-ARCH %s\n' "$a"; exit 97 ;;
esac
scanner "$a" || { printf 'FLEETRESTART-NOSCANNER %s\n' "$a"; exit 95; }

# the scanner's arguments
set -- --format json
[ "$rules" -eq 0 ] || set -- "$@" --rules -
set -- "$@" --deadline "$deadline"
args=$*

# the cache directory: created private if missing, then checked with its parents
umask 077
unsafe() { printf 'FLEETRESTART-UNSAFE %s\n' "$1"; exit 98; }
# st= the stamp of the cached copy $f: inode:size:ctime in ns from GNU ls ($g set), else
# BusyBox stat's device:inode:size:mtime:ctime; empty when it cannot be taken
stamp() {
  st=
  if [ -n "$g" ]; then
    x=$(export LC_ALL=C; exec ls -ldni --time-style=+%s.%N -c "$f" 2>/dev/null </dev/null)
    [ -n "$x" ] || return 0
    read -r li lm _ lu _ lz lt ln <<EOF
$x
EOF
    case $lm in -*) [ "$ln" != "$f" ] || st="$li:$lz:$lt" ;; esac
  else
    st=$(stat -c '%d:%i:%s:%.9Y:%.9Z' "$f" </dev/null 2>/dev/null) || st=
  fi
}
[ ! -h "$d" ] || unsafe "$d is a symbolic link"
[ -d "$d" ] || mkdir -p "$d" 2>/dev/null
cd -P "$d" 2>/dev/null || unsafe "cannot create or enter the cache directory $d"
d=$PWD
me=
while read -r k _ e _; do [ "$k" = Uid: ] && me=$e && break; done </proc/self/status
[ -n "$me" ] || unsafe "cannot read the user id from /proc/self/status"
set -- "$d"
p=$d
while [ -n "$p" ] && [ "$p" != / ]; do p=${p%/*}; set -- "$@" "${p:-/}"; p=${p:-/}; done
f="$d/$b"
# GNU ls lists the chain and the cached copy in one process, with the copy's stamp (inode,
# size, change time in ns); BusyBox ls has no --time-style: the chain alone, and `stat` below.
# ls -n columns: inode mode links uid gid size DATE name, DATE one field (GNU) or three.
# `exec` spares the command substitution a second fork; the lines are read by the script's
# own shell through a here-document (no subshell per line). A line must name the cache
# directory or one of its parents and the directory's own line must be there: a listing
# misread (a format this script does not know) is refused, never half-checked.
g=1
r=$(export LC_ALL=C; exec ls -ldni --time-style=+%s.%N -c "$@" "$f" 2>/dev/null </dev/null)
[ -n "$r" ] || { g=; r=$(export LC_ALL=C; exec ls -ldni "$@" 2>/dev/null </dev/null); }
c=0; st=; sd=
while if [ -n "$g" ]; then read -r li lm _ lu _ lz lt ln; else read -r li lm _ lu _ lz _ _ _ ln; fi; do
  case $ln in "$f"|"$f -> "*) case $lm in -*) st="$li:$lz:$lt" ;; esac; continue ;; esac
  if [ "$ln" = "$d" ]; then
    case $lm in drwx------|drwx------.) ;; *) unsafe "$ln has mode $lm, not drwx------" ;; esac
    [ "$lu" = "$me" ] || unsafe "$ln belongs to uid $lu, not to the running uid $me"
    sd=1
  else
    q=${ln%/}
    case $d in "$q/"*) ;; *) unsafe "the listing names $ln: neither the cache directory nor a parent" ;; esac
    case $lm in d*) ;; *) unsafe "$ln is not a directory ($lm)" ;; esac
    [ "$lu" = 0 ] || [ "$lu" = "$me" ] || unsafe "$ln belongs to uid $lu (neither root nor the running uid $me)"
    case $lm in ?????w*|????????w*) case $lm in *t|*t.|*t+|*T|*T.|*T+) ;; *) unsafe "$ln is writable by others ($lm)" ;; esac ;; esac
  fi
  c=$((c+1))
done <<EOF
$r
EOF
[ "$c" = $# ] && [ -n "$sd" ] || unsafe "cannot list the cache directory and its parents"

# warm: the copy is run when its sha256 matches; hashing 1 MB on every run costs a host more
# than the scan, so a stamp of the file as it was when last hashed (device, inode, size,
# modification and change times: any write changes them) stands for the hash.
# $args is split into the scanner's words on purpose (they hold no blanks but between words).
if [ -f "$f" ] && [ ! -h "$f" ]; then
  [ -n "$g" ] || stamp
  v=; [ -z "$st" ] || read -r v 2>/dev/null <"$f.ok"
  # shellcheck disable=SC2086
  if [ -n "$st" ] && [ "$v" = "$h $st" ]; then printf 'FLEETRESTART-RUN\n'; exec "$f" $args; fi
  s=$(sha256sum "$f" </dev/null 2>/dev/null)
  if [ "${s%% *}" = "$h" ]; then
    [ -z "$st" ] || printf '%s\n' "$h $st" >|"$f.ok" 2>/dev/null
    printf 'FLEETRESTART-RUN\n'
    # shellcheck disable=SC2086
    exec "$f" $args
  fi
fi

# cold: the scanner (and the rules after it) on standard input, read by one `head` into a
# temporary file (BusyBox `head -c` reads past its count: a second reader would miss what it
# swallowed), the rules split off into their own file, which becomes standard input
printf 'FLEETRESTART-UPLOAD %s\n' "$a"
t="$d/.upload.$$"
rm -f "$t" "$t.rules" "$t.bin"
set -C
head -c $((n + rules)) >"$t" || { rm -f "$t"; exit 96; }
if [ "$rules" -gt 0 ]; then
  tail -c +$((n+1)) "$t" >"$t.rules" && head -c "$n" "$t" >"$t.bin" && mv -f "$t.bin" "$t" \
    || { rm -f "$t" "$t.rules" "$t.bin"; exit 96; }
  exec <"$t.rules"; rm -f "$t.rules"
fi
s=$(sha256sum "$t" </dev/null 2>/dev/null)
[ "${s%% *}" = "$h" ] || { rm -f "$t"; exit 99; }
chmod 700 "$t" && mv -f "$t" "$f" || { rm -f "$t"; exit 96; }
stamp
[ -z "$st" ] || printf '%s\n' "$h $st" >|"$f.ok" 2>/dev/null
# shellcheck disable=SC2086
exec "$f" $args
