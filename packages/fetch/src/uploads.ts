/**
 * `resumableUploads()` for Web-standard servers: the upload engine of @range-serve/core/upload (tus
 * 1.0.0 and the draft "Resumable Uploads for HTTP") on a `Request`, its answer made a `Response`. Every
 * decision is the engine's; this file only translates: the request's body is read as chunks, a
 * take-over cancels it, and a finished upload's download is built by the adapter's one response writer.
 */
import {
  type ContentEnding,
  createUploadEngine,
  type ResumableUploadOptions,
  type UploadAnswer,
  type UploadContent,
} from '@range-serve/core/upload';
import { headersOf, mountPath, requestTarget } from './request.js';
import { respond } from './response.js';

/** The options of {@link resumableUploads}: those of the Express and Koa adapters; the hooks receive the `Request`. */
export type FetchUploadOptions = ResumableUploadOptions<Request>;

/** The upload endpoint: its answer to a request, or null when the request is not an upload request (call the next handler). */
export type UploadServer = ((request: Request, prefix?: string) => Promise<Response | null>) & {
  /** Stops the expiry sweep and closes the Redis connections the uploads opened (not a client you passed). */
  close(): void;
};

/**
 * Answers resumable uploads under the mount path `prefix` (`'/files'`): `OPTIONS` and `POST` on the path
 * itself, `HEAD`, `PATCH`, `DELETE` and `GET` on `<prefix>/<id>`. Null means the request is not an
 * upload request; a failure rejects, for the router's error handling.
 */
export function resumableUploads(options: FetchUploadOptions): UploadServer {
  const engine = createUploadEngine<Request>(options);
  const serveUploads = async (request: Request, prefix?: string): Promise<Response | null> => {
    const mount = mountPath(prefix);
    const target = requestTarget(request.url);
    const query = target.indexOf('?');
    const full = query === -1 ? target : target.slice(0, query);
    if (mount !== '' && !(full === mount || full.startsWith(`${mount}/`))) return null;
    const answer = await engine.answer({
      method: request.method,
      headers: headersOf(request),
      target: { prefix: mount, path: full.slice(mount.length), origin: originOf(request.url) },
      content: new WebContent(request),
      original: request,
    });
    return answer === undefined ? null : toResponse(request, answer);
  };
  return Object.assign(serveUploads, { close: () => engine.close() });
}

/** The origin of `url` as the host built it from the request (scheme and `Host`), if it parses. */
function originOf(url: string): string | undefined {
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}

/** Statuses whose response must have no body (Fetch: a "null body status"). */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

function toResponse(request: Request, answer: UploadAnswer): Promise<Response> | Response {
  if (answer.kind === 'download') return respond(request, answer.plan, answer.representation);
  // A request that lost its upload (or whose client left) is answered all the same: the host must send something.
  const { status, headers, body } = answer.reply;
  const sent = request.method === 'HEAD' || NULL_BODY.has(status) || body === undefined ? null : body;
  return new Response(sent, { status, headers: headers as Record<string, string> });
}

/** Deno aborts `request.signal` after every successful response too, and warns once when it is read. */
const SIGNAL_MEANS_GONE = !('Deno' in globalThis);

const DONE: IteratorResult<Uint8Array> = { done: true, value: undefined };

/** What a read of a body gives. */
type ReadResult = Awaited<ReturnType<ReadableStreamDefaultReader<Uint8Array>['read']>>;

/**
 * A `Request`'s body as chunks. Stopping it ends the reader: a take-over cancels the body (the host ends
 * the request), any other stop only releases it, so that the host can still send the answer. A chunk
 * the host had already queued when the engine stopped is still handed over. A body that ends short of
 * its `Content-Length`, that fails, or whose request is aborted, ended `aborted`.
 */
class WebContent implements UploadContent, AsyncIterator<Uint8Array> {
  readonly #request: Request;
  readonly #declared: number | undefined;
  #reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  #pending: Promise<ReadResult> | undefined;
  #received = 0;
  #ending: ContentEnding | undefined;
  #stop: { readonly cut: boolean } | undefined;
  #released = false;

