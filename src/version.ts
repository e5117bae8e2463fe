import * as fs from 'node:fs';
import * as path from 'node:path';

function readPackageVersion(): string {
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** The oomwatch version, from package.json. */
export const VERSION = readPackageVersion();
/** The source revision, set at image build time (OOMWATCH_REVISION build argument). */
export const REVISION = process.env['OOMWATCH_REVISION'] ?? 'unknown';
