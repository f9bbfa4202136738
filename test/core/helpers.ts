// Shared by the core suites: collecting streams, a real multipart parser (dicer), hand-built expected
// multipart bodies, and a real node:http server with raw node:http requests.
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import type { ByteRange } from '@range-serve/core';
import Dicer from 'dicer';

/** Reads a byte stream to the end. */
export async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

export interface ParsedPart {
  readonly headers: Record<string, string[]>;
  readonly body: Buffer;
}

/** Parses a multipart body with dicer (not our code) into its parts. */
export function parseMultipart(body: Buffer, boundary: string): Promise<ParsedPart[]> {
  return new Promise((resolve, reject) => {
    const parts: ParsedPart[] = [];
    const pending: Promise<void>[] = [];
    const dicer = new Dicer({ boundary });
    dicer.on('part', (part) => {
      pending.push(
        new Promise<void>((done, fail) => {
          let headers: Record<string, string[]> = {};
          const chunks: Buffer[] = [];
          part.on('header', (h) => {
            headers = h as Record<string, string[]>;
          });
          part.on('data', (d: Buffer) => chunks.push(d));
          part.on('end', () => {
            parts.push({ headers, body: Buffer.concat(chunks) });
            done();
          });
          part.on('error', fail);
        }),
      );
    });
    dicer.on('error', reject);
    dicer.on('finish', () => {
      Promise.all(pending).then(() => resolve(parts), reject);
    });
    dicer.end(body);
  });
}

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

export interface RawResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/** One raw node:http request; the whole body is read. */
export function request(
  port: number,
  path: string,
  options: { method?: string; headers?: Record<string, string> } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: options.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
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
