/**
 * The protocol decisions, pure: request headers and an upload's state in, one response description
 * (status, lowercase headers, body) or a plan for the body out. tus 1.0.0 and the draft "Resumable
 * Uploads for HTTP" (interop versions 6, 7 and 8) share them; each branch names the text it follows.
 */
import type { IncomingHttpHeaders } from 'node:http';
import contentDisposition from 'content-disposition';
import { formatHttpDate } from '../http-date.js';
import {
  CHECKSUM_ALGORITHMS,
  type ChecksumAlgorithm,
  formatLimits,
  formatUploadMetadata,
  isMediaType,
  mediaType,
  parseStructuredBoolean,
  parseStructuredInteger,
  parseTusInteger,
  parseUploadChecksum,
  parseUploadConcat,
  parseUploadMetadata,
  single,
} from './fields.js';

/** The tus version spoken. */
export const TUS_VERSION = '1.0.0';
/** tus extensions offered (concatenation where the store can concatenate; not concatenation-unfinished). */
export const TUS_EXTENSIONS = [
  'creation',
  'creation-with-upload',
  'creation-defer-length',
  'expiration',
  'checksum',
  'termination',
  'concatenation',
] as const;

/**
 * The most partial uploads one final upload may name: a final is read through one descriptor per part,
 * and the list travels in one header field.
 */
export const MAX_CONCAT_PARTS = 100;
/** Draft interop versions supported: 6 (drafts -04, -05), 7 (-06 to -08), 8 (-09 to -11 and the editors' copy). */
export const DRAFT_INTEROP_VERSIONS = [6, 7, 8] as const;
/** One of {@link DRAFT_INTEROP_VERSIONS}. */
export type DraftInteropVersion = (typeof DRAFT_INTEROP_VERSIONS)[number];

/** The protocol of one request. */
export type UploadProtocol =
  { readonly kind: 'tus' } | { readonly kind: 'draft'; readonly version: DraftInteropVersion };

/** What a request's fields say about its protocol. */
export type ProtocolChoice =
  | UploadProtocol
  | { readonly kind: 'unsupported-tus' }
  | { readonly kind: 'unsupported-draft' }
  /** tus fields (`Upload-Offset`, `Upload-Length`, `application/offset+octet-stream`…) without `Tus-Resumable`. */
  | { readonly kind: 'unversioned-tus' }
  | { readonly kind: 'none' };

/** A response as data: status, lowercase headers, and a body (empty when absent). */
export interface UploadResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body?: string;
}

/** An upload's state, as stored. */
export interface UploadState {
  readonly id: string;
  readonly protocol: 'tus' | 'draft';
  /** Declared length, or undefined while deferred / unknown. */
  readonly length: number | undefined;
  /** Bytes on stable storage. */
  readonly offset: number;
  /** True once the last byte is durable (tus: offset = length; draft: `Upload-Complete: ?1` fully received). */
  readonly complete: boolean;
  readonly metadata: Readonly<Record<string, string | null>>;
  readonly contentType: string | undefined;
  readonly fileName: string | undefined;
  readonly data: { readonly [key: string]: unknown };
  readonly createdAt: number;
  /** Epoch ms of the last byte or creation. */
  readonly updatedAt: number;
  /** SHA-256 of the complete upload, base64. */
  readonly sha256?: string | undefined;
  /** The completion hook moved the file away. */
  readonly moved?: boolean | undefined;
  /** The Content-Type the completion hook chose to serve the upload with (the app vouches for it). */
  readonly servedType?: string | undefined;
  /**
   * Complete, but `onComplete` has not yet returned for it (a crash or a throwing hook in between): the
   * next request for the upload runs the hook before anything else.
   */
  readonly completionPending?: boolean | undefined;
  /** tus concatenation: a partial upload, or a final one made of partial ones. */
  readonly concat?: UploadConcat | undefined;
}

/** What an upload is in tus concatenation. */
export type UploadConcat =
  | { readonly kind: 'partial' }
  | {
      readonly kind: 'final';
      /** The `Upload-Concat` value as received, which HEAD answers with. */
      readonly value: string;
      /** The partial uploads it was made of, in order, with their lengths. */
      readonly parts: readonly ConcatPart[];
    };

/** One partial upload of a final one. */
export interface ConcatPart {
  readonly id: string;
  readonly length: number;
}

/**
 * Media types a finished upload is served with as its uploader declared them: images, sound, video,
 * plain text and archives, none of which a browser runs as script, style or a document of our origin
 * (with `X-Content-Type-Options: nosniff`, a `<script>` or stylesheet of another type is refused).
 * HTML, SVG, XML, JavaScript, CSS, JSON and WebAssembly are not among them.
 */
export const SAFE_DOWNLOAD_TYPES: readonly string[] = [
  'application/gzip',
  'application/octet-stream',
  'application/pdf',
  'application/x-7z-compressed',
  'application/x-tar',
  'application/zip',
  'audio/aac',
  'audio/flac',
  'audio/mp4',
  'audio/mpeg',
  'audio/ogg',
  'audio/opus',
  'audio/wav',
  'audio/webm',
  'image/avif',
  'image/bmp',
  'image/gif',
  'image/heic',
  'image/jpeg',
  'image/png',
  'image/tiff',
  'image/webp',
  'text/csv',
  'text/plain',
  'video/mp4',
  'video/mpeg',
  'video/ogg',
  'video/quicktime',
  'video/webm',
  'video/x-matroska',
];

const SAFE_TYPES = new Set(SAFE_DOWNLOAD_TYPES);

/**
 * The Content-Type a finished upload is downloaded with: its declared media type (lowercased, without
 * parameters) when it is on the safe list or among the app's `extra` types, else
 * `application/octet-stream`. The uploader never chooses what a browser executes on our origin.
 */
export function downloadContentType(declared: string | undefined, extra: ReadonlySet<string>): string {
  const type = declared !== undefined && isMediaType(declared) ? mediaType(declared) : undefined;
  return type !== undefined && (SAFE_TYPES.has(type) || extra.has(type)) ? type : 'application/octet-stream';
}

/** The fields that keep a finished upload's download inert whatever its type: no sniffing, no scripts, no plugins. */
export const INERT_DOWNLOAD_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  // A sandboxed document runs no script and has an opaque origin, should the download ever be rendered.
  'content-security-policy': 'sandbox',
};

