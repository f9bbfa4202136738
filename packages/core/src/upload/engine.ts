/**
 * The upload engine, on values: an {@link UploadRequest} in, an {@link UploadAnswer} out (or undefined
 * for a request that is not an upload request). This file routes a request to the HTTP step it asks
 * for (steps.ts, concatenate.ts) and finds the upload it names; the protocol decisions are protocol.ts's,
 * the bytes and state the store's, the turns the locker's. Transport-neutral: node.ts runs it on Node's
 * request and response, `@range-serve/fetch` on Web-standard ones.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { FileUploadStore } from './file-store.js';
import { connectRedis, UploadUnavailableError } from './redis.js';
import { RedisLocker } from './redis-lock.js';
import { RedisUploadStore } from './redis-store.js';
import { LeaseLostError, UploadLocks, type UploadLocker } from './lock.js';
import {
  type NormalizedUploadOptions,
  normalizeUploadOptions,
  type ResumableUploadOptions,
  type UploadDescription,
  type UploadHookResponse,
} from './options.js';
import {
  completionDue,
  detectProtocol,
  discoveryResponse,
  isExpired,
  missingResponse,
  type ProtocolChoice,
  refusal,
  type UploadLimits,
  type UploadProtocol,
  type UploadResponse,
  type UploadState,
  unsupportedProtocol,
} from './protocol.js';
import { ConsumedBodyError } from './receive.js';
import type { UploadAnswer, UploadReply, UploadRequest } from './request.js';
import { type StoredUpload, UPLOAD_ID, type UploadStore } from './store.js';
import { ContentHashes, runCompletionHook } from './content.js';
import { appendContent, createUpload, downloadUpload, retrieveOffset, terminateUpload } from './steps.js';

/** The upload engine: answers upload requests, and says which requests are not its own. */
export interface UploadEngine<R = IncomingMessage> {
  /** The answer to `request`, or undefined when it is not an upload request (let it fall through). */
  answer(request: UploadRequest<R>): Promise<UploadAnswer | undefined>;
  /** Resolves once the store is reconciled (requests wait for it on their own); after a failed attempt, a new one. */
  readonly ready: Promise<void>;
  /** Stops the expiry sweep timer and closes the Redis connections the engine opened (not a client passed in). */
  close(): void;
  /** The normalised options. */
  readonly options: NormalizedUploadOptions<R>;
}

/** What the steps share: the options, the store, the locker, the running digests and the clock. */
export interface EngineContext<R> {
  readonly options: NormalizedUploadOptions<R>;
  readonly store: UploadStore;
  readonly locker: UploadLocker;
  readonly hashes: ContentHashes;
  /** The limits and the clock, now. */
  limits(): UploadLimits;
  /** Creations between their check against `maxUploads` and their upload's existence. */
  creating: number;
  /** Final uploads whose SHA-256 is being taken in the background. */
  readonly digesting: Set<string>;
}

/** What a store and locker the engine runs on may be replaced with (a shared store, a test's faulty one). */
export interface EngineParts {
  readonly store?: UploadStore;
  readonly locker?: UploadLocker;
}

