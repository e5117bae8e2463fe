import { describeDockerProblem } from '../../../src/sources/docker/problem';

/**
 * The one sentence the Docker source's outage warning and the on-call commands' warning share: what failed on
 * the socket, and the fix. The texts the on-call tests look for are here verbatim.
 */
describe('describeDockerProblem', () => {
  const errno = (code: string): Error => Object.assign(new Error(`connect ${code} /s`), { code });

  it.each<[string, unknown, string]>([
    [
      'no socket',
      errno('ENOENT'),
      "Docker is not reachable at /s: no socket there: Docker is not running on this host or listens elsewhere (pass --docker-socket PATH; in a container, mount the host's /s read-only)",
    ],
    [
      'no permission',
      errno('EACCES'),
      'Docker is not reachable at /s: permission denied: run as root or as a member of the docker group',
    ],
    [
      'refused: a stale socket file',
      errno('ECONNREFUSED'),
      'Docker is not reachable at /s: connection refused: the socket exists but no Docker daemon listens on it (start the daemon: systemctl start docker)',
    ],
    [
      'not a socket',
      errno('ENOTSOCK'),
      "Docker is not reachable at /s: not a unix socket: pass --docker-socket PATH of the Docker Engine's socket",
    ],
    [
      'a deadline from AbortSignal.timeout (what Node gives a request it aborts)',
      Object.assign(new Error('The operation was aborted'), {
        name: 'AbortError',
        code: 'ABORT_ERR',
        cause: new DOMException('The operation was aborted due to timeout', 'TimeoutError'),
      }),
      'Docker is not reachable at /s: no answer within 2 s: the Docker daemon is hung or overloaded',
    ],
    [
      'the TimeoutError itself',
      new DOMException('timed out', 'TimeoutError'),
      'Docker is not reachable at /s: no answer within 2 s: the Docker daemon is hung or overloaded',
    ],
    [
      'an HTTP error as dockerode reports it: Docker’s own message',
      Object.assign(new Error('(HTTP code 500) server error - boom '), {
        statusCode: 500,
        json: { message: 'boom' },
      }),
      'Docker is not reachable at /s: answered HTTP 500 (boom)',
    ],
    [
      'anything else: its code and message',
      errno('EPIPE'),
      'Docker is not reachable at /s: EPIPE connect EPIPE /s',
    ],
  ])('%s', (_name, err, text) => {
    expect(describeDockerProblem(err, '/s', 2000)).toBe(text);
  });
});

describe('describeDockerProblem for the Podman source', () => {
  const errno = (code: string): Error => Object.assign(new Error(`connect ${code} /p`), { code });

  it.each<[string, unknown, string]>([
    [
      'no socket: the API service is not running',
      errno('ENOENT'),
      "Podman is not reachable at /p: no socket there: Podman's API service is not running or listens elsewhere (systemctl enable --now podman.socket, or podman system service --time=0 unix://PATH; pass --podman-socket PATH, in a container mount the host's socket read-only)",
    ],
    [
      'refused',
      errno('ECONNREFUSED'),
      'Podman is not reachable at /p: connection refused: the socket exists but no Podman service listens on it (systemctl start podman.socket)',
    ],
    ['the rest as for Docker', errno('EPIPE'), 'Podman is not reachable at /p: EPIPE connect EPIPE /p'],
  ])('%s', (_name, err, text) => {
    expect(describeDockerProblem(err, '/p', 2000, 'podman')).toBe(text);
  });
});
