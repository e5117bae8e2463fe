import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { InspectReport } from '../../src/cli/inspect-report';
import { holdShm, removeContainers, runCli, runTestContainer, uniqueName } from '../helpers/cli';
import { eventually } from '../helpers/daemon';
import { ensureDockerd, ensureTestImage } from '../helpers/docker';
import { describeIf, hasCommand, hasKmsg, hasV1MemoryCgroup, isRoot } from '../helpers/prereq';

/**
 * The errors an on-call engineer can act on, each produced for real: Docker not reachable (and what still
 * works), no permission on the Docker socket, the cgroup tree or the kernel log (as the unprivileged user
 * nobody, through setpriv, on this host whose kernel.dmesg_restrict is 1), and an unknown container.
 */
const MiB = 1024 * 1024;

function dmesgRestricted(): { ok: boolean; why: string } {
  const ok = fs.readFileSync('/proc/sys/kernel/dmesg_restrict', 'utf8').trim() === '1';
  return { ok, why: 'needs kernel.dmesg_restrict=1 (then /dev/kmsg needs CAP_SYSLOG, which nobody lacks)' };
}

describeIf(
  isRoot(),
  hasV1MemoryCgroup(),
  hasKmsg(),
  hasCommand('setpriv', 'util-linux'),
  dmesgRestricted(),
  ensureDockerd(),
)('errors the on-call commands explain', () => {
  const name = uniqueName('errors');
  let id = '';
  let noState: string;

  beforeAll(async () => {
    ensureTestImage();
    noState = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-cli-nostate-'));
    id = await runTestContainer(name, ['--memory=64m', '--memory-swap=64m', '--shm-size=32m'], holdShm(16));
    await eventually(
      async () => {
        const r = await runCli(['inspect', name, '--json', '--state-dir', noState]);
        return r.code === 0 &&
          ((JSON.parse(r.stdout) as InspectReport).memory.working_set_bytes ?? 0) >= 16 * MiB
          ? true
          : undefined;
      },
      15_000,
      '16 MiB held',
    );
  }, 60_000);

  afterAll(async () => {
    await removeContainers([name]);
    fs.rmSync(noState, { recursive: true, force: true });
  });

  it('without Docker, says so and what still works, and still reads the cgroup', async () => {
    const r = await runCli([
      'inspect',
      id.slice(0, 12),
      '--docker-socket',
      '/tmp/oomwatch-no-docker.sock',
      '--state-dir',
      noState,
    ]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(
      'oomwatch: warning: Docker is not reachable at /tmp/oomwatch-no-docker.sock: no socket there: Docker is not running on this host or listens elsewhere (pass --docker-socket PATH',
    );
    expect(r.stderr).toContain(
      'Still working: memory readings from the cgroups and OOM history from the state database; unavailable: Docker names, configured limits and stopped containers',
    );
    expect(r.stdout).toMatch(/^ {2}limit {8}64 MiB$/m);
    // Without Docker the name is unknown: the container answers to its id only.
    const byName = await runCli([
      'inspect',
      name,
      '--docker-socket',
      '/tmp/oomwatch-no-docker.sock',
      '--state-dir',
      noState,
    ]);
    expect(byName.code).toBe(1);
    expect(byName.stderr).toContain(
      `no container matches "${name}" (searched the cgroups under /sys/fs/cgroup/memory)`,
    );
  });

  it('as a user outside the docker group: names the fix', async () => {
    const r = await runCli(['top', '--once', '--state-dir', noState], { asNobody: true });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(
      'Docker is not reachable at /var/run/docker.sock: permission denied: run as root or as a member of the docker group',
    );
    // cgroup files are world-readable: the container is there, by id.
    expect(r.stdout).toContain(id.slice(0, 12));
  });

  it('cannot read the cgroup tree: names the permission and the mount', async () => {
    const locked = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-cli-locked-'));
    try {
      fs.mkdirSync(path.join(locked, 'memory'));
      fs.chmodSync(locked, 0o700);
      const r = await runCli(
        ['top', '--once', '--cgroup-root', locked, '--docker-socket', 'none', '--state-dir', noState],
        { asNobody: true },
      );
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(
        `oomwatch: cannot read the cgroup tree at ${locked}: permission denied. Run as root (or a user that can read it); in a container, mount the host's /sys/fs/cgroup read-only at /host/sys/fs/cgroup`,
      );
    } finally {
      fs.rmSync(locked, { recursive: true, force: true });
    }
  });

  it('cannot read the kernel log: names CAP_SYSLOG and the device', async () => {
    const r = await runCli(['events', '--kernel-log', '--docker-socket', 'none'], { asNobody: true });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^oomwatch: cannot read the kernel log \/dev\/kmsg \(EPERM\): reading it needs CAP_SYSLOG when kernel\.dmesg_restrict is 1\. Run as root; in a container add --cap-add SYSLOG and --device \/dev\/kmsg/,
    );
  });

  it('a state database it may not open: says so, and inspect carries on without the history', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-cli-private-'));
    try {
      // The directory is open to all, the database is not (a daemon running with umask 077).
      fs.chmodSync(dir, 0o755);
      fs.writeFileSync(path.join(dir, 'oomwatch.db'), '');
      fs.chmodSync(path.join(dir, 'oomwatch.db'), 0o600);
      const r = await runCli(['inspect', id.slice(0, 12), '--docker-socket', 'none', '--state-dir', dir], {
        asNobody: true,
      });
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(
        new RegExp(
          `warning: cannot open ${dir}/oomwatch\\.db read-only \\(.*\\): run as root or as the user oomwatch serve runs as`,
        ),
      );
      expect(r.stdout).toContain('OOM history (no state database: see the warning above)');
      const events = await runCli(['events', '--state-dir', dir], { asNobody: true });
      expect(events.code).toBe(1);
      expect(events.stderr).toMatch(/^oomwatch: cannot open .* read-only/);
      // A state directory closed to the user altogether is not mistaken for a missing database.
      fs.chmodSync(dir, 0o700);
      const closed = await runCli(['events', '--state-dir', dir], { asNobody: true });
      expect(closed.code).toBe(1);
      expect(closed.stderr).toBe(
        `oomwatch: cannot look into ${dir} (EACCES): run as root or as the user oomwatch serve runs as\n`,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
