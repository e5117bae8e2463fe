#!/usr/bin/env bash
# Writes the containerd layout fixture trees:
#   test/fixtures/cgroup/containerd-v1/memory   cgroup v1, copied from this machine's real kernel
#   test/fixtures/cgroup/containerd-v2          cgroup v2, copied from the VM capture in ../v2-captured
# so that every byte in them was written by a kernel, not by hand.
#
# The layouts are containerd's (paths relative to the controller root):
#   default/<64hex>                                      nerdctl or ctr, cgroupfs driver, namespace default
#   k8s.io/<64hex>                                       ctr in namespace k8s.io (a namespace the source reports)
#   other/<64hex>                                        a namespace the source does not report
#   default/web                                          ctr run IMAGE web: an id that is not 64 hex
#   custom/jobs/nightly                                  ctr run --cgroup /custom/jobs/nightly IMAGE nightly
#   system.slice/nerdctl-<64hex>.scope                   nerdctl, systemd driver
#   user.slice/user-1000.slice/user@1000.service/user.slice/nerdctl-<64hex>.scope   rootless nerdctl, systemd
#   system.slice/containerd.service                      containerd itself: not a container
#
# v1: the cgroups are made under a private prefix of the real v1 memory hierarchy
# (/sys/fs/cgroup/memory/oomwatch-capture-ctd-PID/...), each container's holds a process with some memory and
# a limit, then every readable memory.* file is copied, paths relative to the prefix, and everything is removed.
# v2: this host's v2 tree has no memory controller, so each directory gets the files of a directory of the same
# kind in the cgroup v2 capture of Linux 6.1 (../v2-captured/layouts): a container's are those of the captured
# container `docker/4ee41690...`, a parent's those of `docker/`, a slice's those of `system.slice/`.
#
# Usage (root, on a host with the v1 memory controller, such as the CI machines):
#   test/helpers/capture-containerd-trees.sh
set -euo pipefail

V1=/sys/fs/cgroup/memory
[ "$(id -u)" = 0 ] || { echo "capture-containerd-trees: needs root (it creates memory cgroups)" >&2; exit 2; }
[ -f "$V1/memory.usage_in_bytes" ] || { echo "capture-containerd-trees: no v1 memory controller at $V1" >&2; exit 2; }

repo=$(cd "$(dirname "$0")/../.." && pwd)
out_v1=$repo/test/fixtures/cgroup/containerd-v1
out_v2=$repo/test/fixtures/cgroup/containerd-v2
captured=$repo/test/fixtures/cgroup/v2-captured/layouts
v2_container=$captured/docker/4ee416900dd06804d2de56754c88156dab41728f62ed359ec7010fd2ab489fb0
v2_parent=$captured/docker
v2_slice=$captured/system.slice
prefix=oomwatch-capture-ctd-$$
base=$V1/$prefix

# Container ids are derived from a name (test/helpers/fixture-ids.ts, containerdFixtureId), so a new capture
# keeps the same paths.
cid() { printf 'oomwatch-containerd-fixture-%s' "$1" | sha256sum | cut -c1-64; }

containers=(
  "default/$(cid nerdctl)"
  "k8s.io/$(cid k8s-ns)"
  "other/$(cid other-ns)"
  "default/web"
  "custom/jobs/nightly"
  "system.slice/nerdctl-$(cid nerdctl-systemd).scope"
  "user.slice/user-1000.slice/user@1000.service/user.slice/nerdctl-$(cid rootless).scope"
)
services=(system.slice/containerd.service)

cleanup() {
  [ -d "$base" ] || return 0
  find "$base" -name cgroup.procs -exec cat {} + 2>/dev/null | while read -r p; do kill -9 "$p" 2>/dev/null || true; done
  sleep 0.5
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    find "$base" -depth -type d -exec rmdir {} + 2>/dev/null || true
    [ -d "$base" ] || break
    sleep 0.3
  done
}
trap cleanup EXIT

MiB=$((1024 * 1024))
n=0
for rel in "${containers[@]}" "${services[@]}"; do
  mkdir -p "$base/$rel"
  n=$((n + 1))
  echo $(((32 + 8 * n) * MiB)) >"$base/$rel/memory.limit_in_bytes"
  (
    echo "$BASHPID" >"$base/$rel/cgroup.procs"
    exec sh -c 'x=$(head -c "$1" /dev/zero | tr "\0" a); sleep 600' sh $((n * 2 * MiB))
  ) >/dev/null 2>&1 &
  disown $!
done
for rel in "${containers[@]}" "${services[@]}"; do
  for _ in $(seq 1 100); do
    [ "$(cat "$base/$rel/memory.usage_in_bytes")" -ge $((2 * MiB)) ] && break
    sleep 0.1
  done
done
sleep 1

rm -rf "$out_v1" "$out_v2"
# v1: every readable memory.* file of every directory under the prefix (write-only ones refuse reads: skipped)
(cd "$base" && find . -type d) | while read -r d; do
  mkdir -p "$out_v1/memory/$d"
  for f in "$base/$d"/memory.*; do
    [ -f "$f" ] || continue
    cat "$f" >"$out_v1/memory/$d/$(basename "$f")" 2>/dev/null || rm -f "$out_v1/memory/$d/$(basename "$f")"
  done
done
for f in "$V1"/memory.*; do
  [ -f "$f" ] || continue
  cat "$f" >"$out_v1/memory/$(basename "$f")" 2>/dev/null || rm -f "$out_v1/memory/$(basename "$f")"
done

# v2: the same directories, each with the captured files of its kind
copy_files() { # copy_files SRC_DIR DEST_DIR: the files (not the sub-directories) of a captured directory
  mkdir -p "$2"
  find "$1" -maxdepth 1 -type f -exec cp {} "$2/" \;
}
copy_files "$captured" "$out_v2"
for rel in "${containers[@]}" "${services[@]}"; do
  parent=$(dirname "$rel")
  while [ "$parent" != . ]; do
    case "$parent" in
      *.slice | *.service) copy_files "$v2_slice" "$out_v2/$parent" ;;
      *) copy_files "$v2_parent" "$out_v2/$parent" ;;
    esac
    parent=$(dirname "$parent")
  done
done
for rel in "${containers[@]}"; do copy_files "$v2_container" "$out_v2/$rel"; done
for rel in "${services[@]}"; do copy_files "$v2_slice" "$out_v2/$rel"; done

printf 'Captured by test/helpers/capture-containerd-trees.sh on %s, kernel %s, page size %s.\n' \
  "$(date -u +%Y-%m-%d)" "$(uname -r)" "$(getconf PAGESIZE)" >"$out_v1/CAPTURED"
printf 'Written by test/helpers/capture-containerd-trees.sh on %s from the files of ../v2-captured/layouts (Linux 6.1).\n' \
  "$(date -u +%Y-%m-%d)" >"$out_v2/CAPTURED"
echo "capture-containerd-trees: wrote $out_v1 and $out_v2"
