# Capture (npm run fixtures:v2): v2 container cgroups in the three layouts, in the states the fixture tests
# need, then every cgroup file oomwatch reads, for every directory of those trees, and the kernel log.
#   $RUNNING     Docker systemd: 64 MiB limit, memory.high, memory.low, file cache, 24 MiB held, pressure
#   $UNLIMITED   Docker systemd: no limit, 8 MiB held
#   $OOMED       Docker cgroupfs: 32 MiB limit, one process OOM-killed, the main process still there
#   $GROUP       Kubernetes systemd: 32 MiB limit, memory.oom.group = 1, all three processes killed at once
#   $PODLIMITED  Kubernetes systemd, same pod as $GROUP: no limit of its own, 16 MiB held; the pod's slice
#                has a 96 MiB limit

scratch_disk
head -c $((24 << 20)) /dev/urandom >/mnt/disk/big
head -c $((8 << 20)) /dev/urandom >/mnt/disk/small
sync
echo 3 >/proc/sys/vm/drop_caches

dir=$(cg_make "$(cg_of "$RUNNING")")
cg_limit "$dir" $((64 << 20))
echo $((16 << 20)) >"$dir/memory.high"
tries=0
while [ "$(awk -F'total=' '/^some/ { print $2 }' "$dir/memory.pressure")" = 0 ] && [ "$tries" -lt 5 ]; do
  tries=$((tries + 1))
  run_in "$dir" cat /mnt/disk/big
  wait $!
done
echo $((48 << 20)) >"$dir/memory.high"
echo $((8 << 20)) >"$dir/memory.low"
run_in "$dir" cat /mnt/disk/small
wait $!
run_in "$dir" hog 24 /tmp/ready.running

run_in "$(cg_make "$(cg_of "$UNLIMITED")")" hog 8 /tmp/ready.unlimited

dir=$(cg_make "$(cg_of "$OOMED")")
cg_limit "$dir" $((32 << 20))
run_in "$dir" sleep 100000
run_in "$dir" hog 100
wait $! || true

dir=$(cg_make "$(cg_of "$GROUP")")
cg_limit "$(dirname "$dir")" $((96 << 20))
cg_limit "$dir" $((32 << 20))
echo 1 >"$dir/memory.oom.group"
run_in "$dir" sleep 100000
run_in "$dir" sleep 100000
run_in "$dir" hog 100
wait $! || true
cg_wait_empty "$dir" 20 || fail "processes left after the group kill"

run_in "$(cg_make "$(cg_of "$PODLIMITED")")" hog 16 /tmp/ready.podlimited
for n in running unlimited podlimited; do wait_file "/tmp/ready.$n" 120 || fail "the hog of $n never finished allocating"; done

emit_tree tree system.slice docker kubepods.slice
emit_kmsg kmsg
emit_value kernel "$(uname -r)"
