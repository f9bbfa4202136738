/**
 * The upload engine's request and answer, as values: what an adapter hands in (method, lowercase
 * fields, where the request sits under the mount, its content as chunks, the framework's own request
 * for the hooks) and what it gets back (a response to send, or a finished upload to download through
 * the core's download path). Nothing here is Node's `IncomingMessage` or `ServerResponse`, so the same
 * engine runs under Express and Koa (node.ts) and on Web-standard `Request`/`Response` hosts.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { ResponsePlan } from '../plan.js';
import type { Representation } from '../representation.js';

/** Where the request sits under the mount point. */
export interface UploadTarget {
  /** The mount prefix as the client sees it, without a trailing slash (`/files`, or `''` at the root). */
  readonly prefix: string;
  /** The path below the prefix: `''` or `/` for the endpoint, `/<id>` for an upload. */
  readonly path: string;
  /**
   * The request's origin as the app sees it (`https://example.com`, behind a trusted proxy too), against
   * which absolute URLs in a tus `Upload-Concat` are checked; without it only paths are accepted there.
   */
  readonly origin?: string | undefined;
}

/** How the content of a request ended. */
export type ContentEnding =
  /** Every byte the request announced arrived. */
  | 'complete'
  /** The client went away, or the transport failed, before the end. */
  | 'aborted'
  /** {@link UploadContent.stop} was called. */
  | 'stopped';

/**
 * A request's content as the engine reads it: chunks in order. It ends when the content ends, when the
 * client goes away, or after {@link UploadContent.stop} — and in each case it first hands over every
 * chunk that had already arrived whole, so an interrupted append keeps them.
 */
export interface UploadContent extends AsyncIterable<Uint8Array> {
  /** True when another layer has already read from it: stored now, the upload would be short. */
  readonly consumed: boolean;
  /**
   * Ends the chunks (those already received are still handed over). `cut` also ends the request
   * itself — the connection closed, the body cancelled — for a take-over, whose client must learn it
   * lost the upload; otherwise the content is only no longer read, and an answer will follow.
   */
  stop(cut: boolean): void;
  /** How the chunks ended, once they have. */
  readonly ending: ContentEnding | undefined;
}

/** One request for the upload engine. `R` is the framework's request, handed to the hooks as it is. */
export interface UploadRequest<R> {
  /** The method, uppercase. */
  readonly method: string;
  /** Lowercase field names; a field sent more than once joined as the host joins it. */
  readonly headers: IncomingHttpHeaders;
  readonly target: UploadTarget;
  /** The content (empty for a request without). */
  readonly content: UploadContent;
  /** The framework's request: Node's (Express, Koa, node:http) or the Web `Request` (fetch hosts). */
  readonly original: R;
  /**
   * Sends an interim (1xx) response before the final one, where the transport can (the draft's 104
   * Upload Resumption Supported); absent where it cannot, and then none is sent.
   */
  readonly informational?: ((status: number, headers: Readonly<Record<string, string>>) => void) | undefined;
}

/** A response as a value: status, lowercase header fields and an optional body. */
export interface UploadReply {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string | Uint8Array | undefined;
}

/** What the engine answers an upload request with. */
export type UploadAnswer =
  /** Send this response (HEAD: its fields without the body). */
  | { readonly kind: 'reply'; readonly reply: UploadReply }
  /**
   * A finished upload downloaded: send `plan` reading its body from `representation` through the
   * core's download path (the same writer, coding guard and merged fields as every download), which
   * then owns and closes the representation.
   */
  | { readonly kind: 'download'; readonly plan: ResponsePlan; readonly representation: Representation }
  /**
   * The request lost its upload to a newer one, or its client went away mid-content: its bytes are
   * kept and nothing needs answering. A transport that must still answer something sends `reply`.
   */
  | { readonly kind: 'gone'; readonly reply: UploadReply };
