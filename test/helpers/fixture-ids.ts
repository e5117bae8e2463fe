import { createHash } from 'node:crypto';

/**
 * The container ids and pod UIDs of the fixture trees, derived from a name exactly as
 * capture-v1-tree.sh and make-v2-tree.mjs derive them, so tests can name the containers they look at.
 */
export function fixtureId(name: string): string {
  return createHash('sha256').update(`oomwatch-fixture-${name}`).digest('hex');
}

export function fixturePodUid(name: string): string {
  const h = createHash('sha256').update(`oomwatch-fixture-pod-${name}`).digest('hex').slice(0, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** The container ids of the containerd layout trees (test/helpers/capture-containerd-trees.sh). */
export function containerdFixtureId(name: string): string {
  return createHash('sha256').update(`oomwatch-containerd-fixture-${name}`).digest('hex');
}
