import * as path from 'node:path';

/** The repository's root, whatever folder a test lives in. */
export const REPO = path.join(__dirname, '..', '..');
/** test/fixtures: cgroup trees, kernel-log records, Docker and Kubernetes payloads, saved scrapes. */
export const FIXTURES = path.join(REPO, 'test', 'fixtures');
