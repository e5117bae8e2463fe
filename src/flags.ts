/**
 * A small table-driven flag parser shared by every subcommand: `--name value`, `--name=value`, boolean
 * `--name` / `--name=false`, and an environment variable per flag. Every problem is collected so the user
 * sees them all at once.
 */

export type FlagType = 'string' | 'number' | 'duration' | 'boolean' | 'list';

export interface FlagSpec {
  name: string;
  type: FlagType;
  help: string;
  /** Placeholder in --help, e.g. HOST:PORT. */
  valueName?: string;
  /** Environment variable read when the flag is not given; defaults to OOMWATCH_<NAME>. `false` for none. */
  env?: string | false;
  /** Default shown in --help and used when neither flag nor environment set a value. */
  default?: string;
  /** May be given several times (list flags accumulate; comma-separated values are split too). */
  repeatable?: boolean;
  /** Short alias such as -f. */
  short?: string;
}

export type FlagValue = string | number | boolean | string[] | undefined;

export interface ParsedFlags {
  values: Record<string, FlagValue>;
  /** Which flags were given on the command line or in the environment (not defaulted). */
  given: Set<string>;
  positional: string[];
  errors: string[];
  help: boolean;
}

export function envName(spec: FlagSpec): string | undefined {
  if (spec.env === false) return undefined;
  return spec.env ?? `OOMWATCH_${spec.name.toUpperCase().replace(/-/g, '_')}`;
}

/** Parse "90", "90s", "10m", "2h", "7d", "1.5" into milliseconds; seconds when no unit is given. */
export function parseDurationMs(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)?$/.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  const factor: Record<string, number> = {
    ms: 1,
    s: 1000,
    m: 60_000,
    h: 3_600_000,
    d: 86_400_000,
    w: 604_800_000,
  };
  return n * (factor[unit] as number);
}

const BOOLEAN_WORDS = new Set(['true', '1', 'yes', 'on', 'false', '0', 'no', 'off']);

function convert(spec: FlagSpec, raw: string, errors: string[], origin: string): FlagValue {
  switch (spec.type) {
    case 'string':
      return raw;
    case 'number': {
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(n)) {
        errors.push(`${origin}: expected a number, got "${raw}"`);
        return undefined;
      }
      return n;
    }
    case 'duration': {
      const ms = parseDurationMs(raw);
      if (ms === undefined) {
        errors.push(`${origin}: expected a duration such as 30s, 10m, 2h or 7d, got "${raw}"`);
        return undefined;
      }
      return ms;
    }
    case 'boolean': {
      const v = raw.toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(v)) return true;
      if (['false', '0', 'no', 'off'].includes(v)) return false;
      errors.push(`${origin}: expected true or false, got "${raw}"`);
      return undefined;
    }
    case 'list':
      return raw
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0);
  }
}

export function parseFlags(
  specs: readonly FlagSpec[],
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
): ParsedFlags {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short as string, s]));
  const values: Record<string, FlagValue> = {};
  const given = new Set<string>();
  const positional: string[] = [];
  const errors: string[] = [];
  let help = false;

  const assign = (spec: FlagSpec, v: FlagValue): void => {
    if (v === undefined) return;
    if (spec.type === 'list' && Array.isArray(values[spec.name]) && given.has(spec.name)) {
      values[spec.name] = [...(values[spec.name] as string[]), ...(v as string[])];
    } else {
      values[spec.name] = v;
    }
    given.add(spec.name);
  };

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (arg === '--help' || arg === '-h') {
      help = true;
      continue;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positional.push(arg);
      continue;
    }
    let name: string;
    let inline: string | undefined;
    let spec: FlagSpec | undefined;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
      inline = eq === -1 ? undefined : arg.slice(eq + 1);
      spec = byName.get(name);
    } else {
      name = arg.slice(1);
      spec = byShort.get(name);
    }
    if (!spec) {
      errors.push(`unknown flag ${arg}: see --help for the flags this command takes`);
      continue;
    }
    let raw = inline;
    if (raw === undefined) {
      if (spec.type === 'boolean') {
        // `--k8s-events false` means what it says; any other word after a boolean flag is an argument.
        const next = argv[i + 1];
        raw = next !== undefined && BOOLEAN_WORDS.has(next.toLowerCase()) ? (argv[++i] as string) : 'true';
      } else if (i + 1 < argv.length) raw = argv[++i];
      else {
        errors.push(`--${spec.name} needs a value${spec.valueName ? ` (${spec.valueName})` : ''}`);
        continue;
      }
    }
    assign(spec, convert(spec, raw as string, errors, `--${spec.name}`));
  }

  for (const spec of specs) {
    if (given.has(spec.name)) continue;
    const ev = envName(spec);
    const fromEnv = ev === undefined ? undefined : env[ev];
    if (fromEnv !== undefined && fromEnv !== '') {
      assign(spec, convert(spec, fromEnv, errors, `environment variable ${ev}`));
    } else if (spec.default !== undefined) {
      values[spec.name] = convert(spec, spec.default, errors, `default of --${spec.name}`);
    }
  }
  return { values, given, positional, errors, help };
}

/** Render the flags section of --help: every flag, its environment variable and default. */
export function formatFlagHelp(specs: readonly FlagSpec[]): string {
  const rows = specs.map((s) => {
    const value = s.type === 'boolean' ? '[=true|false]' : ` ${s.valueName ?? s.type.toUpperCase()}`;
    const left = `  ${s.short ? `-${s.short}, ` : ''}--${s.name}${value}`;
    const notes: string[] = [];
    if (s.default !== undefined && s.default !== '') notes.push(`default ${s.default}`);
    const ev = envName(s);
    if (ev) notes.push(`env ${ev}`);
    return { left, right: `${s.help}${notes.length ? ` (${notes.join('; ')})` : ''}` };
  });
  const width = Math.min(36, Math.max(...rows.map((r) => r.left.length)) + 2);
  return rows
    .map((r) =>
      r.left.length + 2 > width
        ? `${r.left}\n${' '.repeat(width)}${r.right}`
        : r.left.padEnd(width) + r.right,
    )
    .join('\n');
}

/** A point in time as `--since` and `?since=` take it: a duration before now (`10m`, `2h`), or an ISO 8601 time. */
export function parseSince(text: string, now = Date.now()): number | undefined {
  const d = parseDurationMs(text);
  if (d !== undefined) return now - d;
  const t = Date.parse(text);
  return Number.isNaN(t) ? undefined : t;
}
