import bcrypt from 'bcryptjs';
import Fastify, { type FastifyInstance } from 'fastify';
import { silentLogger } from '../../src/log';
import { MetricsRenderer } from '../../src/metrics/render';
import { SelfMetrics } from '../../src/metrics/self';
import { type RouteModule, buildServer } from '../../src/server/server';
import type { WebConfig } from '../../src/server/web-config';
import { ContainerTable } from '../../src/state/containers';

/**
 * buildServer gives fastify schema compilers that load only when a route declares a schema (ajv and
 * fast-json-stringify are about 100 modules no oomwatch route needs). What a client sees must not change:
 * the error bodies fastify writes itself, and, for a route that does declare schemas, the same validation
 * and serialization as fastify's defaults give. Each request is put to oomwatch's server and to a plain
 * Fastify() with the same route, and the answers compared.
 */
const ROUTES: RouteModule = (app) => {
  app.get('/boom', async () => {
    throw new Error('the disk is on fire');
  });
  app.get(
    '/size',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: { bytes: { type: 'integer', minimum: 0 } },
          required: ['bytes'],
        },
        headers: {
          type: 'object',
          properties: { 'x-unit': { type: 'string', enum: ['KiB', 'MiB'] } },
          required: ['x-unit'],
        },
        response: {
          200: { type: 'object', properties: { bytes: { type: 'integer' }, unit: { type: 'string' } } },
        },
      },
    },
    async (req) => {
      const { bytes } = req.query as { bytes: number };
      // `internal` is not in the response schema: the serializer must leave it out
      return { bytes, unit: req.headers['x-unit'], internal: 'not for clients' };
    },
  );
};

function oomwatchApp(webConfig?: WebConfig): FastifyInstance {
  return buildServer({
    renderer: new MetricsRenderer(new ContainerTable(), new SelfMetrics({ processMetrics: false })),
    ready: () => true,
    log: silentLogger(),
    routes: [ROUTES],
    ...(webConfig ? { webConfig } : {}),
  });
}

function plainFastify(): FastifyInstance {
  const app = Fastify();
  ROUTES(app as unknown as FastifyInstance);
  return app as unknown as FastifyInstance;
}

interface Answer {
  status: number;
  contentType: string | undefined;
  body: string;
}

/** Listens on a loopback port on first use (fastify's inject needs an ES module jest does not load). */
const bases = new WeakMap<FastifyInstance, Promise<string>>();

async function ask(app: FastifyInstance, url: string, headers: Record<string, string> = {}): Promise<Answer> {
  let base = bases.get(app);
  if (base === undefined) {
    base = app.listen({ host: '127.0.0.1', port: 0 });
    bases.set(app, base);
  }
  const res = await fetch(`${await base}${url}`, { headers });
  return {
    status: res.status,
    contentType: res.headers.get('content-type') ?? undefined,
    body: await res.text(),
  };
}

describe('error bodies and schemas, compared with a plain Fastify()', () => {
  let ours: FastifyInstance;
  let plain: FastifyInstance;
  beforeAll(async () => {
    ours = oomwatchApp();
    plain = plainFastify();
    await Promise.all([ours.ready(), plain.ready()]);
  });
  afterAll(async () => {
    await Promise.all([ours.close(), plain.close()]);
  });

  it.each([
    ['an unknown path (404)', '/nope', {}, 404],
    ['a handler that throws (500)', '/boom', {}, 500],
    ['a querystring that fails its schema (400)', '/size?bytes=-1', { 'x-unit': 'KiB' }, 400],
    ['a missing required query parameter (400)', '/size', { 'x-unit': 'KiB' }, 400],
    ['a header that fails its schema (400)', '/size?bytes=1', { 'x-unit': 'GiB' }, 400],
    ['a missing required header (400)', '/size?bytes=1', {}, 400],
    ['valid input: coerced, and only the response schema properties sent', '/size?bytes=42', { 'x-unit': 'MiB' }, 200],
  ])('%s', async (_what, url, headers, status) => {
    const got = await ask(ours, url, headers);
    expect(got.status).toBe(status);
    expect(got).toEqual(await ask(plain, url, headers));
  }); // prettier-ignore

  it('writes the bodies a client reads', async () => {
    expect(JSON.parse((await ask(ours, '/nope')).body)).toEqual({
      statusCode: 404,
      error: 'Not Found',
      message: 'Route GET:/nope not found',
    });
    expect(JSON.parse((await ask(ours, '/boom')).body)).toEqual({
      statusCode: 500,
      error: 'Internal Server Error',
      message: 'the disk is on fire',
    });
    expect(JSON.parse((await ask(ours, '/size?bytes=-1', { 'x-unit': 'KiB' })).body)).toEqual({
      statusCode: 400,
      code: 'FST_ERR_VALIDATION',
      error: 'Bad Request',
      message: 'querystring/bytes must be >= 0',
    });
    expect(JSON.parse((await ask(ours, '/size?bytes=42', { 'x-unit': 'MiB' })).body)).toEqual({
      bytes: 42,
      unit: 'MiB',
    });
  });
});

describe('a headers schema naming a header in mixed case', () => {
  it('is refused when the server starts, with the name to write instead', async () => {
    const app = buildServer({
      renderer: new MetricsRenderer(new ContainerTable(), new SelfMetrics({ processMetrics: false })),
      ready: () => true,
      log: silentLogger(),
      routes: [
        (a) =>
          a.get(
            '/token',
            { schema: { headers: { type: 'object', required: ['X-Token'] } } },
            async () => 'ok',
          ),
      ],
    });
    await expect(app.ready()).rejects.toThrow(
      /GET \/token.*names header "X-Token": write header names in lower case \("x-token"\)/,
    );
    await app.close();
  });
});

describe('basic auth from a web config', () => {
  const USER = 'prometheus';
  const PASSWORD = 'correct horse battery staple';
  let app: FastifyInstance;
  beforeAll(async () => {
    app = oomwatchApp({
      headers: {},
      basicAuthUsers: new Map([[USER, bcrypt.hashSync(PASSWORD, 4)]]),
    });
    await app.ready();
  });
  afterAll(() => app.close());

  const basic = (credentials: string): Record<string, string> => ({
    authorization: `Basic ${Buffer.from(credentials).toString('base64')}`,
  });

  it('answers without credentials with 401, as the first request of all', async () => {
    expect(await ask(app, '/metrics')).toEqual({
      status: 401,
      contentType: 'text/plain',
      body: 'Unauthorized\n',
    });
  });

  it('serves /metrics to the right password only', async () => {
    const ok = await ask(app, '/metrics', basic(`${USER}:${PASSWORD}`));
    expect(ok.status).toBe(200);
    expect(ok.body).toContain('# TYPE oomwatch_build_info gauge\n');
    expect((await ask(app, '/metrics', basic(`${USER}:wrong`))).status).toBe(401);
    expect((await ask(app, '/metrics', basic(`nobody:${PASSWORD}`))).status).toBe(401);
  });

  it('checks concurrent first requests with one set of users', async () => {
    const fresh = oomwatchApp({
      headers: {},
      basicAuthUsers: new Map([[USER, bcrypt.hashSync(PASSWORD, 4)]]),
    });
    try {
      const answers = await Promise.all([
        ask(fresh, '/metrics', basic(`${USER}:${PASSWORD}`)),
        ask(fresh, '/metrics', basic(`${USER}:nope`)),
        ask(fresh, '/healthz'),
      ]);
      expect(answers.map((a) => a.status)).toEqual([200, 401, 200]);
    } finally {
      await fresh.close();
    }
  });
});
