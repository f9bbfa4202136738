/**
 * The upload endpoint on Node's request and response: routing under the prefix, the lock, the store,
 * the hooks and the download of finished uploads. The adapters hand it `req`, `res` and the prefix.
 */
import { createHash, type Hash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import contentDisposition from 'content-disposition';
import { mergeResponseFields } from '../fields.js';
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
  type AppendPlan,
  type BodyOutcome,
  type ChecksumExpectation,
  completedResponse,
  createdResponse,
  type CreationPlan,
  detectProtocol,
  discoveryResponse,
  downloadContentType,
  INERT_DOWNLOAD_HEADERS,
  isExpired,
  judgeContent,
  missingResponse,
  offsetResponse,
  planAppend,
  planCreation,
  type ProtocolChoice,
  refusal,
  requestRefusal,
  completionDue,
  terminatedResponse,
  tooManyUploadsResponse,
  unsupportedProtocol,
  type UploadLimits,
  uploadLocation,
  type UploadProtocol,
  type UploadState,
} from './protocol.js';
import { isMediaType } from './fields.js';
import { bodyAlreadyConsumed, ConsumedBodyError, receiveContent } from './receive.js';
import { type Appender, newUploadId, UPLOAD_ID, UploadStore } from './store.js';

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
  // On an answer a CORS layer in front opened, a script on the page's origin must read Location and the
  // Upload-*/Tus-* fields (tus-js-client, Uppy): they are exposed, merged with the layer's list.
  const headers = mergeResponseFields({ ...response.headers }, (name) => res.getHeader(name));
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
}

