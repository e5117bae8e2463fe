import type { Logger } from 'pino';
import type { OomLedger } from '../../accounting/ledger';
import type { Config } from '../../config';
import type { MetricsRenderer } from '../../metrics/render';
import type { ContainerTable } from '../../state/containers';
import type { Source } from '../../source';
import { ClusterConfigError, chooseCluster, loadClient } from './client';
import { OomEventWriter } from './events';
import { KubernetesPodSource } from './pod-source';

/**
 * Kubernetes node mode, wired as one source named `kubernetes`: the pod metadata source and, unless
 * --k8s-events=false, the OOM Event writer fed by the ledger's kill listener.
 *
 * Without a cluster (not in a pod, no kubeconfig) there is no source at all and one info line says so:
 * containers in pods are still attributed from their cgroup paths (pod UID, container id, QoS class on
 * oomwatch_container_info), only the names are missing. A cluster that is configured but unusable (no node
 * name, unreadable kubeconfig) is a source that is down, with an error that says what to fix.
 */
export async function setUpKubernetes(deps: {
  config: Config;
  table: ContainerTable;
  ledger: OomLedger;
  renderer: MetricsRenderer;
  log: Logger;
  env?: NodeJS.ProcessEnv;
  /** Tests: prefix of /var/run/secrets/kubernetes.io/serviceaccount. */
  serviceAccountPrefix?: string;
}): Promise<Source | undefined> {
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
    return new DownSource();
  }
  let client;
  try {
    client = await loadClient(choice);
  } catch (err) {
    if (!(err instanceof ClusterConfigError)) throw err;
    log.error(`Kubernetes source down: ${err.message}`);
    return new DownSource();
  }
  const pods = new KubernetesPodSource({
    client,
    table: deps.table,
    nodeName: config.nodeName,
    log,
    seriesGraceMs: config.seriesGraceMs,
  });
  deps.renderer.contribute((w) => pods.writeFamilies(w));
  let writer: OomEventWriter | undefined;
  if (config.k8sEvents) {
    writer = new OomEventWriter({
      client,
      pods,
      nodeName: config.nodeName,
      log: log.child({ part: 'events' }),
    });
    const w = writer;
    deps.ledger.onKill((record, entry, change) => w.onKill(record, entry, change));
    deps.renderer.contribute((out) => w.writeFamilies(out));
  } else {
    log.info('Kubernetes Events off (--k8s-events=false)');
  }
  return new KubernetesSource(pods, writer);
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
