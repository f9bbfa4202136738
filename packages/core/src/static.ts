/**
 * Static files: a URL path under a root directory becomes an opened file, a redirect, a refusal or a
 * miss. Every refusal is decided from the path alone before the file system is touched, and a symbolic
 * link is followed only when its target stays inside the root. Each rule, and where express.static
 * answers differently, is in docs/behaviour.md, "Paths".
 */
import { type BigIntStats, lstatSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { realpath } from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';
import path from 'node:path';
import { PRECOMPRESSED_CODINGS, type PrecompressedCoding, preferredCodings } from './accept-encoding.js';
import { mergeVary } from './fields.js';
import { withFileDigest } from './digest.js';
import { contentTypeFor, type NormalizedOptions, optionHeaders } from './options.js';
import { wantsSha256 } from './repr-digest.js';
import { codingEtag } from './variant.js';
import {
  canRefuseSymlinks,
  closeRepresentation,
  fileInfo,
  type FileRepresentation,
  NotAFileError,
  openFile,
  type RepresentationInfo,
} from './representation.js';

/** The outcome of looking a URL path up under a root. */
export type StaticResult =
  | { readonly kind: 'file'; readonly file: FileRepresentation }
  /** A directory asked for without its trailing slash: answer with a 301 to the path plus `/`. */
  | { readonly kind: 'redirect' }
  | { readonly kind: 'refused'; readonly status: 400 | 403; readonly reason: string }
  | { readonly kind: 'miss' }
  /**
   * Only with `validatorsFirst`: a regular file's size and validators from one `lstat`, unopened. When
   * the answer needs its body, `open` looks the path up again under every rule, as without the option.
   */
  | { readonly kind: 'validators'; readonly info: RepresentationInfo; readonly open: () => Promise<StaticResult> };

/** How {@link StaticResolver} may look a path up. */
export interface StaticLookup {
  /**
   * For a request with `If-None-Match` or `If-Modified-Since`, answer `validators` for a file directly
   * under the root, so that a 304 costs one `lstat` instead of open, fstat and close.
   */
  readonly validatorsFirst?: boolean;
}

/** The options {@link staticResolver} looks at. */
export type StaticOptions = Pick<
  NormalizedOptions<unknown>,
  | 'dotfiles'
  | 'index'
  | 'extensions'
  | 'redirect'
  | 'etag'
  | 'wantReprDigest'
  | 'lastModified'
  | 'cacheControl'
  | 'cacheControlRequested'
  | 'download'
  | 'precompressed'
>;

/**
 * Looks up one URL path (percent-encoded, without the query) under the root; the file is opened once.
 * The request's headers, when given, let `Want-Repr-Digest` ask for the file's SHA-256.
 */
export type StaticResolver = (
  urlPath: string,
  requestHeaders?: IncomingHttpHeaders,
  lookup?: StaticLookup,
) => Promise<StaticResult>;

const MISSING = new Set(['ENOENT', 'ENOTDIR', 'ENAMETOOLONG', 'ELOOP']);
const FORBIDDEN = new Set(['EACCES', 'EPERM']);

/**
 * Makes the lookup for files under `root`. An empty URL path stands for the mount point itself
 * requested without its slash (so a directory there is redirected).
 */
export function staticResolver(root: string, options: StaticOptions): StaticResolver {
  if (typeof root !== 'string' || root === '') throw new TypeError('root must be a non-empty path');
  const base = path.resolve(root);
  checkRoot(base);
  let warned = false;
  let realRoot: Promise<string> | undefined;
  /** The root's real path once known, read without waiting on the promise again. */
  let resolvedRoot: string | undefined;
  const rootPath = (): Promise<string> => {
    // Resolved on first use and kept, so a root created after start-up still works.
    realRoot ??= realpath(base).catch((err: unknown) => {
      realRoot = undefined;
      throw err;
    });
    return realRoot;
  };

  return async (urlPath, requestHeaders, lookup) => {
    // The file's SHA-256 is awaited for a digest ETag, or when the request asks for it and that is allowed.
    const sha256 =
      options.etag === 'digest' || (options.wantReprDigest && wantsSha256(requestHeaders?.['want-repr-digest']));
    const parsed = parseUrlPath(urlPath, options);
    if (parsed.kind !== 'segments') return parsed.result;
    let rootReal: string;
    try {
      rootReal = resolvedRoot ?? (resolvedRoot = await rootPath());
    } catch (err) {
      if (isCode(err, MISSING)) {
        if (!warned) {
          warned = true;
          process.emitWarning(
            `range-serve: the root ${base} does not exist; every request under it is a miss until it does`,
            { code: 'RANGE_SERVE_ROOT_MISSING' },
          );
        }
        return { kind: 'miss' };
      }
      throw err;
    }
    const { segments, trailingSlash, trailingDot } = parsed;
    // The original is found under every rule first; only then may a precompressed variant stand in for it.
    const chosen = async (found: StaticResult): Promise<StaticResult> =>
      found.kind === 'file' && options.precompressed.length > 0
        ? selectVariant(rootReal, found.file, requestHeaders, options, sha256)
        : found;
    const target = path.join(rootReal, ...segments);
    const last = segments.at(-1) ?? '';

    if (trailingSlash) {
      // A path ending in `/` names a directory: a file of that name is not it, and only an index answers.
      const dir = await tryDirectory(rootReal, target);
      if (dir.kind !== 'directory') return dir;
      if (trailingDot) return options.redirect ? { kind: 'redirect' } : { kind: 'miss' };
      for (const name of options.index) {
        const found = await tryOpen(rootReal, path.join(target, name), name, options, sha256);
        // An index entry that is itself a directory is skipped, like a missing one.
        if (found.kind !== 'directory' && found.kind !== 'miss') return chosen(found);
      }
      return { kind: 'miss' };
    }
    const opened = async (): Promise<StaticResult> => {
      const first = await tryOpen(rootReal, target, last, options, sha256);
      if (first.kind === 'directory') return options.redirect ? { kind: 'redirect' } : { kind: 'miss' };
      // Extensions complete a name that has none of its own: `/a.html` never finds `a.html.html`.
      if (first.kind !== 'miss' || path.extname(last) !== '') return chosen(first);
      for (const ext of options.extensions) {
        const found = await tryOpen(rootReal, `${target}.${ext}`, `${last}.${ext}`, options, sha256);
        if (found.kind !== 'directory' && found.kind !== 'miss') return chosen(found);
      }
      return { kind: 'miss' };
    };
    if (
      lookup?.validatorsFirst === true &&
      !sha256 &&
      options.precompressed.length === 0 &&
      mayBeNotModified(requestHeaders) &&
      directOpen &&
      path.dirname(target) === rootReal
    ) {
      const info = validatorsInRoot(rootReal, target, options);
      if (info !== undefined) return { kind: 'validators', info, open: opened };
    }
    return opened();
  };
}

/**
 * A root that exists must be a directory (a file given as the root is a mistake that would make every
 * request a miss). A root that does not exist yet is accepted: a build step or a volume may create it
 * after start-up; the first request that finds it still missing emits a warning.
 */
function checkRoot(base: string): void {
  let stat;
  try {
    stat = statSync(base);
  } catch {
    return; // missing, or not ours to look at: the requests will tell
  }
  if (!stat.isDirectory()) throw new TypeError(`root must be a directory: ${base} is not one`);
}

/** Whether a GET's answer may be a 304 (RFC 9110 §13.1.2, §13.1.3), so that its validators come first. */
function mayBeNotModified(headers: IncomingHttpHeaders | undefined): boolean {
  return headers?.['if-none-match'] !== undefined || headers?.['if-modified-since'] !== undefined;
}

/**
 * The size and validators of a regular file named directly under the real root, from `lstat`, which
 * follows no link in the last place, once the root still resolves to itself (so no component of it was
 * swapped for a link). Anything else (missing, a link, a directory, a file this process may not read, a
 * moved root, an error) is undefined, and the path is then opened under every rule, which tells a miss
 * from a refusal.
 */
function validatorsInRoot(rootReal: string, target: string, options: StaticOptions): RepresentationInfo | undefined {
  let stat: BigIntStats | undefined;
  try {
    // Synchronous, like the root check after it: one lstat of an entry of a directory just resolved is a
    // few microseconds of system call, where a thread-pool round trip costs the 304 a third of its time.
    stat = lstatSync(target, { bigint: true, throwIfNoEntry: false });
    // After the lstat, so a swap made before it is seen.
    if (stat === undefined || realpathSync.native(rootReal) !== rootReal) return undefined;
  } catch {
    return undefined;
  }
  if (!stat.isFile() || !readableByThisProcess(stat)) return undefined;
  return fileInfo(stat, {
    etag: options.etag === 'digest' ? false : options.etag,
    lastModified: options.lastModified,
    contentType: contentTypeFor(target),
    headers: fileHeaders(options, target),
  });
}

/** Whether the permission bits let this process read the file (owner, else group, else other; root reads all). */
function readableByThisProcess(stat: BigIntStats): boolean {
  const uid = process.getuid?.();
  if (uid === undefined) return false;
  if (uid === 0) return true;
  const mode = Number(stat.mode);
  if (BigInt(uid) === stat.uid) return (mode & 0o400) !== 0;
  const group = (mode & 0o040) !== 0;
  if (group === ((mode & 0o004) !== 0)) return group; // the same answer whether or not we are in its group
  const gid = Number(stat.gid);
  const member = process.getgid?.() === gid || (process.getgroups?.() ?? []).includes(gid);
  return member ? group : !group;
}

/**
 * The representation to send for an original file found under every rule: the best variant the request
 * accepts (`<file>.br`, `.zst`, `.gz`, opened under the same containment rules, a regular file not older
 * than the original), or the original. When the path has any variant, the answer depends on
 * `Accept-Encoding`, so either carries `Vary: Accept-Encoding` (RFC 9110 §12.5.5).
 */
async function selectVariant(
  rootReal: string,
  original: FileRepresentation,
  requestHeaders: IncomingHttpHeaders | undefined,
  options: StaticOptions,
  sha256: boolean,
): Promise<StaticResult> {
  try {
    const preferred = preferredCodings(requestHeaders?.['accept-encoding'], options.precompressed);
    for (const coding of preferred) {
      const variant = await openVariantFile(rootReal, original, coding, options, sha256);
      if (variant !== undefined) {
        closeRepresentation(original);
        return { kind: 'file', file: variant };
      }
    }
    for (const coding of options.precompressed) {
      if (preferred.includes(coding)) continue;
      const probe = await openVariantFile(rootReal, original, coding, options, false);
      if (probe === undefined) continue;
      closeRepresentation(probe);
      return { kind: 'file', file: varyingOnCoding(original) };
    }
    return { kind: 'file', file: original };
  } catch (err) {
    closeRepresentation(original);
    throw err;
  }
}

/** `file` with `Vary: Accept-Encoding` merged into any Vary its headers hold. */
function varyingOnCoding<F extends FileRepresentation>(file: F): F {
  return { ...file, headers: { ...file.headers, vary: mergeVary(file.headers?.vary, 'Accept-Encoding') } };
}

/**
 * Opens `<original>.<ext>` as the representation of `original` in `coding`, or undefined when there is
 * no usable one: missing, refused (a link out of the root, not a regular file) or older than the original.
 * It keeps the original's type and option headers, adds `Content-Encoding`, and has its own validators:
 * the ETag from its own fstat (or digest) with the coding inside the opaque tag, so that it differs from
 * the identity tag and from other codings' even when size and mtime agree (§8.8.3).
 */
async function openVariantFile(
  rootReal: string,
  original: FileRepresentation,
  coding: PrecompressedCoding,
  options: StaticOptions,
  sha256: boolean,
): Promise<FileRepresentation | undefined> {
  const ext = PRECOMPRESSED_CODINGS[coding];
  const found = await tryOpen(
    rootReal,
    `${original.path}.${ext}`,
    `${path.basename(original.path)}.${ext}`,
    options,
    sha256,
  );
  if (found.kind !== 'file') return undefined;
  const file = found.file;
  // A variant older than its original is left from an earlier build: it no longer encodes these bytes.
  if (file.stat.mtimeNs < original.stat.mtimeNs) {
    closeRepresentation(file);
    return undefined;
  }
  return varyingOnCoding({
    ...file,
    contentType: original.contentType,
    etag: codingEtag(file.etag, coding),
    headers: { ...original.headers, 'content-encoding': coding },
  });
}

type Parsed =
  | {
      readonly kind: 'segments';
      readonly segments: string[];
      readonly trailingSlash: boolean;
      /** The path ends in a `.` or `..` segment: it names a directory, but the URL lacks its slash. */
      readonly trailingDot: boolean;
    }
  | { readonly kind: 'done'; readonly result: StaticResult };

function refuse(status: 400 | 403, reason: string): Parsed {
  return { kind: 'done', result: { kind: 'refused', status, reason } };
}

/**
 * Decodes and checks a URL path, then removes its dot segments (RFC 3986 §5.2.4); nothing here touches
 * the file system. Empty segments (`//`) collapse first, as they do in a file path; a `..` with nothing
 * left to remove would leave the root and refuses the whole path.
 */
function parseUrlPath(urlPath: string, options: StaticOptions): Parsed {
  // An encoded slash or backslash would let one segment name a path of several: refused outright.
  if (/%(2f|5c)/i.test(urlPath)) return refuse(403, 'encoded path separator');
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return refuse(400, 'malformed percent-encoding');
  }
  if (decoded.includes('\0')) return refuse(400, 'NUL byte in path');
  if (decoded.includes('\\')) return refuse(403, 'backslash in path');
  const segments: string[] = [];
  const parts = decoded.split('/');
  for (const part of parts) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (segments.length === 0) return refuse(403, 'parent directory segment above the root');
      segments.pop();
      continue;
    }
    segments.push(part);
  }
  // Only the segments that remain name something to open, so only they are judged.
  for (const part of segments) {
    // A drive letter or UNC-like segment is an absolute path on Windows.
    if (path.isAbsolute(part) || /^[a-zA-Z]:/.test(part)) return refuse(403, 'absolute path segment');
    if (part.startsWith('.')) {
      if (options.dotfiles === 'deny') return refuse(403, 'dotfile');
      if (options.dotfiles === 'ignore') return { kind: 'done', result: { kind: 'miss' } };
    }
  }
  // A last segment `.` or `..` leaves a path ending in `/` (RFC 3986 §5.2.4): `/a/.` is `/a/`, a directory
  // whose URL lacks the slash its relative links need, so it is redirected like `/a` (as send does).
  const lastPart = parts.at(-1);
  const trailingDot = lastPart === '.' || lastPart === '..';
  const trailingSlash = urlPath !== '' && (lastPart === '' || trailingDot);
  return { kind: 'segments', segments, trailingSlash, trailingDot };
}

