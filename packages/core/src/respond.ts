/**
 * The one writer onto Node's `ServerResponse` (and the HTTP/2 compatibility API's `Http2ServerResponse`,
 * which writes the same way), used for directory serving, for `sendRange`, for route handlers' bodies
 * that the interception planned, and by plain `node:http` and `node:http2` servers.
 */
import { type IncomingMessage, type OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { type Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { claimContentCoding, guardAnsweredResponse } from './coding.js';
import { mergeResponseFields } from './fields.js';
import { onStreamReset, responseGone, writeSizeFor } from './http2.js';
import { type BodyOptions, bodyChunks, DEFAULT_READ_SIZE, type ReadBuffers, readWholeBody } from './body.js';
import { type PlanOptions, planResponse, type ResponsePlan } from './plan.js';
import { closeRepresentation, type Representation } from './representation.js';
import { CONTENT_HEADERS, describesRepresentation, type ResponseDescription } from './response.js';

/** A response of Node's `http` server, or of its HTTP/2 compatibility API (`http2.createSecureServer(options, handler)`). */
export type NodeResponse = ServerResponse | Http2ServerResponse;

/** A request of Node's `http` server, or of its HTTP/2 compatibility API. */
export type NodeRequest = IncomingMessage | Http2ServerRequest;

/**
 * The compatibility API's response has `ServerResponse`'s methods with the same meaning; inside this file
 * both are written through that one type.
 */
function asServerResponse(res: NodeResponse): ServerResponse {
  return res as ServerResponse;
}

/** The three calls a response is written with; by default the response's own (and so any layer wrapping them). */
export interface ResponseWriter {
  /** True when `write` is Node's own, whose callback always comes (read buffers may then be reused). */
  readonly callsBack: boolean;
  writeHead(status: number, headers: OutgoingHttpHeaders): void;
  write(chunk: Uint8Array, callback: (error?: Error | null) => void): boolean;
  end(chunk?: Uint8Array): void;
}

/** Options for {@link writeResponse}. */
export interface WriteOptions extends BodyOptions {
  /** How to write; default `res.writeHead`, `res.write` and `res.end` as they are on `res` now. */
  readonly writer?: ResponseWriter;
}

/** Responses range-serve writes itself through their own methods (sendRange, an upload's download). */
const answering = new WeakSet<ServerResponse>();

/**
 * Whether range-serve is writing `res` itself: an interception of later handlers around it (rangeServe()
 * in front of a sendRange route) passes that answer through instead of planning it a second time with
 * its own options.
 */
export function answeredByRangeServe(res: ServerResponse): boolean {
  return answering.has(res);
}

/**
 * Writes `answer` to `res`, reading its body from `representation`, which it then owns and closes once
 * the response ends, fails or the client goes away. Resolves when it is done, a client that went away
 * included (that is no failure of ours). It rejects when the body cannot be read: before the status line
 * nothing has been sent (answer with an error, `res.headersSent` is false); after it, the connection has
 * already been destroyed, so the client sees a short body, never a complete-looking one, and the error
 * is still the caller's to report.
 */
export async function writeResponse(
  target: NodeResponse,
  answer: ResponseDescription,
  representation?: Representation,
  options: WriteOptions = {},
): Promise<void> {
  const res = asServerResponse(target);
  const writer = options.writer;
  if (writer === undefined) {
    answering.add(res);
    // Through the response's own methods, a layer in front that wrapped them may encode what we write
    // (compression before sendRange or an upload's download): its coding must not keep our strong tag.
    guardAnsweredResponse(res);
  }
  removeStaleContentHeaders(res, answer);
  claimContentCoding(res, answer.headers);
  const response = withMergedFields(res, answer);
  const body = response.body;
  if (body.type === 'none' || body.type === 'bytes') {
    // Nothing to read: answered at once (the 304 and 412 path), with no writer or buffers made for it.
    if (representation !== undefined) closeRepresentation(representation);
    const bytes = body.type === 'bytes' ? body.bytes : undefined;
    if (writer !== undefined) {
      writer.writeHead(response.status, response.headers);
      writer.end(bytes);
    } else if (bytes === undefined) res.writeHead(response.status, response.headers).end();
    else res.writeHead(response.status, response.headers).end(bytes);
    return;
  }
  // Over HTTP/2, what is queued on a stream stays within its flow-control window (http2.ts).
  const readSize = writeSizeFor(res, options.readSize ?? DEFAULT_READ_SIZE);
  return writeBody(res, response, representation, { ...options, readSize }, writer ?? ownWriter(res));
}

/** {@link writeResponse} for a response with a body to read from its representation. */
async function writeBody(
  res: ServerResponse,
  response: ResponseDescription,
  representation: Representation | undefined,
  options: WriteOptions,
  writer: ResponseWriter,
): Promise<void> {
  const release = (): void => {
    if (representation !== undefined) closeRepresentation(representation);
  };
  let chunks: AsyncGenerator<Uint8Array, void, undefined> | undefined;
  let first: IteratorResult<Uint8Array, void> | undefined;
  let pool: BufferPool | null = null;
  try {
    const whole = readWholeBody(response, representation);
    if (whole !== null) {
      const bytes = await whole;
      release();
      if (responseGone(res)) return;
      writer.writeHead(response.status, response.headers);
      writer.end(bytes);
      return;
    }
    // Two read buffers used in turn only where the write's callback is sure to come: a layer that wraps
    // `res.write` (compression) may never call it, so it gets fresh buffers.
    pool = writer.callsBack ? new BufferPool() : null;
    // The first chunk is read before the status line, so that a representation that cannot be read
    // at all still becomes an error the framework answers.
    chunks = bodyChunks(response.body, representation, options, pool ?? undefined);
    first = await chunks.next();
  } catch (err) {
    release();
    await chunks?.return();
    throw err;
  }
  writer.writeHead(response.status, response.headers);
  await stream(res, writer, chunks, first, pool).finally(release);
}

/**
 * Removes the body fields (Content-Type, Content-Length, ...) a handler set on `res` when `response` is
 * an answer without that body (304, 412, 416, a refusal): they must not describe what is not sent.
 */
export function removeStaleContentHeaders(res: ServerResponse, response: ResponseDescription): void {
  if (describesRepresentation(response) || res.getHeaderNames().length === 0) return;
  for (const name of CONTENT_HEADERS) if (response.headers[name] === undefined) res.removeHeader(name);
}

/**
 * `response` with its list fields (Vary, Cache-Control) merged into the values another layer or the
 * handler already set on `res`: writing them whole would replace those (see {@link mergeResponseFields}).
 */
export function withMergedFields<R extends ResponseDescription>(res: ServerResponse, response: R): R {
  if (res.getHeaderNames().length === 0) return response;
  const headers = mergeResponseFields(response.headers, (name) => res.getHeader(name));
  return headers === response.headers ? response : { ...response, headers };
}

/** Writes the remaining chunks with backpressure from `write()`'s answer and `'drain'`, stopping when the client goes. */
async function stream(
  res: ServerResponse,
  writer: ResponseWriter,
  chunks: AsyncGenerator<Uint8Array, void, undefined>,
  first: IteratorResult<Uint8Array, void>,
  pool: BufferPool | null,
): Promise<void> {
  let closed = responseGone(res);
  let wake: (() => void) | undefined;
  const onClose = (): void => {
    closed = true;
    pool?.abort();
    wake?.();
  };
  const onDrain = (): void => wake?.();
  res.once('close', onClose);
  // A reset HTTP/2 stream stops the reading at once, a tick before the response's own 'close'.
  const stopWatchingReset = onStreamReset(res, onClose);
  try {
    let next = first;
    while (next.done !== true && !closed) {
      const chunk = next.value;
      const callback = pool === null ? ignoreError : pool.callbackFor(chunk);
      if (!writer.write(chunk, callback) && !closed) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          res.once('drain', onDrain);
        });
        wake = undefined;
        res.off('drain', onDrain);
      }
      if (closed) break;
      next = await chunks.next();
    }
    if (!closed) writer.end();
  } catch (err) {
    res.destroy(err as Error);
    // A read that failed because the client had gone (a store cut off with it) is not reported.
    if (!closed) throw err;
  } finally {
    res.off('close', onClose);
    stopWatchingReset();
    await chunks.return().catch(ignoreError);
  }
}

