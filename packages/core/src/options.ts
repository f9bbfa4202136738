/**
 * The one options interface of the framework adapters, validated once when the middleware is made,
 * and the representation headers that follow from it (Cache-Control, Content-Type, Content-Disposition).
 */
import type { Stats } from 'node:fs';
import type { ServerResponse } from 'node:http';
import contentDisposition from 'content-disposition';
import mime from 'mime-types';
import ms from 'ms';
import { PRECOMPRESSED_CODINGS, type PrecompressedCoding } from './accept-encoding.js';
import { parseHttpDate } from './http-date.js';
import { unknownOptionError } from './option-names.js';
import { DEFAULT_MAX_RANGES } from './range.js';
import type { Representation } from './representation.js';

/** What to do with a path segment that starts with a dot. */
export type DotfilesPolicy = 'ignore' | 'allow' | 'deny';

/**
 * Options of `sendRange()`: those that apply to a representation a route chose. Each one given is
 * honoured for every representation it can apply to and refused (a `TypeError` at the call) for one it
 * cannot, so that no option is ever silently ignored. Shared by the Express, Koa and fetch adapters;
 * `Res` is the response object handed to {@link SendRangeOptions.setHeaders}.
 */
export interface SendRangeOptions<Res = ServerResponse> {
  /** Serve byte ranges and send `Accept-Ranges: bytes` (default `true`); `false` sends whole bodies with `Accept-Ranges: none`. */
  acceptRanges?: boolean;
  /** Ranges left after merging beyond which a `Range` header is ignored and the whole body sent (default `100`). */
  maxRanges?: number;
  /**
   * Entity-tags: `'strong'` (a file's size and mtime), `'weak'`, `'digest'` (a strong ETag from the SHA-256
   * of the content, computed once per file version, also sent as `Repr-Digest`) or `false` for none.
   * Default `'strong'` for directory serving. With `sendRange` it replaces the tag the representation
   * came with only when given: a file's is made again from its descriptor; for other representations
   * `'weak'` sends the weak form of theirs, `'strong'` keeps theirs, `'digest'` hashes in-memory bytes or
   * uses a `sha256` the representation declares (a stream without one is a `TypeError`).
   */
  etag?: 'strong' | 'weak' | 'digest' | false;
  /**
   * Compute the SHA-256 when a request asks with `Want-Repr-Digest: sha-256=…` (RFC 9530 §4) and send
   * `Repr-Digest` (default `false`): for files, and with `sendRange` for in-memory bytes too; any other
   * representation sends it only when it declares its `sha256`.
   */
  wantReprDigest?: boolean;
  /**
   * Send `Last-Modified` from the file's modification time (default `true` for directory serving). With
   * `sendRange`, `false` removes the representation's `Last-Modified` and `true` makes a file's from its
   * descriptor; not given, the representation's own stays.
   */
  lastModified?: boolean;
  /** Freshness lifetime for `Cache-Control: public, max-age`: milliseconds, or a duration string such as `'1d'` (default `0`, capped at one year). */
  maxAge?: number | string;
  /** Add `immutable` to `Cache-Control` (default `false`). */
  immutable?: boolean;
  /**
   * Send a caching policy (`public, max-age=…`, `immutable`) in `Cache-Control` (default `true` for
   * directory serving; `sendRange` sends one only when `maxAge` or `immutable` is given, so that an
   * answer sent after authentication is never marked `public` by default). `false` sends none; a 206
   * still carries `Cache-Control: no-transform` whatever this says (RFC 9111 §5.2.2.6: no intermediary
   * may re-encode the bytes its `Content-Range` describes).
   */
  cacheControl?: boolean;
  /**
   * Called with the path and `fs.Stats` of the file about to be sent (a precompressed variant's when one
   * is sent), before its response is planned; headers it sets win over ours. With `sendRange` only for a
   * file representation: set headers on the response yourself for others.
   */
  setHeaders?: (res: Res, path: string, stat: Stats) => void;
  /**
   * Send `Content-Disposition: attachment`: `true` names the file by its own name (with `sendRange`, a
   * representation without a path needs a string), a string gives the name (default `false`).
   */
  download?: boolean | string;
  /**
   * Serve precompressed variants beside a file (`name.br`, `name.zst`, `name.gz`) to clients whose
   * `Accept-Encoding` prefers them: `true` is `['br', 'zstd', 'gzip']`, a list gives the codings and the
   * server's order for ties (default `false`). With `sendRange`, for a file representation (`openFile`):
   * its variants are looked for beside it, as `openVariant` does; any other representation is a `TypeError`.
   */
  precompressed?: boolean | readonly PrecompressedCoding[];
}

