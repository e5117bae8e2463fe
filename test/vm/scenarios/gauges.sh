# Gauges and PSI on cgroup v2. One container cgroup per layout (Docker systemd, Docker cgroupfs, Kubernetes
# systemd), each with a limit, memory.high, memory.low, file cache on a real disk, a process holding anonymous
# memory, and memory pressure behind it; plus one container without a limit. oomwatch polls once when it
# starts (interval 30 s): the cgroup files are reported just before it starts and just after the scrape, so
# the suite can bracket every value the poll can have read.
# Env: ID_SYSTEMD ID_CGROUPFS ID_K8S POD_UID ID_UNLIMITED (64 hex each; POD_UID a UUID).

# Files for each container on the RAM disk, written from the root cgroup and dropped from the cache (once:
# dropping is global), so that reading them from a container charges their page cache to it.
scratch_disk
for n in systemd cgroupfs k8s; do
  head -c $((24 << 20)) /dev/urandom >"/mnt/disk/big-$n"
  head -c $((8 << 20)) /dev/urandom >"/mnt/disk/small-$n"
done
sync
echo 3 >/proc/sys/vm/drop_caches

prepare() { # prepare NAME REL: a limited container with cache, anon memory and pressure behind it
  dir=$(cg_make "$2")
  cg_limit "$dir" $((64 << 20))
  # Pressure: under a 16 MiB memory.high, reading 24 MiB of file makes the kernel reclaim the cgroup's page
  # cache in the reading task's context; the time it spends there is a memory stall (PSI "some" and "full").
  # A short stall can round down to nothing: read again (its head has been reclaimed by then, so the read
  # faults and reclaims again) until the kernel has counted some. Never drop caches here: that is global.
  echo $((16 << 20)) >"$dir/memory.high"
  tries=0
  while [ "$(awk -F'total=' '/^some/ { print $2 }' "$dir/memory.pressure")" = 0 ]; do
    tries=$((tries + 1))
    [ "$tries" -gt 5 ] && fail "$1: no memory stall after reading 5 times under memory.high"
    run_in "$dir" cat "/mnt/disk/big-$1"
    wait $!
  done
  rm "/mnt/disk/big-$1"
  echo $((48 << 20)) >"$dir/memory.high"
  echo $((8 << 20)) >"$dir/memory.low"
  # Page cache that stays: 8 MiB read once (inactive file).
  run_in "$dir" cat "/mnt/disk/small-$1"
  wait $!
  run_in "$dir" hog 24 "/tmp/ready.$1"
  note "$1: $2"
}

prepare systemd "$(docker_systemd_cg "$ID_SYSTEMD")"
prepare cgroupfs "$(docker_cgroupfs_cg "$ID_CGROUPFS")"
prepare k8s "$(k8s_systemd_cg "$POD_UID" "$ID_K8S")"
unlimited=$(cg_make "$(docker_systemd_cg "$ID_UNLIMITED")")
run_in "$unlimited" hog 8 /tmp/ready.unlimited
for n in systemd cgroupfs k8s unlimited; do wait_file "/tmp/ready.$n" 120 || fail "hog in $n never finished allocating"; done

report() {
  emit_cgroup "$1/systemd" "$CG/$(docker_systemd_cg "$ID_SYSTEMD")"
  emit_cgroup "$1/cgroupfs" "$CG/$(docker_cgroupfs_cg "$ID_CGROUPFS")"
  emit_cgroup "$1/k8s" "$CG/$(k8s_systemd_cg "$POD_UID" "$ID_K8S")"
  emit_cgroup "$1/unlimited" "$CG/$(docker_systemd_cg "$ID_UNLIMITED")"
}
report before
start_oomwatch
scrape scrape
report after
ls -la /tmp/state | emit state-dir
