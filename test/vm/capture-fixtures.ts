import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type VmContainer, container, containerEnv } from './containers';
import { repoRoot } from './exec';
import { KERNEL_LINES, type Kernel, type KernelLine, isKernelLine } from './kernels';
import { type KmsgRecord, killedProcesses, oomReports, parseKmsgDump } from './kmsg-records';
import { type ScenarioRun, runScenario, vmPrerequisites } from './vm';

/**
 * `npm run fixtures:v2 [-- LINE...]`: refresh the cgroup v2 fixture trees and the kernel-log OOM records from
 * what each of the VM's kernels (Debian's 5.10, 6.1 and 6.12; all three unless kernel lines are given) really
 * writes, instead of typing them by hand. Per kernel line:
 *
 *   test/fixtures/cgroup/v2-captured<-LINE>/layouts/     a cgroup v2 root: containers in the Docker systemd,
 *                                                        Docker cgroupfs and Kubernetes systemd layouts,
 *                                                        running, unlimited, after a limit OOM, after a
 *                                                        memory.oom.group kill, under a pod-level limit (see
 *                                                        containers.json for which is which)
 *   test/fixtures/cgroup/v2-captured<-LINE>/global-oom/  a cgroup v2 root after a global OOM killed a
 *                                                        container's process
 *   test/fixtures/kmsg/captured-LINE/                    the /dev/kmsg records of a limit OOM, a group kill
 *                                                        and a global OOM, one record a line, as /dev/kmsg
 *                                                        returned them
 *
 * The 6.1 cgroup capture keeps its first name, v2-captured/ (no suffix): the parser tests and the v2 fixture
 * tree (test/cgroup/make-v2-tree.mjs) are built on it. Container ids and pod UIDs are derived from fixed
 * names, the same for every kernel, so a new capture changes the numbers in the files and not the paths, and
 * the kernels' files can be compared path by path. Each kernel's directories are replaced as a whole.
 */

const ROOT = repoRoot();
const cgroupOut = (line: KernelLine): string =>
  path.join(ROOT, 'test', 'fixtures', 'cgroup', line === '6.1' ? 'v2-captured' : `v2-captured-${line}`);
const kmsgOut = (line: KernelLine): string => path.join(ROOT, 'test', 'fixtures', 'kmsg', `captured-${line}`);

const fixedHex = (name: string): string =>
  createHash('sha256').update(`oomwatch fixture ${name}`).digest('hex');
const fixedUuid = (name: string): string => {
  const h = fixedHex(name);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
};

const podUid = fixedUuid('pod');
const CONTAINERS = {
  running: container('running', 'docker-systemd', { id: fixedHex('running') }),
  unlimited: container('unlimited', 'docker-systemd', { id: fixedHex('unlimited') }),
  oomed: container('oomed', 'docker-cgroupfs', { id: fixedHex('oomed') }),
  group: container('group', 'k8s-systemd', { id: fixedHex('group'), podUid }),
  podlimited: container('podlimited', 'k8s-systemd', { id: fixedHex('podlimited'), podUid }),
  victim: container('victim', 'docker-systemd', { id: fixedHex('victim') }),
};

const STATES: Record<keyof typeof CONTAINERS, string> = {
  running:
    '64 MiB limit, memory.high 48 MiB, memory.low 8 MiB, 8 MiB file cache, 24 MiB anonymous, memory stalls behind it',
  unlimited: 'no limit, 8 MiB anonymous',
  oomed: '32 MiB limit, one process OOM-killed, the main process still running',
  group: '32 MiB limit, memory.oom.group 1, all three processes killed in one OOM: empty',
  podlimited: "no limit of its own (the pod's slice has 96 MiB), 16 MiB anonymous",
  victim: 'no limit; its process was killed by a global OOM (a 400 MiB allocation in a 512 MB VM)',
};

/** Write the results NAME/<rel> of `prefix` under `dir`, replacing it. Returns the number of files. */
function writeTree(run: ScenarioRun, prefix: string, dir: string): number {
  fs.rmSync(dir, { recursive: true, force: true });
  let n = 0;
  for (const [name, data] of run.results) {
    if (!name.startsWith(`${prefix}/`)) continue;
    const file = path.join(dir, name.slice(prefix.length + 1));
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, data);
    n++;
  }
  return n;
}

/** The file names of the captured containers' directories (what this kernel has of the files emit_tree asks for). */
function cgroupFileNames(run: ScenarioRun): string[] {
  const names = new Set<string>();
  for (const c of Object.values(CONTAINERS))
    for (const name of run.results.keys())
      if (name.startsWith(`tree/${c.cgroup}/`)) names.add(name.slice(`tree/${c.cgroup}/`.length));
  return [...names].sort();
}

/** The one OOM report (records from "invoked oom-killer" on) whose victims are in `c`'s cgroup. */
function reportOf(records: KmsgRecord[], c: VmContainer): KmsgRecord[] {
  const found = oomReports(records).filter((rep) =>
    rep.some((r) => r.message.includes(`task_memcg=/${c.cgroup},`)),
  );
  if (found.length !== 1)
    throw new Error(`expected one OOM report for ${c.cgroup} in the kernel log, found ${found.length}`);
  return found[0] as KmsgRecord[];
}

/** The records as /dev/kmsg gave them: the raw lines of the dump, continuation lines included. */
function rawRecords(dump: string, report: KmsgRecord[]): string {
  const first = (report[0] as KmsgRecord).seq;
  const last = (report[report.length - 1] as KmsgRecord).seq;
  const out: string[] = [];
  let keep = false;
  for (const line of dump.split('\n')) {
    const m = /^\d+,(\d+),/.exec(line);
    if (m) keep = Number(m[1]) >= first && Number(m[1]) <= last;
    if (keep && line !== '') out.push(line);
  }
  return `${out.join('\n')}\n`;
}

