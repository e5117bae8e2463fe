import * as fs from 'node:fs';
import { OomwatchError } from './errors';
import { type FlagSpec, formatFlagHelp, parseFlags } from './flags';

/** Everything `oomwatch serve` is configured with; built once from flags and environment, then frozen. */
export interface Config {
  listen: { host: string; port: number };
  cgroupRoot: string;
  /** Where /proc/vmstat and the boot id are read (the host's /proc when mounted at /host/proc). */
  procRoot: string;
  intervalMs: number;
  logLevel: LogLevel;
  webConfig?: string;
  seriesGraceMs: number;
  stateDir: string;
  retentionMs: number;
  /** Docker Engine socket, or null when the Docker source is off. */
  dockerSocket: string | null;
  /** containerd's socket, or null when the containerd source is off (the default). */
  containerdSocket: string | null;
  /** `--containerd-namespaces`: the only namespaces watched; undefined: every one but Docker's `moby`. */
  containerdNamespaces?: string[];
  /** Podman API socket (its Docker-compatible API), or null when the Podman source is off (the default). */
  podmanSocket: string | null;
  /** Kernel log device, or null when the kernel-log source is off. */
  kmsgPath: string | null;
  /** Container labels copied onto oomwatch_container_info (never environment variables). */
  labelAllow: string[];
  /** Kubernetes node this instance runs on (the DaemonSet passes spec.nodeName as NODE_NAME). */
  nodeName?: string;
  /** Create Kubernetes Events for OOM kills. */
  k8sEvents: boolean;
  /** Kubeconfig file for the Kubernetes source when not running in a pod (in-cluster config otherwise). */
  kubeconfig?: string;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
/** containerd's rule for identifiers, namespaces included (containerd `identifiers.Validate`), less the length. */
const CONTAINERD_NAMESPACE = /^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/;
export type LogLevel = (typeof LOG_LEVELS)[number];

const firstExisting = (candidates: string[]): string =>
  candidates.find((c) => fs.existsSync(c)) ?? (candidates[candidates.length - 1] as string);

export function serveFlags(): FlagSpec[] {
  return [
    {
      name: 'listen',
      type: 'string',
      valueName: 'HOST:PORT',
      default: '0.0.0.0:9797',
      help: 'Address to serve /metrics, /healthz, /readyz and the JSON API on',
    },
    {
      name: 'cgroup-root',
      type: 'string',
      valueName: 'DIR',
      default: firstExisting(['/host/sys/fs/cgroup', '/sys/fs/cgroup']),
      help: 'The host cgroup filesystem (v1, v2 or hybrid); /host/sys/fs/cgroup when that exists, else /sys/fs/cgroup',
    },
    {
      name: 'proc-root',
      type: 'string',
      valueName: 'DIR',
      default: firstExisting(['/host/proc', '/proc']),
      help: "The host's /proc, for vmstat's oom_kill and the boot id; /host/proc when that exists, else /proc",
    },
    {
      name: 'interval',
      type: 'duration',
      valueName: 'SECONDS',
      default: '2',
      help: 'How often cgroup files are polled (seconds, or 500ms, 1m...)',
    },
    {
      name: 'log-level',
      type: 'string',
      valueName: 'LEVEL',
      default: 'info',
      help: `Log level: ${LOG_LEVELS.join(', ')}`,
    },
    {
      name: 'web-config',
      type: 'string',
      valueName: 'FILE',
      help: 'Prometheus exporter-toolkit web configuration (TLS certificate and key, basic-auth users with bcrypt hashes)',
    },
    {
      name: 'series-grace',
      type: 'duration',
      valueName: 'DURATION',
      default: '10m',
      help: 'How long the counters of a container that is gone stay on /metrics so their last increments are scraped',
    },
    {
      name: 'state-dir',
      type: 'string',
      valueName: 'DIR',
      default: '/var/lib/oomwatch',
      help: 'Where counters, cursors and the OOM event log are kept across restarts (created if missing)',
    },
    {
      name: 'retention',
      type: 'duration',
      valueName: 'DURATION',
      default: '30d',
      help: 'How long OOM events and peak history are kept',
    },
    {
      name: 'docker-socket',
      type: 'string',
      valueName: 'PATH',
      default: '/var/run/docker.sock',
      help: 'Docker Engine API socket (read-only calls only); "none" turns the Docker source off',
    },
    {
      name: 'containerd-socket',
      type: 'string',
      valueName: 'PATH',
      default: 'none',
      help: 'containerd API socket (read-only calls only), usually /run/containerd/containerd.sock: names, images and TaskOOM/TaskExit events of containerd\'s containers (nerdctl, ctr, Kubernetes); "none" (the default) turns the containerd source off',
    },
    {
      name: 'containerd-namespaces',
      type: 'list',
      valueName: 'NAME,...',
      repeatable: true,
      help: "containerd namespaces to watch; default: every namespace containerd has, but moby (Docker's own) while the Docker source is on",
    },
    {
      name: 'podman-socket',
      type: 'string',
      valueName: 'PATH',
      default: 'none',
      help: 'Podman API socket, followed through its Docker-compatible API (read-only calls only), such as /run/podman/podman.sock; "none" (the default) turns the Podman source off',
    },
    {
      name: 'kmsg',
      type: 'string',
      valueName: 'PATH',
      default: '/dev/kmsg',
      help: 'Kernel log device for OOM-kill records; "none" turns it off',
    },
    {
      name: 'label-allow',
      type: 'list',
      valueName: 'LABEL,...',
      repeatable: true,
      default: '',
      help: 'Container labels to copy onto oomwatch_container_info (as label_<name>); environment variables never are',
    },
    {
      name: 'node-name',
      type: 'string',
      valueName: 'NAME',
      env: 'NODE_NAME',
      help: 'Kubernetes node name (from the downward API); enables the Kubernetes metadata source when running in a cluster',
    },
    {
      name: 'k8s-events',
      type: 'boolean',
      default: 'true',
      help: 'Create Kubernetes Events (reason OOMKilling) for OOM kills in pods',
    },
    {
      name: 'kubeconfig',
      type: 'string',
      valueName: 'FILE',
      env: 'KUBECONFIG',
      help: 'Kubeconfig for the Kubernetes source; without it the in-cluster service account is used when oomwatch runs in a pod',
    },
  ];
}

export function serveHelp(): string {
  return [
    'Usage: oomwatch serve [flags]',
    '',
    'Runs the exporter: polls every container memory cgroup, follows Docker events and the kernel log,',
    'and serves exact OOM-kill counts and memory metrics for Prometheus. "serve" is the default command.',
    '',
    'Flags (each also read from the environment variable shown):',
    formatFlagHelp(serveFlags()),
    '',
    'Example:',
    '  oomwatch serve --listen 127.0.0.1:9797 --interval 5 --label-allow com.example.team',
  ].join('\n');
}

function parseListen(text: string, errors: string[]): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !Number.isInteger(port)) {
    errors.push(`--listen: expected HOST:PORT such as 0.0.0.0:9797 or [::1]:9797, got "${text}"`);
    return { host: '0.0.0.0', port: 9797 };
  }
  if (port > 65535) {
    errors.push(`--listen: port ${port} is not between 0 and 65535, in "${text}"`);
    return { host: '0.0.0.0', port: 9797 };
  }
  return { host: m[1] ?? (m[2] === '' ? '0.0.0.0' : (m[2] as string)), port };
}

