/**
 * RFC 9530 representation digests, the parts that need no file system: the SHA-256 of bytes in memory,
 * the `Repr-Digest` field value, and reading a request's `Want-Repr-Digest` preferences.
 */
import { createHash } from 'node:crypto';

/** The SHA-256 of in-memory bytes, and the content-hash ETag made from it (`"length-base64url"`). */
export interface ContentHash {
  readonly sha256: Buffer;
  readonly etag: string;
}

/**
 * The last content hash made, so that a representation built right after from the same bytes and
 * that ETag (`bytesRepresentation(body, { etag: contentEtag(body) })`) knows its SHA-256 without
 * hashing again. It is taken at most once, and forgotten at the end of the current job, so that it
 * never keeps a body alive.
 */
let lastHash: { readonly bytes: Uint8Array; readonly hash: ContentHash } | undefined;

/** Hashes `bytes` once: the SHA-256 and the strong ETag built from the length and that digest. */
export function contentHash(bytes: Uint8Array): ContentHash {
  const sha256 = createHash('sha256').update(bytes).digest();
  const hash = { sha256, etag: digestEtag(bytes.byteLength, sha256) };
  const entry = { bytes, hash };
  lastHash = entry;
  queueMicrotask(() => {
    if (lastHash === entry) lastHash = undefined;
  });
  return hash;
}

/** The SHA-256 (base64) of `bytes` when it is the one just computed for exactly this `etag`, else undefined. */
export function takeContentSha256(bytes: Uint8Array, etag: string | undefined): string | undefined {
  const last = lastHash;
  if (last === undefined || last.bytes !== bytes || last.hash.etag !== etag) return undefined;
  lastHash = undefined;
  return last.hash.sha256.toString('base64');
}

/** The strong ETag of content of `size` bytes whose SHA-256 is `sha256`: `"<size in hex>-<base64url>"`. */
export function digestEtag(size: number | bigint, sha256: Uint8Array): string {
  return `"${size.toString(16)}-${Buffer.from(sha256.buffer, sha256.byteOffset, sha256.byteLength).toString('base64url')}"`;
}

/** The `Repr-Digest` field value (RFC 9530 §3) for a SHA-256 given in base64: `sha-256=:…:`. */
export function reprDigestValue(sha256Base64: string): string {
  return `sha-256=:${sha256Base64}:`;
}

/**
 * Whether a `Want-Repr-Digest` field (RFC 9530 §4: a dictionary of algorithm keys and preferences 0-10)
 * asks for SHA-256: `sha-256` with a preference from 1 to 10 (a bare key counts as wanted, 0 means "not
 * acceptable"). Other algorithms are ignored, and so is anything that does not parse.
 */
export function wantsSha256(field: string | readonly string[] | undefined): boolean {
  if (field === undefined) return false;
  const value = typeof field === 'string' ? field : field.join(',');
  if (value.length > 4096) return false; // a preference list is a few keys; a huge one is not read
  for (const member of value.split(',')) {
    const eq = member.indexOf('=');
    const key = (eq === -1 ? member : member.slice(0, eq)).trim();
    if (key !== 'sha-256') continue;
    if (eq === -1) return true;
    // Parameters after `;` are allowed by Structured Fields and change nothing here.
    const preference =
      member
        .slice(eq + 1)
        .split(';', 1)[0]
        ?.trim() ?? '';
    return /^(?:[1-9]|10)$/.test(preference);
  }
  return false;
}
