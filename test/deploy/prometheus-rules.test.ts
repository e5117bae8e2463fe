import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { describeIf, hasCommand } from '../helpers/prereq';
import { SCRAPE_SERIES, allExportedMetricNames } from '../helpers/exported-families';
import { selectedMetrics } from '../helpers/promql';
import { REPO } from '../helpers/paths';

/**
 * deploy/prometheus/rules.yml as Prometheus itself sees it: promtool's syntax check and lint, then the
 * promtool unit tests in rules.test.yml (every alert firing and not firing, the `for` durations, the
 * first-sample-already-counts-a-kill case), then the checks promtool cannot make: every alert the
 * issue names is there with a runbook, every alert has a firing and a quiet test case, and the rules
 * select only series oomwatch exports.
 */
const DIR = path.join(REPO, 'deploy', 'prometheus');
const RULES = path.join(DIR, 'rules.yml');
const TESTS = path.join(DIR, 'rules.test.yml');

const ALERTS = [
  'ContainerOOMKilled',
  'ContainerMemoryNearLimit',
  'ContainerMemoryWillHitLimit',
  'ContainerWithoutMemoryLimit',
  'ContainerKilledRepeatedly',
  'SystemOOMKill',
  'ContainerMemoryPressure',
  'OomwatchSourceDown',
  'OomwatchDown',
];

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleFile {
  groups: { name: string; rules: Rule[] }[];
}
interface AlertTestCase {
  eval_time: string;
  alertname: string;
  exp_alerts?: { exp_labels?: Record<string, string> }[];
}
interface RuleTestFile {
  rule_files: string[];
  tests: { name?: string; alert_rule_test?: AlertTestCase[] }[];
}

function promtool(...args: string[]): { status: number | null; output: string } {
  const r = spawnSync('promtool', args, { cwd: DIR, encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

const rules = (): Rule[] =>
  (parse(fs.readFileSync(RULES, 'utf8')) as RuleFile).groups.flatMap((g) => g.rules);

describeIf(hasCommand('promtool', 'prometheus'))('Prometheus alert rules (promtool)', () => {
  it('pass promtool check rules without lint findings', () => {
    const r = promtool('check', 'rules', RULES);
    expect(r.output).toContain(`SUCCESS: ${rules().length} rules found`);
    expect(r.status).toBe(0);
  });

  it('pass their promtool unit tests', () => {
    const r = promtool('test', 'rules', TESTS);
    if (r.status !== 0) throw new Error(`promtool test rules failed:\n${r.output}`);
    expect(r.output).toContain('SUCCESS');
  });
});

describe('Prometheus alert rules (content)', () => {
  it('define every alert of the deployment issue, each with a severity and a runbook', () => {
    const byName = new Map(rules().map((r) => [r.alert, r]));
    for (const name of ALERTS) {
      const rule = byName.get(name);
      expect({ name, defined: rule !== undefined }).toEqual({ name, defined: true });
      expect(['info', 'warning', 'critical']).toContain(rule?.labels?.['severity']);
      expect(rule?.annotations?.['summary']).toEqual(expect.any(String));
      expect(rule?.annotations?.['description']).toMatch(/Runbook: /);
    }
  });

  it('name the container and its compose service or pod in every per-container alert', () => {
    for (const rule of rules().filter((r) => r.alert?.startsWith('Container'))) {
      const summary = rule.annotations?.['summary'] ?? '';
      expect({ alert: rule.alert, namesContainer: /\$labels\.(name|container)/.test(summary) }).toEqual({
        alert: rule.alert,
        namesContainer: true,
      });
      expect({
        alert: rule.alert,
        namesPod: summary.includes('$labels.pod') && summary.includes('$labels.namespace'),
      }).toEqual({ alert: rule.alert, namesPod: true });
      expect({ alert: rule.alert, namesService: summary.includes('$labels.compose_service') }).toEqual({
        alert: rule.alert,
        namesService: true,
      });
    }
  });

  it('point the OOM-kill alerts at the victim in the event log', () => {
    for (const name of ['ContainerOOMKilled', 'SystemOOMKill']) {
      const rule = rules().find((r) => r.alert === name);
      expect(rule?.annotations?.['victim']).toMatch(
        /(^|\{\{ end \}\})http:\/\/\{\{ \$labels\.instance \}\}\/api\/v1\/oom-events\?/,
      );
    }
  });

  it('have a unit test in which each alert fires and one in which it stays quiet', () => {
    const file = parse(fs.readFileSync(TESTS, 'utf8')) as RuleTestFile;
    expect(file.rule_files).toEqual(['rules.yml']);
    const cases = file.tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const name of ALERTS) {
      const mine = cases.filter((c) => c.alertname === name);
      const fires = mine.some((c) => (c.exp_alerts ?? []).length > 0);
      const quiet = mine.some((c) => (c.exp_alerts ?? []).length === 0);
      expect({ name, fires, quiet }).toEqual({ name, fires: true, quiet: true });
    }
  });

  it('query, in their annotations, only series oomwatch exports', async () => {
    const exported = await allExportedMetricNames();
    for (const rule of rules()) {
      for (const text of Object.values(rule.annotations ?? {})) {
        for (const m of text.matchAll(/printf "([a-zA-Z_:][a-zA-Z0-9_:]*)\{/g)) {
          const name = m[1] as string;
          expect({ alert: rule.alert, name, known: exported.has(name) }).toEqual({
            alert: rule.alert,
            name,
            known: true,
          });
        }
      }
    }
  });

  it('select only series oomwatch exports (and the up series of its scrape job)', async () => {
    const exported = await allExportedMetricNames();
    for (const rule of rules()) {
      const unknown = selectedMetrics(rule.expr).filter((m) => !exported.has(m) && !SCRAPE_SERIES.has(m));
      expect({ alert: rule.alert, unknown }).toEqual({ alert: rule.alert, unknown: [] });
    }
  });
});
