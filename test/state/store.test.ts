import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { ContainerEntry, ContainerTable } from '../../src/state/containers';
import { Persistence } from '../../src/state/persistence';
import { DB_FILE, SCHEMA_VERSION, StateStore } from '../../src/state/store';

/**
 * The state database must never become a crash loop: a corrupt file or one from another version is kept
 * aside with one clear log line and a fresh start; a file that cannot be opened for another reason is left
 * alone; a write that fails is retried and the store reports itself down meanwhile.
 */
function capture(): { log: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino(
    { level: 'debug' },
    { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) },
  );
  return { log, lines };
}

const ID = 'f'.repeat(64);

describe('state database', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-store-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  function entryWithKills(kills: number): ContainerEntry {
    const e = new ContainerEntry(ID, Date.now());
    e.oomKills = kills;
    e.cgroupOomKills.observe(kills);
    e.addExit({ exitCode: 137, oomKilled: true });
    return e;
  }

  it('a disk that is full on and off is said once, and once when it is writable again, not at every flap', async () => {
    const { log, lines } = capture();
    const store = new StateStore(dir, log);
    store.open();
    const full = (): never => {
      throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    };
    const fits = (): void => undefined;
    expect(store.write('containers', full)).toBe(false);
    expect(store.up).toBe(false);
    expect(store.write('containers', fits)).toBe(true);
    expect(store.up).toBe(true);
    for (let i = 0; i < 5; i++) {
      store.write('peaks', full);
      store.write('peaks', fits);
    }
    const said = lines.map((l) => l['msg']);
    expect(said.filter((m) => String(m).includes('is full'))).toHaveLength(1);
    expect(said.filter((m) => m === 'state database writable again')).toHaveLength(1);
    await store.stop();
  });

  it('keeps counters across a close and reopen', async () => {
    const { log } = capture();
    const a = new StateStore(dir, log);
    a.open();
    expect(a.saveContainers([entryWithKills(3)])).toBe(true);
    await a.stop();
    const b = new StateStore(dir, log);
    b.open();
    expect(b.loadContainer(ID)).toMatchObject({
      oom_kills: 3,
      cgroup_oom_kills_total: 3,
      cgroup_oom_kills_raw: 3,
    });
    expect(b.loadExits(ID)).toEqual([{ exit_code: 137, oom_killed: 1, count: 1 }]);
    await b.stop();
  });

  it("keeps each runtime's OOM event counter, and no containerd counter for a container containerd never reported", async () => {
    const { log } = capture();
    const a = new StateStore(dir, log);
    a.open();
    const docker = entryWithKills(1);
    docker.dockerOomEvents = 2;
    const containerd = new ContainerEntry('web-1', Date.now());
    containerd.applyMetadata({ name: 'web-1', runtime: 'containerd' });
    containerd.containerdOomEvents = 4;
    expect(a.saveContainers([docker, containerd])).toBe(true);
    await a.stop();
    const b = new StateStore(dir, log);
    b.open();
    expect(b.loadContainer(ID)).toMatchObject({ docker_oom_events: 2, containerd_oom_events: null });
    expect(b.loadContainer('web-1')).toMatchObject({ docker_oom_events: 0, containerd_oom_events: 4 });
    const table = new ContainerTable();
    const persistence = new Persistence(b, table, log);
    const restored = table.ensure('web-1');
    persistence.restore(restored);
    const restoredDocker = table.ensure(ID);
    persistence.restore(restoredDocker);
    expect([restored.containerdOomEvents, restoredDocker.containerdOomEvents]).toEqual([4, undefined]);
    persistence.stop();
    await b.stop();
  });

  it('sets a corrupt file aside, says so once, and starts fresh', async () => {
    fs.writeFileSync(path.join(dir, DB_FILE), Buffer.alloc(8192, 0x5a));
    const { log, lines } = capture();
    const store = new StateStore(dir, log);
    store.open();
    expect(store.up).toBe(true);
    expect(store.saveContainers([entryWithKills(1)])).toBe(true);
    const aside = fs.readdirSync(dir).filter((f) => f.startsWith(`${DB_FILE}.corrupt-`));
    expect(aside).toHaveLength(1);
    expect(fs.readFileSync(path.join(dir, aside[0] as string))).toEqual(Buffer.alloc(8192, 0x5a));
    const errors = lines.filter((l) => l['level'] === 50);
    expect(errors).toHaveLength(1);
    expect(String(errors[0]?.['msg'])).toMatch(/corrupt: kept aside as .*starting with fresh state/);
    await store.stop();
  });

  it('sets aside a file written by another schema version', async () => {
    const { log, lines } = capture();
    const first = new StateStore(dir, log);
    first.open();
    first.setMeta({ schema_version: String(SCHEMA_VERSION + 1) });
    await first.stop();
    const store = new StateStore(dir, log);
    store.open();
    expect(store.up).toBe(true);
    expect(store.getMeta('schema_version')).toBe(String(SCHEMA_VERSION));
    expect(fs.readdirSync(dir).filter((f) => f.startsWith(`${DB_FILE}.unsupported-`))).toHaveLength(1);
    expect(lines.some((l) => /another version/.test(String(l['msg'])))).toBe(true);
    await store.stop();
  });

  it('leaves a file it cannot open for another reason alone, and runs without persistence', async () => {
    // A directory where the database file should be: not corrupt, just unusable.
    fs.mkdirSync(path.join(dir, DB_FILE));
    const { log, lines } = capture();
    const store = new StateStore(dir, log);
    store.open();
    expect(store.up).toBe(false);
    expect(fs.statSync(path.join(dir, DB_FILE)).isDirectory()).toBe(true);
    expect(fs.readdirSync(dir)).toEqual([DB_FILE]);
    expect(String(lines.find((l) => l['level'] === 50)?.['msg'])).toMatch(
      /running without persistence, the file is left as it is/,
    );
    expect(store.saveContainers([entryWithKills(1)])).toBe(false);
    await store.stop();
  });

  it('reports a failed write once, stays down, and writes again when it can', async () => {
    const { log, lines } = capture();
    const store = new StateStore(dir, log);
    store.open();
    const fail = store.write('test', () => {
      const err = new Error('database or disk is full') as Error & { code: string };
      err.code = 'SQLITE_FULL';
      throw err;
    });
    expect(fail).toBe(false);
    expect(store.up).toBe(false);
    store.write('test', () => {
      throw Object.assign(new Error('still full'), { code: 'SQLITE_FULL' });
    });
    expect(lines.filter((l) => /disk holding .* is full/.test(String(l['msg'])))).toHaveLength(1);
    expect(store.saveContainers([entryWithKills(2)])).toBe(true);
    expect(store.up).toBe(true);
    expect(store.loadContainer(ID)?.oom_kills).toBe(2);
    await store.stop();
  });
});
