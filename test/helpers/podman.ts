import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { type Prerequisite, hasCommand } from './prereq';

/**
 * A private rootful Podman for a suite: its storage, run and event-log directories in a temporary directory
 * (the host's Podman and its images are not touched, and removing the directory removes everything), and its
 * API service on a socket of its own. No registry is reachable: the image is imported from a tar of a directory
 * holding a static busybox and its applet links, as the Docker suites' is.
 *
 * Two settings are this sandbox's, not oomwatch's (see containers.conf below): rootful Podman asks for
 * RLIMIT_NOFILE/NPROC of 1048576, which a container's root may not raise past the hard limits here (crun and
 * runc both fail with EPERM); and crun 1.8 refuses a hybrid cgroup host whose v2 tree has a controller, which
 * runc accepts.
 */
const run = promisify(execFile);
export const PODMAN_IMAGE = 'localhost/oomwatch-test/busybox:latest';

export function hasPodman(): Prerequisite[] {
  return [
    hasCommand('podman', 'podman'),
    hasCommand('runc', 'runc'),
    // Pods need their infra container's init, which Podman builds its pause image around.
    hasCommand('catatonit', 'catatonit'),
    hasCommand('busybox', 'busybox-static'),
  ];
}

export class PodmanService {
  readonly dir: string;
  readonly socket: string;
  private service: ChildProcess | undefined;
  private readonly env: NodeJS.ProcessEnv;

  constructor(prefix: string) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `${prefix}-`));
    this.socket = path.join(this.dir, 'podman.sock');
    const conf = path.join(this.dir, 'containers.conf');
    fs.writeFileSync(
      conf,
      [
        '[containers]',
        'default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]',
        '[engine]',
        'runtime = "runc"',
        `tmp_dir = "${path.join(this.dir, 'tmp')}"`,
        'events_logger = "file"',
        '',
      ].join('\n'),
    );
    const storage = path.join(this.dir, 'storage.conf');
    fs.writeFileSync(
      storage,
      [
        '[storage]',
        'driver = "vfs"',
        `graphroot = "${path.join(this.dir, 'graph')}"`,
        `runroot = "${path.join(this.dir, 'run')}"`,
        '',
      ].join('\n'),
    );
    this.env = { ...process.env, CONTAINERS_CONF: conf, CONTAINERS_STORAGE_CONF: storage };
  }

  /** `podman ARGS` against this Podman; stdout trimmed. Run in its directory: conmon writes files in its cwd. */
  async podman(...args: string[]): Promise<string> {
    const { stdout } = await run('podman', args, { env: this.env, cwd: this.dir, maxBuffer: 16 << 20 });
    return stdout.trim();
  }

  /** `podman ARGS` that is expected to fail (an OOM-killed `podman run`): its exit code. */
  async podmanExitCode(...args: string[]): Promise<number> {
    try {
      await this.podman(...args);
      return 0;
    } catch (err) {
      return (err as { code?: number }).code ?? -1;
    }
  }

  /** Import the busybox image (once per Podman: its storage is private). */
  importImage(): void {
    const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((p) => fs.existsSync(p)) as string;
    const root = path.join(this.dir, 'rootfs');
    fs.mkdirSync(path.join(root, 'bin'), { recursive: true });
    fs.copyFileSync(busybox, path.join(root, 'bin', 'busybox'));
    fs.chmodSync(path.join(root, 'bin', 'busybox'), 0o755);
    const applets = execFileSync(path.join(root, 'bin', 'busybox'), ['--list'], { encoding: 'utf8' });
    for (const a of applets.split('\n'))
      if (a && a !== 'busybox') fs.symlinkSync('busybox', path.join(root, 'bin', a));
    fs.mkdirSync(path.join(root, 'tmp'), { mode: 0o1777 });
    const tar = path.join(this.dir, 'rootfs.tar');
    execFileSync('tar', ['-C', root, '-cf', tar, '.']);
    execFileSync('podman', ['import', '-q', '-c', 'ENV PATH=/bin', tar, PODMAN_IMAGE], {
      env: this.env,
      cwd: this.dir,
      stdio: 'pipe',
    });
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(tar, { force: true });
  }

  /** Start `podman system service` on the socket and wait until it answers /_ping. */
  async startService(): Promise<void> {
    fs.rmSync(this.socket, { force: true });
    const log = fs.openSync(path.join(this.dir, 'service.log'), 'a');
    this.service = spawn('podman', ['system', 'service', '--time=0', `unix://${this.socket}`], {
      env: this.env,
      cwd: this.dir,
      stdio: ['ignore', log, log],
    });
    fs.closeSync(log);
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (await this.pings()) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`podman system service did not answer on ${this.socket}: see ${this.dir}/service.log`);
  }

  /** Stop the API service (containers keep running: Podman is daemonless). */
  async stopService(): Promise<void> {
    const s = this.service;
    this.service = undefined;
    if (!s || s.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      s.once('exit', () => resolve());
      s.kill('SIGTERM');
    });
  }

  private pings(): Promise<boolean> {
    return new Promise((resolve) => {
      const req = http.get({ socketPath: this.socket, path: '/_ping', timeout: 2000 }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on('error', () => resolve(false));
      req.on('timeout', () => req.destroy());
    });
  }

  /** Remove every container, pod and image of this Podman, stop its service and remove its directory. */
  async destroy(): Promise<void> {
    await this.podman('pod', 'rm', '-af', '-t', '0').catch(() => undefined);
    await this.podman('rm', '-af', '-t', '0').catch(() => undefined);
    await this.podman('rmi', '-af').catch(() => undefined);
    await this.stopService();
    // Mounts Podman may leave under its run directory (a container's /dev/shm) go before the directory.
    const mounts = fs
      .readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[1] ?? '')
      .filter((m) => m.startsWith(this.dir))
      .sort()
      .reverse();
    for (const m of mounts) await run('umount', ['-l', m]).catch(() => undefined);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
