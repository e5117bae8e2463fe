/**
 * Reading the kernel's cgroup v2 files in the VM suites, on purpose independently of oomwatch's own parsers
 * (a test that checked oomwatch with its own parser could not catch that parser's mistakes).
 */

/** A "key value" file: memory.stat ("anon 25165824"), memory.events ("oom_kill 1"). */
export function keyed(text: string, key: string): number {
  for (const line of text.split('\n')) {
    const [k, v] = line.split(' ');
    if (k === key && v !== undefined) return Number(v);
  }
  throw new Error(`no "${key}" line in:\n${text}`);
}

/** A single-value file: memory.current ("25165824"), memory.max ("67108864" or "max"). */
export function single(text: string): number {
  const t = text.trim();
  return t === 'max' ? Infinity : Number(t);
}

/** memory.pressure: "some avg10=0.00 avg60=0.00 avg300=0.00 total=1234" -> total in seconds. */
export function pressureSeconds(text: string, kind: 'some' | 'full'): number {
  const m = new RegExp(`^${kind} .*total=(\\d+)$`, 'm').exec(text);
  if (!m) throw new Error(`no "${kind}" line in memory.pressure:\n${text}`);
  return Number(m[1]) / 1e6;
}

/**
 * The poll read the kernel's value at some moment between the report before oomwatch started and the report
 * after its scrape; for a value that only grows or a workload that holds still, it lies between the two.
 * Returns undefined when it does, else a message naming the series and all three numbers.
 */
export function outsideBracket(
  what: string,
  value: number | undefined,
  before: number,
  after: number,
): string | undefined {
  const lo = Math.min(before, after);
  const hi = Math.max(before, after);
  // Float formatting of the exposition (seconds of PSI): compare to a millionth, the kernel's microsecond.
  const eps = 1e-6 * Math.max(1, Math.abs(hi));
  if (value !== undefined && value >= lo - eps && value <= hi + eps) return undefined;
  return `${what}: oomwatch says ${value}, the kernel said ${before} before the poll and ${after} after the scrape`;
}
