import { QuantityError, parseQuantity } from '../../../src/sources/kubernetes/quantity';

/** Quantities as they appear in pod specs; expected values as apimachinery's Quantity.Value() returns them. */
describe('parseQuantity', () => {
  it.each([
    ['0', 0],
    ['128974848', 128974848],
    ['129e6', 129_000_000],
    ['129E6', 129_000_000],
    ['1e3', 1000],
    ['1.5e3', 1500],
    ['123Mi', 123 * 1024 * 1024],
    ['256Mi', 268435456],
    ['1Gi', 1073741824],
    ['1.5Gi', 1610612736],
    ['0.5Gi', 536870912],
    ['.5Gi', 536870912],
    ['2.Gi', 2147483648],
    ['64Ki', 65536],
    ['1Ti', 1099511627776],
    ['1Pi', 1125899906842624],
    ['129M', 129_000_000],
    ['1G', 1_000_000_000],
    ['1.5G', 1_500_000_000],
    ['100k', 100_000],
    ['2T', 2_000_000_000_000],
    ['1P', 1e15],
    ['1E', 1e18],
    ['+1Gi', 1073741824],
    ['-1Ki', -1024],
    // A fraction of a byte rounds up, away from zero.
    ['100m', 1],
    ['1500m', 2],
    ['1000m', 1],
    ['0.1', 1],
    ['1e-3', 1],
    ['1.0000001Ki', 1025],
    [' 256Mi ', 268435456],
  ])('%s is %d', (text, want) => {
    expect(parseQuantity(text)).toBe(want);
  });

  it.each(['', 'Mi', '1 Mi', '1mi', '1MB', '1Gb', '1K', '0x10', '1e', '1e+', '1.2.3', 'abc', '1Ei5', '--1'])(
    '"%s" is not a quantity',
    (text) => {
      expect(() => parseQuantity(text)).toThrow(QuantityError);
    },
  );

  it('names the bad text and what a quantity looks like', () => {
    expect(() => parseQuantity('12MB')).toThrow(/"12MB" is not a Kubernetes quantity .*Mi, Gi/);
  });
});
