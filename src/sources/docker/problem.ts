/**
 * What went wrong talking to the Docker Engine, and the fix, in one sentence: the one text of the Docker
 * source's outage warning and of the on-call commands' "Docker is not reachable" warning. `source` podman:
 * the same for Podman's Docker-compatible API (--podman-socket).
 */
export function describeDockerProblem(
  err: unknown,
  socketPath: string,
  timeoutMs: number,
  source: 'docker' | 'podman' = 'docker',
): string {
  if (source === 'podman')
    return `Podman is not reachable at ${socketPath}: ${podmanReason(err) ?? reason(err, socketPath, timeoutMs)}`;
  return `Docker is not reachable at ${socketPath}: ${reason(err, socketPath, timeoutMs)}`;
}

/** The fixes that differ for Podman: it is daemonless, its API is a service started on demand or by hand. */
function podmanReason(err: unknown): string | undefined {
  const code = (err as { code?: string } | null | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return "no socket there: Podman's API service is not running or listens elsewhere (systemctl enable --now podman.socket, or podman system service --time=0 unix://PATH; pass --podman-socket PATH, in a container mount the host's socket read-only)";
    case 'EACCES':
    case 'EPERM':
      return "permission denied: run as root (rootful Podman) or as the user whose rootless Podman's socket it is";
    case 'ECONNREFUSED':
      return 'connection refused: the socket exists but no Podman service listens on it (systemctl start podman.socket)';
    case 'ENOTSOCK':
      return "not a unix socket: pass --podman-socket PATH of Podman's API socket";
  }
  return undefined;
}

function reason(err: unknown, socketPath: string, timeoutMs: number): string {
  const e = (err ?? {}) as {
    code?: string;
    name?: string;
    message?: string;
    statusCode?: number;
    cause?: { name?: string };
    json?: { message?: unknown };
  };
  switch (e.code) {
    case 'ENOENT':
      return `no socket there: Docker is not running on this host or listens elsewhere (pass --docker-socket PATH; in a container, mount the host's ${socketPath} read-only)`;
    case 'EACCES':
    case 'EPERM':
      return 'permission denied: run as root or as a member of the docker group';
    case 'ECONNREFUSED':
      return 'connection refused: the socket exists but no Docker daemon listens on it (start the daemon: systemctl start docker)';
    case 'ENOTSOCK':
      return "not a unix socket: pass --docker-socket PATH of the Docker Engine's socket";
  }
  // A deadline given as AbortSignal.timeout() aborts the request with an AbortError caused by a TimeoutError.
  if (e.code === 'ETIMEDOUT' || e.name === 'TimeoutError' || e.cause?.name === 'TimeoutError')
    return `no answer within ${timeoutMs / 1000} s: the Docker daemon is hung or overloaded`;
  if (e.statusCode !== undefined) {
    // dockerode's message wraps Docker's own (the body's `message`): show Docker's.
    const said = typeof e.json?.message === 'string' ? e.json.message : e.message;
    return `answered HTTP ${e.statusCode}${said ? ` (${said.trim()})` : ''}`;
  }
  return `${e.code ?? ''} ${e.message ?? String(err)}`.trim();
}
