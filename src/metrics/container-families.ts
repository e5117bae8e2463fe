import { type ContainerEntry, escapeLabelValue } from '../state/containers';
import type { ExpositionWriter, FamilyType } from './exposition';

/**
 * The per-container metric families, one row each: adding a metric is adding a row.
 *
 * Gauges describe the container's cgroup now, so they are exported only while the container is present
 * (a gone container's usage is not its last usage). Counters stay for the series grace period after the
 * container is gone so that their last increments are scraped.
 */
export interface ContainerFamily {
  name: string;
  type: FamilyType;
  help: string;
  value(e: ContainerEntry): number | undefined;
}

const finite = (v: number | undefined): number | undefined =>
  v !== undefined && Number.isFinite(v) ? v : undefined;
const flag = (v: boolean | undefined): number | undefined => (v === undefined ? undefined : v ? 1 : 0);

export const CONTAINER_FAMILIES: readonly ContainerFamily[] = [
  {
    name: 'oomwatch_container_memory_usage_bytes',
    type: 'gauge',
    help: 'Memory charged to the container cgroup, page cache included (v1 memory.usage_in_bytes, v2 memory.current).',
    value: (e) => e.sample?.usage,
  },
  {
    name: 'oomwatch_container_memory_working_set_bytes',
    type: 'gauge',
    help: 'Usage minus inactive file cache, never below 0: what the kernel cannot reclaim without swapping; compared with the limit by the OOM killer and the kubelet.',
    value: (e) => e.sample?.workingSet,
  },
  {
    name: 'oomwatch_container_memory_rss_bytes',
    type: 'gauge',
    help: 'Anonymous memory (v1 total_rss, v2 anon).',
    value: (e) => e.sample?.stat?.rss,
  },
  {
    name: 'oomwatch_container_memory_cache_bytes',
    type: 'gauge',
    help: 'Page cache (v1 total_cache, v2 file).',
    value: (e) => e.sample?.stat?.cache,
  },
  {
    name: 'oomwatch_container_memory_mapped_file_bytes',
    type: 'gauge',
    help: 'Memory-mapped file pages (v1 total_mapped_file, v2 file_mapped).',
    value: (e) => e.sample?.stat?.mappedFile,
  },
  {
    name: 'oomwatch_container_memory_swap_bytes',
    type: 'gauge',
    help: 'Swap used by the container (v1 total_swap, v2 memory.swap.current).',
    value: (e) => e.sample?.swap,
  },
  {
    name: 'oomwatch_container_memory_peak_bytes',
    type: 'gauge',
    help: 'Highest usage since the cgroup was created (v1 memory.max_usage_in_bytes, v2 memory.peak from kernel 5.19).',
    value: (e) => e.sample?.peak,
  },
  {
    name: 'oomwatch_container_memory_limit_bytes',
    type: 'gauge',
    help: 'Memory limit (v1 memory.limit_in_bytes, v2 memory.max); absent when the container has no limit.',
    value: (e) => finite(e.sample?.limit),
  },
  {
    name: 'oomwatch_container_memory_limit_ratio',
    type: 'gauge',
    help: 'Working set divided by the memory limit (0..1, above 1 only transiently); absent when the container has no limit.',
    value: (e) => {
      const limit = finite(e.sample?.limit);
      const ws = e.sample?.workingSet;
      return limit !== undefined && limit > 0 && ws !== undefined ? ws / limit : undefined;
    },
  },
  {
    name: 'oomwatch_container_memory_reservation_bytes',
    type: 'gauge',
    help: 'Memory reservation (v1 memory.soft_limit_in_bytes, v2 memory.low); absent when unset.',
    // v2 memory.low defaults to 0 and v1's soft limit to the unlimited sentinel: both mean "no reservation".
    value: (e) => {
      const r = finite(e.sample?.reservation);
      return r !== undefined && r > 0 ? r : undefined;
    },
  },
  {
    name: 'oomwatch_container_memory_high_bytes',
    type: 'gauge',
    help: 'Throttling threshold (v2 memory.high); absent when unset or on cgroup v1.',
    value: (e) => finite(e.sample?.high),
  },
  {
    name: 'oomwatch_container_memory_swap_limit_bytes',
    type: 'gauge',
    help: 'Limit on swap alone (v2 memory.swap.max; v1 memory.memsw.limit_in_bytes minus the memory limit); 0 means no swap; absent when unlimited.',
    value: (e) => finite(e.sample?.swapLimit),
  },
  {
    name: 'oomwatch_container_memory_unlimited',
    type: 'gauge',
    help: '1 when the container has no memory limit and can use all of the host memory.',
    value: (e) => (e.sample?.limit === undefined ? undefined : Number.isFinite(e.sample.limit) ? 0 : 1),
  },
  {
    name: 'oomwatch_container_memory_under_oom',
    type: 'gauge',
    help: '1 while the cgroup is in an OOM situation (v1 memory.oom_control under_oom; not reported by v2).',
    value: (e) => flag(e.sample?.underOom),
  },
  {
    name: 'oomwatch_container_memory_oom_kill_disabled',
    type: 'gauge',
    help: '1 when the OOM killer is disabled for the cgroup (v1 oom_kill_disable): processes hang at the limit instead of being killed.',
    value: (e) => (e.sample === undefined ? undefined : flag(e.sample.oomKillDisabled ?? false)),
  },
  {
    name: 'oomwatch_container_memory_pressure_some_seconds_total',
    type: 'counter',
    help: 'Time at least one task of the container stalled on memory (PSI memory.pressure "some" total).',
    value: (e) => (e.pressureSomeUs.lastRaw === undefined ? undefined : e.pressureSomeUs.total / 1e6),
  },
  {
    name: 'oomwatch_container_memory_pressure_full_seconds_total',
    type: 'counter',
    help: 'Time all non-idle tasks of the container stalled on memory at once (PSI memory.pressure "full" total).',
    value: (e) => (e.pressureFullUs.lastRaw === undefined ? undefined : e.pressureFullUs.total / 1e6),
  },
  {
    name: 'oomwatch_container_oom_kills_total',
    type: 'counter',
    help: 'Processes of the container killed by the OOM killer, whatever triggered it (limit or system OOM), each kill counted once across the kernel log, cgroup counters and Docker events.',
    value: (e) => e.oomKills,
  },
  {
    name: 'oomwatch_container_cgroup_oom_kills_total',
    type: 'counter',
    help: "The cgroup's own oom_kill counter (v1 memory.oom_control, v2 memory.events), kept monotonic across the cgroup being recreated; lost if the cgroup is removed before a poll.",
    value: (e) => (e.cgroupOomKills.lastRaw === undefined ? undefined : e.cgroupOomKills.total),
  },
  {
    name: 'oomwatch_container_memory_limit_hits_total',
    type: 'counter',
    help: 'Times usage hit the memory limit (v1 memory.failcnt plus memory.memsw.failcnt, v2 memory.events max).',
    value: (e) => (e.limitHits.lastRaw === undefined ? undefined : e.limitHits.total),
  },
  {
    name: 'oomwatch_container_memory_high_events_total',
    type: 'counter',
    help: 'Times usage went over memory.high and the container was throttled (v2 memory.events high).',
    value: (e) => (e.highEvents.lastRaw === undefined ? undefined : e.highEvents.total),
  },
  {
    name: 'oomwatch_container_docker_oom_events_total',
    type: 'counter',
    help: 'Docker "oom" events for the container (OOM situations as Docker reports them; not kills).',
    value: (e) => e.dockerOomEvents,
  },
  {
    name: 'oomwatch_container_containerd_oom_events_total',
    type: 'counter',
    help: 'containerd TaskOOM events for the container (OOM situations as containerd reports them; not kills); present for the containers the containerd source reports.',
    value: (e) => e.containerdOomEvents,
  },
];

