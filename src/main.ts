import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { type CgroupLayout, CgroupLayoutError, detectLayout } from './cgroup/layout';
import { FdBudget } from './cgroup/reader';
import { type Config, loadConfig, serveHelp, wantsHelp } from './config';
import { OomwatchError } from './errors';
import { createLogger } from './log';
import { MetricsRenderer } from './metrics/render';
import { SelfMetrics } from './metrics/self';
import { Poller } from './sources/cgroup-poller';
import { listenOn } from './server/listen';
import { buildServer } from './server/server';
import { loadWebConfig } from './server/web-config';
import { dockerSourceFromConfig } from './sources/docker';
import { KmsgSource, kmsgFamilies } from './sources/kmsg/source';
import { MemoryEventsWatch } from './sources/memory-events-watch';
import { VmstatSource } from './sources/vmstat';
import { setUpKubernetes } from './sources/kubernetes';
import type { Source } from './source';
import { OomLedger } from './accounting/ledger';
import { oomEventsRoute } from './server/oom-events-api';
import { ContainerTable } from './state/containers';
import { Persistence } from './state/persistence';
import { StateStore } from './state/store';

/** A running oomwatch daemon, as main() wires it; tests start one in-process. */
export interface Daemon {
  config: Config;
  layout: CgroupLayout;
  app: FastifyInstance;
  table: ContainerTable;
  poller: Poller;
  ledger: OomLedger;
  store: StateStore;
  sources: Source[];
  log: Logger;
  /** The address actually listened on (port 0 resolves to a real port). */
  address: string;
  stop(): Promise<void>;
}

/**
 * The composition root: config -> layout -> sources -> poller -> server. Everything that can be wrong
 * with the flags or the host is reported before anything listens.
 */
