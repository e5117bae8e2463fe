import { candidates, resolutionError, resolveContainer } from '../../src/cli/resolve';
import type { ContainerRow } from '../../src/state/store';

const id = (c: string): string => c.repeat(64).slice(0, 64);
const A = `ab12${id('0').slice(4)}`;
const B = `ab34${id('1').slice(4)}`;
const C = `cd56${id('2').slice(4)}`;
const OLD = `ef78${id('3').slice(4)}`;

function row(i: string, name: string, lastSeen: number): ContainerRow {
  return {
    id: i,
    labels: JSON.stringify({
      id: i.slice(0, 12),
      name,
      image: 'x',
      compose_project: '',
      compose_service: '',
      namespace: '',
      pod: '',
      container: '',
    }),
    info: '{}',
    cgroup_path: null,
    oom_kills: 0,
    docker_oom_events: 0,
    containerd_oom_events: null,
    cgroup_oom_kills_total: 0,
    cgroup_oom_kills_raw: null,
    limit_hits_total: 0,
    limit_hits_raw: null,
    high_events_total: 0,
    high_events_raw: null,
    psi_some_us_total: 0,
    psi_some_us_raw: null,
    psi_full_us_total: 0,
    psi_full_us_raw: null,
    last_read_ms: null,
    first_seen_ms: 0,
    last_seen_ms: lastSeen,
    gone_at_ms: lastSeen,
  };
}

const all = candidates({
  docker: [
    { id: A, state: 'running', meta: { name: 'web', image: 'nginx' } },
    {
      id: B,
      state: 'exited',
      meta: { name: 'worker', image: 'app', pod: 'p', container: 'c', namespace: 'ns' },
    },
  ],
  cgroups: new Map([
    [A, { id: A, runtime: 'docker' as const, cgroupPath: `/docker/${A}` }],
    [C, { id: C, runtime: 'docker' as const, cgroupPath: `/docker/${C}` }],
  ]),
  state: [row(OLD, 'web', 1000), row(`ef99${id('4').slice(4)}`, 'gone-job', 2000)],
});

describe('merging what Docker, the cgroups and the state database know', () => {
  it("gives each container one label set: Docker's where it lists the container, else the state database's", () => {
    expect(all.get(B)?.labels).toEqual({
      id: B.slice(0, 12),
      name: 'worker',
      image: 'app',
      compose_project: '',
      compose_service: '',
      namespace: 'ns',
      pod: 'p',
      container: 'c',
    });
    expect(all.get(OLD)?.labels).toMatchObject({ id: OLD.slice(0, 12), name: 'web', image: 'x' });
    // A cgroup nobody names has its id and empty names.
    expect(all.get(C)?.labels).toMatchObject({ id: C.slice(0, 12), name: '', image: '' });
    expect(all.get(C)?.state).toBe('running');
  });
});

describe('resolving a container argument', () => {
  it.each([
    ['web', A, 'a Docker name beats an earlier container of the same name in the state database'],
    ['worker', B, 'a stopped container'],
    ['ns/p/c', B, 'namespace/pod/container'],
    ['p/c', B, 'pod/container'],
    [C, C, 'a full id of a cgroup Docker does not list'],
    ['cd', C, 'an id prefix'],
    ['AB12', A, 'prefixes are case-insensitive'],
    ['gone-job', `ef99${id('4').slice(4)}`, 'a container only the state database remembers'],
  ])('%p -> %p (%s)', (arg, expected) => {
    const r = resolveContainer(arg, all);
    expect(r.kind).toBe('found');
    expect(r.kind === 'found' && r.candidate.id).toBe(expected);
  });

  it('notes earlier containers that had the same name', () => {
    const r = resolveContainer('web', all);
    expect(r.kind === 'found' && r.note).toMatch(/1 earlier container named web/);
  });

  it('lists the candidates of an ambiguous prefix and exits 2', () => {
    const r = resolveContainer('ab', all);
    expect(r.kind).toBe('ambiguous');
    if (r.kind === 'found') return;
    const err = resolutionError('ab', r, ['Docker']);
    expect(err.exitCode).toBe(2);
    expect(err.message).toContain('"ab" matches 2 containers');
    expect(err.message).toContain(`${A.slice(0, 12)}  web  running  nginx`);
    expect(err.message).toContain(`${B.slice(0, 12)}  worker  exited  app`);
  });

  it('says where it looked for an unknown container, suggests similar names, and exits 1', () => {
    const r = resolveContainer('wor', all);
    expect(r.kind).toBe('not-found');
    if (r.kind === 'found') return;
    const err = resolutionError('wor', r, ["Docker's containers", 'the state database']);
    expect(err.exitCode).toBe(1);
    expect(err.message).toMatch(
      /no container matches "wor" \(searched Docker's containers, the state database\)/,
    );
    expect(err.message).toContain('Did you mean:');
    expect(err.message).toContain('worker');
  });
});
