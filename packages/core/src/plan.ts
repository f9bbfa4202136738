/**
 * planResponse: the whole decision for one request against one representation, as data.
 * No I/O, no streams, no framework objects: the adapters apply the plan.
 */
import type { IncomingHttpHeaders } from 'node:http';
import compressible from 'compressible';
import { mergeVary } from './fields.js';
import { parseEntityTagList } from './etag.js';
import { formatHttpDate } from './http-date.js';
import { type MultipartPart, multipartLayout } from './multipart.js';
import { evaluatePreconditions, ifRange } from './preconditions.js';
import { type ByteRange, parseRange } from './range.js';
import type { RepresentationInfo, RepresentationMetadata } from './representation.js';
import { NO_BODY, type ResponseBody, type ResponseDescription, type ResponseHeaders } from './response.js';

/** The request as planning sees it: its method and Node's lowercase header object. */
export interface PlanRequest {
  readonly method: string;
  readonly headers: IncomingHttpHeaders;
}

/** Options for {@link planResponse}. */
export interface PlanOptions {
  /** Serve byte ranges and advertise `Accept-Ranges: bytes` (default true); false sends `Accept-Ranges: none`. */
  readonly acceptRanges?: boolean;
  /** Ranges left after merging beyond which a Range header is ignored (default 100). */
  readonly maxRanges?: number;
  /** The time of the response's `Date` in epoch ms (default `Date.now()`), for If-Range's strong-date rule. */
  readonly now?: number;
}

/** Response header fields of a plan, lowercase names. */
export type PlanHeaders = ResponseHeaders;

/** What every plan is: a response description (its body is `none` for HEAD and bodiless statuses). */
interface PlanBase extends ResponseDescription {
  readonly headers: PlanHeaders;
  readonly body: ResponseBody;
}

/** 200 with the whole representation. */
export interface FullPlan extends PlanBase {
  readonly kind: 'full';
  readonly status: 200;
  /** The whole representation as one span, or null when it is empty. */
  readonly range: ByteRange | null;
}

/** 206 with one range and a top-level `Content-Range`. */
export interface PartialPlan extends PlanBase {
  readonly kind: 'partial';
  readonly status: 206;
  readonly range: ByteRange;
}

/** 206 multipart/byteranges with two or more parts. */
export interface MultipartPlan extends PlanBase {
  readonly kind: 'multipart';
  readonly status: 206;
  readonly boundary: string;
  readonly parts: readonly MultipartPart[];
  readonly epilogue: string;
}

/** 304 Not Modified: the §15.4.5 header fields only. */
export interface NotModifiedPlan extends PlanBase {
  readonly kind: 'not-modified';
  readonly status: 304;
}

/** 412 Precondition Failed. */
export interface PreconditionFailedPlan extends PlanBase {
  readonly kind: 'precondition-failed';
  readonly status: 412;
}

/** 416 Range Not Satisfiable, with `Content-Range: bytes *\/len`. */
export interface RangeNotSatisfiablePlan extends PlanBase {
  readonly kind: 'range-not-satisfiable';
  readonly status: 416;
}

/** Everything a response is, decided before any byte is read. */
export type ResponsePlan =
  FullPlan | PartialPlan | MultipartPlan | NotModifiedPlan | PreconditionFailedPlan | RangeNotSatisfiablePlan;

/** RFC 9110 §15.4.5: the fields a 304 carries when a 200 would have had them (Date is the server's). */
export const NOT_MODIFIED_HEADERS: readonly string[] = Object.freeze([
  'etag',
  'last-modified',
  'cache-control',
  'expires',
  'vary',
  'content-location',
]);

/**
 * The 304 or 412 that the preconditions of `request` give for a representation with these validators,
 * or null when they pass. It needs no length, so it also applies to a body of unknown length.
 */
