import * as fs from 'node:fs';
import * as path from 'node:path';
import { hostOomKills, randomHex } from '../helpers/cgroup-v1';
import { eventually } from '../helpers/daemon';
import {
  TEST_IMAGE,
  TEST_LABEL,
  allocateShell,
  docker,
  ensureDockerd,
  ensureTestImage,
  waitExit,
} from '../helpers/docker';
import { buildOomwatchImage, hasDebootstrap } from '../helpers/image';
import { describeIf, isRoot } from '../helpers/prereq';
import { type PromSample, parseExposition, valueOf } from '../helpers/prom';
import { readDockerfile } from '../helpers/dockerfile';
import { freePort } from '../helpers/net';
import { REPO } from '../helpers/paths';

/**
 * The image, built by the suite from the repository's Dockerfile on local base images, run the way
 * the Dockerfile documents: next to the containers it watches, with its mounts and its least-privilege
 * flags. A sibling container is OOM-killed for real; the containerized oomwatch must report the kill
 * under the sibling's name; `docker stop` must end it cleanly within the grace period, and a new
 * container on the same state volume must carry the counters on.
 *
 * Docker runs here without a bridge network, so the sidecar uses the host's network and listens on a
 * free loopback port (the one change to the documented command line); everything else is as
 * documented. Every container and volume is named uniquely and removed afterwards.
 */
const RUN = randomHex(8);
const SIDECAR = `oomwatch-deploy-sidecar-${RUN}`;
const STATE_VOLUME = `oomwatch-deploy-state-${RUN}`;
const VICTIM = `oomwatch-deploy-victim-${RUN}`;
const PROBES: string[] = [];
const PROBE_VOLUMES: string[] = [];

/**
 * The least-privilege `docker run` recipe of the Dockerfile's header, as arguments. The container name,
 * -d, --restart, -p and the image are left out (the suite names its own containers and uses the host
 * network).
 */
function documentedRunFlags(): string[] {
  const text = fs.readFileSync(path.join(REPO, 'Dockerfile'), 'utf8');
  const lines = text.split('\n');
  const start = lines.findIndex((l) => /^#\s+docker run -d --name oomwatch --restart /.test(l));
  if (start < 0) throw new Error('the Dockerfile no longer documents its least-privilege docker run recipe');
  const recipe: string[] = [];
  for (let i = start; i < lines.length; i++) {
    const l = (lines[i] as string).replace(/^#\s*/, '').replace(/\\$/, '').trim();
    recipe.push(...l.split(/\s+/).filter(Boolean));
    if (!(lines[i] as string).trimEnd().endsWith('\\')) break;
  }
  // docker run -d --name oomwatch --restart unless-stopped ... -p 9797:9797 oomwatch
  const args = recipe.slice(2, -1);
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '-d') continue;
    if (a === '--name' || a === '--restart' || a === '-p') {
      i++;
      continue;
    }
    out.push(a);
  }
  return out;
}

interface Sidecar {
  name: string;
  url: string;
}

/** Start the image as documented (flags, mounts, state volume), on the host network and a free port. */
async function startSidecar(
  name: string,
  opts: { flags?: string[]; volume?: string } = {},
): Promise<Sidecar> {
  const port = await freePort();
  const flags = (opts.flags ?? documentedRunFlags()).map((f) =>
    f.startsWith('oomwatch-state:') ? f.replace('oomwatch-state', opts.volume ?? STATE_VOLUME) : f,
  );
  const cmd = readDockerfile().cmd.map((a) => (a === '0.0.0.0:9797' ? `127.0.0.1:${port}` : a));
  await docker(
    'run',
    '-d',
    '--name',
    name,
    '--label',
    TEST_LABEL,
    '--network',
    'host',
    '--health-interval',
    '1s',
    ...flags,
    'oomwatch-local/oomwatch:test',
    ...cmd,
  );
  const url = `http://127.0.0.1:${port}`;
  await eventually(
    async () => {
      const res = await fetch(`${url}/readyz`);
      return res.ok ? true : undefined;
    },
    60_000,
    `${name} to answer /readyz`,
  ).catch(async (err: unknown) => {
    const state = await docker('inspect', '--format', '{{json .State}}', name).catch(() => '');
    const top = await docker('top', name).catch(() => '');
    throw new Error(
      `${(err as Error).message}\nstate: ${state}\nprocesses:\n${top}\nlogs:\n${await docker('logs', name).catch(() => '')}`,
    );
  });
  return { name, url };
}

