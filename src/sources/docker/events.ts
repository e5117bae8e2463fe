/**
 * Parser for one line of Docker's `GET /events` stream (JSON lines, one event each). A container `die`
 * as Docker Engine 20.10 writes it:
 *
 *   {"status":"die","id":"680d45d2…","from":"busybox","Type":"container","Action":"die","Actor":{"ID":"680d45d2…",
 *    "Attributes":{"exitCode":"137","image":"busybox","name":"web"}},"scope":"local","time":1795829615,
 *    "timeNano":1795829615873412215}
 *
 * Since API 1.22 (Docker 1.10) an event has `Type`, `Action` and `Actor.{ID,Attributes}`; before that only
 * `status`, `id`, `from`, `time` and (1.21) `timeNano`, which current daemons still send beside the new
 * fields (see test/fixtures/docker/legacy/README.md). The parser reads the current fields and falls back to
 * the legacy ones. Podman's Docker-compatible API writes the current shape, with `containerExitCode` and
 * `podId` among every container event's attributes (test/fixtures/podman/events.jsonl). It is pure: text in,
 * a typed result out, no I/O and no logging.
 */

import type { EngineKind } from './engine';

/** The container actions oomwatch acts on; every other action is reported as ignored. */
export type ContainerAction = 'create' | 'start' | 'oom' | 'die' | 'destroy' | 'rename' | 'update';

interface EventBase {
  /** Container id as Docker sent it (64 hex on every daemon since 1.x; shortened only in old API docs). */
  id: string;
  /** Wall-clock time in ms. */
  timeMs: number;
  /** Docker's timestamp in ns (`timeNano`, or `time` * 1e9 on API 1.20 and older): the replay cursor. */
  timeNano: bigint;
  /** `Actor.Attributes`: every container label plus Docker's own keys (`name`, `image`, `exitCode` …). */
  attributes: Readonly<Record<string, string>>;
  /** Only the pre-1.22 fields were present (no `Type`/`Actor`, hence no attributes). */
  legacy: boolean;
}

export interface CreateEvent extends EventBase {
  action: 'create';
}
export interface StartEvent extends EventBase {
  action: 'start';
}
export interface OomEvent extends EventBase {
  action: 'oom';
}
export interface DestroyEvent extends EventBase {
  action: 'destroy';
}
/** `docker update`: the container's resources changed (its memory limit among them). */
export interface UpdateEvent extends EventBase {
  action: 'update';
}
export interface RenameEvent extends EventBase {
  action: 'rename';
  /** The new name, without the leading '/'. */
  name: string;
}

/**
 * Why a die carries no usable exit code:
 * - `exitCode-label`: the container has a label named `exitCode`, which overwrites Docker's attribute;
 * - `legacy`: a pre-1.22 event, which had no attributes at all;
 * - `missing`: the attribute is absent or not an integer.
 */
export type UnknownExitReason = 'exitCode-label' | 'legacy' | 'missing';

export interface DieEvent extends EventBase {
  action: 'die';
  /** The main process's exit code, or undefined when the event cannot tell it (see `unknownExit`). */
  exitCode: number | undefined;
  unknownExit?: UnknownExitReason;
}

export type ContainerEvent =
  CreateEvent | StartEvent | OomEvent | DieEvent | DestroyEvent | RenameEvent | UpdateEvent;

export type ParsedLine =
  | { kind: 'event'; event: ContainerEvent }
  /** A well-formed event oomwatch does not act on; `timeNano` still moves the replay cursor when known. */
  | { kind: 'ignored'; reason: string; timeNano?: bigint }
  | { kind: 'error'; message: string };

/** What the parser knows about a container from elsewhere (container list, inspect, create/start events). */
export interface ParseContext {
  /** The container's own labels (`Config.Labels`), when known. */
  labelsOf?(id: string): Readonly<Record<string, string>> | undefined;
  /** The engine behind the stream (engine.ts): Podman's compat stream names one action differently. */
  engine?: EngineKind;
}

