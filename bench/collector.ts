import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  type BenchTree,
  type TreeLayout,
  REPO,
  cpuTimes,
  readCalls,
  createV1Tree,
  createV2Tree,
  get,
  memoryOf,
  openFds,
  percentile,
  removeStaleBenchCgroups,
  requireRoot,
  runCleanups,
  sampleValue,
  scratch,
  seriesCount,
  sleep,
  softFdLimit,
  startDaemon,
  startScript,
  until,
} from './lib';

/**
 * `npm run bench`: what oomwatch costs on a host of N containers, next to the physical floor of reading their
 * container files.
 *
 * Default (--mode daemon): the daemon as `npm start` and the image run it — the node flags of the start script
 * and the environment it sets (GLIBC_TUNABLES),
 * every source this host has (the kernel log, /proc/vmstat, the state database with its peak history; the Docker
 * source off, since the tree's containers are not Docker's) — at the default poll interval (2 s) and at 1 s.
 * --mode collector measures the cgroup poller alone (kernel log off) at 100 ms, as a narrower figure.
 *
 * For each tree (real v1 cgroups in the Kubernetes or Docker cgroupfs layout, or generated v2 files) and each
 * N it starts the built oomwatch on a tree of exactly N containers and measures, from outside the process:
 *   - CPU per poll: utime+stime of the whole process (every thread: /proc/PID/stat) over a window, divided by
 *     the growth of oomwatch_polls_total in that window (so timers, GC, the kernel-log reads and the state
 *     database are charged to polls, as a user's top shows them);
 *   - wall time per poll: growth of oomwatch_poll_duration_seconds_sum / _count over the same window;
 *   - resident memory (VmRSS): the median over that window, and the high-water mark (VmHWM);
 *   - /metrics: p50 and p99 over sequential scrapes from this process (a separate client), and the size, on a
 *     start at the default interval, as Prometheus would see it;
 *   - reads per poll: growth of the process's read system calls (/proc/PID/io syscr) per poll; oomwatch reads
 *     the settings files every 30 s and a limit-hit counter with them while its limit is unlimited, so it
 *     reads fewer files per poll than the tree has;
 *   - the floor: bench/floor.c reading every file of the tree each cycle (descriptors kept open, pread at
 *     offset 0), CPU from getrusage over as many cycles as oomwatch polled, median of three runs, in the
 *     same run.
 * Nothing is asserted: it prints. Flags: --mode daemon|collector --sizes 100,1000 --trees v1,v2
 * --layout kubernetes|docker --intervals 2s,1s --window SECONDS --scrapes N --node-arg FLAG (repeatable; passed
 * to node after the flags of `npm start`) --bare-node (without the flags and environment of `npm start`; before any --node-arg).
 */

type Mode = 'daemon' | 'collector';

interface Options {
  mode: Mode;
  sizes: number[];
  trees: Array<'v1' | 'v2'>;
  layout: TreeLayout;
  intervals: string[];
  windowS: number;
  scrapes: number;
  nodeArgs: string[];
  /** The environment npm start gives node (GLIBC_TUNABLES). */
  env: Record<string, string>;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    mode: 'daemon',
    sizes: [100, 1000],
    trees: ['v1', 'v2'],
    layout: 'kubernetes',
    intervals: [],
    windowS: 0,
    scrapes: 200,
    nodeArgs: startScript().nodeFlags,
    env: startScript().env,
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = (argv[i] as string).split(/=(.*)/s, 2) as [string, string | undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--mode':
        o.mode = value() as Mode;
        if (o.mode !== 'daemon' && o.mode !== 'collector') throw new Error('--mode is daemon or collector');
        break;
      case '--sizes':
        o.sizes = value().split(',').map(Number);
        break;
      case '--trees':
        o.trees = value().split(',') as Options['trees'];
        break;
      case '--layout':
        o.layout = value() as TreeLayout;
        break;
      case '--intervals':
      case '--interval':
        o.intervals = value().split(',');
        break;
      case '--window':
        o.windowS = Number(value());
        break;
      case '--scrapes':
        o.scrapes = Number(value());
        break;
      case '--node-arg':
        o.nodeArgs.push(value());
        break;
      case '--bare-node':
        o.nodeArgs = [];
        o.env = {};
        break;
      default:
        throw new Error(`unknown flag ${flag}; see the comment at the top of bench/collector.ts`);
    }
  }
  if (o.intervals.length === 0) o.intervals = o.mode === 'daemon' ? ['2s', '1s'] : ['100ms'];
  if (o.windowS === 0) o.windowS = o.mode === 'daemon' ? 60 : 10;
  return o;
}

