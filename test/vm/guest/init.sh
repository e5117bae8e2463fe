#!/bin/busybox sh
# /init of the oomwatch test VM (PID 1). Mounts the kernel filesystems and a cgroup v2 hierarchy with the
# memory controller, runs /vm/scenario.sh, and reports everything over the second serial port (ttyS1, a file
# on the host), between markers the harness parses (see lib.sh). The first serial port is the console.
/bin/busybox mkdir -p /bin /proc /sys /dev /tmp /run /mnt
/bin/busybox --install -s /bin
export PATH=/usr/local/bin:/bin HOME=/root TMPDIR=/tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
# cgroup_no_v1=all on the kernel command line: the memory controller is free for the v2 hierarchy.
mount -t cgroup2 cgroup2 /sys/fs/cgroup
echo +memory >/sys/fs/cgroup/cgroup.subtree_control
ip link set lo up
# Raw mode: no "\n" -> "\r\n" translation or echo on the report channel.
stty -F /dev/ttyS1 raw -echo

. /vm/lib.sh
vm_open_report
vm_marker UP "$(cut -d' ' -f1 /proc/uptime)"
[ -f /vm/env.sh ] && . /vm/env.sh
note "kernel $(uname -r), $(grep MemTotal /proc/meminfo | tr -s ' '), running scenario $VM_SCENARIO"

# The scenario runs in a child shell with -e: a failing setup step ends it with a non-zero code.
sh -e -c '. /vm/lib.sh; vm_open_report; [ -f /vm/env.sh ] && . /vm/env.sh; cd /vm; . /vm/scenario.sh'
code=$?
note "scenario exited with $code"
stop_oomwatch
[ -f /tmp/oomwatch.log ] && emit_file oomwatch.log /tmp/oomwatch.log
vm_marker EXIT "$code"
sync
poweroff -f
