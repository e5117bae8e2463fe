import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type Prerequisite, hasCommand } from '../helpers/prereq';
import { type PromSample, parseExposition } from '../helpers/prom';
import { repoRoot } from './exec';
import { type GuestImage, VM_CACHE, ensureImage, packCpio } from './image';
import { KERNEL_LINES, type Kernel, type KernelLine, SUITE_OF, ensureKernel, readCached } from './kernels';

/**
 * Runs one scenario in a cgroup-v2 VM: one of Debian's kernels (5.10, 6.1 or 6.12, see kernels.ts) under qemu
 * (software emulation: -enable-kvm hangs on these machines), booted with cgroup_no_v1=all from the cached
 * initramfs (see image.ts) plus a small archive holding
 * /init, the helper library and the scenario script. The guest reports over a second serial port (a file
 * here); the console is kept for the error message when something goes wrong.
 *
 * A scenario is a shell script in test/vm/scenarios/ that sets up cgroups and workloads with the helpers of
 * guest/lib.sh, starts oomwatch, and reports what it saw (`scrape NAME`, `emit_cgroup NAME DIR`,
 * `emit_api NAME PATH`, `emit_kmsg NAME`); the jest suite asserts on what comes back.
 */

// From the repository root, not __dirname: npm run fixtures:v2 runs a compiled copy from .cache/vm-js.
const HERE = path.join(repoRoot(), 'test', 'vm');
const GUEST = path.join(HERE, 'guest');
const SCENARIOS = path.join(HERE, 'scenarios');

/** The kernel command line: serial console, no v1 controllers (so memory is on v2), no reboot on panic. */
const APPEND = 'console=ttyS0 quiet cgroup_no_v1=all panic=-1';

export interface ScenarioOptions {
  /** The scenario script: a file name in test/vm/scenarios/, or a path. */
  scenario: string;
  /** The kernel line to boot: Debian's kernel of that release (fetched into .cache/vm/kernels/ once). */
  kernel: KernelLine;
  /** More files of test/vm/scenarios/ the scenario uses, copied next to it into /vm/. */
  files?: string[];
  /** Guest memory in MB (1024 unless a scenario needs less). */
  memoryMb?: number;
  /** Variables exported in the guest before the scenario runs (container ids, sizes...). */
  env?: Record<string, string>;
  /** Until the guest's /init reports that it runs. */
  bootTimeoutMs?: number;
  /** The VM's whole run, boot included, from qemu's start (building the image is not counted). */
  timeoutMs?: number;
}

export interface ScenarioTimings {
  /** Fetching the kernel and building the image (about 0 when both are cached). */
  imageMs: number;
  /** qemu start to the guest's /init. */
  bootMs: number;
  /** /init to the scenario's end. */
  scenarioMs: number;
  totalMs: number;
}

export class VmError extends Error {}

/** What a scenario reported. */
export class ScenarioRun {
  constructor(
    readonly scenario: string,
    readonly kernel: Kernel,
    readonly exitCode: number,
    readonly results: ReadonlyMap<string, Buffer>,
    readonly console: string,
    readonly timings: ScenarioTimings,
  ) {}

  has(name: string): boolean {
    return this.results.has(name);
  }

  buffer(name: string): Buffer {
    const b = this.results.get(name);
    if (b === undefined) {
      throw new VmError(
        `scenario ${this.scenario} did not report "${name}" (it reported: ${[...this.results.keys()].join(', ')})\n` +
          `console tail:\n${consoleTail(this.console)}`,
      );
    }
    return b;
  }

  text(name: string): string {
    return this.buffer(name).toString('utf8');
  }

  /** A reported number (emit_value). */
  number(name: string): number {
    const n = Number(this.text(name).trim());
    if (!Number.isFinite(n))
      throw new VmError(`result "${name}" of ${this.scenario} is not a number: "${this.text(name)}"`);
    return n;
  }

  /** A reported /metrics scrape, parsed. */
  scrape(name: string): PromSample[] {
    return parseExposition(this.text(name));
  }

  json<T>(name: string): T {
    return JSON.parse(this.text(name)) as T;
  }

