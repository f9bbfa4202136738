/**
 * @range-serve/express: byte ranges and RFC 9110 conditional requests for Express 4 and 5.
 * Every HTTP decision is @range-serve/core's; this file only translates requests and applies plans.
 */
import { PassThrough, Writable } from 'node:stream';
import {
  applySetHeaders,
  bytesRepresentation,
  CONTENT_HEADERS,
  closeRepresentation,
  contentEtag,
  createBody,
  declaredLength,
  directoryRedirect,
  isPlannableResponse,
  mountedPath,
  type NormalizedOptions,
  normalizeOptions,
  planResponse,
  type RangeServeOptions,
  type Representation,
  type ResponsePlan,
  responseMetadata,
  sendPlan,
  sendRangeRepresentation,
  serveArguments,
  staticResolver,
  streamRepresentation,
} from '@range-serve/core';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import onFinished from 'on-finished';

/** The options of {@link rangeServe} and {@link sendRange}; `setHeaders` receives Express's `res`. */
export type ExpressRangeOptions = RangeServeOptions<Response>;
export type { RangeServeOptions } from '@range-serve/core';

/**
 * Middleware that serves files under `root` with ranges and preconditions, and makes the 200 responses
 * of later handlers range- and condition-aware. Without `root` it does only the latter.
 */
export function rangeServe(options?: ExpressRangeOptions): RequestHandler;
export function rangeServe(root: string, options?: ExpressRangeOptions): RequestHandler;
export function rangeServe(rootOrOptions?: string | ExpressRangeOptions, maybeOptions?: ExpressRangeOptions) {
  const { root, options } = serveArguments<Response>(rootOrOptions, maybeOptions);
  const resolve = root === undefined ? undefined : staticResolver(root, options);

  return function rangeServeMiddleware(req: Request, res: Response, next: NextFunction): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      if (resolve !== undefined && !options.fallthrough) {
        res.writeHead(405, { allow: 'GET, HEAD', 'content-length': '0' }).end();
        return;
      }
      next();
      return;
    }
    if (resolve === undefined) {
      interceptResponse(req, res, options);
      next();
      return;
    }
    resolve(mountedPath(req.path, req.originalUrl)).then(async (result) => {
      switch (result.kind) {
        case 'file':
          return sendFile(req, res, result.file, options);
        case 'redirect': {
          const redirect = directoryRedirect(req.originalUrl);
          res.writeHead(redirect.status, redirect.headers).end(req.method === 'HEAD' ? undefined : redirect.body);
          return;
        }
        case 'refused':
          return sendText(req, res, result.status, result.status === 400 ? 'Bad Request' : 'Forbidden');
        case 'miss':
          if (!options.fallthrough) return sendText(req, res, 404, 'Not Found');
          interceptResponse(req, res, options);
          next();
      }
    }, next);
  };
}

/**
 * Serves a representation a route chose itself (a file from `openFile`, bytes, a stream of known length)
 * with ranges and preconditions. The representation is released when the response ends.
 */
export function sendRange(
  req: Request,
  res: Response,
  representation: Representation,
  options: ExpressRangeOptions = {},
): Promise<ResponsePlan> {
  let normalized: NormalizedOptions<Response>;
  try {
    normalized = normalizeOptions(options);
  } catch (err) {
    void closeRepresentation(representation);
    return Promise.reject(err);
  }
  return sendFile(req, res, sendRangeRepresentation(representation, normalized), normalized);
}

async function sendFile(
  req: Request,
  res: Response,
  representation: Representation,
  options: NormalizedOptions<Response>,
): Promise<ResponsePlan> {
  let rep = representation;
  try {
    rep = await applySetHeaders(rep, options, res, (name) => res.getHeader(name));
    const plan = planResponse(req, rep, options);
    sendPlan(res, plan, rep);
    return plan;
  } catch (err) {
    void closeRepresentation(rep);
    throw err;
  }
}

function sendText(req: Request, res: Response, status: number, text: string): void {
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
    'x-content-type-options': 'nosniff',
  });
  res.end(req.method === 'HEAD' ? undefined : text);
}

type Callback = (err?: Error | null) => void;

