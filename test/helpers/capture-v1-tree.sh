#!/usr/bin/env bash
# Captures the v1 and hybrid fixture trees (test/fixtures/cgroup/v1, test/fixtures/cgroup/hybrid) and the
# /proc fixture (test/fixtures/scrape/proc) from this machine's real kernel, so that every byte in them was
# written by a kernel, not by hand.
#
# It builds container cgroups in the layouts of DESIGN.md under a private prefix of the real v1 memory
# hierarchy (/sys/fs/cgroup/memory/oomwatch-capture-PID/...) and of the v2 tree systemd mounts at
# /sys/fs/cgroup/unified (where the per-cgroup memory.pressure of a hybrid host lives), sets limits, runs
# processes that allocate memory in them, OOM-kills one container twice and leaves another hanging at its
# limit with the OOM killer disabled, then copies every readable memory.* file (and the v2 *.pressure
# files) into the fixture trees, paths relative to the prefix. Everything it made is removed at the end.
#
# Usage (root, on a host with the v1 memory controller, such as the CI machines):
#   test/helpers/capture-v1-tree.sh            # rewrites the three fixture directories
# Then regenerate the saved scrapes on purpose: UPDATE_SCRAPES=1 npx jest test/server/saved-scrape.test.ts
set -euo pipefail

V1=/sys/fs/cgroup/memory
UNIFIED=/sys/fs/cgroup/unified
[ "$(id -u)" = 0 ] || { echo "capture-v1-tree: needs root (it creates memory cgroups)" >&2; exit 2; }
[ -f "$V1/memory.usage_in_bytes" ] || { echo "capture-v1-tree: no v1 memory controller at $V1" >&2; exit 2; }
[ -f "$UNIFIED/cgroup.controllers" ] || { echo "capture-v1-tree: no v2 tree at $UNIFIED (hybrid mode)" >&2; exit 2; }

repo=$(cd "$(dirname "$0")/../.." && pwd)
out_v1=$repo/test/fixtures/cgroup/v1
out_hybrid=$repo/test/fixtures/cgroup/hybrid
out_proc=$repo/test/fixtures/scrape/proc
prefix=oomwatch-capture-$$
base=$V1/$prefix
ubase=$UNIFIED/$prefix

# Container ids and pod UIDs are derived from a name, so a new capture keeps the same paths.
cid() { printf 'oomwatch-fixture-%s' "$1" | sha256sum | cut -c1-64; }
pod_uid() {
  local h
  h=$(printf 'oomwatch-fixture-pod-%s' "$1" | sha256sum | cut -c1-32)
  printf '%s-%s-%s-%s-%s' "${h:0:8}" "${h:8:4}" "${h:12:4}" "${h:16:4}" "${h:20:12}"
}

cleanup() {
  # every process in the capture's cgroups (the shells and the children they started), then the cgroups
  for root in "$base" "$ubase"; do
    [ -d "$root" ] || continue
    find "$root" -name cgroup.procs -exec cat {} + 2>/dev/null | while read -r p; do kill -9 "$p" 2>/dev/null || true; done
  done
  sleep 0.5
  for root in "$base" "$ubase"; do
    [ -d "$root" ] || continue
    # deepest first; a cgroup whose killed processes are still exiting needs a moment
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      find "$root" -depth -type d -exec rmdir {} + 2>/dev/null || true
      [ -d "$root" ] || break
      sleep 0.3
    done
  done
}
trap 'cleanup; rm -f "${cache_file:-}"' EXIT

# mk REL: the cgroup in both trees (the unified one only carries PSI on a hybrid host).
mk() { mkdir -p "$base/$1" "$ubase/$1"; }
# limit REL BYTES [MEMSW_BYTES]: the memory limit, and memory+swap (defaults to the same: no swap).
limit() {
  echo "$2" >"$base/$1/memory.limit_in_bytes"
  if [ -f "$base/$1/memory.memsw.limit_in_bytes" ]; then echo "${3:-$2}" >"$base/$1/memory.memsw.limit_in_bytes"; fi
}
# run REL MB: a shell that joins the cgroup in both trees and holds about MB of anonymous memory.
run() {
  (
    echo "$BASHPID" >"$base/$1/cgroup.procs"
    echo "$BASHPID" >"$ubase/$1/cgroup.procs"
    exec sh -c 'x=$(head -c "$1" /dev/zero | tr "\0" a); sleep 600' sh $(($2 * 1024 * 1024))
  ) >/dev/null 2>&1 &
}
# wait_usage REL BYTES: until the cgroup's usage reaches BYTES (the allocation is done).
wait_usage() {
  for _ in $(seq 1 100); do
    [ "$(cat "$base/$1/memory.usage_in_bytes")" -ge "$2" ] && return 0
    sleep 0.1
  done
  echo "capture-v1-tree: $1 did not reach $2 bytes" >&2
  return 1
}

