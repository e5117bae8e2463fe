import * as fs from 'node:fs';
import type * as client from 'prom-client';
import type { Source } from '../source';
import { type ExpositionWriter, type FamilyType, renderLabels } from './exposition';
import { VERSION, REVISION } from '../version';

/**
 * prom-client's parts, each from its own module. Its index also loads the Pushgateway (node's https, tls,
 * crypto and zlib) and the cluster aggregator (cluster, child_process, dgram), which oomwatch never uses:
 * about 2 MB of resident memory for nothing. The types still come from the package's own declarations.
 */
/* eslint-disable @typescript-eslint/no-require-imports */
const Registry = require('prom-client/lib/registry') as typeof client.Registry;
const Gauge = require('prom-client/lib/gauge') as typeof client.Gauge;
const Counter = require('prom-client/lib/counter') as typeof client.Counter;
const Histogram = require('prom-client/lib/histogram') as typeof client.Histogram;
const collectDefaultMetrics =
  require('prom-client/lib/defaultMetrics') as typeof client.collectDefaultMetrics;
/* eslint-enable @typescript-eslint/no-require-imports */

/**
 * prom-client's default metrics include three gauges named like counters (`_total`), which Prometheus'
 * linter (`promtool check metrics`) rejects and OpenMetrics reserves for counters. Their values are the sums
 * of the per-type gauges that are exported (nodejs_active_handles{type} and the like), so nothing is lost.
 */
const NOT_EXPORTED = new Set([
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
]);

/**
 * oomwatch's own health: build info, poll timing and errors, per-source up, and the process metrics.
 * These live in a private prom-client registry and are rendered through ExpositionWriter, so the same
 * objects serve both exposition formats (prom-client renames counters in place when asked for OpenMetrics).
 */
export class SelfMetrics {
  readonly registry = new Registry();
  readonly pollDuration: client.Histogram;
  readonly pollErrors: client.Counter<'kind'>;
  readonly polls: client.Counter;
  readonly lastPoll: client.Gauge;
  private readonly sources: Source[] = [];

  constructor(
    opts: { processMetrics?: boolean; containerCounts?: () => { present: number; gone: number } } = {},
  ) {
    const registers = [this.registry];
    new Gauge({
      name: 'oomwatch_build_info',
      help: 'Always 1: the oomwatch version, its source revision and the Node.js version it runs on.',
      labelNames: ['version', 'revision', 'nodejs_version'],
      registers,
    }).set({ version: VERSION, revision: REVISION, nodejs_version: process.version }, 1);
    this.pollDuration = new Histogram({
      name: 'oomwatch_poll_duration_seconds',
      help: 'Wall time of one poll of every container memory cgroup.',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.pollErrors = new Counter({
      name: 'oomwatch_poll_errors_total',
      help: 'Cgroup files that could not be read or parsed, by kind (read, parse, missing_file, fd_limit, discovery); the affected series are dropped until the file reads again.',
      labelNames: ['kind'],
      registers,
    });
    for (const kind of ['read', 'parse', 'missing_file', 'fd_limit', 'discovery'])
      this.pollErrors.inc({ kind }, 0);
    this.polls = new Counter({
      name: 'oomwatch_polls_total',
      help: 'Completed polls of the cgroup tree.',
      registers,
    });
    this.lastPoll = new Gauge({
      name: 'oomwatch_last_poll_timestamp_seconds',
      help: 'Unix time the last poll completed.',
      registers,
    });
    const sources = this.sources;
    new Gauge({
      name: 'oomwatch_source_up',
      help: 'Whether each source of oomwatch works: cgroup (polling), kmsg (kernel log), vmstat, docker, podman, containerd, state (database), kubernetes.',
      labelNames: ['source'],
      registers,
      collect() {
        this.reset();
        for (const s of sources) this.set({ source: s.name }, s.up ? 1 : 0);
      },
    });
    const counts = opts.containerCounts;
    if (counts) {
      new Gauge({
        name: 'oomwatch_containers',
        help: 'Containers known to oomwatch: present, or gone and kept for the series grace period.',
        labelNames: ['state'],
        registers,
        collect() {
          const c = counts();
          this.set({ state: 'present' }, c.present);
          this.set({ state: 'gone' }, c.gone);
        },
      });
    }
    if (opts.processMetrics !== false) {
      // The event-loop delay histogram samples on a timer: prom-client's default of 10 ms woke the idle
      // daemon 100 times a second (1.2% of a core doing nothing). 100 ms still catches every stall that
      // would delay a scrape.
      collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 100 });
      replaceOpenFdsGauge(this.registry);
    }
  }

  // PollReport (sources/cgroup-poller.ts): the poller's own figures.
  pollTimed(seconds: number): void {
    this.pollDuration.observe(seconds);
  }

  pollCompleted(atMs: number): void {
    this.polls.inc();
    this.lastPoll.set(atMs / 1000);
  }

  pollError(kind: string): void {
    this.pollErrors.inc({ kind });
  }

  addSource(source: Source): void {
    this.sources.push(source);
  }

  /** Render every self metric into the writer. */
  async write(w: ExpositionWriter): Promise<void> {
    const families = await this.registry.getMetricsAsJSON();
    for (const fam of families) {
      if (NOT_EXPORTED.has(fam.name)) continue;
      const type = fam.type as unknown as FamilyType;
      w.family(fam.name, type, fam.help);
      for (const v of fam.values) {
        const name = (v as { metricName?: string }).metricName ?? fam.name;
        w.sample(name, renderLabels((v.labels ?? {}) as Record<string, string | number>), v.value);
      }
    }
  }
}

/** How long a count of open descriptors is reused. */
const OPEN_FDS_MAX_AGE_MS = 15_000;

/**
 * prom-client counts open descriptors by listing /proc/self/fd on every scrape. oomwatch keeps several
 * descriptors open per container, so with a thousand containers that listing of 9,000 entries was most of
 * a scrape's cost. The count is taken at most every 15 s instead: a descriptor leak is a trend over hours.
 */
function replaceOpenFdsGauge(registry: client.Registry): void {
  if (registry.getSingleMetric('process_open_fds') === undefined) return; // not Linux
  registry.removeSingleMetric('process_open_fds');
  let countedAtMs = -Infinity;
  new Gauge({
    name: 'process_open_fds',
    help: 'Number of open file descriptors.',
    registers: [registry],
    collect() {
      const now = Date.now();
      if (now - countedAtMs < OPEN_FDS_MAX_AGE_MS) return;
      countedAtMs = now;
      try {
        // Less the descriptor readdirSync itself used.
        this.set(fs.readdirSync('/proc/self/fd').length - 1);
      } catch {
        // /proc not mounted: the gauge keeps its last value, as prom-client's own does
      }
    },
  });
}
