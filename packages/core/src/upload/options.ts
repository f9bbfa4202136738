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
  ) =>
    | { readonly moved?: boolean; readonly response?: UploadHookResponse }
    | undefined
    | void
    | Promise<{ readonly moved?: boolean; readonly response?: UploadHookResponse } | undefined | void>;
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
}

/** {@link ResumableUploadOptions} after validation. */
export interface NormalizedUploadOptions {
  readonly directory: string;
  readonly maxSize: number;
  /** Milliseconds, or undefined for never. */
  readonly expiresAfter: number | undefined;
  readonly sweepInterval: number;
  readonly idleTimeout: number;
  readonly hooks: UploadHooks;
}

const KNOWN = new Set([
  'directory',
  'maxSize',
  'expiresAfter',
  'sweepInterval',
  'idleTimeout',
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
    maxSize,
    expiresAfter,
    sweepInterval: duration('sweepInterval', options.sweepInterval ?? '1h'),
    idleTimeout: duration('idleTimeout', options.idleTimeout ?? '30s'),
    hooks,
  };
}

/** Request headers as the protocol functions read them (Node's lowercase `IncomingHttpHeaders`). */
export type UploadRequestHeaders = IncomingHttpHeaders;