export function planConditional(
  request: PlanRequest,
  representation: RepresentationMetadata,
): NotModifiedPlan | PreconditionFailedPlan | null {
  // §13.2.2 steps 1-4: preconditions come before anything else, whatever Cache-Control says (§13.2.1).
  const outcome = evaluatePreconditions(request.method, request.headers, representation);
  if (outcome === 'not-modified') {
    return { kind: 'not-modified', status: 304, headers: notModifiedHeaders(request, representation), body: NO_BODY };
  }
  if (outcome === 'precondition-failed') {
    // A Vary of the representation (its variants, say) tells caches this answer depends on those fields too.
    const vary = representation.headers?.vary;
    const failed: PlanHeaders = vary === undefined ? { 'content-length': '0' } : { 'content-length': '0', vary };
    return { kind: 'precondition-failed', status: 412, headers: failed, body: NO_BODY };
  }
  return null;
}

/** Decides the response to `request` for `representation`: 200, 206 (single or multipart), 304, 412 or 416. */
export function planResponse(
  request: PlanRequest,
  representation: RepresentationInfo,
  options: PlanOptions = {},
): ResponsePlan {
  const { method, headers } = request;
  const size = representation.size;
  const sendBody = method !== 'HEAD';

  const conditional = planConditional(request, representation);
  if (conditional !== null) return conditional;

  const rangeable = options.acceptRanges !== false;
  const base = representationHeaders(representation, rangeable);

  // §14.2: Range applies to GET only (HEAD mirrors GET); §13.2.2 step 5: If-Range only with a Range.
  const rangeHeader = headers.range;
  if (rangeable && rangeHeader !== undefined && (method === 'GET' || method === 'HEAD')) {
    const now = options.now ?? Date.now();
    if (ifRange(headers['if-range'], representation, now)) {
      const result = parseRange(rangeHeader, size, { maxRanges: options.maxRanges });
      if (result.type === 'unsatisfiable') {
        // §15.5.17: 416 carries the current length in an unsatisfied-range Content-Range.
        return {
          kind: 'range-not-satisfiable',
          status: 416,
          headers: unsatisfiableHeaders(representation, size),
          body: NO_BODY,
        };
      }
      if (result.type === 'satisfiable') {
        const ranges = result.ranges;
        // §14.6: one range is a plain 206 with Content-Range, never multipart.
        if (ranges.length === 1) {
          const range = ranges[0] as ByteRange;
          base['content-range'] = `bytes ${range.start}-${range.end}/${size}`;
          base['cache-control'] = withNoTransform(base['cache-control']);
          base['content-length'] = String(range.end - range.start + 1);
          return {
            kind: 'partial',
            status: 206,
            headers: base,
            range,
            body: sendBody ? { type: 'span', range } : NO_BODY,
          };
        }
        // A one-shot stream can only go forwards: out-of-order or overlapping parts fall back to 200 (§14.2 MAY ignore).
        if (!representation.sequential || isAscending(ranges)) {
          // The content is scanned for the boundary as it is sent (RFC 2046 §5.1.1).
          const layout = multipartLayout(ranges, size, representation.contentType);
          delete base['content-type'];
          base['content-type'] = `multipart/byteranges; boundary=${layout.boundary}`;
          base['cache-control'] = withNoTransform(base['cache-control']);
          base['content-length'] = String(layout.length);
          return {
            kind: 'multipart',
            status: 206,
            headers: base,
            boundary: layout.boundary,
            parts: layout.parts,
            epilogue: layout.epilogue,
            body: sendBody
              ? {
                  type: 'multipart',
                  boundary: layout.boundary,
                  parts: layout.parts,
                  epilogue: layout.epilogue,
                  length: layout.length,
                }
              : NO_BODY,
          };
        }
      }
      // 'absent' cannot happen here; 'ignored' (§14.2 MAY ignore) falls through to 200.
    }
  }
  base['content-length'] = String(size);
  const range = size === 0 ? null : { start: 0, end: size - 1 };
  return {
    kind: 'full',
    status: 200,
    headers: base,
    range,
    body: sendBody && range !== null ? { type: 'span', range } : NO_BODY,
  };
}

