# memory.oom.group: the container in $CONTAINERS has a 32 MiB limit, memory.oom.group = 1 and three
# processes, two idle and one allocating 100 MiB: the kernel kills all three in one OOM event. oomwatch polls
# every 10 minutes, so the kills reach /metrics through the memory.events watch or the kernel log.

n=$CONTAINERS
dir=$(cg_make "$(cg_of "$n")")
cg_limit "$dir" $((32 << 20))
echo 1 >"$dir/memory.oom.group"
run_in "$dir" sleep 100000
idle1=$!
run_in "$dir" sleep 100000
idle2=$!
start_oomwatch --interval 10m

series=$(cseries oomwatch_container_oom_kills_total "$n")
scrape before
run_in "$dir" hog 100
hog=$!
emit_value pids "$idle1 $idle2 $hog"
wait "$hog" || true
killed=$(now_ms)
cg_wait_empty "$dir" 20 || fail "processes left in the group after its OOM kill: $(cg_procs "$dir")"
wait_metric "$series" 3 20 && emit_value seen_ms $(($(now_ms) - killed))
emit_file after /tmp/scrape.txt
# A count that goes on past 3 (one process counted twice) shows a little later.
sleep 3
scrape settled
emit_cgroup cgroup "$dir"
emit_api events /api/v1/oom-events
emit_kmsg kmsg
