import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import { composeValidator } from '../helpers/compose-schema';
import {
  hasComposePlugin,
  holdShm,
  removeContainers,
  runCli,
  runTestContainer,
  uniqueName,
} from '../helpers/cli';
import { type RunningOomwatch, eventually, startOomwatch } from '../helpers/daemon';
import { ensureDockerd, ensureTestImage } from '../helpers/docker';
import { describeIf, hasCommand, hasV1MemoryCgroup, isRoot } from '../helpers/prereq';
import { freePort } from '../helpers/net';

/**
 * `oomwatch recommend` for real containers: one that holds exactly 48 MiB under a 512 MiB limit (the
 * proposal must land on 64 MiB: 48.x MiB × 1.25, rounded up to a 16 MiB step), seen by the cgroup, by the
 * daemon's hourly peak history and by a real Prometheus scraping the daemon; its Compose override must be a
 * valid Compose file; and a busybox container whose environment sets -Xmx900m under a 1 GiB limit must give
 * the JVM finding without anything else of its environment showing.
 */
const MiB = 1024 * 1024;

interface Proposal {
  container: { id: string; name: string };
  current: { limit_bytes: number | null; unlimited: boolean | null };
  proposed: {
    limit_bytes: number | null;
    reservation_bytes: number | null;
    memswap_bytes: number | null;
    swap: boolean | null;
  };
  peak: { bytes: number; source: string } | null;
  observations: Array<{ source: string; bytes: number; detail: string }>;
  history_seconds: number;
  findings: Array<{ code: string; severity: string; message: string }>;
}
interface Output {
  containers: Proposal[];
}