function ignoreError(): void {}

function ownWriter(res: ServerResponse): ResponseWriter {
  const write: unknown = res.write;
  return {
    // Both Node's write and the compatibility API's call back for every chunk, also when the stream goes.
    callsBack: write === ServerResponse.prototype.write || write === Http2ServerResponse.prototype.write,
    writeHead: (status, headers) => {
      res.writeHead(status, headers);
    },
    write: (chunk, callback) => res.write(chunk, callback),
    end: (chunk) => {
      if (chunk === undefined) res.end();
      else res.end(chunk);
    },
  };
}

/**
 * Two read buffers used in turn, a buffer read into again only after the write that carried it called
 * back: a long body then allocates nothing per chunk (a fresh buffer per read makes V8 run a full
 * collection every few dozen megabytes).
 */
class BufferPool implements ReadBuffers {
  private readonly slots: { buffer: Buffer | undefined; written: Promise<void> }[] = [
    { buffer: undefined, written: Promise.resolve() },
    { buffer: undefined, written: Promise.resolve() },
  ];
  private turn = 0;
  private aborted: Promise<void>;
  private abortNow!: () => void;

  constructor() {
    this.aborted = new Promise((resolve) => {
      this.abortNow = resolve;
    });
  }

  async acquire(size: number): Promise<Buffer> {
    const slot = this.slots[this.turn] as (typeof this.slots)[number];
    this.turn ^= 1;
    await Promise.race([slot.written, this.aborted]);
    if (slot.buffer === undefined || slot.buffer.length < size) slot.buffer = Buffer.allocUnsafeSlow(size);
    return slot.buffer;
  }

