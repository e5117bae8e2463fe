# The memory.events watch alone: oomwatch without the kernel log (--kmsg none) and a 10-minute poll, so a
# kill can reach /metrics before the next poll only through the watch. $KILLS processes of the container in
# $CONTAINERS are OOM-killed one after the other; after each, the suite wants the count on /metrics.

n=$CONTAINERS
dir=$(cg_make "$(cg_of "$n")")
cg_limit "$dir" $((32 << 20))
run_in "$dir" sleep 100000
start_oomwatch --interval 10m --kmsg none
series=$(cseries oomwatch_container_oom_kills_total "$n")
scrape before
i=0
while [ "$i" -lt "$KILLS" ]; do
  i=$((i + 1))
  run_in "$dir" hog 100
  wait $! || true
  killed=$(now_ms)
  wait_metric "$series" "$i" 10 && emit_value "seen_ms/$i" $(($(now_ms) - killed))
  emit_file "after/$i" /tmp/scrape.txt
  emit_value "kernel/$i" "$(cg_event "$dir" oom_kill)"
done
