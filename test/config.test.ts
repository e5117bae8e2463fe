import { loadConfig, serveFlags } from '../src/config';
import { OomwatchError } from '../src/errors';
import { envName, parseDurationMs, parseFlags } from '../src/flags';

/** The flag table and loadConfig, in-process: every flag, its environment variable, every kind of mistake. */
const BASE = ['--cgroup-root', '/sys/fs/cgroup', '--proc-root', '/proc'];

function errorOf(argv: string[], env: NodeJS.ProcessEnv = {}): OomwatchError {
  try {
    loadConfig([...BASE, ...argv], env);
  } catch (err) {
    if (err instanceof OomwatchError) return err;
    throw err;
  }
  throw new Error(`loadConfig accepted ${argv.join(' ')}`);
}

describe('loadConfig', () => {
  it('gives the documented defaults', () => {
    const c = loadConfig(BASE, {});
    expect(c).toMatchObject({
      listen: { host: '0.0.0.0', port: 9797 },
      intervalMs: 2000,
      logLevel: 'info',
      seriesGraceMs: 600_000,
      stateDir: '/var/lib/oomwatch',
      retentionMs: 30 * 86_400_000,
      dockerSocket: '/var/run/docker.sock',
      containerdSocket: null,
      podmanSocket: null,
      kmsgPath: '/dev/kmsg',
      labelAllow: [],
      k8sEvents: true,
    });
    expect(c.containerdNamespaces).toBeUndefined();
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('takes every flag from its OOMWATCH_* environment variable, and a flag wins over the variable', () => {
    const env = {
      OOMWATCH_LISTEN: '127.0.0.1:9100',
      OOMWATCH_INTERVAL: '500ms',
      OOMWATCH_LOG_LEVEL: 'debug',
      OOMWATCH_SERIES_GRACE: '2m',
      OOMWATCH_DOCKER_SOCKET: 'none',
      OOMWATCH_CONTAINERD_SOCKET: '/run/containerd/containerd.sock',
      OOMWATCH_CONTAINERD_NAMESPACES: 'default,k8s.io',
      OOMWATCH_PODMAN_SOCKET: '/run/podman/podman.sock',
      OOMWATCH_KMSG: 'none',
      OOMWATCH_LABEL_ALLOW: 'com.example.team,app',
      OOMWATCH_K8S_EVENTS: 'false',
      NODE_NAME: 'node-1',
    };
    expect(loadConfig(BASE, env)).toMatchObject({
      listen: { host: '127.0.0.1', port: 9100 },
      intervalMs: 500,
      logLevel: 'debug',
      seriesGraceMs: 120_000,
      dockerSocket: null,
      containerdSocket: '/run/containerd/containerd.sock',
      containerdNamespaces: ['default', 'k8s.io'],
      podmanSocket: '/run/podman/podman.sock',
      kmsgPath: null,
      labelAllow: ['com.example.team', 'app'],
      k8sEvents: false,
      nodeName: 'node-1',
    });
    expect(loadConfig([...BASE, '--interval', '5'], env).intervalMs).toBe(5000);
  });

  it('reads the containerd socket as a path or unix:// URL, and namespaces repeated or comma-separated', () => {
    const c = loadConfig(
      [
        ...BASE,
        '--containerd-socket',
        'unix:///run/containerd/containerd.sock',
        '--containerd-namespaces',
        'default',
        '--containerd-namespaces=k8s.io,team_a.b-c',
      ],
      {},
    );
    expect(c.containerdSocket).toBe('unix:///run/containerd/containerd.sock');
    expect(c.containerdNamespaces).toEqual(['default', 'k8s.io', 'team_a.b-c']);
    expect(loadConfig([...BASE, '--containerd-socket', 'none'], {}).containerdSocket).toBeNull();
  });

  it('reads IPv6 listen addresses and repeated list flags', () => {
    const c = loadConfig(
      [...BASE, '--listen', '[::1]:9797', '--label-allow', 'a', '--label-allow', 'b,c'],
      {},
    );
    expect(c.listen).toEqual({ host: '::1', port: 9797 });
    expect(c.labelAllow).toEqual(['a', 'b', 'c']);
  });

  it.each([
    ['--k8s-events', true],
    ['--k8s-events=false', false],
    ['--k8s-events false', false],
    ['--k8s-events=no', false],
  ])('reads the boolean %s', (arg, expected) => {
    expect(loadConfig([...BASE, ...arg.split(' ')], {}).k8sEvents).toBe(expected);
  });

  it.each([
    ['--interval abc', '--interval: expected a duration such as 30s, 10m, 2h or 7d, got "abc"'],
    ['--interval 0', '--interval: must be between 100ms and 1h, got 0s'],
    ['--interval 2h', '--interval: must be between 100ms and 1h, got 7200s'],
    ['--series-grace -5m', '--series-grace: expected a duration such as 30s, 10m, 2h or 7d, got "-5m"'],
    ['--retention forever', '--retention: expected a duration such as 30s, 10m, 2h or 7d, got "forever"'],
    ['--listen nope', '--listen: expected HOST:PORT such as 0.0.0.0:9797 or [::1]:9797, got "nope"'],
    ['--listen 0.0.0.0:70000', '--listen: port 70000 is not between 0 and 65535, in "0.0.0.0:70000"'],
    ['--log-level loud', '--log-level: expected one of fatal, error, warn, info, debug, trace, got "loud"'],
    ['--k8s-events=maybe', '--k8s-events: expected true or false, got "maybe"'],
    ['--label-allow bad!label', '--label-allow: "bad!label" is not a container label name'],
    [
      '--containerd-namespaces default',
      '--containerd-namespaces: the containerd source is off; pass --containerd-socket PATH (usually /run/containerd/containerd.sock) as well',
    ],
    [
      '--containerd-socket /run/c.sock --containerd-namespaces default,-bad',
      `--containerd-namespaces: "-bad" is not a containerd namespace name (letters and digits, single '.', '_' or '-' between them, at most 76 characters; e.g. default, k8s.io)`,
    ],
    [
      `--containerd-socket /run/c.sock --containerd-namespaces ${'n'.repeat(77)}`,
      `--containerd-namespaces: "${'n'.repeat(77)}" is not a containerd namespace name (letters and digits, single '.', '_' or '-' between them, at most 76 characters; e.g. default, k8s.io)`,
    ],
    [
      '--containerd-socket /run/c.sock --containerd-namespaces ,',
      '--containerd-namespaces: give at least one namespace, or leave the flag out to watch them all',
    ],
    [
      '--containerd-socket tcp://10.0.0.1:1234',
      '--containerd-socket: only a unix socket path is supported, got "tcp://10.0.0.1:1234"; mount containerd\'s socket into the oomwatch container and pass its path',
    ],
    ['--frobnicate', 'unknown flag --frobnicate: see --help for the flags this command takes'],
    ['--interval', '--interval needs a value (SECONDS)'],
    ['extra', 'unexpected argument "extra": serve takes only flags'],
  ])('%s is one clear message, exit code 2', (args, message) => {
    const err = errorOf(args.split(' '));
    expect(err.message).toBe(`oomwatch: ${message}`);
    expect(err.exitCode).toBe(2);
  });

  it('names the environment variable when the bad value came from it', () => {
    expect(errorOf([], { OOMWATCH_INTERVAL: 'soon' }).message).toBe(
      'oomwatch: environment variable OOMWATCH_INTERVAL: expected a duration such as 30s, 10m, 2h or 7d, got "soon"',
    );
  });

  it('reports every problem at once, one per line', () => {
    const err = errorOf(['--interval', 'abc', '--log-level', 'loud', '--frobnicate']);
    expect(err.message.split('\n')).toEqual([
      'oomwatch: --interval: expected a duration such as 30s, 10m, 2h or 7d, got "abc"',
      'oomwatch: unknown flag --frobnicate: see --help for the flags this command takes',
      'oomwatch: --log-level: expected one of fatal, error, warn, info, debug, trace, got "loud"',
    ]);
  });
});

describe('the flag table', () => {
  it('gives every flag a help text and an environment variable (NODE_NAME and KUBECONFIG as Kubernetes names them)', () => {
    for (const spec of serveFlags()) {
      expect({ flag: spec.name, help: spec.help.length > 10 }).toEqual({ flag: spec.name, help: true });
      const env = envName(spec);
      expect(
        env === `OOMWATCH_${spec.name.toUpperCase().replace(/-/g, '_')}` ||
          env === 'NODE_NAME' ||
          env === 'KUBECONFIG',
      ).toBe(true);
    }
  });

  it.each([
    ['90', 90_000],
    ['1.5', 1500],
    ['500ms', 500],
    ['10m', 600_000],
    ['2h', 7_200_000],
    ['30d', 2_592_000_000],
    ['1w', 604_800_000],
    ['10 m', undefined],
    ['-1s', undefined],
    ['', undefined],
  ])('reads the duration "%s"', (text, ms) => {
    expect(parseDurationMs(text)).toBe(ms);
  });

  it('leaves a word after a boolean flag that is not true/false as an argument', () => {
    const r = parseFlags([{ name: 'json', type: 'boolean', help: 'json output' }], ['--json', 'web'], {});
    expect(r.values['json']).toBe(true);
    expect(r.positional).toEqual(['web']);
  });
});
