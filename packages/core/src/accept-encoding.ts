/**
 * Accept-Encoding (RFC 9110 §12.5.3): which content coding of a representation to send. The server
 * offers codings in its order of preference; the answer is one of them or `identity`, never "none":
 * when nothing offered is acceptable the identity representation is sent (no 406).
 */

/** The content codings a precompressed variant can have, with their sidecar file extensions. */
export const PRECOMPRESSED_CODINGS = Object.freeze({ br: 'br', zstd: 'zst', gzip: 'gz' } as const);

/** A content coding range-serve can serve from a precompressed variant. */
export type PrecompressedCoding = keyof typeof PRECOMPRESSED_CODINGS;

const WEIGHT = /^q=(0(\.\d{0,3})?|1(\.0{0,3})?)$/i;
const TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/i;

/**
 * Parses `Accept-Encoding` field values; repeated fields arrive joined by Node or as a list, and are
 * combined. An element with a malformed weight or name is ignored; a coding named twice keeps its
 * lowest q, so `q=0` anywhere excludes it. The map is keyed by lowercase name, `*` included.
 */
function parseWeights(values: readonly string[]): Map<string, number> {
  const named = new Map<string, number>();
  for (const value of values) {
    for (const element of value.split(',')) {
      const [rawName, ...params] = element.split(';').map((part) => part.trim());
      if (rawName === undefined || rawName === '' || !TOKEN.test(rawName)) continue;
      let q = 1;
      let valid = true;
      for (const param of params) {
        const match = WEIGHT.exec(param.replace(/\s*=\s*/, '='));
        if (match === null) {
          valid = false;
          break;
        }
        q = Number(match[1]);
      }
      if (!valid) continue;
      const lower = rawName.toLowerCase();
      // §12.5.3: x-gzip and x-compress are the same codings as gzip and compress.
      const name = lower === 'x-gzip' ? 'gzip' : lower === 'x-compress' ? 'compress' : lower;
      const before = named.get(name);
      named.set(name, before === undefined ? q : Math.min(before, q));
    }
  }
  return named;
}

/**
 * The codings of `offered` (the server's order of preference) the request prefers to identity, best
 * first: the highest q first, ties in the server's order. A coding not named takes the q of `*`, or is
 * not acceptable without one. Identity, unless named itself, is acceptable and below every coding with
 * q > 0 (`*;q=0` excludes it, which still yields identity: there is nothing else to send); a coding is
 * listed only when it is strictly preferred to identity. No field, or an empty one, lists nothing.
 */
export function preferredCodings<C extends string>(
  acceptEncoding: string | readonly string[] | undefined,
  offered: readonly C[],
): C[] {
  if (acceptEncoding === undefined) return [];
  const values = typeof acceptEncoding === 'string' ? [acceptEncoding] : acceptEncoding;
  const named = parseWeights(values);
  if (named.size === 0) return [];
  const star = named.get('*');
  const identity = named.get('identity') ?? 0;
  const ranked: { coding: C; q: number; order: number }[] = [];
  offered.forEach((coding, order) => {
    const q = named.get(coding.toLowerCase()) ?? star ?? 0;
    if (q > 0 && q > identity) ranked.push({ coding, q, order });
  });
  ranked.sort((a, b) => b.q - a.q || a.order - b.order);
  return ranked.map((entry) => entry.coding);
}

/** The coding of `offered` to send for `acceptEncoding`, or `'identity'` (see {@link preferredCodings}). */
export function negotiateContentCoding<C extends string>(
  acceptEncoding: string | readonly string[] | undefined,
  offered: readonly C[],
): C | 'identity' {
  return preferredCodings(acceptEncoding, offered)[0] ?? 'identity';
}
