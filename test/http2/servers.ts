/**
 * The servers the HTTP/2 suites run: Koa 2 and 3 on `http2.createSecureServer({ allowHTTP1: true },
 * app.callback())`, and a plain node:http2 handler built from the core's own pieces (`rangeServer` for the
 * directory, `interceptResponse` for a handler's body, `planSendRange` for a chosen representation, all
 * written by `writeResponse`), with the conformance suite's routes.
 */
import { Readable } from 'node:stream';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { ServerResponse } from 'node:http';
import {
  bytesRepresentation,
  openFile,
  openVariant,
  type Representation,
  type SendRangeOptions,
  serveRepresentation,
  streamRepresentation,
} from '@range-serve/core';
import { interceptResponse, planSendRange, rangeServer, writeResponse } from '@range-serve/core/adapter';
import type Koa from 'koa';
import {
  BODY,
  DOWNLOAD_NAME,
  GZIP_BODY,
  JSON_BODY,
  OWN_ETAG,
  OWN_LAST_MODIFIED,
  type Scenario,
  type ServerFactory,
  type ServerSetup,
  STORE_FAILS_AT,
  storeRepresentation,
  TEXT,
} from '../conformance/scenarios.ts';
import { type Http2Listener, listenHttp2, type RunningHttp2Server } from '../helpers/http2.ts';
import { koaApp, type KoaConstructor } from '../koa/factory.ts';

/** A Koa app's handler on node:http2: Koa's own callback, which takes the compatibility API's objects. */
export function koaOnHttp2(app: Koa): Http2Listener {
  return app.callback() as unknown as Http2Listener;
}

/**
 * What a Koa 2 app on node:http2 puts first (docs/works-with.md): Koa 2 never answers a HEAD request over
 * HTTP/2, because its `respond` gives up when `ctx.writable` is false and Node ends the writable side of
 * an HTTP/2 stream at once for HEAD; Koa 3 ends the response there, and so does this.
 */
export async function endHeadOverHttp2(ctx: Koa.Context, next: Koa.Next): Promise<void> {
  await next();
  if (ctx.method === 'HEAD' && ctx.req.httpVersionMajor >= 2 && !ctx.writable && !ctx.res.writableEnded) {
    ctx.res.end();
  }
}

/** The conformance factory for Koa (2 or 3) served over HTTP/2 (Koa 2 with {@link endHeadOverHttp2} first). */
export function koaHttp2Factory(KoaApp: KoaConstructor, koa2 = false): ServerFactory {
  return async (setup) => {
    const app = koaApp(KoaApp, setup);
    if (koa2) app.middleware.unshift(endHeadOverHttp2);
    return listenHttp2(koaOnHttp2(app));
  };
}

type Route = (req: Http2ServerRequest, res: Http2ServerResponse) => unknown;

/** The compatibility response as the core's writers take it (its methods are `ServerResponse`'s). */
function nodeResponse(res: Http2ServerResponse): ServerResponse {
  return res as unknown as ServerResponse;
}

