# Does inotify report changes of a cgroup v2 memory.events file? inotify-probe.mjs watches the memory.events
# of the container in $CONTAINERS (fs.watch on the file and on its directory, chokidar 5 with its default
# options); then $KILLS processes are OOM-killed there one after the other, a few seconds apart.

n=$CONTAINERS
dir=$(cg_make "$(cg_of "$n")")
cg_limit "$dir" $((32 << 20))
run_in "$dir" sleep 100000
node /vm/inotify-probe.mjs "$dir/memory.events" /tmp/probe.ready /tmp/probe.stop >/tmp/probe.json &
probe=$!
wait_file /tmp/probe.ready 120 || fail "the inotify probe did not start"
i=0
while [ "$i" -lt "$KILLS" ]; do
  i=$((i + 1))
  run_in "$dir" hog 100
  wait $! || true
  note "kill $i: memory.events oom_kill $(cg_event "$dir" oom_kill)"
  sleep 3
done
touch /tmp/probe.stop
wait "$probe"
emit_file probe /tmp/probe.json
emit_cgroup cgroup "$dir"
