/**
 * What every framework adapter does the same way, whatever its request and response objects:
 * reading `rangeServe`'s arguments, preparing `sendRange`'s representation, calling `setHeaders`,
 * and reading a later handler's response headers into representation metadata.
 */
import { fstat, type Stats } from 'node:fs';
import { parseHttpDate } from './http-date.js';
import {
  contentTypeFor,
  type NormalizedOptions,
  normalizeOptions,
  optionHeaders,
  type RangeServeOptions,
  withHeaderOverrides,
} from './options.js';
import type { Representation, RepresentationMetadata } from './representation.js';

/** Reads one response header field by its lowercase name, as `res.getHeader` or Koa's `ctx.response.get` do. */
export type HeaderGetter = (name: string) => number | string | readonly string[] | undefined;

/** `rangeServe(root?, options?)`'s arguments, validated: a TypeError for a bad root or option. */
export function serveArguments<Res>(
  rootOrOptions: string | RangeServeOptions<Res> | undefined,
  maybeOptions: RangeServeOptions<Res> | undefined,
): { readonly root: string | undefined; readonly options: NormalizedOptions<Res> } {
  const root = typeof rootOrOptions === 'string' ? rootOrOptions : undefined;
  if (root === undefined && maybeOptions !== undefined) throw new TypeError('root must be a string');
  const options = normalizeOptions<Res>(root === undefined ? (rootOrOptions as RangeServeOptions<Res>) : maybeOptions);
  return { root, options };
}

/**
 * The URL path a static lookup gets under a mount: `path` as the framework stripped it, or '' for the
 * mount point asked for without its slash (so that a directory there is redirected to the slash).
 */
export function mountedPath(path: string, originalUrl: string): string {
  const original = originalUrl.split('?', 1)[0] as string;
  return path === '/' && !original.endsWith('/') ? '' : path;
}

/** `sendRange`'s representation: a file's type from its name, and the option headers (Cache-Control only on request). */
export function sendRangeRepresentation<Res>(
  representation: Representation,
  options: NormalizedOptions<Res>,
): Representation {
  const path = representation.kind === 'file' ? representation.path : undefined;
  return {
    ...representation,
    contentType: representation.contentType ?? (path === undefined ? undefined : contentTypeFor(path)),
    headers: { ...optionHeaders(options, path, false), ...representation.headers },
  };
}

/**
 * Calls the `setHeaders` option for a file, then takes over the header fields it set on the response
 * (they win over ours); other representations are returned as they are.
 */
export async function applySetHeaders<Res>(
  representation: Representation,
  options: NormalizedOptions<Res>,
  res: Res,
  getHeader: HeaderGetter,
): Promise<Representation> {
  if (options.setHeaders === undefined || representation.kind !== 'file') return representation;
  const fd = representation.fd;
  const stat = await new Promise<Stats>((resolve, reject) => fstat(fd, (err, s) => (err ? reject(err) : resolve(s))));
  options.setHeaders(res, representation.path, stat);
  return withHeaderOverrides(representation, getHeader);
}

/** A `Content-Length` value as a safe integer, or undefined when it is absent or not plain digits. */
export function declaredLength(value: unknown): number | undefined {
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/**
 * Whether a later handler's response may be planned: a 200 whose bytes are not already a range
 * and are not framed by a transfer coding of their own.
 */
export function isPlannableResponse(status: number, getHeader: HeaderGetter): boolean {
  return status === 200 && getHeader('content-range') === undefined && getHeader('transfer-encoding') === undefined;
}

/** A later handler's `Content-Type`, `ETag` and `Last-Modified` as representation metadata (absent ones undefined). */
export function responseMetadata(getHeader: HeaderGetter): {
  readonly contentType: string | undefined;
  readonly etag: string | undefined;
  readonly lastModified: number | undefined;
} & RepresentationMetadata {
  const text = (name: string): string | undefined => {
    const value = getHeader(name);
    return typeof value === 'string' && value !== '' ? value : undefined;
  };
  const modified = text('last-modified');
  return {
    contentType: text('content-type'),
    etag: text('etag'),
    lastModified: modified === undefined ? undefined : parseHttpDate(modified),
  };
}
