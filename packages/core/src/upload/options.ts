/**
 * Options of `resumableUploads()`, shared by the Express and Koa adapters: validated once, at
 * construction, so that a bad one throws a TypeError before the first request.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import ms from 'ms';
import { unknownOptionError } from '../option-names.js';

/** A final response a hook produces: a status, lowercase headers and an optional body. */
export interface UploadHookResponse {
  /** The status code, 200-599. */
  readonly status: number;
  /** Response headers (names are lowercased). */
  readonly headers?: Readonly<Record<string, string>>;
  /** The body: a string (UTF-8) or bytes. */
  readonly body?: string | Uint8Array;
}

/** JSON values a hook may attach to an upload (kept in its metadata file). */
export type UploadData = { readonly [key: string]: unknown };

/** The state of one upload as hooks see it. */
export interface UploadDescription {
  /** The upload's id, 22 base64url characters. */
  readonly id: string;
  /** The declared length in bytes, or undefined while it is deferred. */
  readonly length: number | undefined;
  /** Bytes stored durably so far. */
  readonly offset: number;
  /** True once every byte has arrived. */
  readonly complete: boolean;
  /** tus `Upload-Metadata` pairs (a key without a value maps to null). */
  readonly metadata: Readonly<Record<string, string | null>>;
  /** The media type the client declared, if any. */
  readonly contentType: string | undefined;
  /** The file name the client declared (`filename` metadata or `Content-Disposition`), if any. */
  readonly fileName: string | undefined;
  /** What the creation hook attached (an owner, a target folder). */
  readonly data: UploadData;
  /** Which protocol created it. */
  readonly protocol: 'tus' | 'draft';
}

/** A finished upload, handed to `onComplete`. */
export interface CompletedUpload extends UploadDescription {
  /** Absolute path of the data file inside `directory`. */
  readonly path: string;
  /** The length of the finished upload. */
  readonly length: number;
  /** The SHA-256 of the whole upload, base64. */
  readonly sha256: string;
}

/** What a creation request says, as the `beforeCreate` hook sees it. */
export interface UploadCreation {
  readonly length: number | undefined;
  readonly metadata: Readonly<Record<string, string | null>>;
  readonly contentType: string | undefined;
  readonly fileName: string | undefined;
  readonly protocol: 'tus' | 'draft';
}

/** A hook's verdict: nothing (go on), or a refusal with the response to send instead. */
export type HookRefusal = { readonly refuse: UploadHookResponse } | undefined | void;

/** What `onComplete` may say about a finished upload. */
export interface UploadCompletion {
  /** The hook moved the file away: a later GET answers 404. */
  readonly moved?: boolean;
  /** The final response (the draft: what the targeted resource would have answered). */
  readonly response?: UploadHookResponse;
  /**
   * The Content-Type to serve the upload with from now on, instead of the safe one chosen from the
   * uploader's declaration: for an app that has checked the bytes (`'text/html; charset=utf-8'` for a
   * sanitised page). `X-Content-Type-Options: nosniff` and `Content-Security-Policy: sandbox` stay.
   */
  readonly contentType?: string;
}

/** Hooks, each optional; they may be async. A hook that throws makes the request fail with that error. */
export interface UploadHooks {
  /** Before an upload is created: refuse it, or attach `data` (such as the owner) to it. */
  beforeCreate?: (
    req: IncomingMessage,
    creation: UploadCreation,
  ) => HookRefusal | { readonly data?: UploadData } | Promise<HookRefusal | { readonly data?: UploadData }>;
  /** On every request for an existing upload (HEAD, PATCH, DELETE, GET): refuse it, e.g. for ownership. */
  onRequest?: (req: IncomingMessage, upload: UploadDescription) => HookRefusal | Promise<HookRefusal>;
  /**
   * When the last byte is durable: may move the file away (`moved: true`, a later GET then answers 404)
   * and may give the final response (the response the target resource would have sent).
   */
  onComplete?: (
    req: IncomingMessage,
    upload: CompletedUpload,
  ) => UploadCompletion | undefined | void | Promise<UploadCompletion | undefined | void>;
  /** After an upload was terminated (DELETE) and its files removed. */
  onTerminate?: (req: IncomingMessage, upload: UploadDescription) => void | Promise<void>;
}