/** The limits and clock the decisions depend on. */
export interface UploadLimits {
  readonly maxSize: number;
  /** Inactivity expiry in ms, or undefined for never. */
  readonly expiresAfter: number | undefined;
  /** The current time, epoch ms. */
  readonly now: number;
  /**
   * The most bytes of client-chosen description a creation may store: `Upload-Metadata`, and for the
   * draft `Content-Type` and `Content-Disposition` (undefined: no bound beyond the header size).
   */
  readonly maxMetadataSize?: number | undefined;
}

/** The bytes of a creation's fields that are kept with the upload and echoed back. */
function descriptionSize(protocol: UploadProtocol, headers: IncomingHttpHeaders): number {
  const fields =
    protocol.kind === 'tus' ? ['upload-metadata'] : ['upload-metadata', 'content-type', 'content-disposition'];
  let size = 0;
  for (const name of fields) {
    const value = headers[name];
    for (const item of Array.isArray(value) ? value : value === undefined ? [] : [value])
      size += Buffer.byteLength(item);
  }
  return size;
}

/**
 * 431 for a creation whose description is larger than `maxMetadataSize`: RFC 6585 §5 allows it when a
 * single field is at fault, and the client learns that a smaller one may succeed.
 */
function descriptionTooLarge(
  protocol: UploadProtocol,
  headers: IncomingHttpHeaders,
  limits: UploadLimits,
): Refusal | undefined {
  const max = limits.maxMetadataSize;
  if (max === undefined || descriptionSize(protocol, headers) <= max) return undefined;
  return refuse(refusal(protocol, 431, `Upload-Metadata and the fields kept with it exceed ${max} bytes`));
}

/** 503 with Retry-After for a creation while as many unfinished uploads as allowed exist. */
export function tooManyUploadsResponse(protocol: UploadProtocol): UploadResponse {
  const response = refusal(protocol, 503, 'Too many unfinished uploads; try again later');
  return { ...response, headers: { ...response.headers, 'retry-after': '60' } };
}

/** A tus checksum to verify over the request content. */
export interface ChecksumExpectation {
  readonly algorithm: ChecksumAlgorithm;
  readonly digest: Buffer;
}

/** Decides the protocol from `Tus-Resumable` and `Upload-Draft-Interop-Version`. */
export function detectProtocol(headers: IncomingHttpHeaders): ProtocolChoice {
  const tus = headers['tus-resumable'];
  if (tus !== undefined) return single(tus) === TUS_VERSION ? { kind: 'tus' } : { kind: 'unsupported-tus' };
  const interop = headers['upload-draft-interop-version'];
  if (interop === undefined) return carriesTusFields(headers) ? { kind: 'unversioned-tus' } : { kind: 'none' };
  return draftVersion(interop);
}

function draftVersion(interop: string | string[]): ProtocolChoice {
  const version = parseStructuredInteger(interop);
  return (DRAFT_INTEROP_VERSIONS as readonly number[]).includes(version ?? -1)
    ? { kind: 'draft', version: version as DraftInteropVersion }
    : { kind: 'unsupported-draft' };
}

/** Fields only a tus request sends; `Upload-Complete` or `application/partial-upload` make it the draft's instead. */
const TUS_FIELDS = ['upload-offset', 'upload-length', 'upload-defer-length', 'upload-metadata', 'upload-checksum'];

/**
 * A request shaped like tus whose client left out `Tus-Resumable`: tus 1.0.0 requires the field on every
 * request but OPTIONS and answers its absence like an unsupported version (tusd and @tus/server do so).
 */
function carriesTusFields(headers: IncomingHttpHeaders): boolean {
  const type = mediaType(headers['content-type']);
  if (headers['upload-complete'] !== undefined || type === 'application/partial-upload') return false;
  return type === 'application/offset+octet-stream' || TUS_FIELDS.some((name) => headers[name] !== undefined);
}

/**
 * OPTIONS on the endpoint: the capabilities of both protocols, or undefined for a CORS preflight (it
 * carries `Access-Control-Request-Method`), which belongs to the CORS layer, not to us (Fetch §3.2.2).
 * tus: OPTIONS is the one request whose `Tus-Resumable` the server ignores. The draft: an interop
 * version we do not speak is refused as on every other method, so a client never reads limits in a
 * dialect it did not ask for.
 */
export function discoveryResponse(
  headers: IncomingHttpHeaders,
  limits: UploadLimits,
  concatenation = true,
): UploadResponse | undefined {
  if (headers['access-control-request-method'] !== undefined) return undefined;
  const interop = headers['upload-draft-interop-version'];
  const choice = interop === undefined ? undefined : draftVersion(interop);
  if (choice !== undefined && choice.kind !== 'draft') return unsupportedProtocol(choice);
  return optionsResponse(limits, choice?.kind === 'draft' ? choice.version : 8, concatenation);
}

/**
 * Whether the upload may expire: an unfinished one, or a partial upload of tus concatenation, finished
 * or not (a piece kept for a final upload that may never come; a final upload holds its own links).
 */
function expires(upload: UploadState): boolean {
  return !upload.complete || upload.concat?.kind === 'partial';
}

/** Whether the upload has expired (only unfinished uploads and partial uploads expire). */
export function isExpired(upload: UploadState, limits: UploadLimits): boolean {
  return expires(upload) && limits.expiresAfter !== undefined && upload.updatedAt + limits.expiresAfter <= limits.now;
}

function expiresAt(upload: UploadState, limits: UploadLimits): number | undefined {
  return !expires(upload) || limits.expiresAfter === undefined ? undefined : upload.updatedAt + limits.expiresAfter;
}

const TUS_HEADERS = { 'tus-resumable': TUS_VERSION } as const;
const PROBLEM = 'https://iana.org/assignments/http-problem-types#';

function text(status: number, message: string, headers: Record<string, string> = {}): UploadResponse {
  return {
    status,
    headers: {
      ...headers,
      'content-type': 'text/plain; charset=utf-8',
      'content-length': String(Buffer.byteLength(message)),
    },
    body: message,
  };
}

