/**
 * `sendRange`'s decisions: the plan for a representation a route chose, with each option of
 * {@link SendRangeOptions} applied to it or refused. Shared by every adapter's `sendRange` (Express,
 * Koa, fetch).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { type FileEtagMode, withFileDigest } from './digest.js';
import {
  contentTypeFor,
  type NormalizedSendRangeOptions,
  normalizeSendRangeOptions,
  optionHeaders,
  type SendRangeOptions,
} from './options.js';
import type { ResponsePlan } from './plan.js';
import { contentHash, digestEtag, wantsSha256 } from './repr-digest.js';
import {
  type BytesRepresentation,
  closeRepresentation,
  fileInfo,
  type FileRepresentation,
  type Representation,
} from './representation.js';
import { plannedOutcome, type ResponseTarget, type ServeRequest, variesOnCoding } from './serve.js';
import { chooseVariant } from './variant.js';

/**
 * `sendRange`: the plan for a representation a route chose, with every option of {@link SendRangeOptions}
 * applied to it (validators, a precompressed variant of a file, Cache-Control only on request, a
 * download name, `setHeaders`) and a file's type from its name. An option that cannot apply to this
 * representation is a `TypeError`; on any failure the representation is closed.
 */
export async function planSendRange<Res>(
  request: ServeRequest | { readonly method: string; readonly headers: IncomingHttpHeaders },
  representation: Representation,
  rawOptions: SendRangeOptions<Res>,
  target: ResponseTarget<Res>,
): Promise<{ readonly response: ResponsePlan; readonly representation: Representation }> {
  let rep = representation;
  try {
    const options = normalizeSendRangeOptions(rawOptions);
    const file = asFile(representation);
    const path = file?.path;
    const contentType = representation.contentType ?? (path === undefined ? undefined : contentTypeFor(path));
    if (file === undefined) {
      refuseFileOnlyOptions(representation, options);
      rep = withOptionValidators(representation, request.headers, options);
    } else {
      rep = await withFileOptions({ ...file, contentType }, request.headers, options);
    }
    const headers = optionHeaders({ ...options, cacheControlRequested: true }, path, false);
    const described: Representation = { ...rep, contentType, headers: { ...headers, ...rep.headers } };
    const outcome = await plannedOutcome(request, described, options, target);
    return { response: outcome.response as ResponsePlan, representation: outcome.representation as Representation };
  } catch (err) {
    closeRepresentation(rep);
    closeRepresentation(representation);
    throw err;
  }
}

/** A representation that is an opened file (from `openFile`, `openVariant`), or undefined. */
function asFile(representation: Representation): FileRepresentation | undefined {
  const file = representation as Partial<FileRepresentation>;
  return file.kind === 'file' && typeof file.path === 'string' && file.stat !== undefined
    ? (representation as FileRepresentation)
    : undefined;
}

/** The options that need a file's path, descriptor or siblings, refused for any other representation. */
function refuseFileOnlyOptions<Res>(representation: Representation, options: NormalizedSendRangeOptions<Res>): void {
  const refuse = (what: string): never => {
    throw new TypeError(`sendRange: ${what}`);
  };
  if (options.precompressed.length > 0) {
    refuse('precompressed needs a file representation (openFile), whose variants are looked for beside it');
  }
  if (options.setHeaders !== undefined) {
    refuse(
      "setHeaders is called with a file's path and stats: set the headers on the response for this representation",
    );
  }
  if (options.download === true) refuse('download: true names the file sent: give the name as a string');
  if (
    options.etag === 'digest' &&
    (representation as Partial<BytesRepresentation>).kind !== 'bytes' &&
    representation.sha256 === undefined
  ) {
    refuse("etag: 'digest' needs in-memory bytes, a file, or a representation that declares its sha256");
  }
}

/** A representation other than a file with the validators `options` ask for (see {@link SendRangeOptions}). */
function withOptionValidators<Res>(
  representation: Representation,
  requestHeaders: IncomingHttpHeaders,
  options: NormalizedSendRangeOptions<Res>,
): Representation {
  const bytes =
    (representation as Partial<BytesRepresentation>).kind === 'bytes'
      ? (representation as BytesRepresentation).bytes
      : undefined;
  let { etag, sha256 } = representation;
  if (options.etag === false) etag = undefined;
  else if (options.etag === 'weak' && etag !== undefined && !etag.startsWith('W/')) etag = `W/${etag}`;
  else if (options.etag === 'digest') {
    if (bytes !== undefined) {
      const hash = contentHash(bytes);
      etag = hash.etag;
      sha256 = hash.sha256.toString('base64');
    } else {
      etag = digestEtag(representation.size, Buffer.from(sha256 as string, 'base64'));
    }
  }
  if (
    sha256 === undefined &&
    bytes !== undefined &&
    options.wantReprDigest &&
    wantsSha256(requestHeaders['want-repr-digest'])
  ) {
    sha256 = contentHash(bytes).sha256.toString('base64');
  }
  const lastModified = options.lastModified === false ? undefined : representation.lastModified;
  return { ...representation, etag, sha256, lastModified };
}

/**
 * An opened file with the options applied: its best precompressed variant (unless it already is one, or
 * the answer of one negotiation, from `openVariant`), validators made again from its descriptor when
 * `etag` or `lastModified` is given (a variant's are of the same kind as its original's), and its
 * SHA-256 when `Want-Repr-Digest` asks and `wantReprDigest` allows.
 */
async function withFileOptions<Res>(
  file: FileRepresentation,
  requestHeaders: IncomingHttpHeaders,
  options: NormalizedSendRangeOptions<Res>,
): Promise<FileRepresentation> {
  let chosen = file;
  const negotiated = file.headers?.['content-encoding'] !== undefined || variesOnCoding(file);
  if (options.precompressed.length > 0 && !negotiated) {
    const fileOptions = {
      etag: options.etag ?? etagModeOf(file),
      lastModified: options.lastModified ?? file.lastModified !== undefined,
      contentType: file.contentType,
    };
    chosen = await chooseVariant(file, requestHeaders, options.precompressed, fileOptions);
  }
  if (chosen.path === file.path && (options.etag !== undefined || options.lastModified !== undefined)) {
    chosen = await withFileValidators(chosen, options.etag, options.lastModified);
  }
  if (chosen.sha256 === undefined && options.wantReprDigest && wantsSha256(requestHeaders['want-repr-digest'])) {
    chosen = await withFileDigest(chosen, { digestEtag: false });
  }
  return chosen;
}

/** How the ETag an opened file carries was made, so that its variant's is made the same way. */
function etagModeOf(file: FileRepresentation): FileEtagMode {
  const etag = file.etag;
  if (etag === undefined) return false;
  if (etag.startsWith('W/')) return 'weak';
  if (file.sha256 !== undefined && etag === digestEtag(file.stat.size, Buffer.from(file.sha256, 'base64'))) {
    return 'digest';
  }
  return 'strong';
}

/** `file` with its ETag and Last-Modified made again from its descriptor as `etag` and `lastModified` say (undefined: kept). */
async function withFileValidators(
  file: FileRepresentation,
  etag: FileEtagMode | undefined,
  lastModified: boolean | undefined,
): Promise<FileRepresentation> {
  const info = fileInfo(file.stat, { etag: etag === 'digest' || etag === undefined ? false : etag });
  const remade: FileRepresentation = {
    ...file,
    etag: etag === undefined ? file.etag : info.etag,
    lastModified: lastModified === undefined ? file.lastModified : lastModified ? Number(file.stat.mtimeMs) : undefined,
  };
  return etag === 'digest' ? withFileDigest(remade, { digestEtag: true }) : remade;
}