type Opened = StaticResult | { readonly kind: 'directory' };

/**
 * Checks that `target` is a directory inside the root without opening anything: the path is resolved
 * with a trailing separator, which the file system answers with ENOTDIR for a file.
 */
async function tryDirectory(rootReal: string, target: string): Promise<Opened> {
  let real: string;
  try {
    real = await realpath(target === rootReal ? target : target + path.sep);
  } catch (err) {
    if (isCode(err, MISSING)) return { kind: 'miss' };
    if (isCode(err, FORBIDDEN)) return { kind: 'refused', status: 403, reason: 'permission denied' };
    throw err;
  }
  if (!insideRoot(rootReal, real))
    return { kind: 'refused', status: 403, reason: 'symbolic link leads outside the root' };
  return { kind: 'directory' };
}

function insideRoot(rootReal: string, real: string): boolean {
  return real === rootReal || real.startsWith(rootReal.endsWith(path.sep) ? rootReal : rootReal + path.sep);
}

/** Resolves symbolic links, checks the target is inside the root, then opens it once. */
async function tryOpen(
  rootReal: string,
  target: string,
  name: string,
  options: StaticOptions,
  sha256: boolean,
): Promise<Opened> {
  if (name.startsWith('.') && options.dotfiles !== 'allow') {
    // Index and extension candidates obey the dotfiles policy too.
    return options.dotfiles === 'deny' ? { kind: 'refused', status: 403, reason: 'dotfile' } : { kind: 'miss' };
  }
  if (directOpen && path.dirname(target) === rootReal) {
    // A name directly under the real root, opened with O_NOFOLLOW: a link in the last place is refused by
    // the kernel (ELOOP) without being followed, and the descriptor's own path (below) proves the root was
    // not swapped for a link meanwhile. One open instead of realpath + open; links take the path below.
    const direct = await openInRoot(target, target, options, false, sha256);
    if (direct !== SYMLINK) return direct;
  }
  let real: string;
  try {
    real = await realpath(target);
  } catch (err) {
    if (isCode(err, MISSING)) return { kind: 'miss' };
    if (isCode(err, FORBIDDEN)) return { kind: 'refused', status: 403, reason: 'permission denied' };
    throw err;
  }
  if (!insideRoot(rootReal, real)) {
    return { kind: 'refused', status: 403, reason: 'symbolic link leads outside the root' };
  }
  // The real path is opened, so a link swapped in after the check is not followed out of the root.
  return openInRoot(real, target, options, true, sha256) as Promise<Opened>;
}

