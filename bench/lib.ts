import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { filesReadPerContainer } from '../src/cgroup/reader';
import { type StartScript, parseStartScript } from '../test/helpers/start-script';

/**
 * What the benchmarks share: bench-only container cgroups (real v1 ones, or a generated v2 tree of regular
 * files), the real oomwatch binary as a child process, and readings of that process from /proc.
 *
 * Isolation: the real cgroups live under a parent of their own, /sys/fs/cgroup/memory/oomwatch-bench-<pid>
 * (and the same name in the v2 tree at unified/, where a hybrid host keeps memory.pressure), in the Docker
 * cgroupfs layout docker/<64hex> below it. oomwatch is pointed at a directory holding two symlinks,
 * memory -> that parent and unified -> its v2 twin, so it sees a hybrid host with exactly the bench's
 * containers: the figures do not move with whatever else runs on the machine, and nothing outside the
 * bench's own parent is ever created or removed.
 */

export const REPO = path.resolve(__dirname, '..', '..', '..');
export const CLI = path.join(REPO, 'dist', 'cli.js');
const CGROUP_V1_MEMORY = '/sys/fs/cgroup/memory';
const CGROUP_UNIFIED = '/sys/fs/cgroup/unified';
const BENCH_PREFIX = 'oomwatch-bench-';

// ---------------------------------------------------------------------------------------------------------
// Cleanup that also runs on Ctrl-C, SIGTERM and a crash.

const cleanups: Array<() => void> = [];
let handlersInstalled = false;

/** Register an undo step; steps run last-registered first, once, at exit or on a signal. */
export function onCleanup(step: () => void): () => void {
  installHandlers();
  cleanups.push(step);
  return () => {
    const i = cleanups.indexOf(step);
    if (i >= 0) cleanups.splice(i, 1);
  };
}

export function runCleanups(): void {
  while (cleanups.length > 0) {
    const step = cleanups.pop() as () => void;
    try {
      step();
    } catch (err) {
      process.stderr.write(`bench: cleanup step failed: ${(err as Error).message}\n`);
    }
  }
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      process.stderr.write(`\nbench: ${signal}: removing what the benchmark created\n`);
      runCleanups();
      process.exit(130);
    });
  }
  process.on('exit', runCleanups);
}

// ---------------------------------------------------------------------------------------------------------
// Container trees.

export interface BenchTree {
  kind: 'v1' | 'v2';
  /** What oomwatch gets as --cgroup-root. */
  root: string;
  memoryRoot: string;
  pressureRoot: string | undefined;
  /** Container cgroup paths relative to the memory root, in creation order. */
  readonly containers: string[];
  add(count: number): string[];
  remove(cgroupPaths: readonly string[]): void;
  /** The files oomwatch reads for these containers (absolute paths), for the C floor. */
  files(): string[];
  destroy(): void;
}

let idCounter = 0;
/** A 64-hex container id; the first 8 hex digits mark it as a benchmark's (0be4c4 + the run's pid). */
export function benchId(): string {
  idCounter++;
  const pid = (process.pid & 0xffff).toString(16).padStart(4, '0');
  return `0be4c4${pid}`.padEnd(16, '0') + idCounter.toString(16).padStart(48, '0');
}

