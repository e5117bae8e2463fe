import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { randomHex } from '../helpers/cgroup-v1';
import { type RunningOomwatch, eventually, startOomwatch } from '../helpers/daemon';
import {
  TEST_IMAGE,
  TEST_LABEL,
  allocateShell,
  docker,
  ensureDockerd,
  ensureTestImage,
  waitExit,
} from '../helpers/docker';
import { describeIf, hasCommand, isRoot } from '../helpers/prereq';
import { dashboardQueries, expandVariables, readDashboard } from '../helpers/dashboard';
import { SCRAPE_SERIES, addFamily, allExportedMetricNames } from '../helpers/exported-families';
import { selectedMetrics } from '../helpers/promql';
import { freePort } from '../helpers/net';
import { REPO } from '../helpers/paths';

/**
 * End to end with the real thing: oomwatch (the built binary) on this host, scraped by a real
 * Prometheus (Debian's package) that loads deploy/prometheus/rules.yml unchanged and sends to a real
 * Alertmanager, which notifies a webhook receiver run by the test. A container is OOM-killed for real;
 * ContainerOOMKilled must reach the webhook with the container's name in its labels. The time from the
 * kill (the container's exit, as Docker records it) to the webhook is printed.
 *
 * Then the Grafana dashboard's queries run on that Prometheus: each must parse and select only metric
 * names that oomwatch exports (its family tables plus what this real scrape shows).
 *
 * Everything listens on loopback ports picked free, keeps its data in a temporary directory, and is
 * stopped and removed afterwards. Short scrape and evaluation intervals (1 s) keep the test quick; the
 * rules are the shipped ones.
 */
const RULES = path.join(REPO, 'deploy', 'prometheus', 'rules.yml');
const VICTIM = `oomwatch-e2e-victim-${randomHex(8)}`;

interface Webhook {
  receivedAt: number;
  body: {
    status: string;
    alerts: { status: string; labels: Record<string, string>; annotations: Record<string, string> }[];
  };
}

/** Alertmanager's webhook receiver: records every notification with the time it arrived. */
function startReceiver(port: number): Promise<{ server: http.Server; received: Webhook[] }> {
  const received: Webhook[] = [];
  const server = http.createServer((req, res) => {
    let data = '';
    req.on('data', (c: Buffer) => (data += c.toString('utf8')));
    req.on('end', () => {
      received.push({ receivedAt: Date.now(), body: JSON.parse(data) as Webhook['body'] });
      res.writeHead(200).end();
    });
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve({ server, received })));
}

/** A Debian-packaged server as a child process, its output kept for the failure message. */
function startServer(cmd: string, args: string[]): { child: ChildProcess; output: string[] } {
  const output: string[] = [];
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (c: Buffer) => output.push(c.toString('utf8')));
  child.stderr?.on('data', (c: Buffer) => output.push(c.toString('utf8')));
  return { child, output };
}