/** Builds the upload engine for `options` (validated here: a bad option throws a TypeError). */
export function createUploadHandler(options: ResumableUploadOptions): UploadHandler {
  const normalized = normalizeUploadOptions(options);
  const { hooks } = normalized;
  const store = new UploadStore(normalized.directory);
  const locks = new UploadLocks();
  const limits = (): UploadLimits => ({
    maxSize: normalized.maxSize,
    expiresAfter: normalized.expiresAfter,
    now: Date.now(),
    maxMetadataSize: normalized.maxMetadataSize,
  });
  const contentHashes = new ContentHashes();
  /** Creations between their check against maxUploads and their upload's existence. */
  let creating = 0;
  const ready = store.open(
    (state) => isExpired(state, limits()),
    (state) => completionDue(state, hooks.onComplete !== undefined),
  );
  ready.catch(() => {}); // reported by every request that waits for it

  const sweep = async (): Promise<void> => {
    const { expiresAfter, now } = limits();
    if (expiresAfter === undefined) return;
    for (const [id, updatedAt] of store.unfinished()) {
      if (updatedAt + expiresAfter > now || locks.busy(id)) continue;
      const lease = await locks.acquire(id);
      try {
        const current = await store.load(id);
        if (current?.kind === 'present' && isExpired(current.state, limits())) await store.remove(id);
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

  /** What one request brought into the data file, durable, with the file still open for the verdict. */
  interface Received {
    readonly outcome: BodyOutcome;
    readonly received: number;
    /** Bytes already recorded as the offset by in-body checkpoints. */
    readonly checkpointed: number;
    /** The running SHA-256, when it covers exactly the upload's bytes up to the new offset. */
    readonly contentHash: Hash | undefined;
    readonly appender: Appender;
  }

  /**
   * Receives the request's content into the data file at the recorded offset and makes it durable.
   * Resolves undefined when the data file is shorter than the offset (acknowledged bytes are gone). A
   * failure (a full disk, an I/O error) settles the upload from its metadata file, cutting the bytes
   * past the durable offset, and is rethrown.
   */
  async function receiveInto(
    req: IncomingMessage,
    lease: UploadLease,
    state: UploadState,
    plan: { maxBytes: number; checksum: ChecksumExpectation | undefined; length: number | undefined },
  ): Promise<Received | undefined> {
    if (hasUnreadContent(req) && bodyAlreadyConsumed(req)) throw new ConsumedBodyError();
    const appender = await store.openAppender(state);
    if (appender === undefined) return undefined;
    const contentHash = contentHashes.take(state.id, state.offset);
    let checkpointed = 0;
    try {
      const result = await receiveContent(req, {
        contentHash,
        file: appender.file,
        start: state.offset,
        maxBytes: plan.maxBytes,
        idleTimeout: normalized.idleTimeout,
        minRate: normalized.minRate,
        checksum: plan.checksum,
        onInterrupt: (fn) => lease.onInterrupt(fn),
        onCheckpoint: async (durable) => {
          // The last byte of a known length is recorded by the completion itself, in one step.
          const length = plan.length ?? state.length;
          if (length !== undefined && state.offset + durable >= length) return;
          await store.commit({ ...state, length, offset: state.offset + durable, updatedAt: Date.now() });
          checkpointed = durable;
        },
      });
      return {
        outcome: result.outcome,
        received: result.received,
        checkpointed,
        contentHash: result.contentHashed ? contentHash : undefined,
        appender,
      };
    } catch (err) {
      await appender.close().catch(() => {});
      await store.settle(state.id).catch(() => {});
      throw err;
    }
  }

  /** Stores none of a refused request's bytes: the offset it may have checkpointed is taken back first. */
  async function discardContent(before: UploadState, received: Received): Promise<void> {
    // Metadata first: a crash between the two leaves a longer file, which reconciliation cuts.
    if (received.checkpointed > 0) await store.commit(before);
    await received.appender.truncate(before.offset);
  }

  /**
   * Completes `state` in one durable step: every byte is already durable, the data file is exactly the
   * length, and the digest and `complete` reach the metadata in the same commit, so a crash leaves the
   * upload either unfinished at its last durable offset or complete, never full and unfinished.
   */
  async function completeUpload(state: UploadState, received: Received | undefined): Promise<UploadState> {
    if (received !== undefined) {
      const { size } = await received.appender.file.stat();
      if (size !== state.offset) await received.appender.truncate(state.offset);
    }
    const sha256 = received?.contentHash?.digest('base64') ?? (await store.sha256(state.id, state.offset));
    const finished: UploadState = {
      ...state,
      length: state.offset,
      complete: true,
      sha256,
      ...(hooks.onComplete !== undefined && { completionPending: true }),
      updatedAt: Date.now(),
    };
    await store.commit(finished);
    return finished;
  }

  /**
   * Runs `onComplete` for a completed upload it has not yet returned for, then records what it said
   * (and that it ran). A crash or a throwing hook leaves it pending: the next request runs it again.
   */
  async function runCompletionHook(req: IncomingMessage, state: UploadState): Promise<UploadHookResponse | undefined> {
    if (hooks.onComplete === undefined || state.completionPending !== true) return undefined;
    const length = state.length ?? state.offset;
    const upload: CompletedUpload = {
      ...describe(state),
      path: store.dataPath(state.id),
      length,
      sha256: state.sha256 ?? '',
    };
    const verdict = await hooks.onComplete(req, upload);
    const servedType = verdict?.contentType;
    if (servedType !== undefined && (typeof servedType !== 'string' || !isMediaType(servedType))) {
      throw new TypeError(`onComplete returned contentType ${JSON.stringify(servedType)}, not a media type`);
    }
    const { completionPending: _pending, ...ran } = state;
    await store.commit({
      ...ran,
      ...(verdict?.moved === true && { moved: true }),
      ...(servedType !== undefined && { servedType }),
    });
    return verdict?.response;
  }

  /**
   * Stores the content of a creation (`location` set) or an append, then answers as the protocol
   * decides ({@link judgeContent}): progress, completion, a refusal whose bytes are kept, discarded or
   * deactivated, or nothing when the client is gone. The data file never keeps bytes past the offset.
   */
  async function storeContent(
    req: IncomingMessage,
    res: ServerResponse,
    protocol: UploadProtocol,
    lease: UploadLease,
    before: UploadState,
    plan: AppendPlan | CreationPlan,
    location: string | undefined,
  ): Promise<void> {
    const received = await receiveInto(req, lease, before, plan);
    if (received === undefined) {
      await store.deactivate(before.id);
      return send(req, res, missingResponse(protocol, 'expired'));
    }
    const length = plan.length ?? before.length;
    const offset = before.offset + received.received;
    const verdict = judgeContent(
      protocol,
      {
        outcome: received.outcome,
        before,
        offset,
        length,
        completes: plan.completes,
        creation: location !== undefined,
      },
      limits(),
    );
    const changed = offset !== before.offset || length !== before.length;
    let after: UploadState = { ...before, length, offset, updatedAt: changed ? Date.now() : before.updatedAt };
    try {
      const bytes = verdict.kind === 'refuse' ? verdict.bytes : 'keep';
      if (bytes === 'discard') {
        await discardContent(before, received);
        after = before;
      } else if (bytes === 'deactivate') {
        await store.deactivate(before.id);
      } else if (verdict.kind === 'complete') {
        after = await completeUpload(after, received);
      } else {
        if (changed) await store.commit(after);
        if (received.contentHash !== undefined) contentHashes.keep(before.id, offset, received.contentHash);
      }
    } catch (err) {
      await store.settle(before.id).catch(() => {});
      throw err;
    } finally {
      await received.appender.close();
    }
    if (verdict.forget) await store.remove(before.id);
    switch (verdict.kind) {
      case 'complete': {
        const own = await runCompletionHook(req, after);
        return send(req, res, completedResponse(protocol, after, location, own));
      }
      case 'progress':
        return send(
          req,
          res,
          location === undefined
            ? appendedResponse(protocol, after, limits())
            : createdResponse(protocol, after, location, limits()),
        );
      case 'interrupted':
        return; // the connection is gone
      case 'refuse':
        return send(req, res, verdict.response);
    }
  }

  /** POST on the endpoint: tus creation (with upload) or draft upload creation. */
  async function createUpload(
    req: IncomingMessage,
    res: ServerResponse,
    protocol: UploadProtocol,
    prefix: string,
  ): Promise<void> {
    const plan = planCreation(protocol, req.headers, limits());
    if (plan.kind === 'refuse') return send(req, res, plan.response);
    // Found out before anything is created: a body another layer read is never stored short.
    if (plan.withContent && hasUnreadContent(req) && bodyAlreadyConsumed(req)) throw new ConsumedBodyError();
    if (store.unfinishedCount + creating >= normalized.maxUploads)
      return send(req, res, tooManyUploadsResponse(protocol));
    creating += 1;
    let state: UploadState;
    try {
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
      state = {
        id: newUploadId(),
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
      await store.create(state);
    } finally {
      creating -= 1;
    }
    const lease = await locks.acquire(state.id);
    try {
      const location = uploadLocation(prefix, state.id);
      if (plan.withContent) return await storeContent(req, res, protocol, lease, state, plan, location);
      // tus: an upload of length 0 is complete as soon as it exists (tus-js-client sends no PATCH for it).
      if (completionDue(state, false) === undefined) {
        return send(req, res, createdResponse(protocol, state, location, limits()));
      }
      const finished = await completeUpload(state, undefined);
      const own = await runCompletionHook(req, finished);
      send(req, res, completedResponse(protocol, finished, location, own));
    } catch (err) {
      // A creation that failed leaves no upload behind: its client never learned the URL.
      await store.remove(state.id).catch(() => {});
      throw err;
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
      // The stored length says what the upload is, never the file's size: a file that differs is not served.
      if (representation.size !== state.offset) {
        throw new Error(`upload ${state.id}: the data file holds ${representation.size} bytes, not ${state.offset}`);
      }
      serveRepresentation(req, res, representation);
    } catch (err) {
      await closeRepresentation(representation);
      throw err;
    }
  }

  /**
   * The upload `id` for a request that has passed its protocol checks: the stored state once the
   * `onRequest` hook accepted it (and a pending completion hook ran), or undefined when answered here
   * (unknown, expired, lost, refused). Takes no lock except to remove an expired upload no one holds.
   */
  async function findUpload(
    req: IncomingMessage,
    res: ServerResponse,
    protocol: UploadProtocol | undefined,
    id: string,
  ): Promise<UploadState | undefined> {
    const missing = (reason: 'unknown' | 'expired'): undefined => {
      send(req, res, protocol === undefined ? missingWithoutProtocol(reason) : missingResponse(protocol, reason));
      return undefined;
    };
    const stored = UPLOAD_ID.test(id) ? await store.load(id) : undefined;
    if (stored === undefined) return missing('unknown');
    if (stored.kind === 'lost') return missing('expired');
    if (isExpired(stored.state, limits())) {
      if (!locks.busy(id)) await removeIfExpired(id);
      return missing('expired');
    }
    if (hooks.onRequest !== undefined) {
      const verdict = await hooks.onRequest(req, describe(stored.state));
      if (verdict !== undefined && 'refuse' in verdict) {
        send(req, res, hookResponse(protocol, verdict.refuse));
        return undefined;
      }
    }
    if (stored.state.completionPending !== true) return stored.state;
    const lease = await locks.acquire(id);
    try {
      const current = await store.load(id);
      if (current?.kind !== 'present') return missing(current === undefined ? 'unknown' : 'expired');
      await runCompletionHook(req, current.state);
      const after = await store.load(id);
      return after?.kind === 'present' ? after.state : missing('unknown');
    } finally {
      lease.release();
    }
  }

  async function removeIfExpired(id: string): Promise<void> {
    const lease = await locks.acquire(id);
    try {
      const current = await store.load(id);
      if (current?.kind === 'present' && isExpired(current.state, limits())) await store.remove(id);
    } finally {
      lease.release();
    }
  }

  /**
   * HEAD, GET, PATCH or DELETE on an upload. Every check (the fields, the content type, the offset, the
   * `onRequest` hook) comes first; only a request that passed them all takes the lock, which ends a
   * request still receiving content for the upload (the draft's take-over). The state is then read
   * again, settled by that take-over, and the request checked against it.
   */
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
    if (method === 'PATCH' && hasUnreadContent(req) && bodyAlreadyConsumed(req)) throw new ConsumedBodyError();
    const found = await findUpload(req, res, protocol, id);
    if (found === undefined) return true;
    if (method === 'GET' && found.complete) {
      await download(req, res, found);
      return true;
    }
    const refused = requestRefusal(method, protocol, req.headers, found, limits());
    if (refused !== undefined) return (send(req, res, refused), true);
    // Only now may the request take the upload over from one still receiving content.
    const lease = await locks.acquire(id);
    try {
      const stored = await store.load(id);
      if (stored?.kind !== 'present' || isExpired(stored.state, limits())) {
        return (send(req, res, missingResponse(protocol, stored === undefined ? 'unknown' : 'expired')), true);
      }
      const state = stored.state;
      if (method === 'HEAD' || method === 'GET') {
        send(req, res, offsetResponse(protocol, req.headers, state, limits()));
      } else if (method === 'DELETE') {
        await store.remove(id);
        await hooks.onTerminate?.(req, describe(state));
        send(req, res, terminatedResponse(protocol));
      } else {
        // Checked again against the offset the take-over settled (a 409 names it).
        const plan = planAppend(protocol, req.headers, state, limits());
        if (plan.kind === 'refuse') send(req, res, plan.response);
        else await storeContent(req, res, protocol, lease, state, plan, undefined);
      }
      return true;
    } finally {
      lease.release();
    }
  }

  /** GET or HEAD with no protocol field: the download of a finished upload, never a take-over. */
  async function downloadWithoutProtocol(req: IncomingMessage, res: ServerResponse, id: string): Promise<void> {
    const state = await findUpload(req, res, undefined, id);
    if (state === undefined) return;
    // An unfinished upload has no representation yet.
    if (!state.complete) return send(req, res, plainText(404, 'Not Found'));
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
      await createUpload(req, res, choice, prefix);
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

/** An unknown (404) or expired or lost (410) upload, asked for without a protocol field. */
function missingWithoutProtocol(reason: 'unknown' | 'expired'): ReturnType<typeof plainText> {
  return reason === 'expired' ? plainText(410, 'Gone') : plainText(404, 'Not Found');
}