function problem(
  status: number,
  type: string,
  title: string,
  headers: Record<string, string>,
  extra = {},
): UploadResponse {
  const body = JSON.stringify({ type: PROBLEM + type, title, ...extra });
  return {
    status,
    headers: {
      ...headers,
      'content-type': 'application/problem+json',
      'content-length': String(Buffer.byteLength(body)),
    },
    body,
  };
}

/** A response of the protocol: tus responses carry `Tus-Resumable`, draft responses from -06 on `Upload-Complete`. */
function protocolHeaders(protocol: UploadProtocol, complete?: boolean): Record<string, string> {
  if (protocol.kind === 'tus') return { ...TUS_HEADERS };
  return complete === undefined ? {} : { 'upload-complete': complete ? '?1' : '?0' };
}

/** An error answer in the protocol's words: plain text for tus, with `Upload-Complete: ?0` for the draft. */
export function refusal(protocol: UploadProtocol, status: number, message: string): UploadResponse {
  return text(status, message, protocolHeaders(protocol, protocol.kind === 'draft' ? false : undefined));
}

/** `Upload-Limit` for the draft: `max-size` and the remaining lifetime (`expires` in interop 6, `max-age` after). */
export function uploadLimit(version: DraftInteropVersion, limits: UploadLimits, upload?: UploadState): string {
  const entries: Array<readonly [string, number]> = [['max-size', limits.maxSize]];
  const end =
    upload === undefined
      ? limits.expiresAfter === undefined
        ? undefined
        : limits.now + limits.expiresAfter
      : expiresAt(upload, limits);
  // Draft -05 names the lifetime `expires`; -06 renamed it `max-age` (both in seconds from this response).
  if (end !== undefined)
    entries.push([version === 6 ? 'expires' : 'max-age', Math.max(0, Math.floor((end - limits.now) / 1000))]);
  return formatLimits(entries);
}

/** The answer to a request whose protocol version is not spoken. */
export function unsupportedProtocol(choice: ProtocolChoice): UploadResponse {
  // tus 1.0.0 "Tus-Version": 412 with the versions we speak.
  // tus 1.0.0 "Tus-Resumable": a version we do not speak, or none on a tus request, is a 412 with the
  // versions we speak; our own Tus-Resumable goes on every tus response but OPTIONS.
  const versions = { ...TUS_HEADERS, 'tus-version': TUS_VERSION };
  if (choice.kind === 'unsupported-tus') return text(412, 'Unsupported tus version', versions);
  if (choice.kind === 'unversioned-tus') return text(412, 'Tus-Resumable is required', versions);
  return text(400, `Unsupported Upload-Draft-Interop-Version; supported: ${DRAFT_INTEROP_VERSIONS.join(', ')}`);
}

/**
 * The URL of upload `id` under the mount `prefix`, as a path-absolute reference: whatever an adapter
 * passed as the prefix, only its path is kept, so an absolute-form request target (`POST
 * http://evil.example/files`) never puts another origin into Location, and `//host` never starts it.
 */
export function uploadLocation(prefix: string, id: string): string {
  let path = prefix;
  if (!path.startsWith('/')) {
    try {
      path = new URL(path).pathname;
    } catch {
      path = '';
    }
  }
  return `${path.replace(/^\/+/, '/').replace(/\/+$/, '')}/${id}`;
}

/** OPTIONS on the upload endpoint: every capability of both protocols (concatenation only when offered). */
export function optionsResponse(
  limits: UploadLimits,
  version: DraftInteropVersion = 8,
  concatenation = true,
): UploadResponse {
  const extensions = concatenation ? TUS_EXTENSIONS : TUS_EXTENSIONS.filter((name) => name !== 'concatenation');
  return {
    status: 204,
    headers: {
      ...TUS_HEADERS,
      'tus-version': TUS_VERSION,
      'tus-extension': extensions.join(','),
      'tus-max-size': String(limits.maxSize),
      'tus-checksum-algorithm': CHECKSUM_ALGORITHMS.join(','),
      // Draft "Upload Limit": an OPTIONS response MUST announce the limits.
      'upload-limit': uploadLimit(version, limits),
      'accept-patch': 'application/offset+octet-stream, application/partial-upload',
    },
  };
}

/** What a creation request asks for, once its fields are accepted. */
export interface CreationPlan {
  readonly kind: 'create';
  readonly length: number | undefined;
  readonly metadata: Record<string, string | null>;
  readonly contentType: string | undefined;
  readonly fileName: string | undefined;
  /** The request carries content to store (creation-with-upload, or any draft creation). */
  readonly withContent: boolean;
  /** Draft `Upload-Complete: ?1`: the content is the whole representation. */
  readonly completes: boolean;
  /** Bytes the content may hold before the limit is reached. */
  readonly maxBytes: number;
  readonly checksum: ChecksumExpectation | undefined;
  /** tus concatenation: `partial` for a partial upload. */
  readonly concat: 'partial' | undefined;
}

/** tus concatenation: a final upload to make of the partial uploads its references name. */
export interface ConcatenationPlan {
  readonly kind: 'concatenate';
  /** The `Upload-Concat` value as received. */
  readonly value: string;
  /** The parts' URLs or paths, in order. */
  readonly references: readonly string[];
  readonly metadata: Record<string, string | null>;
  readonly contentType: string | undefined;
  readonly fileName: string | undefined;
}

/** A refusal decided before the body is read. */
export interface Refusal {
  readonly kind: 'refuse';
  readonly response: UploadResponse;
}

function refuse(response: UploadResponse): Refusal {
  return { kind: 'refuse', response };
}

function contentLength(headers: IncomingHttpHeaders): number | undefined {
  return parseTusInteger(headers['content-length']);
}

function hasContent(headers: IncomingHttpHeaders): boolean {
  return (contentLength(headers) ?? 0) > 0 || headers['transfer-encoding'] !== undefined;
}

function metadataFields(metadata: Readonly<Record<string, string | null>>): {
  contentType?: string;
  fileName?: string;
} {
  const pick = (...keys: string[]): string | undefined => {
    for (const key of keys) {
      const value = metadata[key];
      if (typeof value === 'string' && value !== '') return value;
    }
    return undefined;
  };
  const contentType = pick('filetype', 'type', 'contentType', 'content-type');
  const fileName = pick('filename', 'name');
  return { ...(contentType && { contentType }), ...(fileName && { fileName }) };
}

