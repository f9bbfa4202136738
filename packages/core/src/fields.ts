/**
 * List-valued response fields that other layers write too (cors's `Vary: Origin`, an app's
 * `Cache-Control`, a CORS layer's `Access-Control-Expose-Headers`). range-serve adds to them and never
 * replaces them: an answer written over a response merges each such field with the value already on it.
 * RFC 9110 §5.3: a list field's lines combine into one comma-separated list, so a merge is a union.
 */

/** How a list field of ours combines with the value another layer already put on the response. */
export type FieldMerge = (existing: string, ours: string) => string;

/** The members of a comma-separated list, trimmed, empty members dropped (RFC 9110 §5.6.1). */
function members(list: string): string[] {
  return list
    .split(',')
    .map((member) => member.trim())
    .filter((member) => member !== '');
}

/**
 * `existing` with each member of `added` that it lacks appended, compared case-insensitively (names of
 * fields and directives are case-insensitive), in their order: no duplicates, nothing of `existing` lost.
 * A member is compared by `keyOf` (the whole member by default; a directive's name for Cache-Control).
 */
export function mergeList(
  existing: string | undefined,
  added: string,
  keyOf: (member: string) => string = (member) => member,
): string {
  if (existing === undefined || existing.trim() === '') return members(added).join(', ');
  const have = new Set(members(existing).map((member) => keyOf(member).toLowerCase()));
  const extra: string[] = [];
  for (const member of members(added)) {
    const key = keyOf(member).toLowerCase();
    if (have.has(key)) continue;
    have.add(key);
    extra.push(member);
  }
  return extra.length === 0 ? existing : `${existing}, ${extra.join(', ')}`;
}

/** `vary` with the field names of `added` merged in; `*` already varies on everything (RFC 9110 §12.5.5). */
export function mergeVary(vary: string | undefined, added: string): string {
  if (vary !== undefined && members(vary).includes('*')) return vary;
  return mergeList(vary, added);
}

/**
 * Directives that only restrict what a cache or an intermediary may do (RFC 9111 §5.2.2): adding one to
 * another layer's Cache-Control never loosens its decision.
 */
const RESTRICTIONS = new Set([
  'no-transform',
  'no-store',
  'no-cache',
  'private',
  'must-revalidate',
  'proxy-revalidate',
]);

/**
 * Cache-Control another layer set is the application's caching decision, kept whole (as send and
 * express.static keep it): our lifetime and `public` give way to it, and of ours only the restrictions
 * are added (a 206's `no-transform`, so that no layer re-encodes the bytes its Content-Range describes,
 * RFC 9111 §5.2.2.6; an upload download's `no-cache`).
 */
function mergeCacheControl(existing: string, ours: string): string {
  const needed = members(ours).filter((directive) => RESTRICTIONS.has(directiveName(directive)));
  return needed.length === 0 ? existing : mergeList(existing, needed.join(', '), directiveName);
}

function directiveName(directive: string): string {
  const eq = directive.indexOf('=');
  return (eq === -1 ? directive : directive.slice(0, eq)).trim().toLowerCase();
}

/**
 * The list fields range-serve writes and how each merges with another layer's value, by lowercase name.
 * `Access-Control-Expose-Headers` is a plain union (a `*` there is literal for credentialed requests,
 * Fetch §3.2.6, so it absorbs nothing).
 */
export const LIST_FIELDS: Readonly<Record<string, FieldMerge>> = Object.freeze({
  vary: mergeVary,
  'cache-control': mergeCacheControl,
  'access-control-expose-headers': (existing: string, ours: string) => mergeList(existing, ours),
});

/**
 * `headers` (an answer about to be written, lowercase names) with each list field merged into the value
 * `getHeader` reads from the response: what an earlier layer, or a handler, set there stays. Returns
 * `headers` itself when nothing needs merging.
 */
export function mergeResponseFields<H extends Readonly<Record<string, string>>>(
  headers: H,
  getHeader: (name: string) => number | string | readonly string[] | undefined,
): H {
  let merged: Record<string, string> | undefined;
  for (const name in LIST_FIELDS) {
    const ours = headers[name];
    if (ours === undefined) continue;
    const raw = getHeader(name);
    if (raw === undefined) continue;
    const existing = Array.isArray(raw) ? raw.join(', ') : String(raw);
    const value = (LIST_FIELDS[name] as FieldMerge)(existing, ours);
    if (value === ours) continue;
    merged ??= { ...headers };
    merged[name] = value;
  }
  return (merged ?? headers) as H;
}
