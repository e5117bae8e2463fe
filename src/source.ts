/**
 * Everything that streams and can fail implements Source: it is started and stopped by main.ts, never
 * throws out of start() for a runtime condition (Docker down, /dev/kmsg unreadable), and reports its own
 * health, exported as oomwatch_source_up{source}.
 */
export interface Source {
  /** The `source` label value: docker, kmsg, vmstat, cgroup, state, kubernetes... */
  readonly name: string;
  /** Whether the source currently delivers what it should. */
  readonly up: boolean;
  start(): Promise<void>;
  /** Release everything; must not throw. */
  stop(): Promise<void>;
}