/** Option headers that do not depend on the file name (no `download`), made once per options object. */
const fixedHeaders = new WeakMap<StaticOptions, Readonly<Record<string, string>>>();

function fileHeaders(options: StaticOptions, target: string): Readonly<Record<string, string>> {
  if (options.download !== false) return optionHeaders(options, target, true);
  let headers = fixedHeaders.get(options);
  if (headers === undefined) {
    headers = Object.freeze(optionHeaders(options, undefined, true));
    fixedHeaders.set(options, headers);
  }
  return headers;
}

/**
 * Opening directly under the root needs O_NOFOLLOW and /proc/self/fd to check what was opened (Linux).
 * Turned off for good the first time /proc/self/fd cannot be read (see {@link descriptorPath}).
 */
let directOpen = canRefuseSymlinks && process.platform === 'linux';

/**
 * The path the kernel gives for our descriptor, or undefined where it cannot be read: Deno reads
 * /proc/self/fd only under --allow-all. Direct opens then stop, and every path takes the realpath check.
 */
function descriptorPath(fd: number): string | undefined {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    directOpen = false;
    return undefined;
  }
}

/** Returned by {@link openInRoot} when O_NOFOLLOW met a symbolic link, which the realpath check must judge. */
const SYMLINK = Symbol('symlink');
const LINK_REFUSED = new Set(['ELOOP', 'EMLINK']); // Linux says ELOOP for O_NOFOLLOW, FreeBSD EMLINK

