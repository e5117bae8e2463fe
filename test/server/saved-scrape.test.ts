import * as fs from 'node:fs';
import * as path from 'node:path';
import { type RunningOomwatch, eventually, startOomwatch } from '../helpers/daemon';
import { describeIf, hasCommand } from '../helpers/prereq';
import { findSamples, parseExposition } from '../helpers/prom';
import { SCRAPE_DIR, expectSavedScrape, filterVolatile, promtoolCheck } from '../helpers/scrape-files';
import { FIXTURES as ALL_FIXTURES } from '../helpers/paths';

/**
 * The real oomwatch binary on the fixture trees (v1 and hybrid copied from a real kernel by
 * test/helpers/capture-v1-tree.sh, v2 written by test/helpers/make-v2-tree.mjs), with the Docker and
 * kernel-log sources off: the whole /metrics output must equal the saved file, after the documented filter
 * of scrape-files.ts. A change in any family, label, value or help text shows up as a diff here; when it is
 * intended, regenerate with UPDATE_SCRAPES=1 and review the diff.
 */
const FIXTURES = path.join(ALL_FIXTURES, 'cgroup');
const PROC = path.join(SCRAPE_DIR, 'proc');
const OPENMETRICS =
  'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';

async function startOn(mode: string): Promise<RunningOomwatch> {
  const ow = await startOomwatch({
    args: [
      '--cgroup-root',
      path.join(FIXTURES, mode),
      '--proc-root',
      PROC,
      '--docker-socket',
      'none',
      '--kmsg',
      'none',
      // one poll: the tree does not change, and the scrape is taken once it is done
      '--interval',
      '1h',
    ],
  });
  await eventually(
    async () => ((await fetch(`${ow.url}/readyz`)).status === 200 ? true : undefined),
    10_000,
    '/readyz',
  );
  return ow;
}

describe.each(['v1', 'v2', 'hybrid'])('the %s fixture tree', (mode) => {
  let ow: RunningOomwatch;
  let scrape: string;
  beforeAll(async () => {
    ow = await startOn(mode);
    scrape = await ow.scrapeText();
  });
  afterAll(async () => {
    await ow?.stop();
  });

  it('gives the saved scrape, byte for byte outside the volatile families', () => {
    expectSavedScrape(`${mode}.prom`, filterVolatile(scrape));
  });

  it('reads every file without an error', () => {
    const errors = findSamples(parseExposition(scrape), 'oomwatch_poll_errors_total');
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.filter((s) => s.value !== 0)).toEqual([]);
    expect(ow.logs.filter((l) => /"level":"(warn|error|fatal)"/.test(l))).toEqual([]);
  });
});

describeIf(hasCommand('promtool', 'prometheus'))('promtool check metrics', () => {
  it.each(['v1', 'v2', 'hybrid'])('finds nothing to complain about in the live %s scrape', async (mode) => {
    const ow = await startOn(mode);
    try {
      const result = promtoolCheck(await ow.scrapeText());
      expect(result).toEqual({ code: 0, output: '' });
    } finally {
      await ow.stop();
    }
  });

  it.each(['v1.prom', 'v2.prom', 'hybrid.prom'])(
    'finds nothing to complain about in the saved %s',
    (file) => {
      expect(promtoolCheck(fs.readFileSync(path.join(SCRAPE_DIR, file), 'utf8'))).toEqual({
        code: 0,
        output: '',
      });
    },
  );
});

describe('OpenMetrics, as Prometheus asks for it', () => {
  let ow: RunningOomwatch;
  let body: string;
  let contentType: string | null;
  beforeAll(async () => {
    ow = await startOn('hybrid');
    const res = await fetch(`${ow.url}/metrics`, { headers: { accept: OPENMETRICS } });
    contentType = res.headers.get('content-type');
    body = await res.text();
  });
  afterAll(async () => {
    await ow?.stop();
  });

  it('is served as OpenMetrics 1.0.0 and ends with # EOF', () => {
    expect(contentType).toBe('application/openmetrics-text; version=1.0.0; charset=utf-8');
    expect(body.endsWith('\n# EOF\n')).toBe(true);
    expect(body.indexOf('# EOF')).toBe(body.length - '# EOF\n'.length);
  });

  it('names counter families without _total and their samples with it', () => {
    const types = [...body.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => ({
      family: m[1] as string,
      type: m[2] as string,
    }));
    const counters = types.filter((t) => t.type === 'counter');
    expect(counters.length).toBeGreaterThan(5);
    for (const { family } of counters) {
      expect(family).not.toMatch(/_total$/);
      const samples = body
        .split('\n')
        .filter((l) => l.startsWith(`${family}_total{`) || l.startsWith(`${family}_total `));
      expect({ family, samples: samples.length > 0 }).toEqual({ family, samples: true });
    }
    expect(
      types
        .map((t) => t.type)
        .filter((t) => !['counter', 'gauge', 'histogram', 'summary', 'unknown'].includes(t)),
    ).toEqual([]);
  });

  it('gives the saved OpenMetrics scrape, byte for byte outside the volatile families', () => {
    expectSavedScrape('hybrid.openmetrics', filterVolatile(body));
  });

  it('carries the same samples as the Prometheus text format', async () => {
    const text = await ow.scrapeText();
    const names = (s: string): string[] =>
      s
        .split('\n')
        .filter((l) => l !== '' && !l.startsWith('#'))
        .map((l) => l.replace(/[ {].*$/, ''))
        .filter((n) => n.startsWith('oomwatch_container_'));
    expect(names(body)).toEqual(names(text));
  });
});
