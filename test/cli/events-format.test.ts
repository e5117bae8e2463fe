import { eventHeader, eventJson, formatEventLine, matches, mergeEvents } from '../../src/cli/events-format';
import type { ContainerLabels } from '../../src/state/labels';
import type { KillSource } from '../../src/state/oom-kill';

const MiB = 1024 * 1024;
const t0 = Date.UTC(2026, 10, 28, 2, 11, 5);
const labels = (name: string): ContainerLabels => ({
  id: 'aaaaaaaaaaaa',
  name,
  image: 'app',
  compose_project: '',
  compose_service: '',
  namespace: '',
  pod: '',
  container: '',
});

const kill = {
  id: 7,
  key: 'kmsg:1',
  timeMs: t0,
  timeExact: true,
  scope: 'container' as const,
  containerId: 'a'.repeat(64),
  labels: labels('web'),
  victim: { pid: 4242, comm: 'java', anonRssBytes: 250 * MiB, fileRssBytes: 5 * MiB, shmemRssBytes: 0 },
  groupKill: false,
  sources: ['cgroup', 'kmsg'] as KillSource[],
};
const exit = {
  id: 3,
  timeMs: t0,
  containerId: 'a'.repeat(64),
  labels: labels('web'),
  exitCode: 137,
  oomKilled: true,
};
const stopped = {
  id: 4,
  timeMs: t0 + 1000,
  containerId: 'b'.repeat(64),
  labels: labels('db'),
  exitCode: 137,
  oomKilled: false,
};

describe('events: one line each', () => {
  it('orders oldest first, the kill before the exit it caused', () => {
    const merged = mergeEvents([kill], [stopped, exit]);
    expect(merged.map((i) => `${i.kind}:${i.id}`)).toEqual(['oom:7', 'exit:3', 'exit:4']);
  });

  it.each([
    [
      { kind: 'oom' as const, id: 7, ev: kill },
      '2026-11-28T02:11:05Z   web                       oom-kill   container  java (4242)                 255 MiB     -  yes',
    ],
    [
      { kind: 'exit' as const, id: 3, ev: exit },
      '2026-11-28T02:11:05Z   web                       exit       -          -                                 -   137  yes',
    ],
    [
      { kind: 'exit' as const, id: 4, ev: stopped },
      '2026-11-28T02:11:06Z   db                        exit       -          -                                 -   137  no',
    ],
    [
      {
        kind: 'oom' as const,
        id: 8,
        ev: { ...kill, victim: undefined, timeExact: false, scope: 'system' as const },
      },
      '2026-11-28T02:11:05Z~  web                       oom-kill   system     unknown                           -     -  yes',
    ],
    [
      {
        kind: 'oom' as const,
        id: 9,
        ev: {
          ...kill,
          containerId: undefined,
          labels: undefined,
          scope: 'other' as const,
          cgroup: '/system.slice/cron.service',
        },
      },
      '2026-11-28T02:11:05Z   /system.slice/cron.serv…  oom-kill   other      java (4242)                 255 MiB     -  yes',
    ],
  ])('%#', (item, line) => {
    expect(formatEventLine(item)).toBe(line);
    expect(eventHeader().split(/\s+/)).toEqual([
      'TIME',
      'CONTAINER',
      'EVENT',
      'SCOPE',
      'VICTIM',
      'RSS',
      'EXIT',
      'OOM',
    ]);
  });

  it('gives kills in the API shape and exits with their code as JSON', () => {
    expect(eventJson({ kind: 'oom', id: 7, ev: kill })).toMatchObject({
      type: 'oom_kill',
      scope: 'container',
      victim: { comm: 'java', rss_bytes: 255 * MiB, oom_score_adj: null },
    });
    const scored = { ...kill, victim: { ...kill.victim, oomScoreAdj: 969 } };
    expect(eventJson({ kind: 'oom', id: 7, ev: scored })).toMatchObject({
      victim: { comm: 'java', oom_score_adj: 969 },
    });
    expect(eventJson({ kind: 'oom', id: 7, ev: kill, update: true })).toMatchObject({
      type: 'oom_kill',
      update: true,
    });
    expect(eventJson({ kind: 'exit', id: 3, ev: exit })).toEqual({
      type: 'exit',
      time: '2026-11-28T02:11:05.000Z',
      container: { ...labels('web'), id: 'a'.repeat(64) },
      exit_code: 137,
      oom_killed: true,
    });
  });
});

describe('events: --container', () => {
  const pod = { ...labels(''), namespace: 'shop', pod: 'web-0', container: 'app' };
  it.each([
    [undefined, true],
    ['aaaa', true],
    ['AAAA', true],
    ['web', true],
    ['bbbb', false],
    ['we', false],
  ])('%p matches the kill of web: %p', (container, expected) => {
    expect(matches({ kind: 'oom', id: 7, ev: kill }, container)).toBe(expected);
  });

  it.each([
    ['web-0', true],
    ['web-0/app', true],
    ['app', false],
  ])('%p matches the exit of pod web-0 container app: %p', (container, expected) => {
    expect(matches({ kind: 'exit', id: 3, ev: { ...exit, labels: pod } }, container)).toBe(expected);
  });
});
