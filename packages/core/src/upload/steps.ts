/**
 * The HTTP steps of an upload, one function each: creation (`POST` on the endpoint), append (`PATCH`),
 * offset retrieval (`HEAD`, or `GET` of an unfinished upload), termination (`DELETE`) and the download
 * of a finished upload. Each takes the request as values and returns the answer as a value.
 */
import contentDisposition from 'content-disposition';
import { planResponse } from '../plan.js';
import { concatenate, digestLater } from './concatenate.js';
import { completeUpload, runCompletionHook, storeContent } from './content.js';
import { type EngineContext, assertContentUnread, describe, hookResponse, plainText, reload, reply } from './engine.js';
import type { UploadLease } from './lock.js';
import {
  completedResponse,
  completionDue,
  createdResponse,
  downloadContentType,
  INERT_DOWNLOAD_HEADERS,
  offsetResponse,
  planAppend,
  planCreation,
  requestRefusal,
  terminatedResponse,
  tooManyUploadsResponse,
  uploadLocation,
  type UploadProtocol,
  type UploadState,
} from './protocol.js';
import type { UploadAnswer, UploadRequest } from './request.js';
import { newUploadId } from './store.js';

/** POST on the endpoint: tus creation (with upload) or draft upload creation. */
export async function createUpload<R>(
  ctx: EngineContext<R>,
  request: UploadRequest<R>,
  protocol: UploadProtocol,
): Promise<UploadAnswer> {
  const { hooks } = ctx.options;
  const plan = planCreation(protocol, request.headers, ctx.limits(), ctx.store.capabilities.concatenation);
  if (plan.kind === 'refuse') return reply(plan.response);
  if (plan.kind === 'concatenate') return concatenate(ctx, request, protocol, plan);
  // Found out before anything is created: a body another layer read is never stored short.
  if (plan.withContent) assertContentUnread(request);
  if ((await ctx.store.countUnfinished()) + ctx.creating >= ctx.options.maxUploads) {
    return reply(tooManyUploadsResponse(protocol));
  }
  ctx.creating += 1;
  let state: UploadState;
  try {
    let data = {};
    if (hooks.beforeCreate !== undefined) {
      const verdict = await hooks.beforeCreate(request.original, {
        length: plan.length,
        metadata: plan.metadata,
        contentType: plan.contentType,
        fileName: plan.fileName,
        protocol: protocol.kind,
        concat: plan.concat,
      });
      if (verdict !== undefined && 'refuse' in verdict) return reply(hookResponse(protocol, verdict.refuse));
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
      ...(plan.concat === 'partial' && { concat: { kind: 'partial' } }),
    };
    await ctx.store.create(state);
  } finally {
    ctx.creating -= 1;
  }
  const lease = await ctx.locker.acquire(state.id);
  try {
    const location = uploadLocation(request.target.prefix, state.id);
    if (plan.withContent) {
      const announced = announceUpload(ctx, request, protocol, state, location);
      return await storeContent(ctx, request, protocol, lease, state, plan, location, announced);
    }
    // tus: an upload of length 0 is complete as soon as it exists (tus-js-client sends no PATCH for it).
    if (completionDue(state, false) === undefined) {
      return reply(createdResponse(protocol, state, location, ctx.limits()));
    }
    const finished = await completeUpload(ctx, lease, state, undefined, undefined);
    const own = await runCompletionHook(ctx, request, finished, lease);
    return reply(completedResponse(protocol, finished, location, own));
  } catch (err) {
    // A creation that failed leaves no upload behind: its client never learned the URL.
    await ctx.store.remove(state.id).catch(() => {});
    throw err;
  } finally {
    lease.release();
  }
}

/**
 * The draft's 104 (Upload Resumption Supported) with the new upload's URL, before its content is read,
 * where the transport can send one; true when it was sent (the client then knows the upload).
 */
function announceUpload<R>(
  ctx: EngineContext<R>,
  request: UploadRequest<R>,
  protocol: UploadProtocol,
  state: UploadState,
  location: string,
): boolean {
  if (protocol.kind !== 'draft' || request.informational === undefined) return false;
  const { headers } = createdResponse(protocol, state, location, ctx.limits());
  const { 'content-length': _length, 'upload-complete': _complete, ...fields } = headers;
  request.informational(104, { ...fields, 'upload-draft-interop-version': String(protocol.version) });
  return true;
}

