/**
 * One benchmark server per process: `node --import tsx bench/servers.ts NAME PORT ROOT`. It listens on
 * 127.0.0.1:PORT, serves the files under ROOT at `/NAME-OF-FILE`, and prints `ready` once listening.
 * bench/run.ts starts each of these pinned to its own core and kills it when done.
 */
import fs from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';

type Start = (root: string, port: number) => Promise<http.Server | http2.Http2SecureServer | void>;

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

// ---------------------------------------------------------------------------------------------------
// Floors: what each framework costs by itself. One middleware, one `stat`, the workload answered the
// simplest correct way (an ETag from size and mtime, one range or a plain multipart, a read stream),
// without any of range-serve's protections (no containment, no symlink rule, no changed-file check).

export interface FloorAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  /** Inclusive spans of the file; one span is the body, several a multipart/byteranges. */
  readonly spans: readonly (readonly [number, number])[];
  readonly boundary?: string;
}

const FLOOR_BOUNDARY = 'floor-boundary-3d6b';

/** The floor's answer for a GET of `urlPath` under `root`, or undefined for a miss. */
export async function floorAnswer(
  root: string,
  urlPath: string,
  headers: http.IncomingHttpHeaders,
): Promise<{ file: string; size: number; answer: FloorAnswer } | undefined> {
  const file = path.join(root, decodeURIComponent(urlPath));
  let stat: fs.Stats;
  try {
    stat = await fs.promises.stat(file);
  } catch {
    return undefined;
  }
  const size = stat.size;
  const etag = `"${size.toString(16)}-${Math.floor(stat.mtimeMs).toString(16)}"`;
  const base = { etag, 'last-modified': stat.mtime.toUTCString(), 'accept-ranges': 'bytes' };
  if (headers['if-none-match'] === etag) return { file, size, answer: { status: 304, headers: base, spans: [] } };
  const whole = {
    status: 200,
    headers: { ...base, 'content-type': 'application/octet-stream', 'content-length': String(size) },
    spans: size > 0 ? ([[0, size - 1]] as const) : [],
  };
  const range = headers.range;
  const ifRange = headers['if-range'];
  if (range === undefined || (ifRange !== undefined && ifRange !== etag)) return { file, size, answer: whole };
  const spans: [number, number][] = [];
  for (const spec of range.replace(/^bytes=/, '').split(',')) {
    const [, a, b] = /^\s*(\d*)-(\d*)\s*$/.exec(spec) ?? [];
    if (a === undefined || b === undefined || (a === '' && b === '')) return { file, size, answer: whole };
    const span: [number, number] =
      a === ''
        ? [Math.max(0, size - Number(b)), size - 1]
        : [Number(a), Math.min(size - 1, b === '' ? size - 1 : Number(b))];
    if (span[0] <= span[1]) spans.push(span);
  }
  if (spans.length === 0) {
    return {
      file,
      size,
      answer: { status: 416, headers: { 'content-range': `bytes */${size}`, 'content-length': '0' }, spans },
    };
  }
  if (spans.length === 1) {
    const [first, last] = spans[0] as [number, number];
    const h = {
      ...base,
      'content-type': 'application/octet-stream',
      'content-range': `bytes ${first}-${last}/${size}`,
    };
    return {
      file,
      size,
      answer: { status: 206, headers: { ...h, 'content-length': String(last - first + 1) }, spans },
    };
  }
  const h = { ...base, 'content-type': `multipart/byteranges; boundary=${FLOOR_BOUNDARY}` };
  return { file, size, answer: { status: 206, headers: h, spans, boundary: FLOOR_BOUNDARY } };
}