/**
 * Build the serve Config. Throws one OomwatchError (exit code 2) listing every problem found, so a user
 * fixing flags sees them all at once.
 */
export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv): Config {
  const parsed = parseFlags(serveFlags(), argv, env);
  const errors = [...parsed.errors];
  if (parsed.positional.length > 0)
    errors.push(`unexpected argument "${parsed.positional[0]}": serve takes only flags`);
  const v = parsed.values;

  const listen = parseListen(v['listen'] as string, errors);
  const intervalMs = v['interval'] as number;
  if (intervalMs !== undefined && (intervalMs < 100 || intervalMs > 3_600_000)) {
    errors.push(`--interval: must be between 100ms and 1h, got ${intervalMs / 1000}s`);
  }
  const logLevel = v['log-level'] as string;
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    errors.push(`--log-level: expected one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);
  }
  const seriesGraceMs = v['series-grace'] as number;
  if (seriesGraceMs !== undefined && seriesGraceMs < 0) errors.push('--series-grace: must not be negative');
  const webConfig = v['web-config'] as string | undefined;
  if (webConfig !== undefined && !fs.existsSync(webConfig)) {
    errors.push(
      `--web-config: file ${webConfig} does not exist: pass the path of an exporter-toolkit web config file`,
    );
  }
  const labelAllow = (v['label-allow'] as string[] | undefined) ?? [];
  for (const label of labelAllow) {
    if (!/^[A-Za-z0-9_.\-/]+$/.test(label))
      errors.push(`--label-allow: "${label}" is not a container label name`);
  }
  const off = (p: string): string | null => (p === 'none' || p === '' ? null : p);
  const containerdSocket = off(v['containerd-socket'] as string);
  const containerdNamespaces = v['containerd-namespaces'] as string[] | undefined;
  if (containerdNamespaces !== undefined) {
    if (containerdSocket === null)
      errors.push(
        '--containerd-namespaces: the containerd source is off; pass --containerd-socket PATH (usually /run/containerd/containerd.sock) as well',
      );
    if (containerdNamespaces.length === 0)
      errors.push(
        '--containerd-namespaces: give at least one namespace, or leave the flag out to watch them all',
      );
    for (const ns of containerdNamespaces) {
      if (!CONTAINERD_NAMESPACE.test(ns) || ns.length > 76)
        errors.push(
          `--containerd-namespaces: "${ns}" is not a containerd namespace name (letters and digits, single '.', '_' or '-' between them, at most 76 characters; e.g. default, k8s.io)`,
        );
    }
  }
  if (
    containerdSocket !== null &&
    /^[a-z][a-z0-9+.-]*:\/\//i.test(containerdSocket) &&
    !containerdSocket.startsWith('unix://')
  )
    errors.push(
      `--containerd-socket: only a unix socket path is supported, got "${containerdSocket}"; mount containerd's socket into the oomwatch container and pass its path`,
    );

  if (errors.length > 0) {
    throw new OomwatchError('OOMW_USAGE', errors.map((e) => `oomwatch: ${e}`).join('\n'));
  }
  const config: Config = {
    listen,
    cgroupRoot: v['cgroup-root'] as string,
    procRoot: v['proc-root'] as string,
    intervalMs,
    logLevel: logLevel as LogLevel,
    seriesGraceMs,
    stateDir: v['state-dir'] as string,
    retentionMs: v['retention'] as number,
    dockerSocket: off(v['docker-socket'] as string),
    containerdSocket,
    podmanSocket: off(v['podman-socket'] as string),
    kmsgPath: off(v['kmsg'] as string),
    labelAllow,
    k8sEvents: v['k8s-events'] as boolean,
  };
  if (webConfig !== undefined) config.webConfig = webConfig;
  if (containerdNamespaces !== undefined) config.containerdNamespaces = containerdNamespaces;
  const nodeName = v['node-name'] as string | undefined;
  if (nodeName) config.nodeName = nodeName;
  const kubeconfig = v['kubeconfig'] as string | undefined;
  if (kubeconfig) config.kubeconfig = kubeconfig;
  return Object.freeze(config);
}

export function wantsHelp(argv: readonly string[]): boolean {
  return argv.includes('--help') || argv.includes('-h');
}
