/**
 * The one shape of every answer the core gives: a status, lowercase header fields and a description of
 * the body. Plans (200/206/304/412/416), refusals, misses, 405s and directory redirects all take it, so
 * that one writer sends any of them.
 */
import type { MultipartPart } from './multipart.js';
import type { ByteRange } from './range.js';

/** Response header fields, lowercase names. */
export type ResponseHeaders = Record<string, string>;

/** What a response's body is, before any byte is read. */
export type ResponseBody =
  /** No body: HEAD, 304, 412, 416, or an empty representation. */
  | { readonly type: 'none' }
  /** Bytes the core made itself (a refusal's text, a redirect's page). */
  | { readonly type: 'bytes'; readonly bytes: Uint8Array }
  /** One span of the representation (a 200 or a single-range 206). */
  | { readonly type: 'span'; readonly range: ByteRange }
  /** multipart/byteranges framing around spans of the representation (RFC 9110 §14.6). */
  | {
      readonly type: 'multipart';
      readonly boundary: string;
      readonly parts: readonly MultipartPart[];
      readonly epilogue: string;
      /** The whole body's length in bytes, when the plan computed it (it is the Content-Length). */
      readonly length?: number | undefined;
    };

/** One complete answer: status, header fields and body. */
export interface ResponseDescription {
  readonly status: number;
  readonly headers: ResponseHeaders;
  readonly body: ResponseBody;
}

/** The body of a response that has none. */
export const NO_BODY: ResponseBody = Object.freeze({ type: 'none' });

/**
 * Header fields that describe a body, and so must not survive from a handler's response onto a 304,
 * 412, 416 or other answer that has none of that body.
 */
export const CONTENT_HEADERS: readonly string[] = Object.freeze([
  'content-type',
  'content-length',
  'content-range',
  'content-encoding',
  'content-language',
  'content-disposition',
  'content-md5',
  'transfer-encoding',
  'accept-ranges',
]);

/** Whether `response` carries the bytes of a representation (a 200 or 206): otherwise a handler's content headers go. */
export function describesRepresentation(response: ResponseDescription): boolean {
  return response.status === 200 || response.status === 206;
}

/** A short plain-text answer (404, 403, 400), with no body for HEAD. */
export function textResponse(method: string, status: number, text: string): ResponseDescription {
  const bytes = Buffer.from(text, 'utf8');
  return {
    status,
    headers: {
      'content-type': 'text/plain; charset=utf-8',
      'content-length': String(bytes.byteLength),
      'x-content-type-options': 'nosniff',
    },
    body: method === 'HEAD' ? NO_BODY : { type: 'bytes', bytes },
  };
}

/** 405 for a method other than GET and HEAD on a path this server owns (RFC 9110 §15.5.6: Allow is required). */
export function methodNotAllowed(): ResponseDescription {
  return { status: 405, headers: { allow: 'GET, HEAD', 'content-length': '0' }, body: NO_BODY };
}

/**
 * The 301 for a directory requested without its slash (`/docs`, or `/docs/.` and `/docs/sub/..`, whose
 * dot segments are removed first). `originalUrl` is the request-target as received; leading slashes and
 * backslashes collapse to one slash so that `Location` stays on this host.
 */
export function directoryRedirect(method: string, originalUrl: string): ResponseDescription {
  const q = originalUrl.indexOf('?');
  const pathname = removeDotSegments(q === -1 ? originalUrl : originalUrl.slice(0, q));
  const query = q === -1 ? '' : originalUrl.slice(q);
  const slashed = pathname.endsWith('/') ? pathname : `${pathname}/`;
  // `//host` and `/\host` are network-path references to browsers; `\` is never needed in our paths.
  const safePath = `/${slashed.replace(/^[/\\]+/, '').replace(/\\/g, '%5C')}`.replace(/^\/\/+/, '/');
  const location = encodeLocation(safePath + query);
  const escaped = location.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
  const bytes = Buffer.from(
    `<!DOCTYPE html>\n<title>Moved Permanently</title>\n<p>Moved to <a href="${escaped}">${escaped}</a>.</p>\n`,
  );
  return {
    status: 301,
    headers: {
      location,
      'content-type': 'text/html; charset=utf-8',
      'content-length': String(bytes.byteLength),
      'content-security-policy': "default-src 'none'",
      'x-content-type-options': 'nosniff',
    },
    body: method === 'HEAD' ? NO_BODY : { type: 'bytes', bytes },
  };
}

/**
 * RFC 3986 §5.2.4 on a URL path as received: `.` and `..` segments (percent-encoded ones too) removed, a
 * last one leaving the slash it stands for, every other segment kept exactly as it was sent.
 */
function removeDotSegments(pathname: string): string {
  const input = pathname.split('/');
  const output: string[] = [];
  input.forEach((segment, i) => {
    const dots = segment.replace(/%2e/gi, '.');
    if (dots === '.' || dots === '..') {
      if (dots === '..' && output.length > 1) output.pop();
      if (i === input.length - 1) output.push('');
      return;
    }
    output.push(segment);
  });
  return output.join('/');
}

/** Percent-encodes what may not appear raw in a header value, leaving existing escapes alone. */
function encodeLocation(value: string): string {
  return value.replace(/%(?![0-9A-Fa-f]{2})|[^\x21-\x7e]/gu, (c) => encodeURIComponent(c));
}
