/**
 * Precompressed variants for routes that choose their file themselves (`sendRange`): the best of
 * `<file>.br`, `.zst`, `.gz` that the request accepts, or the file itself, as a representation with
 * its own validators. Directory serving selects variants in static.ts under the root's rules.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { PRECOMPRESSED_CODINGS, type PrecompressedCoding, preferredCodings } from './accept-encoding.js';
import { mergeVary } from './fields.js';
import { type FileEtagMode, openFileWithDigest } from './digest.js';
import { contentTypeFor, normalizeOptions, optionHeaders, type RangeServeOptions } from './options.js';
import { unknownOptionError } from './option-names.js';
import { closeRepresentation, type FileRepresentation, NotAFileError } from './representation.js';

/** The options {@link openVariant} reads: the codings offered and how validators are made. */
export type VariantOptions = Pick<RangeServeOptions, 'precompressed' | 'etag' | 'lastModified' | 'download'>;

const VARIANT_KEYS: ReadonlySet<string> = new Set(['precompressed', 'etag', 'lastModified', 'download']);

const UNUSABLE = new Set(['ENOENT', 'ENOTDIR', 'ENAMETOOLONG', 'ELOOP', 'EMLINK', 'EACCES', 'EPERM']);

/**
 * Opens the representation of the file at `path` to send for a request with `requestHeaders`: its best
 * precompressed variant by `Accept-Encoding` (a regular file, not a symbolic link, not older than the
 * original), or the file itself. With at least one variant present, the result carries `Vary:
 * Accept-Encoding`. `precompressed` defaults to `true` here. Hand the result to `sendRange`; a missing
 * original rejects as `openFile` does.
 */
export async function openVariant(
  path: string,
  requestHeaders: IncomingHttpHeaders,
  options: VariantOptions = {},
): Promise<FileRepresentation> {
  for (const key of Object.keys(options)) {
    if (!VARIANT_KEYS.has(key)) throw unknownOptionError(key, VARIANT_KEYS);
  }
  const normalized = normalizeOptions({ precompressed: options.precompressed ?? true, ...pickDefined(options) });
  const etag: FileEtagMode = normalized.etag;
  const fileOptions = { etag, lastModified: normalized.lastModified, contentType: contentTypeFor(path) };
  const original = await openFileWithDigest(path, fileOptions);
  const headers = optionHeaders({ ...normalized, cacheControlRequested: false }, path, false);
  return chooseVariant(original, requestHeaders, normalized.precompressed, fileOptions, headers);
}

/** How a variant's validators and type are made: as its original's. */
export interface VariantFileOptions {
  readonly etag: FileEtagMode;
  readonly lastModified: boolean;
  readonly contentType: string | undefined;
}

/**
 * The representation to send for an opened `original` among `codings` (in the server's order): its best
 * variant by `Accept-Encoding`, opened with `fileOptions`, with the original's type, `Content-Encoding`,
 * a coding ETag and `Vary: Accept-Encoding` (the original is then closed); or the original, with that
 * Vary when some variant exists. `headers` are added to either. On failure the original is closed.
 */
export async function chooseVariant(
  original: FileRepresentation,
  requestHeaders: IncomingHttpHeaders,
  codings: readonly PrecompressedCoding[],
  fileOptions: VariantFileOptions,
  headers: Readonly<Record<string, string>> = {},
): Promise<FileRepresentation> {
  try {
    const preferred = preferredCodings(requestHeaders['accept-encoding'], codings);
    for (const coding of preferred) {
      const variant = await openSidecar(original, coding, fileOptions);
      if (variant === undefined) continue;
      closeRepresentation(original);
      return {
        ...variant,
        contentType: original.contentType,
        etag: codingEtag(variant.etag, coding),
        headers: { ...headers, 'content-encoding': coding, vary: 'Accept-Encoding' },
      };
    }
    for (const coding of codings) {
      if (preferred.includes(coding)) continue;
      const probe = await openSidecar(original, coding, { ...fileOptions, etag: false });
      if (probe === undefined) continue;
      closeRepresentation(probe);
      return {
        ...original,
        headers: { ...original.headers, ...headers, vary: mergeVary(original.headers?.vary, 'Accept-Encoding') },
      };
    }
    return Object.keys(headers).length === 0 ? original : { ...original, headers: { ...original.headers, ...headers } };
  } catch (err) {
    closeRepresentation(original);
    throw err;
  }
}

function pickDefined(options: VariantOptions): VariantOptions {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as VariantOptions;
}

/** `<original>.<ext>` opened without following a link, or undefined when it is missing, not a regular file or older. */
async function openSidecar(
  original: FileRepresentation,
  coding: PrecompressedCoding,
  fileOptions: VariantFileOptions,
): Promise<FileRepresentation | undefined> {
  let file: FileRepresentation;
  try {
    file = await openFileWithDigest(`${original.path}.${PRECOMPRESSED_CODINGS[coding]}`, {
      ...fileOptions,
      followSymlinks: false,
    });
  } catch (err) {
    if (err instanceof NotAFileError) return undefined;
    if (typeof err === 'object' && err !== null && UNUSABLE.has(String((err as { code?: unknown }).code))) {
      return undefined;
    }
    throw err;
  }
  // A variant older than its original is left from an earlier build: it no longer encodes these bytes.
  if (file.stat.mtimeNs < original.stat.mtimeNs) {
    closeRepresentation(file);
    return undefined;
  }
  return file;
}

/** An entity-tag with `-<coding>` added inside its opaque part (`"x"` becomes `"x-br"`, `W/"x"` becomes `W/"x-br"`). */
export function codingEtag(etag: string | undefined, coding: string): string | undefined {
  if (etag === undefined || !etag.endsWith('"')) return etag;
  return `${etag.slice(0, -1)}-${coding}"`;
}
