import { buildInspectReport, type InspectInputs, renderInspect } from '../../src/cli/inspect';
import type { Candidate } from '../../src/cli/resolve';
import type { DockerRunState } from '../../src/sources/docker/metadata';
import { labelsOf } from '../../src/state/labels';

const MiB = 1024 * 1024;
const ID = '58693d43b0fd1e08f8e1b8c6da321a5656bfa41927609fcc8973cbf0f01af85e';
const now = Date.UTC(2026, 10, 28, 3, 0, 0);
const candidate: Candidate = {
  id: ID,
  labels: labelsOf(ID, { name: 'web', image: 'nginx:1.25' }),
  state: 'running',
  inDocker: true,
};
const host = { memTotalBytes: 16 * 1024 * MiB, swapTotalBytes: 0 };

function running(limit: number): InspectInputs {
  return {
    candidate,
    now,
    stateAvailable: true,
    host,
    layoutMode: 'hybrid',
    cgroupPath: `/docker/${ID}`,
    reading: {
      dir: `/sys/fs/cgroup/memory/docker/${ID}`,
      errors: [],
      sample: {
        readAtMs: now,
        swappiness: 60,
        usage: 80 * MiB,
        workingSet: 72 * MiB,
        limit,
        reservation: 48 * MiB,
        swapLimit: 96 * MiB,
        peak: 90 * MiB,
        swap: 0,
        stat: {
          rss: 70 * MiB,
          cache: 10 * MiB,
          mappedFile: 2 * MiB,
          inactiveFile: 8 * MiB,
          swap: 0,
          raw: new Map(),
        },
        oomKillDisabled: false,
        underOom: false,
        oomKills: 1,
        limitHits: 5,
        pressure: {
          some: { avg10: 1.5, avg60: 0.5, avg300: 0.1, totalMicroseconds: 2_500_000 },
          full: { avg10: 0, avg60: 0, avg300: 0, totalMicroseconds: 0 },
        },
      },
    },
    oomEvents: [
      {
        key: 'k',
        timeMs: now - 600_000,
        timeExact: true,
        scope: 'container',
        containerId: ID,
        victim: { pid: 4242, comm: 'nginx', anonRssBytes: 60 * MiB, fileRssBytes: 1 * MiB, shmemRssBytes: 0 },
        groupKill: false,
        sources: ['cgroup', 'kmsg'],
      },
    ],
    exits: [],
  };
}

describe('inspect report', () => {
  it('gives the limit, the ratio, the swap verdict and the OOM history of a running container', () => {
    const r = buildInspectReport(running(96 * MiB));
    expect(r).toMatchObject({
      status: 'running',
      limits_from: 'cgroup',
      memory: {
        limit_bytes: 96 * MiB,
        unlimited: false,
        reservation_bytes: 48 * MiB,
        swap: {
          limit_bytes: 96 * MiB,
          effectively_off: true,
          verdict: 'off: the host has no swap (the cgroup would allow 96 MiB)',
        },
        working_set_bytes: 72 * MiB,
        limit_ratio: 0.75,
        stat: {
          rss_bytes: 70 * MiB,
          cache_bytes: 10 * MiB,
          mapped_file_bytes: 2 * MiB,
          swap_bytes: 0,
          inactive_file_bytes: 8 * MiB,
        },
        oom: { under_oom: false, oom_kill_disable: false, kernel_oom_kills: 1, limit_hits: 5 },
        pressure: { some: { avg10: 1.5, total_seconds: 2.5 } },
      },
      history: {
        available: true,
        oom_events: [{ victim: { comm: 'nginx', pid: 4242, rss_bytes: 61 * MiB } }],
      },
      warnings: [],
    });
    const text = renderInspect(r, false).join('\n');
    expect(text).toContain('  limit        96 MiB');
    expect(text).toMatch(/working set\s+72 MiB\s+75\.0% of limit\s+\[###############-----\]/);
    expect(text).toMatch(
      /2026-11-28T02:50:00Z {2}OOM kill {2}victim nginx \(pid 4242\) {2}rss 61 MiB {2}\[cgroup,kmsg\]/,
    );
  });

  it('warns in words that an unlimited container can use all host memory', () => {
    const r = buildInspectReport(running(Infinity));
    expect(r.memory).toMatchObject({ limit_bytes: null, unlimited: true, limit_ratio: null });
    expect(r.warnings[0]).toMatch(
      /^no memory limit: this container can use all of the host's memory \(16 GiB\)/,
    );
    expect(renderInspect(r, false).join('\n')).toContain('WARNING: no memory limit');
  });

  it("names an ancestor's limit that bounds a container without one", () => {
    const r = buildInspectReport({
      ...running(Infinity),
      ancestor: { bytes: 2048 * MiB, cgroup: '/kubepods/burstable/pod123' },
    });
    expect(r.memory).toMatchObject({
      ancestor_limit_bytes: 2048 * MiB,
      ancestor_cgroup: '/kubepods/burstable/pod123',
    });
    expect(r.warnings[0]).toContain('only the 2 GiB limit of /kubepods/burstable/pod123 bounds it');
  });

  it("shows a stopped container with Docker's configured limits and says it is not running", () => {
    const docker: DockerRunState = {
      state: 'exited',
      running: false,
      pid: 0,
      oomKilled: true,
      exitCode: 137,
      finishedAtMs: now - 60_000,
      restartCount: 0,
      memory: {
        limit: 32 * MiB,
        reservation: 0,
        memorySwap: 32 * MiB,
        swappiness: null,
        oomKillDisable: false,
      },
    };
    const r = buildInspectReport({
      candidate: { ...candidate, state: 'exited' },
      now,
      stateAvailable: false,
      host,
      docker,
    });
    expect(r).toMatchObject({
      status: 'exited',
      running: false,
      limits_from: 'docker',
      memory: { limit_bytes: 32 * MiB, swap: { limit_bytes: 0, effectively_off: true }, usage_bytes: null },
      docker: { exit_code: 137, oom_killed: true },
    });
    expect(r.warnings).toEqual([
      'not running (exited at 2026-11-28T02:59:00Z, exit code 137, OOM-killed): no live memory readings; limits are what Docker has configured',
    ]);
    const text = renderInspect(r, false).join('\n');
    expect(text).toContain('web (58693d43b0fd)  EXITED');
    expect(text).toContain('Limits (as configured in Docker)');
    expect(text).not.toContain('Usage');
  });
});
