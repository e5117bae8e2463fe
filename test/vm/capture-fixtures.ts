import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type VmContainer, container, containerEnv } from './containers';
import { repoRoot } from './exec';
import { type KmsgRecord, killedProcesses, oomReports, parseKmsgDump } from './kmsg-records';
import { type ScenarioRun, runScenario, vmPrerequisites } from './vm';

/**
 * `npm run fixtures:v2`: refresh the cgroup v2 fixture trees and the kernel-log OOM records from what the VM's
 * kernel (Debian's 6.1) really writes, instead of typing them by hand.
 *
 *   test/fixtures/cgroup/v2-captured/layouts/     a cgroup v2 root: containers in the Docker systemd, Docker
 *                                                 cgroupfs and Kubernetes systemd layouts, running, unlimited,
 *                                                 after a limit OOM, after a memory.oom.group kill, under a
 *                                                 pod-level limit (see containers.json for which is which)
 *   test/fixtures/cgroup/v2-captured/global-oom/  a cgroup v2 root after a global OOM killed a container's process
 *   test/fixtures/kmsg/captured-6.1/              the /dev/kmsg records of a limit OOM, a group kill and a global
 *                                                 OOM, one record a line, as /dev/kmsg returned them
 *
 * Container ids and pod UIDs are derived from fixed names, so a new capture changes the numbers in the files
 * and not the paths. Both directories are replaced as a whole.
 */

const ROOT = repoRoot();
const CGROUP_OUT = path.join(ROOT, 'test', 'fixtures', 'cgroup', 'v2-captured');
const KMSG_OUT = path.join(ROOT, 'test', 'fixtures', 'kmsg', 'captured-6.1');

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

async function main(): Promise<number> {
  const missing = vmPrerequisites().filter((p) => !p.ok);
  if (missing.length > 0) {
    process.stderr.write(`fixtures:v2: ${missing.map((p) => p.why).join('; ')}\n`);
    return 1;
  }
  const { running, unlimited, oomed, group, podlimited, victim } = CONTAINERS;
  const layouts = await runScenario({
    kernel: '6.1',
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
    kernel: '6.1',
    scenario: 'capture-global-oom.sh',
    memoryMb: 512,
    env: { ...containerEnv([victim]), VICTIM: 'victim' },
  });

  const kernel = layouts.text('kernel').trim();
  const date = new Date().toISOString().slice(0, 10);
  const files =
    writeTree(layouts, 'tree', path.join(CGROUP_OUT, 'layouts')) +
    writeTree(global, 'tree', path.join(CGROUP_OUT, 'global-oom'));
  const manifest = Object.values(CONTAINERS).map((c) => ({
    tree: c === victim ? 'global-oom' : 'layouts',
    name: c.name,
    id: c.id,
    ...(c.podUid ? { podUid: c.podUid } : {}),
    cgroup: c.cgroup,
    state: STATES[c.name as keyof typeof CONTAINERS],
  }));
  fs.writeFileSync(path.join(CGROUP_OUT, 'containers.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  fs.writeFileSync(
    path.join(CGROUP_OUT, 'CAPTURED'),
    `Captured by npm run fixtures:v2 (test/vm/capture-fixtures.ts) on ${date}: kernel ${kernel} booted by qemu with\n` +
      `cgroup_no_v1=all (cgroup v2 only), page size 4096. layouts/ and global-oom/ are cgroup v2 roots holding the files\n` +
      `oomwatch reads of every directory above and of each container; containers.json says what each container did.\n`,
  );

  fs.rmSync(KMSG_OUT, { recursive: true, force: true });
  fs.mkdirSync(KMSG_OUT, { recursive: true });
  const layoutsKmsg = parseKmsgDump(layouts.text('kmsg'));
  const globalKmsg = parseKmsgDump(global.text('kmsg'));
  const groupReport = reportOf(layoutsKmsg, group);
  const groupKills = killedProcesses(groupReport);
  const kmsgFiles: Record<string, string> = {
    'limit-oom.txt': rawRecords(layouts.text('kmsg'), reportOf(layoutsKmsg, oomed)),
    'group-kill.txt': rawRecords(layouts.text('kmsg'), groupReport),
    'global-oom.txt': rawRecords(global.text('kmsg'), reportOf(globalKmsg, victim)),
  };
  for (const [name, text] of Object.entries(kmsgFiles)) fs.writeFileSync(path.join(KMSG_OUT, name), text);
  fs.writeFileSync(
    path.join(KMSG_OUT, 'CAPTURED'),
    `Captured by npm run fixtures:v2 (test/vm/capture-fixtures.ts) on ${date}: kernel ${kernel} under qemu, cgroup v2.\n` +
      `One OOM report a file, every record from "invoked oom-killer" to its last kill, one record a line as /dev/kmsg\n` +
      `returned it ("prio,seq,usec,flags;message", continuation lines included):\n` +
      `  limit-oom.txt   a 32 MiB limit in ${oomed.cgroup}: one process (awk) killed\n` +
      `  group-kill.txt  memory.oom.group in ${group.cgroup}: ${new Set(groupKills.map((k) => k.pid)).size} processes killed, ` +
      `${groupKills.length} "Killed process" records\n` +
      `  global-oom.txt  a global OOM (no limit, 512 MB VM) killing a process (awk) in ${victim.cgroup}\n`,
  );
  process.stdout.write(
    `fixtures:v2: ${files} cgroup files in ${path.relative(ROOT, CGROUP_OUT)}, ${Object.keys(kmsgFiles).length} kernel-log reports in ` +
      `${path.relative(ROOT, KMSG_OUT)} (kernel ${kernel})\n`,
  );
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`fixtures:v2: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
