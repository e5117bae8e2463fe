/**
 * Kubernetes resource quantities ("256Mi", "1G", "1.5Gi", "129e6", "500m") as a number of base units.
 *
 * The grammar is apimachinery's (k8s.io/apimachinery/pkg/api/resource/quantity.go):
 *   <quantity>        ::= <signedNumber><suffix>
 *   <suffix>          ::= <binarySI> | <decimalExponent> | <decimalSI>
 *   <binarySI>        ::= Ki | Mi | Gi | Ti | Pi | Ei
 *   <decimalSI>       ::= m | "" | k | M | G | T | P | E
 *   <decimalExponent> ::= "e" <signedNumber> | "E" <signedNumber>
 *   <number>          ::= <digits> | <digits>.<digits> | <digits>. | .<digits>
 * "1E" is an exabyte and "1E3" a thousand: an E followed by a number is an exponent. Like Quantity.Value(),
 * a fraction of a base unit rounds up, away from zero ("100m" of memory is 1 byte).
 */

export class QuantityError extends Error {
  constructor(readonly text: string) {
    super(
      `"${text}" is not a Kubernetes quantity (expected a number with an optional suffix such as Mi, Gi, k, M, G or e6)`,
    );
  }
}

const QUANTITY = /^([+-]?)(\d+\.?\d*|\.\d+)(?:(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)|[eE]([+-]?\d+))?$/;

const BINARY: Record<string, bigint> = {
  Ki: 1n << 10n,
  Mi: 1n << 20n,
  Gi: 1n << 30n,
  Ti: 1n << 40n,
  Pi: 1n << 50n,
  Ei: 1n << 60n,
};
const DECIMAL_EXPONENT: Record<string, number> = { m: -3, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };

/** Parse a quantity into base units (bytes for memory), exact in integers up to 2^53. Throws QuantityError. */
export function parseQuantity(text: string): number {
  const m = QUANTITY.exec(text.trim());
  if (!m) throw new QuantityError(text);
  const negative = m[1] === '-';
  const [whole = '', fraction = ''] = (m[2] as string).split('.');
  // The number as an integer numerator over 10^scale, in BigInt so that "8Ei" or "0.1" lose nothing.
  let numerator = BigInt(`${whole}${fraction}` || '0');
  let denominator = 10n ** BigInt(fraction.length);
  const suffix = m[3];
  let exponent = 0;
  if (suffix !== undefined && suffix in BINARY) numerator *= BINARY[suffix] as bigint;
  else if (suffix !== undefined) exponent = DECIMAL_EXPONENT[suffix] as number;
  else if (m[4] !== undefined) exponent = Number(m[4]);
  if (Math.abs(exponent) > 64) throw new QuantityError(text);
  if (exponent >= 0) numerator *= 10n ** BigInt(exponent);
  else denominator *= 10n ** BigInt(-exponent);
  // Round up, away from zero, as Quantity.Value() does.
  let units = numerator / denominator;
  if (units * denominator !== numerator) units += 1n;
  return Number(negative ? -units : units);
}
