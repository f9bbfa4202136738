/**
 * @range-serve/koa: byte ranges and RFC 9110 conditional requests for Koa 2 and 3.
 * Every HTTP decision is @range-serve/core's; this file only translates `ctx` and puts answers on it.
 */
import type { ServerResponse } from 'node:http';
import { Readable, Stream } from 'node:stream';
import type {
  RangeServeOptions,
  Representation,
  ResponseDescription,
  ResponsePlan,
  SendRangeOptions,
} from '@range-serve/core';
import {
  abandonBody,
  claimContentCoding,
  contentEtag,
  encodedFileValidators,
  guardContentCodings,
  type HandlerBody,
  mergeResponseFields,
  type HandlerOutcome,
  type NormalizedOptions,
  planHandlerBody,
  planHandlerFile,
  openBody,
  planSendRange,
  rangeServer,
  readWholeBody,
  removeStaleContentHeaders,
  type ServeRequest,
  wholeFilePath,
} from '@range-serve/core/adapter';
import type { Context, Middleware, Next } from 'koa';
import onFinished from 'on-finished';

/** The options of {@link rangeServe}; `setHeaders` receives Node's response, `ctx.res`. */
export type KoaRangeOptions = RangeServeOptions<ServerResponse>;
/** The options of {@link sendRange}: those that apply to a representation a route chose; `setHeaders` receives `ctx.res`. */
export type KoaSendRangeOptions = SendRangeOptions<ServerResponse>;
export type { RangeServeOptions, SendRangeOptions } from '@range-serve/core';

/** Bodies made here, so that an outer `rangeServe` does not plan a planned response again. */
const planned = new WeakSet<object>();

/**
 * Middleware that serves files under `root` with ranges and preconditions, and makes the 200 responses
 * of later middleware (`ctx.body`) range- and condition-aware. Without `root` it does only the latter. A
 * bad option, or a root that is not a path or is a file, throws a `TypeError` here; a root that does not
 * exist yet is accepted (every request a miss until it does, with one process warning).
 */
export function rangeServe(options?: KoaRangeOptions): Middleware;
export function rangeServe(root: string, options?: KoaRangeOptions): Middleware;
export function rangeServe(rootOrOptions?: string | KoaRangeOptions, maybeOptions?: KoaRangeOptions): Middleware {
  const server = rangeServer<ServerResponse>(rootOrOptions, maybeOptions);

  return async function rangeServeMiddleware(ctx: Context, next: Next): Promise<void> {
    const planned = ctx.method === 'GET' || ctx.method === 'HEAD';
    // The body as it stood when a layer set a coding on an answer without a validator.
    let coded: { readonly body: unknown } | undefined;
    if (planned)
      guardContentCodings(ctx.res, () => {
        coded ??= { body: ctx.status === 200 ? ctx.body : undefined };
      });
    const outcome = await server.answer(requestOf(ctx), { res: ctx.res, getHeader: (name) => ctx.res.getHeader(name) });
    if (outcome.kind === 'respond') return respond(ctx, outcome.response, outcome.representation);
    await next();
    if (!planned) return;
    // A layer behind us (koa-compress) replaced that body with an encoded stream we cannot hash: the
    // encoded answer gets the weak form of the validators its identity answer has. A body still in
    // place was encoded by its middleware itself and is planned over its own bytes as it is.
    if (coded !== undefined && ctx.body !== coded.body && !ctx.res.hasHeader('etag')) {
      const validators = await identityValidators(coded.body, server.options);
      for (const [name, value] of Object.entries(validators)) if (!ctx.res.hasHeader(name)) ctx.set(name, value);
    }
    await planLaterMiddleware(ctx, server.options);
  };
}

/**
 * Serves a representation the route chose itself (a file from `openFile`, bytes, a stream of known length)
 * with ranges and preconditions, as `ctx.body`. The representation is released when the response ends.
 * An option that cannot apply to it throws a `TypeError`; a client that goes away is not an error.
 */
export async function sendRange(
  ctx: Context,
  representation: Representation,
  options: KoaSendRangeOptions = {},
): Promise<ResponsePlan> {
  // A layer in front (koa-compress before the router) may encode the body: its coding must not keep our strong tag.
  if (ctx.method === 'GET' || ctx.method === 'HEAD') guardContentCodings(ctx.res);
  const target = { res: ctx.res, getHeader: (name: string) => ctx.res.getHeader(name) };
  const planned = await planSendRange(requestOf(ctx), representation, options, target);
  await respond(ctx, planned.response, planned.representation);
  return planned.response;
}

function requestOf(ctx: Context): ServeRequest {
  return { method: ctx.method, path: ctx.path, originalUrl: ctx.originalUrl, headers: ctx.headers };
}

