/**
 * Conditional requests (RFC 9110 §13): one small function per precondition and their evaluation in the
 * order of §13.2.2. The choices the RFC leaves open are in docs/behaviour.md, "Order of evaluation".
 */
import { type EntityTag, parseEntityTag, parseEntityTagList, strongMatch, weakMatch } from './etag.js';
import { parseHttpDate, toSeconds } from './http-date.js';

/** The validators of the selected representation, as a 200 would carry them. */
export interface Validators {
  /** The current entity-tag, quotes included (`"x"` or `W/"x"`), if any. */
  readonly etag?: string | undefined;
  /** The current modification date in epoch milliseconds, if any. */
  readonly lastModified?: number | undefined;
}

/** Request header values as Node gives them (`req.headers`). */
export type HeaderValue = string | readonly string[] | undefined;

/** The outcome of §13.2.2 steps 1 to 4: go on to range handling, or answer 304 or 412 now. */
export type PreconditionOutcome = 'proceed' | 'not-modified' | 'precondition-failed';

/** §13.1.1: true when `If-Match` holds. `*` holds for any current representation; tags compare strongly. */
export function ifMatch(header: HeaderValue, etag: string | undefined): boolean {
  const list = parseEntityTagList(header);
  if (list === undefined) return true;
  if (list.type === 'any') return true; // the representation exists, or we would not be here
  if (list.type === 'invalid') return false; // a condition we cannot read cannot be shown to hold
  const current = etag === undefined ? undefined : parseEntityTag(etag);
  if (current === undefined) return false;
  return list.tags.some((tag) => strongMatch(tag, current));
}

/** §13.1.4: true when the representation has not been modified after the `If-Unmodified-Since` date. */
export function ifUnmodifiedSince(header: HeaderValue, lastModified: number | undefined): boolean {
  const date = parseHttpDate(singleValue(header));
  // §13.1.4: an invalid date is ignored, and without a modification date the condition cannot be evaluated.
  if (date === undefined || lastModified === undefined) return true;
  return toSeconds(lastModified) <= date;
}

/** §13.1.2: true when no listed tag matches the current one (weak comparison); `*` matches any representation. */
export function ifNoneMatch(header: HeaderValue, etag: string | undefined): boolean {
  const list = parseEntityTagList(header);
  if (list === undefined) return true;
  if (list.type === 'any') return false;
  if (list.type === 'invalid') return true; // an unreadable list matches nothing
  const current = etag === undefined ? undefined : parseEntityTag(etag);
  if (current === undefined) return true;
  return !list.tags.some((tag) => weakMatch(tag, current));
}

/** §13.1.3: true when the representation was modified after the `If-Modified-Since` date. */
export function ifModifiedSince(header: HeaderValue, lastModified: number | undefined): boolean {
  // §13.1.3: an invalid date, or a field with more than one value, is ignored.
  const date = parseHttpDate(singleValue(header));
  if (date === undefined || lastModified === undefined) return true;
  // RFC 9110 has no future-date rule (RFC 2616's is gone): a future date still means "not modified".
  return toSeconds(lastModified) > date;
}

/**
 * §13.1.5: true when `If-Range` lets the Range header apply. An entity-tag must match strongly; a date
 * must equal a Last-Modified that is itself strong, i.e. at least one second older than `now` (§8.8.2.2).
 */
export function ifRange(header: HeaderValue, validators: Validators, now: number): boolean {
  const value = singleValue(header);
  if (value === undefined) return true;
  const text = value.trim();
  if (text.startsWith('"') || text.startsWith('W/')) {
    const tag = parseEntityTag(text);
    const current = validators.etag === undefined ? undefined : parseEntityTag(validators.etag);
    // §13.1.5: a weak entity-tag, or none to compare, never lets the range through.
    return tag !== undefined && current !== undefined && strongMatch(tag, current);
  }
  const date = parseHttpDate(text);
  if (date === undefined || validators.lastModified === undefined) return false;
  const lastModified = toSeconds(validators.lastModified);
  // §8.8.2.2: Last-Modified is strong only when it is at least one second before the Date we send.
  if (lastModified > toSeconds(now) - 1000) return false;
  return lastModified === date;
}

/**
 * §13.2.2 steps 1 to 4, in order: If-Match (else If-Unmodified-Since), then If-None-Match
 * (else If-Modified-Since for GET and HEAD). Step 5 (If-Range) belongs to range handling.
 */
export function evaluatePreconditions(
  method: string,
  headers: { readonly [name: string]: HeaderValue },
  validators: Validators,
): PreconditionOutcome {
  const getOrHead = method === 'GET' || method === 'HEAD';
  // §13.2.2 step 1: If-Match, false -> 412.
  if (headers['if-match'] !== undefined) {
    if (!ifMatch(headers['if-match'], validators.etag)) return 'precondition-failed';
  } else if (headers['if-unmodified-since'] !== undefined) {
    // §13.2.2 step 2: If-Unmodified-Since only when If-Match is absent; false -> 412.
    if (!ifUnmodifiedSince(headers['if-unmodified-since'], validators.lastModified)) return 'precondition-failed';
  }
  // §13.2.2 step 3: If-None-Match, false -> 304 for GET/HEAD, 412 otherwise.
  if (headers['if-none-match'] !== undefined) {
    if (!ifNoneMatch(headers['if-none-match'], validators.etag)) {
      return getOrHead ? 'not-modified' : 'precondition-failed';
    }
  } else if (getOrHead && headers['if-modified-since'] !== undefined) {
    // §13.2.2 step 4: If-Modified-Since only for GET/HEAD without If-None-Match; false -> 304.
    if (!ifModifiedSince(headers['if-modified-since'], validators.lastModified)) return 'not-modified';
  }
  return 'proceed';
}

/** A field that must hold one value: a repeated field (an array, or a comma list of dates) reads as invalid. */
function singleValue(header: HeaderValue): string | undefined {
  if (header === undefined) return undefined;
  if (typeof header === 'string') return header;
  return header.length === 1 ? header[0] : '';
}

export type { EntityTag };