/** The header fields of a 200 for this representation; callers add the length fields. */
function representationHeaders(representation: RepresentationInfo, rangeable: boolean): PlanHeaders {
  const headers: PlanHeaders = { 'accept-ranges': rangeable ? 'bytes' : 'none' };
  if (representation.contentType !== undefined) headers['content-type'] = representation.contentType;
  if (representation.etag !== undefined) headers.etag = representation.etag;
  if (representation.lastModified !== undefined) headers['last-modified'] = formatHttpDate(representation.lastModified);
  // RFC 9530 §3: the digest of the whole selected representation, on 200 and 206 alike.
  if (representation.sha256 !== undefined) headers['repr-digest'] = `sha-256=:${representation.sha256}:`;
  const extra = representation.headers;
  if (extra !== undefined) {
    for (const name in extra) headers[name] = extra[name] as string;
  }
  if (mayBeEncoded(representation)) headers.vary = mergeVary(headers.vary, 'Accept-Encoding');
  return headers;
}

/** §15.5.17: a 416 carries the current length in an unsatisfied-range Content-Range. */
function unsatisfiableHeaders(representation: RepresentationInfo, size: number): PlanHeaders {
  const headers: PlanHeaders = { 'content-range': `bytes */${size}`, 'content-length': '0' };
  const vary = representation.headers?.vary;
  if (vary !== undefined) headers.vary = vary;
  if (mayBeEncoded(representation)) headers.vary = mergeVary(vary, 'Accept-Encoding');
  return headers;
}

/**
 * Whether a layer that compresses on the fly (compression, koa-compress, a CDN) would encode this type:
 * then every answer for it says `Vary: Accept-Encoding`, the 200 and the 304, 206 and 416 alike, so a
 * cache keys them the same way whether or not such a layer is there (nginx's gzip_vary does the same).
 */
function mayBeEncoded(representation: RepresentationMetadata): boolean {
  const type = representation.contentType;
  return (
    type !== undefined && representation.headers?.['content-encoding'] === undefined && compressible(type) === true
  );
}

/**
 * §15.4.5: a 304 repeats the validators and caching fields a 200 would carry, nothing else. A client
 * that holds only the weak form of our strong tag got it from a layer that encoded the body on the fly:
 * its 304 names that form, so that a cache freshens the encoded response it stored (RFC 9111 §4.3.4),
 * and the `Vary: Accept-Encoding` that response carried.
 */
function notModifiedHeaders(request: PlanRequest, representation: RepresentationMetadata): PlanHeaders {
  const headers: PlanHeaders = {};
  const etag = representation.etag;
  const encodedForm = etag !== undefined && holdsOnlyWeakForm(request.headers['if-none-match'], etag);
  if (etag !== undefined) headers.etag = encodedForm ? `W/${etag}` : etag;
  if (representation.lastModified !== undefined) headers['last-modified'] = formatHttpDate(representation.lastModified);
  const extra = representation.headers;
  if (extra !== undefined) {
    for (const name of NOT_MODIFIED_HEADERS) {
      const value = extra[name];
      if (value !== undefined) headers[name] = value;
    }
  }
  if (encodedForm || mayBeEncoded(representation)) headers.vary = mergeVary(headers.vary, 'Accept-Encoding');
  return headers;
}

/** Whether `ifNoneMatch` lists `W/<etag>` for our strong `etag` but not `etag` itself. */
function holdsOnlyWeakForm(ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined || !etag.startsWith('"')) return false;
  const list = parseEntityTagList(ifNoneMatch);
  if (list?.type !== 'tags') return false;
  const same = list.tags.filter((tag) => tag.opaque === etag);
  return same.length > 0 && same.every((tag) => tag.weak);
}

/** §8.8.3 and RFC 9111 §5.2.2.6: no intermediary may transform a 206's content, or its Content-Range would lie. */
function withNoTransform(cacheControl: string | undefined): string {
  if (cacheControl === undefined || cacheControl.trim() === '') return 'no-transform';
  return /(^|,)\s*no-transform\s*(,|$)/i.test(cacheControl) ? cacheControl : `${cacheControl}, no-transform`;
}

function isAscending(ranges: readonly ByteRange[]): boolean {
  for (let i = 1; i < ranges.length; i++) {
    if ((ranges[i] as ByteRange).start <= (ranges[i - 1] as ByteRange).end) return false;
  }
  return true;
}
