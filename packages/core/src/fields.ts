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

/** Reads one response header field by its lowercase name, as `res.getHeader` does. */
export type HeaderGetter = (name: string) => number | string | readonly string[] | undefined;

/**
 * The response fields of range-serve's protocols that a script on another origin must be allowed to read,
 * lowercase name to the spelling written into `Access-Control-Expose-Headers` (Fetch §3.2.3: other than
 * the CORS-safelisted ones, a cross-origin script sees only fields named there). Downloads: where a range
 * sits and what the whole is (Content-Range, also on a 416), whether to resume (Accept-Ranges), what to
 * resume against (ETag, Last-Modified), what to check the bytes with (Repr-Digest) and under which name
 * to save them (Content-Disposition). Uploads: where the upload lives and how far it got (Location,
 * Upload-*, the tus discovery fields Tus-*).
 */
const EXPOSED_FIELDS: ReadonlyMap<string, string> = new Map([
  ['content-range', 'Content-Range'],
  ['accept-ranges', 'Accept-Ranges'],
  ['etag', 'ETag'],
  ['last-modified', 'Last-Modified'],
  ['repr-digest', 'Repr-Digest'],
  ['content-disposition', 'Content-Disposition'],
  ['location', 'Location'],
  ['upload-offset', 'Upload-Offset'],
  ['upload-length', 'Upload-Length'],
  ['upload-metadata', 'Upload-Metadata'],
  ['upload-expires', 'Upload-Expires'],
  ['upload-concat', 'Upload-Concat'],
  ['upload-complete', 'Upload-Complete'],
  ['upload-limit', 'Upload-Limit'],
  ['upload-defer-length', 'Upload-Defer-Length'],
  ['upload-draft-interop-version', 'Upload-Draft-Interop-Version'],
]);

/** The spelling a field of ours is exposed under, or undefined when a script has no need of it. */
function exposedName(name: string): string | undefined {
  const lower = name.toLowerCase();
  const known = EXPOSED_FIELDS.get(lower);
  if (known !== undefined) return known;
  // tus 1.0.0 §3.2: every discovery field is Tus-<Name> (Tus-Resumable, Tus-Version, Tus-Max-Size, ...).
  if (!lower.startsWith('tus-') || lower.length === 4) return undefined;
  return lower.replace(/(^|-)([a-z])/g, (_match, dash: string, letter: string) => dash + letter.toUpperCase());
}

/**
 * The `Access-Control-Expose-Headers` list naming each field of `names` that a script on another origin
 * needs (see {@link exposeResponseFields}), in their order, or undefined when none is.
 */
export function exposedFieldList(names: Iterable<string>): string | undefined {
  const exposed = new Set<string>();
  for (const name of names) {
    const spelled = exposedName(name);
    if (spelled !== undefined) exposed.add(spelled);
  }
  return exposed.size === 0 ? undefined : [...exposed].join(', ');
}

/**
 * `headers` (an answer about to be written, lowercase names) with `Access-Control-Expose-Headers` naming
 * the fields of range-serve's protocols that the answer, or the response it is written onto, carries,
 * merged into the list already there. Only for a response a CORS layer in front has opened to the
 * request's origin (it carries `Access-Control-Allow-Origin`): range-serve never opens CORS itself, and
 * the fields named are only those sent, so a 416 exposes its `Content-Range` and a 304 its validators.
 * Returns `headers` itself when nothing is added. The adapters call it through {@link mergeResponseFields}.
 */
export function exposeResponseFields<H extends Readonly<Record<string, string>>>(
  headers: H,
  getHeader: HeaderGetter,
): H {
  if (headers['access-control-allow-origin'] === undefined && getHeader('access-control-allow-origin') === undefined) {
    return headers;
  }
  const present = Object.keys(headers).filter((name) => EXPOSED_FIELDS.has(name) || name.startsWith('tus-'));
  for (const name of EXPOSED_FIELDS.keys()) if (getHeader(name) !== undefined) present.push(name);
  const list = exposedFieldList(present);
  if (list === undefined) return headers;
  const existing = listOf(getHeader('access-control-expose-headers'));
  const ours = headers['access-control-expose-headers'];
  const value = mergeList(ours === undefined ? existing : mergeList(existing, ours), list);
  return { ...headers, 'access-control-expose-headers': value };
}

function listOf(raw: number | string | readonly string[] | undefined): string | undefined {
  if (raw === undefined) return undefined;
  return Array.isArray(raw) ? raw.join(', ') : String(raw);
}

/**
 * `headers` (an answer about to be written, lowercase names) with each list field merged into the value
 * `getHeader` reads from the response: what an earlier layer, or a handler, set there stays. On a response
 * a CORS layer opened, the fields a script needs are exposed too ({@link exposeResponseFields}). Returns
 * `headers` itself when nothing needs merging.
 */
export function mergeResponseFields<H extends Readonly<Record<string, string>>>(answer: H, getHeader: HeaderGetter): H {
  const headers = exposeResponseFields(answer, getHeader);
  let merged: Record<string, string> | undefined;
  for (const name in LIST_FIELDS) {
    const ours = headers[name];
    if (ours === undefined) continue;
    const existing = listOf(getHeader(name));
    if (existing === undefined) continue;
    const value = (LIST_FIELDS[name] as FieldMerge)(existing, ours);
    if (value === ours) continue;
    merged ??= { ...headers };
    merged[name] = value;
  }
  return (merged ?? headers) as H;
}
