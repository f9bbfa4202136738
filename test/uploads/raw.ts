/** Raw node:http requests with bodies for the upload suites: whole, cut off mid-body, or held open. */
import http, { type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';

/** A response as received, with any informational (1xx) responses before it. */
export interface UploadReply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  readonly informational: readonly number[];
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
  return new Promise((resolve, reject) => {
    const informational: number[] = [];
    const req = http.request(`${baseUrl}${target}`, { method, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), informational }),
      );
      res.on('error', reject);
    });
    req.on('information', (info) => informational.push(info.statusCode));
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
  /** Resolves with the response, or with null when the connection closed without one. */
  readonly reply: Promise<UploadReply | null>;
  /** Writes more of the body and waits until the socket took it. */
  write(bytes: Uint8Array): Promise<void>;
  /** Cuts the connection mid-body. */
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
  const req = http.request(`${baseUrl}${target}`, { method, headers, agent: false });
  const reply = new Promise<UploadReply | null>((resolve) => {
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), informational: [] }),
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
  return { reply, write, cut: () => req.destroy() };
}

/** Waits `ms` milliseconds. */
export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
