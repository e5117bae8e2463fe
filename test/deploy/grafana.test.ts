import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { describeIf, hasCommand } from '../helpers/prereq';
import { allPanels, dashboardQueries, expandVariables, readDashboard } from '../helpers/dashboard';
import { SCRAPE_SERIES, allExportedMetricNames } from '../helpers/exported-families';
import { selectedMetrics } from '../helpers/promql';

/**
 * deploy/grafana/oomwatch.json without Grafana (no image and no Debian package here): every query of
 * every panel, annotation and variable parses as PromQL (promtool, through a rule file holding one
 * recording rule per query) and selects only metrics oomwatch exports; the panels the deployment issue
 * asks for are there and none overlap. The real-Prometheus suite runs the same queries against a
 * Prometheus that scrapes a real oomwatch.
 */
const dashboard = readDashboard();
const queries = dashboardQueries(dashboard);

describe('the Grafana dashboard', () => {
  it('is a dashboard with a stable uid, a data source variable and the per-host and per-container variables', () => {
    expect(dashboard.uid).toBe('oomwatch');
    expect(dashboard.title).toBe('oomwatch');
    const vars = dashboard.templating.list.map((v) => `${v.name}:${v.type}`);
    expect(vars).toEqual(['datasource:datasource', 'instance:query', 'name:query']);
  });

  it('has the panels the deployment asks for', () => {
    const titles = allPanels(dashboard).map((p) => p.title);
    for (const wanted of [
      /Working set vs limit/,
      /Top limit ratios/,
      /OOM kills over time/,
      /victims/,
      /Exits by code/,
      /Memory stall share/,
      /^Sources$/,
      /Poll duration/,
    ]) {
      expect({ wanted: wanted.source, found: titles.some((t) => wanted.test(t)) }).toEqual({
        wanted: wanted.source,
        found: true,
      });
    }
  });

  it('queries only the data source variable, so it works with whatever the Prometheus data source is called', () => {
    for (const p of allPanels(dashboard).filter((p) => p.type !== 'row')) {
      expect({ panel: p.title, ds: (p as unknown as { datasource: unknown }).datasource }).toEqual({
        panel: p.title,
        ds: { type: 'prometheus', uid: '${datasource}' },
      });
    }
  });

  it('lays its panels out without overlaps on the 24-column grid', () => {
    type Grid = { x: number; y: number; w: number; h: number };
    const boxes = allPanels(dashboard).map((p) => ({
      title: p.title,
      g: (p as unknown as { gridPos: Grid }).gridPos,
    }));
    for (const { title, g } of boxes)
      expect({ title, fits: g.x >= 0 && g.x + g.w <= 24 }).toEqual({ title, fits: true });
    for (let i = 0; i < boxes.length; i++)
      for (let j = i + 1; j < boxes.length; j++) {
        const a = (boxes[i] as { g: Grid }).g;
        const b = (boxes[j] as { g: Grid }).g;
        const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
        expect({ a: boxes[i]?.title, b: boxes[j]?.title, overlap }).toEqual({
          a: boxes[i]?.title,
          b: boxes[j]?.title,
          overlap: false,
        });
      }
  });

  it('selects only metrics oomwatch exports (and the up series of its scrape job)', async () => {
    const exported = await allExportedMetricNames();
    expect(queries.length).toBeGreaterThan(15);
    for (const q of queries) {
      const unknown = selectedMetrics(expandVariables(q.expr)).filter(
        (m) => !exported.has(m) && !SCRAPE_SERIES.has(m),
      );
      expect({ where: q.where, unknown }).toEqual({ where: q.where, unknown: [] });
    }
  });
});

describeIf(hasCommand('promtool', 'prometheus'))('the Grafana dashboard queries (promtool)', () => {
  it('all parse as PromQL once Grafana has replaced its variables', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-dashboard-'));
    try {
      const file = path.join(dir, 'dashboard-queries.yml');
      const rules = queries.map((q, i) => ({
        record: `dashboard:query_${i}`,
        expr: expandVariables(q.expr),
      }));
      fs.writeFileSync(file, stringify({ groups: [{ name: 'dashboard', rules }] }));
      const r = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
      const output = `${r.stdout}${r.stderr}`;
      // promtool names the rule that failed to parse; map it back to the panel
      const failed = [...output.matchAll(/dashboard:query_(\d+)/g)].map((m) => queries[Number(m[1])]?.where);
      expect({ failed, status: r.status }).toEqual({ failed: [], status: 0 });
      expect(output).toContain(`SUCCESS: ${queries.length} rules found`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
