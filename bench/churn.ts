import * as os from 'node:os';
import {
  cpuMs,
  createV1Tree,
  get,
  memoryOf,
  openFds,
  removeStaleBenchCgroups,
  requireRoot,
  runCleanups,
  sampleValue,
  seriesCount,
  sleep,
  startDaemon,
  startScript,
  until,
} from './lib';

/**
 * `npm run bench:churn`: creates and removes 10,000 container cgroups (real v1 memory cgroups in the Docker
 * cgroupfs layout, under a bench-only parent) while oomwatch polls, and prints oomwatch's resident memory,
 * series count and open descriptors at the start, along the way and at the end. The series of gone
 * containers must disappear after --series-grace, and memory and descriptors must come back down.
 * Nothing is asserted: it prints. Flags: --containers 10000 --batch 100 --live-batches 3 --interval 200ms
 * --series-grace 5s --settle SECONDS (120) --node-arg FLAG (repeatable, after the node flags of `npm start`) --bare-node (without them and its environment).
 */

interface Options {
  containers: number;
  batch: number;
  liveBatches: number;
  interval: string;
  seriesGrace: string;
  /** How long to keep watching once everything is gone (readings every 30 s). */
  settleS: number;
  nodeArgs: string[];
  /** The environment npm start gives node (GLIBC_TUNABLES). */
  env: Record<string, string>;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    containers: 10_000,
    batch: 100,
    liveBatches: 3,
    interval: '200ms',
    seriesGrace: '5s',
    settleS: 120,
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
    if (flag === '--containers') o.containers = Number(value());
    else if (flag === '--batch') o.batch = Number(value());
    else if (flag === '--live-batches') o.liveBatches = Number(value());
    else if (flag === '--interval') o.interval = value();
    else if (flag === '--series-grace') o.seriesGrace = value();
    else if (flag === '--settle') o.settleS = Number(value());
    else if (flag === '--node-arg') o.nodeArgs.push(value());
    else if (flag === '--bare-node') {
      o.nodeArgs = [];
      o.env = {};
    } else throw new Error(`unknown flag ${flag}; see the comment at the top of bench/churn.ts`);
  }
  return o;
}

const durationMs = (text: string): number => {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text);
  if (!m) throw new Error(`cannot read the duration "${text}" (e.g. 5s, 500ms)`);
  return Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 'm' ? 60_000 : 1000);
};

interface Reading {
  label: string;
  created: number;
  live: number;
  present: number;
  gone: number;
  series: number;
  containerSeries: number;
  rssMb: number;
  heapUsedMb: number;
  fds: number;
  cpuS: number;
  /** Series per metric family name, to tell which ones grew. */
  families: Map<string, number>;
}