const EXITS = 'oomwatch_container_exits_total';
const LAST_VICTIM = 'oomwatch_container_last_oom_kill_info';

/** Each family's sample name as UTF-8, encoded once. */
const FAMILY_NAME_BYTES: readonly Buffer[] = CONTAINER_FAMILIES.map((f) => Buffer.from(f.name, 'utf8'));

/**
 * Each container's label text as UTF-8, encoded once and reused on every scrape until the labels change
 * (the entry renders a new labelText string then, so the string is the cache key).
 */
const encodedLabels = new WeakMap<ContainerEntry, { text: string; bytes: Buffer }>();

function labelBytes(e: ContainerEntry): Buffer {
  const text = e.labelText;
  let cached = encodedLabels.get(e);
  if (cached === undefined || cached.text !== text) {
    cached = { text, bytes: Buffer.from(text, 'utf8') };
    encodedLabels.set(e, cached);
  }
  return cached.bytes;
}

/** Write every per-container family, plus the exits and info families. */
export function writeContainerFamilies(w: ExpositionWriter, entries: readonly ContainerEntry[]): void {
  const labels = entries.map(labelBytes);
  for (let f = 0; f < CONTAINER_FAMILIES.length; f++) {
    const fam = CONTAINER_FAMILIES[f] as ContainerFamily;
    const name = FAMILY_NAME_BYTES[f] as Buffer;
    const gauge = fam.type === 'gauge';
    let header = false;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i] as ContainerEntry;
      if (gauge && !e.present) continue;
      const v = fam.value(e);
      if (v === undefined) continue;
      if (!header) {
        w.family(fam.name, fam.type, fam.help);
        header = true;
      }
      w.encodedSample(name, labels[i] as Buffer, v);
    }
  }

  let header = false;
  for (const e of entries) {
    for (const [key, count] of e.exits) {
      if (!header) {
        w.family(
          EXITS,
          'counter',
          'Container exits by exit code and whether the container was OOM-killed during that run (137 without an OOM kill is a SIGKILL such as docker kill or a stop timeout).',
        );
        header = true;
      }
      const [code, oom] = key.split('|');
      const label = code === '-1' ? 'unknown' : code;
      w.sample(EXITS, `${e.labelText},exit_code="${label}",oom_killed="${oom}"`, count);
    }
  }

  header = false;
  for (const e of entries) {
    const v = e.lastVictim;
    if (v === undefined) continue;
    if (!header) {
      w.family(
        LAST_VICTIM,
        'gauge',
        'Always 1: the process of the container most recently killed by the OOM killer (from the kernel log), one series per container, replaced on the next kill; the full history is at /api/v1/oom-events.',
      );
      header = true;
    }
    w.sample(
      LAST_VICTIM,
      `${e.labelText},victim_comm="${escapeLabelValue(v.comm)}",victim_pid="${v.pid}",scope="${v.scope}"`,
      1,
    );
  }

  header = false;
  for (const e of entries) {
    if (!e.present) continue;
    if (!header) {
      w.family(
        'oomwatch_container_info',
        'gauge',
        'Always 1: one series per container with its runtime, pod UID and the allow-listed container labels (label_<name>).',
      );
      header = true;
    }
    w.sample('oomwatch_container_info', e.infoLabelText, 1);
  }
}
