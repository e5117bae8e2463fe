import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { KernelLogReader } from '../../src/cli/kernel-log';
import { FIXTURES } from '../helpers/paths';

/**
 * `events --kernel-log`: records read as the daemon reads them, made kills by the daemon's OOM ledger, over a
 * regular file of captured records standing in for /dev/kmsg.
 */
const POD_CONTAINER = '178ec18073cc6ac7be2de8d9869daf162a6349dd056b6535849112c53ec3102a';
const BURST_CONTAINER = 'ea6b9f821566ef4f71009b09f7bd7a9a7943bdf41c054c12dcf232fbf9a06705';

describe('KernelLogReader', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-kernel-log-'));
    fs.mkdirSync(path.join(dir, 'proc/sys/kernel/random'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'proc/sys/kernel/random/boot_id'), 'boot-1\n');
    fs.writeFileSync(path.join(dir, 'proc/uptime'), '100000.00 1.00\n');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  function reader(fixture: string): KernelLogReader {
    const file = path.join(dir, 'kmsg');
    fs.copyFileSync(path.join(FIXTURES, 'kmsg', fixture), file);
    return new KernelLogReader(file, path.join(dir, 'proc'));
  }

  it('counts a memory.oom.group kill as the daemon does: each process once, all of the group, with the names given', () => {
    const r = reader('6.1-group.txt');
    r.name(POD_CONTAINER, { name: 'k8s_app_web-0', image: 'shop/web:1', namespace: 'shop', pod: 'web-0' });
    const records = r.read();
    // The kernel reports the first victim twice (it had not released its memory when the group was killed).
    expect(records.map((k) => k.victim.pid)).toEqual([68061, 68061, 68050, 68062]);
    const kills = r.count(records);
    expect(kills.map((k) => k.victim?.pid)).toEqual([68061, 68050, 68062]);
    for (const k of kills) {
      expect(k).toMatchObject({
        scope: 'container',
        containerId: POD_CONTAINER,
        groupKill: true,
        sources: ['kmsg'],
        labels: { id: POD_CONTAINER.slice(0, 12), name: 'k8s_app_web-0', pod: 'web-0', namespace: 'shop' },
      });
      expect(k.cgroup).toContain(`cri-containerd-${POD_CONTAINER}.scope`);
    }
    r.close();
  });

  it('counts kills whose cgroup line the kernel rate-limited away at once, outside containers, in kernel order', () => {
    const r = reader('real-6.18.44-v1-ratelimit.txt');
    const records = r.read();
    const kills = r.count(records);
    expect(kills.map((k) => k.victim?.pid)).toEqual(records.map((k) => k.victim.pid));
    expect(kills.filter((k) => k.containerId === BURST_CONTAINER)).toHaveLength(9);
    const anonymous = kills.filter((k) => k.containerId === undefined);
    expect(anonymous).toHaveLength(5);
    for (const k of anonymous) {
      expect(k.scope).toBe('other');
      expect(k.cgroup).toBeUndefined();
      expect(k.labels).toBeUndefined();
    }
    // A container nobody named has its id and empty names.
    expect(kills[0]?.labels).toMatchObject({ id: BURST_CONTAINER.slice(0, 12), name: '', image: '' });
    expect(r.count(r.read())).toEqual([]); // nothing more: nothing counted twice
    r.close();
  });

  it('a global OOM kill is in scope system; a cgroup that is not a container has no container', () => {
    const r = reader('5.10-global.txt');
    const kills = r.count(r.read());
    expect(kills.map((k) => [k.scope, k.containerId?.slice(0, 12), k.cgroup])).toEqual([
      [
        'system',
        '9f2d5c0e1b7a',
        '/system.slice/docker-9f2d5c0e1b7a4d3c8e6f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f.scope',
      ],
      ['other', undefined, '/system.slice/batch.service'], // a cpuset constraint: not the whole host
      ['system', undefined, '/user.slice/user-1000.slice/session-3.scope'],
    ]);
    r.close();
  });

  it('names given after a container was first seen reach the kills counted from then on', () => {
    const r = reader('real-6.18.44-v1-ratelimit.txt');
    const records = r.read();
    const [first, ...rest] = records;
    expect(r.count([first!])[0]?.labels?.name).toBe('');
    r.name(BURST_CONTAINER, { name: 'burst' });
    expect(r.count(rest).find((k) => k.containerId === BURST_CONTAINER)?.labels?.name).toBe('burst');
    r.close();
  });
});
