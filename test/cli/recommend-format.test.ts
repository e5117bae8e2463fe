import { parseAllDocuments, parse as parseYaml } from 'yaml';
import {
  type ContainerProposal,
  proposalJson,
  renderCompose,
  renderDocker,
  renderK8s,
  renderText,
} from '../../src/cli/recommend-format';
import { recommend } from '../../src/cli/recommend-rules';
import { MiB } from '../../src/cli/units';
import { type ContainerLabels, labelsOf } from '../../src/state/labels';

const now = Date.UTC(2026, 10, 28, 3, 0, 0);
const params = { now, windowMs: 7 * 86_400_000, headroom: 1.25 };

function proposal(
  over: Omit<Partial<ContainerProposal>, 'labels'> & {
    labels?: Partial<ContainerLabels>;
    limit?: number;
    peak?: number;
    swapPeak?: number;
    oomKillDisabled?: boolean;
  },
): ContainerProposal {
  const observations = [
    { source: 'history' as const, bytes: over.peak ?? 200 * MiB, detail: '48 hourly peaks over 2d' },
  ];
  const rec = recommend({
    limitBytes: over.limit ?? Infinity,
    observations,
    typicalBytes: 150 * MiB,
    historyMs: 2 * 86_400_000,
    minHistoryMs: 86_400_000,
    swapPeakBytes: over.swapPeak ?? 0,
    oomKills: { count: 0 },
    ...(over.oomKillDisabled ? { oomKillDisabled: true } : {}),
    hostMemoryBytes: 16 * 1024 * MiB,
    headroom: 1.25,
    windowMs: params.windowMs,
    now,
  });
  const { labels, ...rest } = over;
  const id = rest.id ?? 'a'.repeat(64);
  return {
    id,
    labels: {
      ...labelsOf(id, {
        name: 'shop-web-1',
        image: 'nginx:1.25',
        compose_project: 'shop',
        compose_service: 'web',
      }),
      ...labels,
    },
    status: 'running',
    current: {
      limitBytes: over.limit ?? Infinity,
      ...(over.oomKillDisabled ? { oomKillDisabled: true } : {}),
    },
    observations,
    historyMs: 2 * 86_400_000,
    rec,
    ...rest,
  };
}

describe('--format compose', () => {
  it('is a Compose override with mem_limit, mem_reservation and memswap_limit per service', () => {
    const text = renderCompose(
      [
        proposal({}),
        proposal({
          id: 'b'.repeat(64),
          labels: { name: 'shop-db-1', compose_service: 'db' },
          peak: 900 * MiB,
          limit: 2048 * MiB,
        }),
      ],
      params,
    );
    const doc = parseYaml(text) as { services: Record<string, Record<string, unknown>> };
    expect(doc.services['web']).toEqual({
      mem_limit: '256m',
      mem_reservation: '144m',
      memswap_limit: '256m',
    });
    // 900 MiB × 1.25 = 1125 MiB, rounded up in 256 MiB steps above 1 GiB.
    expect(doc.services['db']).toEqual({
      mem_limit: '1280m',
      mem_reservation: '144m',
      memswap_limit: '1280m',
    });
    // The finding about the missing limit travels with the file as a comment.
    expect(text).toMatch(/# CRITICAL no-limit: no memory limit/);
  });

  it('turns oom_kill_disable off where it was on, and keeps swap for a container that swaps', () => {
    const doc = parseYaml(
      renderCompose([proposal({ oomKillDisabled: true, swapPeak: 10 * MiB, limit: 256 * MiB })], params),
    ) as {
      services: Record<string, Record<string, unknown>>;
    };
    expect(doc.services['web']).toMatchObject({
      mem_limit: '256m',
      memswap_limit: '288m',
      oom_kill_disable: false,
    });
  });

  it('names a container not started by Compose after itself, quoting what YAML would misread', () => {
    const text = renderCompose(
      [proposal({ labels: { compose_project: '', compose_service: '', name: 'odd: name' } })],
      params,
    );
    expect(Object.keys((parseYaml(text) as { services: object }).services)).toEqual(['odd: name']);
  });

  it('gives one document per Compose project', () => {
    const docs = parseAllDocuments(
      renderCompose(
        [
          proposal({}),
          proposal({ id: 'c'.repeat(64), labels: { compose_project: 'blog', compose_service: 'app' } }),
        ],
        params,
      ),
    );
    expect(
      Array.isArray(docs) && docs.map((d) => Object.keys((d.toJS() as { services: object }).services)),
    ).toEqual([['web'], ['app']]);
  });
});

describe('--format docker and k8s', () => {
  it('prints docker run flags and the docker update that applies them now', () => {
    const text = renderDocker([proposal({ limit: 1024 * MiB })], params);
    expect(text).toContain('\n--memory=256m --memory-reservation=144m --memory-swap=256m\n');
    expect(text).toContain(
      '# apply now, without a restart: docker update --memory=256m --memory-reservation=144m --memory-swap=256m shop-web-1',
    );
  });

  it('prints Kubernetes resources: requests from the reservation, limits from the limit', () => {
    const docs = parseAllDocuments(renderK8s([proposal({}), proposal({ peak: 3000 * MiB })], params));
    expect(Array.isArray(docs) && docs.map((d) => d.toJS())).toEqual([
      { resources: { requests: { memory: '144Mi' }, limits: { memory: '256Mi' } } },
      { resources: { requests: { memory: '144Mi' }, limits: { memory: '3840Mi' } } },
    ]);
  });
});

describe('text and JSON', () => {
  it('shows now, proposed, what was seen, why, and the findings', () => {
    const lines = renderText([proposal({})], params, false);
    expect(lines).toEqual(
      expect.arrayContaining([
        'shop-web-1 (aaaaaaaaaaaa)  running',
        '  now       limit none',
        '  proposed  limit 256 MiB, reservation 144 MiB, no swap',
        '  seen        200 MiB  history: 48 hourly peaks over 2d',
      ]),
    );
    expect(lines.some((l) => l.startsWith('  CRITICAL no-limit'))).toBe(true);
  });

  it('gives numbers in bytes and says whether swap is kept', () => {
    expect(proposalJson(proposal({ limit: 512 * MiB }))).toMatchObject({
      current: { limit_bytes: 512 * MiB, unlimited: false },
      proposed: {
        limit_bytes: 256 * MiB,
        reservation_bytes: 144 * MiB,
        memswap_bytes: 256 * MiB,
        swap: false,
      },
      peak: { bytes: 200 * MiB, source: 'history' },
    });
  });
});
