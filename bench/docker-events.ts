import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import Docker from 'dockerode';
import pino from 'pino';
import { DockerSource, type DockerListener } from '../src/sources/docker';
import { REPO, onCleanup, percentile, runCleanups, sleep } from './lib';

/**
 * `npm run bench:events`: does the Docker source keep up with 100 container starts/deaths per second
 * without losing an event? Prints figures, asserts nothing.
 *
 * 1. Real dockerd: a load generator (this benchmark, not oomwatch) creates and starts `--rm` busybox
 *    containers running `true` as fast as dockerd lets it, with --concurrency workers, for --real-seconds.
 *    Each gives start, die and destroy. The Docker source (read-only, as in oomwatch) follows /events;
 *    a raw /events subscriber counts what dockerd itself emitted. Printed: containers/s dockerd sustained,
 *    events/s, events lost (generated vs delivered), lag from dockerd's timestamp to delivery, p50/p99.
 * 2. Replay: dockerd here cannot start 100 containers a second, so a worker thread serves the Docker API
 *    on a unix socket (/_ping, /version, /containers/json, /events) and streams real-format event lines
 *    (the lines captured from this machine's dockerd in test/fixtures/docker, with fresh ids and times) at
 *    --rates events/s, then as fast as the socket drains ("max"). The same DockerSource, through dockerode
 *    and the real parser, follows it. Printed: sent vs delivered, events/s, lag p50/p99, and the share of
 *    the source thread's time that was busy (event-loop utilisation).
 *
 * Flags: --real-seconds 15 --concurrency 8 --replay-seconds 5 --rates 100,1000,10000,max --skip-real
 */

interface Options {
  realSeconds: number;
  concurrency: number;
  replaySeconds: number;
  rates: Array<number | 'max'>;
  skipReal: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    realSeconds: 15,
    concurrency: 8,
    replaySeconds: 5,
    rates: [100, 1000, 10_000, 'max'],
    skipReal: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--real-seconds') o.realSeconds = Number(next());
    else if (a === '--concurrency') o.concurrency = Number(next());
    else if (a === '--replay-seconds') o.replaySeconds = Number(next());
    else if (a === '--rates')
      o.rates = next()
        .split(',')
        .map((r) => (r === 'max' ? 'max' : Number(r)));
    else if (a === '--skip-real') o.skipReal = true;
    else throw new Error(`unknown flag ${a}; see the comment at the top of bench/docker-events.ts`);
  }
  return o;
}

const IMAGE = 'oomwatch-test/busybox:latest';
const SOCKET = '/var/run/docker.sock';
const quiet = pino({ level: 'silent' });
const nowMs = (): number => performance.timeOrigin + performance.now();
const fmt = (n: number, digits = 1): string => (Number.isFinite(n) ? n.toFixed(digits) : '-');

/** Delivery counts and lags for a set of container ids. */
class Tally implements DockerListener {
  readonly counts = { start: 0, die: 0, destroy: 0, oom: 0 };
  readonly lagsMs: number[] = [];
  constructor(private readonly mine: (id: string) => boolean) {}
  private seen(kind: keyof Tally['counts'], id: string, timeNano: bigint): void {
    if (!this.mine(id)) return;
    this.counts[kind]++;
    this.lagsMs.push(nowMs() - Number(timeNano) / 1e6);
  }
  onStart(e: { id: string; timeNano: bigint }): void {
    this.seen('start', e.id, e.timeNano);
  }
  onDie(e: { id: string; timeNano: bigint }): void {
    this.seen('die', e.id, e.timeNano);
  }
  onDestroy(e: { id: string; timeNano: bigint }): void {
    this.seen('destroy', e.id, e.timeNano);
  }
  onOom(e: { id: string; timeNano: bigint }): void {
    this.seen('oom', e.id, e.timeNano);
  }
  get total(): number {
    return this.counts.start + this.counts.die + this.counts.destroy + this.counts.oom;
  }
}

function lagLine(lags: number[]): string {
  const sorted = [...lags].sort((a, b) => a - b);
  return `lag p50 ${fmt(percentile(sorted, 50), 2)} ms, p99 ${fmt(percentile(sorted, 99), 2)} ms, max ${fmt(sorted[sorted.length - 1] ?? NaN, 2)} ms`;
}

// ---------------------------------------------------------------------------------------------------------
// 1. Real dockerd.

/** Count, per action, the events dockerd emits for containers carrying `label` (an independent subscriber). */
function rawCounter(label: string): { counts: Record<string, number>; close(): void } {
  const counts: Record<string, number> = {};
  const filters = encodeURIComponent(JSON.stringify({ type: ['container'], label: [label] }));
  const req = http.get({ socketPath: SOCKET, path: `/events?filters=${filters}` }, (res) => {
    res.setEncoding('utf8');
    let partial = '';
    res.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) {
        const action = /"Action":"([^"]+)"/.exec(l)?.[1];
        if (action) counts[action] = (counts[action] ?? 0) + 1;
      }
    });
  });
  req.on('error', () => undefined);
  return { counts, close: () => req.destroy() };
}

