import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { serveFlags } from '../src/config';
import { envName } from '../src/flags';
import { runCli } from './helpers/cli';
import { freePort, isListening } from './helpers/net';
import { FIXTURES } from './helpers/paths';

/**
 * The real oomwatch binary (dist/cli.js) with good and bad command lines: --help documents every flag, and
 * every mistake ends the process with exit code 2 and one message on stderr that names the problem and the
 * fix, before anything listens.
 */
const V1 = path.join(FIXTURES, 'cgroup', 'v1');
let stateDir: string;
beforeAll(() => {
  stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-config-cli-'));
});
afterAll(() => fs.rmSync(stateDir, { recursive: true, force: true }));

describe('--help', () => {
  it.each([['serve', '--help'], ['--help'], ['serve', '-h']])(
    'oomwatch %s documents every flag with its environment variable and default',
    async (...args) => {
      const run = await runCli(args);
      expect(run.code).toBe(0);
      expect(run.stderr).toBe('');
      if (args[0] !== 'serve') {
        // the top-level help names the commands and points to each command's own --help
        expect(run.stdout).toMatch(/^Usage: oomwatch \[command\] \[flags\]/);
        expect(run.stdout).toContain('serve');
        expect(run.stdout).toContain('oomwatch <command> --help');
        return;
      }
      for (const spec of serveFlags()) {
        const line = run.stdout.split('\n').find((l) => l.trimStart().startsWith(`--${spec.name}`));
        expect({ flag: spec.name, documented: line !== undefined }).toEqual({
          flag: spec.name,
          documented: true,
        });
        expect(line).toContain(`env ${envName(spec)}`);
        if (spec.default) expect(line).toContain(`default ${spec.default}`);
      }
    },
  );
});

describe('a bad command line', () => {
  it.each([
    [
      'an interval that is not a duration',
      ['--interval', 'abc'],
      /^oomwatch: --interval: expected a duration such as 30s, 10m, 2h or 7d, got "abc"$/,
    ],
    [
      'an interval of zero',
      ['--interval', '0'],
      /^oomwatch: --interval: must be between 100ms and 1h, got 0s$/,
    ],
    [
      'an unknown flag',
      ['--frobnicate'],
      /^oomwatch: unknown flag --frobnicate: see --help for the flags this command takes$/,
    ],
    ['a flag without its value', ['--interval'], /^oomwatch: --interval needs a value \(SECONDS\)$/],
    [
      'a log level that does not exist',
      ['--log-level', 'loud'],
      /^oomwatch: --log-level: expected one of fatal, error, warn, info, debug, trace, got "loud"$/,
    ],
    [
      'a boolean that is not one',
      ['--k8s-events=maybe'],
      /^oomwatch: --k8s-events: expected true or false, got "maybe"$/,
    ],
    ['a stray argument', ['now'], /^oomwatch: unexpected argument "now": serve takes only flags$/],
    [
      'a cgroup root that does not exist',
      ['--cgroup-root', '/nonexistent/cgroup'],
      /^oomwatch: cgroup root \/nonexistent\/cgroup does not exist: mount the host's \/sys\/fs\/cgroup there \(read-only is enough\) or pass --cgroup-root$/,
    ],
    [
      'a cgroup root without a memory controller',
      ['--cgroup-root', os.tmpdir()],
      /^oomwatch: cgroup root .* holds no memory controller \(neither .*cgroup\.controllers listing memory nor .*memory\.usage_in_bytes\): mount the host's \/sys\/fs\/cgroup there or pass --cgroup-root$/,
    ],
  ])(
    '(%s) exits 2 with one message naming the problem and the fix, and nothing listens',
    async (_what, args, message) => {
      const port = await freePort();
      const run = await runCli([
        'serve',
        '--cgroup-root',
        V1,
        '--docker-socket',
        'none',
        '--kmsg',
        'none',
        '--state-dir',
        stateDir,
        '--listen',
        `127.0.0.1:${port}`,
        ...args,
      ]);
      expect(run.code).toBe(2);
      expect(run.stderr.trim().split('\n')).toHaveLength(1);
      expect(run.stderr.trim()).toMatch(message);
      expect(run.stdout).not.toContain('"msg":"listening"');
      expect(await isListening(port)).toBe(false);
    },
  );

  it("a cgroup v2 tree without the memory controller (a container's own cgroup) is named as such", async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-nomem-'));
    fs.writeFileSync(path.join(root, 'cgroup.controllers'), 'cpu io pids\n');
    try {
      const run = await runCli([
        'serve',
        '--cgroup-root',
        root,
        '--docker-socket',
        'none',
        '--kmsg',
        'none',
        '--state-dir',
        stateDir,
        '--listen',
        '127.0.0.1:0',
      ]);
      expect(run.code).toBe(2);
      expect(run.stderr.trim()).toBe(
        `oomwatch: cgroup root ${root} is a cgroup v2 tree without the memory controller (cgroup.controllers: "cpu io pids"): point --cgroup-root at the host's /sys/fs/cgroup, not at a container's own cgroup`,
      );
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it('a --listen address already in use is one message, exit 2, not a stack trace', async () => {
    const port = await freePort();
    const first = await import('node:net').then(
      (net) =>
        new Promise<import('node:net').Server>((resolve) => {
          const srv = net.createServer();
          srv.listen(port, '127.0.0.1', () => resolve(srv));
        }),
    );
    try {
      const run = await runCli([
        'serve',
        '--cgroup-root',
        V1,
        '--docker-socket',
        'none',
        '--kmsg',
        'none',
        '--state-dir',
        stateDir,
        '--listen',
        `127.0.0.1:${port}`,
      ]);
      expect(run.code).toBe(2);
      expect(run.stderr.trim()).toBe(
        `oomwatch: --listen: 127.0.0.1:${port} is already in use: stop what listens there or pass another --listen`,
      );
    } finally {
      first.close();
    }
  });

  it('a bad value from the environment names the variable', async () => {
    const run = await runCli(['serve', '--cgroup-root', V1, '--state-dir', stateDir], {
      env: { OOMWATCH_INTERVAL: 'soon' },
    });
    expect(run.code).toBe(2);
    expect(run.stderr.trim()).toBe(
      'oomwatch: environment variable OOMWATCH_INTERVAL: expected a duration such as 30s, 10m, 2h or 7d, got "soon"',
    );
  });

  it('an unknown command exits 2 and shows the usage', async () => {
    const run = await runCli(['frobnicate']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(
      /^oomwatch: unknown command "frobnicate"\n\nUsage: oomwatch \[command\] \[flags\]/,
    );
  });
});
