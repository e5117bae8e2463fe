# Gauges and PSI on cgroup v2. Each container in $CONTAINERS_LIMITED (one per layout) gets a 64 MiB limit,
# memory.high, memory.low, file cache on a real disk, a process holding anonymous memory, and memory pressure
# behind it; $CONTAINERS_UNLIMITED get only a process. oomwatch polls once when it starts (interval 30 s): the
# cgroup files are reported just before it starts and just after the scrape, so that the suite can bracket
# every value the poll can have read.

# Files for each container on the RAM disk, written from the root cgroup and dropped from the cache (once:
# dropping is global), so that reading them from a container charges their page cache to it.
scratch_disk
for n in $CONTAINERS_LIMITED; do
  head -c $((24 << 20)) /dev/urandom >"/mnt/disk/big-$n"
  head -c $((8 << 20)) /dev/urandom >"/mnt/disk/small-$n"
done
sync
echo 3 >/proc/sys/vm/drop_caches

for n in $CONTAINERS_LIMITED; do
  dir=$(cg_make "$(cg_of "$n")")
  cg_limit "$dir" $((64 << 20))
  # Pressure: under a 16 MiB memory.high, reading 24 MiB of file makes the kernel reclaim the cgroup's page
  # cache in the reading task's context; the time it spends there is a memory stall (PSI "some" and "full").
  # A short stall can round down to nothing: read again (its head has been reclaimed by then, so the read
  # faults and reclaims again) until the kernel has counted some. Never drop caches here: that is global.
  echo $((16 << 20)) >"$dir/memory.high"
  tries=0
  while [ "$(awk -F'total=' '/^some/ { print $2 }' "$dir/memory.pressure")" = 0 ]; do
    tries=$((tries + 1))
    [ "$tries" -gt 5 ] && fail "$n: no memory stall after reading 5 times under memory.high"
    run_in "$dir" cat "/mnt/disk/big-$n"
    wait $!
  done
  rm "/mnt/disk/big-$n"
  echo $((48 << 20)) >"$dir/memory.high"
  echo $((8 << 20)) >"$dir/memory.low"
  # Page cache that stays: 8 MiB read once (inactive file).
  run_in "$dir" cat "/mnt/disk/small-$n"
  wait $!
  run_in "$dir" hog 24 "/tmp/ready.$n"
done
for n in $CONTAINERS_UNLIMITED; do
  run_in "$(cg_make "$(cg_of "$n")")" hog 8 "/tmp/ready.$n"
done
for n in $CONTAINERS; do wait_file "/tmp/ready.$n" 120 || fail "the hog in $n never finished allocating"; done

report() { for n in $CONTAINERS; do emit_cgroup "$1/$n" "$CG/$(cg_of "$n")"; done; }
report before
start_oomwatch
scrape scrape
report after
ls -la /tmp/state | emit state-dir
