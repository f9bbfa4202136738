// Shared by the core suites: collecting streams, a real multipart parser (dicer), hand-built expected
// multipart bodies, and a real node:http server with raw node:http requests.
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import type { ByteRange } from '@range-serve/core';
import { type RawResponse, request as rawRequest } from '../helpers/http.ts';

/** Reads a byte stream to the end. */
export async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

/** Parses a multipart body with dicer (not our code) into its parts, each field's values as a list. */
export { parseMultipartParts as parseMultipart, type RawPart as ParsedPart } from '../helpers/multipart.ts';

/** The exact bytes a multipart/byteranges body must hold, written out independently of the core. */
export function expectedMultipart(
  content: Uint8Array,
  ranges: readonly ByteRange[],
  boundary: string,
  contentType: string | undefined,
): Buffer {
  const out: Buffer[] = [];
  ranges.forEach((r, i) => {
    let head = i === 0 ? '' : '\r\n';
    head += `--${boundary}\r\n`;
    if (contentType !== undefined) head += `Content-Type: ${contentType}\r\n`;
    head += `Content-Range: bytes ${r.start}-${r.end}/${content.length}\r\n\r\n`;
    out.push(Buffer.from(head, 'latin1'), Buffer.from(content.subarray(r.start, r.end + 1)));
  });
  out.push(Buffer.from(`\r\n--${boundary}--\r\n`, 'latin1'));
  return Buffer.concat(out);
}

export interface TestServer {
  readonly port: number;
  close(): Promise<void>;
}

/** Starts a real node:http server on 127.0.0.1:0. */
export async function startServer(
  handler: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>,
): Promise<TestServer> {
  const server = http.createServer((req, res) => {
    Promise.resolve(handler(req, res)).catch((err: unknown) => {
      res.statusCode = 500;
      res.end(String(err));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export type { RawResponse } from '../helpers/http.ts';

/** One raw node:http request to 127.0.0.1:`port`; the whole body is read. */
export function request(
  port: number,
  path: string,
  options: { method?: string; headers?: Record<string, string> } = {},
): Promise<RawResponse> {
  return rawRequest(`http://127.0.0.1:${port}`, path, options);
}

/** Response headers without those Node's server adds on its own. */
export function ownHeaders(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = { ...headers };
  delete out.date;
  delete out.connection;
  delete out['keep-alive'];
  return out;
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// The validator dates the plan and precondition tables share.
/** Wed, 10 Jan 2024 08:30:15.250 GMT: a modification time with a sub-second part. */
export const LM = Date.UTC(2024, 0, 10, 8, 30, 15, 250);
export const LM_HTTP = 'Wed, 10 Jan 2024 08:30:15 GMT';
export const BEFORE_HTTP = 'Wed, 10 Jan 2024 08:30:14 GMT';
export const AFTER_HTTP = 'Wed, 10 Jan 2024 08:30:16 GMT';
/** Mon, 15 Jan 2024 12:00:00 GMT: the response's Date. */
export const NOW = Date.UTC(2024, 0, 15, 12, 0, 0);
