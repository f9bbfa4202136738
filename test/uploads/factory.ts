/** Servers for the upload conformance suite: `resumableUploads` mounted at `/files` on each framework major. */
import { resumableUploads as expressUploads, type ResumableUploadOptions } from '@range-serve/express';
import { resumableUploads as koaUploads } from '@range-serve/koa';
import type { Express, NextFunction, Request, Response } from 'express';
import type Koa from 'koa';
import mount from 'koa-mount';
import { running } from '../helpers/server.ts';

/** A started server. */
export interface RunningServer {
  readonly baseUrl: string;
  close(): Promise<void>;
}

/** What a test asks of the app around the middleware. */
export interface UploadSetup {
  readonly options: ResumableUploadOptions;
  /** Put a body-reading middleware before the uploads (to show it is reported, never stored). */
  readonly consumeBodyFirst?: boolean;
}

/** Starts an app with `resumableUploads(setup.options)` under `/files`. */
export type UploadServerFactory = (setup: UploadSetup) => Promise<RunningServer>;

function drain(req: import('node:http').IncomingMessage): Promise<void> {
  return new Promise((resolve) => {
    req.resume();
    req.once('end', resolve);
  });
}

/** The factory for an Express module (4 through its alias, or 5). */
export function expressUploadFactory(express: () => Express): UploadServerFactory {
  return async (setup) => {
    const app = express();
    if (setup.consumeBodyFirst) {
      app.use((req: Request, _res: Response, next: NextFunction) => {
        drain(req).then(() => next(), next);
      });
    }
    app.use('/files', expressUploads(setup.options));
    app.use((_req: Request, res: Response) => {
      res.status(404).type('text/plain').send('fallthrough');
    });
    app.use((_err: unknown, _req: Request, res: Response, _next: NextFunction) => {
      if (res.headersSent) res.destroy();
      else res.status(500).type('text/plain').send('error');
    });
    return running(app.listen(0, '127.0.0.1'));
  };
}

/** The factory for a Koa constructor (2 through its alias, or 3), the middleware under koa-mount. */
export function koaUploadFactory(KoaClass: new () => Koa): UploadServerFactory {
  return async (setup) => {
    const app = new KoaClass();
    app.on('error', () => {});
    app.use(async (ctx, next) => {
      try {
        await next();
      } catch {
        ctx.status = 500;
        ctx.type = 'text/plain';
        ctx.body = 'error';
      }
    });
    if (setup.consumeBodyFirst) {
      app.use(async (ctx, next) => {
        await drain(ctx.req);
        await next();
      });
    }
    app.use(mount('/files', koaUploads(setup.options)));
    app.use((ctx) => {
      ctx.status = 404;
      ctx.type = 'text/plain';
      ctx.body = 'fallthrough';
    });
    return running(app.listen(0, '127.0.0.1'));
  };
}
