/**
 * One upload server per process: `node --import tsx bench/upload-servers.ts NAME PORT DIRECTORY`. It
 * listens on 127.0.0.1:PORT, answers tus 1.0.0 uploads under `/files` into DIRECTORY, and prints
 * `ready` once listening. bench/uploads.ts starts each of these pinned to its own core.
 */
import http from 'node:http';
import path from 'node:path';

type Start = (directory: string, port: number) => Promise<http.Server>;

/** What every server gets: room for the 1 GiB rows, and no request timeout cutting them short. */
const MAX_SIZE = 2 * 1024 ** 3;

function listen(server: http.Server, port: number): Promise<http.Server> {
  // Node's default requestTimeout (300 s) would end a slow 1 GiB upload; the documented setting.
  server.requestTimeout = 0;
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

export const UPLOAD_SERVERS: Record<string, Start> = {
  async 'rs-express'(directory, port) {
    const { default: express } = await import('express');
    const { resumableUploads } = await import('@range-serve/express');
    const app = express();
    app.disable('x-powered-by');
    app.use('/files', resumableUploads({ directory, maxSize: MAX_SIZE }));
    return listen(http.createServer(app), port);
  },
  async 'rs-koa'(directory, port) {
    const { default: Koa } = await import('koa');
    const { default: mount } = await import('koa-mount');
    const { resumableUploads } = await import('@range-serve/koa');
    const app = new Koa();
    app.use(mount('/files', resumableUploads({ directory, maxSize: MAX_SIZE })));
    return listen(http.createServer(app.callback()), port);
  },
  async 'rs-node'(directory, port) {
    // The engine on plain node:http, as docs/uploads.md shows it.
    const { createUploadHandler } = await import('@range-serve/core/upload');
    const uploads = createUploadHandler({ directory, maxSize: MAX_SIZE });
    const server = http.createServer((req, res) => {
      const url = req.url ?? '/';
      if (url !== '/files' && !url.startsWith('/files/')) return void res.writeHead(404).end();
      uploads.handle(req, res, { prefix: '/files', path: url.slice('/files'.length) }).then(
        (handled) => handled || res.writeHead(404).end(),
        (err: unknown) => (res.headersSent ? res.destroy(err as Error) : res.writeHead(500).end()),
      );
    });
    return listen(server, port);
  },
  async 'rs-hono'(directory, port) {
    // Hono on @hono/node-server with resumableUploads from @range-serve/fetch, mounted as the docs show.
    const { Hono } = await import('hono');
    const { getRequestListener } = await import('@hono/node-server');
    const { resumableUploads } = await import('@range-serve/fetch');
    const uploads = resumableUploads({ directory, maxSize: MAX_SIZE });
    const app = new Hono();
    app.use('/files', async (c, next) => (await uploads(c.req.raw, '/files')) ?? next());
    app.use('/files/*', async (c, next) => (await uploads(c.req.raw, '/files')) ?? next());
    return listen(http.createServer(getRequestListener(app.fetch)), port);
  },
  async 'tus-server'(directory, port) {
    // @tus/server with @tus/file-store, through its node:http handler.
    const { Server } = await import('@tus/server');
    const { FileStore } = await import('@tus/file-store');
    const tus = new Server({ path: '/files', maxSize: MAX_SIZE, datastore: new FileStore({ directory }) });
    const server = http.createServer((req, res) => {
      tus.handle(req, res).catch(() => (res.headersSent ? res.destroy() : res.writeHead(500).end()));
    });
    return listen(server, port);
  },
};

async function main(): Promise<void> {
  const [name, port, directory] = process.argv.slice(2);
  const start = name === undefined ? undefined : UPLOAD_SERVERS[name];
  if (start === undefined || port === undefined || directory === undefined) {
    console.error(`usage: upload-servers.ts ${Object.keys(UPLOAD_SERVERS).join('|')} PORT DIRECTORY`);
    process.exit(2);
  }
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(0));
  await start(path.resolve(directory), Number(port));
  process.stdout.write('ready\n');
}

if (process.argv[1] !== undefined && import.meta.url.endsWith(path.basename(process.argv[1]))) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
