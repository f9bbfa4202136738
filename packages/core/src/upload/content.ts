/**
 * What a creation or an append does with its content: receive it into the store, let the protocol
 * judge it (protocol.ts, `judgeContent`), and keep, discard or complete accordingly. Completion is one
 * durable step, and `onComplete` runs after it, recorded as pending until it returns.
 */
import { createHash, type Hash } from 'node:crypto';
import { type EngineContext, assertContentUnread, describe, reply } from './engine.js';
import type { UploadLease } from './lock.js';
import type { CompletedUpload, UploadHookResponse } from './options.js';
import { isMediaType } from './fields.js';
import {
  appendedResponse,
  type AppendPlan,
  type BodyOutcome,
  bodyFailureResponse,
  completedResponse,
  createdResponse,
  type CreationPlan,
  judgeContent,
  missingResponse,
  type UploadProtocol,
  type UploadState,
} from './protocol.js';
import { receiveContent } from './receive.js';
import type { UploadAnswer, UploadRequest } from './request.js';
import type { Appender } from './store.js';

/** How many unfinished uploads keep a running SHA-256 in memory; beyond it the oldest is read back at completion. */
const CONTENT_HASHES_MAX = 1024;

/**
 * The running SHA-256 of unfinished uploads this process received from their first byte, by id, each
 * with the offset it covers. It saves reading a completed upload back to digest it; an upload without
 * one (received by another process, or before a restart) is read back instead.
 */