/** Builds the upload engine for `options` (validated here: a bad option throws a TypeError). */
export function createUploadEngine<R = IncomingMessage>(
  options: ResumableUploadOptions<R>,
  parts: EngineParts = {},
): UploadEngine<R> {
  const normalized = normalizeUploadOptions(options);
  const { store, locker } = defaultParts(normalized, parts);
  const ctx: EngineContext<R> = {
    options: normalized,
    store,
    locker,
    hashes: new ContentHashes(),
    limits: () => ({
      maxSize: normalized.maxSize,
      expiresAfter: normalized.expiresAfter,
      now: Date.now(),
      maxMetadataSize: normalized.maxMetadataSize,
    }),
    creating: 0,
    digesting: new Set(),
  };
  const onComplete = normalized.hooks.onComplete !== undefined;
  // Opening (reconciling) the store is tried again after a failure: a volume mounted late or a passing
  // I/O error fails the requests that waited for that attempt, never every request until a restart.
  let opening: Promise<void> | undefined;
  const ready = (): Promise<void> => {
    if (opening === undefined) {
      const attempt = ctx.store.open({
        isExpired: (state) => isExpired(state, ctx.limits()),
        finish: (state) => completionDue(state, onComplete),
      });
      opening = attempt;
      attempt.catch(() => {
        if (opening === attempt) opening = undefined;
      }); // reported by every request that waits for it
    }
    return opening;
  };
  void ready();
  const timer =
    normalized.expiresAfter === undefined
      ? undefined
      : setInterval(() => {
          void ready()
            .then(() => sweep(ctx))
            .catch(() => {});
        }, normalized.sweepInterval);
  (timer as { unref?: () => void } | undefined)?.unref?.();
  return {
    answer: async (request) => {
      let answer: UploadAnswer | undefined;
      try {
        answer = await route(ctx, request, ready);
      } catch (err) {
        // Shared state out of reach (Redis down or slow), or a lease lost to another replica while this
        // request wrote (nothing of it acknowledged): a retry later, never a guessed offset.
        if (err instanceof UploadUnavailableError) {
          answer = reply(unavailableResponse(detectProtocol(request.headers), err.retryAfter));
        } else if (err instanceof LeaseLostError) {
          answer = reply(unavailableResponse(detectProtocol(request.headers), 1));
        } else {
          throw err;
        }
      }
      return answer === undefined ? undefined : withLength(answer);
    },
    get ready() {
      return ready();
    },
    close: () => {
      clearInterval(timer);
      ctx.store.close?.();
    },
    options: normalized,
  };
}

/**
 * The store and locker: those given, else with `redis` the shared ones (state and leases in Redis,
 * bytes on the shared directory), else the file store and the in-process lock.
 */
function defaultParts<R>(options: NormalizedUploadOptions<R>, parts: EngineParts): Required<EngineParts> {
  if (options.redis === undefined || (parts.store !== undefined && parts.locker !== undefined)) {
    return {
      store: parts.store ?? new FileUploadStore(options.directory),
      locker: parts.locker ?? new UploadLocks(),
    };
  }
  const link = connectRedis(options.redis);
  const locker = new RedisLocker(link, options.leaseTime);
  return {
    store: parts.store ?? new RedisUploadStore(options.directory, link, locker, options.sweepInterval),
    locker: parts.locker ?? locker,
  };
}

/** 503 with `Retry-After` while the shared state cannot be reached. */
function unavailableResponse(choice: ProtocolChoice, retryAfter: number): UploadResponse {
  const message = 'Upload state temporarily unavailable; try again later';
  const response =
    choice.kind === 'tus' || choice.kind === 'draft' ? refusal(choice, 503, message) : plainText(503, message);
  return { ...response, headers: { ...response.headers, 'retry-after': String(retryAfter) } };
}

/** Removes the expired uploads no request holds (with a shared store, on one replica at a time). */
async function sweep<R>(ctx: EngineContext<R>): Promise<void> {
  const { expiresAfter, now } = ctx.limits();
  if (expiresAfter === undefined) return;
  for (const [id, updatedAt] of [...(await ctx.store.expiring())]) {
    if (updatedAt + expiresAfter > now) continue;
    await removeIfExpired(ctx, id);
  }
}

/** Removes `id` if it expired and no request holds or waits for it. */
async function removeIfExpired<R>(ctx: EngineContext<R>, id: string): Promise<void> {
  const lease = await ctx.locker.tryAcquire(id);
  if (lease === undefined) return;
  try {
    const current = await ctx.store.load(id);
    if (current?.kind === 'present' && isExpired(current.state, ctx.limits())) await ctx.store.remove(id);
  } finally {
    lease.release();
  }
}

