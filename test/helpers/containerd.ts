import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { type Prerequisite, hasCommand } from './prereq';

/**
 * A private containerd for the suite: its own socket, root and state under a temporary directory, the CRI
 * plugin off, runc as the runtime. It never touches a containerd the host runs (dockerd's own, at
 * /var/run/docker/containerd, or the system's at /run/containerd/containerd.sock): both can run beside it, as
 * they did on this machine. No registry is reachable: the test image is an OCI image archive built here from
 * busybox-static and imported with `ctr images import`.
 */
const run = promisify(execFile);

/** The image every containerd test container runs. */
export const CONTAINERD_TEST_IMAGE = 'localhost/oomwatch-test/busybox:latest';

/** containerd, ctr and the runc shim (Debian: containerd, runc; docker.io depends on both), and busybox. */
export function hasContainerd(): Prerequisite {
  for (const [cmd, pkg] of [
    ['containerd', 'containerd'],
    ['ctr', 'containerd'],
    ['containerd-shim-runc-v2', 'containerd'],
    ['runc', 'runc'],
  ] as const) {
    const p = hasCommand(cmd, pkg);
    if (!p.ok) return p;
  }
  if (!busyboxPath()) return { ok: false, why: 'needs busybox: apt-get install -y busybox-static' };
  return { ok: true, why: '' };
}

function busyboxPath(): string | undefined {
  return ['/bin/busybox', '/usr/bin/busybox'].find((p) => fs.existsSync(p));
}

const sha256File = (file: string): string => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/**
 * Build an OCI image archive (oci-layout, index.json, blobs/sha256/...) of one uncompressed layer holding a
 * static busybox and its applet links, PATH=/bin and `sh` as its command, named `name` through the
 * `io.containerd.image.name` annotation `ctr images import` reads. The layer is tarred with a fixed order,
 * owner and time, so the same busybox gives the same digests.
 */
export function buildBusyboxOciImage(outTar: string, name: string = CONTAINERD_TEST_IMAGE): void {
  const busybox = busyboxPath();
  if (!busybox) throw new Error('needs busybox: apt-get install -y busybox-static');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-oci-'));
  try {
    const rootfs = path.join(work, 'rootfs');
    const blobs = path.join(work, 'oci', 'blobs', 'sha256');
    fs.mkdirSync(path.join(rootfs, 'bin'), { recursive: true });
    fs.mkdirSync(path.join(rootfs, 'tmp'));
    fs.chmodSync(path.join(rootfs, 'tmp'), 0o1777);
    fs.mkdirSync(blobs, { recursive: true });
    fs.copyFileSync(busybox, path.join(rootfs, 'bin', 'busybox'));
    fs.chmodSync(path.join(rootfs, 'bin', 'busybox'), 0o755);
    const applets = execFileSync(path.join(rootfs, 'bin', 'busybox'), ['--list'], { encoding: 'utf8' });
    for (const a of applets.split('\n'))
      if (a && a !== 'busybox') fs.symlinkSync('busybox', path.join(rootfs, 'bin', a));

    /** Move a file into blobs/ under its digest; returns the descriptor fields. */
    const blob = (file: string): { digest: string; size: number } => {
      const hex = sha256File(file);
      const size = fs.statSync(file).size;
      fs.renameSync(file, path.join(blobs, hex));
      return { digest: `sha256:${hex}`, size };
    };
    const json = (file: string, value: unknown): string => {
      fs.writeFileSync(file, JSON.stringify(value));
      return file;
    };

    // An uncompressed layer: its digest is also its diff_id.
    const layerTar = path.join(work, 'layer.tar');
    execFileSync('tar', [
      '--sort=name',
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      '--mtime=@0',
      '-C',
      rootfs,
      '-cf',
      layerTar,
      '.',
    ]);
    const layer = blob(layerTar);
    const config = blob(
      json(path.join(work, 'config.json'), {
        architecture: 'amd64',
        os: 'linux',
        config: { Env: ['PATH=/bin'], Cmd: ['sh'] },
        rootfs: { type: 'layers', diff_ids: [layer.digest] },
      }),
    );
    const manifest = blob(
      json(path.join(work, 'manifest.json'), {
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
      }),
    );
    json(path.join(work, 'oci', 'index.json'), {
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          ...manifest,
          platform: { architecture: 'amd64', os: 'linux' },
          annotations: { 'io.containerd.image.name': name, 'org.opencontainers.image.ref.name': 'latest' },
        },
      ],
    });
    json(path.join(work, 'oci', 'oci-layout'), { imageLayoutVersion: '1.0.0' });
    execFileSync('tar', ['-C', path.join(work, 'oci'), '-cf', outTar, 'oci-layout', 'index.json', 'blobs']);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

export interface CtrResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A shell snippet that allocates about `mb` MB of anonymous memory (past a 32 MiB limit: OOM-killed). */
export function allocate(mb: number): string {
  return `x=$(head -c ${mb * 1024 * 1024} /dev/zero | tr '\\0' a)`;
}

export class PrivateContainerd {
  readonly socket: string;
  private child: ChildProcess | undefined;
  /** Namespaces used, whose cgroupfs parent directories runc leaves behind in every controller. */
  private readonly namespaces = new Set<string>();

  private constructor(readonly dir: string) {
    this.socket = path.join(dir, 'containerd.sock');
  }

