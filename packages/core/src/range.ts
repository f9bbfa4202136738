/**
 * The `Range` header field (RFC 9110 §14.1, §14.2): a strict syntax pass of our own, then `range-parser`
 * to resolve the specs against the representation's length and to merge them. The answer to each kind
 * of Range header is in docs/behaviour.md, "Range requests".
 */
import rangeParser from 'range-parser';

/** An inclusive byte span of a representation, `first` and `last` as in `Content-Range`. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

/** Why a `Range` header was ignored (the whole representation is then sent with 200). */
export type RangeIgnoredReason = 'unit' | 'syntax' | 'reversed' | 'empty-representation' | 'too-many-ranges';

/** The outcome of reading a `Range` header against a representation of known length. */
export type RangeResult =
  | { readonly type: 'absent' }
  | { readonly type: 'ignored'; readonly reason: RangeIgnoredReason }
  | { readonly type: 'unsatisfiable' }
  | { readonly type: 'satisfiable'; readonly ranges: readonly ByteRange[] };

/** Options for {@link parseRange}. */
export interface ParseRangeOptions {
  /** Ranges left after merging beyond which the header is ignored (default 100). */
  readonly maxRanges?: number;
}

/** Default cap on the number of ranges served from one request (docs/behaviour.md, "Range requests"). */
export const DEFAULT_MAX_RANGES = 100;

const ABSENT: RangeResult = { type: 'absent' };
const UNSATISFIABLE: RangeResult = { type: 'unsatisfiable' };
const IGNORED: Record<RangeIgnoredReason, RangeResult> = {
  unit: { type: 'ignored', reason: 'unit' },
  syntax: { type: 'ignored', reason: 'syntax' },
  reversed: { type: 'ignored', reason: 'reversed' },
  'empty-representation': { type: 'ignored', reason: 'empty-representation' },
  'too-many-ranges': { type: 'ignored', reason: 'too-many-ranges' },
};

/**
 * Reads a `Range` header for a representation of `size` bytes: absent, ignored (200), unsatisfiable (416)
 * or the satisfiable ranges, merged, in request order. Linear in the header's length apart from the merge.
 */
export function parseRange(
  header: string | readonly string[] | undefined,
  size: number,
  options: ParseRangeOptions = {},
): RangeResult {
  if (header === undefined) return ABSENT;
  const text = typeof header === 'string' ? header : header.join(',');
  const canonical = canonicalRangeSet(text, size);
  // §14.2: a server MAY ignore Range; a zero-length representation has nothing to select, so a valid
  // header gets the whole (empty) representation with 200 rather than a 416.
  if (size === 0 && (typeof canonical === 'string' || canonical.type === 'unsatisfiable')) {
    return IGNORED['empty-representation'];
  }
  if (typeof canonical !== 'string') return canonical;
  const parsed = rangeParser(size, canonical);
  // range-parser only reports -2 for syntax we already rejected, so -2 cannot happen here; treat both as 416.
  if (typeof parsed === 'number') return UNSATISFIABLE;
  const merged = combine(parsed);
  const max = options.maxRanges ?? DEFAULT_MAX_RANGES;
  // §14.2: a server MAY ignore a Range with many small or overlapping ranges (denial of service, §17.15).
  if (merged.length > max) return IGNORED['too-many-ranges'];
  return { type: 'satisfiable', ranges: merged };
}

/**
 * Merges overlapping and adjacent ranges (§14.2 allows coalescing); each merged range takes the
 * position of the earliest spec in it. (range-parser's own `combine` loses that position when a
 * later-sorted range lies inside the one before it.)
 */
function combine(ranges: readonly { start: number; end: number }[]): ByteRange[] {
  const ordered = ranges.map((r, index) => ({ start: r.start, end: r.end, index })).sort((a, b) => a.start - b.start);
  const out: { start: number; end: number; index: number }[] = [];
  for (const r of ordered) {
    const current = out[out.length - 1];
    if (current === undefined || r.start > current.end + 1) {
      out.push(r);
    } else {
      current.end = Math.max(current.end, r.end);
      current.index = Math.min(current.index, r.index);
    }
  }
  return out.sort((a, b) => a.index - b.index).map((r) => ({ start: r.start, end: r.end }));
}

const MAX_SAFE_DIGITS = String(Number.MAX_SAFE_INTEGER).length; // 16

