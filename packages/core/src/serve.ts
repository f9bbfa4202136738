/**
 * Every decision a framework adapter needs, whatever its request and response objects: the answer for
 * a directory request and how a later handler's body becomes a representation (`sendRange`'s plan is in
 * send-range.ts).
 * Each returns a response description (or says to pass the request on); the adapter only writes it.
 */
import { type BigIntStats, fstat, ReadStream, type Stats } from 'node:fs';
import { stat as fsStat } from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { type HeaderGetter, mergeVary } from './fields.js';
import { openFileWithDigest } from './digest.js';
import { formatHttpDate, parseHttpDate } from './http-date.js';
import {
  describeValue,
  type NormalizedOptions,
  normalizeOptions,
  type RangeServeOptions,
  withHeaderOverrides,
} from './options.js';
import { planConditional, planResponse, type ResponsePlan } from './plan.js';
import {
  bytesRepresentation,
  closeRepresentation,
  contentEtag,
  fileInfo,
  type FileRepresentation,
  type Representation,
  type RepresentationInfo,
  type RepresentationMetadata,
  streamRepresentation,
} from './representation.js';
import {
  directoryRedirect,
  methodNotAllowed,
  type ResponseDescription,
  type ResponseHeaders,
  textResponse,
} from './response.js';
import { type StaticLookup, type StaticResult, staticResolver } from './static.js';

const VALIDATORS_FIRST: StaticLookup = { validatorsFirst: true };

export type { HeaderGetter } from './fields.js';

/** A request as the adapters describe it. */
export interface ServeRequest {
  readonly method: string;
  /** The path under the mount point, percent-encoded, without the query. */
  readonly path: string;
  /** The request-target as received, query included (for redirects and the mount point itself). */
  readonly originalUrl: string;
  readonly headers: IncomingHttpHeaders;
}

/** What to do with a request: answer it, or pass it on to the next handler. */
export type ServeOutcome =
  | {
      readonly kind: 'respond';
      readonly response: ResponseDescription;
      /** The representation the body is read from; the writer closes it. */
      readonly representation?: Representation | undefined;
    }
  | { readonly kind: 'next' };

/** The response object `setHeaders` gets, and how to read back the header fields it set. */
export interface ResponseTarget<Res> {
  readonly res: Res;
  readonly getHeader: HeaderGetter;
}

/** `rangeServe(root?, options?)` made once: its options and the answer for each request. */
export interface RangeServer<Res> {
  readonly options: NormalizedOptions<Res>;
  /** The answer for a GET or HEAD under the root, or `next` (always `next` without a root). */
  answer(request: ServeRequest, target: ResponseTarget<Res>): Promise<ServeOutcome>;
}

/** Validates `rangeServe`'s arguments (a TypeError for a bad root or option) and makes its server. */
export function rangeServer<Res>(
  rootOrOptions: string | RangeServeOptions<Res> | undefined,
  maybeOptions: RangeServeOptions<Res> | undefined,
): RangeServer<Res> {
  const root = typeof rootOrOptions === 'string' ? rootOrOptions : undefined;
  if (root === undefined && rootOrOptions !== undefined && !isOptionsObject(rootOrOptions)) {
    // rangeServe(42), rangeServe(new URL(...)): the first argument is meant as the root.
    const hint = rootOrOptions instanceof URL ? ' (url.fileURLToPath makes one of a file: URL)' : '';
    throw new TypeError(`root must be a directory path string${hint}, got ${describeValue(rootOrOptions)}`);
  }
  if (root === undefined && maybeOptions !== undefined) {
    throw new TypeError(`root must be a directory path string, got ${describeValue(rootOrOptions)}`);
  }
  const options = normalizeOptions<Res>(root === undefined ? (rootOrOptions as RangeServeOptions<Res>) : maybeOptions);
  const resolve = root === undefined ? undefined : staticResolver(root, options);
  const next: ServeOutcome = { kind: 'next' };

  async function answer(request: ServeRequest, target: ResponseTarget<Res>): Promise<ServeOutcome> {
    const { method } = request;
    if (resolve === undefined) return next;
    if (method !== 'GET' && method !== 'HEAD') {
      return options.fallthrough ? next : { kind: 'respond', response: methodNotAllowed() };
    }
    // setHeaders is given the file's stat and may change any field, so it needs the opened file.
    const lookup = options.setHeaders === undefined ? VALIDATORS_FIRST : undefined;
    const result = await resolve(mountedPath(request.path, request.originalUrl), request.headers, lookup);
    return outcomeOf(request, result, target);
  }

  async function outcomeOf(
    request: ServeRequest,
    result: StaticResult,
    target: ResponseTarget<Res>,
  ): Promise<ServeOutcome> {
    const { method } = request;
    switch (result.kind) {
      case 'validators': {
        // A 304 or 412 needs nothing but the validators; any other answer is planned on the opened file.
        const plan = planResponse(request, result.info, options);
        if (plan.status === 304 || plan.status === 412) return { kind: 'respond', response: plan };
        return outcomeOf(request, await result.open(), target);
      }
      case 'file':
        return plannedOutcome(request, result.file, options, target);
      case 'redirect':
        return { kind: 'respond', response: directoryRedirect(method, request.originalUrl) };
      case 'refused':
        return {
          kind: 'respond',
          response: textResponse(method, result.status, result.status === 400 ? 'Bad Request' : 'Forbidden'),
        };
      case 'miss':
        return options.fallthrough ? next : { kind: 'respond', response: textResponse(method, 404, 'Not Found') };
    }
  }
  return { options, answer };
}

