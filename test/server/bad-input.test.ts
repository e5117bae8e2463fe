import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fixtureId } from '../helpers/fixture-ids';
import { type RunningOomwatch, eventually, startOomwatch } from '../helpers/daemon';
import { type PromSample, findSamples, valueOf } from '../helpers/prom';
import { FIXTURES } from '../helpers/paths';

/**
 * Bad input never stops the daemon. The v1 fixture tree (real kernel files) is copied to a temporary
 * directory so the test can break it under the real oomwatch binary, polling every 200 ms.
 *
 * On a real cgroupfs a file cannot be replaced, only its content can change; a fixture on ext4 keeps an
 * unlinked file readable through a descriptor oomwatch already holds. So files are rewritten in place, and a
 * file is swapped for something else only before oomwatch first opens it.
 */
const FIXTURE = path.join(FIXTURES, 'cgroup', 'v1');
const short = (name: string): string => fixtureId(name).slice(0, 12);
const dirOf = (root: string, name: string): string => path.join(root, 'memory', 'docker', fixtureId(name));
const ALL = [
  'frozen',
  'cache',
  'oom',
  'web',
  'batch',
  'k8s-app',
  'k8s-guaranteed',
  'k8s-besteffort',
  'crio',
  'podman',
  'api',
];

function copyTree(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-bad-input-'));
  fs.cpSync(FIXTURE, root, { recursive: true });
  return root;
}

async function start(root: string, extra: string[] = []): Promise<RunningOomwatch> {
  return startOomwatch({
    args: [
      '--cgroup-root',
      root,
      '--docker-socket',
      'none',
      '--kmsg',
      'none',
      '--interval',
      '200ms',
      ...extra,
    ],
  });
}

/** A scrape taken after at least `polls` more polls than when called. */
async function afterPolls(ow: RunningOomwatch, polls: number): Promise<PromSample[]> {
  const now = valueOf(await ow.scrape(), 'oomwatch_polls_total') ?? 0;
  return eventually(
    async () => {
      const s = await ow.scrape();
      return (valueOf(s, 'oomwatch_polls_total') ?? 0) >= now + polls ? s : undefined;
    },
    10_000,
    `${polls} more polls`,
  );
}

const warnings = (ow: RunningOomwatch): Array<Record<string, unknown>> =>
  ow.logs
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l['level'] === 'warn' || l['level'] === 'error');

describe('a malformed file and an unreadable file', () => {
  let root: string;
  let ow: RunningOomwatch;
  const webStat = (): string => path.join(dirOf(root, 'web'), 'memory.stat');
  let goodStat: string;

  beforeAll(async () => {
    root = copyTree();
    // Unreadable from the start: a directory where memory.usage_in_bytes should be (read gives EISDIR; as
    // root, chmod 000 would not stop the read).
    const usage = path.join(dirOf(root, 'batch'), 'memory.usage_in_bytes');
    fs.rmSync(usage);
    fs.mkdirSync(usage);
    goodStat = fs.readFileSync(webStat(), 'latin1');
    ow = await start(root);
    await afterPolls(ow, 1);
  });
  afterAll(async () => {
    await ow?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('the unreadable file drops only its own series, counts a read error each poll and logs once', async () => {
    const s = await afterPolls(ow, 3);
    const batch = { id: short('batch') };
    // usage and what is computed from it are gone...
    expect(valueOf(s, 'oomwatch_container_memory_usage_bytes', batch)).toBeUndefined();
    expect(valueOf(s, 'oomwatch_container_memory_working_set_bytes', batch)).toBeUndefined();
    // ...everything read from the other files is still there
    expect(valueOf(s, 'oomwatch_container_memory_unlimited', batch)).toBe(1);
    expect(valueOf(s, 'oomwatch_container_memory_rss_bytes', batch)).toBeGreaterThan(0);
    expect(valueOf(s, 'oomwatch_container_cgroup_oom_kills_total', batch)).toBe(0);
    expect(valueOf(s, 'oomwatch_container_info', batch)).toBe(1);
    expect(valueOf(s, 'oomwatch_poll_errors_total', { kind: 'read' })).toBeGreaterThanOrEqual(3);
    const logged = warnings(ow).filter((w) => w['container'] === short('batch'));
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ file: 'memory.usage_in_bytes', kind: 'read' });
    expect(String(logged[0]?.['msg'])).toMatch(
      /cannot read .*memory\.usage_in_bytes: EISDIR; the series from this file are dropped/,
    );
  });

  it('a malformed memory.stat drops the series read from it, counts a parse error each poll, logs once quoting the line', async () => {
    const web = { id: short('web') };
    const before = await ow.scrape();
    expect(valueOf(before, 'oomwatch_container_memory_rss_bytes', web)).toBeGreaterThan(0);
    const parseErrorsBefore = valueOf(before, 'oomwatch_poll_errors_total', { kind: 'parse' }) ?? 0;

    fs.writeFileSync(webStat(), goodStat.replace(/^total_rss \d+$/m, 'total_rss 12kB'));
    const s = await afterPolls(ow, 4);
    for (const fam of ['rss', 'cache', 'mapped_file', 'working_set']) {
      expect({ fam, v: valueOf(s, `oomwatch_container_memory_${fam}_bytes`, web) }).toEqual({
        fam,
        v: undefined,
      });
    }
    expect(valueOf(s, 'oomwatch_container_memory_limit_ratio', web)).toBeUndefined();
    // usage, limit and the OOM counters come from other files
    expect(valueOf(s, 'oomwatch_container_memory_usage_bytes', web)).toBeGreaterThan(0);
    expect(valueOf(s, 'oomwatch_container_memory_limit_bytes', web)).toBe(256 * 1024 * 1024);
    expect(valueOf(s, 'oomwatch_container_cgroup_oom_kills_total', web)).toBe(0);
    expect(
      (valueOf(s, 'oomwatch_poll_errors_total', { kind: 'parse' }) ?? 0) - parseErrorsBefore,
    ).toBeGreaterThanOrEqual(3);

    const logged = warnings(ow).filter((w) => w['container'] === short('web'));
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ file: 'memory.stat', kind: 'parse' });
    expect(String(logged[0]?.['msg'])).toContain(
      'expected an integer value for total_rss, got "total_rss 12kB"',
    );
  });

  it('the series come back when the file reads again', async () => {
    fs.writeFileSync(webStat(), goodStat);
    const s = await afterPolls(ow, 2);
    expect(valueOf(s, 'oomwatch_container_memory_rss_bytes', { id: short('web') })).toBeGreaterThan(0);
  });

  it('every other container is exported in full throughout', async () => {
    const s = await ow.scrape();
    for (const name of ALL.filter((n) => n !== 'batch')) {
      expect({
        name,
        usage: valueOf(s, 'oomwatch_container_memory_usage_bytes', { id: short(name) }) !== undefined,
      }).toEqual({
        name,
        usage: true,
      });
      expect({
        name,
        rss: valueOf(s, 'oomwatch_container_memory_rss_bytes', { id: short(name) }) !== undefined,
      }).toEqual({
        name,
        rss: true,
      });
    }
    expect(valueOf(s, 'oomwatch_source_up', { source: 'cgroup' })).toBe(1);
    expect(ow.child.exitCode).toBeNull();
  });
});