interface Floor {
  files: number;
  kept_open: number;
  cycles: number;
  cpu_us_per_cycle: number;
  sys_us_per_cycle: number;
  wall_us_per_cycle: number;
}

function buildFloor(): string {
  const bin = path.join(scratch(), 'floor');
  execFileSync('gcc', ['-O2', '-Wall', '-o', bin, path.join(REPO, 'bench', 'floor.c')], { stdio: 'inherit' });
  return bin;
}

function runFloor(bin: string, files: string[], cycles: number): Floor {
  const list = path.join(scratch(), 'floor-files.txt');
  fs.writeFileSync(list, files.join('\n') + '\n');
  const runs: Floor[] = [];
  for (let i = 0; i < 3; i++) {
    runs.push(JSON.parse(execFileSync(bin, [list, String(cycles)], { encoding: 'utf8' })) as Floor);
  }
  runs.sort((a, b) => a.cpu_us_per_cycle - b.cpu_us_per_cycle);
  return runs[1] as Floor;
}

interface Row {
  tree: string;
  n: number;
  interval: string;
  fdLimit: number;
  filesPerCycle: number;
  keptOpen: number;
  polls: number;
  cpuMsPerPoll: number;
  /** Of which in the kernel. */
  sysMsPerPoll: number;
  /** Read system calls per poll (every file, socket and pipe): how many files oomwatch actually read. */
  readsPerPoll: number;
  wallMsPerPoll: number;
  floorCpuMs: number;
  floorSysMs: number;
  floorWallMs: number;
  /** Descriptors the floor kept open (fewer than its files when the limit does not allow them all). */
  floorKept: number;
  scrapeP50: number;
  scrapeP99: number;
  scrapeKb: number;
  series: number;
  rssWarm: number;
  rssAfter: number;
  hwm: number;
  /** Median resident memory over the CPU window, and of it the anonymous part (RssAnon). */
  rssPolling: number;
  anonPolling: number;
  pollErrors: number;
}

type Started = Awaited<ReturnType<typeof startDaemon>>;

/** Start oomwatch on the tree and wait until it has seen every container and polled `warmPolls` more times. */
async function startWarm(
  tree: BenchTree,
  o: Options,
  interval: string,
  fdLimit: number | undefined,
  warmPolls: number,
): Promise<Started> {
  const n = tree.containers.length;
  const daemon = await startDaemon({
    cgroupRoot: tree.root,
    interval,
    nodeArgs: o.nodeArgs,
    env: o.env,
    sources: o.mode,
    ...(fdLimit === undefined ? {} : { fdLimit }),
  });
  const metrics = async (): Promise<string> => (await get(daemon.port, '/metrics')).body;
  await until('/readyz', 120_000, async () =>
    (await get(daemon.port, '/readyz')).status === 200 ? true : undefined,
  );
  await until(`oomwatch to see ${n} containers`, 120_000, async () =>
    sampleValue(await metrics(), 'oomwatch_containers{state="present"}') === n ? true : undefined,
  );
  // Warm-up: every descriptor open, the JIT has seen the hot paths.
  const from = sampleValue(await metrics(), 'oomwatch_polls_total') ?? 0;
  await until('warm-up polls', 120_000, async () =>
    (sampleValue(await metrics(), 'oomwatch_polls_total') ?? 0) >= from + warmPolls ? true : undefined,
  );
  return daemon;
}

