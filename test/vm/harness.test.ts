import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describeIf } from '../helpers/prereq';
import { VmError, consoleTail, parseReport, runScenario, vmPrerequisites } from './vm';
import { kernelsFor } from './matrix';

/** The harness itself: the report channel's format, and a hung scenario failing loudly instead of silently. */
describe('VM report channel', () => {
  const b64 = (s: string): string => Buffer.from(s).toString('base64');

  it('decodes each result between its markers, byte for byte, and reads the exit code', () => {
    const report = parseReport(
      [
        '@@OOMWATCH-VM UP 1.23@@',
        '@@OOMWATCH-VM BEGIN cgroup/memory.events@@',
        b64('oom 1\noom_kill 1\n').slice(0, 8),
        b64('oom 1\noom_kill 1\n').slice(8),
        '@@OOMWATCH-VM END cgroup/memory.events@@',
        '@@OOMWATCH-VM BEGIN empty@@',
        '@@OOMWATCH-VM END empty@@',
        '@@OOMWATCH-VM EXIT 0@@\r',
        '',
      ].join('\n'),
    );
    expect(report.up).toBe(true);
    expect(report.exitCode).toBe(0);
    expect(report.results.get('cgroup/memory.events')?.toString()).toBe('oom 1\noom_kill 1\n');
    expect(report.results.get('empty')?.length).toBe(0);
  });

  it('names the result a scenario was reporting when the report stops', () => {
    const report = parseReport(
      `@@OOMWATCH-VM UP 1@@\n@@OOMWATCH-VM BEGIN scrape@@\n${b64('oomwatch_up 1')}\n`,
    );
    expect(report.exitCode).toBeUndefined();
    expect(report.last).toBe('scrape');
    expect(report.results.has('scrape')).toBe(false);
  });

  it('refuses a result reported twice', () => {
    const twice =
      '@@OOMWATCH-VM BEGIN a@@\n@@OOMWATCH-VM END a@@\n@@OOMWATCH-VM BEGIN a@@\n@@OOMWATCH-VM END a@@\n';
    expect(() => parseReport(twice)).toThrow(/reported "a" twice/);
  });

  it('keeps the console tail readable: no terminal control sequences', () => {
    const esc = String.fromCharCode(27);
    expect(consoleTail(`${esc}c${esc}[?7l${esc}[2JSeaBIOS\r\nvm: hello\n`)).toBe('SeaBIOS\nvm: hello\n');
  });
});

for (const line of kernelsFor('harness'))
  describeIf(...vmPrerequisites())(`VM scenario that hangs (kernel ${line})`, () => {
    it(
      'fails with the console tail once its time is up, and leaves no qemu behind',
      async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-vm-hang-'));
        const script = path.join(dir, 'hang.sh');
        fs.writeFileSync(script, 'note "about to hang"\nsleep 100000\n');
        let kept: string | undefined;
        try {
          const err = await runScenario({ kernel: line, scenario: script, timeoutMs: 60_000 }).then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(err).toBeInstanceOf(VmError);
          const message = (err as Error).message;
          expect(message).toMatch(
            /did not finish within 60 s[\s\S]*--- console tail[\s\S]*vm: about to hang/,
          );
          kept = /kept in (\S+)\)/.exec(message)?.[1];
          expect(kept).toBeDefined();
          // qemu was killed: no process still runs with that run's initrd.
          const running = (): boolean =>
            fs
              .readdirSync('/proc')
              .filter((p) => /^\d+$/.test(p))
              .some((p) => {
                try {
                  return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(kept as string);
                } catch {
                  return false;
                }
              });
          const deadline = Date.now() + 5000;
          while (running() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
          expect(running()).toBe(false);
        } finally {
          fs.rmSync(dir, { recursive: true, force: true });
          if (kept) fs.rmSync(kept, { recursive: true, force: true });
        }
      },
      10 * 60_000,
    );
  });
