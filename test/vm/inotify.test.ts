import { describeIf } from '../helpers/prereq';
import { container, containerEnv } from './containers';
import { keyed } from './kernel-files';
import { type ScenarioRun, runScenario, vmPrerequisites } from './vm';
import { kernelsFor } from './matrix';

/**
 * Does a change of a cgroup v2 memory.events file raise an inotify event, for fs.watch and for chokidar 5
 * with its default options, on this VM's kernel? oomwatch re-reads memory.events on change to count OOM
 * kills before the next poll. Each kill changes three counters (max, oom, oom_kill) within milliseconds; the
 * kernel notifies at most once per 10 ms per file and sends a trailing notification for what came after,
 * so a reader that re-reads on every notification ends on the final value.
 */
interface Notification {
  watcher: 'fs.watch(file)' | 'fs.watch(dir)' | 'chokidar';
  event: string;
  ms: number;
  oom_kill: number;
  mtimeMs: number;
}

const KILLS = 8;

for (const line of kernelsFor('inotify'))
  describeIf(...vmPrerequisites())(`cgroup v2 in a VM (kernel ${line}): inotify on memory.events`, () => {
    const c = container('probe', 'docker-systemd');
    let run: ScenarioRun;
    let notifications: Notification[];

    /** The kills (1..KILLS) after which a re-read on one of the watcher's notifications saw that kill counted. */
    const seenKills = (watcher: Notification['watcher']): number[] =>
      [
        ...new Set(
          notifications.filter((n) => n.watcher === watcher && n.event === 'change').map((n) => n.oom_kill),
        ),
      ]
        .filter((k) => k >= 1)
        .sort((a, b) => a - b);

    beforeAll(async () => {
      run = await runScenario({
        kernel: line,
        scenario: 'inotify.sh',
        files: ['inotify-probe.mjs'],
        env: { ...containerEnv([c]), KILLS: String(KILLS) },
      });
      notifications = run.json<{ notifications: Notification[] }>('probe').notifications;
      const summary = (['fs.watch(file)', 'fs.watch(dir)', 'chokidar'] as const).map((w) => {
        const changes = notifications.filter((n) => n.watcher === w && n.event === 'change').length;
        const seen = seenKills(w);
        const missed = Array.from({ length: KILLS }, (_, i) => i + 1).filter((k) => !seen.includes(k));
        return `${w}: ${changes} change notifications, kills seen on re-read ${seen.length}/${KILLS}${missed.length ? ` (missed ${missed.join(', ')})` : ''}`;
      });
      console.log(`inotify on memory.events, ${KILLS} OOM kills:\n  ${summary.join('\n  ')}`);
    }, 30 * 60_000);

    it('the kernel counted every kill', () => {
      expect(keyed(run.text('cgroup/memory.events'), 'oom_kill')).toBe(KILLS);
    });

    it('fs.watch on the file fires on each kill, and re-reading on it sees every oom_kill increment', () => {
      expect(seenKills('fs.watch(file)')).toEqual(Array.from({ length: KILLS }, (_, i) => i + 1));
    });

    it('fs.watch on the cgroup directory fires for memory.events too, and sees every increment', () => {
      expect(seenKills('fs.watch(dir)')).toEqual(Array.from({ length: KILLS }, (_, i) => i + 1));
    });

    it('the kernel does not touch memory.events mtime: change detection by stat sees nothing', () => {
      expect(new Set(notifications.map((n) => n.mtimeMs)).size).toBe(1);
    });
  });
