import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import bcrypt from 'bcryptjs';
import { type RunningOomwatch, startOomwatch } from '../helpers/daemon';
import { describeIf, hasCommand } from '../helpers/prereq';
import { runCli } from '../helpers/cli';
import { freePort, isListening } from '../helpers/net';
import { FIXTURES } from '../helpers/paths';

/**
 * --web-config, the Prometheus exporter-toolkit file, end to end: a CA and a server certificate made here
 * with openssl, a bcrypt hash made here with bcryptjs, the real oomwatch binary serving TLS, and Node's own
 * HTTPS client trusting only that CA.
 */
const TREE = path.join(FIXTURES, 'cgroup', 'v1');
const BASE_ARGS = ['--cgroup-root', TREE, '--docker-socket', 'none', '--kmsg', 'none', '--interval', '1h'];
const USER = 'prometheus';
const PASSWORD = 'correct horse battery staple';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function get(
  url: string,
  opts: { ca?: Buffer; auth?: string; authorization?: string; maxVersion?: 'TLSv1.1' } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (opts.auth !== undefined)
      headers['authorization'] = `Basic ${Buffer.from(opts.auth).toString('base64')}`;
    if (opts.authorization !== undefined) headers['authorization'] = opts.authorization;
    const req = https.get(
      url,
      { ca: opts.ca, headers, ...(opts.maxVersion ? { maxVersion: opts.maxVersion } : {}) },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
  });
}

function makeCertificates(dir: string): { ca: Buffer } {
  const openssl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '2',
    '-subj',
    '/CN=oomwatch test CA',
  );
  openssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
  fs.writeFileSync(path.join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.crt',
    '-days',
    '2',
    '-extfile',
    'san.ext',
  );
  return { ca: fs.readFileSync(path.join(dir, 'ca.crt')) };
}

