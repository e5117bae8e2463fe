import type { InspectInputs } from '../../src/cli/inspect-report';
import type { Candidate } from '../../src/cli/resolve';
import type { DockerRunState } from '../../src/sources/docker/metadata';
import { labelsOf } from '../../src/state/labels';

/** What `oomwatch inspect` gathers of one container, for the tests of its report and of its text. */

export const MiB = 1024 * 1024;
export const ID = '58693d43b0fd1e08f8e1b8c6da321a5656bfa41927609fcc8973cbf0f01af85e';
export const now = Date.UTC(2026, 10, 28, 3, 0, 0);
export const candidate: Candidate = {
  id: ID,
  labels: labelsOf(ID, { name: 'web', image: 'nginx:1.25' }),
  state: 'running',
  inDocker: true,
};
export const host = { memTotalBytes: 16 * 1024 * MiB, swapTotalBytes: 0 };

/** A running container with this limit (Infinity: none), read from its cgroup, with one OOM kill in its history. */
export function running(limit: number): InspectInputs {
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

/** Docker's configuration of a container that exited, OOM-killed, a minute ago: no cgroup to read. */
export function stoppedInDocker(): InspectInputs {
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
  return {
    candidate: { ...candidate, state: 'exited' },
    now,
    stateAvailable: false,
    host,
    docker,
  };
}
