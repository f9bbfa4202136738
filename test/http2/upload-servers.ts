/**
 * The upload conformance suite's servers over HTTP/2: Koa 2 and 3 with `resumableUploads` on
 * `http2.createSecureServer({ allowHTTP1: true }, app.callback())`, and the core's `createUploadHandler`
 * on a plain node:http2 server, each mounted at `/files` as over HTTP/1.1 (test/uploads/factory.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { createUploadHandler } from '@range-serve/core/upload';
import type Koa from 'koa';
import { koaUploadApp, type UploadServerFactory } from '../uploads/factory.ts';
import { listenHttp2 } from '../helpers/http2.ts';
import { endHeadOverHttp2, koaOnHttp2 } from './servers.ts';

/** The upload factory for Koa (2 or 3) over HTTP/2 (Koa 2 with {@link endHeadOverHttp2} first). */
export function koaUploadHttp2Factory(KoaClass: new () => Koa, koa2 = false): UploadServerFactory {
  return async (setup) => {
    const app = koaUploadApp(KoaClass, setup);
    if (koa2) app.middleware.unshift(endHeadOverHttp2);
    return listenHttp2(koaOnHttp2(app));
  };
}

/** Reads `req`'s content to its end, as a body parser does. */
function drain(req: Http2ServerRequest): Promise<void> {
  return new Promise((resolve) => {
    req.resume();
    req.once('end', resolve);
  });
}

/**
 * The upload factory for the core's node handler on node:http2, as a user without a framework writes it:
 * the compatibility API's request and response are handed to `handle` as Node's (their methods match).
 */
export const nodeUploadHttp2Factory: UploadServerFactory = async (setup) => {
  const engine = createUploadHandler(setup.options);
  const fail = (res: Http2ServerResponse): void => {
    if (res.headersSent) res.stream.close(0x2);
    else {
      res.writeHead(500, { 'content-length': '5' });
      res.end('error');
    }
  };
  const running = await listenHttp2((req, res) => {
    const url = req.url;
    if (url !== '/files' && !url.startsWith('/files/') && !url.startsWith('/files?')) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('fallthrough');
      return;
    }
    const path = url.slice('/files'.length).split('?', 1)[0] ?? '';
    // A body-reading layer first, when the test asks for one (the engine must report it, never store short).
    const first = setup.consumeBodyFirst ? drain(req) : Promise.resolve();
    first
      .then(() =>
        engine.handle(req as unknown as IncomingMessage, res as unknown as ServerResponse, { prefix: '/files', path }),
      )
      .then(
        (handled) => {
          if (handled) return;
          res.writeHead(404, { 'content-type': 'text/plain' });
          res.end('fallthrough');
        },
        () => fail(res),
      );
  });
  return {
    ...running,
    close: async () => {
      engine.close();
      await running.close();
    },
  };
};