/** The request to the endpoint (discovery, creation) or to an upload, or undefined when it is neither. */
async function route<R>(
  ctx: EngineContext<R>,
  request: UploadRequest<R>,
  ready: () => Promise<void>,
): Promise<UploadAnswer | undefined> {
  const { method, headers } = request;
  const choice = detectProtocol(headers);
  const path = request.target.path.split('?')[0] ?? '';
  if (path === '' || path === '/') {
    if (method === 'OPTIONS') {
      const response = discoveryResponse(headers, ctx.limits(), ctx.store.capabilities.concatenation);
      if (response === undefined) return undefined; // a CORS preflight, for the CORS layer
      await ready();
      return reply(response);
    }
    if (choice.kind === 'none') return undefined;
    if (choice.kind !== 'tus' && choice.kind !== 'draft') return reply(unsupportedProtocol(choice));
    if (method !== 'POST') return reply(methodNotAllowed(choice, 'OPTIONS, POST'));
    await ready();
    return createUpload(ctx, request, choice);
  }
  const match = /^\/([^/]+)$/.exec(path);
  if (match === null) return undefined;
  await ready();
  // Only an id of the strict pattern ever reaches the store; anything else is unknown.
  return onUpload(ctx, request, choice, match[1] ?? '');
}

/**
 * HEAD, GET, PATCH or DELETE on an upload. Every check (the fields, the content type, the offset, the
 * `onRequest` hook) comes first, in the step; only a request that passed them all takes the lock,
 * which ends a request still receiving content for the upload (the draft's take-over).
 */
async function onUpload<R>(
  ctx: EngineContext<R>,
  request: UploadRequest<R>,
  choice: ProtocolChoice,
  id: string,
): Promise<UploadAnswer | undefined> {
  const { method } = request;
  if (choice.kind !== 'tus' && choice.kind !== 'draft') {
    // Without a protocol field only a download is an upload request.
    if (method === 'GET' || method === 'HEAD') return downloadWithoutProtocol(ctx, request, id);
    if (choice.kind === 'none') return undefined;
    return reply(unsupportedProtocol(choice));
  }
  const protocol: UploadProtocol = choice;
  if (!['HEAD', 'GET', 'PATCH', 'DELETE'].includes(method)) {
    return reply(methodNotAllowed(protocol, 'HEAD, GET, PATCH, DELETE'));
  }
  if (method === 'PATCH') assertContentUnread(request);
  const found = await findUpload(ctx, request, protocol, id);
  if (!('state' in found)) return found.answer;
  const state = found.state;
  if (method === 'GET' && downloadable(state)) return downloadUpload(ctx, request, state);
  if (method === 'HEAD' || method === 'GET') return retrieveOffset(ctx, request, protocol, state);
  if (method === 'DELETE') return terminateUpload(ctx, request, protocol, state);
  return appendContent(ctx, request, protocol, state);
}

/** GET or HEAD with no protocol field: the download of a finished upload, never a take-over. */
async function downloadWithoutProtocol<R>(
  ctx: EngineContext<R>,
  request: UploadRequest<R>,
  id: string,
): Promise<UploadAnswer> {
  const found = await findUpload(ctx, request, undefined, id);
  if (!('state' in found)) return found.answer;
  // An unfinished upload has no representation yet; a partial one is only ever served inside its final one.
  if (!downloadable(found.state)) return reply(plainText(404, 'Not Found'));
  return downloadUpload(ctx, request, found.state);
}

/**
 * The upload `id` for a request that has passed its protocol checks: the stored state once the
 * `onRequest` hook accepted it (and a pending completion hook ran), or the answer given instead
 * (unknown, expired, lost, refused). Takes no lock except to remove an expired upload no one holds.
 */
export async function findUpload<R>(
  ctx: EngineContext<R>,
  request: UploadRequest<R>,
  protocol: UploadProtocol | undefined,
  id: string,
): Promise<{ readonly state: UploadState } | { readonly answer: UploadAnswer }> {
  const missing = (reason: 'unknown' | 'expired') => ({
    answer: reply(protocol === undefined ? missingWithoutProtocol(reason) : missingResponse(protocol, reason)),
  });
  const stored = UPLOAD_ID.test(id) ? await ctx.store.load(id) : undefined;
  if (stored === undefined) return missing('unknown');
  if (stored.kind === 'lost') return missing('expired');
  if (isExpired(stored.state, ctx.limits())) {
    await removeIfExpired(ctx, id);
    return missing('expired');
  }
  const refused = await askOnRequest(ctx, request, protocol, stored.state);
  if (refused !== undefined) return { answer: refused };
  if (stored.state.completionPending !== true) return { state: stored.state };
  const lease = await ctx.locker.acquire(id);
  try {
    const current = await ctx.store.load(id);
    if (current?.kind !== 'present') return missing(current === undefined ? 'unknown' : 'expired');
    await runCompletionHook(ctx, request, current.state, lease);
    const after = await ctx.store.load(id);
    return after?.kind === 'present' ? { state: after.state } : missing('unknown');
  } finally {
    lease.release();
  }
}