const ACTIONS: ReadonlySet<string> = new Set<ContainerAction>([
  'create',
  'start',
  'oom',
  'die',
  'destroy',
  'rename',
  'update',
]);
const INTEGER = /^-?\d+$/;
/**
 * A JSON string cannot hold an unescaped quote, so `"timeNano":<digits>` only ever matches the key itself
 * (attribute values are strings, `"timeNano":"…"`, and do not match). JSON.parse would round the value:
 * 1795829615873412215 is above 2^53.
 */
const TIME_NANO = /"timeNano"\s*:\s*(\d+)/;

function quote(line: string): string {
  return line.length > 120 ? `${JSON.stringify(line.slice(0, 120))}…` : JSON.stringify(line);
}

function asString(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function readAttributes(actor: unknown): Record<string, string> | undefined {
  if (actor === null || typeof actor !== 'object') return undefined;
  const attrs = (actor as { Attributes?: unknown }).Attributes;
  if (attrs === undefined || attrs === null) return {};
  if (typeof attrs !== 'object' || Array.isArray(attrs)) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(attrs as Record<string, unknown>))
    if (typeof v === 'string') out[k] = v;
  return out;
}

function eventTime(
  line: string,
  obj: Record<string, unknown>,
): { timeNano: bigint; timeMs: number } | undefined {
  const m = TIME_NANO.exec(line);
  if (m && typeof obj['timeNano'] === 'number') {
    const timeNano = BigInt(m[1] as string);
    return { timeNano, timeMs: Number(timeNano / 1_000_000n) };
  }
  const t = obj['time'];
  if (typeof t === 'number' && Number.isInteger(t) && t >= 0)
    return { timeNano: BigInt(t) * 1_000_000_000n, timeMs: t * 1000 };
  return undefined;
}

/**
 * The exit code of a die event.
 *
 * Docker builds the die event's attributes in daemon/monitor.go (handleContainerExit) as
 * `{"exitCode": …, "execDuration": …}` and hands them to LogContainerEventWithAttributes
 * (daemon/events.go), which then copies every container label into the same map (copyAttributes) and
 * only afterwards sets `image` and `name`. So a label named `exitCode` silently replaces Docker's exit
 * code (seen on this machine: `--label exitCode=0` and `exit 3` gives `"exitCode":"0"`), while a label
 * named `name` or `image` cannot hide Docker's values. The die event alone cannot tell the two apart;
 * the container's own labels can: when they hold an `exitCode` key the attribute is that label, and the
 * real code must come from `State.ExitCode` (inspect). The labels come from the container list, inspect,
 * or an earlier create/start event of the same container, whose attributes are exactly the labels plus
 * `name` and `image`. When nothing is known about the container the attribute is taken as Docker's.
 */
export function dieExitCode(
  attributes: Readonly<Record<string, string>>,
  labels: Readonly<Record<string, string>> | undefined,
  legacy: boolean,
): { exitCode: number | undefined; unknownExit?: UnknownExitReason } {
  if (legacy) return { exitCode: undefined, unknownExit: 'legacy' };
  if (labels !== undefined && Object.prototype.hasOwnProperty.call(labels, 'exitCode')) {
    return { exitCode: undefined, unknownExit: 'exitCode-label' };
  }
  const raw = attributes['exitCode'];
  if (raw === undefined || !INTEGER.test(raw)) return { exitCode: undefined, unknownExit: 'missing' };
  return { exitCode: Number(raw) };
}

/**
 * Labels as a create or start event shows them: the attributes without Docker's own `name` and `image`, and
 * from Podman also without the `containerExitCode` and `podId` it adds to every container event.
 * (A label that is itself called `name` or `image` is hidden by Docker's value here; the container list
 * and inspect give the true label set.)
 */
export function labelsFromAttributes(
  attributes: Readonly<Record<string, string>>,
  engine: EngineKind = 'docker',
): Record<string, string> {
  const own = engine === 'podman' ? PODMAN_OWN_ATTRIBUTES : DOCKER_OWN_ATTRIBUTES;
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(attributes)) if (!own.has(k)) labels[k] = v;
  return labels;
}

const DOCKER_OWN_ATTRIBUTES: ReadonlySet<string> = new Set(['name', 'image']);
const PODMAN_OWN_ATTRIBUTES: ReadonlySet<string> = new Set(['name', 'image', 'containerExitCode', 'podId']);

