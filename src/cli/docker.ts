import { type ReadOnlyDockerApi, dockerodeApi } from '../sources/docker/api';
import type { JvmMemoryFlags } from '../sources/docker/jvm-flags';
import {
  type DockerRunState,
  LabelAllowList,
  jvmMemoryFlagsFromInspect,
  metadataFromList,
  narrowInspect,
  narrowListed,
  runStateFromInspect,
} from '../sources/docker/metadata';
import { describeDockerProblem } from '../sources/docker/problem';
import type { ContainerMetadata } from '../state/labels';

/**
 * Docker as the on-call commands ask it: the daemon's read-only client (sources/docker/api.ts, dockerode loaded
 * on the first call) and the daemon's narrowing of what it answers (sources/docker/metadata.ts), with a short
 * deadline per call and a failure turned into DockerUnavailable, whose message says what is wrong and the fix.
 */

/** One container of Docker's list (`docker ps -a`). */
export interface DockerListed {
  id: string;
  /** created, running, paused, restarting, removing, exited, dead */
  state: string;
  /** Its name, image and labels in oomwatch's label set, and whether it is a pod's sandbox. */
  meta: ContainerMetadata;
}

/** One container as `docker inspect` describes it: its run and memory settings, and its JVM memory flags. */
export interface DockerInspected {
  run: DockerRunState;
  jvm?: JvmMemoryFlags;
}

export class DockerUnavailable extends Error {
  constructor(
    readonly socketPath: string,
    message: string,
  ) {
    super(message);
    this.name = 'DockerUnavailable';
  }
}

const TIMEOUT_MS = 5000;
/** The commands copy no container label onto anything: no allow-list. */
const NO_EXTRA_LABELS = new LabelAllowList([]);

export class CliDocker {
  private readonly api: ReadOnlyDockerApi;

  constructor(
    readonly socketPath: string,
    api?: ReadOnlyDockerApi,
  ) {
    this.api = api ?? dockerodeApi(socketPath);
  }

  private unavailable(err: unknown): DockerUnavailable {
    return new DockerUnavailable(this.socketPath, describeDockerProblem(err, this.socketPath, TIMEOUT_MS));
  }

  /** Every container, running or not (`docker ps -a`). */
  async list(): Promise<DockerListed[]> {
    let raw: unknown;
    try {
      raw = await this.api.listContainers(AbortSignal.timeout(TIMEOUT_MS));
    } catch (err) {
      throw this.unavailable(err);
    }
    // dockerode hands over a body that is not JSON as it came.
    if (!Array.isArray(raw))
      throw this.unavailable(new Error('answered /containers/json?all=1 with something that is not JSON'));
    const out: DockerListed[] = [];
    for (const item of raw) {
      const c = narrowListed(item);
      if (c) out.push({ id: c.Id, state: c.State ?? '', meta: metadataFromList(c, NO_EXTRA_LABELS) });
    }
    return out;
  }

  /** One container by id (or name), or undefined when Docker does not know it. */
  async inspect(idOrName: string): Promise<DockerInspected | undefined> {
    let raw: unknown;
    try {
      raw = await this.api.inspectContainer(idOrName, AbortSignal.timeout(TIMEOUT_MS));
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return undefined;
      throw this.unavailable(err);
    }
    const c = narrowInspect(raw);
    if (!c) return undefined;
    const out: DockerInspected = { run: runStateFromInspect(c) };
    const jvm = jvmMemoryFlagsFromInspect(raw);
    if (jvm) out.jvm = jvm;
    return out;
  }
}
