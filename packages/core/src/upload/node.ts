/**
 * The upload engine on Node's request and response: the one glue Express, Koa and plain `node:http`
 * share. A request's content is read from `req` as chunks (every chunk Node already holds is handed
 * over when the client goes away or the read is stopped); the answer is written to `res`, a download
 * through the core's download writer.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import { mergeResponseFields } from '../fields.js';
import { writeResponse } from '../respond.js';
import { announcesContent, createUploadEngine, type UploadEngine } from './engine.js';
import type { NormalizedUploadOptions, ResumableUploadOptions } from './options.js';
import type { ContentEnding, UploadAnswer, UploadContent, UploadTarget } from './request.js';

/** The engine behind `resumableUploads()` on Node. */
export interface UploadHandler {
  /** Answers `req` when it is an upload request (resolves true); resolves false to let it fall through. */
  handle(req: IncomingMessage, res: ServerResponse, target: UploadTarget): Promise<boolean>;
  /** Resolves once the store is reconciled (requests wait for it on their own); after a failed attempt, a new one. */
  readonly ready: Promise<void>;
  /** Stops the expiry sweep timer and closes the Redis connections the engine opened (not a client passed in). */
  close(): void;
  /** The normalised options. */
  readonly options: NormalizedUploadOptions;
}

/** Builds the upload engine for `options` on Node (validated here: a bad option throws a TypeError). */
export function createUploadHandler(options: ResumableUploadOptions): UploadHandler {
  const engine = createUploadEngine(options);
  return {
    handle: (req, res, target) => handleUpload(engine, req, res, target),
    get ready() {
      return engine.ready;
    },
    close: () => engine.close(),
    options: engine.options,
  };
}

/**
 * Answers `req` on `res` with `engine` when it is an upload request (true), else resolves false and
 * writes nothing. Rejects, with nothing written, for an error the framework should answer.
 */
export async function handleUpload(
  engine: UploadEngine<IncomingMessage>,
  req: IncomingMessage,
  res: ServerResponse,
  target: UploadTarget,
): Promise<boolean> {
  const answer = await engine.answer({
    method: req.method ?? 'GET',
    headers: framedHeaders(req),
    target: target.origin === undefined ? { ...target, origin: originOf(req) } : target,
    content: new NodeContent(req),
    original: req,
    informational: interimSender(req, res),
  });
  if (answer === undefined) return false;
  await writeAnswer(req, res, answer);
  return true;
}

/**
 * `req`'s fields, with its content's framing where the engine reads it. HTTP/2 ends content with the
 * stream (RFC 9113 §8.1), so a request may carry content with no `Content-Length`: the engine, which
 * reads framing from the fields as HTTP/1.1 gives it, is told of content of unknown length the way
 * HTTP/1.1 says so (`Transfer-Encoding: chunked`, a field an HTTP/2 request itself never carries, §8.2.2).
 */
function framedHeaders(req: IncomingMessage): IncomingMessage['headers'] {
  if (req.httpVersionMajor < 2 || req.headers['content-length'] !== undefined) return req.headers;
  const stream = (req as unknown as Partial<Http2ServerRequest>).stream;
  if (stream === undefined || stream.endAfterHeaders) return req.headers;
  return { ...req.headers, 'transfer-encoding': 'chunked' };
}

/**
 * How to send an interim (1xx) response on `req`'s transport, or undefined where there is none. HTTP/2
 * (RFC 9113 §8.1) sends it as a HEADERS frame ahead of the final one, through the compatibility API's
 * stream. HTTP/1.1 has none: Node's `http.ServerResponse` writes only 100, 102 and 103 (docs/uploads.md).
 */
function interimSender(
  req: IncomingMessage,
  res: ServerResponse,
): ((status: number, headers: Readonly<Record<string, string>>) => void) | undefined {
  const stream = req.httpVersionMajor >= 2 ? (req as unknown as Partial<Http2ServerRequest>).stream : undefined;
  if (stream === undefined) return undefined;
  return (status, headers) => {
    // After the final head, or on a stream the client reset, there is nothing left to announce to.
    if (res.headersSent || stream.headersSent || stream.destroyed || stream.closed) return;
    stream.additionalHeaders({ ...headers, ':status': status });
  };
}

/** The origin of a request on a plain `node:http` (or HTTP/2) server: its scheme and `Host`. */
function originOf(req: IncomingMessage): string | undefined {
  const host = req.headers.host ?? (req.headers[':authority'] as string | undefined);
  if (host === undefined) return undefined;
  const scheme = (req.socket as TLSSocket | undefined)?.encrypted === true ? 'https' : 'http';
  return `${scheme}://${host}`;
}

