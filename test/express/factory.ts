/** The Express side of the conformance suite: builds the setup's app on an Express module (4 or 5). */
import { Readable } from 'node:stream';
import { bytesRepresentation, openFile, openVariant, streamRepresentation } from '@range-serve/core';
import { rangeServe, sendRange } from '@range-serve/express';
import type { Express, NextFunction, Request, Response } from 'express';
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
import { listen } from '../helpers/server.ts';

type Handler = (req: Request, res: Response, next: NextFunction) => unknown;

function routes(setup: ServerSetup): Record<Scenario, Handler> {
  const file = setup.fileForSendRange ?? '';
  const options = setup.sendRangeOptions;
  return {
    buffer: (_req, res) => res.type('application/octet-stream').send(BODY),
    string: (_req, res) => res.send(TEXT),
    json: (_req, res) => res.json(JSON_BODY),
    'end-chunk': (_req, res) => {
      res.setHeader('content-type', 'text/plain');
      res.end(BODY);
    },
    'chunked-with-length': (_req, res) => {
      res.setHeader('content-type', 'text/plain');
      res.setHeader('content-length', BODY.length);
      res.write(BODY.subarray(0, 10));
      setImmediate(() => {
        res.write(BODY.subarray(10, 30));
        setImmediate(() => res.end(BODY.subarray(30)));
      });
    },
    'gzip-encoded': (_req, res) => res.set('Content-Encoding', 'gzip').type('text/plain').send(GZIP_BODY),
    'own-etag': (_req, res) => res.set({ ETag: OWN_ETAG, 'Last-Modified': OWN_LAST_MODIFIED }).send(BODY),
    'not-200': (_req, res) => res.status(201).send(BODY),
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
    'send-range-file': async (req, res) => sendRange(req, res, await openFile(file), options),
    'send-range-bytes': (req, res) =>
      sendRange(req, res, bytesRepresentation(BODY, { contentType: 'text/plain' }), options),
    'send-range-stream': (req, res) =>
      sendRange(
        req,
        res,
        streamRepresentation(
          Readable.from([BODY.subarray(0, 7), BODY.subarray(7, 30), BODY.subarray(30)]),
          BODY.length,
          {
            contentType: 'text/plain',
          },
        ),
        options,
      ),
    'send-range-download': async (req, res) =>
      sendRange(req, res, await openFile(file), { ...options, download: DOWNLOAD_NAME }),
    'send-range-store': (req, res) => sendRange(req, res, storeRepresentation(), options),
    'send-range-unreadable': (req, res) => sendRange(req, res, storeRepresentation({ failAt: 0 })),
    'send-range-fails-later': (req, res) => sendRange(req, res, storeRepresentation({ failAt: STORE_FAILS_AT })),
    'send-range-variant': async (req, res) => sendRange(req, res, await openVariant(file, req.headers), options),
  };
}

/** A conformance factory for the Express module given (Express 4 through its alias, or Express 5). */
export function expressFactory(express: () => Express): ServerFactory {
  return async (setup) => {
    const app = express();
    const middleware = setup.root === undefined ? rangeServe(setup.options) : rangeServe(setup.root, setup.options);
    if (setup.mount === undefined) app.use(middleware);
    else app.use(setup.mount, middleware);
    const table = routes(setup);
    for (const name of setup.routes ?? []) {
      const handler = table[name];
      app.get(`/r/${name}`, (req, res, next) => {
        Promise.resolve(handler(req, res, next)).catch(next);
      });
    }
    app.use((_req: Request, res: Response) => {
      res.status(404).type('text/plain').send('fallthrough');
    });
    app.use((_err: unknown, _req: Request, res: Response, _next: NextFunction) => {
      if (res.headersSent) res.destroy();
      else res.status(500).type('text/plain').send('error');
    });
    return listen(app);
  };
}
