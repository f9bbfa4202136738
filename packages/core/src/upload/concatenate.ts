/**
 * tus concatenation's final upload: `POST` with `Upload-Concat: final;<url> <url> …` makes one finished
 * upload of complete partial uploads, in list order. Nothing is created unless every reference names a
 * complete partial upload of this endpoint that the request may use (the `onRequest` hook asks, as for
 * the partial's own requests) and the sum fits `maxSize`. The store makes the final without copying a
 * byte through JavaScript (the file store hard-links the parts), durably and crash-atomically; the final
 * is then a normal finished upload: `onComplete` once, downloads with ranges. Unfinished partial uploads
 * are refused (400, naming them), never waited for: `concatenation-unfinished` is not offered.
 */
import { askOnRequest, type EngineContext, hookResponse, reply } from './engine.js';
import { runCompletionHook } from './content.js';
import type { UploadLease } from './lock.js';
import {
  completedResponse,
  type ConcatenationPlan,
  isExpired,
  refusal,
  resolveConcatReference,
  uploadLocation,
  type UploadProtocol,
  type UploadState,
} from './protocol.js';
import type { UploadAnswer, UploadRequest } from './request.js';
import { newUploadId } from './store.js';

/** The partial uploads a final names, in list order (a partial named twice is there twice), or the refusal. */
type Parts = { readonly parts: readonly UploadState[] } | { readonly answer: UploadAnswer };

/** POST with `Upload-Concat: final;…`: the final upload made of the partial uploads it names. */
export async function concatenate<R>(
  ctx: EngineContext<R>,
  request: UploadRequest<R>,
  protocol: UploadProtocol,
  plan: ConcatenationPlan,
): Promise<UploadAnswer> {
  const ids: string[] = [];
  for (const reference of plan.references) {
    const resolved = resolveConcatReference(reference, request.target.prefix, request.target.origin);
    if ('problem' in resolved) return refuse(protocol, `${reference} ${resolved.problem}`).answer;
    ids.push(resolved.id);
  }
  const checked = await findParts(ctx, request, protocol, plan.references, ids, true);
  if ('answer' in checked) return checked.answer;
  const length = checked.parts.reduce((sum, part) => sum + part.offset, 0);
  // tus "Tus-Max-Size": the final is an upload like any other.
  if (length > ctx.options.maxSize) {
    return reply(refusal(protocol, 413, `The partial uploads add up to ${length} bytes, over Tus-Max-Size`));
  }
  const { hooks } = ctx.options;
  let data = {};
  if (hooks.beforeCreate !== undefined) {
    const verdict = await hooks.beforeCreate(request.original, {
      length,
      metadata: plan.metadata,
      contentType: plan.contentType,
      fileName: plan.fileName,
      protocol: protocol.kind,
      concat: 'final',
    });
    if (verdict !== undefined && 'refuse' in verdict) return reply(hookResponse(protocol, verdict.refuse));
    if (verdict !== undefined && 'data' in verdict && verdict.data !== undefined) data = verdict.data;
  }
  const made = await makeFinal(ctx, request, protocol, plan, ids, data);
  if ('answer' in made) return made.answer;
  return answerFinal(ctx, request, protocol, made.final);
}

/**
 * Links the parts into a new final upload while holding every part (in id order, so two finals sharing
 * parts never wait for each other), each checked again under its lock: none can be removed meanwhile.
 */
async function makeFinal<R>(
  ctx: EngineContext<R>,
  request: UploadRequest<R>,
  protocol: UploadProtocol,
  plan: ConcatenationPlan,
  ids: readonly string[],
  data: { readonly [key: string]: unknown },
): Promise<{ readonly final: UploadState } | { readonly answer: UploadAnswer }> {
  const leases: UploadLease[] = [];
  try {
    for (const id of [...new Set(ids)].sort()) leases.push(await ctx.locker.acquire(id));
    const held = await findParts(ctx, request, protocol, plan.references, ids, false);
    if ('answer' in held) return held;
    const now = Date.now();
    const length = held.parts.reduce((sum, part) => sum + part.offset, 0);
    const final: UploadState = {
      id: newUploadId(),
      protocol: protocol.kind,
      length,
      offset: length,
      complete: true,
      metadata: plan.metadata,
      contentType: plan.contentType,
      fileName: plan.fileName,
      data,
      createdAt: now,
      updatedAt: now,
      concat: {
        kind: 'final',
        value: plan.value,
        parts: held.parts.map((part) => ({ id: part.id, length: part.offset })),
      },
      ...(ctx.options.hooks.onComplete !== undefined && { completionPending: true }),
    };
    if (ctx.store.concatenate === undefined) throw new TypeError('the upload store cannot concatenate');
    await ctx.store.concatenate(final, held.parts);
    return { final };
  } finally {
    for (const lease of leases) lease.release();
  }
}

