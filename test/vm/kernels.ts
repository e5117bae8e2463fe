import * as fs from 'node:fs';
import * as path from 'node:path';
import { run, withLock, writeAtomic } from './exec';

/**
 * The kernels the VM boots: Debian's own kernel of three releases, so the scenarios run on three kernel
 * generations users really run under cgroup v2.
 *
 *   5.10  bullseye   before memory.peak (5.19) and memory.events oom_group_kill (5.17)
 *   6.1   bookworm   the full matrix runs here
 *   6.12  trixie     the current line: memory.peak, oom_group_kill, modules compressed with xz
 *
 * Each is fetched once into .cache/vm/kernels/<suite>/ with apt, through an apt configuration of its own
 * (.cache/vm/apt/<suite>/: its sources list, lists, package cache and an empty dpkg status). The machine's
 * apt sources are only read, for the archive's address; its apt configuration, lists, cache and installed
 * packages play no part and are never changed. Only the linux-image package is
 * downloaded: the one the suite's linux-image-amd64 metapackage depends on now. It is unpacked with dpkg-deb
 * and depmod writes its modules.dep (the package leaves that to its postinst). Once cached, a kernel is used as
 * it is, without asking the archive again: a newer Debian kernel is taken only after `rm -r` of its directory
 * (or OOMWATCH_VM_KERNEL_REFRESH=1), so a run never changes kernel behind the tests' back.
 */

export const KERNEL_LINES = ['5.10', '6.1', '6.12'] as const;
export type KernelLine = (typeof KERNEL_LINES)[number];

/** The Debian release whose kernel is each line. */
export const SUITE_OF: Readonly<Record<KernelLine, string>> = {
  '5.10': 'bullseye',
  '6.1': 'bookworm',
  '6.12': 'trixie',
};

export interface Kernel {
  line: KernelLine;
  /** Debian release (bullseye, bookworm, trixie). */
  suite: string;
  vmlinuz: string;
  /** uname -r in the guest, e.g. 5.10.0-35-amd64. */
  release: string;
  /** Holds modules.dep and the modules, as /lib/modules/<release> would. */
  modulesDir: string;
  /** The Debian package and version it came from, e.g. linux-image-5.10.0-35-amd64 5.10.237-1. */
  package: string;
  version: string;
  /** Where apt fetched it from. */
  url: string;
  sha256: string;
}

/** What a kernel has, by kernel version (the cgroup v2 memory interface grew over these releases). */
export interface KernelFeatures {
  /** memory.peak: from 5.19. */
  memoryPeak: boolean;
  /** memory.events oom_group_kill: from 5.17. */
  oomGroupKillEvent: boolean;
  /** memory.oom.group: from 4.19. */
  oomGroup: boolean;
}

export function kernelFeatures(line: KernelLine): KernelFeatures {
  const [major, minor] = line.split('.').map(Number) as [number, number];
  const atLeast = (ma: number, mi: number): boolean => major > ma || (major === ma && minor >= mi);
  return { memoryPeak: atLeast(5, 19), oomGroupKillEvent: atLeast(5, 17), oomGroup: atLeast(4, 19) };
}

export function isKernelLine(v: string): v is KernelLine {
  return (KERNEL_LINES as readonly string[]).includes(v);
}

interface Manifest {
  suite: string;
  package: string;
  version: string;
  release: string;
  url: string;
  sha256: string;
  /** Relative to the kernel's directory. */
  vmlinuz: string;
  modulesDir: string;
  fetched: string;
}

/** Where Debian's archive is, as this machine's apt sources say (or the OOMWATCH_VM_DEBIAN_* overrides). */
export interface Archive {
  mirror: string;
  security: string;
  keyring: string;
}

const DEFAULT_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

/** The entries of the machine's apt sources: one-line (.list) and deb822 (.sources) formats. */
function systemSourceEntries(): Array<{ uri: string; suites: string[]; signedBy?: string }> {
  const files: string[] = [];
  if (fs.existsSync('/etc/apt/sources.list')) files.push('/etc/apt/sources.list');
  if (fs.existsSync('/etc/apt/sources.list.d'))
    for (const n of fs.readdirSync('/etc/apt/sources.list.d').sort())
      if (n.endsWith('.list') || n.endsWith('.sources')) files.push(path.join('/etc/apt/sources.list.d', n));
  const entries: Array<{ uri: string; suites: string[]; signedBy?: string }> = [];
  for (const file of files) {
    const text = fs.readFileSync(file, 'utf8');
    if (file.endsWith('.sources')) {
      for (const stanza of text.split(/\n\s*\n/)) {
        const field = (name: string): string | undefined =>
          new RegExp(`^${name}:\\s*(.+)$`, 'mi').exec(stanza)?.[1]?.trim();
        if (!/^Types:.*\bdeb\b/im.test(stanza) || /^Enabled:\s*no/im.test(stanza)) continue;
        const uri = field('URIs')?.split(/\s+/)[0];
        const signedBy = field('Signed-By');
        if (uri)
          entries.push({
            uri,
            suites: field('Suites')?.split(/\s+/) ?? [],
            ...(signedBy?.startsWith('/') ? { signedBy } : {}),
          });
      }
    } else {
      for (const line of text.split('\n')) {
        // deb [signed-by=/usr/share/keyrings/x.gpg] http://deb.debian.org/debian bookworm main
        const m = /^\s*deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)/.exec(line);
        if (!m) continue;
        const signedBy = /signed-by=(\S+)/.exec(m[1] ?? '')?.[1];
        entries.push({ uri: m[2] as string, suites: [m[3] as string], ...(signedBy ? { signedBy } : {}) });
      }
    }
  }
  return entries;
}

