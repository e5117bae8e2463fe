import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import bcrypt from 'bcryptjs';
import { startOomwatch } from '../helpers/daemon';
import { FIXTURES, REPO } from '../helpers/paths';

/**
 * Libraries that only some hosts need are loaded only there: every module loaded is resident memory for the
 * daemon's whole life. The real binary runs with a preload that lists the modules it loaded by the time it
 * exits, after serving a scrape. A library that shows up where it is not needed is a regression in resident
 * memory; each row also names a library that must load, so that the listing itself is known to work.
 */
const PRELOAD = path.join(REPO, 'test', 'helpers', 'record-modules.cjs');
const BASE_ARGS = ['--docker-socket', 'none', '--kmsg', 'none', '--interval', '1h'];
const USER = 'prometheus';
const PASSWORD = 'correct horse battery staple';

/** The packages (by their node_modules directory) among the modules the binary loaded. */
async function packagesLoaded(args: string[], authorization?: string): Promise<Set<string>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-modules-'));
  const list = path.join(dir, 'modules.txt');
  try {
    const ow = await startOomwatch({
      args: [...BASE_ARGS, ...args],
      env: { NODE_OPTIONS: `--require ${PRELOAD}`, OOMWATCH_TEST_MODULES_FILE: list },
    });
    try {
      const res = await fetch(`${ow.url}/metrics`, authorization ? { headers: { authorization } } : {});
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('# TYPE oomwatch_build_info gauge');
    } finally {
      expect(await ow.stop()).toBe(0);
    }
    const packages = new Set<string>();
    for (const file of fs.readFileSync(list, 'utf8').split('\n')) {
      const m = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(file);
      if (m) packages.add(m[1] as string);
    }
    return packages;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** ajv, ajv-formats and fast-json-stringify's compiler: fastify's schema compilers, for routes with schemas. */
const SCHEMA_COMPILERS = [
  '@fastify/ajv-compiler',
  '@fastify/fast-json-stringify-compiler',
  'ajv',
  'ajv-formats',
];
/** The YAML parser and bcrypt: --web-config alone. */
const WEB_CONFIG = ['yaml', 'bcryptjs'];

describe('the libraries the daemon loads', () => {
  it('on a cgroup v1 host without --web-config: neither schema compilers, the web config libraries nor chokidar', async () => {
    const loaded = await packagesLoaded(['--cgroup-root', path.join(FIXTURES, 'cgroup', 'v1')]);
    expect(loaded).toContain('fastify');
    for (const p of [...SCHEMA_COMPILERS, ...WEB_CONFIG, 'chokidar']) expect(loaded).not.toContain(p);
  });

  it('on a cgroup v2 host: chokidar, to watch memory.events', async () => {
    const loaded = await packagesLoaded(['--cgroup-root', path.join(FIXTURES, 'cgroup', 'v2')]);
    expect(loaded).toContain('chokidar');
    for (const p of [...SCHEMA_COMPILERS, ...WEB_CONFIG]) expect(loaded).not.toContain(p);
  });

  it('with --web-config and basic auth: the YAML parser and bcrypt, still no schema compilers', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-webcfg-'));
    try {
      const file = path.join(dir, 'web.yml');
      fs.writeFileSync(file, `basic_auth_users:\n  ${USER}: ${bcrypt.hashSync(PASSWORD, 4)}\n`);
      const loaded = await packagesLoaded(
        ['--cgroup-root', path.join(FIXTURES, 'cgroup', 'v1'), '--web-config', file],
        `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`,
      );
      for (const p of WEB_CONFIG) expect(loaded).toContain(p);
      for (const p of SCHEMA_COMPILERS) expect(loaded).not.toContain(p);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