/**
 * Options of `rangeServe()`: everything {@link SendRangeOptions} has, and what only serving a directory
 * needs (which paths are files, and what a miss does). Shared by the Express and Koa adapters.
 */
export interface RangeServeOptions<Res = ServerResponse> extends SendRangeOptions<Res> {
  /** Paths with a segment starting with `.`: `'ignore'` acts as missing (default), `'deny'` answers 403, `'allow'` serves them. */
  dotfiles?: DotfilesPolicy;
  /** File names tried in order for a directory request (default `['index.html']`); `false` for none. */
  index?: string | readonly string[] | false;
  /** Extensions tried, in order, when a file is missing, without the dot, e.g. `['html']` (default `false`). */
  extensions?: readonly string[] | false;
  /** A missing file goes to the next handler (default `true`); `false` answers 404 (and 405 for other methods). */
  fallthrough?: boolean;
  /** Redirect a directory requested without its trailing slash to the path with one, 301 (default `true`). */
  redirect?: boolean;
}

/** {@link RangeServeOptions} after validation, with every default filled in. */
export interface NormalizedOptions<Res = ServerResponse> {
  readonly acceptRanges: boolean;
  readonly maxRanges: number;
  readonly etag: 'strong' | 'weak' | 'digest' | false;
  readonly wantReprDigest: boolean;
  readonly lastModified: boolean;
  /** Milliseconds, within [0, one year]. */
  readonly maxAge: number;
  readonly immutable: boolean;
  /** The `Cache-Control` value for files, or undefined for none. */
  readonly cacheControl: string | undefined;
  /** True when the caller gave `maxAge` or `immutable` (sendRange adds Cache-Control only then). */
  readonly cacheControlRequested: boolean;
  readonly dotfiles: DotfilesPolicy;
  readonly index: readonly string[];
  readonly extensions: readonly string[];
  readonly fallthrough: boolean;
  readonly redirect: boolean;
  readonly setHeaders: ((res: Res, path: string, stat: Stats) => void) | undefined;
  readonly download: boolean | string;
  /** The precompressed codings in the server's order of preference; empty for none. */
  readonly precompressed: readonly PrecompressedCoding[];
}

/**
 * {@link SendRangeOptions} after validation. `etag` and `lastModified` are undefined when not given:
 * the representation's own validators then stay.
 */
export interface NormalizedSendRangeOptions<Res = ServerResponse> {
  readonly acceptRanges: boolean;
  readonly maxRanges: number;
  readonly etag: 'strong' | 'weak' | 'digest' | false | undefined;
  readonly wantReprDigest: boolean;
  readonly lastModified: boolean | undefined;
  /** The `Cache-Control` value, or undefined unless `maxAge` or `immutable` asked for one. */
  readonly cacheControl: string | undefined;
  readonly setHeaders: ((res: Res, path: string, stat: Stats) => void) | undefined;
  readonly download: boolean | string;
  /** The precompressed codings in the server's order of preference; empty for none. */
  readonly precompressed: readonly PrecompressedCoding[];
}

