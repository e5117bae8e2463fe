import * as fs from 'node:fs';
import * as path from 'node:path';
import { NODE_VERSION } from '../helpers/image';
import { shippedNodeVersion } from '../helpers/node-dist';
import { flagPairs, parseDockerfile, readDockerfile } from '../helpers/dockerfile';
import { REPO } from '../helpers/paths';
import { parseStartScript } from '../helpers/start-script';

describe('parseDockerfile', () => {
  const sample = [
    '# mount:  bind   /sys/fs/cgroup  /host/sys/fs/cgroup  ro  host cgroup tree',
    '# mount:  device /dev/kmsg       /dev/kmsg            r   kernel log',
    '# mount:  volume state           /var/lib/oomwatch    rw  state',
    'ARG BUILDER_IMAGE=node:24-bookworm',
    'ARG BASE_IMAGE=node:24-bookworm-slim',
    'FROM ${BUILDER_IMAGE} AS build',
    'CMD ["npm", "test"]',
    'ENV BUILD_ONLY=1',
    'FROM ${BASE_IMAGE}',
    'ARG NOT_GLOBAL=1',
    'ENV A=1 B=two',
    'VOLUME /var/lib/oomwatch',
    'EXPOSE 9797',
    'HEALTHCHECK --interval=30s \\',
    '  CMD ["node", "/app/healthcheck.js"]',
    'ENTRYPOINT ["node", "/app/dist/cli.js"]',
    'CMD ["serve", "--listen", "0.0.0.0:9797"]',
  ].join('\n');

  it('reads the documented mounts, the global build args and the final stage', () => {
    const f = parseDockerfile(sample);
    expect(f.mounts.map((m) => [m.kind, m.source, m.target, m.mode])).toEqual([
      ['bind', '/sys/fs/cgroup', '/host/sys/fs/cgroup', 'ro'],
      ['device', '/dev/kmsg', '/dev/kmsg', 'r'],
      ['volume', 'state', '/var/lib/oomwatch', 'rw'],
    ]);
    expect(f.globalArgs).toEqual(['BUILDER_IMAGE', 'BASE_IMAGE']);
    expect(f.froms).toEqual(['${BUILDER_IMAGE} AS build', '${BASE_IMAGE}']);
    expect(f.cmd).toEqual(['serve', '--listen', '0.0.0.0:9797']);
    expect(f.entrypoint).toEqual(['node', '/app/dist/cli.js']);
    expect(f.healthcheck).toEqual(['node', '/app/healthcheck.js']);
    expect(f.volumes).toEqual(['/var/lib/oomwatch']);
    expect(f.exposed).toEqual(['9797']);
    expect(f.env).toEqual({ A: '1', B: 'two' });
  });

  it('refuses a shell-form ENTRYPOINT, which would put sh in front of oomwatch as PID 1', () => {
    expect(() => parseDockerfile('FROM x\nENTRYPOINT node /app/dist/cli.js')).toThrow(/exec form/);
  });

  it.each<[string[], Record<string, string>]>([
    [
      ['serve', '--listen', '0.0.0.0:9797', '--kmsg=/dev/kmsg'],
      { listen: '0.0.0.0:9797', kmsg: '/dev/kmsg' },
    ],
    [['--state-dir', '/var/lib/oomwatch'], { 'state-dir': '/var/lib/oomwatch' }],
  ])('flagPairs(%j)', (args, flags) => {
    expect(Object.fromEntries(flagPairs(args))).toEqual(flags);
  });
});

describe('the Dockerfile', () => {
  const f = readDockerfile();

  it('takes its base images as build arguments, so the suite can build it with local ones', () => {
    expect(f.globalArgs).toEqual(expect.arrayContaining(['BUILDER_IMAGE', 'BASE_IMAGE']));
    expect(f.froms[0]).toMatch(/^\$\{BUILDER_IMAGE\} AS build$/);
    expect(f.froms[f.froms.length - 1]).toBe('${BASE_IMAGE}');
  });

  it('defaults to official Node.js images of the same Node.js the suite builds its local bases with', () => {
    const text = fs.readFileSync(path.join(REPO, 'Dockerfile'), 'utf8');
    expect(text).toContain(`ARG BUILDER_IMAGE=node:${NODE_VERSION}-bookworm\n`);
    expect(text).toContain(`ARG BASE_IMAGE=node:${NODE_VERSION}-bookworm-slim\n`);
    // Node.js 24 LTS: the release .node-version names, which CI and the VM guest run too.
    expect(NODE_VERSION).toBe(shippedNodeVersion());
    expect(NODE_VERSION.split('.')[0]).toBe('24');
  });

  it('runs oomwatch itself as PID 1 (node, no npm and no shell in between) with a HEALTHCHECK that needs no curl', () => {
    expect(f.entrypoint[0]).toBe('node');
    expect(f.entrypoint[f.entrypoint.length - 1]).toBe('/app/dist/cli.js');
    expect(f.cmd[0]).toBe('serve');
    expect(f.healthcheck).toEqual(['node', '/app/healthcheck.js']);
    expect(f.exposed).toEqual(['9797']);
  });

  it('runs node with the flags of npm start, the ones the benchmark figures in the README were measured with', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    const start = parseStartScript(pkg.scripts['start'] ?? '');
    expect(start.nodeFlags).toContain('--optimize-for-size');
    expect(start.nodeFlags).toContain('--max-opt=2');
    expect(start.nodeFlags).toContain('--single-threaded');
    expect(f.entrypoint.slice(1, -1)).toEqual(start.nodeFlags);
    // and the environment npm start puts in front of node, which the image sets with ENV
    expect(start.env).toEqual({ GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=131072' });
    expect(f.env).toMatchObject(start.env);
  });

  it('documents every mount its command line points at, and declares the state volume', () => {
    const flags = flagPairs(f.cmd);
    const targets = new Map(f.mounts.map((m) => [m.target, m]));
    for (const flag of ['cgroup-root', 'proc-root', 'docker-socket', 'kmsg', 'state-dir']) {
      expect({ flag, documented: targets.has(flags.get(flag) as string) }).toEqual({
        flag,
        documented: true,
      });
    }
    expect(targets.get('/host/sys/fs/cgroup')).toMatchObject({
      kind: 'bind',
      source: '/sys/fs/cgroup',
      mode: 'ro',
    });
    expect(targets.get('/host/proc')).toMatchObject({ kind: 'bind', source: '/proc', mode: 'ro' });
    expect(targets.get('/var/run/docker.sock')).toMatchObject({
      kind: 'bind',
      source: '/var/run/docker.sock',
      mode: 'ro',
    });
    expect(targets.get('/dev/kmsg')).toMatchObject({ kind: 'device', source: '/dev/kmsg', mode: 'r' });
    expect(targets.get('/var/lib/oomwatch')).toMatchObject({ kind: 'volume', mode: 'rw' });
    expect(f.volumes).toEqual([flags.get('state-dir')]);
  });
});
