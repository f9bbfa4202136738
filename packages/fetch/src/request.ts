/**
 * A Web-standard `Request` as the core reads one. The path is cut from `request.url` as the host wrote it,
 * never parsed again: what the host did to the request-target (Bun and @hono/node-server resolve dot
 * segments, Deno passes it as received) stays done, and the core's containment rules apply to what arrived.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { ServeRequest } from '@range-serve/core/adapter';

/** The method and header fields of a request, as the core plans with them. */
export interface PlanningRequest {
  readonly method: string;
  readonly headers: IncomingHttpHeaders;
}

/** The header fields of `request` as a record of lowercase names (repeated fields joined by `, `). */
export function headersOf(request: Request): IncomingHttpHeaders {
  const headers: IncomingHttpHeaders = {};
  request.headers.forEach((value, name) => {
    headers[name] = value;
  });
  return headers;
}

/** The method and header fields of `request`. */
export function planningRequest(request: Request): PlanningRequest {
  return { method: request.method, headers: headersOf(request) };
}

/** The request-target in `url` (`/path?query`): everything after the authority, without a fragment. */
export function requestTarget(url: string): string {
  const scheme = url.indexOf('://');
  const slash = url.indexOf('/', scheme === -1 ? 0 : scheme + 3);
  if (slash === -1) return '/';
  const hash = url.indexOf('#', slash);
  return hash === -1 ? url.slice(slash) : url.slice(slash, hash);
}

/**
 * `request` as the core's static lookup reads it, the path taken under `mount` (a normalised mount path,
 * '' for none), or null when the path is not under it. The mount point itself is path '/' with a
 * request-target lacking the slash, which the core redirects to the slash.
 */
export function serveRequest(request: Request, mount: string): ServeRequest | null {
  const originalUrl = requestTarget(request.url);
  const query = originalUrl.indexOf('?');
  const full = query === -1 ? originalUrl : originalUrl.slice(0, query);
  let path = full;
  if (mount !== '') {
    if (!full.startsWith(mount)) return null;
    if (full.length === mount.length) path = '/';
    else if (full.charCodeAt(mount.length) === 0x2f) path = full.slice(mount.length);
    else return null;
  }
  return { method: request.method, path, originalUrl, headers: headersOf(request) };
}

/** A mount path as a router gives it (`'/static'`, `'/static/'`, `''`, `'/'`, or none), without trailing slashes. */
export function mountPath(prefix: string | undefined): string {
  if (prefix === undefined || prefix === '' || prefix === '/') return '';
  if (typeof prefix !== 'string' || prefix.charCodeAt(0) !== 0x2f) {
    throw new TypeError(`prefix must be a path starting with '/': ${JSON.stringify(prefix)}`);
  }
  let end = prefix.length;
  while (end > 1 && prefix.charCodeAt(end - 1) === 0x2f) end--;
  return end === 1 ? '' : prefix.slice(0, end);
}