/**
 * Phase 1, CPU per poll: a short interval so that a window holds many polls. No scrape inside the window
 * (a scrape at N=1000 costs more CPU than a poll): sleep, then look; the boundary scrapes are outside it.
 */
async function measurePolls(tree: BenchTree, o: Options, interval: string, fdLimit: number | undefined) {
  const daemon = await startWarm(tree, o, interval, fdLimit, o.mode === 'daemon' ? 5 : 10);
  try {
    const metrics = async (): Promise<string> => (await get(daemon.port, '/metrics')).body;
    const m0 = await metrics();
    const cpu0 = cpuTimes(daemon.pid);
    const reads0 = readCalls(daemon.pid);
    const t0 = Date.now();
    const p0 = sampleValue(m0, 'oomwatch_polls_total') as number;
    let cpu1 = cpu0;
    let reads1 = reads0;
    let m1 = m0;
    const rss: number[] = [];
    const anon: number[] = [];
    for (let waitS = o.windowS; ; waitS = Math.max(1, o.windowS / 2)) {
      for (let t = 0; t < waitS * 2; t++) {
        const mem = memoryOf(daemon.pid);
        rss.push(mem.rssMb);
        anon.push(mem.anonMb);
        await sleep(500);
      }
      cpu1 = cpuTimes(daemon.pid);
      reads1 = readCalls(daemon.pid);
      m1 = await metrics();
      const polls = (sampleValue(m1, 'oomwatch_polls_total') as number) - p0;
      if (polls >= (o.mode === 'daemon' ? 20 : 50) || Date.now() - t0 >= o.windowS * 6000) break;
    }
    const delta = (name: string): number =>
      (sampleValue(m1, name) as number) - (sampleValue(m0, name) as number);
    const polls = delta('oomwatch_polls_total');
    let pollErrors = 0;
    for (const m of m1.matchAll(/^oomwatch_poll_errors_total\{[^}]*\} (\S+)$/gm)) pollErrors += Number(m[1]);
    return {
      polls,
      cpuMsPerPoll: (cpu1.userMs + cpu1.sysMs - cpu0.userMs - cpu0.sysMs) / polls,
      sysMsPerPoll: (cpu1.sysMs - cpu0.sysMs) / polls,
      readsPerPoll: (reads1 - reads0) / polls,
      wallMsPerPoll:
        (delta('oomwatch_poll_duration_seconds_sum') / delta('oomwatch_poll_duration_seconds_count')) * 1000,
      fdLimit: softFdLimit(daemon.pid),
      keptOpen: openFds(daemon.pid),
      pollErrors,
      rssPolling: percentile(
        rss.sort((a, b) => a - b),
        50,
      ),
      anonPolling: percentile(
        anon.sort((a, b) => a - b),
        50,
      ),
      hwm: memoryOf(daemon.pid).hwmMb,
    };
  } finally {
    await daemon.stop();
  }
}

/** Median resident memory over `seconds`, sampled twice a second: one reading depends on where the heap is between two collections. */
async function medianRss(pid: number, seconds: number): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < seconds * 2; i++) {
    samples.push(memoryOf(pid).rssMb);
    await sleep(500);
  }
  samples.sort((a, b) => a - b);
  return percentile(samples, 50);
}

/**
 * Phase 2, /metrics and memory at oomwatch's default interval (2 s), as a Prometheus server sees it:
 * resident memory (median over 10 s of polling), then sequential scrapes, then resident memory again
 * (median over the next 10 s).
 */