/** Options of `resumableUploads()`. */
export interface ResumableUploadOptions extends UploadHooks {
  /** Directory holding the uploads (created if missing); nothing outside it is ever opened. Required. */
  directory: string;
  /** Largest upload accepted: bytes, or a size string such as `'5 GiB'` (default `'1 TiB'`). */
  maxSize?: number | string;
  /** Inactivity after which an unfinished upload expires: ms, or a duration string such as `'1d'` (default `'1d'`); `false` never. */
  expiresAfter?: number | string | false;
  /** How often expired uploads are swept: ms or a duration string (default `'1h'`). */
  sweepInterval?: number | string;
  /** A request body that sends nothing for this long is ended, its bytes kept: ms or a duration string (default `'30s'`). */
  idleTimeout?: number | string;
  /**
   * The slowest average rate a body may keep, in bytes per second (a number or a size string such as
   * `'1 KiB'`; default `'1 KiB'`); `false` for none. After the first `idleTimeout`, a body must have
   * brought this many bytes for every further second, else it is ended with 408 and its bytes kept: a
   * client trickling a byte just under `idleTimeout` cannot hold a request open for ever.
   */
  minRate?: number | string | false;
  /**
   * The most bytes of description a client may store with an upload: the `Upload-Metadata` field, and for
   * the draft the `Content-Type` and `Content-Disposition` kept with it (bytes or a size string; default
   * `'4 KiB'`). A larger creation gets 431.
   */
  maxMetadataSize?: number | string;
  /**
   * The most unfinished uploads at once (default 10,000); a creation beyond gets 503 with `Retry-After`.
   * Finished uploads do not count: their state is read from disk when asked for.
   */
  maxUploads?: number;
  /**
   * Media types (`'image/svg+xml'`) a finished upload is downloaded with as its uploader declared them,
   * beyond the built-in safe list (images, sound, video, plain text, PDF, archives); any other declared
   * type is served as `application/octet-stream` (default: none).
   */
  downloadTypes?: readonly string[];
}

/** {@link ResumableUploadOptions} after validation. */
export interface NormalizedUploadOptions {
  readonly directory: string;
  readonly maxSize: number;
  /** Milliseconds, or undefined for never. */
  readonly expiresAfter: number | undefined;
  readonly sweepInterval: number;
  readonly idleTimeout: number;
  /** Bytes per second, or undefined for no minimum. */
  readonly minRate: number | undefined;
  readonly maxMetadataSize: number;
  readonly maxUploads: number;
  /** Lowercased media types added to the safe download list. */
  readonly downloadTypes: ReadonlySet<string>;
  readonly hooks: UploadHooks;
}

const KNOWN = new Set([
  'directory',
  'maxSize',
  'expiresAfter',
  'sweepInterval',
  'idleTimeout',
  'minRate',
  'maxMetadataSize',
  'maxUploads',
  'downloadTypes',
  'beforeCreate',
  'onRequest',
  'onComplete',
  'onTerminate',
]);
const HOOKS = ['beforeCreate', 'onRequest', 'onComplete', 'onTerminate'] as const;

const UNITS: Readonly<Record<string, number>> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

/** Parses a byte count: a safe integer, or a size string (`'512'`, `'10 MB'`, `'5 GiB'`, `'1.5 KiB'`); undefined when invalid. */
export function parseSize(value: number | string): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?\s*$/i.exec(value);
  if (match === null) return undefined;
  const unit = UNITS[(match[2] ?? 'b').toLowerCase()];
  if (unit === undefined) return undefined;
  const bytes = Math.floor(Number(match[1]) * unit);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

