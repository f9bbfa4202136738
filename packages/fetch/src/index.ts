/**
 * @range-serve/fetch: byte ranges and RFC 9110 conditional requests for servers built on the Web-standard
 * `Request` and `Response` (Hono, Bun, Deno, Next.js route handlers). Every HTTP decision is
 * @range-serve/core's; this file only translates a `Request` in and makes the `Response`.
 */
import {
  type RangeServeOptions,
  type Representation,
  type SendRangeOptions,
  streamRepresentation,
} from '@range-serve/core';
import {
  type HandlerBody,
  type HandlerOutcome,
  type NormalizedOptions,
  normalizeOptions,
  planHandlerBody,
  planSendRange,
  rangeServer,
  type ResponseTarget,
} from '@range-serve/core/adapter';
import { type PeekedBody, peekBody } from './handler-body.js';
import { mountPath, planningRequest, serveRequest } from './request.js';
import { exposeFields, respond } from './response.js';

export { type FetchUploadOptions, resumableUploads, type UploadServer } from './uploads.js';
export type {
  CompletedUpload,
  UploadCompletion,
  UploadDescription,
  UploadHookResponse,
} from '@range-serve/core/upload';

/** The options of {@link rangeServe} and {@link withRanges}; `setHeaders` receives the response's `Headers`. */
export type FetchRangeOptions = RangeServeOptions<Headers>;
/** The options of {@link sendRange}: those that apply to a representation a route chose; `setHeaders` receives the response's `Headers`. */
export type FetchSendRangeOptions = SendRangeOptions<Headers>;
export type { RangeServeOptions, SendRangeOptions } from '@range-serve/core';

/** A handler of a Web-standard server: a request (and whatever else the router passes) in, a response out. */
export type FetchHandler<Args extends unknown[] = []> = (
  request: Request,
  ...args: Args
) => Response | Promise<Response>;

/** A mounted directory: its answer to a request, or null when the request is not for it (call the next handler). */
export type DirectoryServer = (request: Request, prefix?: string) => Promise<Response | null>;

/**
 * Serves the files under `root` with ranges and preconditions, as the Express and Koa adapters do, with the
 * same options. `prefix` is the mount path the router matched (`'/static'`: `/static/a.txt` is `a.txt`,
 * `/static` redirects to `/static/`); null means the request is not for this directory.
 */
export function rangeServe(root: string, options?: FetchRangeOptions): DirectoryServer {
  if (typeof root !== 'string') throw new TypeError('root must be a string');
  const server = rangeServer<Headers>(root, options);
  const setsHeaders = server.options.setHeaders !== undefined;
  return async function serveDirectory(request: Request, prefix?: string): Promise<Response | null> {
    const described = serveRequest(request, mountPath(prefix));
    if (described === null) return null;
    const before = setsHeaders ? new Headers() : undefined;
    const outcome = await server.answer(described, before === undefined ? UNUSED_TARGET : targetOf(before));
    if (outcome.kind === 'next') return null;
    return respond(request, outcome.response, outcome.representation, nonEmpty(before));
  };
}

/**
 * Answers `request` with a representation the route chose itself (a file from `openFile`, bytes, a store
 * read by range): ranges, preconditions and multipart. The representation is released when the body has
 * been sent, fails, or the client goes away. An option that cannot apply to it rejects with a `TypeError`.
 */
export async function sendRange(
  request: Request,
  representation: Representation,
  options: FetchSendRangeOptions = {},
): Promise<Response> {
  const before = new Headers();
  const planned = await planSendRange(planningRequest(request), representation, options, targetOf(before));
  return respond(request, planned.response, planned.representation, nonEmpty(before));
}

/**
 * Wraps a route handler: its 200 responses of known length (a `Content-Length`, or a body of bytes, a
 * string or a `Blob`) answer `Range`, `If-Range` and the preconditions; bytes get a strong content-hash
 * ETag unless the handler set one. Other responses are passed on as they are.
 */
export function withRanges<Args extends unknown[]>(
  handler: FetchHandler<Args>,
  options?: FetchRangeOptions,
): (request: Request, ...args: Args) => Promise<Response> {
  const normalized = normalizeOptions<Headers>(options);
  return async function rangedHandler(request: Request, ...args: Args): Promise<Response> {
    const response = await handler(request, ...args);
    // Only a 200 to a GET or HEAD can be planned; any other is not read at all.
    if ((request.method !== 'GET' && request.method !== 'HEAD') || response.status !== 200) return response;
    return planResponseOf(request, response, normalized);
  };
}

/** A handler's 200 planned by the core, or passed on (with `Accept-Ranges: none` when its length is unknown). */
async function planResponseOf(
  request: Request,
  response: Response,
  options: NormalizedOptions<Headers>,
): Promise<Response> {
  const planning = planningRequest(request);
  const getHeader = (name: string): string | undefined => response.headers.get(name) ?? undefined;
  const peeked: PeekedBody | undefined = response.body === null ? undefined : await peekBody(response.body);
  const outcome: HandlerOutcome = planHandlerBody(planning, 200, getHeader, handlerBody(request, peeked), options);
  const rest = peeked?.ended === false ? peeked.rest : undefined;
  if (outcome.kind === 'leave') {
    if (peeked === undefined && Object.keys(outcome.headers).length === 0) return response;
    const headers = new Headers(response.headers);
    for (const name of Object.keys(outcome.headers)) headers.set(name, outcome.headers[name] as string);
    // Fields of ours were added (Accept-Ranges: none): a script on another origin may read them (response.ts).
    if (Object.keys(outcome.headers).length > 0) exposeFields(headers);
    const body = peeked === undefined ? null : peeked.ended ? peeked.bytes : peeked.rest.stream();
    return new Response(body, { status: response.status, statusText: response.statusText, headers });
  }
  let representation = outcome.representation;
  if (representation === undefined && rest !== undefined && outcome.response.body.type !== 'none') {
    // A stream of declared length: the plan's spans are cut from it as it arrives.
    representation = streamRepresentation(rest, Number(getHeader('content-length')));
  } else if (representation === undefined) {
    rest?.cancel();
  }
  return respond(request, outcome.response, representation, response.headers);
}

/** The handler's body as the core sees one: bytes read whole, or bytes still to come. */
function handlerBody(request: Request, peeked: PeekedBody | undefined): HandlerBody {
  // No body: an empty one, or for HEAD the length the handler declared.
  if (peeked === undefined) return request.method === 'HEAD' ? { type: 'chunks' } : { type: 'bytes', bytes: EMPTY };
  if (peeked.ended) return { type: 'bytes', bytes: peeked.bytes };
  return peeked.opaque ? { type: 'other' } : { type: 'chunks' };
}

const EMPTY = new Uint8Array(0);

/** `setHeaders` writes into `headers`; the core reads them back. */
function targetOf(headers: Headers): ResponseTarget<Headers> {
  return { res: headers, getHeader: (name) => headers.get(name) ?? undefined };
}

/** The target when no `setHeaders` is given: nothing ever writes to it. */
const UNUSED_TARGET: ResponseTarget<Headers> = { res: new Headers(), getHeader: () => undefined };

function nonEmpty(headers: Headers | undefined): Headers | undefined {
  if (headers === undefined) return undefined;
  for (const _ of headers.keys()) return headers;
  return undefined;
}
