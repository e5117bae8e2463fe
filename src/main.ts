import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { HostKillCounts } from './accounting/host-kills';
import { OomLedger } from './accounting/ledger';
import { RuntimeCgroupHints } from './cgroup/hints';
import { type CgroupLayout, CgroupLayoutError, detectLayout } from './cgroup/layout';
import { FdBudget } from './cgroup/reader';
import { type Config, loadConfig, serveHelp, wantsHelp } from './config';
import { OomwatchError } from './errors';
import { createLogger } from './log';
import { hostKillFamilies } from './metrics/host-families';
import { kmsgFamilies } from './metrics/kmsg-families';
import { kubernetesFamilies } from './metrics/kubernetes-families';
import { MetricsRenderer } from './metrics/render';
import { SelfMetrics } from './metrics/self';
import { listenOn } from './server/listen';
import { oomEventsRoute } from './server/oom-events-api';
import { buildServer } from './server/server';
import type { Source } from './source';
import { Poller } from './sources/cgroup-poller';
import { containerdSourceFromConfig } from './sources/containerd';
import {
  type DockerListener,
  type DockerSource,
  dockerSourceFromConfig,
  podmanSourceFromConfig,
} from './sources/docker';
import { KmsgSource } from './sources/kmsg/source';
import { setUpKubernetes } from './sources/kubernetes';
import { MemoryEventsWatch } from './sources/memory-events-watch';
import { bootIdOrUndefined } from './sources/proc';
import { VmstatSource } from './sources/vmstat';
import { ContainerTable } from './state/containers';
import { Cursors } from './state/cursors';
import { Persistence } from './state/persistence';
import { StateQueries } from './state/queries';
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
 * The composition root: config -> layout -> state -> ledger -> sources -> metrics -> server. It only wires:
 * what each part does is in its own module. Everything that can be wrong with the flags or the host is
 * reported before anything listens.
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
  // Loaded only with --web-config: its YAML parser, bcrypt and TLS setup are no cost to those who do not use it.
  const webConfig =
    config.webConfig === undefined
      ? undefined
      : (await import('./server/web-config')).loadWebConfig(config.webConfig);

  // State first: containers seen from now on get their persisted counters back before anything names them.
  const table = new ContainerTable();
  const store = new StateStore(config.stateDir, log.child({ module: 'state' }));
  store.open();
  const cursors = new Cursors(store, bootIdOrUndefined(config.procRoot));
  const host = new HostKillCounts(log.child({ module: 'ledger' }));
  const persistence = new Persistence(store, table, log.child({ module: 'state' }), host.scopes);
  table.onCreated((entry) => {
    persistence.restore(entry);
    persistence.dirty(entry);
  });

  // The kernel log resumes after the last record this state saw (same boot), so kills that happened while
  // oomwatch was down are counted and none twice.
  const startedAtMs = Date.now();
  const firstStart = cursors.firstStart();
  const kmsgCursor = cursors.kmsg();
  const kmsg =
    config.kmsgPath === null
      ? undefined
      : new KmsgSource({
          path: config.kmsgPath,
          procRoot: config.procRoot,
          log: log.child({ module: 'kmsg' }),
          onKill: (kill) => {
            if (firstStart && kill.timeMs < startedAtMs - 1000) return; // see Cursors.firstStart
            ledger.onKernelKill(kill);
          },
          ...(kmsgCursor ? { cursor: kmsgCursor } : {}),
        });

  // While observations wait for each other, close their windows promptly rather than at the next poll: a
  // 250 ms timer runs while the ledger is busy, and only then.
  let ledgerTimer: NodeJS.Timeout | undefined;
  let stopped = false;
  const armLedgerTimer = (): void => {
    if (ledgerTimer !== undefined || stopped) return;
    ledgerTimer = setTimeout(() => {
      ledgerTimer = undefined;
      ledger.tick();
      if (ledger.busy) armLedgerTimer();
    }, 250);
    ledgerTimer.unref();
  };
  // What the containerd source learns about cgroup paths (its namespaces, ids its users chose): discovery and
  // the ledger map cgroups to containers with it.
  const hints = new RuntimeCgroupHints();
  const ledger = new OomLedger({
    table,
    log: log.child({ module: 'ledger' }),
    sink: persistence,
    host,
    // Long enough for a cgroup counter read at the next poll to meet the kernel-log record of the same kill.
    matchWindowMs: Math.max(5000, 2 * config.intervalMs + 3000),
    kmsgUp: () => kmsg?.up ?? false,
    onWaiting: () => armLedgerTimer(),
    hints,
  });
  ledger.restore(store.loadScopes(), cursors.vmstat());
  persistence.restoreRecentlyGone(Date.now(), config.seriesGraceMs);

  // Docker and Podman (its Docker-compatible API, the same source's code): names, images and compose labels
  // for the series, and oom/die/start events for the ledger, named after the engine that sent them (a
  // --docker-socket that turns out to be Podman's reports Podman's events). Both may run on one host: their
  // containers and cgroups are apart. Work here runs on the event stream: each call only updates memory.
  const engineListener: DockerListener = {
    onOom: (ev) => ledger.onRuntimeOom({ runtime: ev.engine, id: ev.id, timeMs: ev.timeMs }),
    // An exit whose code a container label hid and that could not be looked up is kept as exit code -1
    // (exported as exit_code="unknown"): the exit happened.
    onDie: (ev) =>
      ledger.onRuntimeExit({
        runtime: ev.engine,
        id: ev.id,
        exitCode: ev.exitCode ?? -1,
        timeMs: ev.timeMs,
      }),
    onStart: (ev) => ledger.onRuntimeStart({ runtime: ev.engine, id: ev.id, timeMs: ev.timeMs }),
    // A new limit shows at the next poll, not when the settings are next re-read (every 30 s).
    onUpdate: (ev) => table.get(ev.id)?.reader?.settingsChanged(),
    onMetadata: (id, meta) => {
      // Only containers oomwatch already tracks: the others get it from the cache when first seen.
      const entry = table.get(id);
      if (entry && entry.applyMetadata(meta)) persistence.dirty(entry);
    },
  };
  const dockerCursor = cursors.docker();
  const docker = dockerSourceFromConfig(config, {
    log: log.child({ module: 'docker' }),
    ...(dockerCursor !== undefined ? { cursor: dockerCursor } : {}),
    listener: engineListener,
  });
  const podmanCursor = cursors.podman();
  const podman = podmanSourceFromConfig(config, {
    log: log.child({ module: 'podman' }),
    ...(podmanCursor !== undefined ? { cursor: podmanCursor } : {}),
    listener: engineListener,
  });
  const engines = [docker, podman].filter((s): s is DockerSource => s !== undefined);
  if (engines.length > 0) {
    table.onCreated((entry) => {
      for (const engine of engines) {
        const meta = engine.metadataOf(entry.id);
        if (meta) entry.applyMetadata(meta);
      }
    });
  }
  // containerd (nerdctl, ctr, the CRI plugin): names and images, TaskOOM/TaskExit/TaskStart for the ledger,
  // and its namespaces and cgroups for discovery. Off unless --containerd-socket is given.
  const containerdCursor = cursors.containerd();
  const containerd = containerdSourceFromConfig(config, {
    log: log.child({ module: 'containerd' }),
    hints,
    ...(containerdCursor !== undefined ? { cursor: containerdCursor } : {}),
    listener: {
      onOom: (ev) => ledger.onRuntimeOom({ runtime: 'containerd', id: ev.id, timeMs: ev.timeMs }),
      onExit: (ev) =>
        ledger.onRuntimeExit({ runtime: 'containerd', id: ev.id, exitCode: ev.exitCode, timeMs: ev.timeMs }),
      onStart: (ev) => ledger.onRuntimeStart({ runtime: 'containerd', id: ev.id, timeMs: ev.timeMs }),
      onMetadata: (id, meta) => {
        const entry = table.get(id);
        if (entry && entry.applyMetadata(meta)) persistence.dirty(entry);
      },
    },
  });
  if (containerd) {
    table.onCreated((entry) => {
      const meta = containerd.metadataOf(entry.id);
      if (meta) entry.applyMetadata(meta);
    });
  }
  const vmstat = new VmstatSource({ procRoot: config.procRoot, log: log.child({ module: 'vmstat' }) });
  const eventsWatch = new MemoryEventsWatch(
    layout,
    table,
    ledger,
    log.child({ module: 'memory-events-watch' }),
  );
  // Kubernetes node mode: pod names on the series and OOMKilling Events (off without a cluster).
  const kubernetes = await setUpKubernetes({
    config,
    table,
    kills: ledger,
    log: log.child({ module: 'kubernetes' }),
  });

  const saveCursors = (): void =>
    cursors.save({
      kmsg: kmsg?.cursor,
      docker: docker?.cursor,
      containerd: containerd?.cursor,
      podman: podman?.cursor,
      vmstat: ledger.vmstatBaseline,
    });
  const self = new SelfMetrics({ containerCounts: () => table.counts() });
  let lastPrune = 0;
  const poller = new Poller({
    layout,
    table,
    budget: FdBudget.fromProcessLimits(),
    log: log.child({ module: 'poller' }),
    report: self,
    intervalMs: config.intervalMs,
    seriesGraceMs: config.seriesGraceMs,
    hints,
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

  const sources: Source[] = [
    store,
    vmstat,
    ...(kmsg ? [kmsg] : []),
    ...engines,
    ...(containerd ? [containerd] : []),
    eventsWatch,
    poller,
    ...(kubernetes ? [kubernetes.source] : []),
  ];
  for (const s of sources) self.addSource(s);

  // /metrics: the per-container families, then these, then oomwatch's own (the order of the saved scrapes).
  const renderer = new MetricsRenderer(table, self, [
    ...(kmsg ? [kmsgFamilies(kmsg)] : []),
    hostKillFamilies(ledger),
    ...(kubernetes ? kubernetesFamilies(kubernetes) : []),
  ]);
  const app = buildServer({
    renderer,
    ready: () => poller.ready,
    log: log.child({ module: 'http' }),
    routes: [oomEventsRoute(new StateQueries(store), () => persistence.recentEvents)],
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
      stopped = true;
      if (ledgerTimer !== undefined) clearTimeout(ledgerTimer);
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

export function reportStartupError(err: unknown): number {
  if (err instanceof OomwatchError) {
    process.stderr.write(`${err.message}\n`);
    return err.exitCode;
  }
  process.stderr.write(`oomwatch: ${(err as Error).stack ?? String(err)}\n`);
  return 1;
}