export class ContentHashes {
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

/** What one request brought into the upload's data, durable, with the data still open for the verdict. */
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
 * Receives the request's content into the upload's data at the recorded offset and makes it durable.
 * Resolves undefined when the data is shorter than the offset (acknowledged bytes are gone). A failure
 * (a full disk, an I/O error) settles the upload from its durable state, cutting the bytes past the
 * durable offset, and is rethrown.
 */
async function receiveInto<R>(
  ctx: EngineContext<R>,
  request: UploadRequest<R>,
  lease: UploadLease,
  state: UploadState,
  plan: AppendPlan | CreationPlan,
): Promise<Received | undefined> {
  assertContentUnread(request);
  const appender = await ctx.store.openAppender(state, lease);
  if (appender === undefined) return undefined;
  const contentHash = ctx.hashes.take(state.id, state.offset);
  let checkpointed = 0;
  try {
    const result = await receiveContent(request.content, {
      appender,
      contentHash,
      start: state.offset,
      maxBytes: plan.maxBytes,
      idleTimeout: ctx.options.idleTimeout,
      minRate: ctx.options.minRate,
      checksum: plan.checksum,
      onInterrupt: (fn) => lease.onInterrupt(fn),
      onCheckpoint: async (durable) => {
        // The last byte of a known length is recorded by the completion itself, in one step.
        const length = plan.length ?? state.length;
        if (length !== undefined && state.offset + durable >= length) return;
        await ctx.store.commit({ ...state, length, offset: state.offset + durable, updatedAt: Date.now() }, lease);
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
    await ctx.store.settle(state.id).catch(() => {});
    throw err;
  }
}

/** Stores none of a refused request's bytes: the offset it may have checkpointed is taken back first. */
async function discardContent<R>(
  ctx: EngineContext<R>,
  lease: UploadLease,
  before: UploadState,
  received: Received,
): Promise<void> {
  // The state first: a crash between the two leaves longer data, which reconciliation cuts.
  if (received.checkpointed > 0) await ctx.store.commit(before, lease);
  await received.appender.truncate(before.offset);
}

/**
 * Completes `state` in one durable step: every byte is already durable, the data is exactly the
 * length, and the digest and `complete` reach the state in the same commit, so a crash leaves the
 * upload either unfinished at its last durable offset or complete, never full and unfinished. A partial
 * upload (tus concatenation) is only a piece of one: its final upload, not it, gets `onComplete`.
 */
export async function completeUpload<R>(
  ctx: EngineContext<R>,
  lease: UploadLease,
  state: UploadState,
  appender: Appender | undefined,
  contentHash: Hash | undefined,
): Promise<UploadState> {
  if (appender !== undefined && (await appender.size()) !== state.offset) await appender.truncate(state.offset);
  const sha256 = contentHash?.digest('base64') ?? (await ctx.store.sha256(state, state.offset));
  const pending = ctx.options.hooks.onComplete !== undefined && state.concat?.kind !== 'partial';
  const finished: UploadState = {
    ...state,
    length: state.offset,
    complete: true,
    sha256,
    ...(pending && { completionPending: true }),
    updatedAt: Date.now(),
  };
  await ctx.store.commit(finished, lease);
  return finished;
}

/**
 * Runs `onComplete` for a completed upload it has not yet returned for, then records what it said
 * (and that it ran). A crash or a throwing hook leaves it pending: the next request runs it again. An
 * upload completed without its digest (a final upload of tus concatenation) is digested first.
 */
export async function runCompletionHook<R>(
  ctx: EngineContext<R>,
  request: UploadRequest<R>,
  state: UploadState,
  lease: UploadLease,
): Promise<UploadHookResponse | undefined> {
  const onComplete = ctx.options.hooks.onComplete;
  if (onComplete === undefined || state.completionPending !== true) return undefined;
  const length = state.length ?? state.offset;
  const sha256 = state.sha256 ?? (await ctx.store.sha256(state, length));
  const files = await ctx.store.files(state);
  const upload: CompletedUpload = {
    ...describe(state),
    path: state.concat?.kind === 'final' || files.length !== 1 ? undefined : files[0]?.path,
    files,
    length,
    sha256,
  };
  const verdict = await onComplete(request.original, upload);
  const servedType = verdict?.contentType;
  if (servedType !== undefined && (typeof servedType !== 'string' || !isMediaType(servedType))) {
    throw new TypeError(`onComplete returned contentType ${JSON.stringify(servedType)}, not a media type`);
  }
  const { completionPending: _pending, ...ran } = state;
  await ctx.store.commit(
    {
      ...ran,
      sha256,
      ...(verdict?.moved === true && { moved: true }),
      ...(servedType !== undefined && { servedType }),
    },
    lease,
  );
  return verdict?.response;
}

/**
 * Stores the content of a creation (`location` set) or an append, then answers as the protocol
 * decides ({@link judgeContent}): progress, completion, a refusal whose bytes are kept, discarded or
 * deactivated, or nothing when the client is gone. The data never keeps bytes past the offset.
 * `announced`: the client already learned the upload's URL (a 104), so it is not forgotten when cut off.
 */
export async function storeContent<R>(
  ctx: EngineContext<R>,
  request: UploadRequest<R>,
  protocol: UploadProtocol,
  lease: UploadLease,
  before: UploadState,
  plan: AppendPlan | CreationPlan,
  location: string | undefined,
  announced = false,
): Promise<UploadAnswer> {
  const { store } = ctx;
  const received = await receiveInto(ctx, request, lease, before, plan);
  if (received === undefined) {
    await store.deactivate(before.id);
    return reply(missingResponse(protocol, 'expired'));
  }
  const length = plan.length ?? before.length;
  const offset = before.offset + received.received;
  const limits = ctx.limits();
  const verdict = judgeContent(
    protocol,
    {
      outcome: received.outcome,
      before,
      offset,
      length,
      completes: plan.completes,
      creation: location !== undefined && !announced,
    },
    limits,
  );
  const changed = offset !== before.offset || length !== before.length;
  let after: UploadState = { ...before, length, offset, updatedAt: changed ? Date.now() : before.updatedAt };
  try {
    const bytes = verdict.kind === 'refuse' ? verdict.bytes : 'keep';
    if (bytes === 'discard') {
      await discardContent(ctx, lease, before, received);
      after = before;
    } else if (bytes === 'deactivate') {
      await store.deactivate(before.id);
    } else if (verdict.kind === 'complete') {
      after = await completeUpload(ctx, lease, after, received.appender, received.contentHash);
    } else {
      if (changed) await store.commit(after, lease);
      if (received.contentHash !== undefined) ctx.hashes.keep(before.id, offset, received.contentHash);
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
      const own = await runCompletionHook(ctx, request, after, lease);
      return reply(completedResponse(protocol, after, location, own));
    }
    case 'progress':
      return reply(
        location === undefined
          ? appendedResponse(protocol, after, limits)
          : createdResponse(protocol, after, location, limits),
      );
    case 'interrupted':
      // The connection is gone (cut off, or taken over by a newer request).
      return {
        kind: 'gone',
        reply: bodyFailureResponse(
          protocol,
          received.outcome === 'taken-over' ? 'taken-over' : 'aborted',
          after,
          limits,
        ),
      };
    case 'refuse':
      return reply(verdict.response);
  }
}