async function stopServer(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

interface PromResponse<T> {
  status: 'success' | 'error';
  data: T;
  error?: string;
  errorType?: string;
}
type Vector = { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };

describeIf(
  isRoot(),
  ensureDockerd(),
  hasCommand('prometheus', 'prometheus'),
  hasCommand('prometheus-alertmanager', 'prometheus-alertmanager'),
)('oomwatch, Prometheus and Alertmanager end to end', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-e2e-'));
  let ow: RunningOomwatch;
  let prometheus: { child: ChildProcess; output: string[] } | undefined;
  let alertmanager: { child: ChildProcess; output: string[] } | undefined;
  let receiver: { server: http.Server; received: Webhook[] };
  let promUrl: string;

  const query = async <T = Vector>(expr: string): Promise<PromResponse<T>> => {
    const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
    return (await res.json()) as PromResponse<T>;
  };
  const context = (): string =>
    `\n--- prometheus:\n${prometheus?.output.join('').slice(-3000)}\n--- alertmanager:\n${alertmanager?.output.join('').slice(-3000)}`;

  beforeAll(async () => {
    ensureTestImage();
    ow = await startOomwatch({ args: ['--interval', '0.5'] });
    const [amPort, promPort, hookPort] = [await freePort(), await freePort(), await freePort()];
    receiver = await startReceiver(hookPort);

    fs.writeFileSync(
      path.join(dir, 'alertmanager.yml'),
      stringify({
        route: {
          receiver: 'test',
          group_by: ['alertname', 'name'],
          group_wait: '1s',
          group_interval: '1s',
          repeat_interval: '1h',
        },
        receivers: [
          { name: 'test', webhook_configs: [{ url: `http://127.0.0.1:${hookPort}/`, send_resolved: false }] },
        ],
      }),
    );
    alertmanager = startServer('prometheus-alertmanager', [
      `--config.file=${path.join(dir, 'alertmanager.yml')}`,
      `--storage.path=${path.join(dir, 'alertmanager')}`,
      `--web.listen-address=127.0.0.1:${amPort}`,
      '--cluster.listen-address=',
    ]);

    fs.writeFileSync(
      path.join(dir, 'prometheus.yml'),
      stringify({
        global: { scrape_interval: '1s', evaluation_interval: '1s' },
        rule_files: [RULES],
        alerting: { alertmanagers: [{ static_configs: [{ targets: [`127.0.0.1:${amPort}`] }] }] },
        scrape_configs: [
          { job_name: 'oomwatch', honor_labels: true, static_configs: [{ targets: [new URL(ow.url).host] }] },
        ],
      }),
    );
    prometheus = startServer('prometheus', [
      `--config.file=${path.join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(dir, 'prometheus')}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
    ]);
    promUrl = `http://127.0.0.1:${promPort}`;

    await eventually(
      async () => {
        const r = await query('up{job="oomwatch"} == 1');
        return r.data?.result.length === 1 ? true : undefined;
      },
      60_000,
      'Prometheus to scrape oomwatch',
    ).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}${context()}`);
    });
  }, 120_000);

  afterAll(async () => {
    await docker('rm', '-f', VICTIM).catch(() => undefined);
    await stopServer(prometheus?.child);
    await stopServer(alertmanager?.child);
    await new Promise((r) => receiver?.server.close(r));
    await ow?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('loads every shipped rule, and each evaluates without error on real data', async () => {
    const res = await eventually(
      async () => {
        const r = (await (await fetch(`${promUrl}/api/v1/rules`)).json()) as PromResponse<{
          groups: { rules: { name: string; health: string; lastError?: string }[] }[];
        }>;
        const rules = r.data.groups.flatMap((g) => g.rules);
        return rules.length > 0 && rules.every((x) => x.health !== 'unknown') ? rules : undefined;
      },
      30_000,
      'every rule to be evaluated once',
    );
    expect(res.map((r) => r.name).sort()).toEqual(
      [
        'ContainerKilledRepeatedly',
        'ContainerMemoryNearLimit',
        'ContainerMemoryPressure',
        'ContainerMemoryWillHitLimit',
        'ContainerOOMKilled',
        'ContainerWithoutMemoryLimit',
        'OomwatchDown',
        'OomwatchSourceDown',
        'SystemOOMKill',
      ].sort(),
    );
    for (const r of res)
      expect({ rule: r.name, health: r.health, error: r.lastError ?? '' }).toEqual({
        rule: r.name,
        health: 'ok',
        error: '',
      });
  });

  it('delivers ContainerOOMKilled to the webhook, with the container name, for a container OOM-killed for real', async () => {
    // The victim waits for a go, so Prometheus has its counter at 0 before the kill (as oomwatch exports
    // every new container): the kill is then an increase, the common case.
    const id = await docker(
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
      `while [ ! -e /go ]; do sleep 0.1; done; ${allocateShell(100)}`,
    );
    await eventually(
      async () => {
        const r = await query(`oomwatch_container_oom_kills_total{name="${VICTIM}"} == 0`);
        return r.data?.result.length === 1 ? true : undefined;
      },
      30_000,
      `Prometheus to have scraped ${VICTIM}'s counter at 0`,
    ).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}${context()}`);
    });
    await docker('exec', VICTIM, 'touch', '/go');
    expect(await waitExit(VICTIM)).toBe(137);
    expect(await docker('inspect', '--format', '{{.State.OOMKilled}}', VICTIM)).toBe('true');
    const killedAt = Date.parse(await docker('inspect', '--format', '{{.State.FinishedAt}}', VICTIM));

    const hook = await eventually(
      async () =>
        receiver.received.find((w) =>
          w.body.alerts.some(
            (a) => a.labels['alertname'] === 'ContainerOOMKilled' && a.labels['name'] === VICTIM,
          ),
        ),
      60_000,
      'ContainerOOMKilled at the webhook',
    ).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}${context()}`);
    });
    const seconds = (hook.receivedAt - killedAt) / 1000;
    process.stdout.write(
      `ContainerOOMKilled for ${VICTIM}: kill to webhook ${seconds.toFixed(2)} s (scrape and evaluation every 1 s, group_wait 1 s)\n`,
    );

    const alert = hook.body.alerts.find((a) => a.labels['name'] === VICTIM);
    expect(alert?.status).toBe('firing');
    expect(alert?.labels).toMatchObject({
      alertname: 'ContainerOOMKilled',
      severity: 'warning',
      name: VICTIM,
      id: id.slice(0, 12),
      job: 'oomwatch',
    });
    expect(alert?.annotations['summary']).toContain(`OOM kill in container ${VICTIM}`);
    // the event-log link, after the victim's name where oomwatch exports the latest victim
    expect(alert?.annotations['victim']).toMatch(
      new RegExp(
        `(^|\\); )http://${new URL(ow.url).host}/api/v1/oom-events\\?container=${id.slice(0, 12)}&since=1h \\(pid, command and memory of each killed process\\)$`,
      ),
    );
    // and that link does lead to the kill
    const events = (await (
      await fetch(`${ow.url}/api/v1/oom-events?container=${id.slice(0, 12)}&since=1h`)
    ).json()) as { events: unknown[] };
    expect(events.events.length).toBeGreaterThanOrEqual(1);
  });

  it('runs every dashboard query on Prometheus: each parses and selects only metrics oomwatch exports', async () => {
    const exported = await allExportedMetricNames();
    for (const m of (await ow.scrapeText()).matchAll(/^# TYPE (\S+) (\S+)$/gm))
      addFamily(exported, m[1] as string, m[2] as string);
    for (const q of dashboardQueries(readDashboard())) {
      const expr = expandVariables(q.expr);
      const r = await query(expr);
      expect({ where: q.where, status: r.status, error: r.error ?? '' }).toEqual({
        where: q.where,
        status: 'success',
        error: '',
      });
      const unknown = selectedMetrics(expr).filter((m) => !exported.has(m) && !SCRAPE_SERIES.has(m));
      expect({ where: q.where, unknown }).toEqual({ where: q.where, unknown: [] });
    }
    // the victims table shows the container killed above
    const victims = dashboardQueries(readDashboard()).find((q) => q.where.includes('their victims'));
    const rows = await query(expandVariables(victims?.expr ?? ''));
    expect(rows.data.result.map((s) => s.metric['name'])).toContain(VICTIM);
  });
});
