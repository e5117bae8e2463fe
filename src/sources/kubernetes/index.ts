import type { Logger } from 'pino';
import type { Config } from '../../config';
import type { ContainerEntry, ContainerTable } from '../../state/containers';
import type { OomKill } from '../../state/oom-kill';
import type { Source } from '../../source';
import { ClusterConfigError, chooseCluster, loadClient } from './client';
import { OomEventWriter } from './events';
import { KubernetesPodSource } from './pod-source';

/** Kubernetes node mode as main.ts wires it: one source, and its parts for /metrics and the ledger. */
export interface KubernetesSetup {
  /** The `kubernetes` source: up while the pod list/watch is. */
  source: Source;
  /** The pod metadata source (absent when the configuration cannot work: the source is then down). */
  pods?: KubernetesPodSource;
  /** The OOM Event writer, fed from `kills` (absent with --k8s-events=false). */
  writer?: OomEventWriter;
}

/**
 * Kubernetes node mode, wired as one source named `kubernetes`: the pod metadata source and, unless
 * --k8s-events=false, the OOM Event writer fed by the ledger's kills.
 *
 * Without a cluster (not in a pod, no kubeconfig) there is no source at all and one info line says so:
 * containers in pods are still attributed from their cgroup paths (pod UID, container id, QoS class on
 * oomwatch_container_info), only the names are missing. A cluster that is configured but unusable (no node
 * name, unreadable kubeconfig) is a source that is down, with an error that says what to fix.
 */
/** Where counted kills come from (the OOM ledger's onKill). */
export interface KillFeed {
  onKill(
    listener: (
      kill: Readonly<OomKill>,
      entry: ContainerEntry | undefined,
      change: 'counted' | 'updated',
    ) => void,
  ): void;
}

export async function setUpKubernetes(deps: {
  config: Config;
  table: ContainerTable;
  /** The kills the Event writer reports. */
  kills: KillFeed;
  log: Logger;
  env?: NodeJS.ProcessEnv;
  /** Tests: prefix of /var/run/secrets/kubernetes.io/serviceaccount. */
  serviceAccountPrefix?: string;
}): Promise<KubernetesSetup | undefined> {
  const { config, log } = deps;
  const choice = chooseCluster({
    kubeconfig: config.kubeconfig,
    env: deps.env ?? process.env,
    ...(deps.serviceAccountPrefix !== undefined ? { serviceAccountPrefix: deps.serviceAccountPrefix } : {}),
  });
  if (choice.kind === 'none') {
    log.info(
      { why: choice.why },
      'Kubernetes source off: pods are attributed from cgroup paths alone (pod UID, container id, QoS class), without namespace, pod and container names',
    );
    return undefined;
  }
  if (!config.nodeName) {
    if (choice.kind === 'kubeconfig') {
      // KUBECONFIG exported for kubectl on a host that is not a node: nothing to watch, nothing wrong.
      log.info(
        { kubeconfig: choice.file },
        'Kubernetes source off: a kubeconfig is set but no node name; pass --node-name (or NODE_NAME) on a Kubernetes node',
      );
      return undefined;
    }
    log.error(
      'Kubernetes source down: the node name is unknown. Set NODE_NAME from the downward API (env valueFrom fieldRef spec.nodeName) or pass --node-name',
    );
    return { source: new DownSource() };
  }
  let client;
  try {
    client = await loadClient(choice);
  } catch (err) {
    if (!(err instanceof ClusterConfigError)) throw err;
    log.error(`Kubernetes source down: ${err.message}`);
    return { source: new DownSource() };
  }
  const pods = new KubernetesPodSource({
    client,
    table: deps.table,
    nodeName: config.nodeName,
    log,
    seriesGraceMs: config.seriesGraceMs,
  });
  let writer: OomEventWriter | undefined;
  if (config.k8sEvents) {
    writer = new OomEventWriter({
      client,
      pods,
      nodeName: config.nodeName,
      log: log.child({ part: 'events' }),
    });
    const w = writer;
    deps.kills.onKill((kill, entry, change) => w.onKill(kill, entry, change));
  } else {
    log.info('Kubernetes Events off (--k8s-events=false)');
  }
  return { source: new KubernetesSource(pods, writer), pods, ...(writer ? { writer } : {}) };
}

class KubernetesSource implements Source {
  readonly name = 'kubernetes';
  constructor(
    readonly pods: KubernetesPodSource,
    readonly writer: OomEventWriter | undefined,
  ) {}

  get up(): boolean {
    return this.pods.up;
  }

  async start(): Promise<void> {
    this.writer?.start();
    await this.pods.start();
  }

  async stop(): Promise<void> {
    // The writer first: its last Events still look pods up.
    await this.writer?.stop();
    await this.pods.stop();
  }
}

/** A Kubernetes source that cannot work as configured: exported as oomwatch_source_up{source="kubernetes"} 0. */
class DownSource implements Source {
  readonly name = 'kubernetes';
  readonly up = false;
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
}
