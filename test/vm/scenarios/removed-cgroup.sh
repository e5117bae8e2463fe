# A container cgroup removed right after its OOM kill, as a runtime does for `docker run --rm`: the container
# named by $POLLED exists when oomwatch starts (its first poll sees it), the one named by $UNPOLLED is created
# after that poll and removed before the next (oomwatch polls every 10 minutes): no poll ever reads its files.
# Each has a 32 MiB limit, an idle main process and one that allocates 100 MiB; once that one is killed, the
# rest is killed and the cgroup removed.

oom_then_remove() { # oom_then_remove NAME
  dir=$CG/$(cg_of "$1")
  run_in "$dir" hog 100
  victim=$!
  emit_value "victim/$1" "$victim"
  wait "$victim" || true
  killed=$(now_ms)
  cp "$dir/memory.events" "/tmp/memory.events.$1"
  cg_remove "$dir"
  emit_value "removed_after_ms/$1" $(($(now_ms) - killed))
  emit_file "memory.events/$1" "/tmp/memory.events.$1"
  wait_metric "$(cseries oomwatch_container_oom_kills_total "$1")" 1 20 && emit_value "seen_ms/$1" $(($(now_ms) - killed))
  emit_file "after/$1" /tmp/scrape.txt
}

make_container() { # make_container NAME
  dir=$(cg_make "$(cg_of "$1")")
  cg_limit "$dir" $((32 << 20))
  run_in "$dir" sleep 100000
}

make_container "$POLLED"
start_oomwatch --interval 10m
scrape before
oom_then_remove "$POLLED"

make_container "$UNPOLLED"
oom_then_remove "$UNPOLLED"

# Counted once: nothing adds to the counts a little later (a second source confirming the same kill).
sleep 5
scrape settled
emit_api events /api/v1/oom-events
emit_kmsg kmsg