export async function startDaemon(config: Config, log: Logger): Promise<Daemon> {
  let layout: CgroupLayout;
  try {
    layout = detectLayout(config.cgroupRoot);
  } catch (err) {
    if (err instanceof CgroupLayoutError)
      throw new OomwatchError('OOMW_CGROUP_ROOT', `oomwatch: ${err.message}`);
    throw err;
  }
  const webConfig = config.webConfig === undefined ? undefined : loadWebConfig(config.webConfig);

  const table = new ContainerTable();
  const self = new SelfMetrics({
    containerCounts: () => {
      let present = 0;
      let gone = 0;
      for (const e of table.values())
        if (e.present) present++;
        else gone++;
      return { present, gone };
    },
  });
  const renderer = new MetricsRenderer(table, self);

  // State first: containers seen from now on get their persisted counters back.
  const store = new StateStore(config.stateDir, log.child({ module: 'state' }));
  store.open();
  const persistence = new Persistence(store, table, log.child({ module: 'state' }));
  table.onCreate = (entry) => {
    persistence.restore(entry);
    persistence.dirty(entry);
  };
  const ledger = new OomLedger({
    table,
    log: log.child({ module: 'ledger' }),
    sink: persistence,
    // Long enough for a cgroup counter read at the next poll to meet the kernel-log record of the same kill.
    matchWindowMs: Math.max(5000, 2 * config.intervalMs + 3000),
    kmsgUp: () => kmsg?.up ?? false,
  });
  persistence.scopesSource = () => ({ ...ledger.scopes });

  // The kernel log resumes after the last record this state saw (same boot), so kills that happened while
  // oomwatch was down are counted and none twice; /proc/vmstat's baseline likewise, within one boot.
  const bootId = readBootId(config.procRoot);
  const startedAtMs = Date.now();
  const kmsgBoot = store.getMeta('kmsg_boot_id');
  const kmsgSeq = Number(store.getMeta('kmsg_seq'));
  const kmsg =
    config.kmsgPath === null
      ? undefined
      : new KmsgSource({
          path: config.kmsgPath,
          procRoot: config.procRoot,
          log: log.child({ module: 'kmsg' }),
          onKill: (kill) => {
            // With no cursor at all this is oomwatch's first start on this host: the ring's older kills predate
            // it. Present containers still count theirs (from their cgroup counters); gone ones get no series,
            // so a first deployment does not raise an alert for every kill since boot.
            if (kmsgBoot === undefined && kill.timeMs < startedAtMs - 1000) return;
            ledger.onKernelKill(kill);
          },
          ...(kmsgBoot !== undefined && Number.isInteger(kmsgSeq)
            ? { cursor: { bootId: kmsgBoot, seq: kmsgSeq } }
            : {}),
        });
  if (kmsg) renderer.contribute(kmsgFamilies(kmsg));

  // Docker: names, images and compose labels for the series, and oom/die/start events for the ledger.
  // Work here runs on the event stream: each call only updates memory.
  const dockerCursor = store.getMeta('docker_since_nano');
  const docker = dockerSourceFromConfig(config, {
    log: log.child({ module: 'docker' }),
    ...(dockerCursor !== undefined && /^\d+$/.test(dockerCursor) ? { cursor: BigInt(dockerCursor) } : {}),
    listener: {
      onOom: (ev) => ledger.onDockerOom(ev),
      // An exit whose code a container label hid and that could not be looked up is kept as exit code -1
      // (exported as exit_code="unknown"): the exit happened.
      onDie: (ev) =>
        ledger.onDockerDie({
          id: ev.id,
          exitCode: ev.exitCode ?? -1,
          timeMs: ev.timeMs,
          timeNano: ev.timeNano,
        }),
      onStart: (ev) => ledger.onDockerStart(ev.id, ev.timeMs),
      onMetadata: (id, meta) => {
        // Only containers oomwatch already tracks: the others get it from the cache when first seen.
        const entry = table.get(id);
        if (entry && entry.applyMetadata(meta)) persistence.dirty(entry);
      },
    },
  });
  const restoreOnCreate = table.onCreate;
  table.onCreate = (entry) => {
    restoreOnCreate?.(entry);
    const meta = docker?.metadataOf(entry.id);
    if (meta) entry.applyMetadata(meta);
  };
  const vmstat = new VmstatSource({ procRoot: config.procRoot, log: log.child({ module: 'vmstat' }) });
  const vmstatBase = Number(store.getMeta('vmstat_base'));
  const vmstatBaseTime = Number(store.getMeta('vmstat_base_time_ms'));
  const sameBoot = bootId !== undefined && store.getMeta('vmstat_boot_id') === bootId;
  ledger.restore(
    store.loadScopes(),
    sameBoot && Number.isFinite(vmstatBase) && Number.isFinite(vmstatBaseTime)
      ? { base: vmstatBase, timeMs: vmstatBaseTime }
      : undefined,
  );
  persistence.restoreRecentlyGone(Date.now(), config.seriesGraceMs);
  renderer.contribute((w) => ledger.writeFamilies(w));

  const eventsWatch = new MemoryEventsWatch(
    layout,
    table,
    ledger,
    log.child({ module: 'memory-events-watch' }),
  );

  let lastPrune = 0;
  const poller = new Poller({
    layout,
    table,
    budget: FdBudget.fromProcessLimits(),
    log: log.child({ module: 'poller' }),
    metrics: self,
    intervalMs: config.intervalMs,
    seriesGraceMs: config.seriesGraceMs,
    listener: {
      onCgroupOomKills: (entry, delta, sample, previousReadMs) =>
        ledger.onCgroupOomKills(entry, delta, sample, previousReadMs),
      onContainerGone: (entry) => persistence.dirty(entry),
      onPollComplete: (now, dropped) => {
        for (const id of dropped) ledger.forget(id);
        const hostKills = vmstat.read();
        if (hostKills !== undefined) ledger.reconcileVmstat(hostKills);
        ledger.tick();
        eventsWatch.sync();
        persistence.afterPoll(now);
        saveCursors();
        if (now - lastPrune > 3_600_000) {
          lastPrune = now;
          store.prune(now - config.retentionMs);
        }
      },
    },
  });
  // While observations wait for each other, close their windows promptly rather than at the next poll.
  const ledgerTimer = setInterval(() => {
    if (ledger.busy) ledger.tick();
  }, 250);
  ledgerTimer.unref();

  // Cursors are saved after the counters they cover (afterPoll flushes first): a crash in between replays
  // a little, and the ledger's keys make the replay count nothing twice.
  const saveCursors = (): void => {
    const meta: Record<string, string> = {};
    const c = kmsg?.cursor;
    if (c) {
      meta['kmsg_boot_id'] = c.bootId;
      meta['kmsg_seq'] = String(c.seq);
    }
    const dc = docker?.cursor;
    if (dc !== undefined) meta['docker_since_nano'] = dc.toString();
    const base = ledger.vmstatBaseline;
    if (base !== undefined && bootId !== undefined) {
      meta['vmstat_boot_id'] = bootId;
      meta['vmstat_base'] = String(base.base);
      meta['vmstat_base_time_ms'] = String(base.timeMs);
    }
    if (Object.keys(meta).length > 0) store.setMeta(meta);
  };

  const sources: Source[] = [
    store,
    vmstat,
    ...(kmsg ? [kmsg] : []),
    ...(docker ? [docker] : []),
    eventsWatch,
    poller,
  ];
  // Kubernetes node mode: pod names on the series and OOMKilling Events (off without a cluster).
  const kubernetes = await setUpKubernetes({
    config,
    table,
    ledger,
    renderer,
    log: log.child({ module: 'kubernetes' }),
  });
  if (kubernetes) sources.push(kubernetes);
  for (const s of sources) self.addSource(s);

  const app = buildServer({
    renderer,
    ready: () => poller.ready,
    log: log.child({ module: 'http' }),
    routes: [oomEventsRoute(store, () => persistence.recentEvents)],
    ...(webConfig ? { webConfig } : {}),
  });

  for (const s of sources) {
    if (s === store) continue; // opened above
    try {
      await s.start();
    } catch (err) {
      log.error({ err, source: s.name }, 'source failed to start; oomwatch carries on without it');
    }
  }
  log.info(
    { mode: layout.mode, memoryRoot: layout.memoryRoot, pressureRoot: layout.pressureRoot },
    'cgroup layout detected',
  );

  const address = await listenOn(app, config.listen.host, config.listen.port);
  log.info(
    { address, tls: webConfig?.tls !== undefined, basicAuth: webConfig?.basicAuthUsers !== undefined },
    'listening',
  );

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await app.close().catch((err: unknown) => log.warn({ err }, 'closing the HTTP server failed'));
      // One source failing to stop never keeps the others from stopping.
      clearInterval(ledgerTimer);
      await Promise.all(
        sources
          .filter((s) => s !== store)
          .map((s) =>
            s.stop().catch((err: unknown) => log.warn({ err, source: s.name }, 'source failed to stop')),
          ),
      );
      // Last: everything counted up to the end is written before the database closes.
      ledger.tick();
      persistence.stop();
      saveCursors();
      await store.stop();
    })();
    return stopping;
  };
  return { config, layout, app, table, poller, ledger, store, sources, log, address, stop };
}

