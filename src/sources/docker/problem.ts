/**
 * What went wrong talking to the Docker Engine, and the fix, in one sentence: the one text of the Docker
 * source's outage warning and of the on-call commands' "Docker is not reachable" warning.
 */
export function describeDockerProblem(err: unknown, socketPath: string, timeoutMs: number): string {
  return `Docker is not reachable at ${socketPath}: ${reason(err, socketPath, timeoutMs)}`;
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
