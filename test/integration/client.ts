/**
 * The integration suite's client: raw node:http requests with a time-out (a time-out is a failure),
 * bodies decoded by their Content-Encoding with node:zlib, and downloads abandoned mid-body.
 */
import http, { type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import zlib from 'node:zlib';

/**
 * How long a response may take to complete: a hang never does, while on a two-core machine shared with
 * other suites a compressed 256 KiB answer was seen to take over 3 s (the matrix asks four stacks at once).
 */
export const RESPONSE_TIMEOUT_MS = 10_000;

/**
 * How long a download may take to send its first body byte: the server compresses 4 MiB for ten clients
 * at once, on a two-core machine other suites share (5 s was missed under a load of 13); a hang never ends.
 */
export const FIRST_BYTE_TIMEOUT_MS = 10_000;

/** Whether this Node's zlib can decode zstd; a client that cannot decode it must not offer it. */
export const CAN_DECODE_ZSTD = typeof (zlib as { zstdDecompressSync?: unknown }).zstdDecompressSync === 'function';

/** An `Accept-Encoding` a real client sends. */
export interface ClientEncoding {
  /** How the test names it. */
  readonly name: string;
  /** The field's value. */
  readonly acceptEncoding: string;
  /** The codings the field offers. */
  readonly offers: readonly string[];
}

/** A browser's field (zstd only where this Node decodes it), a gzip-only HTTP library's, and identity. */
export const CLIENT_ENCODINGS: readonly ClientEncoding[] = [
  CAN_DECODE_ZSTD
    ? { name: 'browser', acceptEncoding: 'gzip, deflate, br, zstd', offers: ['gzip', 'deflate', 'br', 'zstd'] }
    : { name: 'browser', acceptEncoding: 'gzip, deflate, br', offers: ['gzip', 'deflate', 'br'] },
  { name: 'gzip only', acceptEncoding: 'gzip', offers: ['gzip'] },
  { name: 'identity', acceptEncoding: 'identity', offers: [] },
];

/** The identity client of {@link CLIENT_ENCODINGS}. */
export const IDENTITY = CLIENT_ENCODINGS[2] as ClientEncoding;

/** A completed response: status, headers, the bytes on the wire and those bytes decoded. */
export interface DecodedResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** The body as sent (still encoded). */
  readonly wire: Buffer;
  /** The body with every Content-Encoding undone. */
  readonly body: Buffer;
}

/** The codings of a Content-Encoding field, in the order they were applied. */
export function contentCodings(headers: IncomingHttpHeaders): string[] {
  const field = headers['content-encoding'];
  if (field === undefined) return [];
  return field
    .split(',')
    .map((coding) => coding.trim().toLowerCase())
    .filter((coding) => coding !== '' && coding !== 'identity');
}

function decode(coding: string, bytes: Buffer): Buffer {
  switch (coding) {
    case 'gzip':
    case 'x-gzip':
      return zlib.gunzipSync(bytes);
    case 'deflate':
      return zlib.inflateSync(bytes);
    case 'br':
      return zlib.brotliDecompressSync(bytes);
    case 'zstd': {
      const zstd = (zlib as { zstdDecompressSync?: (input: Buffer) => Buffer }).zstdDecompressSync;
      if (zstd === undefined) throw new Error('zstd body, but this Node cannot decode zstd and never offered it');
      return zstd(bytes);
    }
    default:
      throw new Error(`unknown Content-Encoding ${coding}`);
  }
}

/** `wire` with the codings of `headers` undone, last applied first. */
export function decodeBody(headers: IncomingHttpHeaders, wire: Buffer): Buffer {
  return contentCodings(headers).reduceRight((bytes, coding) => decode(coding, bytes), wire);
}

/** Request options: method (GET), header fields, and the time-out. */
export interface RequestOptions {
  readonly method?: string;
  readonly headers?: OutgoingHttpHeaders;
  readonly timeoutMs?: number;
}

/**
 * Sends one request on its own connection and waits for the whole response; rejects when it does not
 * complete within the time-out, or when its body does not decode.
 */
export function send(baseUrl: string, target: string, options: RequestOptions = {}): Promise<DecodedResponse> {
  const url = new URL(baseUrl);
  const method = options.method ?? 'GET';
  const timeoutMs = options.timeoutMs ?? RESPONSE_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: url.hostname,
      port: url.port,
      method,
      path: target,
      headers: options.headers,
      agent: false,
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`${method} ${target} did not complete within ${timeoutMs} ms (the response hangs)`));
    }, timeoutMs);
    const fail = (err: Error): void => {
      clearTimeout(timer);
      reject(new Error(`${method} ${target}: ${err.message}`));
    };
    req.on('error', fail);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', fail);
      res.on('end', () => {
        clearTimeout(timer);
        const wire = Buffer.concat(chunks);
        let body: Buffer;
        try {
          // A HEAD or a 304 announces the coding of a body it does not carry.
          body = method === 'HEAD' || res.statusCode === 304 ? wire : decodeBody(res.headers, wire);
        } catch (err) {
          reject(
            new Error(
              `${method} ${target}: the ${res.headers['content-encoding']} body of a ${res.statusCode} does not decode (${(err as Error).message})`,
            ),
          );
          return;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, wire, body });
      });
    });
    req.end();
  });
}

/**
 * Starts a download and closes the connection as soon as the first body bytes arrive; resolves once
 * the client's socket is closed. Rejects when no body byte arrives within the time-out.
 */
export function abandonMidBody(baseUrl: string, target: string, headers: OutgoingHttpHeaders): Promise<void> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, path: target, headers, agent: false });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`GET ${target}: no body byte within ${FIRST_BYTE_TIMEOUT_MS} ms (the download hangs)`));
    }, FIRST_BYTE_TIMEOUT_MS);
    req.on('error', () => {});
    req.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
    req.on('response', (res) => {
      res.on('error', () => {});
      res.once('data', () => req.destroy());
    });
    req.end();
  });
}