function routes(setup: ServerSetup): Record<Scenario, Route> {
  const file = setup.fileForSendRange ?? '';
  const given = setup.sendRangeOptions;
  const sendRange = async (
    req: Http2ServerRequest,
    res: Http2ServerResponse,
    representation: Representation,
    options: SendRangeOptions = {},
  ): Promise<void> => {
    const planned = await planSendRange({ method: req.method, headers: req.headers }, representation, options, {
      res: nodeResponse(res),
      getHeader: (name) => res.getHeader(name),
    });
    await writeResponse(res, planned.response, planned.representation);
  };
  const text = (res: Http2ServerResponse, type: string, body: Buffer | string): void => {
    res.setHeader('content-type', type);
    res.end(body);
  };
  return {
    buffer: (_req, res) => text(res, 'application/octet-stream', BODY),
    string: (_req, res) => text(res, 'text/html; charset=utf-8', TEXT),
    json: (_req, res) => text(res, 'application/json; charset=utf-8', JSON.stringify(JSON_BODY)),
    'end-chunk': (_req, res) => text(res, 'text/plain', BODY),
    'chunked-with-length': (_req, res) => {
      res.setHeader('content-type', 'text/plain');
      res.setHeader('content-length', BODY.length);
      res.write(BODY.subarray(0, 10));
      setImmediate(() => {
        res.write(BODY.subarray(10, 30));
        setImmediate(() => res.end(BODY.subarray(30)));
      });
    },
    'gzip-encoded': (_req, res) => {
      res.setHeader('content-encoding', 'gzip');
      text(res, 'text/plain', GZIP_BODY);
    },
    'own-etag': (_req, res) => {
      res.setHeader('etag', OWN_ETAG);
      res.setHeader('last-modified', OWN_LAST_MODIFIED);
      text(res, 'application/octet-stream', BODY);
    },
    'not-200': (_req, res) => {
      res.statusCode = 201;
      text(res, 'application/octet-stream', BODY);
    },
    'unknown-length': (_req, res) => {
      res.setHeader('content-type', 'text/plain');
      res.write(BODY.subarray(0, 20));
      res.end(BODY.subarray(20));
    },
    'has-content-range': (_req, res) => {
      res.setHeader('content-range', 'bytes 0-3/10');
      res.setHeader('content-length', 4);
      res.end('abcd');
    },
    'send-range-file': async (req, res) => sendRange(req, res, await openFile(file), given),
    'send-range-bytes': (req, res) =>
      sendRange(req, res, bytesRepresentation(BODY, { contentType: 'text/plain' }), given),
    'send-range-stream': (req, res) =>
      sendRange(
        req,
        res,
        streamRepresentation(
          Readable.from([BODY.subarray(0, 7), BODY.subarray(7, 30), BODY.subarray(30)]),
          BODY.length,
          { contentType: 'text/plain' },
        ),
        given,
      ),
    'send-range-download': async (req, res) =>
      sendRange(req, res, await openFile(file), { ...given, download: DOWNLOAD_NAME }),
    'send-range-store': (req, res) => sendRange(req, res, storeRepresentation(), given),
    'send-range-unreadable': (req, res) => sendRange(req, res, storeRepresentation({ failAt: 0 })),
    'send-range-fails-later': (req, res) => sendRange(req, res, storeRepresentation({ failAt: STORE_FAILS_AT })),
    'send-range-variant': async (req, res) => sendRange(req, res, await openVariant(file, req.headers), given),
  };
}

/** The request-target's path, its query removed (the core takes it percent-encoded, as sent). */
function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/**
 * A plain node:http2 handler for `setup`, as a user without a framework writes one from the core: the
 * directory (under `setup.mount`), then the routes, then a 404 `fallthrough`; a failure before the status
 * line is a 500 `error`, after it the stream is reset.
 */
export function nodeHandler(setup: ServerSetup): Http2Listener {
  const server =
    setup.root === undefined ? rangeServer(setup.options, undefined) : rangeServer(setup.root, setup.options);
  const table = routes(setup);
  const names = new Set<string>(setup.routes ?? []);
  const fail = (res: Http2ServerResponse): void => {
    if (res.headersSent) res.stream.close(0x2);
    else {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('error');
    }
  };
  return (req, res) => {
    const url = req.url;
    const path = pathOf(url);
    void (async () => {
      const mount = setup.mount ?? '';
      if (path === mount || path.startsWith(`${mount}/`)) {
        const under = path.slice(mount.length) || '/';
        const request = { method: req.method, path: under, originalUrl: url, headers: req.headers };
        const outcome = await server.answer(request, {
          res: nodeResponse(res),
          getHeader: (name) => res.getHeader(name),
        });
        if (outcome.kind === 'respond') {
          await writeResponse(res, outcome.response, outcome.representation);
          return;
        }
      }
      const name = path.startsWith('/r/') ? path.slice(3) : '';
      if ((req.method === 'GET' || req.method === 'HEAD') && names.has(name)) {
        interceptResponse(nodeResponse(res), { method: req.method, headers: req.headers }, server.options);
        await table[name as Scenario](req, res);
        return;
      }
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('fallthrough');
    })().catch(() => fail(res));
  };
}

/** The conformance factory for the core's handlers on plain node:http2. */
export const nodeHttp2Factory: ServerFactory = async (setup) => listenHttp2(nodeHandler(setup));

/** A node:http2 server that answers every request with `serveRepresentation` of the file `root + path`. */
export function serveFilesHttp2(root: string): Promise<RunningHttp2Server> {
  return listenHttp2((req, res) => {
    openFile(`${root}${pathOf(req.url)}`).then(
      (file) => serveRepresentation(req, res, file),
      () => {
        res.writeHead(404);
        res.end();
      },
    );
  });
}
