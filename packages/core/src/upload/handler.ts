/**
 * The upload endpoint on Node's request and response: routing under the prefix, the lock, the store,
 * the hooks and the download of finished uploads. The adapters hand it `req`, `res` and the prefix.
 */
import { createHash, type Hash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import contentDisposition from 'content-disposition';
import { closeRepresentation, openFile } from '../representation.js';
import { serveRepresentation } from '../respond.js';
import { UploadLocks, type UploadLease } from './lock.js';
import {
  type CompletedUpload,
  type NormalizedUploadOptions,
  normalizeUploadOptions,
  type ResumableUploadOptions,
  type UploadDescription,
  type UploadHookResponse,
} from './options.js';
import {
  appendedResponse,
  type BodyOutcome,
  type ChecksumExpectation,
  bodyFailureResponse,
  completedResponse,
  createdResponse,
  detectProtocol,
  isExpired,
  lengthMismatchResponse,
  missingResponse,
  discoveryResponse,
  downloadContentType,
  INERT_DOWNLOAD_HEADERS,
  offsetResponse,
  planAppend,
  planCreation,
  type ProtocolChoice,
  refusal,
  terminatedResponse,
  terminationCheck,
  unsupportedProtocol,
  type UploadLimits,
  uploadLocation,
  type UploadProtocol,
  type UploadState,
} from './protocol.js';
import { isMediaType } from './fields.js';
import { bodyAlreadyConsumed, ConsumedBodyError, receiveContent } from './receive.js';
import { newUploadId, UPLOAD_ID, UploadStore } from './store.js';

/** Where the request sits under the mount point. */
export interface UploadTarget {
  /** The mount prefix as the client sees it, without a trailing slash (`/files`, or `''` at the root). */
  readonly prefix: string;
  /** The path below the prefix: `''` or `/` for the endpoint, `/<id>` for an upload. */
  readonly path: string;
}

/** The engine behind `resumableUploads()`. */
export interface UploadHandler {
  /** Answers `req` when it is an upload request (resolves true); resolves false to let it fall through. */
  handle(req: IncomingMessage, res: ServerResponse, target: UploadTarget): Promise<boolean>;
  /** Resolves once the store is reconciled (requests wait for it on their own). */
  readonly ready: Promise<void>;
  /** Stops the expiry sweep timer. */
  close(): void;
  /** The normalised options. */
  readonly options: NormalizedUploadOptions;
}

function describe(state: UploadState): UploadDescription {
  return {
    id: state.id,
    length: state.length,
    offset: state.offset,
    complete: state.complete,
    metadata: state.metadata,
    contentType: state.contentType,
    fileName: state.fileName,
    data: state.data,
    protocol: state.protocol,
  };
}

function send(
  req: IncomingMessage,
  res: ServerResponse,
  response: { status: number; headers: Record<string, string>; body?: string | Uint8Array },
): void {
  if (res.destroyed || res.headersSent) return;
  const headers = { ...response.headers };
  // Content we did not read is not worth reading: close the connection after this response.
  if (!req.complete && hasUnreadContent(req)) headers.connection = 'close';
  if (
    response.body === undefined &&
    headers['content-length'] === undefined &&
    response.status !== 204 &&
    response.status !== 304
  ) {
    headers['content-length'] = '0';
  }
  res.writeHead(response.status, headers);
  res.end(req.method === 'HEAD' ? undefined : response.body);
}

/** A request whose framing announces content (a non-zero Content-Length, or chunked). */
function hasUnreadContent(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

function plainText(status: number, message: string): { status: number; headers: Record<string, string>; body: string } {
  return {
    status,
    headers: { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(Buffer.byteLength(message)) },
    body: message,
  };
}

/** A hook's own response, with the protocol's fields (`Tus-Resumable`, draft `Upload-Complete: ?0`) added. */
function hookResponse(
  protocol: UploadProtocol | undefined,
  own: UploadHookResponse,
): { status: number; headers: Record<string, string>; body: string | Uint8Array } {
  const headers: Record<string, string> = { 'content-type': 'text/plain; charset=utf-8' };
  for (const [name, value] of Object.entries(own.headers ?? {})) headers[name.toLowerCase()] = value;
  if (protocol !== undefined) {
    const { 'content-type': _type, 'content-length': _length, ...fields } = refusal(protocol, own.status, '').headers;
    Object.assign(headers, fields);
  }
  const body = own.body ?? '';
  headers['content-length'] = String(typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength);
  return { status: own.status, headers, body };
}

/** Builds the upload engine for `options` (validated here: a bad option throws a TypeError). */
/** How many unfinished uploads keep a running SHA-256 in memory; beyond it the oldest is read back at completion. */
const CONTENT_HASHES_MAX = 1024;

/**
 * The running SHA-256 of unfinished uploads this process received from their first byte, by id, each
 * with the offset it covers. It saves reading a completed upload back from disk to digest it; an upload
 * without one (received by another process, or before a restart) is read back instead.
 */
class ContentHashes {
  readonly #byId = new Map<string, { readonly offset: number; readonly hash: Hash }>();

  /** The hash to carry on from `offset`: the one kept for `id` if it covers exactly that, a new one at 0. */
  take(id: string, offset: number): Hash | undefined {
    const kept = this.#byId.get(id);
    this.#byId.delete(id);
    if (kept?.offset === offset) return kept.hash;
    return offset === 0 ? createHash('sha256') : undefined;
  }

  /** Keeps `hash` as covering the first `offset` bytes of `id`. */
  keep(id: string, offset: number, hash: Hash): void {
    this.#byId.set(id, { offset, hash });
    if (this.#byId.size > CONTENT_HASHES_MAX) this.#byId.delete(this.#byId.keys().next().value as string);
  }

  /** The base64 SHA-256 of the first `offset` bytes of `id`, if a hash covering exactly those is kept. */
  digest(id: string, offset: number): string | undefined {
    const kept = this.#byId.get(id);
    this.#byId.delete(id);
    return kept?.offset === offset ? kept.hash.digest('base64') : undefined;
  }
}

export function createUploadHandler(options: ResumableUploadOptions): UploadHandler {
  const normalized = normalizeUploadOptions(options);
  const { hooks } = normalized;
  const store = new UploadStore(normalized.directory);
  const locks = new UploadLocks();
  const limits = (): UploadLimits => ({
    maxSize: normalized.maxSize,
    expiresAfter: normalized.expiresAfter,
    now: Date.now(),
  });
  const contentHashes = new ContentHashes();
  const ready = store.open((state) => isExpired(state, limits()));
  ready.catch(() => {}); // reported by every request that waits for it

  const sweep = async (): Promise<void> => {
    const now = limits();
    for (const state of store.all()) {
      if (!isExpired(state, now) || locks.busy(state.id)) continue;
      const lease = await locks.acquire(state.id);
      try {
        const current = store.get(state.id);
        if (current?.kind === 'present' && isExpired(current.state, limits())) await store.remove(state.id);
      } finally {
        lease.release();
      }
    }
  };
  const timer =
    normalized.expiresAfter === undefined
      ? undefined
      : setInterval(() => {
          void ready.then(sweep).catch(() => {});
        }, normalized.sweepInterval);
  timer?.unref();

  /** Receives content into `state`'s file and records the new durable offset. */
  async function receive(
    req: IncomingMessage,
    lease: UploadLease,
    state: UploadState,
    plan: {
      maxBytes: number;
      checksum: ChecksumExpectation | undefined;
      length: number | undefined;
    },
  ): Promise<{ state: UploadState; outcome: BodyOutcome }> {
    if (hasUnreadContent(req) && bodyAlreadyConsumed(req)) throw new ConsumedBodyError();
    const file = await store.openData(state.id);
    const contentHash = contentHashes.take(state.id, state.offset);
    let result;
    try {
      result = await receiveContent(req, {
        contentHash,
        file,
        start: state.offset,
        maxBytes: plan.maxBytes,
        idleTimeout: normalized.idleTimeout,
        checksum: plan.checksum,
        onInterrupt: (fn) => lease.onInterrupt(fn),
        onCheckpoint: async (durable) => {
          await store.commit({
            ...state,
            length: plan.length ?? state.length,
            offset: state.offset + durable,
            updatedAt: Date.now(),
          });
        },
      });
    } finally {
      await file.close();
    }
    const next: UploadState = {
      ...state,
      length: plan.length ?? state.length,
      offset: state.offset + result.received,
      updatedAt: result.received > 0 || plan.length !== state.length ? Date.now() : state.updatedAt,
    };
    if (contentHash !== undefined && result.contentHashed) contentHashes.keep(state.id, next.offset, contentHash);
    // The data is on stable storage (receiveContent fsynced it); now the offset that covers it.
    if (next.offset !== state.offset || next.length !== state.length) await store.commit(next);
    return { state: next, outcome: result.outcome };
  }

  /** Marks `state` complete, runs the completion hook and answers. */
  async function complete(
    req: IncomingMessage,
    res: ServerResponse,
    protocol: UploadProtocol,
    state: UploadState,
    location: string | undefined,
  ): Promise<void> {
    const path = store.dataPath(state.id);
    const finished: UploadState = {
      ...state,
      length: state.offset,
      complete: true,
      sha256: contentHashes.digest(state.id, state.offset) ?? (await store.sha256(state.id)),
      updatedAt: Date.now(),
    };
    await store.commit(finished);
    let own: UploadHookResponse | undefined;
    if (hooks.onComplete !== undefined) {
      const upload: CompletedUpload = {
        ...describe(finished),
        path,
        length: finished.offset,
        sha256: finished.sha256 ?? '',
      };
      const verdict = await hooks.onComplete(req, upload);
      const servedType = verdict?.contentType;
      if (servedType !== undefined && (typeof servedType !== 'string' || !isMediaType(servedType))) {
        throw new TypeError(`onComplete returned contentType ${JSON.stringify(servedType)}, not a media type`);
      }
      if (verdict?.moved === true || servedType !== undefined) {
        await store.commit({ ...finished, ...(verdict?.moved === true && { moved: true }), servedType });
      }
      own = verdict?.response;
    }
    send(req, res, completedResponse(protocol, finished, location, own));
  }

  /** Answers after content was received into an upload. */
  async function afterContent(
    req: IncomingMessage,
    res: ServerResponse,
    protocol: UploadProtocol,
    state: UploadState,
    outcome: BodyOutcome,
    completes: boolean,
    creation: string | undefined,
  ): Promise<void> {
    if (outcome !== 'complete') {
      // tus: an upload is complete once its offset reaches its length, however the request that brought
      // the last byte ended; a client that then sees offset = length in a HEAD sends nothing more.
      const allIn = state.length !== undefined && state.offset === state.length;
      if (protocol.kind === 'tus' && allIn && outcome !== 'checksum-mismatch' && outcome !== 'too-large') {
        return complete(req, res, protocol, state, creation);
      }
      if (outcome === 'taken-over' || outcome === 'aborted') return; // the connection is gone
      const pastLength = outcome === 'too-large' && state.length !== undefined && state.length <= normalized.maxSize;
      if (pastLength && protocol.kind === 'draft') {
        // Draft -05: stop at the length and answer 400. From -08 on: reject, mark the upload resource
        // invalid and reject any further interaction with it.
        if (protocol.version === 6) return send(req, res, lengthMismatchResponse(protocol));
        await store.deactivate(state.id);
      }
      send(req, res, bodyFailureResponse(protocol, outcome, state, limits()));
      return;
    }
    if (protocol.kind === 'tus') {
      // tus: complete when the offset reaches the length; a creation keeps its Location.
      if (state.length !== undefined && state.offset === state.length) {
        return complete(req, res, protocol, state, creation);
      }
    } else if (completes) {
      // Draft "Upload-Complete: ?1": complete once all content is in, and only at the recorded length.
      if (state.length !== undefined && state.length !== state.offset) {
        send(req, res, lengthMismatchResponse(protocol));
        return;
      }
      return complete(req, res, protocol, state, creation);
    }
    send(
      req,
      res,
      creation === undefined
        ? appendedResponse(protocol, state, limits())
        : createdResponse(protocol, state, creation, limits()),
    );
  }

  async function create(
    req: IncomingMessage,
    res: ServerResponse,
    protocol: UploadProtocol,
    prefix: string,
  ): Promise<void> {
    const plan = planCreation(protocol, req.headers, limits());
    if (plan.kind === 'refuse') return send(req, res, plan.response);
    // Found out before anything is created: a body another layer read is never stored short.
    if (plan.withContent && hasUnreadContent(req) && bodyAlreadyConsumed(req)) throw new ConsumedBodyError();
    let data = {};
    if (hooks.beforeCreate !== undefined) {
      const verdict = await hooks.beforeCreate(req, {
        length: plan.length,
        metadata: plan.metadata,
        contentType: plan.contentType,
        fileName: plan.fileName,
        protocol: protocol.kind,
      });
      if (verdict !== undefined && 'refuse' in verdict) return send(req, res, hookResponse(protocol, verdict.refuse));
      if (verdict !== undefined && 'data' in verdict && verdict.data !== undefined) data = verdict.data;
    }
    const now = Date.now();
    const id = newUploadId();
    let state: UploadState = {
      id,
      protocol: protocol.kind,
      length: plan.length,
      offset: 0,
      complete: false,
      metadata: plan.metadata,
      contentType: plan.contentType,
      fileName: plan.fileName,
      data,
      createdAt: now,
      updatedAt: now,
    };
    const lease = await locks.acquire(id);
    try {
      await store.create(state);
      const location = uploadLocation(prefix, id);
      let outcome: BodyOutcome = 'complete';
      if (plan.withContent)
        ({ state, outcome } = await receive(req, lease, state, {
          maxBytes: plan.maxBytes,
          checksum: plan.checksum,
          length: plan.length,
        }));
      await afterContent(req, res, protocol, state, outcome, plan.completes, location);
    } finally {
      lease.release();
    }
  }

  async function download(req: IncomingMessage, res: ServerResponse, state: UploadState): Promise<void> {
    if (state.moved) return send(req, res, plainText(404, 'Not Found'));
    const headers: Record<string, string> = {
      'cache-control': 'no-cache',
      ...INERT_DOWNLOAD_HEADERS,
      'content-disposition': contentDisposition(state.fileName ?? state.id),
    };
    // RFC 9530: the digest of the whole representation, so a client can check what it assembled.
    if (state.sha256 !== undefined) headers['repr-digest'] = `sha-256=:${state.sha256}:`;
    const contentType = state.servedType ?? downloadContentType(state.contentType, normalized.downloadTypes);
    const representation = await openFile(store.dataPath(state.id), { followSymlinks: false, contentType, headers });
    try {
      serveRepresentation(req, res, representation);
    } catch (err) {
      await closeRepresentation(representation);
      throw err;
    }
  }

  async function onUpload(
    req: IncomingMessage,
    res: ServerResponse,
    choice: ProtocolChoice,
    id: string,
  ): Promise<boolean> {
    const method = req.method ?? 'GET';
    if (choice.kind !== 'tus' && choice.kind !== 'draft') {
      // Without a protocol field only a download is an upload request.
      if (method === 'GET' || method === 'HEAD') {
        await downloadWithoutProtocol(req, res, id);
        return true;
      }
      if (choice.kind === 'none') return false;
      send(req, res, unsupportedProtocol(choice));
      return true;
    }
    const protocol: UploadProtocol = choice;
    if (!['HEAD', 'GET', 'PATCH', 'DELETE'].includes(method)) {
      const allow = { allow: 'HEAD, GET, PATCH, DELETE', 'content-length': '0' };
      send(req, res, {
        status: 405,
        headers: { ...allow, ...(protocol.kind === 'tus' ? { 'tus-resumable': '1.0.0' } : {}) },
      });
      return true;
    }
    // Only an id of the strict pattern ever reaches the lock table or the file system.
    if (!UPLOAD_ID.test(id)) return (send(req, res, missingResponse(protocol, 'unknown')), true);
    if (method === 'PATCH' && hasUnreadContent(req) && bodyAlreadyConsumed(req)) throw new ConsumedBodyError();
    // A newer request takes the upload over from one still receiving content (the draft's concurrency advice).
    const lease = await locks.acquire(id);
    try {
      const stored = store.get(id);
      if (stored === undefined) return (send(req, res, missingResponse(protocol, 'unknown')), true);
      if (stored.kind === 'lost') return (send(req, res, missingResponse(protocol, 'expired')), true);
      const state = stored.state;
      if (isExpired(state, limits())) {
        await store.remove(id);
        return (send(req, res, missingResponse(protocol, 'expired')), true);
      }
      if (hooks.onRequest !== undefined) {
        const verdict = await hooks.onRequest(req, describe(state));
        if (verdict !== undefined && 'refuse' in verdict)
          return (send(req, res, hookResponse(protocol, verdict.refuse)), true);
      }
      if (method === 'GET' && state.complete) {
        await download(req, res, state);
        return true;
      }
      if (method === 'HEAD' || method === 'GET') {
        send(req, res, offsetResponse(protocol, req.headers, state, limits()));
        return true;
      }
      if (method === 'DELETE') {
        const bad = terminationCheck(protocol, req.headers);
        if (bad !== undefined) return (send(req, res, bad), true);
        await store.remove(id);
        await hooks.onTerminate?.(req, describe(state));
        send(req, res, terminatedResponse(protocol));
        return true;
      }
      const plan = planAppend(protocol, req.headers, state, limits());
      if (plan.kind === 'refuse') return (send(req, res, plan.response), true);
      if (state.complete) {
        // tus: a finished upload takes no more bytes; an empty append at its end changes nothing.
        const response = hasUnreadContent(req)
          ? bodyFailureResponse(protocol, 'too-large', state, limits())
          : appendedResponse(protocol, state, limits());
        return (send(req, res, response), true);
      }
      const received = await receive(req, lease, state, plan);
      await afterContent(req, res, protocol, received.state, received.outcome, plan.completes, undefined);
      return true;
    } finally {
      lease.release();
    }
  }

  /** GET or HEAD with no protocol field: the download of a finished upload, never a take-over. */
  async function downloadWithoutProtocol(req: IncomingMessage, res: ServerResponse, id: string): Promise<void> {
    const stored = UPLOAD_ID.test(id) ? store.get(id) : undefined;
    const state = stored?.kind === 'present' && !isExpired(stored.state, limits()) ? stored.state : undefined;
    if (state !== undefined && hooks.onRequest !== undefined) {
      const verdict = await hooks.onRequest(req, describe(state));
      if (verdict !== undefined && 'refuse' in verdict) return send(req, res, hookResponse(undefined, verdict.refuse));
    }
    if (state === undefined || !state.complete) {
      // An unfinished upload has no representation yet; a lost or expired one has none any more.
      const gone = stored?.kind === 'lost' || (stored?.kind === 'present' && state === undefined);
      return send(req, res, plainText(gone ? 410 : 404, gone ? 'Gone' : 'Not Found'));
    }
    await download(req, res, state);
  }

  async function handle(req: IncomingMessage, res: ServerResponse, target: UploadTarget): Promise<boolean> {
    const method = req.method ?? 'GET';
    const choice = detectProtocol(req.headers);
    const path = target.path.split('?')[0] ?? '';
    const prefix = target.prefix.replace(/\/+$/, '');
    if (path === '' || path === '/') {
      if (method === 'OPTIONS') {
        const response = discoveryResponse(req.headers, limits());
        if (response === undefined) return false; // a CORS preflight, for the CORS layer
        await ready;
        send(req, res, response);
        return true;
      }
      if (choice.kind === 'none') return false;
      if (choice.kind !== 'tus' && choice.kind !== 'draft') return (send(req, res, unsupportedProtocol(choice)), true);
      if (method !== 'POST') {
        send(req, res, {
          status: 405,
          headers: {
            allow: 'OPTIONS, POST',
            'content-length': '0',
            ...(choice.kind === 'tus' ? { 'tus-resumable': '1.0.0' } : {}),
          },
        });
        return true;
      }
      await ready;
      await create(req, res, choice, prefix);
      return true;
    }
    const match = /^\/([^/]+)$/.exec(path);
    if (match === null) return false;
    await ready;
    // Only an id of the strict pattern ever reaches the file system; anything else is unknown.
    return onUpload(req, res, choice, match[1] ?? '');
  }

  return {
    handle,
    ready,
    close: () => clearInterval(timer),
    options: normalized,
  };
}
