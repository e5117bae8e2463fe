/**
 * What the VM kernel wrote about OOM kills, read from a /dev/kmsg dump (emit_kmsg) independently of
 * oomwatch's own kernel-log parser, so the suites compare oomwatch with the kernel and not with itself.
 *
 * /dev/kmsg gives one record per read: "prio,seq,usec,flags;message", then continuation lines of
 * " KEY=value" (Documentation/ABI/testing/dev-kmsg). The OOM lines are printed by mm/oom_kill.c:
 *   dump_oom_summary():  "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,
 *                         oom_memcg=/docker/<id>,task_memcg=/docker/<id>,task=awk,pid=212,uid=0"
 *   __oom_kill_process(): "Memory cgroup out of memory: Killed process 212 (awk) total-vm:105620kB,
 *                         anon-rss:31828kB, file-rss:4kB, shmem-rss:0kB, UID:0 pgtables:108kB oom_score_adj:0"
 *   mem_cgroup_print_oom_group(): "Tasks in /docker/<id> are going to be killed due to memory.oom.group set"
 */
export interface KmsgRecord {
  prio: number;
  seq: number;
  usec: number;
  message: string;
}

export function parseKmsgDump(text: string): KmsgRecord[] {
  const records: KmsgRecord[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\d+),(\d+),(\d+),[^;]*;(.*)$/.exec(line);
    if (m)
      records.push({ prio: Number(m[1]), seq: Number(m[2]), usec: Number(m[3]), message: m[4] as string });
  }
  return records;
}

export interface KilledProcess {
  seq: number;
  /** "Memory cgroup out of memory" or "Out of memory". */
  reason: string;
  pid: number;
  comm: string;
  totalVmBytes: number;
  anonRssBytes: number;
  fileRssBytes: number;
  shmemRssBytes: number;
}

export function killedProcesses(records: readonly KmsgRecord[]): KilledProcess[] {
  const out: KilledProcess[] = [];
  for (const r of records) {
    const m =
      /^(.*): Killed process (\d+) \((.*)\) total-vm:(\d+)kB, anon-rss:(\d+)kB, file-rss:(\d+)kB, shmem-rss:(\d+)kB/.exec(
        r.message,
      );
    if (!m) continue;
    out.push({
      seq: r.seq,
      reason: m[1] as string,
      pid: Number(m[2]),
      comm: m[3] as string,
      totalVmBytes: Number(m[4]) * 1024,
      anonRssBytes: Number(m[5]) * 1024,
      fileRssBytes: Number(m[6]) * 1024,
      shmemRssBytes: Number(m[7]) * 1024,
    });
  }
  return out;
}

/** The fields of every "oom-kill:" summary line. */
export function oomKillSummaries(
  records: readonly KmsgRecord[],
): Array<Record<string, string> & { seq: string }> {
  const out: Array<Record<string, string> & { seq: string }> = [];
  for (const r of records) {
    if (!r.message.startsWith('oom-kill:')) continue;
    const fields: Record<string, string> & { seq: string } = { seq: String(r.seq) };
    // nodemask=(null) and cpuset=/ hold no commas; split on the commas between key=value pairs.
    for (const part of r.message.slice('oom-kill:'.length).split(',')) {
      const eq = part.indexOf('=');
      if (eq > 0) fields[part.slice(0, eq)] = part.slice(eq + 1);
      else fields[part] = '';
    }
    out.push(fields);
  }
  return out;
}

/** The records of one OOM event: from its "invoked oom-killer" line to the last record before the next one. */
export function oomReports(records: readonly KmsgRecord[]): KmsgRecord[][] {
  const reports: KmsgRecord[][] = [];
  let current: KmsgRecord[] | undefined;
  for (const r of records) {
    if (/ invoked oom-killer: /.test(r.message)) {
      current = [];
      reports.push(current);
    }
    if (current) current.push(r);
  }
  // Each report ends with its last Killed process / oom_reaper line; drop what follows (unrelated records).
  return reports.map((rep) => {
    let last = rep.length - 1;
    while (
      last > 0 &&
      !/Killed process|oom_reaper|OOM victim|memory\.oom\.group/.test((rep[last] as KmsgRecord).message)
    )
      last--;
    return rep.slice(0, last + 1);
  });
}