/** `oomwatch serve`: runs until SIGTERM or SIGINT; returns the process exit code. */
export async function serve(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  if (wantsHelp(argv)) {
    process.stdout.write(`${serveHelp()}\n`);
    return 0;
  }
  let config: Config;
  try {
    config = loadConfig(argv, env);
  } catch (err) {
    return reportStartupError(err);
  }
  const log = createLogger(config.logLevel);
  let daemon: Daemon;
  try {
    daemon = await startDaemon(config, log);
  } catch (err) {
    log.flush();
    return reportStartupError(err);
  }

  return new Promise<number>((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals): void => {
      signals++;
      if (signals > 1) {
        log.warn({ signal }, 'second signal: exiting at once');
        log.flush();
        resolve(130);
        return;
      }
      log.info({ signal }, 'shutting down');
      const deadline = setTimeout(() => {
        log.error('shutdown took longer than 10 s: exiting anyway');
        resolve(1);
      }, 10_000);
      deadline.unref();
      void daemon.stop().then(() => {
        clearTimeout(deadline);
        log.info('stopped');
        log.flush();
        resolve(0);
      });
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

function readBootId(procRoot: string): string | undefined {
  try {
    return fs.readFileSync(path.join(procRoot, 'sys/kernel/random/boot_id'), 'utf8').trim();
  } catch {
    return undefined;
  }
}

export function reportStartupError(err: unknown): number {
  if (err instanceof OomwatchError) {
    process.stderr.write(`${err.message}\n`);
    return err.exitCode;
  }
  process.stderr.write(`oomwatch: ${(err as Error).stack ?? String(err)}\n`);
  return 1;
}
