import * as fs from 'node:fs';
import * as path from 'node:path';
import { serveFlags } from '../src/config';
import { exportedMetricNames, exportedSelfMetricNames } from './helpers/exported-families';
import { REPO } from './helpers/paths';

/**
 * The README is the front door: its flags table and metrics table must name every flag and every metric
 * family oomwatch has, so the documentation cannot fall behind the code.
 */
const README = fs.readFileSync(path.join(REPO, 'README.md'), 'utf8');

describe('README', () => {
  it('shows the two commands of a fresh clone', () => {
    expect(README).toContain('npm ci && npm start');
    expect(README).toContain('npm ci && npm test');
  });

  it.each(serveFlags().map((f) => f.name))('documents the flag --%s in the flags table', (name) => {
    expect(README).toMatch(new RegExp(`^\\| \`--${name}[ \`]`, 'm'));
  });

  it('documents every oomwatch metric family', async () => {
    const names = [...exportedMetricNames(), ...(await exportedSelfMetricNames())].filter((n) =>
      n.startsWith('oomwatch_'),
    );
    const missing = names.filter((n) => !README.includes(n.replace(/_(bucket|sum|count)$/, '')));
    expect(missing).toEqual([]);
  });
});
