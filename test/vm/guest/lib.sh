# Helpers for scenario scripts in the oomwatch test VM (busybox sh). Sourced by /init and by every scenario.
#
# Report channel: fd 3 is the second serial port (ttyS1). Each result is base64 between two marker lines
#   @@OOMWATCH-VM BEGIN <name>@@ ... @@OOMWATCH-VM END <name>@@
# and test/vm/vm.ts turns them back into bytes for the jest suite. The console (ttyS0) only carries notes.

CG=/sys/fs/cgroup
OOMWATCH_URL=http://127.0.0.1:9797

vm_open_report() { exec 3>/dev/ttyS1; }
vm_marker() { printf '@@OOMWATCH-VM %s %s@@\n' "$1" "$2" >&3; }

# emit NAME: report stdin under NAME.   emit_file NAME FILE: report a file.   emit_value NAME VALUE
emit() {
  {
    printf '@@OOMWATCH-VM BEGIN %s@@\n' "$1"
    base64
    printf '@@OOMWATCH-VM END %s@@\n' "$1"
  } >&3
}
emit_file() { emit "$1" <"$2"; }
emit_value() { printf '%s' "$2" | emit "$1"; }

note() { echo "vm: $*"; }
fail() {
  note "FAILED: $*"
  exit 1
}

# Seconds since boot with hundredths, e.g. 12.34 (busybox has no sub-second date).
now() { cut -d' ' -f1 /proc/uptime; }
# Milliseconds since boot.
now_ms() { now | awk '{ printf "%d", $1 * 1000 }'; }

# ---------------------------------------------------------------------------------------------------------
# cgroups. Paths are relative to $CG; the container layouts are those Docker and Kubernetes create, with ids
# chosen by the test.

# cg_make REL: create REL (every missing level) and enable the memory controller on each level above it.
# Prints the absolute path.
cg_make() {
  cur=$CG
  for part in $(echo "$1" | tr '/' ' '); do
    grep -qw memory "$cur/cgroup.subtree_control" || echo +memory >"$cur/cgroup.subtree_control"
    cur=$cur/$part
    [ -d "$cur" ] || mkdir "$cur"
  done
  echo "$cur"
}

# The containers the suite chose (test/vm/containers.ts): $CONTAINERS lists their names; id_of NAME is the
# 64-hex id, cg_of NAME the cgroup path relative to $CG (Docker systemd, Docker cgroupfs or Kubernetes systemd
# layout), short_id ID the 12-hex id oomwatch's series carry.
id_of() { eval "echo \"\$ID_$1\""; }
cg_of() { eval "echo \"\$CG_$1\""; }
short_id() { echo "$1" | cut -c1-12; }

# cg_limit DIR BYTES: memory.max, and no swap, so that a process past the limit is killed, not swapped.
cg_limit() {
  echo "$2" >"$1/memory.max"
  echo 0 >"$1/memory.swap.max"
}

# run_in DIR CMD...: start CMD in the background inside cgroup DIR (it moves itself in before exec'ing, so
# every page it touches is charged there). Its output goes to /dev/null, its errors to the console. $! is
# its pid.
run_in() {
  dir=$1
  shift
  sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$dir" "$@" >/dev/null &
}

# cg_procs DIR: the pids in a cgroup, one a line.
cg_procs() { cat "$1/cgroup.procs"; }

# cg_wait_empty DIR SECONDS: wait until no process is left in DIR (after a kill).
cg_wait_empty() {
  i=0
  while [ -n "$(cat "$1/cgroup.procs" 2>/dev/null)" ]; do
    i=$((i + 1))
    [ "$i" -gt $(($2 * 10)) ] && return 1
    sleep 0.1
  done
  return 0
}

