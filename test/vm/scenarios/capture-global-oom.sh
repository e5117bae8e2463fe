# Capture (npm run fixtures:v2), second boot with little memory: a global OOM whose victim is in the Docker
# systemd container $VICTIM (no limit anywhere; it allocates 400 MiB). Then the cgroup files of that tree and
# the kernel log.

dir=$(cg_make "$(cg_of "$VICTIM")")
run_in "$dir" sleep 100000
available=$(awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo)
[ "$available" -lt 350 ] || fail "MemAvailable is $available MB: 400 MB would not exhaust this VM's memory; boot it with less"
run_in "$dir" hog 400
wait $! || true
emit_tree tree system.slice
emit_kmsg kmsg
emit_value kernel "$(uname -r)"
