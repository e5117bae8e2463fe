import Fastify, { type FastifyInstance, LogController } from 'fastify';
import type { Logger } from 'pino';
import { CONTENT_TYPES, negotiateFormat } from '../metrics/exposition';
import type { MetricsRenderer } from '../metrics/render';
import { lazySchemaCompilers } from './schema-compilers';
import type { BasicAuth, WebConfig } from './web-config';

/** A route module (the OOM event API, the container API...) registered next to /metrics. */
export type RouteModule = (app: FastifyInstance) => void;

export interface ServerDeps {
  renderer: MetricsRenderer;
  /** True once the first complete poll is done. */
  ready: () => boolean;
  log: Logger;
  webConfig?: WebConfig;
  routes?: RouteModule[];
}

const LANDING = `<!doctype html>
<html><head><title>oomwatch</title></head>
<body><h1>oomwatch</h1><p>Container OOM kills and memory for Prometheus.</p>
<ul><li><a href="metrics">/metrics</a></li><li><a href="healthz">/healthz</a></li><li><a href="readyz">/readyz</a></li>
<li><a href="api/v1/oom-events">/api/v1/oom-events</a></li></ul></body></html>
`;

/**
 * Builds the HTTP app. It never listens: main.ts does, tests use app.inject() or listen on port 0.
 * /healthz and /readyz answer without credentials (they reveal nothing and probes rarely carry them);
 * everything else requires them when basic_auth_users is configured.
 */
export function buildServer(deps: ServerDeps): FastifyInstance {
  const tls = deps.webConfig?.tls;
  // Scrapes every few seconds would drown the log: requests are not logged, errors are.
  const common = {
    loggerInstance: deps.log,
    logController: new LogController({ disableRequestLogging: true }),
    // No route declares a schema: ajv and fast-json-stringify load only if one ever does.
    schemaController: { compilersFactory: lazySchemaCompilers() },
  };
  const app = (tls ? Fastify({ ...common, https: tls }) : Fastify(common)) as unknown as FastifyInstance;

  const headers = deps.webConfig?.headers ?? {};
  const users = deps.webConfig?.basicAuthUsers;
  // bcrypt loads with the first request to check, and only when users are configured.
  let checker: Promise<BasicAuth> | undefined;
  const auth =
    users && users.size > 0
      ? async (authorization: string | undefined): Promise<boolean> => {
          checker ??= import('./web-config').then((m) => new m.BasicAuth(users));
          return (await checker).check(authorization);
        }
      : undefined;

  app.addHook('onRequest', async (req, reply) => {
    for (const [k, v] of Object.entries(headers)) reply.header(k, v);
    if (!auth) return;
    const url = req.url.split('?')[0];
    if (url === '/healthz' || url === '/readyz') return;
    if (!(await auth(req.headers.authorization))) {
      await reply
        .code(401)
        .header('WWW-Authenticate', 'Basic realm="oomwatch"')
        .type('text/plain')
        .send('Unauthorized\n');
    }
  });

  app.get('/', async (_req, reply) => reply.type('text/html; charset=utf-8').send(LANDING));

  app.get('/metrics', async (req, reply) => {
    const format = negotiateFormat(req.headers.accept);
    const body = await deps.renderer.renderBytes(format);
    // 'finish': the last byte is handed to the kernel, nothing reads the payload any more; its memory goes
    // back at once (see MetricsRenderer.release). A scrape cut off never finishes: the collector frees it.
    reply.raw.once('finish', () => deps.renderer.release(body));
    return reply.type(CONTENT_TYPES[format]).send(body);
  });

  app.get('/healthz', async (_req, reply) => reply.type('text/plain').send('ok\n'));

  app.get('/readyz', async (_req, reply) => {
    if (deps.ready()) return reply.type('text/plain').send('ready\n');
    return reply
      .code(503)
      .type('text/plain')
      .send('not ready: the first poll of the cgroup tree has not completed\n');
  });

  for (const route of deps.routes ?? []) route(app);
  return app;
}