  /** Reported cgroup files under a prefix (emit_cgroup PREFIX DIR): file name -> content. */
  cgroupFiles(prefix: string): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [name, data] of this.results) {
      if (name.startsWith(`${prefix}/`)) out[name.slice(prefix.length + 1)] = data.toString('utf8');
    }
    return out;
  }
}

/**
 * The kernels come from Debian's archive the first time (apt-get, dpkg-deb, depmod, xz for trixie's
 * compressed modules); once in .cache/vm/kernels/ they need nothing.
 */
function kernelPrerequisites(): Prerequisite[] {
  const missing = KERNEL_LINES.filter((l) => !readCached(l, path.join(VM_CACHE, 'kernels', SUITE_OF[l])));
  if (missing.length === 0) return [];
  return [
    hasCommand('apt-get', 'apt'),
    hasCommand('dpkg-deb', 'dpkg'),
    {
      ok: fs.existsSync('/usr/sbin/depmod') || fs.existsSync('/sbin/depmod'),
      why: 'needs depmod to index the fetched kernels: apt-get install -y kmod',
    },
    hasCommand('xz', 'xz-utils'),
  ];
}

/** Everything a VM suite needs on the host; pass to describeIf(...). */
export function vmPrerequisites(): Prerequisite[] {
  return [
    hasCommand('qemu-system-x86_64', 'qemu-system-x86'),
    ...kernelPrerequisites(),
    hasCommand('cpio', 'cpio'),
    {
      ok: fs.existsSync('/bin/busybox'),
      why: 'needs a static busybox at /bin/busybox: apt-get install -y busybox-static',
    },
  ];
}

const prepared = new Map<KernelLine, Promise<{ kernel: Kernel; image: GuestImage }>>();
/** The kernels whose image's build time a run has printed (later runs of the process say "cached"). */
const imageReported = new Set<KernelLine>();

/** The kernel and its cached image, fetched and built once per jest worker. */
function prepare(line: KernelLine): Promise<{ kernel: Kernel; image: GuestImage }> {
  let p = prepared.get(line);
  if (!p) {
    p = (async () => {
      const kernel = await ensureKernel(line, VM_CACHE);
      const image = await ensureImage(kernel);
      return { kernel, image };
    })();
    // A failed fetch or build is tried again by the next run, not remembered.
    p.catch(() => prepared.delete(line));
    prepared.set(line, p);
  }
  return p;
}