async function main(argv: string[]): Promise<number> {
  const missing = vmPrerequisites().filter((p) => !p.ok);
  if (missing.length > 0) {
    process.stderr.write(`fixtures:v2: ${missing.map((p) => p.why).join('; ')}\n`);
    return 1;
  }
  const bad = argv.filter((a) => !isKernelLine(a));
  if (bad.length > 0) {
    process.stderr.write(
      `fixtures:v2: unknown kernel line ${bad.join(', ')} (known: ${KERNEL_LINES.join(', ')})\n`,
    );
    return 2;
  }
  const lines = argv.length > 0 ? (argv as KernelLine[]) : [...KERNEL_LINES];
  for (const line of lines) await capture(line);
  return 0;
}

/**
 * Kernel and package, as the CAPTURED files say it:
 * "5.10.0-46-amd64 (Debian bullseye, linux-image-5.10.0-46-amd64 5.10.262-1)".
 */
const describeKernel = (k: Kernel): string => `${k.release} (Debian ${k.suite}, ${k.package} ${k.version})`;

async function capture(line: KernelLine): Promise<void> {
  const cgroupDir = cgroupOut(line);
  const kmsgDir = kmsgOut(line);
  const { running, unlimited, oomed, group, podlimited, victim } = CONTAINERS;
  const layouts = await runScenario({
    kernel: line,
    scenario: 'capture.sh',
    env: {
      ...containerEnv([running, unlimited, oomed, group, podlimited]),
      RUNNING: 'running',
      UNLIMITED: 'unlimited',
      OOMED: 'oomed',
      GROUP: 'group',
      PODLIMITED: 'podlimited',
    },
  });
  const global = await runScenario({
    kernel: line,
    scenario: 'capture-global-oom.sh',
    memoryMb: 512,
    env: { ...containerEnv([victim]), VICTIM: 'victim' },
  });

  const kernel = describeKernel(layouts.kernel);
  if (layouts.text('kernel').trim() !== layouts.kernel.release)
    throw new Error(`the VM ran ${layouts.text('kernel').trim()}, not ${layouts.kernel.release}`);
  const date = new Date().toISOString().slice(0, 10);
  const files =
    writeTree(layouts, 'tree', path.join(cgroupDir, 'layouts')) +
    writeTree(global, 'tree', path.join(cgroupDir, 'global-oom'));
  const manifest = Object.values(CONTAINERS).map((c) => ({
    tree: c === victim ? 'global-oom' : 'layouts',
    name: c.name,
    id: c.id,
    ...(c.podUid ? { podUid: c.podUid } : {}),
    cgroup: c.cgroup,
    state: STATES[c.name as keyof typeof CONTAINERS],
  }));
  fs.mkdirSync(cgroupDir, { recursive: true });
  fs.writeFileSync(path.join(cgroupDir, 'containers.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  fs.writeFileSync(
    path.join(cgroupDir, 'CAPTURED'),
    `Captured by npm run fixtures:v2 (test/vm/capture-fixtures.ts) on ${date}: kernel ${kernel} booted by qemu with\n` +
      `cgroup_no_v1=all (cgroup v2 only), page size 4096. layouts/ and global-oom/ are cgroup v2 roots holding the files\n` +
      `oomwatch reads of every directory above and of each container; containers.json says what each container did.\n` +
      `A container's directory holds the files of this list the kernel has: ${cgroupFileNames(layouts).join(' ')}.\n`,
  );

  fs.rmSync(kmsgDir, { recursive: true, force: true });
  fs.mkdirSync(kmsgDir, { recursive: true });
  const layoutsKmsg = parseKmsgDump(layouts.text('kmsg'));
  const globalKmsg = parseKmsgDump(global.text('kmsg'));
  const groupReport = reportOf(layoutsKmsg, group);
  const groupKills = killedProcesses(groupReport);
  const kmsgFiles: Record<string, string> = {
    'limit-oom.txt': rawRecords(layouts.text('kmsg'), reportOf(layoutsKmsg, oomed)),
    'group-kill.txt': rawRecords(layouts.text('kmsg'), groupReport),
    'global-oom.txt': rawRecords(global.text('kmsg'), reportOf(globalKmsg, victim)),
  };
  for (const [name, text] of Object.entries(kmsgFiles)) fs.writeFileSync(path.join(kmsgDir, name), text);
  fs.writeFileSync(
    path.join(kmsgDir, 'CAPTURED'),
    `Captured by npm run fixtures:v2 (test/vm/capture-fixtures.ts) on ${date}: kernel ${kernel} under qemu, cgroup v2.\n` +
      `One OOM report a file, every record from "invoked oom-killer" to its last kill, one record a line as /dev/kmsg\n` +
      `returned it ("prio,seq,usec,flags;message", continuation lines included):\n` +
      `  limit-oom.txt   a 32 MiB limit in ${oomed.cgroup}: one process (awk) killed\n` +
      `  group-kill.txt  memory.oom.group in ${group.cgroup}: ${new Set(groupKills.map((k) => k.pid)).size} processes killed, ` +
      `${groupKills.length} "Killed process" records\n` +
      `  global-oom.txt  a global OOM (no limit, 512 MB VM) killing a process (awk) in ${victim.cgroup}\n`,
  );
  process.stdout.write(
    `fixtures:v2: ${files} cgroup files in ${path.relative(ROOT, cgroupDir)}, ${Object.keys(kmsgFiles).length} kernel-log reports in ` +
      `${path.relative(ROOT, kmsgDir)} (kernel ${kernel})\n`,
  );
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`fixtures:v2: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