/** One year in milliseconds, the largest `max-age` sent (RFC 9111 leaves larger values to caches' discretion). */
export const MAX_MAX_AGE = 365 * 24 * 60 * 60 * 1000;

/** The names {@link SendRangeOptions} has. */
const SEND_RANGE_KEYS: ReadonlySet<string> = new Set([
  'acceptRanges',
  'maxRanges',
  'etag',
  'wantReprDigest',
  'lastModified',
  'maxAge',
  'immutable',
  'cacheControl',
  'setHeaders',
  'download',
  'precompressed',
]);

/** The names only {@link RangeServeOptions} has: they decide which path is a file, which sendRange never does. */
const DIRECTORY_KEYS: ReadonlySet<string> = new Set(['dotfiles', 'index', 'extensions', 'fallthrough', 'redirect']);

const RANGE_SERVE_KEYS: ReadonlySet<string> = new Set([...SEND_RANGE_KEYS, ...DIRECTORY_KEYS]);

function checkObject(options: unknown): void {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`options must be an object, got ${describeValue(options)}`);
  }
}

/** A short description of a value for an error message: its type, and the value itself when it is small. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
    case 'number':
    case 'boolean':
    case 'bigint':
      return `${typeof value} ${String(value)}`;
    case 'undefined':
      return 'undefined';
    case 'function':
      return 'a function';
    default:
      return value instanceof URL ? 'a URL' : typeof value;
  }
}

/** The options every adapter shares, validated. */
function commonOptions<Res>(o: SendRangeOptions<Res>) {
  const maxRanges = o.maxRanges ?? DEFAULT_MAX_RANGES;
  if (!Number.isSafeInteger(maxRanges) || maxRanges < 1) throw new TypeError('maxRanges must be an integer >= 1');
  const etag = o.etag;
  if (etag !== undefined && etag !== 'strong' && etag !== 'weak' && etag !== 'digest' && etag !== false)
    throw new TypeError("etag must be 'strong', 'weak', 'digest' or false");
  const maxAge = parseMaxAge(o.maxAge ?? 0);
  const immutable = bool(o.immutable, false, 'immutable');
  const cacheControl = bool(o.cacheControl, true, 'cacheControl');
  if (o.setHeaders !== undefined && typeof o.setHeaders !== 'function') {
    throw new TypeError('setHeaders must be a function');
  }
  const download = o.download ?? false;
  if (typeof download !== 'boolean' && (typeof download !== 'string' || download === '')) {
    throw new TypeError('download must be a boolean or a non-empty file name');
  }
  return {
    acceptRanges: bool(o.acceptRanges, true, 'acceptRanges'),
    maxRanges,
    etag,
    wantReprDigest: bool(o.wantReprDigest, false, 'wantReprDigest'),
    lastModified: o.lastModified === undefined ? undefined : bool(o.lastModified, true, 'lastModified'),
    maxAge,
    immutable,
    cacheControl: cacheControl ? cacheControlValue(maxAge, immutable) : undefined,
    cacheControlRequested: cacheControl && (o.maxAge !== undefined || o.immutable !== undefined),
    setHeaders: o.setHeaders,
    download,
    precompressed: precompressedCodings(o.precompressed ?? false),
  };
}

/** Validates `rangeServe`'s options once and fills in the defaults; throws a `TypeError` naming the first bad option. */
export function normalizeOptions<Res = ServerResponse>(options: RangeServeOptions<Res> = {}): NormalizedOptions<Res> {
  checkObject(options);
  for (const key of Object.keys(options)) {
    if (!RANGE_SERVE_KEYS.has(key)) throw unknownOptionError(key, RANGE_SERVE_KEYS);
  }
  const o = options;
  const common = commonOptions(o);
  const dotfiles = o.dotfiles ?? 'ignore';
  if (dotfiles !== 'ignore' && dotfiles !== 'allow' && dotfiles !== 'deny') {
    throw new TypeError("dotfiles must be 'ignore', 'allow' or 'deny'");
  }
  return {
    ...common,
    etag: common.etag ?? 'strong',
    lastModified: common.lastModified ?? true,
    dotfiles,
    index: fileNames(o.index ?? ['index.html'], 'index'),
    extensions: fileNames(o.extensions ?? false, 'extensions').map((ext) => ext.replace(/^\./, '')),
    fallthrough: bool(o.fallthrough, true, 'fallthrough'),
    redirect: bool(o.redirect, true, 'redirect'),
  };
}

