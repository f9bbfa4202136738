/**
 * @range-serve/koa: byte ranges and RFC 9110 conditional requests for Koa 2 and 3.
 * Every HTTP decision is @range-serve/core's; this file reads `ctx` and hands plans to Koa as `ctx.body`.
 */
import { ReadStream } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { Readable, Stream } from 'node:stream';
import {
  applySetHeaders,
  bytesRepresentation,
  CONTENT_HEADERS,
  closeRepresentation,
  contentEtag,
  createBody,
  readSmallBody,
  declaredLength,
  directoryRedirect,
  type HeaderGetter,
  isPlannableResponse,
  mountedPath,
  type NormalizedOptions,
  normalizeOptions,
  openFile,
  planResponse,
  type RangeServeOptions,
  type Representation,
  type ResponsePlan,
  responseMetadata,
  sendRangeRepresentation,
  serveArguments,
  staticResolver,
  streamRepresentation,
} from '@range-serve/core';
import type { Context, Middleware, Next } from 'koa';
import onFinished from 'on-finished';

/** The options of {@link rangeServe} and {@link sendRange}; `setHeaders` receives Node's response, `ctx.res`. */
export type KoaRangeOptions = RangeServeOptions<ServerResponse>;
export type { RangeServeOptions } from '@range-serve/core';

type Options = NormalizedOptions<ServerResponse>;

/** Bodies (streams and small buffers) made here, so that an outer `rangeServe` does not plan a planned response again. */
const planned = new WeakSet<object>();

/**
 * Middleware that serves files under `root` with ranges and preconditions, and makes the 200 responses
 * of later middleware (`ctx.body`) range- and condition-aware. Without `root` it does only the latter.
 */
export function rangeServe(options?: KoaRangeOptions): Middleware;
export function rangeServe(root: string, options?: KoaRangeOptions): Middleware;
export function rangeServe(rootOrOptions?: string | KoaRangeOptions, maybeOptions?: KoaRangeOptions): Middleware {
  const { root, options } = serveArguments<ServerResponse>(rootOrOptions, maybeOptions);
  const resolve = root === undefined ? undefined : staticResolver(root, options);

  return async function rangeServeMiddleware(ctx: Context, next: Next): Promise<void> {
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      if (resolve !== undefined && !options.fallthrough) return sendEmpty(ctx, 405, { allow: 'GET, HEAD' });
      return next();
    }
    const result = resolve === undefined ? undefined : await resolve(mountedPath(ctx.path, ctx.originalUrl));
    switch (result?.kind) {
      case 'file':
        await sendRepresentation(ctx, result.file, options);
        return;
      case 'redirect': {
        const redirect = directoryRedirect(ctx.originalUrl);
        ctx.status = redirect.status;
        ctx.set(redirect.headers);
        ctx.body = redirect.body;
        return;
      }
      case 'refused':
        return sendText(ctx, result.status, result.status === 400 ? 'Bad Request' : 'Forbidden');
      case 'miss':
        if (!options.fallthrough) return sendText(ctx, 404, 'Not Found');
    }
    await next();
    await planDownstream(ctx, options);
  };
}

/**
 * Serves a representation the route chose itself (a file from `openFile`, bytes, a stream of known length)
 * with ranges and preconditions, as `ctx.body`. The representation is released when the response ends.
 */
export async function sendRange(
  ctx: Context,
  representation: Representation,
  options: KoaRangeOptions = {},
): Promise<ResponsePlan> {
  let normalized: Options;
  try {
    normalized = normalizeOptions<ServerResponse>(options);
  } catch (err) {
    void closeRepresentation(representation);
    throw err;
  }
  return sendRepresentation(ctx, sendRangeRepresentation(representation, normalized), normalized);
}

async function sendRepresentation(ctx: Context, representation: Representation, options: Options) {
  let rep = representation;
  try {
    rep = await applySetHeaders(rep, options, ctx.res, headerOf(ctx));
    const plan = planResponse({ method: ctx.method, headers: ctx.headers }, rep, options);
    await applyPlan(ctx, plan, rep);
    return plan;
  } catch (err) {
    void closeRepresentation(rep);
    throw err;
  }
}

function headerOf(ctx: Context): HeaderGetter {
  return (name) => ctx.res.getHeader(name);
}

/**
 * After later middleware: a 200 body of known length is planned like any representation. In-memory
 * bodies get a content-hash ETag, a whole-file `fs.ReadStream` is reopened by path for positioned
 * reads, other streams need `ctx.length`; anything else is left alone with `Accept-Ranges: none`.
 */