const shellQuote = (v: string): string => `'${v.replace(/'/g, `'\\''`)}'`;

/** Build the per-run archive: /init, /vm/lib.sh, /vm/scenario.sh, /vm/bin/*, /vm/env.sh and the scenario's files. */
async function overlay(dir: string, opts: ScenarioOptions): Promise<string> {
  const root = path.join(dir, 'overlay');
  const scenarioFile = path.isAbsolute(opts.scenario) ? opts.scenario : path.join(SCENARIOS, opts.scenario);
  if (!fs.existsSync(scenarioFile)) throw new VmError(`no scenario script ${scenarioFile}`);
  fs.mkdirSync(path.join(root, 'vm'), { recursive: true });
  fs.copyFileSync(path.join(GUEST, 'init.sh'), path.join(root, 'init'));
  fs.chmodSync(path.join(root, 'init'), 0o755);
  fs.copyFileSync(path.join(GUEST, 'lib.sh'), path.join(root, 'vm', 'lib.sh'));
  fs.copyFileSync(scenarioFile, path.join(root, 'vm', 'scenario.sh'));
  fs.cpSync(path.join(GUEST, 'bin'), path.join(root, 'vm', 'bin'), { recursive: true });
  for (const f of opts.files ?? [])
    fs.copyFileSync(path.join(SCENARIOS, f), path.join(root, 'vm', path.basename(f)));
  const env = { VM_SCENARIO: path.basename(scenarioFile), PATH: '/vm/bin:/usr/local/bin:/bin', ...opts.env };
  fs.writeFileSync(
    path.join(root, 'vm', 'env.sh'),
    Object.entries(env)
      .map(([k, v]) => `export ${k}=${shellQuote(v)}\n`)
      .join(''),
  );
  const out = path.join(dir, 'overlay.cpio.gz');
  await packCpio(root, out);
  return out;
}

const MARKER = /^@@OOMWATCH-VM (\S+) ?(.*)@@$/;

interface Report {
  up: boolean;
  exitCode?: number;
  results: Map<string, Buffer>;
  /** The last result that began, for "it hung while reporting X". */
  last?: string;
}

/** Parse the report channel: markers and base64 blocks (see guest/lib.sh). */
export function parseReport(text: string): Report {
  const report: Report = { up: false, results: new Map() };
  let open: { name: string; lines: string[] } | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    const m = MARKER.exec(line);
    if (!m) {
      if (open) open.lines.push(line);
      continue;
    }
    const [, kind, arg = ''] = m;
    if (kind === 'UP') report.up = true;
    else if (kind === 'EXIT') report.exitCode = Number(arg);
    else if (kind === 'BEGIN') {
      open = { name: arg, lines: [] };
      report.last = arg;
    } else if (kind === 'END' && open?.name === arg) {
      if (report.results.has(arg))
        throw new VmError(`the scenario reported "${arg}" twice: give each result its own name`);
      report.results.set(arg, Buffer.from(open.lines.join(''), 'base64'));
      open = undefined;
    }
  }
  return report;
}

/** The last lines of the console, without the terminal control sequences of the firmware. */
const ESC = String.fromCharCode(27);
const CONTROL_SEQUENCE = new RegExp(`${ESC}\\[[0-9;?]*[A-Za-z]|${ESC}[c=>]`, 'g');

export function consoleTail(text: string, lines = 60): string {
  return text.replace(CONTROL_SEQUENCE, '').split(/\r?\n/).slice(-lines).join('\n');
}

/**
 * Boot the VM with one scenario and return what it reported. Throws a VmError with the console tail when
 * the VM does not boot in time, the scenario hangs, the VM dies before the scenario's end, or the scenario
 * itself fails (non-zero exit: a setup step went wrong; the oomwatch log is attached when there is one).
 */
export async function runScenario(opts: ScenarioOptions): Promise<ScenarioRun> {
  const started = Date.now();
  let { kernel, image } = await prepare(opts.kernel);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-vm-'));
  const initrd = path.join(dir, 'initrd.cpio.gz');
  const reportFile = path.join(dir, 'report.txt');
  const consoleFile = path.join(dir, 'console.log');
  // The kernel unpacks concatenated archives in order: the per-run files land on top of the image's parts.
  const concat = (parts: string[]): void => {
    fs.writeFileSync(initrd, '');
    for (const p of parts) fs.appendFileSync(initrd, fs.readFileSync(p));
  };
  try {
    concat(image.parts);
  } catch (err) {
    // Another run on this checkout rebuilt the image for a newer dist/ and pruned this one: take the new one.
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    prepared.delete(opts.kernel);
    ({ kernel, image } = await prepare(opts.kernel));
    concat(image.parts);
  }
  const imageMs = Date.now() - started;
  fs.appendFileSync(initrd, fs.readFileSync(await overlay(dir, opts)));

  const memoryMb = opts.memoryMb ?? 1024;
  const bootTimeoutMs = opts.bootTimeoutMs ?? 180_000;
  const timeoutMs = opts.timeoutMs ?? 420_000;
  const args = [
    ...[
      '-accel',
      'tcg,thread=multi',
      '-smp',
      '2',
      '-m',
      String(memoryMb),
      '-nographic',
      '-no-reboot',
      '-net',
      'none',
    ],
    ...['-kernel', kernel.vmlinuz, '-initrd', initrd, '-append', APPEND],
    ...['-serial', 'mon:stdio', '-serial', `file:${reportFile}`],
  ];
  const bootStart = Date.now();
  const qemu = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let consoleText = '';
  const consoleOut = fs.createWriteStream(consoleFile);
  const onOutput = (b: Buffer): void => {
    consoleText += b.toString('utf8');
    if (consoleText.length > 4_000_000) consoleText = consoleText.slice(-2_000_000);
    consoleOut.write(b);
  };
  qemu.stdout.on('data', onOutput);
  qemu.stderr.on('data', onOutput);
  const exited = new Promise<number | null>((resolve) => qemu.on('close', (code) => resolve(code)));
  let qemuGone = false;
  void exited.then(() => (qemuGone = true));

  const readReport = (): Report =>
    parseReport(fs.existsSync(reportFile) ? fs.readFileSync(reportFile, 'latin1') : '');
  let upAt: number | undefined;
  let report: Report = readReport();
  const fail = (what: string): never => {
    if (!qemuGone) qemu.kill('SIGKILL');
    throw new VmError(
      `${what} (scenario ${opts.scenario}, kernel ${kernel.release}, ${memoryMb} MB VM; console and report kept in ${dir})\n` +
        `--- console tail\n${consoleTail(consoleText)}`,
    );
  };
  try {
    for (;;) {
      await new Promise((r) => setTimeout(r, 250));
      report = readReport();
      if (report.up && upAt === undefined) upAt = Date.now();
      if (report.exitCode !== undefined) break;
      if (qemuGone) {
        fail(
          `the VM stopped before the scenario finished (qemu exit code ${await exited}; a kernel panic or an /init error?)`,
        );
      }
      if (upAt === undefined && Date.now() - bootStart > bootTimeoutMs) {
        fail(`the VM did not boot: no word from /init within ${bootTimeoutMs / 1000} s`);
      }
      if (Date.now() - bootStart > timeoutMs) {
        fail(
          `the scenario did not finish within ${timeoutMs / 1000} s (last result begun: ${report.last ?? 'none'})`,
        );
      }
    }
    const exitDeadline = setTimeout(() => qemu.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(exitDeadline);
  } finally {
    if (!qemuGone) qemu.kill('SIGKILL');
    consoleOut.end();
  }
  const doneAt = Date.now();
  const timings: ScenarioTimings = {
    imageMs,
    bootMs: (upAt ?? doneAt) - bootStart,
    scenarioMs: doneAt - (upAt ?? bootStart),
    totalMs: doneAt - started,
  };
  const run = new ScenarioRun(
    opts.scenario,
    kernel,
    report.exitCode as number,
    report.results,
    consoleText,
    timings,
  );
  const s = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
  console.log(
    `VM scenario ${opts.scenario} on ${kernel.release} (${memoryMb} MB): ` +
      `image ${image.buildMs > 0 && !imageReported.has(opts.kernel) ? `built in ${s(image.buildMs)}` : 'cached'} (${(image.bytes / 2 ** 20).toFixed(0)} MB), ` +
      `boot ${s(timings.bootMs)}, scenario ${s(timings.scenarioMs)}, total ${s(timings.totalMs)}, ` +
      `load ${os.loadavg()[0]?.toFixed(2)}`,
  );
  imageReported.add(opts.kernel);
  recordTimings(opts, kernel, memoryMb, timings);
  if (run.exitCode !== 0) {
    const log = run.has('oomwatch.log')
      ? `\n--- oomwatch log tail\n${consoleTail(run.text('oomwatch.log'), 30)}`
      : '';
    throw new VmError(
      `scenario ${opts.scenario} on ${kernel.release} failed with exit code ${run.exitCode} (console and report kept in ${dir})\n` +
        `--- console tail\n${consoleTail(consoleText)}${log}`,
    );
  }
  // OOMWATCH_VM_KEEP=1 keeps the console, the report and the initrd of a passing run too, to look at.
  if (process.env['OOMWATCH_VM_KEEP'] === '1')
    console.log(`VM scenario ${opts.scenario}: run kept in ${dir}`);
  else fs.rmSync(dir, { recursive: true, force: true });
  return run;
}

/**
 * OOMWATCH_VM_TIMINGS=FILE appends one JSON line per finished run (scenario, kernel, boot and scenario
 * times, the host's load average at the end), to sum up a test run's VM time per kernel.
 */
function recordTimings(opts: ScenarioOptions, kernel: Kernel, memoryMb: number, t: ScenarioTimings): void {
  const file = process.env['OOMWATCH_VM_TIMINGS'];
  if (!file) return;
  const [load1, load5] = os.loadavg();
  fs.appendFileSync(
    file,
    `${JSON.stringify({ scenario: path.basename(opts.scenario), kernel: kernel.release, line: kernel.line, memoryMb, ...t, load1, load5, at: new Date().toISOString() })}\n`,
  );
}