function dispositionName(value: string | string[] | undefined): string | undefined {
  const header = single(value);
  if (header === undefined) return undefined;
  try {
    const name = contentDisposition.parse(header).parameters.filename;
    return typeof name === 'string' && name !== '' ? name : undefined;
  } catch {
    return undefined;
  }
}

/** POST on the endpoint: tus creation (with upload, deferred length) or draft upload creation. */
export function planCreation(
  protocol: UploadProtocol,
  headers: IncomingHttpHeaders,
  limits: UploadLimits,
  concatenation = true,
): CreationPlan | ConcatenationPlan | Refusal {
  const declaredContent = contentLength(headers);
  const tooLarge = descriptionTooLarge(protocol, headers, limits);
  if (tooLarge !== undefined) return tooLarge;
  if (protocol.kind === 'tus') {
    // The draft has no concatenation: there the field is not ours to read.
    const concat = parseUploadConcat(headers['upload-concat']);
    if (concat !== undefined && !concatenation) {
      return refuse(refusal(protocol, 400, 'Concatenation is not offered here (see Tus-Extension)'));
    }
    if (concat === 'invalid') {
      return refuse(
        refusal(protocol, 400, "Invalid Upload-Concat: 'partial', or 'final;' and the partial uploads' URLs"),
      );
    }
    if (concat?.kind === 'final') return planConcatenation(protocol, headers, concat.references);
    const deferred = headers['upload-defer-length'];
    const length = parseTusInteger(headers['upload-length']);
    // tus "creation": Upload-Length, or Upload-Defer-Length: 1 with creation-defer-length; never both.
    if (headers['upload-length'] !== undefined && length === undefined)
      return refuse(refusal(protocol, 400, 'Invalid Upload-Length'));
    if (deferred !== undefined && single(deferred) !== '1')
      return refuse(refusal(protocol, 400, 'Invalid Upload-Defer-Length'));
    if ((length === undefined) === (deferred === undefined)) {
      return refuse(refusal(protocol, 400, 'Exactly one of Upload-Length and Upload-Defer-Length is required'));
    }
    // tus "Tus-Max-Size": a larger Upload-Length gets 413.
    if (length !== undefined && length > limits.maxSize)
      return refuse(refusal(protocol, 413, 'Upload-Length exceeds Tus-Max-Size'));
    const metadata = parseUploadMetadata(headers['upload-metadata']);
    if (metadata === undefined) return refuse(refusal(protocol, 400, 'Invalid Upload-Metadata'));
    const type = mediaType(headers['content-type']);
    const withContent = type === 'application/offset+octet-stream';
    // creation-with-upload: content only as application/offset+octet-stream.
    if (!withContent && hasContent(headers))
      return refuse(refusal(protocol, 415, 'Content-Type must be application/offset+octet-stream'));
    const checksum = parseUploadChecksum(headers['upload-checksum']);
    if (checksum === 'invalid') return refuse(refusal(protocol, 400, 'Invalid Upload-Checksum'));
    if (checksum === 'unsupported') return refuse(refusal(protocol, 400, 'Unsupported checksum algorithm'));
    const maxBytes = Math.min(length ?? limits.maxSize, limits.maxSize);
    if (declaredContent !== undefined && declaredContent > maxBytes) {
      return refuse(refusal(protocol, 413, 'Content exceeds the upload length'));
    }
    const fields = metadataFields(metadata);
    return {
      kind: 'create',
      length,
      metadata,
      contentType: fields.contentType,
      fileName: fields.fileName,
      withContent,
      completes: false,
      maxBytes,
      checksum,
      concat: concat?.kind,
    };
  }
  const complete = parseStructuredBoolean(headers['upload-complete']);
  // Draft "Upload Creation": a creation request is one with Upload-Complete (an invalid value is ignored).
  if (complete === undefined) return refuse(refusal(protocol, 400, 'Upload-Complete is required'));
  // Draft -05 "Upload Creation": the creation request MUST NOT include Upload-Offset.
  if (protocol.version === 6 && headers['upload-offset'] !== undefined)
    return refuse(refusal(protocol, 400, 'Upload-Offset is not allowed on creation'));
  const declared = parseStructuredInteger(headers['upload-length']);
  const implied = complete && declaredContent !== undefined ? declaredContent : undefined;
  // Draft "Length": Upload-Length and Upload-Complete: ?1 with Content-Length MUST match.
  if (declared !== undefined && implied !== undefined && declared !== implied)
    return refuse(inconsistentLength(protocol));
  const length = declared ?? implied;
  const limitHeader = { 'upload-limit': uploadLimit(protocol.version, limits) };
  if (length !== undefined && length > limits.maxSize) {
    const response = refusal(protocol, 413, 'Upload length exceeds the max-size limit');
    return refuse({ ...response, headers: { ...response.headers, ...limitHeader } });
  }
  const maxBytes = Math.min(length ?? limits.maxSize, limits.maxSize);
  if (declaredContent !== undefined && declaredContent > maxBytes) {
    const response = refusal(protocol, 413, 'Content exceeds the upload length');
    return refuse({ ...response, headers: { ...response.headers, ...limitHeader } });
  }
  const metadata = parseUploadMetadata(headers['upload-metadata']) ?? {};
  const fields = metadataFields(metadata);
  const type = single(headers['content-type']);
  return {
    kind: 'create',
    length,
    metadata,
    contentType: type ?? fields.contentType,
    fileName: dispositionName(headers['content-disposition']) ?? fields.fileName,
    withContent: true,
    completes: complete,
    maxBytes,
    checksum: undefined,
    concat: undefined,
  };
}

/**
 * tus concatenation, a final upload's creation: `Upload-Concat: final;` and its parts' URLs, with no
 * `Upload-Length` ("The Client MUST NOT include the Upload-Length header in the final upload
 * creation") and no content. The references are resolved and the parts checked by the caller.
 */