/**
 * The created final's answer: 201 with its `Location` once `onComplete` has run for it (with its
 * SHA-256, one read of the final), or at once without that hook, its SHA-256 then taken in the
 * background. A final whose hook failed is removed: its client never learned the URL.
 */
async function answerFinal<R>(
  ctx: EngineContext<R>,
  request: UploadRequest<R>,
  protocol: UploadProtocol,
  final: UploadState,
): Promise<UploadAnswer> {
  const location = uploadLocation(request.target.prefix, final.id);
  if (final.completionPending !== true) {
    digestLater(ctx, final.id);
    return reply(completedResponse(protocol, final, location));
  }
  const lease = await ctx.locker.acquire(final.id);
  try {
    const own = await runCompletionHook(ctx, request, final, lease);
    const after = await ctx.store.load(final.id);
    return reply(completedResponse(protocol, after?.kind === 'present' ? after.state : final, location, own));
  } catch (err) {
    await ctx.store.remove(final.id).catch(() => {});
    throw err;
  } finally {
    lease.release();
  }
}

/**
 * The partial uploads `ids` names, each checked: an upload of this endpoint, not expired, a partial
 * upload, complete; with `ask`, the `onRequest` hook's refusal of one is the answer (as its own requests
 * would get). Every unfinished partial is named in one 400.
 */
async function findParts<R>(
  ctx: EngineContext<R>,
  request: UploadRequest<R>,
  protocol: UploadProtocol,
  references: readonly string[],
  ids: readonly string[],
  ask: boolean,
): Promise<Parts> {
  const byId = new Map<string, UploadState>();
  const unfinished: string[] = [];
  for (const [i, id] of ids.entries()) {
    const reference = references[i] as string;
    let state = byId.get(id);
    if (state === undefined) {
      const stored = await ctx.store.load(id);
      if (stored === undefined) return refuse(protocol, `${reference} names no upload`);
      if (stored.kind === 'lost' || isExpired(stored.state, ctx.limits())) {
        return refuse(protocol, `${reference} has expired`);
      }
      state = stored.state;
      if (state.concat?.kind !== 'partial') return refuse(protocol, `${reference} is not a partial upload`);
      if (ask) {
        const refused = await askOnRequest(ctx, request, protocol, state);
        if (refused !== undefined) return { answer: refused };
      }
      byId.set(id, state);
      if (!state.complete) unfinished.push(`${reference} (${state.offset} of ${state.length ?? 'a deferred length'})`);
    }
  }
  if (unfinished.length > 0) {
    return refuse(protocol, `these partial uploads are not complete: ${unfinished.join(', ')}`);
  }
  return { parts: ids.map((id) => byId.get(id) as UploadState) };
}

/** 400 naming what is wrong with the list: nothing is created. */
function refuse(protocol: UploadProtocol, problem: string): { readonly answer: UploadAnswer } {
  return { answer: reply(refusal(protocol, 400, `Upload-Concat: ${problem}`)) };
}

/**
 * Takes a final upload's SHA-256 in the background (one read of its parts) and records it, so that its
 * downloads then carry `Repr-Digest`; once per id at a time, and again after a restart when a download
 * finds it missing. The digest is recorded only if the final is still there, unchanged.
 */
export function digestLater<R>(ctx: EngineContext<R>, id: string): void {
  if (ctx.digesting.has(id)) return;
  ctx.digesting.add(id);
  void (async () => {
    const stored = await ctx.store.load(id);
    if (stored?.kind !== 'present' || stored.state.sha256 !== undefined) return;
    const sha256 = await ctx.store.sha256(stored.state, stored.state.offset);
    const lease = await ctx.locker.acquire(id);
    try {
      const current = await ctx.store.load(id);
      if (current?.kind !== 'present' || current.state.sha256 !== undefined) return;
      if (current.state.createdAt !== stored.state.createdAt) return;
      await ctx.store.commit({ ...current.state, sha256 }, lease);
    } finally {
      lease.release();
    }
  })()
    .catch(() => {
      // A final removed meanwhile, or a read that failed: its downloads go on without Repr-Digest.
    })
    .finally(() => ctx.digesting.delete(id));
}
