import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../../config';
import { OomwatchError } from '../../errors';
import { DockerSource, type DockerListener } from './source';

export { DockerSource } from './source';
export type { Engine, EngineKind } from './engine';
export type {
  DockerDie,
  DockerOom,
  DockerDieWithExitCode,
  DockerDieWithoutExitCode,
  DockerLifecycleEvent,
  DockerListener,
  DockerSourceStats,
} from './source';

/** Where each engine's socket is when `unix://` names none (Docker's default, rootful Podman's). */
const DEFAULT_SOCKET = { docker: '/var/run/docker.sock', podman: '/run/podman/podman.sock' } as const;

/**
 * The socket path of `--docker-socket` (or `--podman-socket`): a path, or `unix://PATH` as in DOCKER_HOST
 * and CONTAINER_HOST. Only unix sockets are supported: a TCP endpoint would need TLS settings oomwatch does
 * not take.
 */
export function dockerSocketPath(flag: string, source: 'docker' | 'podman' = 'docker'): string {
  if (flag.startsWith('unix://')) return flag.slice('unix://'.length) || DEFAULT_SOCKET[source];
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(flag)) {
    const what = source === 'podman' ? "Podman's API socket" : 'the Docker socket';
    throw new OomwatchError(
      'OOMW_USAGE',
      `oomwatch: --${source}-socket: only a unix socket path is supported, got "${flag}"; mount ${what} into the oomwatch container and pass its path, or pass none`,
    );
  }
  return flag;
}

/**
 * The Docker source as `oomwatch serve` configures it, or undefined when `--docker-socket none` turned
 * it off. `cursor` is the persisted replay cursor (see DockerSource.cursor).
 */
export function dockerSourceFromConfig(
  config: Pick<Config, 'dockerSocket' | 'labelAllow'> & Partial<Pick<Config, 'podmanSocket'>>,
  deps: { listener: DockerListener; log: Logger; cursor?: bigint },
): DockerSource | undefined {
  if (config.dockerSocket === null) return undefined;
  const socketPath = dockerSocketPath(config.dockerSocket);
  const podmanFlag = config.podmanSocket ?? null;
  const podman = podmanFlag === null ? undefined : dockerSocketPath(podmanFlag, 'podman');
  if (podman !== undefined && sameSocket(socketPath, podman)) {
    // podman-docker links /var/run/docker.sock to Podman's socket: one engine, followed once, as Podman.
    deps.log.info(
      { socket: socketPath, podmanSocket: podman },
      '--docker-socket is the socket of --podman-socket: following it once, as the Podman source',
    );
    return undefined;
  }
  return new DockerSource({
    socketPath,
    labelAllow: config.labelAllow,
    listener: deps.listener,
    log: deps.log,
    ...(deps.cursor === undefined ? {} : { cursor: deps.cursor }),
  });
}

/**
 * The Podman source as `oomwatch serve` configures it (`--podman-socket`), or undefined when it is off (the
 * default). It is the Docker source's code against Podman's Docker-compatible API, named `podman`.
 */
export function podmanSourceFromConfig(
  config: Pick<Config, 'podmanSocket' | 'labelAllow'>,
  deps: { listener: DockerListener; log: Logger; cursor?: bigint },
): DockerSource | undefined {
  if (config.podmanSocket === null) return undefined;
  return new DockerSource({
    name: 'podman',
    socketPath: dockerSocketPath(config.podmanSocket, 'podman'),
    labelAllow: config.labelAllow,
    listener: deps.listener,
    log: deps.log,
    ...(deps.cursor === undefined ? {} : { cursor: deps.cursor }),
  });
}

/** Whether two socket paths are one socket (a symbolic link, or the same path written twice). */
function sameSocket(a: string, b: string): boolean {
  const real = (p: string): string => {
    try {
      return fs.realpathSync(p);
    } catch {
      return path.resolve(p);
    }
  };
  return real(a) === real(b);
}
