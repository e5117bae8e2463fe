/**
 * npm run bench:oom — kill-to-/metrics latency over real OOM kills.
 *
 * Starts the built oomwatch with the kernel log and the Docker source, OOM-kills N real containers
 * (`docker run --memory=32m` allocating 100 MB) a few at a time, and for each kill measures the time from the
 * kill (the kernel's own timestamp, from /api/v1/oom-events) to the first scrape of /metrics that counts it.
 * Scrapes run every 10 ms, so the figure includes up to 10 ms of sampling. A second round runs with the
 * kernel log off, where the count comes from Docker's oom event and the cgroup counter.
 *
 * Needs root, a running Docker Engine and /dev/kmsg. Prints figures; asserts nothing.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { allocateShell, ensureTestImage, TEST_IMAGE, TEST_LABEL } from '../test/helpers/docker';

const CLI = path.resolve(__dirname, '..', '..', '..', 'dist', 'cli.js');
const KILLS = Number(process.env['OOM_BENCH_KILLS'] ?? 50);
const PARALLEL = Number(process.env['OOM_BENCH_PARALLEL'] ?? 5);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Oomwatch {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

async function startOomwatch(args: string[]): Promise<Oomwatch> {
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-bench-oom-'));
  const child = spawn(
    process.execPath,
    [
      CLI,
      'serve',
      '--listen',
      '127.0.0.1:0',
      '--state-dir',
      state,
      '--cgroup-root',
      '/sys/fs/cgroup',
      ...args,
    ],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const url = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout?.on('data', (c: Buffer) => {
      buf += c.toString();
      const m = /"msg":"listening"[^\n]*|"address":"(http[^"]+)"[^\n]*"msg":"listening"/.exec(buf);
      const a = /"address":"(http[^"]+)"/.exec(buf);
      if (m && a) resolve(a[1] as string);
    });
    child.on('exit', (code) => reject(new Error(`oomwatch exited with ${code}`)));
  });
  child.stdout?.resume();
  return {
    url,
    child,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => {
          fs.rmSync(state, { recursive: true, force: true });
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}

/**
 * The kill count of a container by its short id (once known) or its name, and whether the series carries the
 * name yet.
 */
async function killsOf(
  url: string,
  shortId: string | undefined,
  name: string,
): Promise<{ kills: number; named: boolean }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  for (const line of text.split('\n')) {
    if (!line.startsWith('oomwatch_container_oom_kills_total{')) continue;
    const byId = shortId !== undefined && line.includes(`id="${shortId}"`);
    const byName = line.includes(`,name="${name}",`);
    if (byId || byName) return { kills: Number(line.slice(line.lastIndexOf(' ') + 1)), named: byName };
  }
  return { kills: 0, named: false };
}

async function killTime(url: string, name: string): Promise<number | undefined> {
  for (let i = 0; i < 100; i++) {
    const res = (await (await fetch(`${url}/api/v1/oom-events?container=${name}`)).json()) as {
      events: Array<{ time: string; time_exact: boolean }>;
    };
    const ev = res.events.find((e) => e.time_exact);
    if (ev) return Date.parse(ev.time);
    await sleep(50);
  }
  return undefined;
}

const execFileAsync = promisify(execFile);

/**
 * Runs one container that gets OOM-killed and watches /metrics until its kill is counted. `docker run -d`
 * returns only after the container started, and the kill may come before it returns: the watch starts
 * first and looks the container up by name, then by the id that `docker run` printed.
 */
async function oneKill(ow: Oomwatch, name: string): Promise<{ counted: number; named: number } | undefined> {
  const run = execFileAsync(
    'docker',
    [
      'run',
      '-d',
      '--rm',
      '--network=none',
      '--label',
      TEST_LABEL,
      '--name',
      name,
      '--memory=32m',
      '--memory-swap=32m',
      TEST_IMAGE,
      'sh',
      '-c',
      allocateShell(100),
    ],
    { encoding: 'utf8' },
  );
  let shortId: string | undefined;
  void run.then((r) => (shortId = r.stdout.trim().slice(0, 12)));
  const deadline = Date.now() + 30_000;
  let countedAt: number | undefined;
  let namedAt: number | undefined;
  while (Date.now() < deadline && namedAt === undefined) {
    const k = await killsOf(ow.url, shortId, name);
    if (k.kills >= 1) countedAt ??= Date.now();
    if (k.kills >= 1 && k.named) namedAt = Date.now();
    await sleep(10);
  }
  await run;
  if (countedAt === undefined || namedAt === undefined || shortId === undefined) return undefined;
  const at = await killTime(ow.url, shortId);
  return at === undefined
    ? undefined
    : { counted: Math.max(0, countedAt - at), named: Math.max(0, namedAt - at) };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

async function round(label: string, args: string[]): Promise<void> {
  const ow = await startOomwatch(args);
  await sleep(3000); // first poll, Docker connected
  const latencies: number[] = [];
  const named: number[] = [];
  let missed = 0;
  const tag = Math.random().toString(16).slice(2, 8);
  for (let i = 0; i < KILLS; i += PARALLEL) {
    const batch = Array.from({ length: Math.min(PARALLEL, KILLS - i) }, (_, j) =>
      oneKill(ow, `bench-oom-${tag}-${i + j}`),
    );
    for (const r of await Promise.all(batch)) {
      if (r === undefined) missed++;
      else {
        latencies.push(r.counted);
        named.push(r.named);
      }
    }
  }
  await ow.stop();
  latencies.sort((a, b) => a - b);
  named.sort((a, b) => a - b);
  const fmt = (xs: number[]): string =>
    `p50 ${percentile(xs, 50).toFixed(0).padStart(5)} ms  p99 ${percentile(xs, 99).toFixed(0).padStart(5)} ms  max ${(xs[xs.length - 1] ?? NaN).toFixed(0).padStart(5)} ms`;
  console.log(`${label.padEnd(40)} kills ${String(latencies.length).padStart(3)}  missed ${missed}`);
  console.log(`  counted (series by id)   ${fmt(latencies)}`);
  console.log(`  with the container name  ${fmt(named)}`);
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench:oom needs root (memory cgroups, /dev/kmsg, Docker)');
  ensureTestImage();
  console.log(
    `oomwatch bench:oom — ${KILLS} real OOM kills (docker run --rm --memory=32m, ${PARALLEL} at a time), kill -> /metrics`,
  );
  console.log(`host: ${os.cpus().length} CPUs, ${os.release()}, node ${process.version}`);
  await round('kernel log + Docker + cgroup (2 s poll)', ['--kmsg', '/dev/kmsg', '--interval', '2']);
  await round('Docker + cgroup, no kernel log', ['--kmsg', 'none', '--interval', '2']);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
