import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { silentLogger } from '../../src/log';
import { Cursors } from '../../src/state/cursors';
import { StateStore } from '../../src/state/store';

/** Where each stream resumes after a restart: saved after a poll, read back by the next process. */
describe('cursors in the state database', () => {
  let dir: string;
  let store: StateStore;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-cursors-'));
    store = new StateStore(dir, silentLogger());
    store.open();
  });
  afterEach(async () => {
    await store.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a first start has no cursor at all, and says it is the first', () => {
    const c = new Cursors(store, 'boot-a');
    expect(c.firstStart()).toBe(true);
    expect(c.kmsg()).toBeUndefined();
    expect(c.docker()).toBeUndefined();
    expect(c.podman()).toBeUndefined();
    expect(c.vmstat()).toBeUndefined();
  });

  it('reads back what was saved, in a new process on the same boot', async () => {
    new Cursors(store, 'boot-a').save({
      kmsg: { bootId: 'boot-a', seq: 4711 },
      docker: 1_796_000_000_123_456_789n,
      podman: 1_796_000_001_987_654_321n,
      vmstat: { base: 12, timeMs: 1_796_000_000_000 },
    });
    await store.stop();
    store = new StateStore(dir, silentLogger());
    store.open();
    const c = new Cursors(store, 'boot-a');
    expect(c.firstStart()).toBe(false);
    expect(c.kmsg()).toEqual({ bootId: 'boot-a', seq: 4711 });
    expect(c.docker()).toBe(1_796_000_000_123_456_789n);
    expect(c.podman()).toBe(1_796_000_001_987_654_321n);
    expect(c.vmstat()).toEqual({ base: 12, timeMs: 1_796_000_000_000 });
  });

  it('after a reboot the vmstat baseline is another boot’s and is not used; the kernel-log cursor is kept for the source to compare', () => {
    new Cursors(store, 'boot-a').save({
      kmsg: { bootId: 'boot-a', seq: 10 },
      vmstat: { base: 3, timeMs: 1 },
    });
    const c = new Cursors(store, 'boot-b');
    expect(c.vmstat()).toBeUndefined();
    expect(c.kmsg()).toEqual({ bootId: 'boot-a', seq: 10 });
  });

  it('without a boot id (no /proc) no vmstat baseline is saved or trusted', () => {
    const c = new Cursors(store, undefined);
    c.save({ vmstat: { base: 3, timeMs: 1 } });
    expect(store.getMeta('vmstat_base')).toBeUndefined();
    expect(c.vmstat()).toBeUndefined();
  });

  it('a Docker cursor that is not a number of nanoseconds is ignored', () => {
    store.setMeta({ docker_since_nano: '12abc' });
    expect(new Cursors(store, 'boot-a').docker()).toBeUndefined();
  });
});

describe('cursors that did not move', () => {
  it('are not written again at every poll, but once a minute, and at once when one moves', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-cursors-'));
    const store = new StateStore(dir, silentLogger());
    store.open();
    const writes: Array<Record<string, string>> = [];
    const setMeta = store.setMeta.bind(store);
    store.setMeta = (values) => {
      writes.push(values);
      return setMeta(values);
    };
    const c = new Cursors(store, 'boot-a');
    const at = (timeMs: number, seq = 10) => ({
      kmsg: { bootId: 'boot-a', seq },
      vmstat: { base: 3, timeMs },
    });
    c.save(at(1));
    c.save(at(2));
    c.save(at(3));
    expect(writes).toHaveLength(1);
    c.save(at(4, 11));
    expect(writes).toHaveLength(2);
    expect(store.getMeta('kmsg_seq')).toBe('11');
    void store.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
