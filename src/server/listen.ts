import type { FastifyInstance } from 'fastify';
import { OomwatchError } from '../errors';

/**
 * Listen on the --listen address. The failures a user fixes by changing --listen or stopping another
 * process (address taken, not an address of this host, a privileged port, a host name that does not
 * resolve) become one message naming the problem and the fix, with exit code 2, instead of a stack trace.
 */
export async function listenOn(app: FastifyInstance, host: string, port: number): Promise<string> {
  try {
    return await app.listen({ host, port });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
    const why: Record<string, string> = {
      EADDRINUSE: `${where} is already in use: stop what listens there or pass another --listen`,
      EADDRNOTAVAIL: `${where} is not an address of this host: pass one of its addresses, or 0.0.0.0 for all`,
      EACCES: `no permission to listen on ${where} (ports below 1024 need root or CAP_NET_BIND_SERVICE): pass a port above 1023`,
      ENOTFOUND: `host "${host}" does not resolve: pass an IP address such as 0.0.0.0 or 127.0.0.1`,
    };
    const message = code === undefined ? undefined : why[code];
    if (message === undefined) throw err;
    throw new OomwatchError('OOMW_USAGE', `oomwatch: --listen: ${message}`);
  }
}