  constructor(request: Request) {
    this.#request = request;
    const length = request.headers.get('content-length');
    this.#declared = length !== null && /^\d+$/.test(length) ? Number(length) : undefined;
  }

  get consumed(): boolean {
    return this.#reader === undefined && this.#request.bodyUsed;
  }

  get ending(): ContentEnding | undefined {
    return this.#ending;
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    if (this.#reader === undefined && this.#ending === undefined) {
      const body = this.#request.body;
      if (body === null) this.#ending = 'complete';
      else {
        this.#reader = body.getReader();
        if (SIGNAL_MEANS_GONE) this.#request.signal.addEventListener('abort', this.#onAbort, { once: true });
      }
    }
    return this;
  }

  async next(): Promise<IteratorResult<Uint8Array>> {
    const reader = this.#reader;
    if (this.#ending !== undefined || reader === undefined) return DONE;
    if (this.#stop !== undefined) return this.#drainOne(reader);
    let result: ReadResult;
    try {
      this.#pending = reader.read();
      result = await this.#pending;
    } catch {
      return this.#end(this.#stop !== undefined ? 'stopped' : 'aborted');
    } finally {
      this.#pending = undefined;
    }
    if (result.done) {
      if (this.#stop !== undefined) return this.#end('stopped');
      const short = this.#declared !== undefined && this.#received < this.#declared;
      return this.#end(short || this.#request.signal.aborted ? 'aborted' : 'complete');
    }
    this.#received += result.value.byteLength;
    return { done: false, value: result.value };
  }

  async return(): Promise<IteratorResult<Uint8Array>> {
    if (this.#ending === undefined) {
      this.#stop ??= { cut: false };
      this.#release();
      this.#end('stopped');
    }
    return DONE;
  }

  stop(cut: boolean): void {
    if (this.#ending !== undefined) {
      if (cut) void this.#reader?.cancel().catch(ignore);
      return;
    }
    this.#stop = { cut };
    // A read under way means nothing was queued: end it now (it settles empty).
    if (this.#pending !== undefined) this.#release();
  }

  /** After a stop: a chunk the host has already queued (it comes within a turn), else the end. */
  async #drainOne(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<IteratorResult<Uint8Array>> {
    if (this.#released) return this.#end('stopped');
    const read = reader.read().then(
      (result) => result,
      (): ReadResult => ({ done: true, value: undefined }),
    );
    const turn = new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 0));
    const first = await Promise.race([read, turn]);
    if (first === undefined) this.#release();
    // Released or cancelled, a read that had not been served settles empty; one already served keeps its chunk.
    const result = first ?? (await read);
    if (result.done === true) return this.#end('stopped');
    this.#received += result.value.byteLength;
    return { done: false, value: result.value };
  }

  /** Ends the reader: a take-over cancels the body, any other stop lets go of it for the host. */
  #release(): void {
    if (this.#released || this.#reader === undefined) return;
    this.#released = true;
    const reader = this.#reader;
    if (this.#stop?.cut === true) {
      void reader.cancel().catch(ignore);
      return;
    }
    try {
      reader.releaseLock();
    } catch {
      void reader.cancel().catch(ignore);
    }
  }

  /** The client is gone: what the host already handed over is kept, then the chunks end (not `complete`). */
  readonly #onAbort = (): void => {
    if (this.#ending !== undefined || this.#stop !== undefined) return;
    this.#stop = { cut: true };
    if (this.#pending !== undefined) this.#release();
  };

  #end(ending: ContentEnding): IteratorResult<Uint8Array> {
    if (this.#ending === undefined) {
      this.#ending = ending;
      if (SIGNAL_MEANS_GONE) this.#request.signal.removeEventListener('abort', this.#onAbort);
    }
    return DONE;
  }
}

function ignore(): void {}