function seriesPerFamily(body: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of body.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const name = (/^[^{ ]+/.exec(line) as RegExpExecArray)[0].replace(/_(bucket|sum|count)$/, '');
    out.set(name, (out.get(name) ?? 0) + 1);
  }
  return out;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  requireRoot();
  removeStaleBenchCgroups();
  console.log(
    `oomwatch churn benchmark: node ${process.version}, kernel ${os.release()}: ${o.containers} containers created and ` +
      `removed in batches of ${o.batch} (${o.liveBatches} batches alive at once), --interval ${o.interval}, --series-grace ${o.seriesGrace}`,
  );
  const tree = createV1Tree(0);
  const daemon = await startDaemon({
    cgroupRoot: tree.root,
    interval: o.interval,
    seriesGrace: o.seriesGrace,
    nodeArgs: o.nodeArgs,
    env: o.env,
  });
  let created = 0;
  const readings: Reading[] = [];
  const read = async (label: string): Promise<Reading> => {
    const body = (await get(daemon.port, '/metrics')).body;
    const series = seriesCount(body);
    const mem = memoryOf(daemon.pid);
    const r: Reading = {
      label,
      created,
      live: tree.containers.length,
      present: sampleValue(body, 'oomwatch_containers{state="present"}') ?? NaN,
      gone: sampleValue(body, 'oomwatch_containers{state="gone"}') ?? NaN,
      series: series.all,
      containerSeries: series.container,
      rssMb: mem.rssMb,
      heapUsedMb: (sampleValue(body, 'nodejs_heap_size_used_bytes') ?? NaN) / 2 ** 20,
      fds: openFds(daemon.pid),
      cpuS: cpuMs(daemon.pid) / 1000,
      families: seriesPerFamily(body),
    };
    readings.push(r);
    const pad = (v: string | number, w: number): string => String(v).padStart(w);
    if (readings.length === 1) {
      console.log(
        [pad('', 14), pad('created', 8), pad('live', 6), pad('present', 8), pad('gone', 6), pad('series', 8), pad('container', 10),
          pad('RSS MB', 8), pad('heap MB', 8), pad('fds', 6), pad('CPU s', 7)].join(' '), // prettier-ignore
      );
    }
    console.log(
      [pad(label, 14), pad(r.created, 8), pad(r.live, 6), pad(r.present, 8), pad(r.gone, 6), pad(r.series, 8),
        pad(r.containerSeries, 10), pad(r.rssMb.toFixed(1), 8), pad(r.heapUsedMb.toFixed(1), 8), pad(r.fds, 6),
        pad(r.cpuS.toFixed(1), 7)].join(' '), // prettier-ignore
    );
    return r;
  };
  const pollsNow = async (): Promise<number> =>
    sampleValue((await get(daemon.port, '/metrics')).body, 'oomwatch_polls_total') ?? 0;
  const waitPolls = async (n: number): Promise<void> => {
    const from = await pollsNow();
    await until(`${n} polls`, 60_000, async () => ((await pollsNow()) >= from + n ? true : undefined));
  };

  try {
    await until('/readyz', 60_000, async () =>
      (await get(daemon.port, '/readyz')).status === 200 ? true : undefined,
    );
    await waitPolls(10);
    const start = await read('start');

    const batches: string[][] = [];
    let round = 0;
    while (created < o.containers) {
      const added = tree.add(Math.min(o.batch, o.containers - created));
      created += added.length;
      batches.push(added);
      // Each batch lives through at least one poll, so oomwatch sees it appear and go.
      await waitPolls(1);
      if (batches.length > o.liveBatches) tree.remove(batches.shift() as string[]);
      if (++round % 10 === 0) await read('churning');
    }
    while (batches.length > 0) tree.remove(batches.shift() as string[]);
    await waitPolls(2);
    await read('all removed');

    const graceMs = durationMs(o.seriesGrace);
    await sleep(graceMs);
    await until('the gone containers to be dropped', 60_000, async () => {
      const body = (await get(daemon.port, '/metrics')).body;
      return sampleValue(body, 'oomwatch_containers{state="gone"}') === 0 ? true : undefined;
    });
    await waitPolls(2);
    const end = await read('after grace');
    // The heap of the dropped containers is garbage now; an idle daemon allocates little, so V8 collects and
    // gives pages back over the next minutes (its memory reducer), not at once.
    let settled = end;
    for (let waited = 0; waited < o.settleS; waited += 30) {
      await sleep(30_000);
      settled = await read(`${waited + 30} s later`);
    }

    const peak = readings.reduce((a, r) => (r.rssMb > a.rssMb ? r : a), start);
    const peakSeries = readings.reduce((a, r) => Math.max(a, r.series), 0);
    console.log('');
    const peakContainer = readings.reduce((a, r) => Math.max(a, r.containerSeries), 0);
    console.log(
      `container series: start ${start.containerSeries}, peak ${peakContainer}, end ${end.containerSeries}`,
    );
    console.log(`all series:  start ${start.series}, peak ${peakSeries}, end ${end.series}`);
    const grown = [...end.families].filter(([f, n]) => n > (start.families.get(f) ?? 0));
    if (grown.length > 0) {
      console.log(
        `  families with more series than at the start: ${grown.map(([f, n]) => `${f} ${start.families.get(f) ?? 0} -> ${n}`).join(', ')}`,
      );
    }
    console.log(
      `RSS:         start ${start.rssMb.toFixed(1)} MB, peak ${peak.rssMb.toFixed(1)} MB, end ${end.rssMb.toFixed(1)} MB, ${o.settleS} s later ${settled.rssMb.toFixed(1)} MB; high-water mark ${memoryOf(daemon.pid).hwmMb.toFixed(1)} MB`,
    );
    console.log(
      `heap used:   start ${start.heapUsedMb.toFixed(1)} MB, end ${end.heapUsedMb.toFixed(1)} MB, ${o.settleS} s later ${settled.heapUsedMb.toFixed(1)} MB`,
    );
    console.log(`descriptors: start ${start.fds}, end ${end.fds}`);
  } finally {
    await daemon.stop();
    tree.destroy();
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