/** The floor's body: a read stream of one span, or the parts of a multipart read whole. */
function floorBody(file: string, answer: FloorAnswer, size: number): Readable | Buffer | undefined {
  if (answer.spans.length === 0) return undefined;
  if (answer.boundary === undefined) {
    const [start, end] = answer.spans[0] as readonly [number, number];
    return fs.createReadStream(file, { start, end });
  }
  const fd = fs.openSync(file, 'r');
  const pieces: Buffer[] = [];
  for (const [first, last] of answer.spans) {
    pieces.push(
      Buffer.from(
        `\r\n--${answer.boundary}\r\ncontent-type: application/octet-stream\r\ncontent-range: bytes ${first}-${last}/${size}\r\n\r\n`,
      ),
    );
    const part = Buffer.allocUnsafe(last - first + 1);
    fs.readSync(fd, part, 0, part.length, first);
    pieces.push(part);
  }
  fs.closeSync(fd);
  pieces.push(Buffer.from(`\r\n--${answer.boundary}--\r\n`));
  return Buffer.concat(pieces);
}

/** Express 5 with one middleware: the floor of any Express middleware that serves files. */
async function expressFloor(root: string, port: number): Promise<http.Server> {
  const { default: express } = await import('express');
  const app = express();
  app.disable('x-powered-by');
  app.use((req, res, next) => {
    floorAnswer(root, req.path, req.headers).then((found) => {
      if (found === undefined) return next();
      const { file, answer, size } = found;
      const body = floorBody(file, answer, size);
      if (Buffer.isBuffer(body)) answer.headers['content-length'] = String(body.length);
      res.writeHead(answer.status, answer.headers);
      if (body === undefined || req.method === 'HEAD') res.end();
      else if (Buffer.isBuffer(body)) res.end(body);
      else body.pipe(res);
    }, next);
  });
  return listen(http.createServer(app), port);
}

/** Koa 3 with one middleware: the floor of any Koa middleware that serves files. */
async function koaFloor(root: string, port: number): Promise<http.Server> {
  const { default: Koa } = await import('koa');
  const app = new Koa();
  app.use(async (ctx, next) => {
    const found = await floorAnswer(root, ctx.path, ctx.headers);
    if (found === undefined) return next();
    const { file, answer, size } = found;
    const body = floorBody(file, answer, size);
    ctx.status = answer.status;
    ctx.set(answer.headers);
    if (body !== undefined) {
      ctx.body = body;
      ctx.set('content-type', answer.headers['content-type'] as string);
      if (!Buffer.isBuffer(body)) ctx.length = Number(answer.headers['content-length']);
    }
  });
  return listen(http.createServer(app.callback()), port);
}

// ---------------------------------------------------------------------------------------------------
// Real stacks: range-serve and the peer behind the same middleware, in the order apps use it.

/** Express 5 with `layers` in front of `serve`. */
async function expressStack(
  port: number,
  layers: readonly import('express').RequestHandler[],
  serve: import('express').RequestHandler,
): Promise<http.Server> {
  const { default: express } = await import('express');
  const app = express();
  app.disable('x-powered-by');
  for (const layer of layers) app.use(layer);
  app.use(serve);
  return listen(http.createServer(app), port);
}

async function compressionLayer(): Promise<import('express').RequestHandler> {
  const { default: compression } = await import('compression');
  return compression();
}

async function helmetAndMorgan(): Promise<import('express').RequestHandler[]> {
  const { default: helmet } = await import('helmet');
  const { default: morgan } = await import('morgan');
  // The log goes to stdout, which bench/run.ts reads and drops, as a log shipper would.
  return [helmet(), morgan('combined')];
}

async function expressStatic(root: string): Promise<import('express').RequestHandler> {
  const { default: express } = await import('express');
  return express.static(root);
}

async function rsExpress(root: string): Promise<import('express').RequestHandler> {
  const { rangeServe } = await import('@range-serve/express');
  return rangeServe(root);
}

/** Koa 3 with koa-compress in front of range-serve, or of koa-static as in the main columns. */
async function koaCompressStack(root: string, port: number, ours: boolean): Promise<http.Server> {
  const { default: Koa } = await import('koa');
  const { default: compress } = await import('koa-compress');
  const app = new Koa();
  app.use(compress());
  if (ours) {
    const { rangeServe } = await import('@range-serve/koa');
    app.use(rangeServe(root));
  } else {
    const { default: serve } = await import('koa-static');
    const { default: conditional } = await import('koa-conditional-get');
    const { default: etag } = await import('koa-etag');
    app.use(conditional());
    app.use(etag());
    app.use(serve(root));
  }
  return listen(http.createServer(app.callback()), port);
}