/**
 * The Debian archive and its security archive this machine's apt uses (the first source serving a Debian
 * suite, and the first serving a -security suite), else deb.debian.org.
 */
export function debianArchive(): Archive {
  const known = new Set(Object.values(SUITE_OF).flatMap((s) => [s, `${s}-updates`, `${s}-security`]));
  const entries = systemSourceEntries().filter((e) => e.suites.some((s) => known.has(s)));
  const main = entries.find((e) => e.suites.some((s) => !s.endsWith('-security')));
  const security = entries.find((e) => e.suites.some((s) => s.endsWith('-security')));
  const trim = (u: string): string => u.replace(/\/+$/, '');
  return {
    mirror: process.env['OOMWATCH_VM_DEBIAN_MIRROR'] ?? trim(main?.uri ?? 'http://deb.debian.org/debian'),
    security:
      process.env['OOMWATCH_VM_DEBIAN_SECURITY'] ??
      trim(security?.uri ?? 'http://deb.debian.org/debian-security'),
    keyring: main?.signedBy ?? DEFAULT_KEYRING,
  };
}

/** The kernel of `line`, fetched and unpacked into `cacheDir`/kernels/<suite>/ the first time. */
export async function ensureKernel(line: KernelLine, cacheDir: string): Promise<Kernel> {
  const suite = SUITE_OF[line];
  const dir = path.join(cacheDir, 'kernels', suite);
  const refresh = process.env['OOMWATCH_VM_KERNEL_REFRESH'] === '1';
  const cached = readCached(line, dir);
  if (cached && !refresh) return cached;
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  return withLock(`${dir}.lock`, async () => {
    const again = readCached(line, dir);
    if (again && !refresh) return again;
    return fetchKernel(line, dir, path.join(cacheDir, 'apt', suite));
  });
}

/** The cached kernel of `line`, or undefined when it was never fetched (or its directory is incomplete). */
export function readCached(line: KernelLine, dir: string): Kernel | undefined {
  let m: Manifest;
  try {
    m = JSON.parse(fs.readFileSync(path.join(dir, 'kernel.json'), 'utf8')) as Manifest;
  } catch {
    return undefined;
  }
  const vmlinuz = path.join(dir, m.vmlinuz);
  const modulesDir = path.join(dir, m.modulesDir);
  if (!fs.existsSync(vmlinuz) || !fs.existsSync(path.join(modulesDir, 'modules.dep'))) return undefined;
  return {
    line,
    suite: m.suite,
    vmlinuz,
    release: m.release,
    modulesDir,
    package: m.package,
    version: m.version,
    url: m.url,
    sha256: m.sha256,
  };
}

/** The fields of one `apt-cache show` stanza. */
function stanzaFields(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(line);
    if (m) fields.set(m[1] as string, m[2] as string);
    if (line === '' && fields.size > 0) break;
  }
  return fields;
}

