/**
 * planResponse: the whole decision for one request against one representation, as data.
 * No I/O, no streams, no framework objects: the adapters apply the plan.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { formatHttpDate } from './http-date.js';
import { type MultipartPart, multipartLayout } from './multipart.js';
import { evaluatePreconditions, ifRange } from './preconditions.js';
import { type ByteRange, parseRange } from './range.js';
import type { RepresentationInfo } from './representation.js';

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
export type PlanHeaders = Record<string, string>;

interface PlanBase {
  readonly status: number;
  readonly headers: PlanHeaders;
  /** False for HEAD and for statuses without content: send the headers only. */
  readonly sendBody: boolean;
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
export const NOT_MODIFIED_HEADERS: readonly string[] = [
  'etag',
  'last-modified',
  'cache-control',
  'expires',
  'vary',
  'content-location',
];

/**
 * Header fields that describe a body and so must not survive onto a 304, 412 or 416 that an adapter
 * builds on a response object already holding a handler's headers.
 */
export const CONTENT_HEADERS: readonly string[] = [
  'content-type',
  'content-length',
  'content-range',
  'content-encoding',
  'content-language',
  'content-disposition',
  'content-md5',
  'transfer-encoding',
  'accept-ranges',
];

/** Decides the response to `request` for `representation`: 200, 206 (single or multipart), 304, 412 or 416. */
export function planResponse(
  request: PlanRequest,
  representation: RepresentationInfo,
  options: PlanOptions = {},
): ResponsePlan {
  const { method, headers } = request;
  const size = representation.size;
  const sendBody = method !== 'HEAD';

  // §13.2.2 steps 1-4: preconditions come before anything else, whatever Cache-Control says (§13.2.1).
  const outcome = evaluatePreconditions(method, headers, representation);
  if (outcome === 'not-modified') {
    return { kind: 'not-modified', status: 304, headers: notModifiedHeaders(representation), sendBody: false };
  }
  if (outcome === 'precondition-failed') {
    return { kind: 'precondition-failed', status: 412, headers: { 'content-length': '0' }, sendBody: false };
  }

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
          headers: { 'content-range': `bytes */${size}`, 'content-length': '0' },
          sendBody: false,
        };
      }
      if (result.type === 'satisfiable') {
        const ranges = result.ranges;
        // §14.6: one range is a plain 206 with Content-Range, never multipart.
        if (ranges.length === 1) {
          const range = ranges[0] as ByteRange;
          base['content-range'] = `bytes ${range.start}-${range.end}/${size}`;
          base['content-length'] = String(range.end - range.start + 1);
          return { kind: 'partial', status: 206, headers: base, range, sendBody };
        }
        // A one-shot stream can only go forwards: out-of-order or overlapping parts fall back to 200 (§14.2 MAY ignore).
        if (!representation.sequential || isAscending(ranges)) {
          const bytes = 'bytes' in representation ? (representation.bytes as Uint8Array) : undefined;
          const layout = multipartLayout(ranges, size, representation.contentType, (candidate) =>
            bytes === undefined ? false : ranges.some((r) => containsAscii(bytes, candidate, r)),
          );
          delete base['content-type'];
          base['content-type'] = `multipart/byteranges; boundary=${layout.boundary}`;
          base['content-length'] = String(layout.length);
          return {
            kind: 'multipart',
            status: 206,
            headers: base,
            boundary: layout.boundary,
            parts: layout.parts,
            epilogue: layout.epilogue,
            sendBody,
          };
        }
      }
      // 'absent' cannot happen here; 'ignored' (§14.2 MAY ignore) falls through to 200.
    }
  }
  base['content-length'] = String(size);
  return { kind: 'full', status: 200, headers: base, range: size === 0 ? null : { start: 0, end: size - 1 }, sendBody };
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
  return headers;
}

/** §15.4.5: a 304 repeats the validators and caching fields a 200 would carry, nothing else. */
function notModifiedHeaders(representation: RepresentationInfo): PlanHeaders {
  const headers: PlanHeaders = {};
  if (representation.etag !== undefined) headers.etag = representation.etag;
  if (representation.lastModified !== undefined) headers['last-modified'] = formatHttpDate(representation.lastModified);
  const extra = representation.headers;
  if (extra !== undefined) {
    for (const name of NOT_MODIFIED_HEADERS) {
      const value = extra[name];
      if (value !== undefined) headers[name] = value;
    }
  }
  return headers;
}

function isAscending(ranges: readonly ByteRange[]): boolean {
  for (let i = 1; i < ranges.length; i++) {
    if ((ranges[i] as ByteRange).start <= (ranges[i - 1] as ByteRange).end) return false;
  }
  return true;
}

function containsAscii(bytes: Uint8Array, needle: string, range: ByteRange): boolean {
  return Buffer.from(bytes.buffer, bytes.byteOffset + range.start, range.end - range.start + 1).includes(
    needle,
    0,
    'latin1',
  );
}