function planConcatenation(
  protocol: UploadProtocol,
  headers: IncomingHttpHeaders,
  references: readonly string[],
): ConcatenationPlan | Refusal {
  if (headers['upload-length'] !== undefined || headers['upload-defer-length'] !== undefined) {
    return refuse(refusal(protocol, 400, 'A final upload takes no Upload-Length: its length is the sum of its parts'));
  }
  if (hasContent(headers)) return refuse(refusal(protocol, 400, 'A final upload takes no content'));
  if (references.length === 0) return refuse(refusal(protocol, 400, 'Upload-Concat: final names no partial upload'));
  if (references.length > MAX_CONCAT_PARTS) {
    return refuse(
      refusal(
        protocol,
        400,
        `Upload-Concat: final names ${references.length} partial uploads; at most ${MAX_CONCAT_PARTS} are allowed`,
      ),
    );
  }
  const metadata = parseUploadMetadata(headers['upload-metadata']);
  if (metadata === undefined) return refuse(refusal(protocol, 400, 'Invalid Upload-Metadata'));
  const fields = metadataFields(metadata);
  return {
    kind: 'concatenate',
    value: (single(headers['upload-concat']) ?? '').trim(),
    references,
    metadata,
    contentType: fields.contentType,
    fileName: fields.fileName,
  };
}

/**
 * Where a reference of a final upload's `Upload-Concat` points, pure: the id of an upload of this
 * endpoint, or why it does not name one. Accepted: a path `<prefix>/<id>`, or an absolute http(s) URL of
 * the request's own `origin` with that path. Refused: another origin (or none known to compare with), a
 * network-path or relative reference, dot segments, percent-encoding (an id never needs it, and an
 * encoded separator or dot could hide in it), backslashes, a query or fragment, user information, and
 * any path but exactly one id below the prefix.
 */
export function resolveConcatReference(
  reference: string,
  prefix: string,
  origin: string | undefined,
): { readonly id: string } | { readonly problem: string } {
  if (/[%\\?#]/.test(reference) || /[^\x21-\x7e]/.test(reference)) {
    return { problem: 'has percent-encoding, a backslash, a query or a fragment' };
  }
  let path = reference;
  if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(reference)) {
    let url: URL;
    let own: URL;
    try {
      url = new URL(reference);
      own = new URL(origin ?? '');
    } catch {
      return {
        problem:
          origin === undefined ? 'is an absolute URL, and this request has no origin to compare' : 'is not a URL',
      };
    }
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.origin !== own.origin) {
      return { problem: 'is on another origin' };
    }
    if (url.username !== '' || url.password !== '') return { problem: 'carries user information' };
    // The path as sent, not as the URL parser resolved it (it removes dot segments).
    const authorityEnd = reference.indexOf('/', reference.indexOf('//') + 2);
    path = authorityEnd === -1 ? '' : reference.slice(authorityEnd);
  } else if (reference.startsWith('//')) {
    return { problem: 'is a network-path reference (another host)' };
  } else if (!reference.startsWith('/')) {
    return { problem: 'is a relative reference: send the path from the root or the whole URL' };
  }
  if (path.split('/').some((segment) => segment === '.' || segment === '..')) {
    return { problem: 'has dot segments' };
  }
  const base = uploadLocation(prefix, '').slice(0, -1);
  const id = path.startsWith(`${base}/`) ? path.slice(base.length + 1) : undefined;
  if (id === undefined || !/^[A-Za-z0-9_-]{22}$/.test(id)) return { problem: 'is not an upload of this endpoint' };
  return { id };
}

function inconsistentLength(protocol: UploadProtocol): UploadResponse {
  // Draft -06 added the inconsistent-upload-length problem type; -05 asks for a plain 400.
  if (protocol.kind === 'draft' && protocol.version >= 7) {
    return problem(400, 'inconsistent-upload-length', 'inconsistent length values for upload', {
      'upload-complete': '?0',
    });
  }
  return refusal(protocol, 400, 'Inconsistent upload length');
}

/** The response to a successful creation that did not complete the upload (tus 201, draft 201 `Upload-Complete: ?0`). */
export function createdResponse(
  protocol: UploadProtocol,
  upload: UploadState,
  location: string,
  limits: UploadLimits,
): UploadResponse {
  const headers: Record<string, string> = {
    ...protocolHeaders(protocol, false),
    location,
    'upload-offset': String(upload.offset),
  };
  addLifetime(protocol, upload, limits, headers);
  return { status: 201, headers: { ...headers, 'content-length': '0' } };
}

function addLifetime(
  protocol: UploadProtocol,
  upload: UploadState,
  limits: UploadLimits,
  headers: Record<string, string>,
): void {
  if (protocol.kind === 'tus') {
    const end = expiresAt(upload, limits);
    // tus "expiration": Upload-Expires in creation, PATCH and HEAD responses.
    if (end !== undefined) headers['upload-expires'] = formatHttpDate(end);
  } else {
    headers['upload-limit'] = uploadLimit(protocol.version, limits, upload);
  }
}

/** HEAD (or GET of an unfinished upload): the offset retrieval of both protocols. */
export function offsetResponse(
  protocol: UploadProtocol,
  headers: IncomingHttpHeaders,
  upload: UploadState,
  limits: UploadLimits,
): UploadResponse {
  if (protocol.kind === 'tus') {
    const out: Record<string, string> = {
      ...TUS_HEADERS,
      'upload-offset': String(upload.offset),
      'cache-control': 'no-store',
    };
    // tus HEAD: Upload-Length when known, else Upload-Defer-Length: 1; Upload-Metadata as created.
    if (upload.length !== undefined) out['upload-length'] = String(upload.length);
    else out['upload-defer-length'] = '1';
    const metadata = formatUploadMetadata(upload.metadata);
    if (metadata !== '') out['upload-metadata'] = metadata;
    // tus concatenation: HEAD of a partial or final upload MUST include Upload-Concat "as received".
    if (upload.concat !== undefined) {
      out['upload-concat'] = upload.concat.kind === 'partial' ? 'partial' : upload.concat.value;
    }
    addLifetime(protocol, upload, limits, out);
    return { status: 200, headers: out };
  }
  // Draft -05 "Offset Retrieval": Upload-Offset, Upload-Complete or Upload-Length in the request are a 400.
  if (
    protocol.version === 6 &&
    ['upload-offset', 'upload-complete', 'upload-length'].some((name) => headers[name] !== undefined)
  ) {
    return refusal(protocol, 400, 'Offset retrieval must not carry Upload-Offset, Upload-Complete or Upload-Length');
  }
  const out: Record<string, string> = {
    'upload-offset': String(upload.offset),
    'upload-complete': upload.complete ? '?1' : '?0',
    'cache-control': 'no-store',
  };
  if (upload.length !== undefined) out['upload-length'] = String(upload.length);
  addLifetime(protocol, upload, limits, out);
  return { status: 204, headers: out };
}