async function writeAnswer(req: IncomingMessage, res: ServerResponse, answer: UploadAnswer): Promise<void> {
  if (answer.kind === 'download') {
    // The one download writer: coding guard, merged fields, ranges; it closes the representation.
    await writeResponse(res, answer.plan, answer.representation);
    return;
  }
  // A request that lost its upload, or whose client went away, has nothing left to answer.
  if (answer.kind === 'gone' || res.destroyed || res.headersSent) return;
  // On an answer a CORS layer in front opened, a script on the page's origin must read Location and the
  // Upload-*/Tus-* fields (tus-js-client, Uppy): they are exposed, merged with the layer's list.
  const headers: Record<string, string> = mergeResponseFields({ ...answer.reply.headers }, (name) =>
    res.getHeader(name),
  );
  // Content we did not read is not worth reading: close the connection after this response. HTTP/2
  // has no connection field (RFC 9113 §8.2.2; Node warns and drops it): ending the response resets
  // only this stream's unread content.
  if (!req.complete && announcesContent(req.headers) && req.httpVersionMajor < 2) headers.connection = 'close';
  res.writeHead(answer.reply.status, headers);
  res.end(req.method === 'HEAD' ? undefined : answer.reply.body);
}

/** Above this many bytes held for the engine, Node stops reading the socket until it catches up. */
const PAUSE_AT = 1024 * 1024;

/**
 * `req`'s content as chunks. Node's 'data' events fill a small queue the engine drains; when the
 * client goes away, or the engine stops reading, whatever Node already holds (`req.read()`) is queued
 * too before the chunks end, so every byte that arrived whole is handed over.
 */
class NodeContent implements UploadContent, AsyncIterator<Uint8Array> {
  readonly #req: IncomingMessage;
  readonly #queue: Buffer[] = [];
  #queued = 0;
  #ending: ContentEnding | undefined;
  #started = false;
  #pausedHere = false;
  #wake: (() => void) | undefined;

  constructor(req: IncomingMessage) {
    this.#req = req;
  }

  get consumed(): boolean {
    return !this.#started && (this.#req.readableEnded || this.#req.readableDidRead);
  }

  get ending(): ContentEnding | undefined {
    return this.#queue.length === 0 ? this.#ending : undefined;
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    if (!this.#started) this.#start();
    return this;
  }

  async next(): Promise<IteratorResult<Uint8Array>> {
    for (;;) {
      const chunk = this.#queue.shift();
      if (chunk !== undefined) {
        this.#queued -= chunk.byteLength;
        if (this.#pausedHere && this.#queued < PAUSE_AT / 4 && this.#ending === undefined) {
          this.#pausedHere = false;
          this.#req.resume();
        }
        return { done: false, value: chunk };
      }
      if (this.#ending !== undefined) return { done: true, value: undefined };
      await new Promise<void>((resolve) => (this.#wake = resolve));
      this.#wake = undefined;
    }
  }

  async return(): Promise<IteratorResult<Uint8Array>> {
    if (this.#ending === undefined) this.stop(false);
    return { done: true, value: undefined };
  }

  stop(cut: boolean): void {
    if (this.#ending !== undefined) {
      if (cut) this.#req.socket?.destroy();
      return;
    }
    // Whatever Node already holds for us has arrived: take it before letting go of the request.
    this.#end('stopped', true);
    if (cut) this.#req.socket?.destroy();
    else this.#req.pause();
  }

  #start(): void {
    this.#started = true;
    const req = this.#req;
    req.on('data', this.#onData);
    req.once('end', this.#onEnd);
    req.once('close', this.#onGone);
    req.once('error', this.#onGone);
    if (req.readableEnded) this.#end('complete', false);
    // The client left while hooks or the lock kept us waiting: keep what Node holds, then stop.
    else if (req.destroyed) this.#end('aborted', true);
  }

  readonly #onData = (chunk: Buffer): void => {
    this.#push(chunk);
    if (this.#queued > PAUSE_AT && !this.#pausedHere) {
      this.#pausedHere = true;
      this.#req.pause();
    }
  };

  readonly #onEnd = (): void => this.#end('complete', false);

  readonly #onGone = (): void => this.#end('aborted', true);

  #push(chunk: Buffer): void {
    this.#queue.push(chunk);
    this.#queued += chunk.byteLength;
    this.#wake?.();
  }

  #end(ending: ContentEnding, drain: boolean): void {
    if (this.#ending !== undefined) return;
    const req = this.#req;
    req.removeListener('data', this.#onData);
    if (drain) {
      let chunk: Buffer | null;
      while ((chunk = req.read() as Buffer | null) !== null) this.#push(chunk);
    }
    this.#ending = ending;
    req.removeListener('end', this.#onEnd);
    req.removeListener('close', this.#onGone);
    req.removeListener('error', this.#onGone);
    req.on('error', ignore);
    this.#wake?.();
  }
}

function ignore(): void {}