async function planDownstream(ctx: Context, options: Options): Promise<void> {
  const body: unknown = ctx.body;
  const get = headerOf(ctx);
  if (ctx.respond === false || ctx.headerSent || body === null || body === undefined) return;
  if (
    !isPlannableResponse(ctx.status, get) ||
    ((body instanceof Readable || Buffer.isBuffer(body)) && planned.has(body))
  )
    return;
  const meta = responseMetadata(get);
  const length = declaredLength(get('content-length'));
  let rep: Representation;
  if (typeof body === 'string' || Buffer.isBuffer(body) || isJson(body)) {
    // The bytes Koa would send: strings as UTF-8, objects as JSON.stringify gives them.
    const bytes = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    if (length !== undefined && length !== bytes.length) return;
    rep = bytesRepresentation(bytes, { ...meta, etag: meta.etag ?? contentEtag(bytes) });
  } else if (body instanceof ReadStream && isWholeFile(body)) {
    const file = await openFile(String(body.path), {
      etag: options.etag,
      lastModified: options.lastModified,
      contentType: meta.contentType,
    });
    body.destroy(); // every byte now comes from our own descriptor
    rep = { ...file, etag: meta.etag ?? file.etag, lastModified: meta.lastModified ?? file.lastModified };
  } else if (body instanceof Readable && length !== undefined) {
    rep = streamRepresentation(body, length, meta);
  } else {
    // RFC 9110 §14.3: a body of unknown length is never ranged; say so unless the handler did.
    if (!ctx.res.hasHeader('accept-ranges')) ctx.set('accept-ranges', 'none');
    return;
  }
  await applyPlan(ctx, planResponse({ method: ctx.method, headers: ctx.headers }, rep, options), rep);
}

/** Whether Koa would send `body` as JSON: not a stream, nor one of Koa 3's web body types. */
function isJson(body: unknown): boolean {
  if (typeof body !== 'object' || body === null || body instanceof Stream || body instanceof Uint8Array) return false;
  return !(body instanceof Blob || body instanceof ReadableStream || body instanceof Response);
}

/** A stream of a whole file by path, not of a slice (`start`/`end`) or of a descriptor it was given. */
function isWholeFile(stream: ReadStream): boolean {
  const { start, end } = stream as ReadStream & { start?: number; end?: number };
  return (
    (typeof stream.path === 'string' || Buffer.isBuffer(stream.path)) &&
    stream.bytesRead === 0 &&
    (start === undefined || start === 0) &&
    (end === undefined || end === Infinity)
  );
}

/**
 * Puts a plan on `ctx`. The body goes first and status and headers after it: assigning a stream over an
 * earlier body makes Koa drop `Content-Length`, and the plan's own fields must be the ones sent.
 */
async function applyPlan(ctx: Context, plan: ResponsePlan, rep: Representation): Promise<void> {
  let small: Promise<Buffer> | null;
  let body: Readable | null;
  try {
    small = readSmallBody(plan, rep);
    body = small === null ? createBody(plan, rep, { destination: ctx.res }) : null;
  } catch (err) {
    void closeRepresentation(rep);
    throw err;
  }
  if (plan.kind !== 'full' && plan.kind !== 'partial' && plan.kind !== 'multipart') {
    // Headers a handler set for a body must not describe a response that has none.
    for (const name of CONTENT_HEADERS) ctx.remove(name);
  }
  if (body === null && !plan.sendBody) {
    void closeRepresentation(rep);
    return sendEmpty(ctx, plan.status, plan.headers);
  }
  const typed = ctx.res.hasHeader('content-type');
  if (small !== null) {
    // A small body is read whole and handed to Koa as one buffer, sent with one write.
    let bytes: Buffer;
    try {
      bytes = await small;
    } finally {
      void closeRepresentation(rep);
    }
    planned.add(bytes);
    ctx.body = bytes;
  } else if (body === null) {
    // A GET of an empty representation: a 200 with an empty body.
    void closeRepresentation(rep);
    ctx.body = Buffer.alloc(0);
  } else {
    const stream = body;
    planned.add(stream);
    stream.once('close', () => void closeRepresentation(rep));
    // Added before Koa's own listener: a failure after the headers went out cuts the connection, so the
    // client sees a short body, never a complete-looking one; Koa still reports the error to the app.
    stream.once('error', () => ctx.res.destroy());
    onFinished(ctx.res, () => stream.destroy());
    ctx.body = stream;
  }
  // Koa types a body it is given as binary; a representation without a type is sent without one.
  if (!typed && plan.headers['content-type'] === undefined) ctx.remove('content-type');
  ctx.status = plan.status;
  ctx.set(plan.headers);
}

/** A response with no body: explicit `null` makes Koa send neither a body nor its own status text. */
function sendEmpty(ctx: Context, status: number, headers: Record<string, string>): void {
  ctx.remove('content-type'); // Koa 3 would turn a null body of a JSON response into the text `null`
  ctx.body = null;
  ctx.status = status;
  ctx.set({ 'content-length': '0', ...headers });
}

function sendText(ctx: Context, status: number, text: string): void {
  ctx.status = status;
  ctx.set({ 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff' });
  ctx.body = text;
}
export {
  type CompletedUpload,
  resumableUploads,
  type ResumableUploadOptions,
  type UploadDescription,
  type UploadHookResponse,
} from './uploads.js';