function duration(name: string, value: unknown): number {
  let millis: number | undefined;
  if (typeof value === 'number') millis = value;
  else if (typeof value === 'string' && value.trim() !== '') millis = ms(value as ms.StringValue);
  if (millis === undefined || !Number.isSafeInteger(millis) || millis <= 0) {
    throw new TypeError(`${name} must be a positive number of milliseconds or a duration string such as '1d'`);
  }
  return millis;
}

function positiveSize(name: string, value: unknown, unit: string): number {
  const bytes = typeof value === 'number' || typeof value === 'string' ? parseSize(value) : undefined;
  if (bytes === undefined || bytes <= 0) {
    const example = unit === '' ? "'4 KiB'" : "'1 KiB'";
    throw new TypeError(
      `${name} must be a positive number of bytes${unit === '' ? '' : ` ${unit}`} or a size string such as ${example}`,
    );
  }
  return bytes;
}

function count(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new TypeError(`${name} must be a positive integer`);
  }
  return value;
}

const BARE_MEDIA_TYPE = /^[!#$%&'*+.^_`|~0-9a-z-]+\/[!#$%&'*+.^_`|~0-9a-z-]+$/;

function mediaTypeList(name: string, value: unknown): ReadonlySet<string> {
  const list = Array.isArray(value) ? (value as unknown[]) : undefined;
  const types = list?.map((type) => (typeof type === 'string' ? type.toLowerCase() : ''));
  if (types === undefined || !types.every((type) => BARE_MEDIA_TYPE.test(type))) {
    throw new TypeError(`${name} must be an array of media types without parameters, such as ['image/svg+xml']`);
  }
  return new Set(types);
}

/** Validates `options` once and fills in the defaults; throws a `TypeError` naming the first bad option. */
export function normalizeUploadOptions(options: ResumableUploadOptions): NormalizedUploadOptions {
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
  for (const key of Object.keys(options)) {
    if (!KNOWN.has(key)) throw unknownOptionError(key, KNOWN);
  }
  if (typeof options.directory !== 'string' || options.directory === '' || options.directory.includes('\0')) {
    throw new TypeError('directory must be a non-empty path');
  }
  const maxSize = parseSize(options.maxSize ?? 2 ** 40);
  if (maxSize === undefined) throw new TypeError("maxSize must be a number of bytes or a size string such as '5 GiB'");
  const expiresAfter =
    options.expiresAfter === false ? undefined : duration('expiresAfter', options.expiresAfter ?? '1d');
  const hooks: UploadHooks = {};
  for (const name of HOOKS) {
    const hook = options[name];
    if (hook !== undefined && typeof hook !== 'function') throw new TypeError(`${name} must be a function`);
  }
  Object.assign(hooks, {
    beforeCreate: options.beforeCreate,
    onRequest: options.onRequest,
    onComplete: options.onComplete,
    onTerminate: options.onTerminate,
  });
  return {
    directory: options.directory,
    downloadTypes: mediaTypeList('downloadTypes', options.downloadTypes ?? []),
    maxSize,
    expiresAfter,
    sweepInterval: duration('sweepInterval', options.sweepInterval ?? '1h'),
    idleTimeout: duration('idleTimeout', options.idleTimeout ?? '30s'),
    minRate: options.minRate === false ? undefined : positiveSize('minRate', options.minRate ?? '1 KiB', 'per second'),
    maxMetadataSize: positiveSize('maxMetadataSize', options.maxMetadataSize ?? '4 KiB', ''),
    maxUploads: count('maxUploads', options.maxUploads ?? 10_000),
    hooks,
  };
}

/** Request headers as the protocol functions read them (Node's lowercase `IncomingHttpHeaders`). */
export type UploadRequestHeaders = IncomingHttpHeaders;