/** The `onRequest` hook's refusal of `state` for this request, as the answer to send, or undefined. */
export async function askOnRequest<R>(
  ctx: EngineContext<R>,
  request: UploadRequest<R>,
  protocol: UploadProtocol | undefined,
  state: UploadState,
): Promise<UploadAnswer | undefined> {
  const onRequest = ctx.options.hooks.onRequest;
  if (onRequest === undefined) return undefined;
  const verdict = await onRequest(request.original, describe(state));
  if (verdict !== undefined && 'refuse' in verdict) return reply(hookResponse(protocol, verdict.refuse));
  return undefined;
}

/**
 * The state of `id` once the request holds the lock (a take-over settled it), or the answer for an
 * upload that went away or expired meanwhile.
 */
export async function reload<R>(
  ctx: EngineContext<R>,
  protocol: UploadProtocol,
  id: string,
): Promise<{ readonly state: UploadState } | { readonly answer: UploadAnswer }> {
  const stored: StoredUpload = await ctx.store.load(id);
  if (stored?.kind !== 'present' || isExpired(stored.state, ctx.limits())) {
    return { answer: reply(missingResponse(protocol, stored === undefined ? 'unknown' : 'expired')) };
  }
  return { state: stored.state };
}

/** A finished upload that is not a partial one (tus concatenation): its bytes are a representation. */
function downloadable(state: UploadState): boolean {
  return state.complete && state.concat?.kind !== 'partial';
}

/** The upload as hooks see it. */
export function describe(state: UploadState): UploadDescription {
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
    concat: state.concat?.kind,
  };
}

/** A request whose framing announces content (a non-zero Content-Length, or chunked). */
export function announcesContent(headers: IncomingHttpHeaders): boolean {
  const length = headers['content-length'];
  return headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** Content another layer already read is never stored short: the request fails instead. */
export function assertContentUnread<R>(request: UploadRequest<R>): void {
  if (announcesContent(request.headers) && request.content.consumed) throw new ConsumedBodyError();
}

/** An answer that sends `response`. */
export function reply(response: UploadResponse | UploadReply): UploadAnswer {
  return { kind: 'reply', reply: response };
}

/** Every answer leaves with a length: `Content-Length: 0` where it has no body and says nothing. */
function withLength(answer: UploadAnswer): UploadAnswer {
  if (answer.kind === 'download') return answer;
  const { status, headers, body } = answer.reply;
  if (body !== undefined || headers['content-length'] !== undefined || status === 204 || status === 304) {
    return answer;
  }
  return { ...answer, reply: { status, headers: { ...headers, 'content-length': '0' }, body } };
}

/** A short plain-text answer. */
export function plainText(status: number, message: string): UploadResponse {
  return {
    status,
    headers: { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(Buffer.byteLength(message)) },
    body: message,
  };
}

function methodNotAllowed(protocol: ProtocolChoice, allow: string): UploadResponse {
  return {
    status: 405,
    headers: { allow, 'content-length': '0', ...(protocol.kind === 'tus' ? { 'tus-resumable': '1.0.0' } : {}) },
  };
}

/** An unknown (404) or expired or lost (410) upload, asked for without a protocol field. */
function missingWithoutProtocol(reason: 'unknown' | 'expired'): UploadResponse {
  return reason === 'expired' ? plainText(410, 'Gone') : plainText(404, 'Not Found');
}

/** A hook's own response, with the protocol's fields (`Tus-Resumable`, draft `Upload-Complete: ?0`) added. */
export function hookResponse(protocol: UploadProtocol | undefined, own: UploadHookResponse): UploadReply {
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
