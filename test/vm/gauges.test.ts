import { describeIf } from '../helpers/prereq';
import { type PromSample, valueOf } from '../helpers/prom';
import { container, containerEnv, oneOfEachLayout, shortId } from './containers';
import { NODE24_VERSION } from './image';
import { keyed, outsideBracket, pressureSeconds, single } from './kernel-files';
import { type ScenarioRun, runScenario, vmPrerequisites } from './vm';
import { kernelFeatures } from './kernels';
import { kernelsFor } from './matrix';

/**
 * cgroup v2 on a real kernel (in the VM): for a container in each layout, every memory gauge and the PSI
 * counters on oomwatch's own /metrics equal what the kernel's files said around the poll. A file the kernel
 * does not have (memory.peak before 5.19) gives no series at all, never a made-up value.
 */
for (const line of kernelsFor('gauges'))
  describeIf(...vmPrerequisites())(
    `cgroup v2 in a VM (kernel ${line}): memory gauges and PSI equal the kernel files`,
    () => {
      const limited = oneOfEachLayout();
      const unlimited = container('unlimited', 'docker-systemd');
      let run: ScenarioRun;
      let samples: PromSample[];

      beforeAll(async () => {
        run = await runScenario({
          kernel: line,
          scenario: 'gauges.sh',
          env: {
            ...containerEnv([...limited, unlimited]),
            CONTAINERS_LIMITED: limited.map((c) => c.name).join(' '),
            CONTAINERS_UNLIMITED: unlimited.name,
          },
        });
        samples = run.scrape('scrape');
      }, 30 * 60_000);

      const at = (name: string, file: string): { before: string; after: string } => ({
        before: run.text(`before/${name}/${file}`),
        after: run.text(`after/${name}/${file}`),
      });

      it.each(limited.map((c) => [c.name, c] as const))(
        '%s layout: every gauge and PSI counter is the kernel value',
        (layout, c) => {
          const id = shortId(c);
          const v = (name: string): number | undefined =>
            valueOf(samples, `oomwatch_container_${name}`, { id });
          const problems: string[] = [];
          const check = (name: string, file: string, read: (text: string) => number): void => {
            const f = at(layout, file);
            const p = outsideBracket(name, v(name), read(f.before), read(f.after));
            if (p) problems.push(p);
          };
          const stat = (key: string) => (text: string) => keyed(text, key);
          check('memory_usage_bytes', 'memory.current', single);
          if (kernelFeatures(line).memoryPeak) check('memory_peak_bytes', 'memory.peak', single);
          check('memory_rss_bytes', 'memory.stat', stat('anon'));
          check('memory_cache_bytes', 'memory.stat', stat('file'));
          check('memory_mapped_file_bytes', 'memory.stat', stat('file_mapped'));
          check('memory_swap_bytes', 'memory.swap.current', single);
          check('memory_limit_bytes', 'memory.max', single);
          check('memory_high_bytes', 'memory.high', single);
          check('memory_reservation_bytes', 'memory.low', single);
          check('memory_swap_limit_bytes', 'memory.swap.max', single);
          check('memory_limit_hits_total', 'memory.events', stat('max'));
          check('memory_high_events_total', 'memory.events', stat('high'));
          check('oom_kills_total', 'memory.events', stat('oom_kill'));
          check('memory_pressure_some_seconds_total', 'memory.pressure', (t) => pressureSeconds(t, 'some'));
          check('memory_pressure_full_seconds_total', 'memory.pressure', (t) => pressureSeconds(t, 'full'));

          // Working set: usage minus inactive file, both from one moment of the kernel's.
          const ws = (side: 'before' | 'after'): number =>
            single(at(layout, 'memory.current')[side]) -
            keyed(at(layout, 'memory.stat')[side], 'inactive_file');
          const wsProblem = outsideBracket(
            'memory_working_set_bytes',
            v('memory_working_set_bytes'),
            ws('before'),
            ws('after'),
          );
          if (wsProblem) problems.push(wsProblem);
          const limit = single(at(layout, 'memory.max').after);
          const ratioProblem = outsideBracket(
            'memory_limit_ratio',
            v('memory_limit_ratio'),
            ws('before') / limit,
            ws('after') / limit,
          );
          if (ratioProblem) problems.push(ratioProblem);
          expect(problems).toEqual([]);

          // The scenario gave the values something to be: a limit, file cache beside the anonymous memory, and
          // stalls. Without these, "equal to the kernel" would hold for zeros.
          expect(v('memory_limit_bytes')).toBe(64 * 2 ** 20);
          expect(v('memory_unlimited')).toBe(0);
          expect(keyed(at(layout, 'memory.stat').after, 'inactive_file')).toBeGreaterThan(2 ** 20);
          expect(v('memory_working_set_bytes')).toBeLessThan(v('memory_usage_bytes') as number);
          expect(v('memory_rss_bytes')).toBeGreaterThanOrEqual(24 * 2 ** 20);
          expect(v('memory_pressure_some_seconds_total')).toBeGreaterThan(0);
          expect(v('memory_high_events_total')).toBeGreaterThan(0);
        },
      );

      if (kernelFeatures(line).memoryPeak) {
        it('memory.peak exists (5.19+) and every container has its peak series', () => {
          for (const c of [...limited, unlimited]) {
            expect(run.has(`after/${c.name}/memory.peak`)).toBe(true);
            expect(
              valueOf(samples, 'oomwatch_container_memory_peak_bytes', { id: shortId(c) }),
            ).toBeGreaterThan(0);
          }
        });
      } else {
        it('memory.peak does not exist before 5.19: no peak series for any container', () => {
          for (const c of [...limited, unlimited]) expect(run.has(`after/${c.name}/memory.peak`)).toBe(false);
          expect(samples.filter((s) => s.name === 'oomwatch_container_memory_peak_bytes')).toEqual([]);
        });

        // A user must be able to tell "this kernel has no memory.peak" from "oomwatch lost the peak".
        it('says once in its log that this kernel has no memory.peak, and why', () => {
          const said = run
            .text('oomwatch.log')
            .split('\n')
            .filter((l) => l.includes('memory.peak does not exist'));
          expect(said).toHaveLength(1);
          expect(said[0]).toMatch(/older than 5\.19.*oomwatch_container_memory_peak_bytes is not exported/);
        });
      }

      it('a container without a limit: no limit and no ratio series, unlimited 1, usage the kernel value', () => {
        const id = shortId(unlimited);
        const v = (name: string): number | undefined =>
          valueOf(samples, `oomwatch_container_${name}`, { id });
        expect(v('memory_unlimited')).toBe(1);
        expect(v('memory_limit_bytes')).toBeUndefined();
        expect(v('memory_limit_ratio')).toBeUndefined();
        const f = at('unlimited', 'memory.current');
        expect(
          outsideBracket('memory_usage_bytes', v('memory_usage_bytes'), single(f.before), single(f.after)),
        ).toBeUndefined();
        expect(v('memory_usage_bytes')).toBeGreaterThanOrEqual(8 * 2 ** 20);
      });

      it('runs on Node.js 24 with its SQLite state store open (better-sqlite3 built for that ABI)', () => {
        expect(valueOf(samples, 'oomwatch_source_up', { source: 'state' })).toBe(1);
        expect(run.text('state-dir')).toContain('oomwatch.db');
        const build = samples.find((s) => s.name === 'oomwatch_build_info');
        expect(build?.labels['nodejs_version']).toBe(`v${NODE24_VERSION}`);
      });
    },
  );