export function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new Error('the benchmark creates memory cgroups and must run as root (sudo npm run bench)');
  }
  if (!fs.existsSync(path.join(CGROUP_V1_MEMORY, 'memory.usage_in_bytes'))) {
    throw new Error(
      `no cgroup v1 memory controller at ${CGROUP_V1_MEMORY}: the real-cgroup benchmark needs one`,
    );
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Remove a cgroup directory and its sub-cgroups (rmdir only: cgroupfs refuses unlink of its files). */
function rmdirCgroupTree(dir: string): void {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) if (e.isDirectory()) rmdirCgroupTree(path.join(dir, e.name));
  try {
    fs.rmdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** Leftovers of a benchmark run killed with SIGKILL: only the bench's own parents and temporary directories, named for a pid that is gone. */
export function removeStaleBenchCgroups(): void {
  for (const base of [CGROUP_V1_MEMORY, CGROUP_UNIFIED]) {
    let names: string[];
    try {
      names = fs.readdirSync(base);
    } catch {
      continue;
    }
    for (const name of names) {
      if (!name.startsWith(BENCH_PREFIX)) continue;
      const pid = Number(name.slice(BENCH_PREFIX.length).split('-')[0]);
      if (Number.isInteger(pid) && pid > 0 && !isAlive(pid)) {
        process.stderr.write(
          `bench: removing ${path.join(base, name)} left by an earlier run (pid ${pid} is gone)\n`,
        );
        rmdirCgroupTree(path.join(base, name));
      }
    }
  }
  for (const name of fs.readdirSync(os.tmpdir())) {
    const pid = name.startsWith(BENCH_PREFIX) ? Number(name.slice(BENCH_PREFIX.length).split('-')[0]) : NaN;
    if (Number.isInteger(pid) && pid > 0 && !isAlive(pid)) {
      fs.rmSync(path.join(os.tmpdir(), name), { recursive: true, force: true });
    }
  }
}

let scratchDir: string | undefined;
/** A temporary directory for this run, removed at exit. */
export function scratch(): string {
  if (scratchDir === undefined) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${BENCH_PREFIX}${process.pid}-`));
    scratchDir = dir;
    onCleanup(() => fs.rmSync(dir, { recursive: true, force: true }));
  }
  return scratchDir;
}

let treeCounter = 0;

/** Where a tree's container cgroups sit: Docker's cgroupfs layout, or the kubelet's (cgroupfs driver). */
export type TreeLayout = 'docker' | 'kubernetes';

/**
 * Container cgroups of the Kubernetes cgroupfs layout, two containers a pod, the pods spread over the three
 * QoS levels as a busy node has them: kubepods/burstable/pod<uid>/<id>, kubepods/besteffort/pod<uid>/<id>
 * and kubepods/pod<uid>/<id> (Guaranteed).
 */
function kubernetesPaths(count: number, already: number): { dirs: string[]; containers: string[] } {
  const dirs: string[] = [];
  const containers: string[] = [];
  for (let i = already; i < already + count; i++) {
    const pod = Math.floor(i / 2);
    const qos = ['/kubepods/burstable', '/kubepods/besteffort', '/kubepods'][pod % 3] as string;
    const uid = benchId().slice(-32);
    const podDir = `${qos}/pod${uid.slice(0, 8)}-${uid.slice(8, 12)}-${uid.slice(12, 16)}-${uid.slice(16, 20)}-${uid.slice(20)}`;
    if (i % 2 === 0) dirs.push(podDir);
    const last = dirs[dirs.length - 1] ?? podDir;
    containers.push(`${last}/${benchId()}`);
  }
  return { dirs, containers };
}

/**
 * Real, empty memory cgroups in the Docker (or Kubernetes) cgroupfs layout under a bench-only parent, plus
 * their twins in the v2 tree (where a hybrid host keeps memory.pressure).
 */
export function createV1Tree(initial: number, layout: TreeLayout = 'docker'): BenchTree {
  const name = `${BENCH_PREFIX}${process.pid}-${++treeCounter}`;
  const memParent = path.join(CGROUP_V1_MEMORY, name);
  const hasUnified = fs.existsSync(path.join(CGROUP_UNIFIED, 'cgroup.procs'));
  const v2Parent = hasUnified ? path.join(CGROUP_UNIFIED, name) : undefined;
  const root = path.join(scratch(), `${name}-root`);
  const containers: string[] = [];

  const tree: BenchTree = {
    kind: 'v1',
    root,
    memoryRoot: path.join(root, 'memory'),
    pressureRoot: v2Parent === undefined ? undefined : path.join(root, 'unified'),
    containers,
    add(count) {
      const added: string[] = [];
      if (layout === 'kubernetes') {
        const { dirs, containers: rels } = kubernetesPaths(count, containers.length);
        for (const d of dirs) {
          fs.mkdirSync(memParent + d, { recursive: true });
          if (v2Parent !== undefined) fs.mkdirSync(v2Parent + d, { recursive: true });
        }
        added.push(...rels);
      } else {
        for (let i = 0; i < count; i++) added.push(`/docker/${benchId()}`);
      }
      for (const rel of added) {
        fs.mkdirSync(memParent + rel);
        if (v2Parent !== undefined) fs.mkdirSync(v2Parent + rel);
        containers.push(rel);
      }
      return added;
    },
    remove(rels) {
      const gone = new Set(rels);
      for (const rel of rels) {
        fs.rmdirSync(memParent + rel);
        if (v2Parent !== undefined) fs.rmdirSync(v2Parent + rel);
      }
      const kept = containers.filter((c) => !gone.has(c));
      containers.length = 0;
      containers.push(...kept);
    },
    files() {
      return filesFor(memParent, v2Parent, containers, 1);
    },
    destroy() {
      rmdirCgroupTree(memParent);
      if (v2Parent !== undefined) rmdirCgroupTree(v2Parent);
    },
  };

  const undo = onCleanup(() => tree.destroy());
  const destroy = tree.destroy;
  tree.destroy = () => {
    destroy();
    undo();
  };
  fs.mkdirSync(path.join(memParent, 'docker'), { recursive: true });
  if (v2Parent !== undefined) fs.mkdirSync(path.join(v2Parent, 'docker'), { recursive: true });
  fs.mkdirSync(root);
  fs.symlinkSync(memParent, path.join(root, 'memory'));
  if (v2Parent !== undefined) fs.symlinkSync(v2Parent, path.join(root, 'unified'));
  tree.add(initial);
  return tree;
}

/**
 * Files of a v2 container cgroup with an empty container's content, in the formats of Linux 6.1
 * (Documentation/admin-guide/cgroup-v2.rst, "Memory Interface Files"; memory.stat keys in the order
 * mm/memcontrol.c memory_stat_format() prints them; PSI lines as kernel/sched/psi.c psi_show() writes).
 */
const V2_STAT_KEYS = [
  'anon', 'file', 'kernel', 'kernel_stack', 'pagetables', 'percpu', 'sock', 'vmalloc', 'shmem', 'zswap',
  'zswapped', 'file_mapped', 'file_dirty', 'file_writeback', 'swapcached', 'anon_thp', 'file_thp',
  'shmem_thp', 'inactive_anon', 'active_anon', 'inactive_file', 'active_file', 'unevictable',
  'slab_reclaimable', 'slab_unreclaimable', 'slab', 'workingset_refault_anon', 'workingset_refault_file',
  'workingset_activate_anon', 'workingset_activate_file', 'workingset_restore_anon',
  'workingset_restore_file', 'workingset_nodereclaim', 'pgscan', 'pgsteal', 'pgscan_kswapd',
  'pgscan_direct', 'pgsteal_kswapd', 'pgsteal_direct', 'pgfault', 'pgmajfault', 'pgrefill', 'pgactivate',
  'pgdeactivate', 'pglazyfree', 'pglazyfreed', 'zswpin', 'zswpout', 'thp_fault_alloc', 'thp_collapse_alloc',
]; // prettier-ignore

const V2_CONTAINER_FILES: Record<string, string> = {
  'memory.current': '1282048\n',
  'memory.max': 'max\n',
  'memory.low': '0\n',
  'memory.high': 'max\n',
  'memory.swap.current': '0\n',
  'memory.swap.max': 'max\n',
  'memory.peak': '4333568\n',
  'memory.stat': V2_STAT_KEYS.map((k) => `${k} ${k === 'file' ? 1007616 : k === 'anon' ? 135168 : 0}\n`).join(
    '',
  ),
  'memory.events': 'low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n',
  'memory.oom.group': '0\n',
  'memory.pressure':
    'some avg10=0.00 avg60=0.00 avg300=0.00 total=1234\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=567\n',
};

/** A generated v2 hierarchy of regular files: systemd driver layout, a few services that are not containers. */
export function createV2Tree(initial: number): BenchTree {
  const root = path.join(scratch(), `v2-root-${++treeCounter}`);
  const containers: string[] = [];
  const tree: BenchTree = {
    kind: 'v2',
    root,
    memoryRoot: root,
    pressureRoot: root,
    containers,
    add(count) {
      const added: string[] = [];
      for (let i = 0; i < count; i++) {
        const rel = `/system.slice/docker-${benchId()}.scope`;
        fs.mkdirSync(root + rel);
        for (const [file, text] of Object.entries(V2_CONTAINER_FILES))
          fs.writeFileSync(path.join(root + rel, file), text);
        containers.push(rel);
        added.push(rel);
      }
      return added;
    },
    remove(rels) {
      const gone = new Set(rels);
      for (const rel of rels) fs.rmSync(root + rel, { recursive: true, force: true });
      const kept = containers.filter((c) => !gone.has(c));
      containers.length = 0;
      containers.push(...kept);
    },
    files() {
      return filesFor(root, root, containers, 2);
    },
    destroy() {
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
  fs.mkdirSync(path.join(root, 'system.slice'), { recursive: true });
  fs.writeFileSync(path.join(root, 'cgroup.controllers'), 'cpuset cpu io memory hugetlb pids rdma misc\n');
  fs.writeFileSync(path.join(root, 'cgroup.subtree_control'), 'cpuset cpu io memory pids\n');
  for (const service of [
    'containerd.service',
    'docker.service',
    'ssh.service',
    'systemd-journald.service',
    'cron.service',
  ]) {
    fs.mkdirSync(path.join(root, 'system.slice', service));
    fs.writeFileSync(path.join(root, 'system.slice', service, 'memory.current'), '8192000\n');
  }
  fs.mkdirSync(path.join(root, 'user.slice', 'user-1000.slice', 'session-1.scope'), { recursive: true });
  tree.add(initial);
  return tree;
}

function filesFor(
  memParent: string,
  pressureParent: string | undefined,
  containers: readonly string[],
  version: 1 | 2,
): string[] {
  const out: string[] = [];
  const specs = filesReadPerContainer(version);
  for (const rel of containers) {
    for (const spec of specs) {
      const base = spec.root === 'memory' ? memParent : pressureParent;
      if (base === undefined) continue;
      const file = path.join(base + rel, spec.file);
      // Optional files absent on this kernel are skipped by oomwatch after the first poll, so by the floor too.
      if (fs.existsSync(file)) out.push(file);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// The oomwatch process.

/**
 * The node flags and environment `npm start` runs oomwatch with (package.json scripts.start), so the benchmarks
 * measure the daemon as it is deployed. --node-arg adds to the flags; --bare-node drops both.
 */
export function startScript(): StartScript {
  const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as {
    scripts?: Record<string, string>;
  };
  return parseStartScript(pkg.scripts?.['start'] ?? '');
}

export interface Daemon {
  child: ChildProcess;
  pid: number;
  port: number;
  logs: string[];
  stop(): Promise<void>;
}

export interface DaemonOptions {
  cgroupRoot: string;
  interval: string;
  seriesGrace?: string;
  /** Flags for node itself (e.g. --max-semi-space-size=2, --cpu-prof). */
  nodeArgs?: string[];
  /** Environment added to the bench's own for the daemon (the assignments of npm start). */
  env?: Record<string, string>;
  /** Soft and hard RLIMIT_NOFILE for the daemon (through prlimit); the inherited limit otherwise. */
  fdLimit?: number;
  /**
   * `daemon` (default): every source this host has, as `npm start` and the image run it (the kernel log from
   * /dev/kmsg, /proc/vmstat, the state database and its peak history), the Docker source off. `collector`: the
   * cgroup poller alone (kernel log off).
   */
  sources?: 'daemon' | 'collector';
}

export async function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first (npm run bench does)`);
  const stateDir = fs.mkdtempSync(path.join(scratch(), 'state-'));
  const oomwatchArgs = [
    ...(opts.nodeArgs ?? []),
    CLI,
    'serve',
    '--listen=127.0.0.1:0',
    `--cgroup-root=${opts.cgroupRoot}`,
    `--interval=${opts.interval}`,
    `--series-grace=${opts.seriesGrace ?? '10m'}`,
    `--state-dir=${stateDir}`,
    '--docker-socket=none',
    ...(opts.sources === 'collector' ? ['--kmsg=none'] : ['--kmsg=/dev/kmsg', '--proc-root=/proc']),
    '--log-level=info',
  ];
  const [cmd, args] =
    opts.fdLimit === undefined
      ? [process.execPath, oomwatchArgs]
      : ['prlimit', [`--nofile=${opts.fdLimit}:${opts.fdLimit}`, process.execPath, ...oomwatchArgs]];
  const child = spawn(cmd, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd: scratch(),
    env: { ...process.env, ...opts.env },
  });
  const kill = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  const undo = onCleanup(kill);
  const logs: string[] = [];
  let buffered = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`oomwatch did not listen within 30 s; logs:\n${logs.join('\n')}`)),
      30_000,
    );
    child.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (logs.length < 200) logs.push(line);
        const m = /"msg":"listening"/.test(line) ? /"address":"https?:\/\/[^"]*:(\d+)"/.exec(line) : null;
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => logs.push(chunk.toString('utf8')));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`oomwatch exited with ${code} before listening; logs:\n${logs.join('\n')}`));
    });
  });
  return {
    child,
    pid: child.pid as number,
    port,
    logs,
    stop: () =>
      new Promise<void>((resolve) => {
        undo();
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const deadline = setTimeout(kill, 15_000);
        child.once('exit', () => {
          clearTimeout(deadline);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Readings.

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

export interface Scrape {
  status: number;
  body: string;
  ms: number;
}

/** GET a path from the daemon over a kept-alive connection, timing the whole response. */
export function get(port: number, urlPath: string): Promise<Scrape> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          body: Buffer.concat(chunks).toString('utf8'),
          ms: Number(process.hrtime.bigint() - started) / 1e6,
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/** The value of one unlabelled (or exactly labelled) sample in a Prometheus text scrape. */
export function sampleValue(body: string, series: string): number | undefined {
  const escaped = series.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const m = new RegExp(`^${escaped} (\\S+)$`, 'm').exec(body);
  return m ? Number(m[1]) : undefined;
}

/** Series (sample lines) in a scrape, all and per-container. */
export function seriesCount(body: string): { all: number; container: number } {
  let all = 0;
  let container = 0;
  for (const line of body.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    all++;
    if (line.startsWith('oomwatch_container_')) container++;
  }
  return { all, container };
}

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** CPU time the process has used in user and kernel mode (every thread, exited threads included), in ms. */
export function cpuTimes(pid: number): { userMs: number; sysMs: number } {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of proc(5) (utime, stime); the slice starts at field 3.
  return { userMs: (Number(fields[11]) * 1000) / CLK_TCK, sysMs: (Number(fields[12]) * 1000) / CLK_TCK };
}

/**
 * Read system calls the process has made (proc(5) /proc/PID/io syscr): read, pread and readv of every file,
 * socket and pipe. Over a window of polls, nearly all are cgroup files.
 */
export function readCalls(pid: number): number {
  const io = fs.readFileSync(`/proc/${pid}/io`, 'latin1');
  return Number(/^syscr:\s+(\d+)$/m.exec(io)?.[1] ?? NaN);
}

export function cpuMs(pid: number): number {
  const t = cpuTimes(pid);
  return t.userMs + t.sysMs;
}

/**
 * Resident memory of a process: all of it (VmRSS, what top and the container runtime show), the anonymous part
 * (RssAnon: heap, stacks, malloc: what the process itself holds) and its high-water mark. The rest of VmRSS is
 * file pages (RssFile: the node binary's and addons' code, shared with the page cache).
 */
export function memoryOf(pid: number): { rssMb: number; anonMb: number; hwmMb: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'latin1');
  const kb = (key: string): number =>
    Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssMb: kb('VmRSS') / 1024, anonMb: kb('RssAnon') / 1024, hwmMb: kb('VmHWM') / 1024 };
}

export function openFds(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

export function softFdLimit(pid: number | 'self' = 'self'): number {
  const line = fs
    .readFileSync(`/proc/${pid}/limits`, 'latin1')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  return Number(line?.split(/\s+/)[3]);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] as number;
}

/** Wait until `probe` returns a value, polling every 100 ms. */
export async function until<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(100);
  }
}