/**
 * Validates `sendRange`'s options; throws a `TypeError` naming the first bad option, and for an option
 * of directory serving (`dotfiles`, `index`, `extensions`, `fallthrough`, `redirect`) saying so.
 */
export function normalizeSendRangeOptions<Res = ServerResponse>(
  options: SendRangeOptions<Res> = {},
): NormalizedSendRangeOptions<Res> {
  checkObject(options);
  for (const key of Object.keys(options)) {
    if (DIRECTORY_KEYS.has(key)) {
      throw new TypeError(
        `sendRange does not take ${JSON.stringify(key)}: it belongs to directory serving, rangeServe(root), and the route has already chosen what to send`,
      );
    }
    if (!SEND_RANGE_KEYS.has(key)) throw unknownOptionError(key, SEND_RANGE_KEYS);
  }
  const common = commonOptions(options);
  return {
    acceptRanges: common.acceptRanges,
    maxRanges: common.maxRanges,
    etag: common.etag,
    wantReprDigest: common.wantReprDigest,
    lastModified: common.lastModified,
    cacheControl: common.cacheControlRequested ? common.cacheControl : undefined,
    setHeaders: common.setHeaders,
    download: common.download,
    precompressed: common.precompressed,
  };
}

const ALL_CODINGS: readonly PrecompressedCoding[] = Object.freeze(['br', 'zstd', 'gzip']);

function precompressedCodings(value: boolean | readonly PrecompressedCoding[]): readonly PrecompressedCoding[] {
  if (value === false) return Object.freeze([]);
  if (value === true) return ALL_CODINGS;
  const message = "precompressed must be a boolean or a list of 'br', 'zstd' and 'gzip'";
  if (!Array.isArray(value)) throw new TypeError(message);
  const list = value as readonly unknown[];
  for (const [i, coding] of list.entries()) {
    if (typeof coding !== 'string' || !Object.hasOwn(PRECOMPRESSED_CODINGS, coding) || list.indexOf(coding) !== i) {
      throw new TypeError(`${message}, each once: ${JSON.stringify(coding)}`);
    }
  }
  return Object.freeze([...(list as PrecompressedCoding[])]);
}

function bool(value: boolean | undefined, fallback: boolean, name: string): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new TypeError(`${name} must be a boolean`);
  return value;
}

function fileNames(value: string | readonly string[] | false, name: string): readonly string[] {
  if (value === false) return [];
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list)) throw new TypeError(`${name} must be a file name, a list of them, or false`);
  for (const item of list) {
    if (typeof item !== 'string' || item === '' || /[/\\\0]/.test(item)) {
      throw new TypeError(`${name} entries must be plain file names: ${JSON.stringify(item)}`);
    }
  }
  return Object.freeze([...list]);
}

/**
 * A `maxAge` as serve-static takes it: a number of milliseconds, or a string in the `ms` package's
 * syntax (`'1d'`, `'2 hours'`, `'500'`); negative values count as 0 and anything over one year as one year.
 */
export function parseMaxAge(value: number | string): number {
  let millis: number | undefined;
  if (typeof value === 'number') {
    millis = value;
  } else if (typeof value === 'string') {
    try {
      millis = ms(value as ms.StringValue);
    } catch {
      millis = undefined;
    }
  }
  if (typeof millis !== 'number' || Number.isNaN(millis)) {
    throw new TypeError(`maxAge must be milliseconds or a duration such as '1d': ${JSON.stringify(value)}`);
  }
  return Math.min(Math.max(0, millis), MAX_MAX_AGE);
}