describeIf(hasCommand('openssl', 'openssl'))('TLS and basic auth through --web-config', () => {
  let dir: string;
  let ca: Buffer;
  let ow: RunningOomwatch;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-tls-'));
    ({ ca } = makeCertificates(dir));
    // htpasswd -nBC 10 writes $2y$ hashes, bcryptjs $2b$: the same algorithm, both must be accepted
    const hash = bcrypt.hashSync(PASSWORD, 10).replace(/^\$2b\$/, '$2y$');
    fs.writeFileSync(
      path.join(dir, 'web.yml'),
      [
        'tls_server_config:',
        '  cert_file: server.crt', // relative to the file, as in exporter-toolkit
        '  key_file: server.key',
        'http_server_config:',
        '  headers:',
        '    Strict-Transport-Security: max-age=31536000',
        'basic_auth_users:',
        `  ${USER}: ${hash}`,
        `  other: ${bcrypt.hashSync('something else', 10)}`,
        '',
      ].join('\n'),
    );
    ow = await startOomwatch({ args: [...BASE_ARGS, '--web-config', path.join(dir, 'web.yml')] });
  });
  afterAll(async () => {
    await ow?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('listens on https', () => {
    expect(ow.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  });

  it('serves /metrics to the right user and password', async () => {
    const res = await get(`${ow.url}/metrics`, { ca, auth: `${USER}:${PASSWORD}` });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(res.body).toContain('oomwatch_container_memory_usage_bytes{');
    expect(res.headers['strict-transport-security']).toBe('max-age=31536000');
  });

  it.each([
    ['a wrong password', { auth: `${USER}:${PASSWORD}x` }],
    ["another user's password", { auth: `other:${PASSWORD}` }],
    ['an unknown user', { auth: `nobody:${PASSWORD}` }],
    ['no credentials', {}],
    ['an empty password', { auth: `${USER}:` }],
    ['a scheme other than Basic', { authorization: `Bearer ${PASSWORD}` }],
    ['credentials without a colon', { authorization: `Basic ${Buffer.from(USER).toString('base64')}` }],
  ])('answers %s with 401 and nothing else', async (_what, creds) => {
    const res = await get(`${ow.url}/metrics`, { ca, ...creds });
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Basic realm="oomwatch"');
    expect(res.body).toBe('Unauthorized\n');
  });

  it('keeps the OOM event API behind the same credentials', async () => {
    expect((await get(`${ow.url}/api/v1/oom-events`, { ca })).status).toBe(401);
    expect((await get(`${ow.url}/api/v1/oom-events`, { ca, auth: `${USER}:${PASSWORD}` })).status).toBe(200);
  });

  it('answers the health probes without credentials (they reveal nothing)', async () => {
    expect(await get(`${ow.url}/healthz`, { ca })).toMatchObject({ status: 200, body: 'ok\n' });
    expect(await get(`${ow.url}/readyz`, { ca })).toMatchObject({ status: 200, body: 'ready\n' });
  });

  it('is refused by a client that does not trust the CA', async () => {
    await expect(get(`${ow.url}/healthz`)).rejects.toThrow(/self[- ]signed|unable to (get|verify)/i);
  });

  it('refuses TLS 1.1 (exporter-toolkit defaults to TLS 1.2 at least)', async () => {
    await expect(get(`${ow.url}/healthz`, { ca, maxVersion: 'TLSv1.1' })).rejects.toThrow(
      /version|protocol|alert/i,
    );
  });

  it('refuses to start with a key that does not belong to the certificate: exit 2, a message, nothing listens', async () => {
    fs.writeFileSync(
      path.join(dir, 'mismatch.yml'),
      'tls_server_config:\n  cert_file: server.crt\n  key_file: ca.key\n',
    );
    const port = await freePort();
    const run = await runCli([
      'serve',
      ...BASE_ARGS,
      '--listen',
      `127.0.0.1:${port}`,
      '--web-config',
      path.join(dir, 'mismatch.yml'),
      '--state-dir',
      dir,
    ]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(
      /mismatch\.yml: the TLS certificate, key or CA cannot be used \(.*key values mismatch.*\): give PEM files/,
    );
    expect(await isListening(port)).toBe(false);
  });

  it('does not speak plain HTTP on the TLS port', async () => {
    await expect(fetch(ow.url.replace('https:', 'http:') + '/healthz')).rejects.toThrow();
  });
});

describe('a bad --web-config file', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-webcfg-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it.each([
    ['not YAML', 'tls_server_config: [unclosed\n', /--web-config .*web\.yml: cannot read it as YAML/],
    [
      'a misspelt key (a typo must not silently turn TLS off)',
      'tls_server_conifg:\n  cert_file: a.crt\n',
      /unknown key "tls_server_conifg" \(expected tls_server_config, http_server_config, basic_auth_users\)/,
    ],
    [
      'a plain password instead of a bcrypt hash',
      'basic_auth_users:\n  prometheus: hunter2\n',
      /basic_auth_users\.prometheus is not a bcrypt hash \(make one with: htpasswd -nBC 10 "" \| tr -d ':\\n'\)/,
    ],
    [
      'a certificate file that is not there',
      'tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n',
      /cannot read cert_file .*missing\.crt: ENOENT/,
    ],
    [
      'client certificates required without a CA to check them',
      'tls_server_config:\n  cert: x\n  key: y\n  client_auth_type: RequireAndVerifyClientCert\n',
      /client_auth_type RequireAndVerifyClientCert needs client_ca_file/,
    ],
    [
      'a certificate file that is not PEM',
      'tls_server_config:\n  cert_file: web.yml\n  key_file: web.yml\n',
      /the TLS certificate, key or CA cannot be used \(.*no start line\): give PEM files/,
    ],
    [
      'a TLS version that does not exist',
      'tls_server_config:\n  cert: x\n  key: y\n  min_version: TLS14\n',
      /min_version "TLS14" is not one of TLS10, TLS11, TLS12, TLS13/,
    ],
  ])(
    '(%s) ends oomwatch with exit code 2 and one clear message, before anything listens',
    async (_what, yaml, message) => {
      const file = path.join(dir, 'web.yml');
      fs.writeFileSync(file, yaml);
      const port = await freePort();
      const run = await runCli([
        'serve',
        ...BASE_ARGS,
        '--listen',
        `127.0.0.1:${port}`,
        '--web-config',
        file,
        '--state-dir',
        dir,
      ]);
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(message);
      expect(run.stderr.trim().split('\n')).toHaveLength(1);
      expect(run.stdout).not.toContain('"msg":"listening"');
      expect(await isListening(port)).toBe(false);
    },
  );

  it('that does not exist is reported with the flag errors', async () => {
    const run = await runCli([
      'serve',
      ...BASE_ARGS,
      '--web-config',
      path.join(dir, 'nope.yml'),
      '--state-dir',
      dir,
    ]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(
      /--web-config: file .*nope\.yml does not exist: pass the path of an exporter-toolkit web config file/,
    );
  });
});