/** An accepted append: where it starts, how much may be stored, and what ends it. */
export interface AppendPlan {
  readonly kind: 'append';
  readonly start: number;
  readonly maxBytes: number;
  /** The length this request records (tus deferred length, draft `Upload-Length` or `?1` + Content-Length). */
  readonly length: number | undefined;
  /** Draft `Upload-Complete: ?1`. */
  readonly completes: boolean;
  readonly checksum: ChecksumExpectation | undefined;
}

/** PATCH on an upload: tus append or draft upload append, checked before any byte is read. */
export function planAppend(
  protocol: UploadProtocol,
  headers: IncomingHttpHeaders,
  upload: UploadState,
  limits: UploadLimits,
): AppendPlan | Refusal {
  if (protocol.kind === 'tus') return planTusAppend(protocol, headers, upload, limits);
  const plan = planDraftAppend(protocol, headers, upload, limits);
  // Draft -05: every response to an append on an active upload, success or failure, states its offset.
  return plan.kind === 'refuse' && protocol.version === 6 ? refuse(withOffset(plan.response, upload.offset)) : plan;
}

function withOffset(response: UploadResponse, offset: number): UploadResponse {
  return { ...response, headers: { ...response.headers, 'upload-offset': String(offset) } };
}

function planTusAppend(
  protocol: UploadProtocol,
  headers: IncomingHttpHeaders,
  upload: UploadState,
  limits: UploadLimits,
): AppendPlan | Refusal {
  // tus concatenation: "403 Forbidden to PATCH requests against a final upload URL".
  if (upload.concat?.kind === 'final') return refuse(refusal(protocol, 403, 'A final upload takes no PATCH'));
  const declaredContent = contentLength(headers);
  // tus PATCH: Content-Type application/offset+octet-stream, else 415.
  if (mediaType(headers['content-type']) !== 'application/offset+octet-stream') {
    return refuse(refusal(protocol, 415, 'Content-Type must be application/offset+octet-stream'));
  }
  const offset = parseTusInteger(headers['upload-offset']);
  if (offset === undefined) return refuse(refusal(protocol, 400, 'Invalid or missing Upload-Offset'));
  // tus PATCH: an Upload-Offset other than the resource's gets 409.
  if (offset !== upload.offset) {
    return refuse(withOffset(refusal(protocol, 409, 'Upload-Offset does not match the upload'), upload.offset));
  }
  let length = upload.length;
  if (headers['upload-length'] !== undefined) {
    const given = parseTusInteger(headers['upload-length']);
    // creation-defer-length: the length is set once, by a PATCH, and never changes afterwards.
    if (given === undefined || (length !== undefined && given !== length) || given < upload.offset) {
      return refuse(refusal(protocol, 400, 'Invalid Upload-Length'));
    }
    if (given > limits.maxSize) return refuse(refusal(protocol, 413, 'Upload-Length exceeds Tus-Max-Size'));
    length = given;
  }
  const checksum = parseUploadChecksum(headers['upload-checksum']);
  if (checksum === 'invalid') return refuse(refusal(protocol, 400, 'Invalid Upload-Checksum'));
  if (checksum === 'unsupported') return refuse(refusal(protocol, 400, 'Unsupported checksum algorithm'));
  if (upload.complete) {
    // A finished upload takes no more bytes; an empty append at its end changes nothing.
    return refuse(
      hasContent(headers)
        ? refusal(protocol, 413, 'The upload is complete')
        : appendedResponse(protocol, upload, limits),
    );
  }
  const maxBytes = Math.min(length ?? limits.maxSize, limits.maxSize) - upload.offset;
  if (declaredContent !== undefined && declaredContent > maxBytes)
    return refuse(refusal(protocol, 413, 'Content exceeds the upload length'));
  return { kind: 'append', start: upload.offset, maxBytes, length, completes: false, checksum };
}

function planDraftAppend(
  protocol: Extract<UploadProtocol, { kind: 'draft' }>,
  headers: IncomingHttpHeaders,
  upload: UploadState,
  limits: UploadLimits,
): AppendPlan | Refusal {
  const declaredContent = contentLength(headers);
  // Draft "Upload Append": PATCH with application/partial-upload.
  if (mediaType(headers['content-type']) !== 'application/partial-upload') {
    return refuse(refusal(protocol, 415, 'Content-Type must be application/partial-upload'));
  }
  const offset = parseStructuredInteger(headers['upload-offset']);
  if (offset === undefined) return refuse(refusal(protocol, 400, 'Invalid or missing Upload-Offset'));
  if (upload.complete) return refuse(appendToCompleted(protocol, headers, upload));
  if (offset !== upload.offset) {
    // Draft "Upload Append": 409 with the correct Upload-Offset and Upload-Complete: ?0.
    return refuse(
      problem(
        409,
        'mismatching-upload-offset',
        'offset from request does not match offset of resource',
        { 'upload-complete': '?0', 'upload-offset': String(upload.offset) },
        {
          'expected-offset': upload.offset,
          'provided-offset': offset,
        },
      ),
    );
  }
  // A missing Upload-Complete is read as ?0 (the draft requires it from clients and says nothing of its absence).
  const completes = parseStructuredBoolean(headers['upload-complete']) ?? false;
  const declared = parseStructuredInteger(headers['upload-length']);
  const implied = completes && declaredContent !== undefined ? upload.offset + declaredContent : undefined;
  let length = upload.length;
  for (const indicator of [declared, implied]) {
    if (indicator === undefined) continue;
    // Draft "Length": every indicator, in this request and earlier ones, MUST match.
    if (length !== undefined && indicator !== length) return refuse(inconsistentLength(protocol));
    length = indicator;
  }
  if (length !== undefined && length < upload.offset) return refuse(inconsistentLength(protocol));
  const limitHeader = { 'upload-limit': uploadLimit(protocol.version, limits, upload) };
  const maxBytes = Math.min(length ?? limits.maxSize, limits.maxSize) - upload.offset;
  if (
    (length !== undefined && length > limits.maxSize) ||
    (declaredContent !== undefined && declaredContent > maxBytes)
  ) {
    const response = refusal(protocol, 413, 'Content exceeds the upload limits');
    return refuse({ ...response, headers: { ...response.headers, ...limitHeader } });
  }
  return { kind: 'append', start: upload.offset, maxBytes, length, completes, checksum: undefined };
}