const STACK_SERVERS: Record<string, Start> = {
  'rs-express+compression': async (root, port) => expressStack(port, [await compressionLayer()], await rsExpress(root)),
  'express.static+compression': async (root, port) =>
    expressStack(port, [await compressionLayer()], await expressStatic(root)),
  'rs-koa+compress': (root, port) => koaCompressStack(root, port, true),
  'koa-static+compress': (root, port) => koaCompressStack(root, port, false),
  'rs-express+helmet': async (root, port) => expressStack(port, await helmetAndMorgan(), await rsExpress(root)),
  'express.static+helmet': async (root, port) => expressStack(port, await helmetAndMorgan(), await expressStatic(root)),
};

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
  // Bench-only, not a product setting: rs-koa with the per-request check that the root still resolves to
  // itself (`realpathSync.native`, the only caller of it in the core) made free, so bench/README.md can
  // show what that rule costs the 304. Nothing else in this process resolves paths synchronously.
  async 'rs-koa/no-root-check'(root, port) {
    const server = await SERVERS['rs-koa']?.(root, port);
    fs.realpathSync.native = ((p: string) => p) as typeof fs.realpathSync.native;
    return server;
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
  // Floors (see above).
  'express-floor': expressFloor,
  'koa-floor': koaFloor,
  ...STACK_SERVERS,
  // Web-standard servers on Node: Hono on @hono/node-server, with range-serve's fetch adapter mounted by
  // the middleware docs/web-standard.md shows, or with the static middleware @hono/node-server ships.
  async 'rs-hono'(root, port) {
    const { rangeServe } = await import('@range-serve/fetch');
    const files = rangeServe(root);
    return hono(port, async (c, next) => (await files(c.req.raw)) ?? next());
  },
  async 'hono.static'(root, port) {
    const { serveStatic } = await import('@hono/node-server/serve-static');
    return hono(port, serveStatic({ root }));
  },
};

/** Hono with `middleware` on every path, on @hono/node-server. */
async function hono(port: number, middleware: import('hono').MiddlewareHandler): Promise<http.Server> {
  const { Hono } = await import('hono');
  const { serve } = await import('@hono/node-server');
  const app = new Hono();
  app.use('*', middleware);
  return new Promise((resolve) => {
    const server = serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, () => resolve(server as http.Server));
  });
}

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

// ---------------------------------------------------------------------------------------------------
// HTTP/2 (bench/h2.ts): Koa 3 + range-serve on `http2.createSecureServer({ allowHTTP1: true })` with the
// test suites' self-signed certificate, so one server answers HTTP/2 and HTTP/1.1 over the same TLS.

const TLS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../test/helpers/tls');

export const H2_SERVERS: Record<string, Start> = {
  async 'rs-koa-h2'(root, port) {
    const { default: Koa } = await import('koa');
    const { rangeServe } = await import('@range-serve/koa');
    const app = new Koa();
    app.use(rangeServe(root));
    const server = http2.createSecureServer(
      {
        allowHTTP1: true,
        key: fs.readFileSync(path.join(TLS_DIR, 'localhost-key.pem')),
        cert: fs.readFileSync(path.join(TLS_DIR, 'localhost-cert.pem')),
      },
      app.callback(),
    );
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    return server;
  },
};

async function main(): Promise<void> {
  const [name, port, root] = process.argv.slice(2);
  const start = name === undefined ? undefined : (SERVERS[name] ?? PRECOMPRESSED_SERVERS[name] ?? H2_SERVERS[name]);
  if (start === undefined || port === undefined || root === undefined) {
    const names = [...Object.keys(SERVERS), ...Object.keys(PRECOMPRESSED_SERVERS), ...Object.keys(H2_SERVERS)];
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
