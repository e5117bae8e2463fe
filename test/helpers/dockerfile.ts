import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO } from './paths';

/**
 * What the Dockerfile documents and declares, read the way the deployment checks compare it with the
 * compose file and the DaemonSet: the `# mount:` lines of its header, and the exec-form CMD, ENTRYPOINT
 * and HEALTHCHECK and the ENV settings of the final stage.
 *
 *   # mount:  bind   /sys/fs/cgroup        /host/sys/fs/cgroup   ro  host cgroup tree ...
 */
export interface DocumentedMount {
  kind: 'bind' | 'device' | 'volume';
  /** Host path (bind, device) or volume name. */
  source: string;
  target: string;
  mode: 'ro' | 'rw' | 'r';
  purpose: string;
}

export interface DockerfileFacts {
  mounts: DocumentedMount[];
  /** ARG names declared before the first FROM (those a build can pass with --build-arg for FROM). */
  globalArgs: string[];
  froms: string[];
  entrypoint: string[];
  cmd: string[];
  healthcheck: string[];
  volumes: string[];
  exposed: string[];
  /** ENV NAME=value settings of the final stage. */
  env: Record<string, string>;
}

const MOUNT = /^#\s*mount:\s+(bind|device|volume)\s+(\S+)\s+(\S+)\s+(ro|rw|r)\s+(.+)$/;

function execForm(instruction: string, rest: string): string[] {
  const json = rest.trim();
  if (!json.startsWith('['))
    throw new Error(
      `${instruction} must use the exec form (a JSON array) so no shell sits in front of oomwatch: ${rest}`,
    );
  return JSON.parse(json) as string[];
}

/** Parse a Dockerfile's text. Continuation lines (`\`) are joined first. */
export function parseDockerfile(text: string): DockerfileFacts {
  const facts: DockerfileFacts = {
    mounts: [],
    globalArgs: [],
    froms: [],
    entrypoint: [],
    cmd: [],
    healthcheck: [],
    volumes: [],
    exposed: [],
    env: {},
  };
  const logical = text.replace(/\\\r?\n/g, ' ').split(/\r?\n/);
  for (const line of logical) {
    const mount = MOUNT.exec(line.trim());
    if (mount) {
      facts.mounts.push({
        kind: mount[1] as DocumentedMount['kind'],
        source: mount[2] as string,
        target: mount[3] as string,
        mode: mount[4] as DocumentedMount['mode'],
        purpose: (mount[5] as string).trim(),
      });
      continue;
    }
    const m = /^\s*([A-Z]+)\s+(.*)$/.exec(line);
    if (!m || line.trimStart().startsWith('#')) continue;
    const [, instruction, rest] = m as unknown as [string, string, string];
    switch (instruction) {
      case 'ARG':
        if (facts.froms.length === 0) facts.globalArgs.push((rest.split('=')[0] as string).trim());
        break;
      case 'FROM':
        facts.froms.push(rest.trim());
        // every stage starts afresh: only the final stage's instructions are the image's
        facts.entrypoint = [];
        facts.cmd = [];
        facts.healthcheck = [];
        facts.volumes = [];
        facts.exposed = [];
        facts.env = {};
        break;
      case 'ENV':
        for (const pair of rest.trim().split(/\s+/)) {
          const eq = pair.indexOf('=');
          if (eq <= 0) throw new Error(`ENV must use the NAME=value form: ENV ${rest}`);
          facts.env[pair.slice(0, eq)] = pair.slice(eq + 1);
        }
        break;
      case 'ENTRYPOINT':
        facts.entrypoint = execForm(instruction, rest);
        break;
      case 'CMD':
        facts.cmd = execForm(instruction, rest);
        break;
      case 'HEALTHCHECK': {
        const i = rest.indexOf('CMD ');
        facts.healthcheck = i < 0 ? [] : execForm(instruction, rest.slice(i + 4));
        break;
      }
      case 'VOLUME':
        facts.volumes.push(
          ...(rest.trim().startsWith('[') ? (JSON.parse(rest) as string[]) : rest.trim().split(/\s+/)),
        );
        break;
      case 'EXPOSE':
        facts.exposed.push(...rest.trim().split(/\s+/));
        break;
    }
  }
  return facts;
}

export function readDockerfile(): DockerfileFacts {
  return parseDockerfile(fs.readFileSync(path.join(REPO, 'Dockerfile'), 'utf8'));
}

/** `--flag value` pairs of an oomwatch command line (after the subcommand), in order. */
export function flagPairs(args: readonly string[]): Map<string, string> {
  const flags = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (!a.startsWith('--')) continue;
    const eq = a.indexOf('=');
    if (eq > 0) {
      flags.set(a.slice(2, eq), a.slice(eq + 1));
    } else {
      flags.set(a.slice(2), (args[i + 1] as string | undefined) ?? 'true');
      i++;
    }
  }
  return flags;
}