# cg_remove DIR: kill what is left and remove the cgroup (as a container runtime does after the exit).
cg_remove() {
  for p in $(cat "$1/cgroup.procs" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
  cg_wait_empty "$1" 10 || true
  rmdir "$1"
}

# emit_tree NAME TOP...: the cgroup files of the root and of every directory under $CG/TOP, as
# NAME/<path relative to $CG>/<file> (the root's as NAME/<file>).
emit_tree() {
  name=$1
  shift
  for f in cgroup.controllers cgroup.subtree_control memory.stat memory.pressure; do
    emit_file "$name/$f" "$CG/$f"
  done
  for top in "$@"; do
    for d in $(find "$CG/$top" -type d); do
      rel=${d#"$CG"/}
      for f in $CGROUP_FILES; do [ -f "$d/$f" ] && emit_file "$name/$rel/$f" "$d/$f"; done
    done
  done
  return 0
}
CGROUP_FILES='cgroup.controllers cgroup.subtree_control memory.current memory.min memory.low memory.high memory.max
  memory.peak memory.swap.current memory.swap.max memory.swap.peak memory.stat memory.events memory.events.local
  memory.pressure memory.oom.group'

# cg_event DIR KEY: one counter of DIR/memory.events (e.g. oom_kill).
cg_event() { awk -v k="$2" '$1 == k { print $2 }' "$1/memory.events"; }

# emit_cgroup NAME DIR: report the memory.* files oomwatch reads (and a few more) as NAME/<file>.
emit_cgroup() {
  for f in memory.current memory.max memory.low memory.high memory.min memory.swap.current memory.swap.max \
    memory.peak memory.swap.peak memory.stat memory.events memory.events.local memory.pressure memory.oom.group \
    cgroup.procs; do
    [ -f "$2/$f" ] && emit_file "$1/$f" "$2/$f"
  done
  return 0
}

# ---------------------------------------------------------------------------------------------------------
# Workloads (scripts in /vm/bin, on PATH): `hog MB [READY_FILE]` allocates MB megabytes of anonymous memory
# in one process (awk), creates READY_FILE, and holds the memory until killed; `sleep N` is the idle process.

# wait_file FILE SECONDS: wait until FILE exists; returns 1 on timeout.
wait_file() {
  i=0
  until [ -e "$1" ]; do
    i=$((i + 1))
    [ "$i" -gt $(($2 * 10)) ] && return 1
    sleep 0.1
  done
  return 0
}

# ---------------------------------------------------------------------------------------------------------
# Page cache. The root filesystem is tmpfs, whose pages are shmem (anon LRU): a real file cache needs a block
# device. scratch_disk mounts an ext2 file system on a RAM disk (brd) at /mnt/disk.
scratch_disk() {
  [ -d /mnt/disk/lost+found ] && return 0
  for m in $(cat /etc/vm-modules); do insmod "/lib/modules/$(uname -r)/$m" $([ "${m##*/}" = brd.ko ] && echo rd_nr=1 rd_size=131072); done
  mke2fs -q /dev/ram0 >/dev/null
  mkdir -p /mnt/disk
  mount -t ext2 /dev/ram0 /mnt/disk
}

# ---------------------------------------------------------------------------------------------------------
# The daemon under test.

# start_oomwatch [FLAGS...]: the real oomwatch on this VM's cgroup v2 tree, /proc and /dev/kmsg, Docker off;
# later flags override the defaults. Waits for /readyz (the first poll done).
start_oomwatch() {
  mkdir -p /tmp/state
  node /opt/oomwatch/dist/cli.js serve --listen 127.0.0.1:9797 --cgroup-root $CG --proc-root /proc \
    --docker-socket none --kmsg /dev/kmsg --state-dir /tmp/state --interval 30s --log-level debug "$@" \
    >>/tmp/oomwatch.log 2>&1 &
  OOMWATCH_PID=$!
  echo "$OOMWATCH_PID" >/tmp/oomwatch.pid
  # The VM has one observer: never let a system OOM choose it (the workloads are the biggest processes anyway).
  echo -1000 >"/proc/$OOMWATCH_PID/oom_score_adj"
  started=$(now)
  i=0
  until wget -q -O /dev/null "$OOMWATCH_URL/readyz" 2>/dev/null; do
    kill -0 "$OOMWATCH_PID" 2>/dev/null || fail "oomwatch exited before it was ready: $(tail -20 /tmp/oomwatch.log)"
    i=$((i + 1))
    [ "$i" -gt 600 ] && fail "oomwatch not ready after 60 s: $(tail -20 /tmp/oomwatch.log)"
    sleep 0.1
  done
  note "oomwatch ready in $(awk -v a="$started" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }') s"
}

stop_oomwatch() {
  [ -f /tmp/oomwatch.pid ] || return 0
  pid=$(cat /tmp/oomwatch.pid)
  rm -f /tmp/oomwatch.pid
  kill -TERM "$pid" 2>/dev/null || return 0
  i=0
  while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 100 ]; do
    sleep 0.1
    i=$((i + 1))
  done
}

# get PATH FILE: GET from oomwatch into FILE.
get() { wget -q -O "$2" "$OOMWATCH_URL$1"; }

# scrape NAME: GET /metrics, report it as NAME; the text stays in /tmp/scrape.txt.
scrape() {
  get /metrics /tmp/scrape.txt || fail "GET /metrics failed"
  emit_file "$1" /tmp/scrape.txt
}

# metric SERIES: the value of one series in the last scrape, "" when absent. SERIES is an extended regular
# expression matched at the start of exposition lines, e.g. 'oomwatch_oom_kills_total\{scope="system"\}' or
# "$(cseries oomwatch_container_oom_kills_total NAME)".
metric() { grep -E "^$1" /tmp/scrape.txt | awk '{ print $NF }' | head -1; }

# cseries FAMILY NAME: the SERIES of a per-container family for container NAME (by its id label).
cseries() { printf '%s\\{(.*,)?id="%s"[,}]' "$1" "$(short_id "$(id_of "$2")")"; }

# wait_metric SERIES VALUE SECONDS: scrape until SERIES equals VALUE (numerically); returns 1 on timeout.
wait_metric() {
  deadline=$(awk -v t="$(now)" -v s="$3" 'BEGIN { print t + s }')
  while :; do
    get /metrics /tmp/scrape.txt || true
    v=$(metric "$1")
    [ -n "$v" ] && awk -v a="$v" -v b="$2" 'BEGIN { exit !(a == b) }' && return 0
    awk -v t="$(now)" -v d="$deadline" 'BEGIN { exit !(t > d) }' && return 1
    sleep 0.1
  done
}

# emit_api NAME PATH: GET a JSON endpoint of oomwatch and report it.
emit_api() {
  get "$2" /tmp/api.json || fail "GET $2 failed"
  emit_file "$1" /tmp/api.json
}

# emit_kmsg NAME: every record still in the kernel log buffer, as /dev/kmsg gives them
# ("prio,seq,usec,flags;message" and continuation lines). cat blocks at the end of the buffer: stop it.
emit_kmsg() {
  timeout -s KILL 1 cat /dev/kmsg >/tmp/kmsg.txt 2>/dev/null || true
  emit_file "$1" /tmp/kmsg.txt
}
