#!/usr/bin/env bash
# Writes the Podman layout fixture trees:
#   test/fixtures/cgroup/podman-v1/memory   cgroup v1, copied from this machine's real kernel
#   test/fixtures/cgroup/podman-v2          cgroup v2, copied from the VM capture in ../v2-captured
# so that every byte in them was written by a kernel, not by hand.
#
# The layouts are Podman's (paths relative to the controller root):
#   libpod_parent/libpod-<64hex>                         rootful, cgroupfs manager (no systemd: this machine)
#   libpod_parent/<pod 64hex>/libpod-<64hex>             a container of a pod, and the pod's infra container
#   libpod_parent/<pod 64hex>/conmon                     the pod's conmon processes: not a container
#   libpod_parent/conmon                                 every other conmon process: not a container
#   machine.slice/libpod-<64hex>.scope                   rootful, systemd manager
#   machine.slice/libpod-conmon-<64hex>.scope            its conmon: not a container
#   user.slice/user-1000.slice/user@1000.service/user.slice/libpod-<64hex>.scope            rootless, v2 + systemd
#   user.slice/user-1000.slice/user@1000.service/user.slice/libpod-<64hex>.scope/container  crun's sub-cgroup
#   user.slice/user-1000.slice/user@1000.service/user.slice/libpod-conmon-<64hex>.scope     its conmon
# The cgroupfs ones are where this machine's Podman 4.3.1 put its containers (test/real/podman.test.ts checks
# it again); the systemd and rootless ones are Podman's systemd cgroup manager's names. Rootless Podman on
# cgroup v1 makes no cgroup at all, so the rootless layout is written in the v2 tree only.
#
# v1: the cgroups are made under a private prefix of the real v1 memory hierarchy
# (/sys/fs/cgroup/memory/oomwatch-capture-podman-PID/...), each container's holds a process with some memory
# and a limit, then every readable memory.* file is copied, paths relative to the prefix, and everything is
# removed. v2: this host's v2 tree has no memory controller, so each directory gets the files of a directory of
# the same kind in the cgroup v2 capture of Linux 6.1 (../v2-captured/layouts): a container's are those of the
# captured container `docker/4ee41690...`, any other directory's those of `system.slice/`.
#
# Usage (root, on a host with the v1 memory controller, such as the CI machines):
#   test/helpers/capture-podman-trees.sh
set -euo pipefail

V1=/sys/fs/cgroup/memory
[ "$(id -u)" = 0 ] || { echo "capture-podman-trees: needs root (it creates memory cgroups)" >&2; exit 2; }
[ -f "$V1/memory.usage_in_bytes" ] || { echo "capture-podman-trees: no v1 memory controller at $V1" >&2; exit 2; }

repo=$(cd "$(dirname "$0")/../.." && pwd)
out_v1=$repo/test/fixtures/cgroup/podman-v1
out_v2=$repo/test/fixtures/cgroup/podman-v2
captured=$repo/test/fixtures/cgroup/v2-captured/layouts
v2_container=$captured/docker/4ee416900dd06804d2de56754c88156dab41728f62ed359ec7010fd2ab489fb0
v2_other=$captured/system.slice
prefix=oomwatch-capture-podman-$$
base=$V1/$prefix

# Ids are derived from a name (test/helpers/fixture-ids.ts, podmanFixtureId), so a new capture keeps the paths.
cid() { printf 'oomwatch-podman-fixture-%s' "$1" | sha256sum | cut -c1-64; }
pod=$(cid pod)
rootless_slice=user.slice/user-1000.slice/user@1000.service/user.slice

v1_containers=(
  "libpod_parent/libpod-$(cid web)"
  "libpod_parent/$pod/libpod-$(cid in-pod)"
  "libpod_parent/$pod/libpod-$(cid infra)"
  "machine.slice/libpod-$(cid systemd).scope"
)
v1_others=(libpod_parent/conmon "libpod_parent/$pod/conmon" "machine.slice/libpod-conmon-$(cid systemd).scope")
v2_containers=(
  "${v1_containers[@]}"
  "$rootless_slice/libpod-$(cid rootless).scope"
  "$rootless_slice/libpod-$(cid rootless-crun).scope"
)
v2_others=(
  "${v1_others[@]}"
  "$rootless_slice/libpod-$(cid rootless-crun).scope/container"
  "$rootless_slice/libpod-conmon-$(cid rootless).scope"
)

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
for rel in "${v1_containers[@]}" "${v1_others[@]}"; do
  mkdir -p "$base/$rel"
  n=$((n + 1))
  echo $(((32 + 8 * n) * MiB)) >"$base/$rel/memory.limit_in_bytes"
  (
    echo "$BASHPID" >"$base/$rel/cgroup.procs"
    exec sh -c 'x=$(head -c "$1" /dev/zero | tr "\0" a); sleep 600' sh $((n * 2 * MiB))
  ) >/dev/null 2>&1 &
  disown $!
done
for rel in "${v1_containers[@]}" "${v1_others[@]}"; do
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

# v2: the same directories and the rootless ones, each with the captured files of its kind
copy_files() { # copy_files SRC_DIR DEST_DIR: the files (not the sub-directories) of a captured directory
  mkdir -p "$2"
  find "$1" -maxdepth 1 -type f -exec cp {} "$2/" \;
}
copy_files "$captured" "$out_v2"
for rel in "${v2_containers[@]}" "${v2_others[@]}"; do
  parent=$(dirname "$rel")
  while [ "$parent" != . ]; do
    [ -f "$out_v2/$parent/memory.stat" ] || copy_files "$v2_other" "$out_v2/$parent"
    parent=$(dirname "$parent")
  done
done
for rel in "${v2_containers[@]}"; do copy_files "$v2_container" "$out_v2/$rel"; done
for rel in "${v2_others[@]}"; do copy_files "$v2_other" "$out_v2/$rel"; done

printf 'Captured by test/helpers/capture-podman-trees.sh on %s, kernel %s, page size %s.\n' \
  "$(date -u +%Y-%m-%d)" "$(uname -r)" "$(getconf PAGESIZE)" >"$out_v1/CAPTURED"
printf 'Written by test/helpers/capture-podman-trees.sh on %s from the files of ../v2-captured/layouts (Linux 6.1).\n' \
  "$(date -u +%Y-%m-%d)" >"$out_v2/CAPTURED"
echo "capture-podman-trees: wrote $out_v1 and $out_v2"
