import * as fs from 'node:fs';
import * as path from 'node:path';
import type { InspectReport } from '../../src/cli/inspect-report';
import { blowUp, holdShm, removeContainers, runCli, runTestContainer, uniqueName } from '../helpers/cli';
import { type RunningOomwatch, eventually, startOomwatch } from '../helpers/daemon';
import { docker, ensureDockerd, ensureTestImage, waitExit } from '../helpers/docker';
import { describeIf, hasKmsg, hasV1MemoryCgroup, isRoot } from '../helpers/prereq';

/**
 * `oomwatch inspect` against real containers on the real Docker Engine and this kernel's cgroups: a limited
 * one holding a known amount of memory, an unlimited one, and one the kernel OOM-killed and that has stopped.
 * The daemon runs with the kernel log so the stopped container's kill is in the state database, and the CLI
 * reads that database, the cgroups and Docker itself.
 */
const MiB = 1024 * 1024;

describeIf(
  isRoot(),
  hasV1MemoryCgroup(),
  hasKmsg(),
  ensureDockerd(),
)('oomwatch inspect on real containers', () => {
  const limited = uniqueName('limited');
  const unlimited = uniqueName('unlimited');
  const stopped = uniqueName('oomed');
  const ids: Record<string, string> = {};
  let ow: RunningOomwatch;
  let stateDir: string;
  const cli = (...args: string[]) =>
    runCli(['inspect', ...args, '--state-dir', stateDir, '--cgroup-root', '/sys/fs/cgroup']);
  const json = async (name: string): Promise<InspectReport> => {
    const r = await cli(name, '--json');
    expect(r.code).toBe(0);
    return JSON.parse(r.stdout) as InspectReport;
  };

  beforeAll(async () => {
    ensureTestImage();
    ow = await startOomwatch({
      args: ['--cgroup-root', '/sys/fs/cgroup', '--interval', '0.5', '--kmsg', '/dev/kmsg'],
    });
    stateDir = ow.stateDir;
    ids['limited'] = await runTestContainer(
      limited,
      ['--memory=96m', '--memory-swap=96m', '--memory-reservation=48m', '--shm-size=64m'],
      holdShm(40),
    );
    ids['unlimited'] = await runTestContainer(unlimited, [], 'while true; do sleep 1; done');
    ids['stopped'] = await runTestContainer(stopped, ['--memory=32m', '--memory-swap=32m'], blowUp(2));
    expect(await waitExit(ids['stopped'] as string)).toBe(137);
    // The daemon records the kill from the kernel log; inspect reads it from the state database.
    await eventually(
      async () => {
        const r = (await (await fetch(`${ow.url}/api/v1/oom-events?container=${ids['stopped']}`)).json()) as {
          events: unknown[];
        };
        return r.events.length > 0 ? true : undefined;
      },
      10_000,
      'the daemon to record the OOM kill',
    );
    // The limited container has written its 40 MiB.
    await eventually(
      async () => ((await json(limited)).memory.working_set_bytes ?? 0) >= 40 * MiB || undefined,
      10_000,
      '40 MiB held',
    );
  }, 60_000);

  afterAll(async () => {
    await removeContainers([limited, unlimited, stopped]);
    await ow?.stop();
    if (stateDir) fs.rmSync(stateDir, { recursive: true, force: true });
  });

  it('shows the limit, reservation, swap verdict, usage, working set, peak, memory.stat, OOM state and PSI of a limited container', async () => {
    const r = await json(limited);
    const dir = path.join('/sys/fs/cgroup/memory/docker', ids['limited'] as string);
    expect(r).toMatchObject({
      container: { id: ids['limited'], name: limited, image: 'oomwatch-test/busybox:latest' },
      status: 'running',
      limits_from: 'cgroup',
      cgroup: { path: `/docker/${ids['limited']}`, dir, mode: 'hybrid' },
      memory: {
        limit_bytes: 96 * MiB,
        unlimited: false,
        reservation_bytes: 48 * MiB,
        swap: { limit_bytes: 0, effectively_off: true },
        oom: { under_oom: false, oom_kill_disable: false, kernel_oom_kills: 0 },
      },
    });
    // The kernel's own files say the same.
    expect(Number(fs.readFileSync(path.join(dir, 'memory.limit_in_bytes'), 'utf8'))).toBe(
      r.memory.limit_bytes,
    );
    const m = r.memory;
    expect(m.working_set_bytes).toBeGreaterThanOrEqual(40 * MiB);
    expect(m.working_set_bytes).toBeLessThan(46 * MiB);
    expect(m.limit_ratio).toBeCloseTo((m.working_set_bytes as number) / (96 * MiB), 5);
    expect(m.peak_bytes).toBeGreaterThanOrEqual(m.usage_bytes as number);
    // /dev/shm is page cache that cannot be dropped: in cache, not in inactive_file.
    expect(m.stat?.cache_bytes).toBeGreaterThanOrEqual(40 * MiB);
    expect(m.stat?.inactive_file_bytes).toBeLessThan(4 * MiB);
    expect(m.pressure?.some).toEqual(
      expect.objectContaining({ avg10: expect.any(Number), total_seconds: expect.any(Number) }),
    );
    expect(r.warnings).toEqual([]);

    const text = await cli(limited);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^ {2}limit {8}96 MiB$/m);
    expect(text.stdout).toMatch(/^ {2}reservation {2}48 MiB$/m);
    expect(text.stdout).toMatch(/^ {2}swap {9}off: /m);
    expect(text.stdout).toMatch(/^ {2}working set +4\d(\.\d+)? MiB +4\d\.\d% of limit +\[#{8,9}-+\]$/m);
    expect(text.stdout).toMatch(/^ {2}oom_kill_disable {2}0 \(the kernel kills a process at the limit\)$/m);
    expect(text.stdout).toMatch(/^ {2}some {2}avg10 /m);
    expect(text.stdout).not.toContain('\x1b[');
  });

  it('warns that an unlimited container can use all host memory', async () => {
    const r = await json(unlimited);
    expect(r.memory).toMatchObject({ limit_bytes: null, unlimited: true, limit_ratio: null });
    expect(r.warnings[0]).toMatch(
      /^no memory limit: this container can use all of the host's memory \(\d+(\.\d+)? GiB\)/,
    );
    const text = await cli(unlimited);
    expect(text.stdout).toMatch(
      /^WARNING: no memory limit: this container can use all of the host's memory/m,
    );
    expect(text.stdout).toMatch(/^ {2}limit {8}none: can use all host memory/m);
  });

  it('finds a stopped container, says so, and shows its OOM kill from the state database', async () => {
    const r = await json(stopped);
    expect(r).toMatchObject({
      status: 'exited',
      running: false,
      limits_from: 'docker',
      docker: { state: 'exited', exit_code: 137, oom_killed: true },
      memory: { limit_bytes: 32 * MiB, swap: { limit_bytes: 0, effectively_off: true }, usage_bytes: null },
    });
    expect(r.warnings[0]).toMatch(
      /^not running \(exited at .*, exit code 137, OOM-killed\): no live memory readings/,
    );
    expect(r.history.oom_events.length).toBeGreaterThanOrEqual(1);
    const kill = r.history.oom_events[0] as {
      scope: string;
      victim: { comm: string; rss_bytes: number } | null;
      sources: string[];
    };
    expect(kill.scope).toBe('container');
    expect(kill.sources).toContain('kmsg');
    expect(kill.victim?.comm).toBe('sh');
    // The shell held close to the 32 MiB limit when it was killed.
    expect(kill.victim?.rss_bytes).toBeGreaterThan(16 * MiB);
    expect(kill.victim?.rss_bytes).toBeLessThanOrEqual(33 * MiB);

    const text = await cli(stopped);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`${stopped} (${(ids['stopped'] as string).slice(0, 12)})  EXITED`);
    expect(text.stdout).toMatch(/exit code 137 {2}OOMKilled=true/);
    expect(text.stdout).toContain('Limits (as configured in Docker)');
    expect(text.stdout).toMatch(
      /^ {2}\S+Z {2}OOM kill {2}victim sh \(pid \d+\) {2}rss \d+(\.\d+)? MiB {2}\[.*kmsg.*\]$/m,
    );
  });

  it('takes an id prefix, lists the candidates of an ambiguous one (exit 2), and names what it searched for an unknown one (exit 1)', async () => {
    const byId = await cli((ids['limited'] as string).slice(0, 12), '--json');
    expect(byId.code).toBe(0);
    expect((JSON.parse(byId.stdout) as InspectReport).container.name).toBe(limited);

    // Containers created until two of ours share their first hex digit: at most 17, by the pigeonhole principle.
    const extra: string[] = [];
    const firstDigits = new Map<string, string>();
    let shared: string | undefined;
    try {
      for (const id of Object.values(ids)) firstDigits.set(id[0] as string, id);
      shared = [...Object.values(ids)].map((id) => id[0]).find((d, i, all) => all.indexOf(d) !== i);
      while (shared === undefined) {
        const name = uniqueName('prefix');
        extra.push(name);
        const id = await docker(
          'create',
          '--network=none',
          '--label',
          'oomwatch.test.cli=1',
          '--name',
          name,
          'oomwatch-test/busybox:latest',
          'true',
        );
        if (firstDigits.has(id[0] as string)) shared = id[0];
        else firstDigits.set(id[0] as string, id);
      }
      const ambiguous = await cli(shared as string);
      expect(ambiguous.code).toBe(2);
      expect(ambiguous.stderr).toMatch(
        new RegExp(`^oomwatch: "${shared}" matches \\d+ containers; give more of the id or the name:$`, 'm'),
      );
      const ours = [
        ...Object.values(ids),
        ...(await Promise.all(extra.map((n) => docker('inspect', '-f', '{{.Id}}', n)))),
      ].filter((id) => id.startsWith(shared as string));
      expect(ours.length).toBeGreaterThanOrEqual(2);
      for (const id of ours) expect(ambiguous.stderr).toContain(`  ${id.slice(0, 12)}  `);
      expect(ambiguous.stdout).toBe('');
    } finally {
      await removeContainers(extra);
    }

    const unknown = await cli(uniqueName('nothing'));
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(
      /no container matches "oomwatch-cli-nothing-[0-9a-f]+" \(searched the cgroups under \/sys\/fs\/cgroup\/memory, Docker's containers \(running and stopped\), the state database .*oomwatch\.db\)/,
    );
  });

  it('documents itself: --help with an example and the exit codes; a bad flag is a usage error', async () => {
    const help = await runCli(['inspect', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: oomwatch inspect <name\|id-prefix>/);
    expect(help.stdout).toMatch(/^Exit codes: 0 ok, 1 error .* 2 usage error\.$/m);
    expect(help.stdout).toMatch(/^Examples:\n {2}oomwatch inspect web$/m);
    const bad = await runCli(['inspect', 'x', '--colour']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('unknown flag --colour');
    expect((await runCli(['inspect'])).code).toBe(2);
  });
});