/**
 * Intercepts `writeHead`/`write`/`end` (as compression middleware does) so that a later handler's 200
 * of known length is planned like any representation. A body given whole to `end()` (res.send, res.json)
 * is held in memory already and gets a content-hash ETag. A body written in chunks with a Content-Length
 * is planned from the headers at its first write and filtered as it passes, not buffered, so a handler
 * streaming a large body keeps constant memory.
 */
function interceptResponse(req: Request, res: Response, options: NormalizedOptions<Response>): void {
  const original = { writeHead: res.writeHead, write: res.write, end: res.end, send: res.send };
  let state: 'pending' | 'through' | 'streaming' | 'discard' = 'pending';
  let handlerBytes: PassThrough | undefined;
  // The request as the client sent it; res.send below hides parts of it from Express for one call.
  let planRequest: { method: string; headers: Request['headers'] } = req;
  const restore = (): void => {
    res.writeHead = original.writeHead;
    res.write = original.write;
    res.end = original.end;
    res.send = original.send;
  };

  // res.send answers 304 from its own freshness check (If-None-Match / If-Modified-Since only), which
  // would skip If-Match and If-Unmodified-Since (RFC 9110 §13.2.2 puts them first), and on HEAD it drops
  // the body before we can hash it. For the span of this one synchronous call Express sees a GET without
  // those two fields; we plan with the request as it came.
  res.send = function send(this: Response, ...args: unknown[]) {
    if (state !== 'pending') return Reflect.apply(original.send, this, args);
    planRequest = { method: req.method, headers: { ...req.headers } };
    const ifNoneMatch = req.headers['if-none-match'];
    const ifModifiedSince = req.headers['if-modified-since'];
    delete req.headers['if-none-match'];
    delete req.headers['if-modified-since'];
    req.method = 'GET';
    try {
      return Reflect.apply(original.send, this, args);
    } finally {
      req.method = planRequest.method;
      if (ifNoneMatch !== undefined) req.headers['if-none-match'] = ifNoneMatch;
      if (ifModifiedSince !== undefined) req.headers['if-modified-since'] = ifModifiedSince;
    }
  } as Response['send'];

  // A handler's explicit writeHead is recorded on `res` until the body shows whether we plan it.
  res.writeHead = function writeHead(this: Response, status: number, ...rest: unknown[]) {
    if (state !== 'pending') return Reflect.apply(original.writeHead, this, [status, ...rest]);
    res.statusCode = status;
    for (const arg of rest) {
      if (typeof arg === 'string') res.statusMessage = arg;
      else if (Array.isArray(arg)) {
        for (let i = 0; i + 1 < arg.length; i += 2) res.setHeader(String(arg[i]), arg[i + 1] as string);
      } else if (arg !== null && typeof arg === 'object') {
        for (const [name, value] of Object.entries(arg)) if (value !== undefined) res.setHeader(name, value);
      }
    }
    return this;
  } as Response['writeHead'];

  res.write = function write(this: Response, chunk: unknown, ...rest: unknown[]): boolean {
    const [encoding, callback] = splitArgs(rest);
    if (state === 'pending') startStreaming();
    if (state === 'streaming') return (handlerBytes as PassThrough).write(toBuffer(chunk, encoding), callback);
    if (state === 'discard') {
      callback?.();
      return true;
    }
    return Reflect.apply(original.write, this, [chunk, ...rest]);
  } as Response['write'];

  res.end = function end(this: Response, ...args: unknown[]) {
    const chunk = typeof args[0] === 'function' ? undefined : args[0];
    const [encoding, callback] = splitArgs(typeof args[0] === 'function' ? args : args.slice(1));
    if (state === 'pending') {
      if (sendWhole(chunk === undefined || chunk === null ? undefined : toBuffer(chunk, encoding))) {
        if (callback !== undefined) onFinished(res, () => callback());
        return this;
      }
    }
    if (state === 'streaming') {
      const bytes = handlerBytes as PassThrough;
      if (chunk !== undefined && chunk !== null) bytes.write(toBuffer(chunk, encoding));
      bytes.end();
      state = 'discard';
      if (callback !== undefined) onFinished(res, () => callback());
      return this;
    }
    if (state === 'discard') {
      callback?.();
      return this;
    }
    return Reflect.apply(original.end, this, args);
  } as Response['end'];

  const getHeader = (name: string) => res.getHeader(name);
  /** Whether the response so far is one we plan: a 200 whose bytes are not already a range. */
  const eligible = (): boolean => !res.headersSent && isPlannableResponse(res.statusCode, getHeader);

  /** end(chunk) before any write: the whole body is known. Returns false when the response is left alone. */
  function sendWhole(body: Buffer | undefined): boolean {
    const length = declaredLength(res.getHeader('content-length'));
    if (!eligible() || (body === undefined && (planRequest.method !== 'HEAD' || length === undefined))) {
      state = 'through';
      restore();
      return false;
    }
    let rep: Representation;
    const metadata = responseMetadata(getHeader);
    if (body === undefined) {
      // HEAD through a raw res.end(): only the headers the handler set are there to plan from.
      rep = streamRepresentation(new PassThrough(), length as number, metadata);
    } else {
      if (length !== undefined && length !== body.length) {
        state = 'through';
        restore();
        return false;
      }
      rep = bytesRepresentation(body, { ...metadata, etag: chooseEtag(req, metadata.etag, body) });
    }
    state = 'discard';
    restore();
    sendPlan(res, planResponse(planRequest, rep, options), rep);
    return true;
  }

  /** First write: plan from the headers, then pass the handler's bytes through the plan's body. */
  function startStreaming(): void {
    const length = declaredLength(res.getHeader('content-length'));
    if (!eligible() || length === undefined) {
      // §14.3: a body of unknown length is never ranged; say so unless the handler did.
      if (eligible() && res.getHeader('accept-ranges') === undefined) res.setHeader('accept-ranges', 'none');
      state = 'through';
      restore();
      return;
    }
    const bytes = new PassThrough();
    bytes.on('error', () => {}); // writes after the plan stopped reading are dropped
    // A handler that waits for 'drain' must hear of room freed while skipped bytes are consumed.
    bytes.on('drain', () => res.emit('drain'));
    const rep = streamRepresentation(bytes, length, responseMetadata(getHeader));
    const plan = planResponse(req, rep, options);
    res.writeHead = original.writeHead;
    if (plan.kind !== 'full' && plan.kind !== 'partial' && plan.kind !== 'multipart') {
      for (const name of CONTENT_HEADERS) res.removeHeader(name);
    }
    res.writeHead(plan.status, plan.headers);
    const body = createBody(plan, rep);
    if (body === null) {
      state = 'discard';
      void closeRepresentation(rep);
      Reflect.apply(original.end, res, []);
      return;
    }
    state = 'streaming';
    handlerBytes = bytes;
    const out = new Writable({
      write(chunk: Buffer, _encoding, callback: Callback) {
        if (Reflect.apply(original.write, res, [chunk])) return callback();
        const resume = (): void => {
          // Our own 'drain' above may arrive while the socket is still full.
          if (res.writableNeedDrain) res.once('drain', resume);
          else callback();
        };
        res.once('drain', resume);
      },
      final(callback: Callback) {
        Reflect.apply(original.end, res, []);
        callback();
      },
    });
    body.once('close', () => void closeRepresentation(rep));
    // A handler that writes fewer bytes than it declared cannot end a response as if complete.
    body.once('error', (err) => res.destroy(err));
    onFinished(res, () => body.destroy());
    body.pipe(out);
  }
}

/**
 * The handler's own ETag, or a strong content hash when it set none or when the one present is what
 * Express's `etag fn` computes for this body (a weak tag that could never satisfy If-Range).
 */
function chooseEtag(req: Request, current: string | undefined, body: Buffer): string {
  if (current === undefined) return contentEtag(body);
  const automatic: unknown = req.app.get('etag fn');
  if (typeof automatic === 'function' && automatic(body, 'utf8') === current) return contentEtag(body);
  return current;
}

function splitArgs(rest: readonly unknown[]): [BufferEncoding | undefined, Callback | undefined] {
  const encoding = typeof rest[0] === 'string' ? (rest[0] as BufferEncoding) : undefined;
  const callback = rest.find((arg): arg is Callback => typeof arg === 'function');
  return [encoding, callback];
}

function toBuffer(chunk: unknown, encoding: BufferEncoding | undefined): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  return Buffer.from(String(chunk), encoding ?? 'utf8');
}
export {
  type CompletedUpload,
  resumableUploads,
  type ResumableUploadOptions,
  type UploadDescription,
  type UploadHookResponse,
} from './uploads.js';
