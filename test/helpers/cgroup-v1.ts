import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Real memory cgroups on this machine's v1 hierarchy, in container-like layouts, for real-kernel tests.
 * Every cgroup a test makes is removed by `cleanup()` (processes killed first).
 */
export const V1_MEMORY = '/sys/fs/cgroup/memory';

export function randomHex(len: number): string {
  let s = '';
  while (s.length < len)
    s += Math.floor(Math.random() * 0x100000000)
      .toString(16)
      .padStart(8, '0');
  return s.slice(0, len);
}

export class V1Cgroups {
  private readonly made: string[] = [];
  private readonly children: ChildProcess[] = [];

  /** mkdir -p a cgroup (relative to the v1 memory root) and remember every level it created. */
  make(rel: string, limitBytes?: number): string {
    const parts = rel.split('/').filter(Boolean);
    let cur = V1_MEMORY;
    for (const p of parts) {
      cur = path.join(cur, p);
      if (!fs.existsSync(cur)) {
        fs.mkdirSync(cur);
        this.made.push(cur);
      }
    }
    if (limitBytes !== undefined) {
      fs.writeFileSync(path.join(cur, 'memory.limit_in_bytes'), String(limitBytes));
      // No swap: a process past the limit is killed rather than swapped (memsw exists with swap accounting).
      const memsw = path.join(cur, 'memory.memsw.limit_in_bytes');
      if (fs.existsSync(memsw)) fs.writeFileSync(memsw, String(limitBytes));
    }
    return cur;
  }

  /**
   * Start `sh -c script` inside the cgroup: the shell moves itself in before exec'ing the workload, so
   * every byte it allocates is charged there. Resolves with the exit code or signal.
   */
  runIn(
    dir: string,
    script: string,
  ): { child: ChildProcess; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> } {
    const child = spawn(
      'sh',
      ['-c', `echo $$ > ${dir}/cgroup.procs && exec sh -c '${script.replace(/'/g, `'\\''`)}'`],
      {
        stdio: 'ignore',
      },
    );
    this.children.push(child);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal })),
    );
    return { child, exited };
  }

  /** Remove a cgroup now (its processes killed), e.g. to test a cgroup vanishing after its kill. */
  remove(dir: string): void {
    killAllIn(dir);
    rmdirRetry(dir);
    const i = this.made.indexOf(dir);
    if (i >= 0) this.made.splice(i, 1);
  }

  cleanup(): void {
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const dir of [...this.made].reverse()) {
      killAllIn(dir);
      rmdirRetry(dir);
    }
    this.made.length = 0;
  }
}

/**
 * The kernel's own count of OOM kills in a v1 memory cgroup (memory.oom_control's oom_kill, 4.13+). A test
 * compares oomwatch with this rather than with 1: past its limit, the workload of allocateScript may lose more
 * than one process (the shell collecting the output, and the pipe feeding it), and each is a kill.
 */
export function kernelOomKills(dir: string): number {
  return oomKillLine(path.join(dir, 'memory.oom_control'));
}

/**
 * The host kernel's count of OOM kills since boot (/proc/vmstat's oom_kill, 4.13+): the truth to compare with
 * when the container's cgroup is gone by the time the test looks (Docker and Podman remove it at exit). The real
 * suite runs one file at a time (jest -i), so the difference across a test is that test's kills.
 */
export function hostOomKills(): number {
  return oomKillLine('/proc/vmstat');
}

/** The `oom_kill N` line both files have (from 4.13). */
function oomKillLine(file: string): number {
  const m = /^oom_kill (\d+)$/m.exec(fs.readFileSync(file, 'utf8'));
  if (!m) throw new Error(`${file} has no oom_kill line (a kernel older than 4.13?)`);
  return Number(m[1]);
}

/** A shell script that allocates about `mb` MB and then sleeps. */
export function allocateScript(mb: number): string {
  return `x=$(head -c ${mb * 1024 * 1024} /dev/zero | tr "\\0" a); sleep 3600`;
}

function killAllIn(dir: string): void {
  try {
    for (const pid of fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // already gone
      }
    }
  } catch {
    // cgroup already removed
  }
}

function rmdirRetry(dir: string): void {
  for (let i = 0; i < 50; i++) {
    try {
      fs.rmdirSync(dir);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      // EBUSY while the killed processes are still exiting
      const until = Date.now() + 100;
      while (Date.now() < until) {
        /* brief wait; this runs in test cleanup only */
      }
    }
  }
}
