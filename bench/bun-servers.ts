/**
 * The Bun benchmark servers: `bun bench/bun-servers.ts NAME PORT ROOT`, as bench/servers.ts is for Node.
 * `rs-bun` is `Bun.serve` with range-serve's fetch adapter, `bun.file` is `Bun.serve` answering every path
 * with `new Response(Bun.file(path))`, Bun's own way of sending a file (sendfile; no validators, so never a
 * 304), and `bun-floor` is Bun's floor as express-floor is Express's: one `stat`, an ETag from size and
 * mtime, one range as a `Bun.file` slice or a plain multipart, without any of range-serve's protections.
 */
import { readFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import path from 'node:path';
import { rangeServe } from '@range-serve/fetch';
import { floorAnswer } from './servers.ts';

interface BunServe {
  serve(options: {
    port: number;
    hostname: string;
    fetch: (request: Request) => Response | Promise<Response>;
  }): unknown;
  file(path: string): Blob;
}
const bun = (globalThis as { Bun?: BunServe }).Bun;

const SERVERS: Record<string, (root: string) => (request: Request) => Response | Promise<Response>> = {
  'rs-bun': (root) => {
    const files = rangeServe(root);
    return async (request) => (await files(request)) ?? new Response('Not Found', { status: 404 });
  },
  'bun.file': (root) => (request) => new Response(bun?.file(path.join(root, new URL(request.url).pathname))),
  'bun-floor': (root) => async (request) => {
    const headers: IncomingHttpHeaders = Object.fromEntries(request.headers);
    const found = await floorAnswer(root, decodeURIComponent(new URL(request.url).pathname), headers);
    if (found === undefined) return new Response('Not Found', { status: 404 });
    const { file, answer } = found;
    const [first, ...more] = answer.spans;
    let body: Blob | Buffer | null = null;
    if (first !== undefined && more.length === 0) body = bun?.file(file).slice(first[0], first[1] + 1) ?? null;
    else if (first !== undefined) body = multipart(file, answer.spans, answer.boundary as string, found.size);
    return new Response(body, { status: answer.status, headers: answer.headers });
  },
};

/** A plain multipart/byteranges of `spans`, read whole. */
function multipart(
  file: string,
  spans: readonly (readonly [number, number])[],
  boundary: string,
  size: number,
): Buffer {
  const bytes = readFileSync(file);
  const pieces = spans.flatMap(([first, last]) => [
    Buffer.from(
      `\r\n--${boundary}\r\ncontent-type: application/octet-stream\r\ncontent-range: bytes ${first}-${last}/${size}\r\n\r\n`,
    ),
    bytes.subarray(first, last + 1),
  ]);
  return Buffer.concat([...pieces, Buffer.from(`\r\n--${boundary}--\r\n`)]);
}

const [name, port, root] = process.argv.slice(2);
const make = name === undefined ? undefined : SERVERS[name];
if (bun === undefined || make === undefined || port === undefined || root === undefined) {
  console.error(`usage: bun bun-servers.ts ${Object.keys(SERVERS).join('|')} PORT ROOT`);
  process.exit(2);
}
// A clean exit on a signal, so that --cpu-prof can write its profile.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(0));
bun.serve({ port: Number(port), hostname: '127.0.0.1', fetch: make(path.resolve(root)) });
process.stdout.write('ready\n');
