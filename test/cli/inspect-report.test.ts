import { buildInspectReport } from '../../src/cli/inspect-report';
import { ID, MiB, running, stoppedInDocker } from '../helpers/inspect-inputs';

describe('inspect report', () => {
  it('gives the limit, the ratio, the swap verdict and the OOM history of a running container', () => {
    const r = buildInspectReport(running(96 * MiB));
    expect(r).toMatchObject({
      container: { id: ID, name: 'web', image: 'nginx:1.25', compose_project: '', pod: '' },
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
    // The container's labels in the order every series carries them, with the full id.
    expect(Object.keys(r.container)).toEqual([
      'id',
      'name',
      'image',
      'compose_project',
      'compose_service',
      'namespace',
      'pod',
      'container',
    ]);
  });

  it("says swap is effectively off when the cgroup's memory.swappiness is 0", () => {
    const inputs = running(96 * MiB);
    const reading = inputs.reading!;
    const r = buildInspectReport({
      ...inputs,
      host: { memTotalBytes: 16 * 1024 * MiB, swapTotalBytes: 1024 * MiB },
      reading: { ...reading, sample: { ...reading.sample, swappiness: 0 } },
    });
    expect(r.memory.swap).toMatchObject({
      effectively_off: true,
      verdict: expect.stringMatching(/^effectively off: memory\.swappiness is 0/),
    });
  });

  it('warns in words that an unlimited container can use all host memory', () => {
    const r = buildInspectReport(running(Infinity));
    expect(r.memory).toMatchObject({ limit_bytes: null, unlimited: true, limit_ratio: null });
    expect(r.warnings[0]).toMatch(
      /^no memory limit: this container can use all of the host's memory \(16 GiB\)/,
    );
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

  it("reports a stopped container with Docker's configured limits and says it is not running", () => {
    const r = buildInspectReport(stoppedInDocker());
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
  });
});