async function realDockerd(o: Options): Promise<void> {
  const docker = new Docker({ socketPath: SOCKET });
  try {
    await docker.ping();
    await docker.getImage(IMAGE).inspect();
  } catch (err) {
    process.stdout.write(
      `real dockerd: skipped (${(err as Error).message}); needs dockerd and the ${IMAGE} test image (npm test builds it)\n\n`,
    );
    return;
  }
  const label = `oomwatch.bench=${process.pid}-${Date.now()}`;
  const [labelKey, labelValue] = label.split('=') as [string, string];
  onCleanup(() => {
    // The generator's containers are --rm; anything left by an interrupted run is removed here.
    const ids = execFileSync('docker', ['ps', '-aq', '--filter', `label=${label}`], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean);
    if (ids.length > 0) execFileSync('docker', ['rm', '-f', ...ids], { stdio: 'ignore' });
  });

  const generated = new Set<string>();
  const tally = new Tally((id) => generated.has(id));
  const raw = rawCounter(label);
  const source = new DockerSource({ socketPath: SOCKET, listener: tally, log: quiet });
  await source.start();
  if (!source.up) throw new Error('the Docker source did not connect to the real dockerd');
  await sleep(200);

  process.stdout.write(
    `real dockerd: ${o.concurrency} generator workers, ${o.realSeconds} s of create+start of --rm containers running "true"\n`,
  );
  let failures = 0;
  const elu0 = performance.eventLoopUtilization();
  const t0 = nowMs();
  const deadline = t0 + o.realSeconds * 1000;
  const worker = async (): Promise<void> => {
    while (nowMs() < deadline) {
      try {
        const c = await docker.createContainer({
          Image: IMAGE,
          Cmd: ['true'],
          Labels: { [labelKey]: labelValue },
          HostConfig: { AutoRemove: true, NetworkMode: 'none' },
        });
        generated.add(c.id);
        await c.start();
      } catch {
        failures++;
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, () => worker()));
  const genSeconds = (nowMs() - t0) / 1000;
  // Let the last containers exit and be removed.
  const settleUntil = nowMs() + 30_000;
  while (nowMs() < settleUntil && tally.counts.destroy < generated.size - failures) await sleep(100);
  await sleep(500);
  const elu = performance.eventLoopUtilization(elu0);
  await source.stop();
  raw.close();

  const started = generated.size - failures;
  const expected = started * 3;
  const emitted = (raw.counts['start'] ?? 0) + (raw.counts['die'] ?? 0) + (raw.counts['destroy'] ?? 0);
  process.stdout.write(
    [
      `  containers started: ${started} in ${fmt(genSeconds)} s = ${fmt(started / genSeconds)} containers/s (${failures} create/start failures)`,
      `  start+die events: ${fmt((2 * started) / genSeconds)} /s; with destroy ${fmt(expected / genSeconds)} /s`,
      `  dockerd emitted (raw subscriber): start ${raw.counts['start'] ?? 0}, die ${raw.counts['die'] ?? 0}, destroy ${raw.counts['destroy'] ?? 0}`,
      `  source delivered:                 start ${tally.counts.start}, die ${tally.counts.die}, destroy ${tally.counts.destroy}`,
      `  lost: ${expected - tally.total} of ${expected} generated (${emitted - tally.total} of ${emitted} emitted); duplicates skipped ${source.stats.duplicates}, parse errors ${source.stats.parseErrors}`,
      `  ${lagLine(tally.lagsMs)} (dockerd timestamp to listener call)`,
      `  event-loop utilisation of the process (generator + source): ${fmt(elu.utilization * 100)} %`,
    ].join('\n') + '\n\n',
  );
}

// ---------------------------------------------------------------------------------------------------------
// 2. Replay through a Docker-API-shaped server in a worker thread.

interface ReplayJob {
  socketPath: string;
  rate: number | 'max';
  seconds: number;
  templates: string[];
}

/** Real lines for one container's life: start, oom, die, destroy (from the capture of an OOM kill). */
function loadTemplates(): string[] {
  const file = path.join(REPO, 'test', 'fixtures', 'docker', 'current', 'oom.jsonl');
  const lines = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
  const pick = (action: string): string => {
    const l = lines.find((x) => x.includes(`"Action":"${action}"`));
    if (!l) throw new Error(`${file} has no ${action} line: run test/fixtures/docker/capture.sh`);
    return l;
  };
  return [pick('start'), pick('oom'), pick('die'), pick('destroy')];
}

/** The worker: a Docker-API-shaped server that streams `rate` events/s of real-format lines. */
function serveReplay(job: ReplayJob): void {
  const parts = job.templates.map((line) => {
    const id = (/"id":"([0-9a-f]{64})"/.exec(line) as RegExpExecArray)[1] as string;
    const body = line.replace(/"time":\d+,"timeNano":\d+\}$/, '');
    return body.split(id);
  });
  let seq = 0;
  let lastNs = 0n;
  const line = (): string => {
    const container = Math.floor(seq / parts.length);
    const p = parts[seq % parts.length] as string[];
    seq++;
    const id = container.toString(16).padStart(64, '0');
    let ns = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
    if (ns <= lastNs) ns = lastNs + 1n;
    lastNs = ns;
    return `${p.join(id)}"time":${ns / 1_000_000_000n},"timeNano":${ns}}\n`;
  };

  const server = http.createServer((req, res) => {
    const url = req.url ?? '';
    if (url.startsWith('/_ping')) return void res.end('OK');
    if (url.startsWith('/version'))
      return void res.end(JSON.stringify({ Version: 'replay', ApiVersion: '1.41' }));
    if (url.startsWith('/containers/json')) return void res.end('[]');
    if (url.startsWith('/containers/')) {
      res.statusCode = 404;
      return void res.end(JSON.stringify({ message: 'No such container' }));
    }
    if (!url.startsWith('/events')) {
      res.statusCode = 404;
      return void res.end();
    }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.flushHeaders();
    const started = performance.now();
    const end = started + job.seconds * 1000;
    const finish = (): void => {
      parentPort?.postMessage({ sent: seq, seconds: (performance.now() - started) / 1000 });
      // Keep the stream open: the source must not see a disconnect while it drains what was sent.
    };
    if (job.rate === 'max') {
      const pump = (): void => {
        while (performance.now() < end) {
          let chunk = '';
          for (let i = 0; i < 64; i++) chunk += line();
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        finish();
      };
      pump();
      return;
    }
    const rate = job.rate;
    const tick = setInterval(() => {
      const now = Math.min(performance.now(), end);
      const due = Math.floor(((now - started) / 1000) * rate);
      let chunk = '';
      while (seq < due) chunk += line();
      if (chunk) res.write(chunk);
      if (now >= end) {
        clearInterval(tick);
        finish();
      }
    }, 1);
  });
  server.listen(job.socketPath, () => parentPort?.postMessage({ listening: true }));
}

async function replay(o: Options): Promise<void> {
  const templates = loadTemplates();
  process.stdout.write(
    `replay: real-format lines (start, oom, die, destroy per container) from a Docker-API-shaped server in a worker thread, ${o.replaySeconds} s per rate\n`,
  );
  for (const rate of o.rates) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-bench-events-'));
    onCleanup(() => fs.rmSync(dir, { recursive: true, force: true }));
    const socketPath = path.join(dir, 'docker.sock');
    const job: ReplayJob = { socketPath, rate, seconds: o.replaySeconds, templates };
    const worker = new Worker(__filename, { workerData: job });
    let done: { sent: number; seconds: number } | undefined;
    await new Promise<void>((resolve, reject) => {
      worker.on('message', (m: { listening?: boolean; sent?: number; seconds?: number }) => {
        if (m.listening) resolve();
        if (m.sent !== undefined) done = { sent: m.sent, seconds: m.seconds as number };
      });
      worker.on('error', reject);
    });

    const tally = new Tally(() => true);
    const source = new DockerSource({ socketPath, listener: tally, log: quiet });
    const elu0 = performance.eventLoopUtilization();
    await source.start();
    while (done === undefined) await sleep(20);
    const drainUntil = nowMs() + 30_000;
    while (tally.total < done.sent && nowMs() < drainUntil) await sleep(20);
    const elu = performance.eventLoopUtilization(elu0);
    await source.stop();
    await worker.terminate();

    const label = rate === 'max' ? 'max' : `${rate}/s`;
    process.stdout.write(
      [
        `  rate ${label}: sent ${done.sent} events in ${fmt(done.seconds)} s = ${fmt(done.sent / done.seconds, 0)} events/s; delivered ${tally.total}, lost ${done.sent - tally.total}, parse errors ${source.stats.parseErrors}, duplicates ${source.stats.duplicates}`,
        `    ${lagLine(tally.lagsMs)} (server timestamp to listener call); source thread busy ${fmt(elu.utilization * 100)} %`,
      ].join('\n') + '\n',
    );
  }
  process.stdout.write('\n');
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  process.stdout.write(`bench:events on ${os.cpus().length} CPUs, Node ${process.version}\n\n`);
  if (!o.skipReal) await realDockerd(o);
  await replay(o);
  runCleanups();
}

if (isMainThread) {
  main().catch((err: unknown) => {
    process.stderr.write(`bench:events: ${(err as Error).stack ?? String(err)}\n`);
    runCleanups();
    process.exit(1);
  });
} else {
  serveReplay(workerData as ReplayJob);
}
