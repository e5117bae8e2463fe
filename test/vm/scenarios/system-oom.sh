# A system OOM whose victim sits in a container: no memory limit anywhere, a VM with little memory free, and a
# process in the container of $CONTAINERS that allocates 400 MiB. The kernel's global OOM killer picks it (the
# biggest process; oomwatch itself runs with oom_score_adj -1000). oomwatch polls every 10 minutes.

n=$CONTAINERS
dir=$(cg_make "$(cg_of "$n")")
run_in "$dir" sleep 100000
start_oomwatch --interval 10m
available=$(awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo)
emit_value available_mb "$available"
[ "$available" -lt 350 ] || fail "MemAvailable is $available MB: 400 MB would not exhaust this VM's memory; boot it with less"

system='oomwatch_oom_kills_total\{scope="system"\}'
scrape before
before=$(metric "$system")
run_in "$dir" hog 400
victim=$!
emit_value victim "$victim"
wait "$victim" || true
killed=$(now_ms)
wait_metric "$system" $((${before:-0} + 1)) 30 && emit_value seen_ms $(($(now_ms) - killed))
emit_file after /tmp/scrape.txt
emit_cgroup cgroup "$dir"
emit_api events /api/v1/oom-events
emit_kmsg kmsg
