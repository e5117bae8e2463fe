import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO } from './paths';

/** deploy/grafana/oomwatch.json as the checks read it: every query of every panel and annotation. */
export const DASHBOARD = path.join(REPO, 'deploy', 'grafana', 'oomwatch.json');

export interface DashboardQuery {
  /** Where the query is: the panel title, or the annotation or variable name. */
  where: string;
  expr: string;
}

interface Target {
  expr?: string;
}
interface Panel {
  type: string;
  title: string;
  targets?: Target[];
  panels?: Panel[];
}
export interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  annotations: { list: { name: string; expr?: string }[] };
  templating: {
    list: { name: string; type: string; query?: string | { query: string }; definition?: string }[];
  };
}

export function readDashboard(): Dashboard {
  return JSON.parse(fs.readFileSync(DASHBOARD, 'utf8')) as Dashboard;
}

export function allPanels(d: Dashboard): Panel[] {
  return d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

/** label_values(<selector>, label) -> the selector, which is the PromQL part of a variable query. */
function variableSelector(query: string): string | undefined {
  const m = /^label_values\((.*),\s*[a-zA-Z_][a-zA-Z0-9_]*\)$/.exec(query.trim());
  return m ? m[1] : undefined;
}

export function dashboardQueries(d: Dashboard): DashboardQuery[] {
  const out: DashboardQuery[] = [];
  for (const p of allPanels(d))
    for (const t of p.targets ?? []) if (t.expr) out.push({ where: `panel "${p.title}"`, expr: t.expr });
  for (const a of d.annotations.list) if (a.expr) out.push({ where: `annotation "${a.name}"`, expr: a.expr });
  for (const v of d.templating.list) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : (v.query?.query ?? '');
    const selector = variableSelector(q);
    if (selector) out.push({ where: `variable $${v.name}`, expr: selector });
  }
  return out;
}

/**
 * Grafana's variables, replaced the way Grafana does before the query reaches Prometheus: the
 * interval and range variables by durations, the multi-value template variables by their "All" value.
 */
export function expandVariables(expr: string, step = '1m', range = '1h'): string {
  return expr
    .replace(/\$__rate_interval|\$\{__rate_interval\}/g, step)
    .replace(/\$__interval|\$\{__interval\}/g, step)
    .replace(/\$__range|\$\{__range\}/g, range)
    .replace(/\$\{?(instance|name)\}?/g, '.*');
}
