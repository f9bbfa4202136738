/**
 * One benchmark server per process: `node --import tsx bench/servers.ts NAME PORT ROOT`. It listens on
 * 127.0.0.1:PORT, serves the files under ROOT at `/NAME-OF-FILE`, and prints `ready` once listening.
 * bench/run.ts starts each of these pinned to its own core and kills it when done.
 */
import http from 'node:http';
import path from 'node:path';

type Start = (root: string, port: number) => Promise<http.Server | void>;

function listen(server: http.Server, port: number): Promise<http.Server> {
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

/** Koa + koa-static behind koa-conditional-get and koa-etag, optionally behind koa-range. */
async function koaStatic(root: string, port: number, withRange: boolean): Promise<http.Server> {
  const { default: Koa } = await import('koa');
  const { default: serve } = await import('koa-static');
  const { default: conditional } = await import('koa-conditional-get');
  const { default: etag } = await import('koa-etag');
  const app = new Koa();
  if (withRange) {
    const { default: range } = await import('koa-range');
    app.use(range);
  }
  app.use(conditional());
  app.use(etag());
  app.use(serve(root));
  return listen(http.createServer(app.callback()), port);
}

export const SERVERS: Record<string, Start> = {
  async 'rs-express'(root, port) {
    const { default: express } = await import('express');
    const { rangeServe } = await import('@range-serve/express');
    const app = express();
    app.disable('x-powered-by');
    app.use(rangeServe(root));
    return listen(http.createServer(app), port);
  },
  async 'rs-koa'(root, port) {
    const { default: Koa } = await import('koa');
    const { rangeServe } = await import('@range-serve/koa');
    const app = new Koa();
    app.use(rangeServe(root));
    return listen(http.createServer(app.callback()), port);
  },
  async 'rs-node'(root, port) {
    // The core on plain node:http: a route table of its own, then openFile + serveRepresentation.
    const { openFile, serveRepresentation } = await import('@range-serve/core');
    const files = new Map<string, string>();
    for (const name of ['4k.bin', '1m.bin', '1g.bin']) files.set(`/${name}`, path.join(root, name));
    const server = http.createServer((req, res) => {
      const file = files.get(req.url ?? '');
      if (file === undefined) {
        res.writeHead(404, { 'content-length': '0' }).end();
        return;
      }
      openFile(file, { contentType: 'application/octet-stream' }).then(
        (rep) => serveRepresentation(req, res, rep),
        () => res.writeHead(500, { 'content-length': '0' }).end(),
      );
    });
    return listen(server, port);
  },
  async 'express.static'(root, port) {
    const { default: express } = await import('express');
    const app = express();
    app.disable('x-powered-by');
    app.use(express.static(root));
    return listen(http.createServer(app), port);
  },
  'koa-static': (root, port) => koaStatic(root, port, false),
  'koa-static+range': (root, port) => koaStatic(root, port, true),
  async fastify(root, port) {
    const { default: Fastify } = await import('fastify');
    const { default: fastifyStatic } = await import('@fastify/static');
    const app = Fastify({ logger: false });
    await app.register(fastifyStatic, { root });
    await app.listen({ port, host: '127.0.0.1' });
  },
};

// ---------------------------------------------------------------------------------------------------
// Precompressed variants (bench/run.ts "Precompressed variants"): the same ROOT, where app.js sits
// beside its app.js.br; each server is set up to send the .br to a client that accepts br.

export const PRECOMPRESSED_SERVERS: Record<string, Start> = {
  async 'rs-express+br'(root, port) {
    const { default: express } = await import('express');
    const { rangeServe } = await import('@range-serve/express');
    const app = express();
    app.disable('x-powered-by');
    app.use(rangeServe(root, { precompressed: true }));
    return listen(http.createServer(app), port);
  },
  async 'rs-koa+br'(root, port) {
    const { default: Koa } = await import('koa');
    const { rangeServe } = await import('@range-serve/koa');
    const app = new Koa();
    app.use(rangeServe(root, { precompressed: true }));
    return listen(http.createServer(app.callback()), port);
  },
  async 'fastify+preCompressed'(root, port) {
    const { default: Fastify } = await import('fastify');
    const { default: fastifyStatic } = await import('@fastify/static');
    const app = Fastify({ logger: false });
    await app.register(fastifyStatic, { root, preCompressed: true });
    await app.listen({ port, host: '127.0.0.1' });
  },
  async 'express-static-gzip'(root, port) {
    const { default: express } = await import('express');
    const { default: expressStaticGzip } = await import('express-static-gzip');
    const app = express();
    app.disable('x-powered-by');
    app.use(expressStaticGzip(root, { enableBrotli: true, orderPreference: ['br'] }));
    return listen(http.createServer(app), port);
  },
};

async function main(): Promise<void> {
  const [name, port, root] = process.argv.slice(2);
  const start = name === undefined ? undefined : (SERVERS[name] ?? PRECOMPRESSED_SERVERS[name]);
  if (start === undefined || port === undefined || root === undefined) {
    const names = [...Object.keys(SERVERS), ...Object.keys(PRECOMPRESSED_SERVERS)];
    console.error(`usage: servers.ts ${names.join('|')} PORT ROOT`);
    process.exit(2);
  }
  // A clean exit on a signal, so that --cpu-prof can write its profile.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(0));
  await start(path.resolve(root), Number(port));
  process.stdout.write('ready\n');
}

if (process.argv[1] !== undefined && import.meta.url.endsWith(path.basename(process.argv[1]))) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