async function scrape(s: Sidecar): Promise<PromSample[]> {
  const res = await fetch(`${s.url}/metrics`);
  if (!res.ok) throw new Error(`/metrics answered ${res.status}`);
  return parseExposition(await res.text());
}

async function kills(s: Sidecar, name: string): Promise<number | undefined> {
  return valueOf(await scrape(s), 'oomwatch_container_oom_kills_total', { name });
}

async function inspect(name: string, format: string): Promise<string> {
  return docker('inspect', '--format', format, name);
}

/** A busybox sibling that waits a moment (so oomwatch sees it alive first), then allocates past its limit. */
async function runVictim(): Promise<number> {
  await docker(
    'run',
    '-d',
    '--name',
    VICTIM,
    '--network=none',
    '--label',
    TEST_LABEL,
    '--memory=32m',
    '--memory-swap=32m',
    TEST_IMAGE,
    'sh',
    '-c',
    `sleep 3; ${allocateShell(100)}`,
  );
  return waitExit(VICTIM);
}

describeIf(
  isRoot(),
  ensureDockerd(),
  hasDebootstrap(),
)('the oomwatch image as a Docker sidecar', () => {
  let sidecar: Sidecar;

  beforeAll(async () => {
    ensureTestImage();
    const built = buildOomwatchImage((m) => process.stdout.write(`${m}\n`));
    process.stdout.write(`oomwatch image built from the Dockerfile in ${built.seconds.toFixed(0)} s\n`);
    sidecar = await startSidecar(SIDECAR);
  }, 1_800_000);

  afterAll(async () => {
    for (const name of [SIDECAR, `${SIDECAR}-2`, VICTIM, ...PROBES])
      await docker('rm', '-f', name).catch(() => undefined);
    for (const volume of [STATE_VOLUME, ...PROBE_VOLUMES])
      await docker('volume', 'rm', '-f', volume).catch(() => undefined);
  });

  it('runs oomwatch itself as PID 1 on Node.js 24, and the HEALTHCHECK turns it healthy', async () => {
    const cmdline = await docker(
      'exec',
      SIDECAR,
      'node',
      '-e',
      "process.stdout.write(require('fs').readFileSync('/proc/1/cmdline','utf8').split('\\0').join(' '))",
    );
    expect(cmdline.trim()).toBe(
      [
        ...readDockerfile().entrypoint,
        ...readDockerfile().cmd.map((a) => (a === '0.0.0.0:9797' ? new URL(sidecar.url).host : a)),
      ].join(' '),
    );
    const status = await eventually(
      async () =>
        (await inspect(SIDECAR, '{{.State.Health.Status}}')) === 'healthy' ? 'healthy' : undefined,
      30_000,
      'healthy',
    );
    expect(status).toBe('healthy');
    const build = (await scrape(sidecar)).find((s) => s.name === 'oomwatch_build_info');
    expect(build?.labels['nodejs_version']).toMatch(/^v24\./);
  });

  it('has every source up with the least-privilege recipe (state in SQLite built for Node.js 24, cgroups, kernel log, Docker)', async () => {
    const samples = await eventually(
      async () => {
        const s = await scrape(sidecar);
        return valueOf(s, 'oomwatch_source_up', { source: 'docker' }) === 1 ? s : undefined;
      },
      30_000,
      'the docker source to be up',
    );
    for (const source of ['state', 'cgroup', 'kmsg', 'vmstat', 'docker']) {
      expect({ source, up: valueOf(samples, 'oomwatch_source_up', { source }) }).toEqual({ source, up: 1 });
    }
  });

  it('reports a sibling container OOM-killed for real, under its name, with the victim in the event log', async () => {
    expect(await runVictim()).toBe(137);
    expect(await inspect(VICTIM, '{{.State.OOMKilled}}')).toBe('true');
    const counted = await eventually(
      async () => {
        const v = await kills(sidecar, VICTIM);
        return v !== undefined && v >= 1 ? v : undefined;
      },
      30_000,
      `oomwatch_container_oom_kills_total{name="${VICTIM}"} >= 1`,
    );
    expect(counted).toBeGreaterThanOrEqual(1);
    const samples = await scrape(sidecar);
    expect(
      valueOf(samples, 'oomwatch_container_exits_total', {
        name: VICTIM,
        exit_code: '137',
        oom_killed: 'true',
      }),
    ).toBe(1);
    const res = await fetch(`${sidecar.url}/api/v1/oom-events?container=${VICTIM}`);
    const body = (await res.json()) as {
      events: {
        container: { name: string } | null;
        victim: { pid: number; comm: string } | null;
        sources: string[];
      }[];
    };
    expect(body.events.length).toBeGreaterThanOrEqual(1);
    expect(body.events[0]?.container?.name).toBe(VICTIM);
    expect(body.events[0]?.victim?.comm).toEqual(expect.any(String));
    expect(body.events[0]?.sources).toContain('kmsg');
  });

  it('stops cleanly on docker stop within the grace period, and a new container on the same volume carries the counters on', async () => {
    const before = (await kills(sidecar, VICTIM)) as number;
    expect(before).toBeGreaterThanOrEqual(1);
    const started = Date.now();
    await docker('stop', '--time', '10', SIDECAR);
    const stopSeconds = (Date.now() - started) / 1000;
    process.stdout.write(`docker stop of the sidecar took ${stopSeconds.toFixed(2)} s (grace period 10 s)\n`);
    expect(stopSeconds).toBeLessThan(10);
    expect(await inspect(SIDECAR, '{{.State.ExitCode}}')).toBe('0');
    expect(await docker('logs', SIDECAR)).toMatch(/"msg":"stopped"/);

    const next = await startSidecar(`${SIDECAR}-2`);
    const restored = await eventually(
      async () => kills(next, VICTIM),
      30_000,
      `the victim's counter after the restart`,
    );
    expect(restored).toBe(before);
    // The same container killed again: the count goes on from where it was. Past its limit the workload may
    // lose more than one process (the shell collecting the output, and `tr` feeding it), and each is a kill:
    // the kernel's own count across the restart is the truth (the real suite runs one file at a time).
    const hostBefore = hostOomKills();
    await docker('start', VICTIM);
    expect(await waitExit(VICTIM)).toBe(137);
    const kernelKills = hostOomKills() - hostBefore;
    expect(kernelKills).toBeGreaterThanOrEqual(1);
    const after = await eventually(
      async () => {
        const v = await kills(next, VICTIM);
        return v !== undefined && v >= before + kernelKills ? v : undefined;
      },
      30_000,
      `the second run's ${kernelKills} kill(s) to be counted`,
    );
    expect(after).toBe(before + kernelKills);
    await docker('stop', '--time', '10', next.name);
  });

  describe('which privileges /dev/kmsg needs (what the Dockerfile documents)', () => {
    const restricted = fs.readFileSync('/proc/sys/kernel/dmesg_restrict', 'utf8').trim() === '1';
    const kmsgUp = async (name: string, flags: string[]): Promise<number | undefined> => {
      PROBES.push(name);
      const volume = `${STATE_VOLUME}-${PROBES.length}`;
      PROBE_VOLUMES.push(volume);
      try {
        const s = await startSidecar(name, { flags, volume });
        // the source reports its health once it has tried to open the device
        return await eventually(
          async () => valueOf(await scrape(s), 'oomwatch_source_up', { source: 'kmsg' }),
          15_000,
          'the kmsg source to report',
        );
      } finally {
        await docker('rm', '-f', name).catch(() => undefined);
        await docker('volume', 'rm', '-f', volume).catch(() => undefined);
      }
    };
    const withoutKmsgFlags = (): string[] => {
      const flags = documentedRunFlags();
      const out: string[] = [];
      for (let i = 0; i < flags.length; i++) {
        if (flags[i] === '--device' || flags[i] === '--cap-add') i++;
        else out.push(flags[i] as string);
      }
      return out;
    };

    it('reads it with --device /dev/kmsg and CAP_SYSLOG, all other capabilities dropped (the documented recipe)', async () => {
      expect(await kmsgUp(`${SIDECAR}-p1`, documentedRunFlags())).toBe(1);
    }, 180_000);

    it('cannot read it through a plain bind mount: the device cgroup refuses it', async () => {
      expect(
        await kmsgUp(`${SIDECAR}-p2`, [
          ...withoutKmsgFlags(),
          '-v',
          '/dev/kmsg:/dev/kmsg:ro',
          '--cap-add',
          'SYSLOG',
        ]),
      ).toBe(0);
    }, 180_000);

    it(`cannot read it without CAP_SYSLOG while kernel.dmesg_restrict=1 (here: ${restricted ? 1 : 0})`, async () => {
      expect(
        await kmsgUp(`${SIDECAR}-p3`, [...withoutKmsgFlags(), '--device', '/dev/kmsg:/dev/kmsg:r']),
      ).toBe(restricted ? 0 : 1);
    }, 180_000);
  });
});
