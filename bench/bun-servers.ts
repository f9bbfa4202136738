/**
 * The Bun benchmark servers: `bun bench/bun-servers.ts NAME PORT ROOT`, as bench/servers.ts is for Node.
 * `rs-bun` is `Bun.serve` with range-serve's fetch adapter, `bun.file` is `Bun.serve` answering every path
 * with `new Response(Bun.file(path))`, Bun's own way of sending a file (sendfile, no validators, no ranges).
 */
import path from 'node:path';
import { rangeServe } from '@range-serve/fetch';

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
};

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