  /** The write callback for `chunk`: when it comes, the buffer under `chunk` may be read into again. */
  callbackFor(chunk: Uint8Array): (error?: Error | null) => void {
    const slot = this.slots.find((s) => s.buffer !== undefined && s.buffer.buffer === chunk.buffer);
    if (slot === undefined) return ignoreError;
    let done!: () => void;
    slot.written = new Promise((resolve) => {
      done = resolve;
    });
    return () => done();
  }

  /** The client went away: nothing waits for callbacks any more. */
  abort(): void {
    this.abortNow();
  }
}

/** Options for {@link serveRepresentation}: planning and body options together. */
export interface ServeOptions extends PlanOptions, BodyOptions {}

/**
 * Plans and sends the response to `req` for `representation` on a plain `node:http` response, and
 * returns the plan; the representation is closed when the response is done. A failure before the
 * status line is answered with an empty 500 (there is no framework to hand it to); after it, the
 * connection is destroyed.
 */
export function serveRepresentation(
  req: NodeRequest,
  target: NodeResponse,
  representation: Representation,
  options: ServeOptions = {},
): ResponsePlan {
  const res = asServerResponse(target);
  const plan = planResponse({ method: req.method ?? 'GET', headers: req.headers }, representation, options);
  writeResponse(res, plan, representation, options).catch(() => {
    if (res.headersSent || responseGone(res)) res.destroy();
    else res.writeHead(500, { 'content-length': '0' }).end();
  });
  return plan;
}

/** Sends a plan made by {@link planResponse} for `representation` on `res` (see {@link writeResponse}). */
export function sendPlan(
  res: NodeResponse,
  plan: ResponsePlan,
  representation: Representation,
  options: BodyOptions = {},
): Promise<void> {
  return writeResponse(res, plan, representation, options);
}
