import { dockerSize, GiB, k8sQuantity, MiB, roundLimitUp, roundReservationDown } from '../../src/cli/units';

describe('rounding a proposed limit up to a sensible unit', () => {
  it.each([
    [1, 32 * MiB, 'never below the 32 MiB floor'],
    [40 * MiB, 48 * MiB, '16 MiB steps up to 256 MiB'],
    [97.8 * MiB, 112 * MiB, '16 MiB steps'],
    [256 * MiB, 256 * MiB, 'an exact step stays'],
    [300 * MiB, 320 * MiB, '64 MiB steps up to 1 GiB'],
    [1000 * MiB, 1024 * MiB, '64 MiB steps'],
    [1.1 * GiB, 1.25 * GiB, '256 MiB steps up to 4 GiB'],
    [5.1 * GiB, 5.5 * GiB, '512 MiB steps up to 16 GiB'],
    [16.2 * GiB, 17 * GiB, 'whole GiB above'],
  ])('%p bytes -> %p (%s)', (bytes, expected) => {
    expect(roundLimitUp(bytes)).toBe(expected);
  });

  it.each([
    [0, 0],
    [1 * MiB, 16 * MiB],
    [50 * MiB, 48 * MiB],
    [700 * MiB, 640 * MiB],
  ])('reservation %p -> %p (rounded down, at least one step)', (bytes, expected) => {
    expect(roundReservationDown(bytes)).toBe(expected);
  });
});

describe('sizes as Docker, Compose and Kubernetes write them', () => {
  it.each([
    [48 * MiB, '48m', '48Mi'],
    [1280 * MiB, '1280m', '1280Mi'],
    [2 * GiB, '2g', '2Gi'],
    [1536, '1536b', '1536'],
    [4096, '4k', '4Ki'],
  ])('%p -> docker %p, k8s %p', (bytes, docker, k8s) => {
    expect(dockerSize(bytes)).toBe(docker);
    expect(k8sQuantity(bytes)).toBe(k8s);
  });
});
