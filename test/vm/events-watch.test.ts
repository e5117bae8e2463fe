import { describeIf } from '../helpers/prereq';
import { valueOf } from '../helpers/prom';
import { container, containerEnv } from './containers';
import { containerValue } from './oom-api';
import { type ScenarioRun, runScenario, vmPrerequisites } from './vm';
import { kernelsFor } from './matrix';

/**
 * Immediacy without the kernel log (a container runtime that hides /dev/kmsg): on cgroup v2 oomwatch watches
 * each container's memory.events and re-reads it on change, so every OOM kill is on /metrics within moments,
 * long before the next poll.
 */
const KILLS = 5;

for (const line of kernelsFor('events-watch'))
  describeIf(...vmPrerequisites())(
    `cgroup v2 in a VM (kernel ${line}): OOM kills through the memory.events watch alone`,
    () => {
      const c = container('watched', 'docker-systemd');
      let run: ScenarioRun;

      beforeAll(async () => {
        run = await runScenario({
          kernel: line,
          scenario: 'events-watch.sh',
          env: { ...containerEnv([c]), KILLS: String(KILLS) },
        });
        const seen = Array.from({ length: KILLS }, (_, i) =>
          run.has(`seen_ms/${i + 1}`) ? `${run.number(`seen_ms/${i + 1}`)} ms` : 'not within 10 s',
        );
        console.log(
          `memory.events watch, no kernel log: kill 1..${KILLS} on /metrics after ${seen.join(', ')}`,
        );
      }, 30 * 60_000);

      it.each(Array.from({ length: KILLS }, (_, i) => [i + 1]))(
        'kill %i is counted within 10 s, before the next poll',
        (i) => {
          const after = run.scrape(`after/${i}`);
          expect(run.number(`kernel/${i}`)).toBe(i);
          expect(containerValue(after, 'oom_kills_total', c)).toBe(i);
          expect(valueOf(after, 'oomwatch_polls_total')).toBe(
            valueOf(run.scrape('before'), 'oomwatch_polls_total'),
          );
        },
      );
    },
  );
