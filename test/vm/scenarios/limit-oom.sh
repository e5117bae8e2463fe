# A limit OOM in each container of $CONTAINERS: a 32 MiB limit, an idle main process, and a second process
# that allocates 100 MiB and is OOM-killed (the container lives on). For the containers in $POD_LIMITED the
# limit is on the pod's cgroup instead (a Kubernetes pod-level limit): the OOM is the pod's, the kill the
# container's. oomwatch polls every 10 minutes: a kill
# can only reach /metrics before the next poll through the memory.events watch or the kernel log. The suite
# checks that from oomwatch_polls_total in the scrapes before and after each kill.

for n in $CONTAINERS; do
  dir=$(cg_make "$(cg_of "$n")")
  case " $POD_LIMITED " in
    *" $n "*) cg_limit "$(dirname "$dir")" $((32 << 20)) ;;
    *) cg_limit "$dir" $((32 << 20)) ;;
  esac
  run_in "$dir" sleep 100000
done
start_oomwatch --interval 10m

for n in $CONTAINERS; do
  dir=$CG/$(cg_of "$n")
  series=$(cseries oomwatch_container_oom_kills_total "$n")
  scrape "before/$n"
  before=$(metric "$series")
  run_in "$dir" hog 100
  victim=$!
  emit_value "victim/$n" "$victim"
  wait "$victim" || true
  killed=$(now_ms)
  # Reported: how long after the victim's death the increment was on /metrics ("" if it never came); then
  # how long until the cgroup's own counter, re-read when memory.events changes, showed it too.
  wait_metric "$series" $((${before:-0} + 1)) 20 && emit_value "seen_ms/$n" $(($(now_ms) - killed))
  wait_metric "$(cseries oomwatch_container_cgroup_oom_kills_total "$n")" 1 10 &&
    emit_value "cgroup_seen_ms/$n" $(($(now_ms) - killed))
  emit_file "after/$n" /tmp/scrape.txt
  emit_cgroup "cgroup/$n" "$dir"
  emit_cgroup "parent/$n" "$(dirname "$dir")"
done
emit_api events /api/v1/oom-events
emit_kmsg kmsg