cache_file=$(mktemp /var/tmp/oomwatch-capture-cache.XXXXXX)
web=docker/$(cid web)
cache=docker/$(cid cache)
batch=docker/$(cid batch)
oom=docker/$(cid oom)
frozen=docker/$(cid frozen)
api=system.slice/docker-$(cid api).scope
k8s_pod=kubepods/burstable/pod$(pod_uid burstable)
k8s_app=$k8s_pod/$(cid k8s-app)
guaranteed=kubepods/pod$(pod_uid guaranteed)/$(cid k8s-guaranteed)
besteffort_uid=$(pod_uid besteffort)
besteffort=kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${besteffort_uid//-/_}.slice/cri-containerd-$(cid k8s-besteffort).scope
crio_uid=$(pod_uid crio)
crio_pod=kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${crio_uid//-/_}.slice
crio=$crio_pod/crio-$(cid crio).scope
crio_conmon=$crio_pod/crio-conmon-$(cid crio).scope
podman=machine.slice/libpod-$(cid podman).scope
podman_conmon=machine.slice/libpod-conmon-$(cid podman).scope

for rel in "$web" "$web/sub" "$cache" "$batch" "$oom" "$frozen" "$api" "$k8s_app" "$guaranteed" "$besteffort" "$crio" \
  "$crio_conmon" "$podman" "$podman_conmon" system.slice/docker.service system.slice/containerd.service \
  user.slice/user-1000.slice/session-2.scope "process_api/$(cid process-api | cut -c1-32)"; do
  mk "$rel"
done

MiB=$((1024 * 1024))
limit "$web" $((256 * MiB))
echo $((128 * MiB)) >"$base/$web/memory.soft_limit_in_bytes"
limit "$api" $((128 * MiB)) $((256 * MiB))
# Page cache past a limit that allows swap: the memory counter is hit first (failcnt moves) and the kernel
# reclaims the cache instead of killing anything.
limit "$cache" $((16 * MiB)) $((32 * MiB))
limit "$oom" $((32 * MiB))
limit "$frozen" $((16 * MiB))
echo 1 >"$base/$frozen/memory.oom_control"
limit "$k8s_pod" $((96 * MiB))
limit "$k8s_app" $((64 * MiB))
limit "$guaranteed" $((48 * MiB))
limit "$crio" $((40 * MiB))
limit "$podman" $((80 * MiB))

run "$web" 24
run "$web/sub" 4
run "$batch" 8
run "$api" 16
run "$k8s_app" 12
run "$guaranteed" 10
run "$besteffort" 6
run "$crio" 5
run "$podman" 7
run system.slice/docker.service 3
(
  echo "$BASHPID" >"$base/$cache/cgroup.procs"
  echo "$BASHPID" >"$ubase/$cache/cgroup.procs"
  exec sh -c 'head -c $((48 * 1024 * 1024)) /dev/zero >"$1"; sleep 600' sh "$cache_file"
) >/dev/null 2>&1 &

# Two OOM kills in one container: allocate 100 MB under a 32 MB limit without swap, twice.
for _ in 1 2; do
  (
    echo "$BASHPID" >"$base/$oom/cgroup.procs"
    echo "$BASHPID" >"$ubase/$oom/cgroup.procs"
    exec sh -c 'x=$(head -c "$1" /dev/zero | tr "\0" a)' sh $((100 * MiB))
  ) >/dev/null 2>&1 || true
done
# The OOM killer disabled: the allocation stalls at the limit (under_oom 1) instead of being killed.
run "$frozen" 64
for _ in $(seq 1 100); do grep -q '^under_oom 1' "$base/$frozen/memory.oom_control" && break; sleep 0.1; done

wait_usage "$web" $((26 * MiB))
wait_usage "$batch" $((7 * MiB))
wait_usage "$api" $((15 * MiB))
wait_usage "$podman" $((6 * MiB))
for _ in $(seq 1 100); do [ "$(stat -c %s "$cache_file")" -ge $((48 * MiB)) ] && break; sleep 0.1; done
sleep 1

copy_tree() { # copy_tree SRC DEST PATTERN...: readable files matching the patterns, directory by directory
  local src=$1 dest=$2
  shift 2
  (cd "$src" && find . -type d) | while read -r d; do
    mkdir -p "$dest/$d"
    for pat in "$@"; do
      for f in "$src/$d"/$pat; do
        [ -f "$f" ] || continue
        # write-only and event files (memory.force_empty, memory.pressure_level...) refuse reads: skipped
        cat "$f" >"$dest/$d/$(basename "$f")" 2>/dev/null || rm -f "$dest/$d/$(basename "$f")"
      done
    done
  done
}
copy_root() { # copy_root SRC DEST PATTERN...: the files of the root cgroup only
  local src=$1 dest=$2
  shift 2
  mkdir -p "$dest"
  for pat in "$@"; do
    for f in "$src"/$pat; do
      [ -f "$f" ] || continue
      cat "$f" >"$dest/$(basename "$f")" 2>/dev/null || rm -f "$dest/$(basename "$f")"
    done
  done
}

rm -rf "$out_v1" "$out_hybrid" "$out_proc"
for out in "$out_v1" "$out_hybrid"; do
  copy_root "$V1" "$out/memory" 'memory.*'
  copy_tree "$base" "$out/memory" 'memory.*'
done
copy_root "$UNIFIED" "$out_hybrid/unified" cgroup.controllers '*.pressure'
copy_tree "$ubase" "$out_hybrid/unified" cgroup.controllers '*.pressure'

mkdir -p "$out_proc/sys/kernel/random"
cp /proc/vmstat "$out_proc/vmstat"
cp /proc/sys/kernel/random/boot_id "$out_proc/sys/kernel/random/boot_id"

printf 'Captured by test/helpers/capture-v1-tree.sh on %s, kernel %s, page size %s.\n' \
  "$(date -u +%Y-%m-%d)" "$(uname -r)" "$(getconf PAGESIZE)" | tee "$out_v1/CAPTURED" >"$out_hybrid/CAPTURED"
echo "capture-v1-tree: wrote $out_v1, $out_hybrid and $out_proc"