/** The `Cache-Control` value for a freshness lifetime in milliseconds (whole seconds, rounded down). */
export function cacheControlValue(maxAge: number, immutable: boolean): string {
  return `public, max-age=${Math.floor(maxAge / 1000)}${immutable ? ', immutable' : ''}`;
}

/** The `Content-Type` for a file name: its MIME type with a charset for text types, else `application/octet-stream`. */
export function contentTypeFor(fileName: string): string {
  const name = fileName.slice(fileName.lastIndexOf('/') + 1);
  // mime-types goes by the extension alone (case-insensitive), so the answer is kept per extension.
  const key = name.slice(name.lastIndexOf('.') + 1).toLowerCase();
  let type = contentTypes.get(key);
  if (type === undefined) {
    if (contentTypes.size >= CONTENT_TYPES_MAX) contentTypes.clear();
    type = mime.contentType(name) || 'application/octet-stream';
    contentTypes.set(key, type);
  }
  return type;
}

const CONTENT_TYPES_MAX = 1024;
const contentTypes = new Map<string, string>();

/** `Content-Disposition: attachment` naming `fileName`, with RFC 6266 `filename*` when it is not plain ASCII. */
export function attachmentDisposition(fileName: string): string {
  // An ASCII fallback for old clients; any non-ASCII name then also gets `filename*` (UTF-8).
  const fallback = fileName
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^\x20-\x7e]/g, '_');
  return contentDisposition(fileName, { type: 'attachment', fallback });
}

/**
 * The representation headers the options give a file (Cache-Control, Content-Disposition);
 * `forFileServing` false applies sendRange's rule that Cache-Control is sent only on request.
 */
export function optionHeaders(
  options: Pick<NormalizedOptions<unknown>, 'cacheControl' | 'cacheControlRequested' | 'download'>,
  fileName: string | undefined,
  forFileServing: boolean,
): Record<string, string> {
  const headers: Record<string, string> = {};
  if (options.cacheControl !== undefined && (forFileServing || options.cacheControlRequested)) {
    headers['cache-control'] = options.cacheControl;
  }
  if (options.download !== false) {
    const name = typeof options.download === 'string' ? options.download : fileName;
    if (name !== undefined) headers['content-disposition'] = attachmentDisposition(baseName(name));
  }
  return headers;
}

function baseName(path: string): string {
  return path.slice(Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\')) + 1);
}

/** The header fields a response object may already hold that override a representation's. */
export const OVERRIDABLE_HEADERS: readonly string[] = Object.freeze([
  'content-type',
  'etag',
  'last-modified',
  'cache-control',
  'expires',
  'content-disposition',
  'content-location',
  'vary',
]);

/**
 * A copy of `representation` with the header fields that `getHeader` (a response after `setHeaders`)
 * holds taken over: they win over ours, and validators set there are the ones preconditions use.
 */
export function withHeaderOverrides<R extends Representation>(
  representation: R,
  getHeader: (name: string) => number | string | readonly string[] | undefined,
): R {
  let changed = false;
  let contentType = representation.contentType;
  let etag = representation.etag;
  let lastModified = representation.lastModified;
  const headers: Record<string, string> = { ...representation.headers };
  for (const name of OVERRIDABLE_HEADERS) {
    const raw = getHeader(name);
    if (raw === undefined) continue;
    const value = Array.isArray(raw) ? raw.join(', ') : String(raw);
    changed = true;
    if (name === 'content-type') contentType = value;
    else if (name === 'etag') etag = value;
    else if (name === 'last-modified') lastModified = parseHttpDate(value);
    else headers[name] = value;
  }
  return changed ? { ...representation, contentType, etag, lastModified, headers } : representation;
}
