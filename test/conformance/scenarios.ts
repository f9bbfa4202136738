/**
 * What each adapter factory must build, framework by framework: the named route scenarios and the
 * bodies they send. Every route is mounted at `/r/<name>`.
 */
import { gzipSync } from 'node:zlib';
import type { RangeServeOptions, Representation, SendRangeOptions } from '@range-serve/core';

/** The bytes most scenarios send. */
export const BODY = Buffer.from('The quick brown fox jumps over the lazy dog. 0123456789');
/** The string the `string` scenario sends. */
export const TEXT = 'Résumé: text sent as a string, UTF-8 encoded.';
/** The object the `json` scenario serialises. */
export const JSON_BODY = { name: 'range-serve', ranges: [1, 2, 3] };
/** BODY gzip-encoded, as the `gzip-encoded` scenario sends it. */
export const GZIP_BODY = gzipSync(BODY);
/** The ETag and Last-Modified the `own-etag` scenario sets itself. */
export const OWN_ETAG = '"own-v1"';
export const OWN_LAST_MODIFIED = 'Tue, 01 Jan 2030 00:00:00 GMT';
/** The download name the `send-range-download` scenario asks for. */
export const DOWNLOAD_NAME = 'naïve report.txt';

/**
 * Route scenarios, each at `/r/<name>`:
 * - `buffer`: sends BODY as a Buffer with `Content-Type: application/octet-stream` (`res.send` / `ctx.body = buffer`).
 * - `string`: sends TEXT as a string (`res.send` / `ctx.body = string`).
 * - `json`: sends JSON_BODY as JSON (`res.json` / `ctx.body = object`).
 * - `end-chunk`: sets the `Content-Type: text/plain` header itself and sends BODY in one piece
 *   (`res.end(BODY)`; Koa, which has no raw end that it still sees, `ctx.set(...)` then `ctx.body = BODY`).
 * - `chunked-with-length`: sets `Content-Length` and writes BODY in three chunks on separate ticks, then ends
 *   (Koa: a stream of those chunks as `ctx.body`, with `ctx.length`).
 * - `gzip-encoded`: a body the handler encoded itself: `Content-Encoding: gzip`, `Content-Type: text/plain`,
 *   and GZIP_BODY as a Buffer.
 * - `own-etag`: sets ETag OWN_ETAG and Last-Modified OWN_LAST_MODIFIED, then sends BODY.
 * - `not-200`: sends BODY with status 201.
 * - `unknown-length`: writes BODY in two chunks without `Content-Length` (Koa: a stream body without `ctx.length`).
 * - `has-content-range`: status 200 with its own `Content-Range: bytes 0-3/10` and the 4 bytes `abcd`.
 * - `send-range-file`: `sendRange` with `openFile(<root>/hello.txt)`.
 * - `send-range-bytes`: `sendRange` with `bytesRepresentation(BODY, { contentType: 'text/plain' })`.
 * - `send-range-stream`: `sendRange` with `streamRepresentation(Readable.from(three chunks of BODY), BODY.length)`.
 * - `send-range-download`: like `send-range-file` with the option `download: DOWNLOAD_NAME`.
 * - `send-range-store`: `sendRange` with {@link storeRepresentation}`()`, a user's store read through `readInto`.
 * - `send-range-unreadable`: `sendRange` with {@link storeRepresentation}`({ failAt: 0 })`: no byte can be read.
 * - `send-range-fails-later`: `sendRange` with {@link storeRepresentation}`({ failAt: STORE_FAILS_AT })`.
 * - `send-range-variant`: `sendRange` with `openVariant(fileForSendRange, request headers)`.
 */
export const SCENARIOS = [
  'buffer',
  'string',
  'json',
  'end-chunk',
  'chunked-with-length',
  'gzip-encoded',
  'own-etag',
  'not-200',
  'unknown-length',
  'has-content-range',
  'send-range-file',
  'send-range-bytes',
  'send-range-stream',
  'send-range-download',
  'send-range-store',
  'send-range-unreadable',
  'send-range-fails-later',
  'send-range-variant',
] as const;

/** The length of {@link storeRepresentation}'s content, and the offset from which its failing variant fails. */
export const STORE_SIZE = 2 * 1024 * 1024;
export const STORE_FAILS_AT = 1024 * 1024;

/** Byte `i` of the store's content. */
export function storeByte(i: number): number {
  return (i * 31 + 7) & 0xff;
}

/**
 * A representation over a store of our own (no file, no buffer): STORE_SIZE computed bytes read by
 * offset, as a database blob or an object store would be. With `failAt`, a read at or past that offset
 * rejects, as a store that went away does.
 */
export function storeRepresentation(options: { readonly failAt?: number } = {}): Representation {
  return {
    size: STORE_SIZE,
    etag: '"store-v1"',
    contentType: 'application/octet-stream',
    readInto: async (buffer, position) => {
      await new Promise((resolve) => setImmediate(resolve));
      if (options.failAt !== undefined && position + buffer.byteLength > options.failAt) {
        throw new Error('the store went away');
      }
      const n = Math.min(buffer.byteLength, STORE_SIZE - position);
      for (let i = 0; i < n; i++) buffer[i] = storeByte(position + i);
      return n;
    },
  };
}

/** One named route scenario. */
export type Scenario = (typeof SCENARIOS)[number];

/** What a factory must set up. */
export interface ServerSetup {
  /** Directory to serve; when absent, the middleware is made with options only (`rangeServe(options)`). */
  readonly root?: string;
  /** Mount path of the middleware (default: none, i.e. `app.use(mw)`), e.g. `'/files'`. */
  readonly mount?: string;
  readonly options?: RangeServeOptions;
  /** The options the `send-range-*` routes pass to `sendRange` (`send-range-download` adds its `download`). */
  readonly sendRangeOptions?: SendRangeOptions;
  /** Route scenarios to install after the middleware, each at `/r/<name>`. */
  readonly routes?: readonly Scenario[];
  /** Where `send-range-file` and `send-range-download` read from. */
  readonly fileForSendRange?: string;
}

/**
 * A running server. Requests that pass through the middleware without an answer must end in a
 * 404 with body `fallthrough` (plain text), and errors passed on must become a 500 with body `error`.
 */
export interface RunningServer {
  readonly baseUrl: string;
  /** True when the server is asked over HTTP/2 (a node:http2 client on one session), not raw HTTP/1.1. */
  readonly http2?: boolean;
  close(): Promise<void>;
}

/**
 * What the server under test does to a request before any handler sees it, where it is not what Node's
 * own `http` server does (as under Express and Koa).
 */
export interface HostBehaviour {
  /**
   * The request-target a handler receives for a raw `target`, or the status the host answers by itself;
   * absent, every target arrives as it was sent.
   */
  readonly deliveredTarget?: (target: string) => string | number;
  /**
   * True where a field sent in several lines reaches the handler as one value joined by `, ` (the Fetch
   * `Headers`); Node keeps only the first line of a date field such as `If-Modified-Since`.
   */
  readonly joinsRepeatedFields?: boolean;
}

/** Starts a real server on 127.0.0.1:0 for `setup`; rejects (with the TypeError) when the options are bad. */
export type ServerFactory = (setup: ServerSetup) => Promise<RunningServer>;