/** Whether the first argument of `rangeServe` reads as its options: a plain object, not a URL, an array or a value. */
function isOptionsObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof URL);
}

/**
 * The URL path a static lookup gets under a mount: `path` as the framework stripped it, or '' for the
 * mount point asked for without its slash (so that a directory there is redirected to the slash).
 */
function mountedPath(path: string, originalUrl: string): string {
  const original = originalUrl.split('?', 1)[0] as string;
  return path === '/' && !original.endsWith('/') ? '' : path;
}

/** Calls `setHeaders` for a file (its fields win over ours), then plans; the representation is closed on failure. */
export async function plannedOutcome<Res>(
  request: { readonly method: string; readonly headers: IncomingHttpHeaders },
  representation: Representation,
  options: Pick<NormalizedOptions<Res>, 'setHeaders' | 'acceptRanges' | 'maxRanges'>,
  target: ResponseTarget<Res>,
): Promise<ServeOutcome & { readonly kind: 'respond' }> {
  let rep = representation;
  try {
    const file = rep as Partial<FileRepresentation>;
    if (options.setHeaders !== undefined && file.kind === 'file' && file.fd !== undefined) {
      const fd = file.fd;
      const stat = await new Promise<Stats>((resolve, reject) =>
        fstat(fd, (err, s) => (err ? reject(err) : resolve(s))),
      );
      options.setHeaders(target.res, file.path as string, stat);
      rep = withHeaderOverrides(rep, target.getHeader);
    }
    if (variesOnCoding(representation)) {
      // Merged into a Vary an earlier layer (cors) or setHeaders put on the response, never duplicated.
      const before = target.getHeader('vary');
      const base =
        before === undefined ? rep.headers?.vary : Array.isArray(before) ? before.join(', ') : String(before);
      rep = { ...rep, headers: { ...rep.headers, vary: mergeVary(base, 'Accept-Encoding') } };
    }
    return { kind: 'respond', response: planResponse(request, rep, options), representation: rep };
  } catch (err) {
    closeRepresentation(rep);
    throw err;
  }
}

/** Whether a representation's answers depend on `Accept-Encoding` (it has precompressed variants). */
export function variesOnCoding(representation: Representation): boolean {
  const vary = representation.headers?.vary;
  return vary !== undefined && vary.split(',').some((name) => name.trim().toLowerCase() === 'accept-encoding');
}

/** A later handler's body as the adapter sees it. */
export type HandlerBody =
  /** Bytes held whole (`res.send`, `res.end(chunk)`, a Koa string, Buffer or JSON body). */
  | { readonly type: 'bytes'; readonly bytes: Uint8Array }
  /** A one-shot stream, ranged only when the handler declared its length. */
  | { readonly type: 'stream'; readonly stream: Readable }
  /** Bytes still to be written by the handler (`res.write` calls), ranged only with a declared length. */
  | { readonly type: 'chunks' }
  /** Anything else: sent as it is. */
  | { readonly type: 'other' };

/** What becomes of a later handler's response. */
export type HandlerOutcome =
  /** Planned: send `response`; for `chunks` the handler's writes are cut by it (no representation). */
  | { readonly kind: 'plan'; readonly response: ResponsePlan; readonly representation?: Representation | undefined }
  /** Left as it is, with these header fields set first (`Accept-Ranges: none` for a body of unknown length). */
  | { readonly kind: 'leave'; readonly headers: ResponseHeaders };

/** How the adapter's framework tags bodies it hashed itself (Express's `etag fn`), so that a strong hash replaces them. */
export type AutomaticEtag = (bytes: Uint8Array) => string | undefined;

/**
 * Decides what becomes of a later handler's response: a 200 of known length, not already a range nor
 * framed by a transfer coding of its own, nor encoded by another layer, is planned like any
 * representation (304/412/206/multipart/416); other 200s keep their bytes but still answer their
 * preconditions (a 304 or 412 needs no length). In-memory bodies get a strong content hash unless the
 * handler set a validator of its own.
 */
