import * as fs from 'node:fs';
import * as path from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';

/**
 * Where the Kubernetes API is, decided once at startup, and the client for it.
 *
 * Order, as client-go's clientcmd does it: an explicit kubeconfig (--kubeconfig or KUBECONFIG) wins; else the
 * in-cluster service account (KUBERNETES_SERVICE_HOST/PORT set by the kubelet in every pod, the token and CA
 * at /var/run/secrets/kubernetes.io/serviceaccount); else there is no cluster and the source is off.
 * ~/.kube/config is deliberately not looked at: a node agent must not pick up an administrator's personal
 * credentials because they happen to sit in root's home.
 */

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export type ClusterChoice =
  | { kind: 'kubeconfig'; file: string }
  | { kind: 'in-cluster'; server: string; prefix: string }
  | { kind: 'none'; why: string };

/** The @kubernetes/client-node module, loaded only when a cluster is configured (it takes ~0.5 s to load). */
export type KubernetesClientModule = typeof import('@kubernetes/client-node');

export interface KubeClient {
  k8s: KubernetesClientModule;
  kc: KubeConfig;
  /** Where it points, for log lines. */
  server: string;
}

export function chooseCluster(opts: {
  kubeconfig?: string | undefined;
  env: NodeJS.ProcessEnv;
  /** Prefix of the service account directory (tests). */
  serviceAccountPrefix?: string;
}): ClusterChoice {
  if (opts.kubeconfig) {
    // KUBECONFIG may be a list; like kubectl, the first file that exists is taken (no merging).
    const files = opts.kubeconfig.split(path.delimiter).filter((f) => f.length > 0);
    const file = files.find((f) => fs.existsSync(f)) ?? (files[0] as string);
    return { kind: 'kubeconfig', file };
  }
  const host = opts.env['KUBERNETES_SERVICE_HOST'];
  const port = opts.env['KUBERNETES_SERVICE_PORT'];
  const prefix = opts.serviceAccountPrefix ?? '';
  if (host && port) {
    if (fs.existsSync(`${prefix}${SERVICE_ACCOUNT_DIR}/token`)) {
      return { kind: 'in-cluster', server: `${host.includes(':') ? `[${host}]` : host}:${port}`, prefix };
    }
    return {
      kind: 'none',
      why: `KUBERNETES_SERVICE_HOST is set but there is no service account token at ${SERVICE_ACCOUNT_DIR}/token (automountServiceAccountToken: false?)`,
    };
  }
  return {
    kind: 'none',
    why: 'not running in a pod (no KUBERNETES_SERVICE_HOST) and no --kubeconfig / KUBECONFIG given',
  };
}

export class ClusterConfigError extends Error {}

/** Load the client and its configuration. Throws ClusterConfigError naming the problem and the fix. */
export async function loadClient(choice: Exclude<ClusterChoice, { kind: 'none' }>): Promise<KubeClient> {
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  if (choice.kind === 'kubeconfig') {
    if (!fs.existsSync(choice.file)) {
      throw new ClusterConfigError(
        `kubeconfig ${choice.file} does not exist: pass the path of a kubeconfig file with --kubeconfig (or KUBECONFIG)`,
      );
    }
    try {
      kc.loadFromFile(choice.file);
    } catch (err) {
      throw new ClusterConfigError(`kubeconfig ${choice.file} cannot be read: ${(err as Error).message}`);
    }
  } else {
    // As client-go's rest.InClusterConfig: https to the service address, the mounted CA, and the token file,
    // which the client re-reads every minute (bound service account tokens are rotated by the kubelet).
    const dir = `${choice.prefix}${SERVICE_ACCOUNT_DIR}`;
    kc.loadFromClusterAndUser(
      {
        name: 'in-cluster',
        server: `https://${choice.server}`,
        caFile: `${dir}/ca.crt`,
        skipTLSVerify: false,
      },
      { name: 'service-account', authProvider: { name: 'tokenFile', config: { tokenFile: `${dir}/token` } } },
    );
  }
  // An http:// server (kubectl proxy, a local test cluster) has no TLS to verify, but the client refuses
  // it unless told to skip verification; kubectl takes such a kubeconfig as it is, so oomwatch does too.
  kc.clusters = kc.clusters.map((c) => (c.server.startsWith('http://') ? { ...c, skipTLSVerify: true } : c));
  const cluster = kc.getCurrentCluster();
  if (!cluster) {
    const where = choice.kind === 'kubeconfig' ? `kubeconfig ${choice.file}` : 'the in-cluster configuration';
    throw new ClusterConfigError(`${where} has no current context with a cluster: set current-context`);
  }
  return { k8s, kc, server: cluster.server };
}
