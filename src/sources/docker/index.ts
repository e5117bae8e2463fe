import type { Logger } from 'pino';
import type { Config } from '../../config';
import { OomwatchError } from '../../errors';
import { DockerSource, type DockerListener } from './source';

export { DockerSource } from './source';
export type {
  DockerDie,
  DockerDieWithExitCode,
  DockerDieWithoutExitCode,
  DockerLifecycleEvent,
  DockerListener,
  DockerSourceStats,
} from './source';

/**
 * The socket path of `--docker-socket`: a path, or `unix://PATH` as in DOCKER_HOST. Only unix sockets
 * are supported: a TCP endpoint would need TLS settings oomwatch does not take.
 */
export function dockerSocketPath(flag: string): string {
  if (flag.startsWith('unix://')) return flag.slice('unix://'.length) || '/var/run/docker.sock';
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(flag)) {
    throw new OomwatchError(
      'OOMW_USAGE',
      `oomwatch: --docker-socket: only a unix socket path is supported, got "${flag}"; mount the Docker socket into the oomwatch container and pass its path, or pass none`,
    );
  }
  return flag;
}

/**
 * The Docker source as `oomwatch serve` configures it, or undefined when `--docker-socket none` turned
 * it off. `cursor` is the persisted replay cursor (see DockerSource.cursor).
 */
export function dockerSourceFromConfig(
  config: Pick<Config, 'dockerSocket' | 'labelAllow'>,
  deps: { listener: DockerListener; log: Logger; cursor?: bigint },
): DockerSource | undefined {
  if (config.dockerSocket === null) return undefined;
  return new DockerSource({
    socketPath: dockerSocketPath(config.dockerSocket),
    labelAllow: config.labelAllow,
    listener: deps.listener,
    log: deps.log,
    ...(deps.cursor === undefined ? {} : { cursor: deps.cursor }),
  });
}
