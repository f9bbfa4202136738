/**
 * Content codings applied by another layer (compression, koa-compress, or any middleware that sets
 * `Content-Encoding` on the fly, before or after range-serve). The encoded bytes are not the
 * representation's bytes, so they never carry its strong entity-tag (RFC 9110 §8.8.3.3: a strong tag
 * changes with every change of the bytes sent, coding included): the tag is made weak, as nginx does
 * for gzip on the fly, and `Vary: Accept-Encoding` is merged in (§12.5.5). `If-Range` with that weak
 * tag then never selects identity bytes (§13.1.5), while `If-None-Match` still matches it (weak
 * comparison, §13.1.2). A `Repr-Digest` of the identity bytes no longer describes what is sent, so it goes.
 */
import { ServerResponse } from 'node:http';
import { mergeVary } from './fields.js';

const guarded = new WeakSet<ServerResponse>();
/** The coding of the bytes range-serve itself wrote on a response ('' for identity). */
const ownCoding = new WeakMap<ServerResponse, string>();

/**
 * Records that range-serve writes `response` on `res`: its bytes carry the coding named by the
 * response (or already on `res`, as for a body its handler encoded), and their validators are theirs.
 * Only a coding another layer adds after this is one the guard answers for.
 */
export function claimContentCoding(res: ServerResponse, headers: Readonly<Record<string, string>>): void {
  ownCoding.set(res, codingOf(headers['content-encoding'] ?? res.getHeader('content-encoding')));
}

function codingOf(value: unknown): string {
  if (value === undefined || value === null) return '';
  const text = (Array.isArray(value) ? value.join(',') : String(value)).trim().toLowerCase();
  return text === 'identity' ? '' : text;
}

/**
 * Watches `res` for a content coding set by any layer: from then on a strong `ETag` on it is made weak
 * and `Vary` names `Accept-Encoding`. Installed once per response (later calls do nothing), by wrapping
 * `setHeader` as `on-headers` wraps `writeHead`. `onUnvalidated`, when given, is called when such a
 * coding is set on a response that carries no ETag, so that an adapter can note the body as it stands
 * (koa-compress behind range-serve is about to replace it with an encoded stream) and validate the
 * encoded answer later.
 */
export function guardContentCodings(res: ServerResponse, onUnvalidated?: () => void): void {
  if (guarded.has(res)) return;
  guarded.add(res);
  const setHeader = res.setHeader;
  const set = (name: string, value: string): void => {
    Reflect.apply(setHeader, res, [name, value]);
  };
  res.setHeader = function setHeaderWatched(this: ServerResponse, name: string, value: unknown) {
    const result = Reflect.apply(setHeader, this, [name, value]) as ServerResponse;
    // Only these two fields can pair a coding with a strong tag; every other call costs one comparison.
    const lower = name.length === 4 || name.length === 16 ? name.toLowerCase() : '';
    if (lower !== 'content-encoding' && lower !== 'etag') return result;
    const coding = codingOf(res.getHeader('content-encoding'));
    if (coding !== '' && coding !== ownCoding.get(res)) {
      const etag = res.getHeader('etag');
      if (typeof etag === 'string' && etag.startsWith('"')) set('etag', `W/${etag}`);
      else if (etag === undefined) onUnvalidated?.();
      // RFC 9530 §3: Repr-Digest covers the representation's bytes as sent, content coding included.
      res.removeHeader('repr-digest');
      const vary = res.getHeader('vary');
      const merged = mergeVary(vary === undefined ? undefined : String(vary), 'Accept-Encoding');
      if (merged !== vary) set('vary', merged);
    }
    return result;
  } as ServerResponse['setHeader'];
}

/**
 * {@link guardContentCodings} for a response range-serve writes through its own methods (directory serving,
 * `sendRange`, a finished upload's download, plain `node:http`): only a layer in front can then add a
 * coding, and it can do so only through a `writeHead`, `write` or `end` it wrapped (compression's
 * `on-headers`), so a response with Node's own three is left unwatched.
 */
export function guardAnsweredResponse(res: ServerResponse): void {
  const own = ServerResponse.prototype;
  if (res.writeHead !== own.writeHead || res.write !== own.write || res.end !== own.end) guardContentCodings(res);
}