/** Parse one line of `GET /events`. Never throws. */
export function parseEventLine(line: string, ctx: ParseContext = {}): ParsedLine {
  const text = line.trim();
  if (text === '') return { kind: 'ignored', reason: 'empty line' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return { kind: 'error', message: `not a JSON event (${(err as Error).message}): ${quote(text)}` };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return { kind: 'error', message: `not a JSON object: ${quote(text)}` };
  }
  const obj = parsed as Record<string, unknown>;
  const time = eventTime(text, obj);

  const type = asString(obj['Type']);
  const legacy = type === undefined && obj['Actor'] === undefined;
  let action: string | undefined;
  let id: string | undefined;
  let attributes: Record<string, string>;
  if (legacy) {
    // API <= 1.21: container events carry `from` (the image); image events (pull, tag, delete…) do not.
    action = asString(obj['status']);
    id = asString(obj['id']);
    if (action === undefined || id === undefined) {
      if (typeof obj['message'] === 'string')
        return { kind: 'error', message: `Docker sent an error: ${obj['message']}` };
      return { kind: 'error', message: `event without Type/Action or status/id: ${quote(text)}` };
    }
    if (asString(obj['from']) === undefined)
      return { kind: 'ignored', reason: `legacy non-container event "${action}"`, ...timeOf(time) };
    attributes = {};
  } else {
    if (type !== 'container')
      return { kind: 'ignored', reason: `${type ?? 'untyped'} event`, ...timeOf(time) };
    action = asString(obj['Action']) ?? asString(obj['status']);
    const actor = obj['Actor'];
    id = asString((actor as { ID?: unknown } | undefined)?.ID) ?? asString(obj['id']);
    const attrs = readAttributes(actor);
    if (action === undefined || id === undefined || attrs === undefined) {
      return { kind: 'error', message: `container event without Action or Actor.ID: ${quote(text)}` };
    }
    attributes = attrs;
  }
  // Podman's compat stream (4.x, 5.x) passes libpod's `remove` through where Docker says `destroy`. Its other
  // actions need nothing: `died` already comes as `die`, and `exec_died` (an exec'd process ended, the container
  // lives on) is not a container exit, so it is ignored like Docker's `exec_die`.
  if (ctx.engine === 'podman' && action === 'remove') action = 'destroy';
  if (!ACTIONS.has(action))
    return { kind: 'ignored', reason: `container action "${action}"`, ...timeOf(time) };
  if (id === '') return { kind: 'error', message: `container event with an empty id: ${quote(text)}` };
  if (time === undefined)
    return { kind: 'error', message: `container event without time or timeNano: ${quote(text)}` };

  const base = { id, timeMs: time.timeMs, timeNano: time.timeNano, attributes, legacy };
  switch (action as ContainerAction) {
    case 'die':
      return {
        kind: 'event',
        event: { ...base, action: 'die', ...dieExitCode(attributes, ctx.labelsOf?.(id), legacy) },
      };
    case 'rename': {
      // The daemon sets `name` after copying labels, so it is always the new name (daemon/rename.go).
      const name = attributes['name'];
      if (name === undefined)
        return {
          kind: 'ignored',
          reason: 'rename without the new name (legacy event)',
          timeNano: time.timeNano,
        };
      return { kind: 'event', event: { ...base, action: 'rename', name: name.replace(/^\//, '') } };
    }
    case 'create':
    case 'start':
    case 'oom':
    case 'destroy':
    case 'update':
      return {
        kind: 'event',
        event: { ...base, action: action as 'create' | 'start' | 'oom' | 'destroy' | 'update' },
      };
  }
}

function timeOf(time: { timeNano: bigint } | undefined): { timeNano?: bigint } {
  return time === undefined ? {} : { timeNano: time.timeNano };
}

/** Format a cursor for the `since` query parameter: Docker reads `<seconds>.<nanoseconds>`. */
export function sinceParameter(timeNano: bigint): string {
  const s = timeNano / 1_000_000_000n;
  const ns = timeNano % 1_000_000_000n;
  return `${s}.${ns.toString().padStart(9, '0')}`;
}
