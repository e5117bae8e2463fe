/**
 * What `npm start` (package.json scripts.start) runs node with: the NAME=value assignments in front of `node`,
 * and node's own flags between `node` and the script. The image's ENV and ENTRYPOINT are checked against
 * these, and the benchmarks start the daemon with them, so both speak of the daemon as it is deployed.
 */
export interface StartScript {
  env: Record<string, string>;
  nodeFlags: string[];
}

export function parseStartScript(script: string): StartScript {
  const words = script.split(/\s+/);
  const node = words.indexOf('node');
  const cli = words.findIndex((w) => w.endsWith('cli.js'));
  const env: Record<string, string> = {};
  for (let i = node - 1; i >= 0; i--) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(words[i] as string);
    if (!m) break;
    env[m[1] as string] = m[2] as string;
  }
  return { env, nodeFlags: node >= 0 && cli > node ? words.slice(node + 1, cli) : [] };
}
