import { CliDocker } from '../../src/cli/docker';
import { type EvidenceSources, proposalFor } from '../../src/cli/recommend-evidence';
import type { Candidate } from '../../src/cli/resolve';
import type { ReadOnlyDockerApi } from '../../src/sources/docker/api';
import { labelsOf } from '../../src/state/labels';
import type { OomKill } from '../../src/state/oom-kill';
import type { StateQueries } from '../../src/state/queries';
import type { PeakRow } from '../../src/state/schema';

/** What recommend gathers for one container, from fakes of Docker and the state database (no cgroup). */
const MiB = 1024 * 1024;
const HOUR = 3_600_000;
const now = Date.UTC(2026, 10, 28, 12, 0, 0);
const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const params = { headroom: 1.25, windowMs: 7 * 24 * HOUR, minHistoryMs: 24 * HOUR, now };
const candidate: Candidate = {
  id: A,
  labels: labelsOf(A, { name: 'shop-web-1', compose_project: 'shop', compose_service: 'web' }),
  state: 'exited',
  inDocker: true,
};

function docker(body: unknown): CliDocker {
  const unused = (): never => {
    throw new Error('not used');
  };
  const api: ReadOnlyDockerApi = {
    ping: unused,
    version: unused,
    containerEvents: unused,
    listContainers: unused,
    inspectContainer: async () => body,
  };
  return new CliDocker('/s', api);
}

function store(rows: PeakRow[], kills: OomKill[], asked: unknown[]): StateQueries {
  return {
    peakHistory: (q: unknown) => {
      asked.push(q);
      return rows;
    },
    queryOomEvents: () => kills.map((k, i) => ({ ...k, id: i + 1 })),
  } as unknown as StateQueries;
}

const row = (id: string, hoursAgo: number, workingSet: number): PeakRow => ({
  container_id: id,
  hour_ms: now - hoursAgo * HOUR,
  usage_peak_bytes: workingSet,
  working_set_peak_bytes: workingSet,
  limit_bytes: 256 * MiB,
  swap_peak_bytes: 0,
});

describe('the evidence for one container', () => {
  it("a stopped container: Docker's settings, its OOMKilled flag, its JVM heap against the limit", async () => {
    const from: EvidenceSources = {
      docker: docker({
        Id: A,
        State: {
          Status: 'exited',
          OOMKilled: true,
          ExitCode: 137,
          FinishedAt: new Date(now - HOUR).toISOString(),
        },
        HostConfig: { Memory: 64 * MiB, MemorySwap: 0, OomKillDisable: false },
        Config: { Env: ['JAVA_TOOL_OPTIONS=-Xmx60m', 'PASSWORD=x'] },
      }),
      host: { memTotalBytes: 16 * 1024 * MiB, swapTotalBytes: 0 },
      prometheusFailed: () => undefined,
    };
    const p = await proposalFor(candidate, from, params);
    expect(p).toMatchObject({
      id: A,
      labels: { name: 'shop-web-1' },
      status: 'exited',
      // The host has no swap: whatever Docker allows, the container swaps nothing.
      current: { limitBytes: 64 * MiB, swapBytes: 0, oomKillDisabled: false },
    });
    expect(p.rec.findings.map((f) => f.code)).toEqual(expect.arrayContaining(['oom-kills', 'jvm-heap']));
  });

  it("the hourly peaks of every container of its Compose service, and the service's OOM kills", async () => {
    const asked: unknown[] = [];
    const from: EvidenceSources = {
      store: store(
        [row(B, 48, 180 * MiB), row(A, 30, 150 * MiB), row(A, 2, 160 * MiB)],
        [
          {
            key: 'k',
            timeMs: now - 5 * HOUR,
            timeExact: true,
            scope: 'container',
            containerId: B,
            groupKill: false,
            sources: ['kmsg'],
          },
        ],
        asked,
      ),
      prometheusFailed: () => undefined,
    };
    const p = await proposalFor({ ...candidate, inDocker: false, state: 'removed' }, from, params);
    expect(asked).toEqual([{ containerIds: [A], service: candidate.labels, sinceMs: now - params.windowMs }]);
    expect(p.observations).toEqual([
      {
        source: 'history',
        bytes: 180 * MiB,
        detail: '3 hourly peaks of Compose service shop/web (2 containers) over 2d',
      },
    ]);
    expect(p.rec.findings.find((f) => f.code === 'oom-kills')?.message).toMatch(
      /^1 OOM kill in the last 7d, the last 5h ago/,
    );
    expect(p.status).toBe('removed');
  });
});