/** After later middleware: its 200 body, as Koa would send it, planned like any representation. */
async function planLaterMiddleware(ctx: Context, options: NormalizedOptions<ServerResponse>): Promise<void> {
  const body: unknown = ctx.body;
  if (ctx.respond === false || ctx.headerSent || body === null || body === undefined) return;
  if ((body instanceof Readable || Buffer.isBuffer(body)) && planned.has(body)) return;
  const request = { method: ctx.method, headers: ctx.headers };
  const getHeader = (name: string) => ctx.res.getHeader(name);
  let outcome: HandlerOutcome;
  const path = wholeFilePath(body);
  if (path !== undefined) {
    outcome = await planHandlerFile(request, ctx.status, getHeader, path, options);
    if (outcome.kind === 'plan' && outcome.representation !== undefined) (body as Readable).destroy(); // our own descriptor now
  } else {
    outcome = planHandlerBody(request, ctx.status, getHeader, handlerBody(body), options);
  }
  if (outcome.kind === 'leave') {
    if (Object.keys(outcome.headers).length > 0) ctx.set(mergeResponseFields(outcome.headers, getHeader));
  } else await respond(ctx, outcome.response, outcome.representation);
}

/**
 * The validators of a later middleware's 200 body as range-serve would give its identity answer, in
 * their weak form (RFC 9110 §8.8.1: they stand for the encoded bytes sent instead): a body held whole
 * (string, Buffer, JSON text) its content hash, a whole-file stream its file's; none for other streams
 * and for our own answers.
 */
async function identityValidators(
  body: unknown,
  options: NormalizedOptions<ServerResponse>,
): Promise<Record<string, string>> {
  if (body === null || body === undefined || (typeof body === 'object' && planned.has(body))) return {};
  const path = wholeFilePath(body);
  if (path !== undefined) return encodedFileValidators(path, options);
  const handled = handlerBody(body);
  return handled.type === 'bytes' ? { etag: `W/${contentEtag(handled.bytes)}` } : {};
}

/** A Koa body as the core sees it: the bytes Koa would send (strings as UTF-8, objects as JSON), or a stream. */
function handlerBody(body: unknown): HandlerBody {
  if (typeof body === 'string') return { type: 'bytes', bytes: Buffer.from(body) };
  if (Buffer.isBuffer(body)) return { type: 'bytes', bytes: body };
  if (body instanceof Readable) return { type: 'stream', stream: body };
  if (isJson(body)) return { type: 'bytes', bytes: Buffer.from(JSON.stringify(body)) };
  return { type: 'other' };
}

/** Whether Koa would send `body` as JSON: not a stream, nor one of Koa 3's web body types. */
function isJson(body: unknown): boolean {
  if (typeof body !== 'object' || body === null || body instanceof Stream || body instanceof Uint8Array) return false;
  return !(body instanceof Blob || body instanceof ReadableStream || body instanceof Response);
}

/**
 * Puts an answer on `ctx`. The body goes first and status and headers after it: assigning a stream over
 * an earlier body makes Koa drop `Content-Length`, and the answer's own fields must be the ones sent.
 */
async function respond(ctx: Context, response: ResponseDescription, rep: Representation | undefined): Promise<void> {
  const release = (): void => rep?.close?.();
  let body: Buffer | Readable | null = null;
  try {
    const body0 = response.body;
    if (body0.type === 'bytes') body = Buffer.from(body0.bytes.buffer, body0.bytes.byteOffset, body0.bytes.byteLength);
    else if (body0.type !== 'none') {
      body = (await readWholeBody(response, rep)) ?? (await openBody(response, rep, { destination: ctx.res }));
    }
  } catch (err) {
    release();
    throw err;
  }
  removeStaleContentHeaders(ctx.res, response);
  const typed = ctx.res.hasHeader('content-type');
  claimContentCoding(ctx.res, response.headers);
  if (body instanceof Readable) {
    const stream = body;
    planned.add(stream);
    stream.once('close', release);
    // Added before Koa's own listener: a failure after the headers went out cuts the connection, so the
    // client sees a short body, never a complete-looking one; Koa still reports the error to the app.
    stream.once('error', () => ctx.res.destroy());
    // A client that goes away is not a fault: on the first sign of it (the response's end or close, both
    // registered before Koa's own destroy of the body and before Koa 3 pipes it), the body ends what Koa
    // 3's pipeline reports to the app: nothing, or an exposed ClientGoneError (see abandonBody).
    const end = (): void => abandonBody(stream);
    ctx.res.once('close', end);
    onFinished(ctx.res, end);
  } else {
    release();
    if (body !== null) planned.add(body);
  }
  if (body === null) ctx.remove('content-type'); // Koa 3 would turn a null body of a JSON response into `null`
  // An empty 200 (a GET of an empty representation) is an empty buffer; other answers without a body are null.
  ctx.body = body ?? (response.status === 200 && ctx.method !== 'HEAD' ? Buffer.alloc(0) : null);
  // Koa types a body it is given as binary; a representation without a type is sent without one.
  if (!typed && response.headers['content-type'] === undefined) ctx.remove('content-type');
  ctx.status = response.status;
  // List fields (Vary, Cache-Control) merge with what earlier layers set on the response (@koa/cors's Vary: Origin).
  ctx.set(mergeResponseFields(response.headers, (name) => ctx.res.getHeader(name)));
}
export {
  type CompletedUpload,
  resumableUploads,
  type ResumableUploadOptions,
  type UploadCompletion,
  type UploadDescription,
  type UploadHookResponse,
  type UploadsClose,
} from './uploads.js';