  /** A new private containerd in a fresh temporary directory, started and answering. */
  static async create(): Promise<PrivateContainerd> {
    const c = new PrivateContainerd(fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-ctd-')));
    const d = c.dir;
    fs.writeFileSync(
      path.join(d, 'config.toml'),
      [
        '# A private containerd for oomwatch tests: its own socket, root and state; no CRI plugin.',
        'version = 2',
        `root = "${d}/root"`,
        `state = "${d}/state"`,
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
        '[grpc]',
        `  address = "${d}/containerd.sock"`,
        '[ttrpc]',
        `  address = "${d}/containerd.sock.ttrpc"`,
        '[debug]',
        `  address = "${d}/debug.sock"`,
        '  level = "info"',
        '[plugins."io.containerd.internal.v1.opt"]',
        `  path = "${d}/opt"`,
        '',
      ].join('\n'),
    );
    await c.start();
    return c;
  }

  /** Start containerd (again) on this directory and wait until it answers. */
  async start(): Promise<void> {
    const log = fs.openSync(path.join(this.dir, 'containerd.log'), 'a');
    this.child = spawn('containerd', ['--config', path.join(this.dir, 'config.toml')], {
      stdio: ['ignore', log, log],
    });
    fs.closeSync(log);
    const deadline = Date.now() + 30_000;
    for (;;) {
      if ((await this.ctrIn('', 'version')).code === 0) return;
      if (this.child.exitCode !== null || Date.now() > deadline)
        throw new Error(`containerd did not start; see ${path.join(this.dir, 'containerd.log')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Stop containerd (SIGTERM); the shims and their containers live on, as they do in production. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  }

  /** `ctr -a SOCKET -n NAMESPACE ARGS...`; never throws, resolves with the exit code and output. */
  async ctr(namespace: string, ...args: string[]): Promise<CtrResult> {
    if (namespace !== '') this.namespaces.add(namespace);
    return this.ctrIn(namespace, ...args);
  }

  private async ctrIn(namespace: string, ...args: string[]): Promise<CtrResult> {
    const ns = namespace === '' ? [] : ['-n', namespace];
    try {
      const { stdout, stderr } = await run('ctr', ['-a', this.socket, ...ns, ...args], {
        maxBuffer: 16 * 1024 * 1024,
        timeout: 120_000,
      });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code?: number | string; stdout?: string; stderr?: string };
      return {
        code: typeof e.code === 'number' ? e.code : -1,
        stdout: e.stdout ?? '',
        stderr: e.stderr ?? '',
      };
    }
  }

  /** `ctr` that must succeed; returns its stdout. */
  async ctrOk(namespace: string, ...args: string[]): Promise<string> {
    const r = await this.ctr(namespace, ...args);
    if (r.code !== 0) throw new Error(`ctr ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
    return r.stdout;
  }

  /** Build the busybox image and import it into `namespace`. */
  async importTestImage(namespace: string): Promise<void> {
    const tar = path.join(this.dir, 'busybox-oci.tar');
    if (!fs.existsSync(tar)) buildBusyboxOciImage(tar);
    await this.ctrOk(namespace, 'images', 'import', tar);
  }

  /**
   * Remove every task, container and image this containerd has, stop it, and remove its directory and the
   * namespaces' cgroup directories runc left behind (only when empty: another containerd may use the same
   * namespace names).
   */
  async destroy(): Promise<void> {
    if (this.child && this.child.exitCode === null) {
      for (const ns of this.namespaces) {
        const tasks = (await this.ctr(ns, 'tasks', 'ls', '-q')).stdout.split('\n').filter(Boolean);
        for (const t of tasks) await this.ctr(ns, 'tasks', 'kill', '-s', 'SIGKILL', t);
        for (const t of tasks) {
          for (let i = 0; i < 50; i++) {
            if ((await this.ctr(ns, 'tasks', 'delete', t)).code === 0) break;
            await new Promise((r) => setTimeout(r, 100));
          }
        }
        const containers = (await this.ctr(ns, 'containers', 'ls', '-q')).stdout.split('\n').filter(Boolean);
        if (containers.length > 0) await this.ctr(ns, 'containers', 'delete', ...containers);
        const images = (await this.ctr(ns, 'images', 'ls', '-q')).stdout.split('\n').filter(Boolean);
        if (images.length > 0) await this.ctr(ns, 'images', 'rm', ...images);
      }
    }
    await this.stop();
    // The snapshots are bind mounts of the overlay snapshotter: unmount what a killed task may have left.
    try {
      const mounts = fs.readFileSync('/proc/self/mounts', 'utf8').split('\n');
      for (const m of mounts.map((l) => l.split(' ')[1]).filter((p) => p?.startsWith(this.dir)))
        execFileSync('umount', ['-l', m as string], { stdio: 'ignore' });
    } catch {
      // best effort
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
    for (const ns of this.namespaces) {
      if (ns === '' || ns.includes('/') || ns === '.' || ns === '..') continue;
      for (const controller of fs.readdirSync('/sys/fs/cgroup', { withFileTypes: true })) {
        if (!controller.isDirectory()) continue;
        try {
          fs.rmdirSync(path.join('/sys/fs/cgroup', controller.name, ns));
        } catch {
          // absent, or in use by another containerd
        }
      }
    }
  }
}