describe('containers that go away and come back', () => {
  let root: string;
  let ow: RunningOomwatch;
  let saved: string;

  beforeAll(async () => {
    root = copyTree();
    saved = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-saved-cgroup-'));
    ow = await start(root);
    await afterPolls(ow, 1);
  });
  afterAll(async () => {
    await ow?.stop();
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(saved, { recursive: true, force: true });
  });

  it('a container whose cgroup vanishes is dropped quietly: no error counted, nothing logged, counters kept for the grace period', async () => {
    const before = await ow.scrape();
    const errorsBefore = findSamples(before, 'oomwatch_poll_errors_total').map((e) => e.value);
    fs.rmSync(dirOf(root, 'cache'), { recursive: true });
    const s = await afterPolls(ow, 3);
    const cache = { id: short('cache') };
    expect(valueOf(s, 'oomwatch_container_memory_usage_bytes', cache)).toBeUndefined();
    expect(valueOf(s, 'oomwatch_container_info', cache)).toBeUndefined();
    // counters stay (default --series-grace is 10 minutes) so the last increments are scraped
    expect(valueOf(s, 'oomwatch_container_memory_limit_hits_total', cache)).toBe(
      valueOf(before, 'oomwatch_container_memory_limit_hits_total', cache),
    );
    expect(valueOf(s, 'oomwatch_containers', { state: 'gone' })).toBe(1);
    expect(findSamples(s, 'oomwatch_poll_errors_total').map((e) => e.value)).toEqual(errorsBefore);
    expect(warnings(ow)).toEqual([]);
  });

  it('a cgroup recreated at the same path keeps oomwatch_container_cgroup_oom_kills_total monotonic', async () => {
    const oom = { id: short('oom') };
    expect(valueOf(await ow.scrape(), 'oomwatch_container_cgroup_oom_kills_total', oom)).toBe(2);
    // the container is removed (a poll sees it gone)...
    fs.cpSync(dirOf(root, 'oom'), saved, { recursive: true });
    fs.rmSync(dirOf(root, 'oom'), { recursive: true });
    await eventually(
      async () =>
        (await ow.scrape()).some((x) => x.name === 'oomwatch_container_info' && x.labels['id'] === oom.id)
          ? undefined
          : true,
      10_000,
      'the container gone',
    );
    // ...and started again under the same id: a new cgroup, its kernel counter from 0, one kill since
    fs.cpSync(saved, dirOf(root, 'oom'), { recursive: true });
    fs.writeFileSync(
      path.join(dirOf(root, 'oom'), 'memory.oom_control'),
      'oom_kill_disable 0\nunder_oom 0\noom_kill 1\n',
    );
    const s = await eventually(
      async () => {
        const x = await ow.scrape();
        return valueOf(x, 'oomwatch_container_info', oom) === 1 ? x : undefined;
      },
      10_000,
      'the container back',
    );
    expect(valueOf(s, 'oomwatch_container_cgroup_oom_kills_total', oom)).toBe(3);
    // and the kernel's counter moving on from there adds to it
    fs.writeFileSync(
      path.join(dirOf(root, 'oom'), 'memory.oom_control'),
      'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n',
    );
    await eventually(
      async () =>
        valueOf(await ow.scrape(), 'oomwatch_container_cgroup_oom_kills_total', oom) === 4 ? true : undefined,
      10_000,
      'the total at 4',
    );
    expect(warnings(ow)).toEqual([]);
  });
});