async function fetchKernel(line: KernelLine, dir: string, aptDir: string): Promise<Kernel> {
  const suite = SUITE_OF[line];
  const archive = debianArchive();
  const apt = privateApt(aptDir, suite, archive);
  const env = { ...process.env, APT_CONFIG: apt.config, LC_ALL: 'C', DEBIAN_FRONTEND: 'noninteractive' };
  const aptRun = (cmd: string, args: string[], cwd = aptDir): Promise<string> =>
    run(cmd, args, { cwd, env, timeoutMs: 15 * 60_000 });

  await aptRun('apt-get', ['-q', 'update']);
  // linux-image-amd64 depends on exactly one linux-image-<abi>-amd64: that suite's current kernel.
  const meta = stanzaFields(await aptRun('apt-cache', ['show', '--no-all-versions', 'linux-image-amd64']));
  const pkg = /\b(linux-image-\d[^\s,]*-amd64)\b/.exec(meta.get('Depends') ?? '')?.[1];
  if (!pkg)
    throw new Error(
      `linux-image-amd64 of ${suite} depends on no linux-image-*-amd64 package: "${meta.get('Depends')}"`,
    );
  const info = stanzaFields(await aptRun('apt-cache', ['show', '--no-all-versions', pkg]));
  const version = info.get('Version') ?? '';
  // "'http://deb.debian.org/debian/pool/main/l/...deb' linux-image-..._amd64.deb 108547552 SHA256:57de..."
  const uris = await aptRun('apt-get', ['-q', 'download', '--print-uris', `${pkg}=${version}`]);
  const url = /'([^']+\.deb)'/.exec(uris)?.[1] ?? '';

  const work = fs.mkdtempSync(`${dir}.fetch-`);
  try {
    // apt-get download verifies the package against the signed index it came from, and writes it to cwd.
    await aptRun('apt-get', ['-q', 'download', `${pkg}=${version}`], work);
    const deb = fs.readdirSync(work).find((n) => n.endsWith('.deb'));
    if (!deb) throw new Error(`apt-get download ${pkg} left no .deb in ${work}`);
    const root = path.join(work, 'root');
    await run('dpkg-deb', ['-x', path.join(work, deb), root]);
    const release = fs
      .readdirSync(path.join(root, 'boot'))
      .find((n) => n.startsWith('vmlinuz-'))
      ?.slice('vmlinuz-'.length);
    if (!release) throw new Error(`${deb} holds no /boot/vmlinuz-*`);
    // Merged /usr: trixie's kernel puts its modules under /usr/lib/modules.
    const base = [root, path.join(root, 'usr')].find((b) =>
      fs.existsSync(path.join(b, 'lib', 'modules', release)),
    );
    if (!base) throw new Error(`${deb} holds no lib/modules/${release}`);
    await run(depmodPath(), ['-b', base, release]);
    const sha256 = (await run('sha256sum', [path.join(work, deb)])).split(' ')[0] as string;
    fs.rmSync(path.join(work, deb));
    const manifest: Manifest = {
      suite,
      package: pkg,
      version,
      release,
      url,
      sha256,
      vmlinuz: path.join('root', 'boot', `vmlinuz-${release}`),
      modulesDir: path.relative(work, path.join(base, 'lib', 'modules', release)),
      fetched: new Date().toISOString(),
    };
    writeAtomic(path.join(work, 'kernel.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(work, dir);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
    // The lists and apt's binary caches were only needed to find and verify this one package: 120 to 140 MB
    // a suite. The configuration stays, to look at.
    fs.rmSync(path.join(aptDir, 'state', 'lists'), { recursive: true, force: true });
    fs.rmSync(path.join(aptDir, 'cache'), { recursive: true, force: true });
  }
  const kernel = readCached(line, dir);
  if (!kernel) throw new Error(`the kernel unpacked into ${dir} is incomplete`);
  return kernel;
}

function depmodPath(): string {
  const found = ['/usr/sbin/depmod', '/sbin/depmod'].find((p) => fs.existsSync(p));
  if (!found) throw new Error('depmod is missing: apt-get install -y kmod');
  return found;
}

/**
 * An apt configuration that reads and writes only under `aptDir`: its own etc (sources list with the suite,
 * its -updates and -security, no parts), its own state (lists, an empty dpkg status, so the machine's
 * installed packages play no part) and cache. apt reads APT_CONFIG before everything else, so
 * Dir::Etc::Parts pointing to an empty directory keeps the machine's apt.conf.d (and its hooks) out too.
 */
function privateApt(aptDir: string, suite: string, archive: Archive): { config: string } {
  for (const d of ['etc/apt.conf.d', 'etc/preferences.d', 'etc/sources.list.d', 'state/lists/partial'])
    fs.mkdirSync(path.join(aptDir, d), { recursive: true });
  fs.mkdirSync(path.join(aptDir, 'cache', 'archives', 'partial'), { recursive: true });
  const signed = `[signed-by=${archive.keyring}]`;
  fs.writeFileSync(
    path.join(aptDir, 'etc', 'sources.list'),
    [
      `deb ${signed} ${archive.mirror} ${suite} main`,
      `deb ${signed} ${archive.mirror} ${suite}-updates main`,
      `deb ${signed} ${archive.security} ${suite}-security main`,
      '',
    ].join('\n'),
  );
  fs.writeFileSync(path.join(aptDir, 'state', 'status'), '');
  const config = path.join(aptDir, 'apt.conf');
  const q = (p: string): string => JSON.stringify(p);
  fs.writeFileSync(
    config,
    [
      `Dir::Etc ${q(`${path.join(aptDir, 'etc')}/`)};`,
      'Dir::Etc::Parts "apt.conf.d";',
      'Dir::Etc::Main "/dev/null";',
      'Dir::Etc::SourceList "sources.list";',
      'Dir::Etc::SourceParts "sources.list.d";',
      'Dir::Etc::Preferences "/dev/null";',
      'Dir::Etc::PreferencesParts "preferences.d";',
      `Dir::State ${q(`${path.join(aptDir, 'state')}/`)};`,
      `Dir::State::status ${q(path.join(aptDir, 'state', 'status'))};`,
      `Dir::Cache ${q(`${path.join(aptDir, 'cache')}/`)};`,
      'APT::Architecture "amd64";',
      'APT::Architectures { "amd64"; };',
      // Downloads run as root: the _apt user may not be able to write into the checkout.
      'APT::Sandbox::User "root";',
      'Acquire::Languages "none";',
      'Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled "false";',
      '',
    ].join('\n'),
  );
  return { config };
}
