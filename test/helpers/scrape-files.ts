import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { IN_CI } from './prereq';
import { FIXTURES } from './paths';

/**
 * The saved-scrape comparison (as node_exporter's e2e test does it): the whole /metrics output of the real
 * binary on a fixture tree is compared with a file under test/fixtures/scrape/, after one documented
 * filter removes what changes from run to run. Everything else must match byte for byte.
 *
 * The filter (also in test/fixtures/scrape/README.md):
 *  1. Families named process_* and nodejs_* (prom-client's process metrics: CPU, memory, event loop, GC)
 *     are removed entirely, HELP and TYPE included.
 *  2. Families that time the poll loop (oomwatch_poll_duration_seconds, oomwatch_polls_total,
 *     oomwatch_last_poll_timestamp_seconds) keep their HELP and TYPE lines; their samples are removed.
 *  3. In oomwatch_build_info, the values of the version, revision and nodejs_version labels become "masked".
 * Every line is attributed to the family named by the HELP or TYPE line above it.
 */
export const SCRAPE_DIR = path.join(FIXTURES, 'scrape');

const REMOVED_PREFIXES = ['process_', 'nodejs_'];
const TIMING_FAMILIES = new Set([
  'oomwatch_poll_duration_seconds',
  'oomwatch_polls', // OpenMetrics names the counter family without _total
  'oomwatch_polls_total',
  'oomwatch_last_poll_timestamp_seconds',
]);
const MASKED_LABELS = /\b(version|revision|nodejs_version)="(?:[^"\\]|\\.)*"/g;

export function filterVolatile(scrape: string): string {
  const out: string[] = [];
  let family = '';
  const lines = scrape.split('\n');
  const endsWithNewline = lines[lines.length - 1] === '';
  if (endsWithNewline) lines.pop();
  for (const line of lines) {
    const meta = /^# (?:HELP|TYPE|UNIT) ([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line);
    if (meta) family = meta[1] as string;
    if (REMOVED_PREFIXES.some((p) => family.startsWith(p)) && line !== '# EOF') continue;
    if (!line.startsWith('#') && line !== '' && TIMING_FAMILIES.has(family)) continue;
    out.push(
      family === 'oomwatch_build_info' && !line.startsWith('#')
        ? line.replace(MASKED_LABELS, '$1="masked"')
        : line,
    );
  }
  return out.join('\n') + (endsWithNewline ? '\n' : '');
}

export const UPDATING = process.env['UPDATE_SCRAPES'] === '1';

/**
 * Compare `actual` with the saved file; with UPDATE_SCRAPES=1 (never under CI) write it instead. A missing
 * saved file fails: it is created only on purpose.
 */
export function expectSavedScrape(file: string, actual: string): void {
  const full = path.join(SCRAPE_DIR, file);
  if (UPDATING) {
    if (IN_CI)
      throw new Error(
        'UPDATE_SCRAPES=1 is refused under CI: saved scrapes are regenerated on purpose, by hand',
      );
    fs.mkdirSync(SCRAPE_DIR, { recursive: true });
    fs.writeFileSync(full, actual);
    console.warn(`UPDATE_SCRAPES=1: wrote ${full}; review the diff before committing it`);
    return;
  }
  if (!fs.existsSync(full)) {
    throw new Error(`no saved scrape ${full}: create it on purpose with UPDATE_SCRAPES=1 and review it`);
  }
  expect(actual).toBe(fs.readFileSync(full, 'utf8'));
}

/** `promtool check metrics` on an exposition: its exit code and everything it printed (lint findings). */
export function promtoolCheck(exposition: string): { code: number; output: string } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: exposition, encoding: 'utf8' });
  return { code: r.status ?? -1, output: `${r.stdout}${r.stderr}` };
}