/**
 * An append to a completed upload, which it must not modify. Draft -05 to -09: 400 with the
 * completed-upload problem type. Draft -10 on (interop 8): content there is an inconsistent length
 * ("If the client attempted to append a non-zero length document"); an empty one stays completed-upload.
 */
function appendToCompleted(
  protocol: Extract<UploadProtocol, { kind: 'draft' }>,
  headers: IncomingHttpHeaders,
  upload: UploadState,
): UploadResponse {
  const fields = { 'upload-complete': '?0', 'upload-offset': String(upload.offset) };
  if (protocol.version === 8 && hasContent(headers)) {
    return problem(400, 'inconsistent-upload-length', 'inconsistent length values for upload', fields);
  }
  return problem(400, 'completed-upload', 'upload is already completed', fields);
}

/** How the content of a creation or append ended. */
export type BodyOutcome =
  /** Every byte arrived and is durable. */
  | 'complete'
  /** More bytes came than the length or maxSize allow; those up to the limit are kept. */
  | 'too-large'
  /** The tus checksum did not match; the request's bytes were discarded. */
  | 'checksum-mismatch'
  /** The body stopped arriving for longer than the idle timeout; the bytes so far are kept. */
  | 'idle'
  /** The body arrived more slowly than the minimum rate; the bytes so far are kept. */
  | 'slow'
  /** Another request took the upload over; the bytes so far are kept. */
  | 'taken-over'
  /** The client went away mid-body; the bytes so far are kept. */
  | 'aborted';

/** The answer to an append or creation whose content did not end normally. */
export function bodyFailureResponse(
  protocol: UploadProtocol,
  outcome: Exclude<BodyOutcome, 'complete'>,
  upload: UploadState,
  limits: UploadLimits,
): UploadResponse {
  switch (outcome) {
    case 'too-large': {
      const response = refusal(protocol, 413, 'Content exceeds the upload limits');
      return protocol.kind === 'draft'
        ? {
            ...response,
            headers: { ...response.headers, 'upload-limit': uploadLimit(protocol.version, limits, upload) },
          }
        : response;
    }
    case 'checksum-mismatch':
      // tus "checksum": 460 Checksum Mismatch, the bytes of the request not kept.
      return refusal(protocol, 460, 'Checksum Mismatch');
    case 'idle':
      return refusal(protocol, 408, 'The request content stopped arriving');
    case 'slow':
      return refusal(protocol, 408, 'The request content arrived too slowly');
    case 'taken-over':
    case 'aborted':
      return refusal(protocol, 409, 'Another request took this upload over');
  }
}

/** The answer to an append whose content was stored and that did not complete the upload. */
export function appendedResponse(protocol: UploadProtocol, upload: UploadState, limits: UploadLimits): UploadResponse {
  const headers: Record<string, string> = {
    ...protocolHeaders(protocol, false),
    'upload-offset': String(upload.offset),
  };
  addLifetime(protocol, upload, limits, headers);
  return { status: 204, headers };
}

/** The default answer once the upload is complete; a completion hook may give its own status, headers and body. */
export function completedResponse(
  protocol: UploadProtocol,
  upload: UploadState,
  location: string | undefined,
  own?: { status: number; headers?: Readonly<Record<string, string>>; body?: string | Uint8Array },
): { status: number; headers: Record<string, string>; body?: string | Uint8Array } {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(own?.headers ?? {})) headers[name.toLowerCase()] = value;
  Object.assign(headers, protocolHeaders(protocol, true), { 'upload-offset': String(upload.offset) });
  if (own === undefined) {
    // Creation that completed in one request: 201 with the location of the stored upload.
    if (location !== undefined) headers.location = location;
    return { status: location !== undefined ? 201 : 204, headers };
  }
  // tus: a creation's response always names the upload (tus-js-client needs it); the draft exempts ?1 responses.
  if (location !== undefined && protocol.kind === 'tus') headers.location = location;
  const body = own.body;
  if (body !== undefined)
    headers['content-length'] = String(typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength);
  return body === undefined ? { status: own.status, headers } : { status: own.status, headers, body };
}

/** A draft `Upload-Complete: ?1` append whose final offset differs from the recorded length. */
export function lengthMismatchResponse(protocol: UploadProtocol): UploadResponse {
  return inconsistentLength(protocol);
}

/** The content a creation or append brought, once it is durable, for {@link judgeContent}. */
export interface ReceivedContent {
  /** How the content ended. */
  readonly outcome: BodyOutcome;
  /** The upload as it was before the request. */
  readonly before: UploadState;
  /** The offset counting the request's durable bytes. */
  readonly offset: number;
  /** The length known once the request is counted (its own `Upload-Length` or `?1` included). */
  readonly length: number | undefined;
  /** Draft `Upload-Complete: ?1`: the content ends the upload. */
  readonly completes: boolean;
  /** The request created the upload: its client learns the URL only from a 2xx answer. */
  readonly creation: boolean;
}

/** What becomes of a request's content and what it is answered. */
export type ContentVerdict = (
  | /** Every byte is in: the upload completes in one durable step, then the completion answer. */ {
      readonly kind: 'complete';
    }
  | /** The bytes are kept: 201 for a creation, 204 for an append, with the new offset. */ {
      readonly kind: 'progress';
    }
  | /** The client is gone (cut off, or taken over): the bytes are kept, nothing is answered. */ {
      readonly kind: 'interrupted';
    }
  | /** Refused: the bytes kept, discarded (none stored) or the upload deactivated, and this answer. */ {
      readonly kind: 'refuse';
      readonly bytes: 'keep' | 'discard' | 'deactivate';
      readonly response: UploadResponse;
    }
) & {
  /** Remove the upload: a creation that neither completed nor answered 2xx, whose URL no client knows. */
  readonly forget: boolean;
};

