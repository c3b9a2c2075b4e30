#!/bin/sh
# sandbox.sh STATE_DIR COMMAND...: runs COMMAND in a mount namespace of its own, laid out as
# systemd lays out the units' file-system sandbox (systemd/hardening.inc):
#   ProtectSystem=strict  every mount read-only except the API file systems /dev, /proc, /sys
#   ReadWritePaths=/dev/shm, StateDirectory=  /dev/shm (part of /dev) and STATE_DIR writable
#   PrivateTmp=yes        fresh, private /tmp and /var/tmp
#   ProtectHome=yes       /home and /root empty
# Each call is a separate namespace, like two units: what they share is what the host shares.
# Needs CAP_SYS_ADMIN (root); exit 77 when a namespace cannot be made.
set -eu
state=$1
shift
unshare --mount --propagation private true 2>/dev/null || exit 77
exec unshare --mount --propagation private sh -euc '
state=$1
shift
mount --bind "$state" "$state"
for mp in $(awk "{print \$5}" /proc/self/mountinfo | sort -u); do
  case "$mp" in
    /dev|/dev/*|/proc|/proc/*|/sys|/sys/*) continue ;;
  esac
  [ "$mp" = "$state" ] && continue
  mount -o remount,bind,ro "$mp" 2>/dev/null || true
done
for d in /tmp /var/tmp /home /root; do
  if [ -d "$d" ]; then mount -t tmpfs -o mode=0755 tmpfs "$d"; fi
done
exec "$@"
' sh "$state" "$@"
