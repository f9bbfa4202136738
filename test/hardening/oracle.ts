/**
 * An oracle written from docs/behaviour.md alone (no core code): given the request fields as Node
 * hands them to the app and a file's validators, the set of answers the page allows. Conditions whose
 * value is unreadable (docs/behaviour.md leaves a malformed entity-tag list open) count as either true or
 * false, so the set can hold more than one answer; everything else is decided exactly.
 */

/** One answer the oracle allows: a status, and for a 206 the ranges in the order they must be sent. */
export type Answer =
  | { readonly status: 200 | 304 | 412 | 416 }
  | { readonly status: 206; readonly ranges: readonly (readonly [number, number])[] };

/** What each header's value means; `unknown` is a value docs/behaviour.md does not decide. */
export type EtagMeaning =
  | { readonly kind: 'list'; readonly strongCurrent: boolean; readonly weakCurrent: boolean }
  | { readonly kind: 'any' }
  | { readonly kind: 'unknown' };

/** A date field: valid with its instant in whole seconds since the epoch, or ignored. */
export type DateMeaning = { readonly kind: 'date'; readonly seconds: number } | { readonly kind: 'ignored' };

/** If-Range: whether it lets the Range apply. */
export type IfRangeMeaning = boolean;

export interface RequestMeaning {
  readonly ifMatch?: EtagMeaning;
  readonly ifUnmodifiedSince?: DateMeaning;
  readonly ifNoneMatch?: EtagMeaning;
  readonly ifModifiedSince?: DateMeaning;
  readonly ifRange?: IfRangeMeaning;
  /** The Range field as Node hands it to the app (repeated lines joined with `, `). */
  readonly range?: string;
}

/** Every answer docs/behaviour.md allows for a GET of a file of `size` bytes modified at `lastModifiedSeconds`. */
export function allowedAnswers(req: RequestMeaning, size: number, lastModifiedSeconds: number): Answer[] {
  const out: Answer[] = [];
  const truths = (
    m: EtagMeaning | undefined,
    test: (l: { strongCurrent: boolean; weakCurrent: boolean }) => boolean,
    any: boolean,
  ) => (m === undefined ? [true] : m.kind === 'unknown' ? [true, false] : m.kind === 'any' ? [any] : [test(m)]);
  // 13.2.2 step 1: If-Match (strong comparison; * holds for an existing file), else If-Unmodified-Since.
  const step1 =
    req.ifMatch !== undefined
      ? truths(req.ifMatch, (l) => l.strongCurrent, true)
      : [req.ifUnmodifiedSince?.kind !== 'date' || lastModifiedSeconds <= req.ifUnmodifiedSince.seconds];
  if (step1.includes(false)) out.push({ status: 412 });
  if (!step1.includes(true)) return out;
  // Step 2: If-None-Match (weak comparison; * matches), else If-Modified-Since; false -> 304 for GET.
  const step2 =
    req.ifNoneMatch !== undefined
      ? truths(req.ifNoneMatch, (l) => !(l.strongCurrent || l.weakCurrent), false)
      : [req.ifModifiedSince?.kind !== 'date' || lastModifiedSeconds > req.ifModifiedSince.seconds];
  if (step2.includes(false)) out.push({ status: 304 });
  if (!step2.includes(true)) return out;
  // Step 3: Range, only when If-Range (looked at only with Range) lets it through.
  if (req.range === undefined || req.ifRange === false) {
    out.push({ status: 200 });
    return out;
  }
  out.push(rangeAnswer(req.range, size));
  return out;
}

const MAX_RANGES = 100;
const isDigits = (s: string) => /^[0-9]+$/.test(s);
const isToken = (s: string) => /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(s);

/** docs/behaviour.md "Range requests", read strictly from RFC 9110 14.1.1 with #list rules (OWS around elements, empty elements). */
export function rangeAnswer(field: string, size: number): Answer {
  const eq = field.indexOf('=');
  if (eq === -1) return { status: 200 };
  const unit = field.slice(0, eq);
  if (!isToken(unit) || unit.toLowerCase() !== 'bytes') return { status: 200 };
  const specs: (readonly [bigint, bigint] | null)[] = [];
  const n = BigInt(size);
  for (const raw of field.slice(eq + 1).split(',')) {
    const element = raw.replace(/^[ \t]+|[ \t]+$/g, '');
    if (element === '') continue;
    const dash = element.indexOf('-');
    if (dash === -1) return { status: 200 };
    const first = element.slice(0, dash);
    const last = element.slice(dash + 1);
    if (first === '') {
      if (!isDigits(last)) return { status: 200 };
      const length = BigInt(last);
      specs.push(length === 0n ? null : [length >= n ? 0n : n - length, n - 1n]);
      continue;
    }
    if (!isDigits(first) || (last !== '' && !isDigits(last))) return { status: 200 };
    const a = BigInt(first);
    if (last !== '' && BigInt(last) < a) return { status: 200 }; // reversed spec: the header is invalid
    if (a >= n) {
      specs.push(null);
      continue;
    }
    const b = last === '' || BigInt(last) >= n ? n - 1n : BigInt(last);
    specs.push([a, b]);
  }
  if (specs.length === 0 || size === 0) return { status: 200 };
  const wanted = specs
    .filter((s): s is readonly [bigint, bigint] => s !== null)
    .map(([a, b]) => [Number(a), Number(b)] as const);
  if (wanted.length === 0) return { status: 416 };
  // Merge overlapping and adjacent specs; each run takes the position of its first spec.
  const order = wanted.map((r, i) => ({ start: r[0], end: r[1], i })).sort((x, y) => x.start - y.start);
  const runs: { start: number; end: number; i: number }[] = [];
  for (const r of order) {
    const top = runs[runs.length - 1];
    if (top !== undefined && r.start <= top.end + 1) {
      top.end = Math.max(top.end, r.end);
      top.i = Math.min(top.i, r.i);
    } else runs.push({ ...r });
  }
  if (runs.length > MAX_RANGES) return { status: 200 };
  return { status: 206, ranges: runs.sort((x, y) => x.i - y.i).map((r) => [r.start, r.end] as const) };
}
