/**
 * Raw requests with bodies for the upload suites: whole, cut off mid-body, or held open. A base URL on
 * `http:` speaks HTTP/1.1 (node:http, a connection per request); one on `https:` speaks HTTP/2 (node:http2,
 * a stream per request on the session kept per server, as a browser multiplexes), where a cut is a
 * `RST_STREAM` (CANCEL) of that stream alone.
 */
import http, { type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import http2 from 'node:http2';
import { clientSession } from '../helpers/http2.ts';

/** An interim (1xx) response: its status and fields. */
export interface InterimReply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
}

/** A response as received, with any informational (1xx) responses before it. */
export interface UploadReply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  /** The statuses of the interim responses, in order. */
  readonly informational: readonly number[];
  /** The interim responses with their fields, in order. */
  readonly interim: readonly InterimReply[];
}

/** True when requests to `baseUrl` go over HTTP/2. */
export function speaksHttp2(baseUrl: string): boolean {
  return baseUrl.startsWith('https:');
}

/**
 * HTTP/1.1's connection-specific fields have no place in HTTP/2 (RFC 9113 §8.2.2): a body sent
 * `Transfer-Encoding: chunked` over HTTP/1.1 is, over HTTP/2, DATA frames without `Content-Length`.
 */
const CONNECTION_FIELDS = new Set(['transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'proxy-connection']);

/** Starts a request on the HTTP/2 session kept for `baseUrl`, collecting its response as {@link UploadReply}. */
function streamHttp2(
  baseUrl: string,
  target: string,
  method: string,
  headers: OutgoingHttpHeaders,
  endStream: boolean,
): { stream: http2.ClientHttp2Stream; reply: Promise<UploadReply> } {
  const fields: OutgoingHttpHeaders = { ':method': method, ':path': target };
  for (const [name, value] of Object.entries(headers)) {
    if (!CONNECTION_FIELDS.has(name.toLowerCase())) fields[name.toLowerCase()] = value;
  }
  const stream = clientSession(baseUrl).request(fields, { endStream });
  const reply = new Promise<UploadReply>((resolve, reject) => {
    const interim: InterimReply[] = [];
    let status = 0;
    let received: IncomingHttpHeaders = {};
    const plain = (raw: http2.IncomingHttpHeaders): IncomingHttpHeaders => {
      const out: Record<string, string | string[] | undefined> = {};
      for (const [name, value] of Object.entries(raw)) if (!name.startsWith(':')) out[name] = value;
      return out;
    };
    // 'headers' fires for every 1xx (100 included), 'response' for the final head.
    stream.on('headers', (raw) => interim.push({ status: Number(raw[':status']), headers: plain(raw) }));
    stream.on('response', (raw) => {
      status = Number(raw[':status']);
      received = plain(raw);
    });
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      // The stream ended without a final response: reset (RST_STREAM) before one came.
      if (status === 0) {
        reject(new Error(`stream ended without a response (code ${stream.rstCode})`));
        return;
      }
      resolve({
        status,
        headers: received,
        body: Buffer.concat(chunks),
        informational: interim.map((i) => i.status),
        interim,
      });
    });
    stream.on('error', reject);
    // Reset or closed before the response ended (the server answered early and reset the rest, or cut it).
    stream.on('close', () => setImmediate(() => reject(new Error(`stream closed (code ${stream.rstCode})`))));
  });
  return { stream, reply };
}

/** Sends one request with `body` (or none) and collects the response. */
export function send(
  baseUrl: string,
  target: string,
  method: string,
  headers: OutgoingHttpHeaders = {},
  body?: Uint8Array | readonly Uint8Array[],
  agent: http.Agent | false = false,
): Promise<UploadReply> {
  if (speaksHttp2(baseUrl)) {
    // node:http declares the length of a body given whole; so does this, as node:http does.
    const declared =
      body instanceof Uint8Array &&
      !Object.keys(headers).some((name) => /^(content-length|transfer-encoding)$/i.test(name))
        ? { ...headers, 'content-length': String(body.byteLength) }
        : headers;
    const { stream, reply } = streamHttp2(baseUrl, target, method, declared, body === undefined);
    if (body instanceof Uint8Array) stream.end(body);
    else if (body !== undefined) {
      for (const part of body) stream.write(part);
      stream.end();
    }
    return reply;
  }
  return new Promise((resolve, reject) => {
    const interim: InterimReply[] = [];
    const req = http.request(`${baseUrl}${target}`, { method, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks),
          informational: interim.map((i) => i.status),
          interim,
        }),
      );
      res.on('error', reject);
    });
    req.on('information', (info) => interim.push({ status: info.statusCode, headers: info.headers }));
    req.on('error', reject);
    if (body === undefined) req.end();
    else if (body instanceof Uint8Array) req.end(body);
    else {
      for (const part of body) req.write(part);
      req.end();
    }
  });
}

/** An upload request whose body is sent in part and then held open or cut off. */
export interface OpenRequest {
  /** Resolves with the response, or with null when the connection (HTTP/2: the stream) closed without one. */
  readonly reply: Promise<UploadReply | null>;
  /** The interim responses received so far. */
  readonly interim: readonly InterimReply[];
  /** Writes more of the body and waits until the socket took it. */
  write(bytes: Uint8Array): Promise<void>;
  /** Cuts the request mid-body: HTTP/1.1 closes the connection, HTTP/2 resets the stream (CANCEL). */
  cut(): void;
}

/** Starts a request declaring `headers` and writes `first` of its body, keeping it open. */
export async function openRequest(
  baseUrl: string,
  target: string,
  method: string,
  headers: OutgoingHttpHeaders,
  first: Uint8Array,
): Promise<OpenRequest> {
  const interim: InterimReply[] = [];
  if (speaksHttp2(baseUrl)) {
    const { stream, reply } = streamHttp2(baseUrl, target, method, headers, false);
    stream.on('headers', (raw) => {
      const fields: Record<string, string | string[] | undefined> = {};
      for (const [name, value] of Object.entries(raw)) if (!name.startsWith(':')) fields[name] = value;
      interim.push({ status: Number(raw[':status']), headers: fields });
    });
    // As over HTTP/1.1, the content ends once the declared Content-Length is written (END_STREAM).
    const length = Object.entries(headers).find(([name]) => name.toLowerCase() === 'content-length')?.[1];
    let left = length === undefined ? Infinity : Number(length);
    const write = (bytes: Uint8Array): Promise<void> =>
      new Promise((resolve) => {
        left -= bytes.byteLength;
        if (left <= 0) stream.end(bytes, () => resolve());
        else stream.write(bytes, () => resolve());
      });
    await write(first);
    return {
      reply: reply.catch(() => null),
      interim,
      write,
      cut: () => stream.close(http2.constants.NGHTTP2_CANCEL),
    };
  }
  const req = http.request(`${baseUrl}${target}`, { method, headers, agent: false });
  req.on('information', (info) => interim.push({ status: info.statusCode, headers: info.headers }));
  const reply = new Promise<UploadReply | null>((resolve) => {
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks),
          informational: interim.map((i) => i.status),
          interim: [...interim],
        }),
      );
      res.on('error', () => resolve(null));
    });
    req.on('error', () => resolve(null));
    req.on('close', () => setImmediate(() => resolve(null)));
  });
  const write = (bytes: Uint8Array): Promise<void> =>
    new Promise((resolve) => {
      req.write(bytes, () => resolve());
    });
  req.flushHeaders();
  await write(first);
  return { reply, interim, write, cut: () => req.destroy() };
}

/** Waits `ms` milliseconds. */
export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
