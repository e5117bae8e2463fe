import type { Logger } from 'pino';
import type { RuntimeCgroupHints } from '../../cgroup/hints';
import type { Config } from '../../config';
import { OomwatchError } from '../../errors';
import { ContainerdSource, type ContainerdListener } from './source';

export { ContainerdSource } from './source';
export type {
  ContainerdExit,
  ContainerdListener,
  ContainerdSourceStats,
  ContainerdTaskEvent,
} from './source';

/** containerd's usual socket (what `--containerd-socket` is given on most hosts). */
export const CONTAINERD_SOCKET = '/run/containerd/containerd.sock';
/** Docker's own namespace in the containerd it shares: its containers are named by the Docker source. */
export const DOCKER_NAMESPACE = 'moby';

/** The socket path of `--containerd-socket`: a path, or `unix://PATH` as containerd's own clients take it. */
export function containerdSocketPath(flag: string): string {
  if (flag.startsWith('unix://')) return flag.slice('unix://'.length) || CONTAINERD_SOCKET;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(flag)) {
    throw new OomwatchError(
      'OOMW_USAGE',
      `oomwatch: --containerd-socket: only a unix socket path is supported, got "${flag}"; mount containerd's socket into the oomwatch container and pass its path (usually ${CONTAINERD_SOCKET})`,
    );
  }
  return flag;
}

/**
 * The containerd source as `oomwatch serve` configures it, or undefined when `--containerd-socket` is not
 * given. Without `--containerd-namespaces` it watches every namespace containerd has, but `moby` while the
 * Docker source runs (the same containers, named by Docker).
 */
export function containerdSourceFromConfig(
  config: Pick<Config, 'containerdSocket' | 'containerdNamespaces' | 'dockerSocket' | 'labelAllow'>,
  deps: { listener: ContainerdListener; log: Logger; hints?: RuntimeCgroupHints; cursor?: bigint },
): ContainerdSource | undefined {
  if (config.containerdSocket === null) return undefined;
  const only = config.containerdNamespaces;
  if (only?.includes(DOCKER_NAMESPACE) && config.dockerSocket !== null) {
    deps.log.warn(
      { namespaces: only },
      `--containerd-namespaces includes ${DOCKER_NAMESPACE}, Docker's own namespace, while the Docker source runs: its containers' exits are counted by both (kills are not: each is one kill with both sources)`,
    );
  }
  return new ContainerdSource({
    socketPath: containerdSocketPath(config.containerdSocket),
    listener: deps.listener,
    log: deps.log,
    labelAllow: config.labelAllow,
    ...(only !== undefined ? { namespaces: only } : {}),
    ...(config.dockerSocket !== null ? { exclude: [DOCKER_NAMESPACE] } : {}),
    ...(deps.hints ? { hints: deps.hints } : {}),
    ...(deps.cursor !== undefined ? { cursor: deps.cursor } : {}),
  });
}
