import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type RunningOomwatch, eventually, startOomwatch } from '../helpers/daemon';
import { describeIf, hasCommand } from '../helpers/prereq';
import { freePort } from '../helpers/net';
import { FIXTURES } from '../helpers/paths';

/**
 * A real Prometheus (Debian's prometheus package) scraping oomwatch on the hybrid fixture tree. Prometheus
 * asks for OpenMetrics first, so this is the strictest check of that format there is: its own parser. The
 * target must be up with no scrape error, and oomwatch's series, counters included, must be queryable.
 */
interface Target {
  health: string;
  lastError: string;
  scrapeUrl: string;
}

describeIf(hasCommand('prometheus', 'prometheus'))('Prometheus scraping oomwatch', () => {
  let ow: RunningOomwatch;
  let prom: ChildProcess;
  let dir: string;
  let api: string;
  const promLog: string[] = [];

  beforeAll(async () => {
    ow = await startOomwatch({
      args: [
        '--cgroup-root',
        path.join(FIXTURES, 'cgroup', 'hybrid'),
        '--docker-socket',
        'none',
        '--kmsg',
        'none',
      ],
    });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-prometheus-'));
    const target = new URL(ow.url).host;
    fs.writeFileSync(
      path.join(dir, 'prometheus.yml'),
      `global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: oomwatch\n    static_configs:\n      - targets: ['${target}']\n`,
    );
    const port = await freePort();
    api = `http://127.0.0.1:${port}`;
    prom = spawn(
      'prometheus',
      [
        `--config.file=${path.join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${path.join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    prom.stderr?.on('data', (c: Buffer) => promLog.push(c.toString('utf8')));
  });
  afterAll(async () => {
    if (prom && prom.exitCode === null) {
      const exited = new Promise((r) => prom.once('exit', r));
      prom.kill('SIGTERM');
      await exited;
    }
    await ow?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('scrapes the OpenMetrics exposition without an error', async () => {
    const target = await eventually(
      async () => {
        const res = await fetch(`${api}/api/v1/targets`);
        const body = (await res.json()) as { data: { activeTargets: Target[] } };
        const t = body.data.activeTargets[0];
        return t && t.health !== 'unknown' ? t : undefined;
      },
      30_000,
      `the first scrape (prometheus log: ${promLog.join('').slice(-500)})`,
    );
    expect({ health: target.health, lastError: target.lastError }).toEqual({ health: 'up', lastError: '' });
  });

  it.each([
    'oomwatch_container_memory_usage_bytes',
    'oomwatch_container_cgroup_oom_kills_total',
    'oomwatch_container_memory_pressure_some_seconds_total',
    'oomwatch_poll_duration_seconds_bucket',
    'oomwatch_build_info',
  ])('stores %s', async (name) => {
    const count = await eventually(
      async () => {
        const res = await fetch(`${api}/api/v1/query?query=${encodeURIComponent(`count(${name})`)}`);
        const body = (await res.json()) as { data: { result: Array<{ value: [number, string] }> } };
        const v = body.data.result[0]?.value[1];
        return v === undefined ? undefined : Number(v);
      },
      15_000,
      name,
    );
    expect(count).toBeGreaterThan(0);
  });

  it('has the two OOM kills of the fixture container, as a counter', async () => {
    const res = await fetch(
      `${api}/api/v1/query?query=${encodeURIComponent('sum(oomwatch_container_cgroup_oom_kills_total)')}`,
    );
    const body = (await res.json()) as { data: { result: Array<{ value: [number, string] }> } };
    expect(Number(body.data.result[0]?.value[1])).toBe(2);
    // OpenMetrics names the counter family without _total; the metadata is kept under that name
    const meta = (await (await fetch(`${api}/api/v1/metadata`)).json()) as {
      data: Record<string, Array<{ type: string }>>;
    };
    expect(meta.data['oomwatch_container_cgroup_oom_kills']?.[0]?.type).toBe('counter');
    expect(meta.data['oomwatch_container_memory_usage_bytes']?.[0]?.type).toBe('gauge');
  });
});