/**
 * Opens `file` (named `target` in responses) once; with `followSymlinks` false a link yields {@link SYMLINK}.
 * With `sha256` it resolves once the content's SHA-256 is known (and is the ETag with `etag: 'digest'`).
 */
async function openInRoot(
  file: string,
  target: string,
  options: StaticOptions,
  followSymlinks: boolean,
  sha256: boolean,
): Promise<Opened | typeof SYMLINK> {
  try {
    const opened = await openFile(file, {
      etag: options.etag === 'digest' ? false : options.etag,
      lastModified: options.lastModified,
      contentType: contentTypeFor(target),
      headers: fileHeaders(options, target),
      followSymlinks,
    });
    const own = followSymlinks ? file : descriptorPath(opened.fd);
    if (own !== file) {
      await closeRepresentation(opened);
      // Unverifiable: judged like a link, by the realpath check.
      if (own === undefined) return SYMLINK;
      return { kind: 'refused', status: 403, reason: 'the root no longer resolves to itself' };
    }
    const described = sha256 ? await withFileDigest(opened, { digestEtag: options.etag === 'digest' }) : opened;
    return { kind: 'file', file: { ...described, path: target } };
  } catch (err) {
    if (!followSymlinks && isCode(err, LINK_REFUSED)) return SYMLINK;
    if (err instanceof NotAFileError) {
      return err.code === 'EISDIR' ? { kind: 'directory' } : { kind: 'refused', status: 403, reason: 'not a file' };
    }
    if (isCode(err, MISSING)) return { kind: 'miss' };
    if (isCode(err, FORBIDDEN)) return { kind: 'refused', status: 403, reason: 'permission denied' };
    throw err;
  }
}

function isCode(err: unknown, codes: Set<string>): boolean {
  return typeof err === 'object' && err !== null && codes.has(String((err as { code?: unknown }).code));
}