/**
 * Decides what a request's durable content means for the upload, pure. The rules:
 * - tus: an upload is complete once every declared byte is durable, however the request that brought
 *   the last one ended (cut off, taken over, idle, or with bytes past the length, which are not part of
 *   the upload and are not stored: tusd does the same);
 * - the draft: complete only by a fully received `Upload-Complete: ?1` request whose end is the length;
 *   a `?1` body that ends short of it is refused with 400 and stores none of its bytes;
 * - a request refused with 400, 413 or 460 stores none of its bytes, except the draft -05 overflow,
 *   which keeps the bytes up to the length as -05 requires ("stop appending … once the offset reaches
 *   the final size"), and from -08 on the overflow deactivates the upload;
 * - an interruption (cut off, taken over, idle, too slow) keeps every byte that arrived;
 * - a creation that ends without a 2xx or completion leaves no upload behind.
 */
export function judgeContent(protocol: UploadProtocol, content: ReceivedContent, limits: UploadLimits): ContentVerdict {
  const verdict = judgeBytes(protocol, content, limits);
  const answered = verdict.kind === 'complete' || verdict.kind === 'progress';
  return { ...verdict, forget: content.creation && !answered };
}

type Judged =
  | { readonly kind: 'complete' | 'progress' | 'interrupted' }
  | { readonly kind: 'refuse'; readonly bytes: 'keep' | 'discard' | 'deactivate'; readonly response: UploadResponse };

function judgeBytes(protocol: UploadProtocol, content: ReceivedContent, limits: UploadLimits): Judged {
  const { outcome, before, offset, length } = content;
  const allIn = length !== undefined && offset === length;
  // Draft -05: a failure on an upload that stays active states its offset.
  const stated = (response: UploadResponse, at: number): UploadResponse =>
    protocol.kind === 'draft' && protocol.version === 6 ? withOffset(response, at) : response;
  const limited = (response: UploadResponse): UploadResponse =>
    protocol.kind === 'draft'
      ? {
          ...response,
          headers: { ...response.headers, 'upload-limit': uploadLimit(protocol.version, limits, before) },
        }
      : response;
  if (protocol.kind === 'tus' && allIn && outcome !== 'checksum-mismatch') return { kind: 'complete' };
  switch (outcome) {
    case 'complete':
      if (protocol.kind === 'tus' || !content.completes) return { kind: 'progress' };
      // Draft "Upload-Complete: ?1": complete once all content is in, and only at the recorded length.
      if (length !== undefined && !allIn) {
        return { kind: 'refuse', bytes: 'discard', response: stated(lengthMismatchResponse(protocol), before.offset) };
      }
      return { kind: 'complete' };
    case 'too-large': {
      const tooLarge = limited(refusal(protocol, 413, 'Content exceeds the upload limits'));
      // Past maxSize with no length yet, or (tus) a checksum that cannot vouch for the bytes kept.
      if (protocol.kind === 'tus' || !allIn) {
        return { kind: 'refuse', bytes: 'discard', response: stated(tooLarge, before.offset) };
      }
      // Draft -05: stop at the length and answer 400, the upload kept. From -08 on: reject, mark the
      // upload resource invalid and reject any further interaction with it.
      if (protocol.version === 6) {
        return { kind: 'refuse', bytes: 'keep', response: stated(lengthMismatchResponse(protocol), offset) };
      }
      return { kind: 'refuse', bytes: 'deactivate', response: tooLarge };
    }
    case 'checksum-mismatch':
      // tus "checksum": 460 Checksum Mismatch, the bytes of the request not kept.
      return { kind: 'refuse', bytes: 'discard', response: refusal(protocol, 460, 'Checksum Mismatch') };
    case 'idle':
    case 'slow':
      return {
        kind: 'refuse',
        bytes: 'keep',
        response: stated(bodyFailureResponse(protocol, outcome, before, limits), offset),
      };
    case 'taken-over':
    case 'aborted':
      return { kind: 'interrupted' };
  }
}

/**
 * The refusal a request for an existing upload gets from its fields alone, before it may take the
 * upload over from a request still receiving content: only a request that would be served may interrupt.
 */
export function requestRefusal(
  method: string,
  protocol: UploadProtocol,
  headers: IncomingHttpHeaders,
  upload: UploadState,
  limits: UploadLimits,
): UploadResponse | undefined {
  if (method === 'HEAD' || method === 'GET') {
    const response = offsetResponse(protocol, headers, upload, limits);
    return response.status >= 400 ? response : undefined;
  }
  if (method === 'DELETE') return terminationCheck(protocol, headers);
  const plan = planAppend(protocol, headers, upload, limits);
  return plan.kind === 'refuse' ? plan.response : undefined;
}

/**
 * A tus upload whose every declared byte is durable but which is not marked complete (one of length 0
 * just created, or one a crash left so under an older version): its completed state, else undefined.
 */
export function completionDue(upload: UploadState, completionHook: boolean): UploadState | undefined {
  if (upload.complete || upload.protocol !== 'tus' || upload.length === undefined || upload.offset !== upload.length)
    return undefined;
  // A partial upload of tus concatenation is a piece of an upload: its final upload gets the hook.
  const pending = completionHook && upload.concat?.kind !== 'partial';
  return { ...upload, complete: true, ...(pending && { completionPending: true }) };
}

/** DELETE: tus termination and draft cancellation. */
export function terminationCheck(protocol: UploadProtocol, headers: IncomingHttpHeaders): UploadResponse | undefined {
  // Draft -05 "Upload Cancellation": Upload-Offset or Upload-Complete in the request are a 400.
  if (
    protocol.kind === 'draft' &&
    protocol.version === 6 &&
    (headers['upload-offset'] !== undefined || headers['upload-complete'] !== undefined)
  ) {
    return refusal(protocol, 400, 'Cancellation must not carry Upload-Offset or Upload-Complete');
  }
  return undefined;
}

/** The answer to a successful termination or cancellation. */
export function terminatedResponse(protocol: UploadProtocol): UploadResponse {
  return { status: 204, headers: protocolHeaders(protocol) };
}

/** An unknown upload (404) or one that expired or lost its data (410; 404 for draft interop 6, which asks for it). */
export function missingResponse(protocol: UploadProtocol, reason: 'unknown' | 'expired'): UploadResponse {
  const gone = reason === 'expired' && !(protocol.kind === 'draft' && protocol.version === 6);
  return refusal(protocol, gone ? 410 : 404, gone ? 'Upload expired' : 'Upload not found');
}
