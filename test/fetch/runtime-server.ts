/**
 * The server the Bun and Deno suite starts: `bun runtime-server.ts <root>` or
 * `deno run --allow-read --allow-net=127.0.0.1 runtime-server.ts <root>`. It imports the built packages (dist)
 * through their names, serves `<root>` under `/files` with `rangeServe`, a few routes with `withRanges` and
 * `sendRange`, listens on 127.0.0.1:0 and prints `{"port":N}` as its first line.
 */
import path from 'node:path';
import { bytesRepresentation, openFile, streamRepresentation } from '@range-serve/core';
import { rangeServe, sendRange, withRanges } from '@range-serve/fetch';

interface Listening {
  readonly port: number;
}
type Fetch = (request: Request) => Promise<Response>;
interface BunGlobal {
  serve(options: { port: number; hostname: string; fetch: Fetch }): Listening;
}
interface DenoGlobal {
  args: string[];
  serve(options: { port: number; hostname: string; onListen: (addr: Listening) => void }, handler: Fetch): unknown;
}

const bun = (globalThis as { Bun?: BunGlobal }).Bun;
const deno = (globalThis as { Deno?: DenoGlobal }).Deno;
const root = (deno === undefined ? process.argv[2] : deno.args[0]) as string;

/** 200 KiB of bytes that never form a multipart boundary's pattern by chance: byte i is (i * 7) & 0xff. */
export const GENERATED = new Uint8Array(200 * 1024).map((_, i) => (i * 7) & 0xff);

const files = rangeServe(root);
const routes: Record<string, (request: Request) => Promise<Response>> = {
  '/r/bytes': withRanges(() => new Response(GENERATED, { headers: { 'content-type': 'application/octet-stream' } })),
  '/r/stream-with-length': withRanges(() => {
    let at = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        await new Promise((resolve) => setTimeout(resolve, 1));
        if (at >= GENERATED.length) return controller.close();
        controller.enqueue(GENERATED.slice(at, at + 50_000));
        at += 50_000;
      },
    });
    return new Response(body, { headers: { 'content-length': String(GENERATED.length) } });
  }),
  '/r/send-file': async (request) => sendRange(request, await openFile(path.join(root, 'big.bin'))),
  '/r/send-bytes': (request) => sendRange(request, bytesRepresentation(GENERATED, { contentType: 'text/plain' })),
  '/r/send-stream': (request) => {
    async function* chunks(): AsyncGenerator<Uint8Array> {
      for (let at = 0; at < GENERATED.length; at += 30_000) yield GENERATED.slice(at, at + 30_000);
    }
    return sendRange(request, streamRepresentation(chunks(), GENERATED.length, { contentType: 'text/plain' }));
  },
};

async function handle(request: Request): Promise<Response> {
  try {
    const served = await files(request, '/files');
    if (served !== null) return served;
    const route = routes[new URL(request.url).pathname];
    if (route !== undefined) return await route(request);
    return new Response('fallthrough', { status: 404, headers: { 'content-type': 'text/plain' } });
  } catch {
    return new Response('error', { status: 500, headers: { 'content-type': 'text/plain' } });
  }
}

const announce = (port: number): void => console.log(JSON.stringify({ port }));
if (bun !== undefined) announce(bun.serve({ port: 0, hostname: '127.0.0.1', fetch: handle }).port);
else if (deno !== undefined)
  deno.serve({ port: 0, hostname: '127.0.0.1', onListen: ({ port }) => announce(port) }, handle);
else throw new Error('run this with bun or deno');