async function measureScrapes(tree: BenchTree, o: Options, fdLimit: number | undefined) {
  const daemon = await startWarm(tree, o, '2s', fdLimit, 3);
  try {
    const warmRss = await medianRss(daemon.pid, 10);
    const times: number[] = [];
    let body = '';
    for (let i = 0; i < o.scrapes; i++) {
      const s = await get(daemon.port, '/metrics');
      times.push(s.ms);
      body = s.body;
    }
    times.sort((a, b) => a - b);
    const afterRss = await medianRss(daemon.pid, 10);
    const after = memoryOf(daemon.pid);
    return {
      scrapeP50: percentile(times, 50),
      scrapeP99: percentile(times, 99),
      scrapeKb: Buffer.byteLength(body) / 1024,
      series: seriesCount(body).all,
      rssWarm: warmRss,
      rssAfter: afterRss,
      hwm: after.hwmMb,
    };
  } finally {
    await daemon.stop();
  }
}

async function measure(
  tree: BenchTree,
  o: Options,
  floorBin: string,
  fdLimit: number | undefined,
): Promise<Row[]> {
  const files = tree.files();
  const scrapes = await measureScrapes(tree, o, fdLimit);
  const rows: Row[] = [];
  for (const interval of o.intervals) {
    const polls = await measurePolls(tree, o, interval, fdLimit);
    const floor = runFloor(floorBin, files, Math.max(50, polls.polls));
    rows.push({
      tree: tree.kind === 'v1' ? `v1 ${o.layout}` : 'v2 systemd',
      n: tree.containers.length,
      interval,
      filesPerCycle: files.length,
      ...scrapes,
      ...polls,
      floorCpuMs: floor.cpu_us_per_cycle / 1000,
      floorSysMs: floor.sys_us_per_cycle / 1000,
      floorWallMs: floor.wall_us_per_cycle / 1000,
      floorKept: floor.kept_open,
    });
  }
  return rows;
}

const COLUMNS: Array<[string, (r: Row) => string]> = [
  ['tree', (r) => r.tree],
  ['N', (r) => String(r.n)],
  ['interval', (r) => r.interval],
  ['fd limit', (r) => String(r.fdLimit)],
  ['files/poll', (r) => String(r.filesPerCycle)],
  ['fds open', (r) => String(r.keptOpen)],
  ['reads/poll', (r) => r.readsPerPoll.toFixed(0)],
  ['polls', (r) => String(r.polls)],
  ['CPU/poll ms', (r) => r.cpuMsPerPoll.toFixed(2)],
  ['of which sys', (r) => r.sysMsPerPoll.toFixed(2)],
  ['floor CPU ms', (r) => r.floorCpuMs.toFixed(2)],
  ['floor sys', (r) => r.floorSysMs.toFixed(2)],
  ['floor fds', (r) => String(r.floorKept)],
  ['ratio', (r) => (r.cpuMsPerPoll / r.floorCpuMs).toFixed(2)],
  ['wall/poll ms', (r) => r.wallMsPerPoll.toFixed(2)],
  ['floor wall ms', (r) => r.floorWallMs.toFixed(2)],
  ['/metrics p50 ms', (r) => r.scrapeP50.toFixed(2)],
  ['p99 ms', (r) => r.scrapeP99.toFixed(2)],
  ['size KiB', (r) => r.scrapeKb.toFixed(0)],
  ['series', (r) => String(r.series)],
  ['RSS MB (polling)', (r) => r.rssPolling.toFixed(1)],
  ['of which anon', (r) => r.anonPolling.toFixed(1)],
  ['RSS before scrapes', (r) => r.rssWarm.toFixed(1)],
  ['RSS after scrapes', (r) => r.rssAfter.toFixed(1)],
  ['peak RSS', (r) => r.hwm.toFixed(1)],
  ['poll errors', (r) => String(r.pollErrors)],
];