describeIf(
  isRoot(),
  hasV1MemoryCgroup(),
  ensureDockerd(),
  hasCommand('prometheus', 'prometheus'),
)('oomwatch recommend on real containers', () => {
  const app = uniqueName('app');
  const jvm = uniqueName('jvm');
  const wild = uniqueName('wild');
  let ow: RunningOomwatch;
  let dir: string;
  let prometheus: ChildProcess | undefined;
  const promOutput: string[] = [];
  let promUrl = '';
  const recommend = (...args: string[]) =>
    runCli(['recommend', ...args, '--state-dir', ow.stateDir, '--cgroup-root', '/sys/fs/cgroup']);
  const proposalsOf = async (...args: string[]): Promise<Proposal[]> => {
    const r = await recommend(...args, '--json');
    expect(r.stderr).not.toMatch(/Prometheus:/);
    expect(r.code).toBe(0);
    return (JSON.parse(r.stdout) as Output).containers;
  };

  beforeAll(async () => {
    ensureTestImage();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-cli-recommend-'));
    await runTestContainer(app, ['--memory=512m', '--memory-swap=512m', '--shm-size=64m'], holdShm(48));
    await runTestContainer(
      jvm,
      [
        '--memory=1g',
        '-e',
        'JAVA_TOOL_OPTIONS=-Xmx900m -Dapp.token=s3cr3t-token',
        '-e',
        'DB_PASSWORD=hunter2-pw',
      ],
      'while true; do sleep 1; done',
    );
    await runTestContainer(wild, [], 'while true; do sleep 1; done');
    ow = await startOomwatch({
      args: ['--cgroup-root', '/sys/fs/cgroup', '--interval', '0.5', '--kmsg', 'none'],
    });

    const port = await freePort();
    fs.writeFileSync(
      path.join(dir, 'prometheus.yml'),
      stringify({
        global: { scrape_interval: '1s' },
        scrape_configs: [{ job_name: 'oomwatch', static_configs: [{ targets: [new URL(ow.url).host] }] }],
      }),
    );
    prometheus = spawn(
      'prometheus',
      [
        `--config.file=${path.join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${path.join(dir, 'tsdb')}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    prometheus.stdout?.on('data', (c: Buffer) => promOutput.push(c.toString('utf8')));
    prometheus.stderr?.on('data', (c: Buffer) => promOutput.push(c.toString('utf8')));
    promUrl = `http://127.0.0.1:${port}`;
    // Prometheus has the container's working set, and the daemon has written an hour of peak history.
    await eventually(
      async () => {
        const q = encodeURIComponent(
          `oomwatch_container_memory_working_set_bytes{name="${app}"} > ${48 * MiB}`,
        );
        const body = (await (await fetch(`${promUrl}/api/v1/query?query=${q}`)).json()) as {
          data: { result: unknown[] };
        };
        return body.data.result.length === 1 ? true : undefined;
      },
      60_000,
      'Prometheus to scrape the working set',
    ).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}\n${promOutput.join('').slice(-3000)}`);
    });
  }, 120_000);

  afterAll(async () => {
    await removeContainers([app, jvm, wild]);
    if (prometheus && prometheus.exitCode === null) {
      await new Promise<void>((resolve) => {
        prometheus?.once('exit', () => resolve());
        prometheus?.kill('SIGTERM');
      });
    }
    await ow?.stop();
    if (ow) fs.rmSync(ow.stateDir, { recursive: true, force: true });
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('proposes 64 MiB for a container that holds 48 MiB, from the cgroup, the peak history and Prometheus', async () => {
    const [p] = await eventually(
      async () => {
        const list = await proposalsOf(app, '--prometheus', promUrl);
        return list[0]?.observations.some((o) => o.source === 'history') ? list : undefined;
      },
      15_000,
      'peak history in the state database',
    );
    expect(p?.container.name).toBe(app);
    const sources = Object.fromEntries((p?.observations ?? []).map((o) => [o.source, o.bytes]));
    expect(Object.keys(sources).sort()).toEqual(['cgroup', 'current', 'history', 'prometheus']);
    for (const bytes of Object.values(sources)) {
      expect(bytes).toBeGreaterThanOrEqual(48 * MiB);
      expect(bytes).toBeLessThan(51.2 * MiB); // × 1.25 stays under 64 MiB
    }
    expect(p?.proposed).toEqual({
      limit_bytes: 64 * MiB,
      reservation_bytes: 48 * MiB,
      memswap_bytes: 64 * MiB,
      swap: false,
    });
    expect(p?.current).toMatchObject({ limit_bytes: 512 * MiB, unlimited: false });
    // 512 MiB for 48 MiB: far above; and seconds of history.
    expect(p?.findings.map((f) => f.code)).toEqual(['limit-far-above-peak', 'little-history']);
    expect(p?.findings[1]?.message).toMatch(/^only \d+(s|m) of history \(under 1d\)/);
  });

  it('writes a Compose override that is a valid Compose file with the expected keys', async () => {
    const r = await recommend(app, '--format', 'compose');
    expect(r.code).toBe(0);
    const doc = parseYaml(r.stdout) as { services: Record<string, Record<string, unknown>> };
    expect(doc.services[app]).toEqual({ mem_limit: '64m', mem_reservation: '48m', memswap_limit: '64m' });
    expect(composeValidator()(doc)).toEqual([]);
    expect(r.stdout).toMatch(/# WARNING limit-far-above-peak: /);
    // `docker compose config` would be the last word; the Compose plugin is not installed on these machines.
    if (hasComposePlugin()) {
      fs.writeFileSync(
        path.join(dir, 'compose.yaml'),
        stringify({ services: { [app]: { image: 'oomwatch-test/busybox:latest' } } }),
      );
      fs.writeFileSync(path.join(dir, 'docker-compose.override.yml'), r.stdout);
      const config = await runCliLike('docker', [
        'compose',
        '-f',
        path.join(dir, 'compose.yaml'),
        '-f',
        path.join(dir, 'docker-compose.override.yml'),
        'config',
      ]);
      expect(config.code).toBe(0);
    }
  });

  it('gives docker run flags and Kubernetes resources for the same proposal', async () => {
    const d = await recommend(app, '--format', 'docker');
    expect(d.stdout).toContain('\n--memory=64m --memory-reservation=48m --memory-swap=64m\n');
    expect(d.stdout).toContain(
      `# apply now, without a restart: docker update --memory=64m --memory-reservation=48m --memory-swap=64m ${app}`,
    );
    const k = await recommend(app, '--format', 'k8s');
    expect(parseYaml(k.stdout)).toEqual({
      resources: { requests: { memory: '48Mi' }, limits: { memory: '64Mi' } },
    });
  });

  it('finds a JVM heap too large for the limit from -Xmx in the environment, and shows nothing else of it', async () => {
    const r = await recommend(jvm, '--json');
    expect(r.code).toBe(0);
    const [p] = (JSON.parse(r.stdout) as Output).containers;
    const finding = p?.findings.find((f) => f.code === 'jvm-heap');
    expect(finding).toMatchObject({ severity: 'warning' });
    expect(finding?.message).toMatch(
      /^-Xmx900m: the JVM heap may take 900 MiB of the 1 GiB limit \(87\.9%\), leaving 124 MiB /,
    );
    // The heap is fixed: the proposal leaves room beyond it however little the container uses now.
    expect(p?.proposed.limit_bytes).toBe(1280 * MiB);
    for (const format of ['text', 'compose', 'docker', 'k8s']) {
      const out = await recommend(jvm, '--format', format);
      expect(`${out.stdout}${out.stderr}`).not.toMatch(/s3cr3t|hunter2|app\.token|DB_PASSWORD/);
    }
    expect(r.stdout).not.toMatch(/s3cr3t|hunter2|app\.token|DB_PASSWORD/);
    // --fail-on turns the finding into exit 1; a finding not asked for does not.
    expect((await recommend(jvm, '--fail-on', 'jvm-heap')).code).toBe(1);
    expect((await recommend(jvm, '--fail-on', 'oom-kills,no-limit')).code).toBe(0);
  });

  it('flags a container without a limit, and --all covers every running container', async () => {
    const r = await recommend('--all', '--json', '--fail-on', 'no-limit');
    expect(r.code).toBe(1);
    const all = (JSON.parse(r.stdout) as Output).containers;
    const names = all.map((c) => c.container.name);
    expect(names).toEqual(expect.arrayContaining([app, jvm, wild]));
    expect(all.find((c) => c.container.name === wild)?.findings[0]).toMatchObject({
      code: 'no-limit',
      severity: 'critical',
    });
    expect((await recommend(app, '--fail-on', 'nonsense')).code).toBe(2);
  });
});

function runCliLike(cmd: string, args: string[]): Promise<{ code: number | null }> {
  return new Promise((resolve) =>
    spawn(cmd, args, { stdio: 'ignore' }).on('exit', (code) => resolve({ code })),
  );
}
