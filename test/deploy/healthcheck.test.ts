import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { describeIf, hasCommand } from '../helpers/prereq';
import { REPO } from '../helpers/paths';

/**
 * deploy/docker/healthcheck.js, the image's HEALTHCHECK, against real HTTP servers on loopback: healthy
 * only when /healthz answers 200, on the address the environment gives (outside a container PID 1 is
 * not oomwatch, so the script falls back to OOMWATCH_LISTEN as documented), over TLS when the web config
 * turns it on. The docker suite checks the same script inside the image.
 */
const SCRIPT = path.join(REPO, 'deploy', 'docker', 'healthcheck.js');

function runHealthcheck(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [SCRIPT], {
      env: { PATH: process.env['PATH'] ?? '', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

function serve(server: http.Server | https.Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
  );
}

describe('the image HEALTHCHECK (deploy/docker/healthcheck.js)', () => {
  const servers: (http.Server | https.Server)[] = [];
  afterAll(async () => {
    for (const s of servers) await new Promise((r) => s.close(r));
  });

  it.each<[string, number, number]>([
    ['/healthz answers 200', 0, 200],
    ['/healthz answers 503', 1, 503],
    ['/healthz answers 404 (not oomwatch)', 1, 404],
  ])('%s: exit %i', async (_what, exit, status) => {
    const paths: string[] = [];
    const server = http.createServer((req, res) => {
      paths.push(req.url ?? '');
      res.writeHead(req.url === '/healthz' ? status : 404).end();
    });
    servers.push(server);
    const port = await serve(server);
    const r = await runHealthcheck({ OOMWATCH_LISTEN: `0.0.0.0:${port}` });
    expect(r.code).toBe(exit);
    expect(paths).toEqual(['/healthz']);
  });

  it('reports unhealthy, saying why, when nothing listens', async () => {
    const server = http.createServer();
    const port = await serve(server);
    await new Promise((r) => server.close(r));
    const r = await runHealthcheck({ OOMWATCH_LISTEN: `127.0.0.1:${port}` });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`GET /healthz on 127\\.0\\.0\\.1:${port} failed: .*ECONNREFUSED`));
  });

  it('refuses a --listen address it cannot read', async () => {
    const r = await runHealthcheck({ OOMWATCH_LISTEN: 'not-an-address' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('cannot read the --listen address "not-an-address"');
  });
});

describeIf(hasCommand('openssl', 'openssl'))('the image HEALTHCHECK over TLS', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-healthcheck-'));
  let server: https.Server;
  afterAll(async () => {
    await new Promise((r) => server?.close(r));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('speaks TLS when the web config has tls_server_config (a self-signed certificate is fine for a local probe)', async () => {
    const key = path.join(dir, 'key.pem');
    const cert = path.join(dir, 'cert.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '1',
        '-subj',
        '/CN=oomwatch.example',
      ],
      { stdio: 'pipe' },
    );
    server = https.createServer({ key: fs.readFileSync(key), cert: fs.readFileSync(cert) }, (req, res) =>
      res.writeHead(req.url === '/healthz' ? 200 : 404).end(),
    );
    const port = await serve(server);
    const webConfig = path.join(dir, 'web.yml');
    fs.writeFileSync(webConfig, `tls_server_config:\n  cert_file: ${cert}\n  key_file: ${key}\n`);
    expect(
      (await runHealthcheck({ OOMWATCH_LISTEN: `127.0.0.1:${port}`, OOMWATCH_WEB_CONFIG: webConfig })).code,
    ).toBe(0);
    // and plain HTTP against the TLS port is not mistaken for healthy
    expect((await runHealthcheck({ OOMWATCH_LISTEN: `127.0.0.1:${port}` })).code).toBe(1);
  });
});