/**
 * Validates `ranges-specifier` strictly (§14.1.1) and rewrites it for `range-parser` with only safe
 * integers: a first-pos past `MAX_SAFE_INTEGER` is past the end, a last-pos there means "to the end",
 * and a suffix there means the whole representation.
 */
function canonicalRangeSet(text: string, size: number): string | RangeResult {
  const eq = text.indexOf('=');
  if (eq === -1) return IGNORED.syntax;
  const unit = text.slice(0, eq);
  // §14.1: range units are compared case-insensitively; an unknown unit is ignored (§14.2).
  if (unit.toLowerCase() !== 'bytes') return isToken(unit) ? IGNORED.unit : IGNORED.syntax;
  const out: string[] = [];
  const n = text.length;
  let i = eq + 1;
  while (i <= n) {
    // One list element: OWS, then an int-range or suffix-range, then OWS; empty elements are allowed (§5.6.1).
    let j = text.indexOf(',', i);
    if (j === -1) j = n;
    let a = i;
    let b = j;
    while (a < b && isOws(text.charCodeAt(a))) a++;
    while (b > a && isOws(text.charCodeAt(b - 1))) b--;
    if (a < b) {
      const spec = canonicalSpec(text, a, b, size);
      if (typeof spec !== 'string') return spec;
      if (spec !== '') out.push(spec);
    }
    i = j + 1;
  }
  // §14.1.1: a range-set has at least one range-spec.
  if (out.length === 0) {
    return hasNonEmptyElement(text, eq + 1) ? UNSATISFIABLE : IGNORED.syntax;
  }
  return `bytes=${out.join(',')}`;
}

/** One range-spec in text[a, b): its canonical form, '' when it can never be satisfied, or an ignore result. */
function canonicalSpec(text: string, a: number, b: number, size: number): string | RangeResult {
  const dash = text.indexOf('-', a);
  if (dash === -1 || dash >= b) return IGNORED.syntax;
  const first = digitsOf(text, a, dash);
  const last = digitsOf(text, dash + 1, b);
  if (first === null || last === null) return IGNORED.syntax;
  if (first === '') {
    // suffix-range = "-" suffix-length
    if (last === '') return IGNORED.syntax;
    // §14.1.3: a suffix longer than the representation selects all of it.
    return isPast(last, size) ? `-${size}` : `-${Number(last)}`;
  }
  if (last !== '' && compareDigits(first, last) > 0) {
    // §14.1.1: an int-range with last-pos < first-pos is invalid, which makes the whole header invalid.
    return IGNORED.reversed;
  }
  // §14.1.2: a first-pos at or past the length cannot be satisfied; drop it from the set.
  if (isPast(first, size)) return '';
  const firstPos = Number(first);
  // §14.1.2: a last-pos at or past the length is clamped to the last byte.
  if (last === '' || isPast(last, size)) return `${firstPos}-`;
  return `${firstPos}-${Number(last)}`;
}

/** The DIGITs of text[a, b) with leading zeros dropped, '' when empty, null when anything else is there. */
function digitsOf(text: string, a: number, b: number): string | null {
  for (let k = a; k < b; k++) {
    const c = text.charCodeAt(k);
    if (c < 0x30 || c > 0x39) return null;
  }
  let k = a;
  while (k < b - 1 && text.charCodeAt(k) === 0x30) k++;
  return text.slice(k, b);
}

/** Whether a decimal string (no leading zeros) names a position at or past `size`, exactly, with no rounding. */
function isPast(digits: string, size: number): boolean {
  // Sizes are safe integers, so anything of 17 digits or more is past every end; Number() rounds
  // monotonically, so a 16-digit value that reads above MAX_SAFE_INTEGER really is above it.
  if (digits.length > MAX_SAFE_DIGITS) return true;
  const value = Number(digits);
  return value > Number.MAX_SAFE_INTEGER || value >= size;
}

function compareDigits(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

function hasNonEmptyElement(text: string, from: number): boolean {
  for (let k = from; k < text.length; k++) {
    const c = text.charCodeAt(k);
    if (c !== 0x2c && !isOws(c)) return true;
  }
  return false;
}

function isOws(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/** token = 1*tchar (RFC 9110 §5.6.2). */
function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let k = 0; k < s.length; k++) {
    const c = s.charCodeAt(k);
    const ok =
      (c >= 0x30 && c <= 0x39) ||
      (c >= 0x41 && c <= 0x5a) ||
      (c >= 0x61 && c <= 0x7a) ||
      "!#$%&'*+-.^_`|~".includes(s[k] as string);
    if (!ok) return false;
  }
  return true;
}