function printTable(rows: Row[]): void {
  const cells = [COLUMNS.map(([h]) => h), ...rows.map((r) => COLUMNS.map(([, f]) => f(r)))];
  const widths = COLUMNS.map((_, i) => Math.max(...cells.map((c) => (c[i] as string).length)));
  const line = (c: string[]): string => c.map((v, i) => v.padStart(widths[i] as number)).join('  ');
  console.log(line(cells[0] as string[]));
  for (const c of cells.slice(1)) console.log(line(c));
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  requireRoot();
  removeStaleBenchCgroups();
  const floorBin = buildFloor();
  const cpuModel =
    /model name\s*:\s*(.*)/.exec(fs.readFileSync('/proc/cpuinfo', 'latin1'))?.[1] ?? 'unknown CPU';
  console.log(
    `oomwatch benchmark (${o.mode === 'daemon' ? 'the whole daemon, as npm start runs it' : 'the collector alone'}): ` +
      `node ${process.version}, kernel ${os.release()}, ${os.cpus().length} cores (${cpuModel}), ` +
      `fd soft limit ${softFdLimit()}, intervals ${o.intervals.join(', ')}, load average ${os.loadavg()[0]?.toFixed(1)}` +
      `${o.nodeArgs.length ? `, node ${o.nodeArgs.join(' ')}` : ''}` +
      Object.entries(o.env)
        .map(([k, v]) => `, ${k}=${v}`)
        .join(''),
  );
  // What Node.js itself holds with the same flags and nothing loaded: the share of the RSS below that is not
  // oomwatch's to lower.
  const idleNode = spawn(process.execPath, [...o.nodeArgs, '-e', 'setTimeout(() => {}, 5000)'], {
    env: { ...process.env, ...o.env },
  });
  await sleep(1000);
  const idle = memoryOf(idleNode.pid as number);
  idleNode.kill();
  console.log(
    `node alone (same flags, an empty script): RSS ${idle.rssMb.toFixed(1)} MB, of which anon ${idle.anonMb.toFixed(1)} MB`,
  );
  const rows: Row[] = [];
  const notes: string[] = [];
  for (const kind of o.trees) {
    for (const n of o.sizes) {
      process.stderr.write(`bench: ${kind} tree with ${n} containers...\n`);
      const tree = kind === 'v1' ? createV1Tree(n, o.layout) : createV2Tree(n);
      try {
        const measured = await measure(tree, o, floorBin, undefined);
        rows.push(...measured);
        printTable(measured);
        const row = measured[0] as Row;
        // Past the descriptor budget oomwatch opens, reads and closes the remaining files every poll:
        // measure the same N with a limit high enough to keep every file open, as the deployment can set.
        const needed = tree.files().length + 1024;
        if (needed > row.fdLimit) {
          if (canRaiseFdLimit(needed)) {
            process.stderr.write(
              `bench: ${kind} ${n} again with the descriptor limit raised to ${needed}...\n`,
            );
            const raised = await measure(tree, o, floorBin, needed);
            rows.push(...raised);
            printTable(raised);
          } else {
            notes.push(
              `${kind} N=${n}: ${tree.files().length} files do not fit the descriptor limit of ${row.fdLimit}, and this ` +
                `process may not raise it (no CAP_SYS_RESOURCE): oomwatch kept ${row.keptOpen} descriptors open ` +
                `and opened, read and closed the other files on every poll, and so did the floor (${row.floorKept} kept).`,
            );
          }
        }
      } finally {
        tree.destroy();
      }
    }
  }
  console.log(
    '\nSummary (CPU and wall per poll; floor = same files read by bench/floor.c, fds kept open, pread):',
  );
  printTable(rows);
  for (const note of notes) console.log(`Note: ${note}`);
}

/** Whether prlimit can give a child this many descriptors (raising the hard limit needs CAP_SYS_RESOURCE). */
function canRaiseFdLimit(limit: number): boolean {
  try {
    execFileSync('prlimit', [`--nofile=${limit}:${limit}`, 'true'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

main().then(
  () => runCleanups(),
  (err: unknown) => {
    process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
    runCleanups();
    process.exitCode = 1;
  },
);