export function planHandlerBody<Res>(
  request: { readonly method: string; readonly headers: IncomingHttpHeaders },
  status: number,
  getHeader: HeaderGetter,
  body: HandlerBody,
  options: NormalizedOptions<Res>,
  automaticEtag?: AutomaticEtag,
): HandlerOutcome {
  const unplanned = unplannedOutcome(request, status, getHeader, body.type === 'bytes');
  if (unplanned !== undefined) return unplanned;
  const meta = responseMetadata(getHeader);
  const length = declaredLength(getHeader('content-length'));
  let info: RepresentationInfo;
  let representation: Representation | undefined;
  switch (body.type) {
    case 'bytes': {
      if (length !== undefined && length !== body.bytes.byteLength) return LEAVE;
      const own = meta.etag !== undefined && automaticEtag?.(body.bytes) !== meta.etag ? meta.etag : undefined;
      representation = info = bytesRepresentation(body.bytes, { ...meta, etag: own ?? contentEtag(body.bytes) });
      break;
    }
    case 'stream':
      representation = info = streamRepresentation(body.stream, length as number, meta);
      break;
    case 'chunks':
      info = { size: length as number, sequential: true, ...meta };
      break;
    case 'other':
      return LEAVE;
  }
  return { kind: 'plan', response: planResponse(request, info, options), representation };
}

/**
 * {@link planHandlerBody} for a stream that reads a whole file by its path (Koa's `ctx.body`, a
 * `ReadStream` piped into `res`): the file is reopened only when the response is to be planned, so that
 * every byte comes from our own descriptor with positioned reads.
 */
export async function planHandlerFile<Res>(
  request: { readonly method: string; readonly headers: IncomingHttpHeaders },
  status: number,
  getHeader: HeaderGetter,
  path: string,
  options: NormalizedOptions<Res>,
): Promise<HandlerOutcome> {
  const unplanned = unplannedOutcome(request, status, getHeader, true);
  if (unplanned !== undefined) return unplanned;
  const meta = responseMetadata(getHeader);
  const file = await openFileWithDigest(path, {
    etag: options.etag,
    lastModified: options.lastModified,
    contentType: meta.contentType,
  });
  const rep = { ...file, etag: meta.etag ?? file.etag, lastModified: meta.lastModified ?? file.lastModified };
  return { kind: 'plan', response: planResponse(request, rep, options), representation: rep };
}

/**
 * The validators of a whole file a later handler sent as a stream that a layer behind range-serve encoded
 * before range-serve saw it (koa-compress replaces the body): the weak form of the tag its identity answer
 * carries and its Last-Modified, from the file's stat now, so that the encoded answer can be revalidated.
 * None for a digest ETag (the bytes are not read again) or a path that is no longer a regular file.
 */
export async function encodedFileValidators<Res>(
  path: string,
  options: NormalizedOptions<Res>,
): Promise<ResponseHeaders> {
  let stat: BigIntStats;
  try {
    stat = await fsStat(path, { bigint: true });
  } catch {
    return {};
  }
  if (!stat.isFile()) return {};
  const info = fileInfo(stat, {
    etag: options.etag === 'digest' ? false : options.etag,
    lastModified: options.lastModified,
  });
  const headers: ResponseHeaders = {};
  if (info.etag !== undefined) headers.etag = info.etag.startsWith('W/') ? info.etag : `W/${info.etag}`;
  if (info.lastModified !== undefined) headers['last-modified'] = formatHttpDate(info.lastModified);
  return headers;
}

/**
 * The path of a `fs.ReadStream` that reads a whole file by its path (not a slice given by `start`/`end`,
 * nor a descriptor it was handed, nor one that has started reading), or undefined for any other stream.
 */
export function wholeFilePath(stream: unknown): string | undefined {
  if (!(stream instanceof ReadStream)) return undefined;
  const { start, end } = stream as ReadStream & { start?: number; end?: number };
  const path: unknown = stream.path;
  if (typeof path !== 'string' && !Buffer.isBuffer(path)) return undefined;
  if (stream.bytesRead !== 0 || (start !== undefined && start !== 0)) return undefined;
  return end === undefined || end === Infinity ? String(path) : undefined;
}

const LEAVE: HandlerOutcome = Object.freeze({ kind: 'leave', headers: Object.freeze({}) });

/** The outcome of a handler's response that is not planned as a representation, or undefined when it is. */
function unplannedOutcome(
  request: { readonly method: string; readonly headers: IncomingHttpHeaders },
  status: number,
  getHeader: HeaderGetter,
  lengthKnown: boolean,
): HandlerOutcome | undefined {
  if (status !== 200 || getHeader('content-range') !== undefined || getHeader('transfer-encoding') !== undefined) {
    return LEAVE;
  }
  if (lengthKnown || declaredLength(getHeader('content-length')) !== undefined) return undefined;
  // Of unknown length (a layer that encodes on the fly drops the length too): the bytes are sent as
  // they are, but the preconditions still hold (§13.2.2 needs validators, not a length).
  const conditional = planConditional(request, responseMetadata(getHeader));
  if (conditional !== null) return { kind: 'plan', response: conditional };
  // §14.3: a body of unknown length is never ranged; say so unless the handler did.
  return { kind: 'leave', headers: getHeader('accept-ranges') === undefined ? { 'accept-ranges': 'none' } : {} };
}

/** A `Content-Length` value as a safe integer, or undefined when it is absent or not plain digits. */
function declaredLength(value: unknown): number | undefined {
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** The validators and content type a handler set, as representation metadata. */
function responseMetadata(getHeader: HeaderGetter): RepresentationMetadata & {
  readonly contentType: string | undefined;
  readonly etag: string | undefined;
  readonly lastModified: number | undefined;
} {
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
