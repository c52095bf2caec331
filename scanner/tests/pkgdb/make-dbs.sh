#!/usr/bin/env bash
# Builds real package databases with the real tools into OUT (each a root filesystem holding
# only its database), for the scanner's package-owner tests:
#   OUT/rpm-sqlite  rpm --initdb/--justdb -i of two rpms built by rpmbuild (rpmdb.sqlite: rpm 4.18's default)
#   OUT/rpm-bdb     the same headers in a Berkeley DB hash `Packages` written by db5.3_load
#                   (rpm 4.18 no longer writes BDB; RHEL 7/8 hosts have it)
#   OUT/pacman      pacman --dbonly -U of the same two packages as .pkg.tar files
#   OUT/apk         lib/apk/db/installed in apk's format (apk-tools is not packaged in Debian 12:
#                   written from the format, tests/fixtures in scanner)
# Packages: fr-cron owns /usr/sbin/cron and 400 files under /usr/lib/frbig (a header bigger than
# a database page: overflow pages); fr-lib owns /usr/lib/x86_64-linux-gnu/libfrtest.so.1.2.3.
# Needs rpm, pacman-package-manager, db5.3-util, sqlite3 (cargo xtask deps installs them).
set -eu
OUT=${1:?usage: make-dbs.sh OUT}
HERE=$(cd "$(dirname "$0")" && pwd)
rm -rf "$OUT"; mkdir -p "$OUT/build"
B=$OUT/build
files_cron() { echo /usr/sbin/cron; for i in $(seq 1 400); do echo /usr/lib/frbig/file-with-a-rather-long-name-number-$i; done; }
files_lib() { echo /usr/lib/x86_64-linux-gnu/libfrtest.so.1.2.3; }

# rpm: one spec per package, built with rpmbuild
for p in cron lib; do
  {
    printf 'Name: fr-%s\nVersion: 1.0\nRelease: 1\nSummary: fleetrestart test\nLicense: MIT\nBuildArch: noarch\n' $p
    printf '%%description\ntest\n%%install\n'
    files_$p | while read -r f; do printf 'mkdir -p %%{buildroot}%s && echo x > %%{buildroot}%s\n' "${f%/*}" "$f"; done
    printf '%%files\n'; files_$p
  } > "$B/fr-$p.spec"
  rpmbuild -bb --quiet --define "_topdir $B/top" --define "_build_id_links none" "$B/fr-$p.spec" >/dev/null 2>&1
done
R=$OUT/rpm-sqlite; mkdir -p "$R"
rpm --root "$R" --dbpath /var/lib/rpm --initdb
rpm --root "$R" --dbpath /var/lib/rpm -i --justdb --nodeps --noscripts "$B"/top/RPMS/noarch/*.rpm 2>/dev/null
rm -f "$R"/var/lib/rpm/.rpm.lock "$R"/var/lib/rpm/rpmdb.sqlite-shm
rpm --root "$R" --dbpath /var/lib/rpm -qf /usr/sbin/cron >/dev/null

# BDB: key = hnum (4 bytes, little-endian as on x86), value = the header blob; db_load -T
# takes printable lines with \xx escapes (lower-case hex)
D=$OUT/rpm-bdb; mkdir -p "$D/var/lib/rpm"
sqlite3 "$R/var/lib/rpm/rpmdb.sqlite" "select printf('%08x', hnum), lower(hex(blob)) from Packages" |
  while IFS='|' read -r k v; do
    echo "$k" | sed -E 's/(..)(..)(..)(..)/\4\3\2\1/; s/../\\&/g'
    echo "$v" | sed 's/../\\&/g'
  done > "$B/bdb.txt"
db5.3_load -T -t hash -c db_pagesize=4096 "$D/var/lib/rpm/Packages" < "$B/bdb.txt"
[ "$(db5.3_dump -p "$D/var/lib/rpm/Packages" | grep -c '^ ')" = 4 ]   # two keys, two values

# pacman: the same packages as .pkg.tar files, registered with --dbonly
P=$OUT/pacman; mkdir -p "$P/var/lib/pacman"
for p in cron lib; do
  s=$B/pac-$p; mkdir -p "$s"
  files_$p | while read -r f; do mkdir -p "$s${f%/*}"; echo x > "$s$f"; done
  printf 'pkgname = fr-%s\npkgbase = fr-%s\npkgver = 1.0-1\npkgdesc = test\nbuilddate = 1700000000\npackager = test\nsize = 2\narch = any\n' $p $p > "$s/.PKGINFO"
  (cd "$s" && tar -cf "$B/fr-$p-1.0-1-any.pkg.tar" .PKGINFO usr)
done
pacman --root "$P" --dbpath "$P/var/lib/pacman" --noconfirm --dbonly --nodeps --noscriptlet \
  -U "$B/fr-cron-1.0-1-any.pkg.tar" "$B/fr-lib-1.0-1-any.pkg.tar" >/dev/null 2>&1
[ -f "$P"/var/lib/pacman/local/fr-cron-1.0-1/files ]

# apk
A=$OUT/apk; mkdir -p "$A/lib/apk/db"
cp "$HERE/../fixtures/apk-installed" "$A/lib/apk/db/installed"
rm -rf "$B"
echo "make-dbs: $OUT/{rpm-sqlite,rpm-bdb,pacman,apk}"
