/**
 * The upload engine on Node's request and response: the one glue Express, Koa and plain `node:http`
 * share. A request's content is read from `req` as chunks (every chunk Node already holds is handed
 * over when the client goes away or the read is stopped); the answer is written to `res`, a download
 * through the core's download writer.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
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
    headers: req.headers,
    target: target.origin === undefined ? { ...target, origin: originOf(req) } : target,
    content: new NodeContent(req),
    original: req,
  });
  if (answer === undefined) return false;
  await writeAnswer(req, res, answer);
  return true;
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
  // Content we did not read is not worth reading: close the connection after this response.
  if (!req.complete && announcesContent(req.headers)) headers.connection = 'close';
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