/**
 * Runs `work` holding the upload's lock, once the request's fields passed every check: only a request
 * that would be served may take the upload over from one still receiving content. The state is read
 * again under the lock, settled by that take-over.
 */
async function withTurn<R>(
  ctx: EngineContext<R>,
  request: UploadRequest<R>,
  protocol: UploadProtocol,
  found: UploadState,
  work: (state: UploadState, lease: UploadLease) => Promise<UploadAnswer>,
): Promise<UploadAnswer> {
  const refused = requestRefusal(request.method, protocol, request.headers, found, ctx.limits());
  if (refused !== undefined) return reply(refused);
  const lease = await ctx.locker.acquire(found.id);
  try {
    const current = await reload(ctx, protocol, found.id);
    if (!('state' in current)) return current.answer;
    return await work(current.state, lease);
  } finally {
    lease.release();
  }
}

/** PATCH: tus append or draft upload append, checked again against the offset the take-over settled. */
export function appendContent<R>(
  ctx: EngineContext<R>,
  request: UploadRequest<R>,
  protocol: UploadProtocol,
  found: UploadState,
): Promise<UploadAnswer> {
  return withTurn(ctx, request, protocol, found, async (state, lease) => {
    // A 409 here names the offset the take-over settled.
    const plan = planAppend(protocol, request.headers, state, ctx.limits());
    if (plan.kind === 'refuse') return reply(plan.response);
    return storeContent(ctx, request, protocol, lease, state, plan, undefined);
  });
}

/** HEAD (or GET of an unfinished upload): the offset, once a running append has made its bytes durable. */
export function retrieveOffset<R>(
  ctx: EngineContext<R>,
  request: UploadRequest<R>,
  protocol: UploadProtocol,
  found: UploadState,
): Promise<UploadAnswer> {
  return withTurn(ctx, request, protocol, found, async (state) =>
    reply(offsetResponse(protocol, request.headers, state, ctx.limits())),
  );
}

/** DELETE: tus termination and draft cancellation; `onTerminate` after the files are gone. */
export function terminateUpload<R>(
  ctx: EngineContext<R>,
  request: UploadRequest<R>,
  protocol: UploadProtocol,
  found: UploadState,
): Promise<UploadAnswer> {
  return withTurn(ctx, request, protocol, found, async (state) => {
    await ctx.store.remove(state.id);
    await ctx.options.hooks.onTerminate?.(request.original, describe(state));
    return reply(terminatedResponse(protocol));
  });
}

/**
 * GET (or HEAD) of a finished upload: its bytes as a representation and the plan for this request
 * (ranges, multipart, `If-Range`, strong validators), served inert: a safe type, `nosniff`, a sandbox.
 */
export async function downloadUpload<R>(
  ctx: EngineContext<R>,
  request: UploadRequest<R>,
  state: UploadState,
): Promise<UploadAnswer> {
  if (state.moved) return reply(plainText(404, 'Not Found'));
  const headers: Record<string, string> = {
    'cache-control': 'no-cache',
    ...INERT_DOWNLOAD_HEADERS,
    'content-disposition': contentDisposition(state.fileName ?? state.id),
  };
  // RFC 9530: the digest of the whole representation, so a client can check what it assembled. A final
  // upload's is taken after its creation, in the background: until then it is served without one.
  if (state.sha256 !== undefined) headers['repr-digest'] = `sha-256=:${state.sha256}:`;
  else if (state.concat?.kind === 'final') digestLater(ctx, state.id);
  const contentType = state.servedType ?? downloadContentType(state.contentType, ctx.options.downloadTypes);
  const representation = await ctx.store.describe(state, { contentType, headers });
  try {
    const plan = planResponse({ method: request.method, headers: request.headers }, representation);
    return { kind: 'download', plan, representation };
  } catch (err) {
    representation.close?.();
    throw err;
  }
}
