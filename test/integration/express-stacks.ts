/**
 * Express apps as users write them around range-serve: compression before and after it, in directory
 * mode and wrapping handlers; helmet, morgan and cors in front; a prefix mount and an express.Router();
 * handlers that answer with res.send, res.end, res.write (with and without a Content-Length), sendRange,
 * res.sendFile, res.download and a piped fs.ReadStream; finished uploads of resumableUploads downloaded.
 */
import { createReadStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { openFile } from '@range-serve/core';
import { rangeServe, resumableUploads, sendRange } from '@range-serve/express';
import compression from 'compression';
import cors from 'cors';
import type { Express, IRouter, NextFunction, Request, RequestHandler, Response } from 'express';
import type express from 'express';
import helmet from 'helmet';
import morgan from 'morgan';
import { FILE_NAMES, type FileName, type ServedFiles } from './files.ts';
import { listen } from '../helpers/server.ts';
import { nextTimer, nextTurn, writeInChunks } from './writes.ts';
import {
  type MatrixShape,
  type Placement,
  routesFor,
  type ServingPath,
  type Stack,
  type StartedStack,
} from './matrix.ts';
import { UPLOADS, uploadAll } from './uploaded.ts';

/** The `express` module, version 4 (through its alias) or 5. */
export type ExpressModule = typeof express;

/** How a handler under `/h/<kind>/<file>` answers. */
type HandlerKind = 'send' | 'end' | 'write' | 'timed' | 'sendrange' | 'sendfile' | 'download' | 'pipe';

/** The serving path each handler kind takes. */
const PATH_OF: Readonly<Record<HandlerKind, ServingPath>> = {
  send: 'res.send',
  end: 'res.end',
  write: 'res.write with a length',
  timed: 'res.write over time',
  sendrange: 'sendRange',
  sendfile: 'res.sendFile',
  download: 'res.download',
  pipe: 'piped fs.ReadStream',
};

/** Every serving path of Express, each of which the matrix asks with compression() in front and behind. */
export const EXPRESS_MATRIX: MatrixShape = {
  compressor: 'compression()',
  paths: ['directory', ...Object.values(PATH_OF), 'upload download'],
};

const FILES: readonly FileName[] = ['large.txt', 'large.bin', 'small.txt'];
const BODIES: readonly FileName[] = ['large.txt', 'small.txt'];

function isFileName(name: string): name is FileName {
  return (FILE_NAMES as readonly string[]).includes(name);
}

/** The handlers, each at `/h/<kind>/:name`, sending the named file's bytes its own way. */
function mountHandlers(router: IRouter, files: ServedFiles): void {
  const answer: Record<HandlerKind, (name: FileName, res: Response, next: NextFunction, req: Request) => void> = {
    send: (name, res) => {
      res.type(name).send(files.bytes[name]);
    },
    end: (name, res) => {
      res.type(name).end(files.bytes[name]);
    },
    write: (name, res) => {
      res.type(name).setHeader('content-length', files.bytes[name].length);
      writeInChunks(res, files.bytes[name], nextTurn);
    },
    timed: (name, res) => {
      res.type(name);
      writeInChunks(res, files.bytes[name], nextTimer);
    },
    sendrange: (name, res, next, req) => {
      openFile(path.join(files.root, name))
        .then((file) => sendRange(req, res, file))
        .catch(next);
    },
    sendfile: (name, res, next) => res.sendFile(name, { root: files.root }, (err) => err && next(err)),
    download: (name, res, next) => res.download(path.join(files.root, name), (err) => err && next(err)),
    pipe: (name, res) => {
      res.type(name);
      createReadStream(path.join(files.root, name)).pipe(res);
    },
  };
  for (const [kind, handler] of Object.entries(answer)) {
    router.get(`/h/${kind}/:name`, (req: Request, res: Response, next: NextFunction) => {
      const name = req.params.name;
      if (typeof name === 'string' && isFileName(name)) handler(name, res, next, req);
      else next();
    });
  }
}

/** An app with `layers`; what nothing answers, and errors, go to Express's own final handler. */
function start(
  express: ExpressModule,
  layers: (app: Express, files: ServedFiles, handlers: (router: IRouter) => void) => void,
) {
  return (files: ServedFiles) => {
    const app = express();
    app.set('env', 'test'); // the final handler answers errors without printing them
    layers(app, files, (router) => mountHandlers(router, files));
    return listen(app);
  };
}

/** Routes of handlers of `kinds` for the bodies, and the downloads of `big.bin` through them. */
function handlerRoutes(
  prefix: string,
  kinds: readonly HandlerKind[],
  encoded: boolean,
  placement: Placement,
  encodedBeforeUs = false,
) {
  return {
    routes: kinds.flatMap((kind) =>
      routesFor(`${prefix}/h/${kind}/`, BODIES, {
        path: PATH_OF[kind],
        placement,
        encoded,
        // Bodies the handler writes itself pass through compression before range-serve sees them.
        encodedBeforeUs: encodedBeforeUs && WRITTEN.includes(kind),
        ranged: kind !== 'timed',
        mayLackValidator: kind === 'write',
      }),
    ),
    // res.end holds the body whole as res.send does, whose downloads are already abandoned.
    downloads: kinds.filter((kind) => kind !== 'end').map((kind) => `${prefix}/h/${kind}/big.bin`),
  };
}

const WRITTEN: readonly HandlerKind[] = ['send', 'end', 'write', 'timed'];
const FILE_HANDLERS: readonly HandlerKind[] = ['sendrange', 'sendfile', 'download', 'pipe'];

/** A morgan logger writing to a stream that discards. */
function quietLogger() {
  return morgan('combined', { stream: new Writable({ write: (_chunk, _encoding, done) => done() }) });
}

/**
 * An app whose `layers` mount `resumableUploads` at `/files`: the bodies and `big.bin` are uploaded once
 * it listens, and each route `/files/<name>` stands for its finished upload's URL.
 */
function startWithUploads(
  express: ExpressModule,
  layers: (app: Express, files: ServedFiles, uploads: RequestHandler, handlers: (router: IRouter) => void) => void,
) {
  return async (files: ServedFiles): Promise<StartedStack> => {
    const directory = mkdtempSync(path.join(tmpdir(), 'range-serve-integration-uploads-'));
    const server = await start(express, (app, served, handlers) =>
      layers(app, served, resumableUploads({ directory }), handlers),
    )(files);
    const targets = await uploadAll(server.baseUrl, files);
    return {
      ...server,
      targets,
      close: async () => {
        await server.close();
        rmSync(directory, { recursive: true, force: true });
      },
    };
  };
}

/** The Express stacks, built on `express` (4 or 5). */
export function expressStacks(express: ExpressModule): Stack[] {
  const written = handlerRoutes('', WRITTEN, true, 'in front');
  const writtenAfter = handlerRoutes('', WRITTEN, true, 'behind', true);
  const everyHandler = handlerRoutes('', [...WRITTEN, ...FILE_HANDLERS], true, 'in front');
  const everyHandlerAfter = handlerRoutes('', [...WRITTEN, ...FILE_HANDLERS], true, 'behind', true);
  const plainFileHandlers = handlerRoutes('', FILE_HANDLERS, false, 'none');
  const routed = handlerRoutes('/router', ['send', 'pipe'], false, 'none');
  const sendRangeOnly = handlerRoutes('', ['sendrange'], true, 'in front');
  return [
    {
      name: 'compression() → rangeServe(dir) → handlers',
      start: start(express, (app, files, handlers) => {
        app.use(compression());
        app.use(rangeServe(files.root));
        handlers(app);
      }),
      routes: [
        ...routesFor('/', FILES, { path: 'directory', placement: 'in front', encoded: true }),
        ...written.routes,
      ],
      downloads: ['/big.bin', ...written.downloads],
    },
    {
      name: 'rangeServe(dir) → compression() → handlers',
      start: start(express, (app, files, handlers) => {
        app.use(rangeServe(files.root));
        app.use(compression());
        handlers(app);
      }),
      routes: [
        ...routesFor('/', FILES, { path: 'directory', placement: 'behind', encoded: false }),
        ...writtenAfter.routes,
      ],
      downloads: ['/big.bin', ...written.downloads],
    },
    {
      name: 'compression() → rangeServe() → handlers',
      start: start(express, (app, _files, handlers) => {
        app.use(compression());
        app.use(rangeServe());
        handlers(app);
      }),
      ...everyHandler,
    },
    {
      name: 'rangeServe() → compression() → handlers',
      start: start(express, (app, _files, handlers) => {
        app.use(rangeServe());
        app.use(compression());
        handlers(app);
      }),
      ...everyHandlerAfter,
    },
    {
      name: 'compression() → sendRange(openFile) routes and resumableUploads, no rangeServe middleware',
      start: startWithUploads(express, (app, _files, uploads, handlers) => {
        app.use(compression());
        app.use('/files', uploads);
        handlers(app);
      }),
      routes: [
        ...sendRangeOnly.routes,
        ...routesFor(UPLOADS, BODIES, { path: 'upload download', placement: 'in front', encoded: true }),
      ],
      downloads: [...sendRangeOnly.downloads, `${UPLOADS}big.bin`],
    },
    {
      name: 'rangeServe() → compression() → resumableUploads',
      start: startWithUploads(express, (app, _files, uploads) => {
        app.use(rangeServe());
        app.use(compression());
        app.use('/files', uploads);
      }),
      routes: routesFor(UPLOADS, BODIES, { path: 'upload download', placement: 'behind', encoded: true }),
      downloads: [`${UPLOADS}big.bin`],
    },
    {
      name: 'rangeServe() → res.sendFile, res.download, piped fs.ReadStream',
      start: start(express, (app, _files, handlers) => {
        app.use(rangeServe());
        handlers(app);
      }),
      ...plainFileHandlers,
    },
    {
      name: 'helmet() → morgan() → cors() → rangeServe(dir)',
      start: start(express, (app, files) => {
        app.use(helmet());
        app.use(quietLogger());
        app.use(cors());
        app.use(rangeServe(files.root));
      }),
      routes: routesFor('/', FILES, { path: 'directory', placement: 'none', encoded: false }),
      downloads: ['/big.bin'],
    },
    {
      name: "app.use('/prefix', rangeServe(dir)); app.use('/router', express.Router() with rangeServe)",
      start: start(express, (app, files, handlers) => {
        app.use('/prefix', rangeServe(files.root));
        const router = express.Router();
        router.use('/static', rangeServe(files.root));
        router.use(rangeServe());
        handlers(router);
        app.use('/router', router);
      }),
      routes: [
        ...routesFor('/prefix/', FILES, { path: 'directory', placement: 'none', encoded: false }),
        ...routesFor('/router/static/', ['large.bin', 'small.txt'], {
          path: 'directory',
          placement: 'none',
          encoded: false,
        }),
        ...routed.routes,
      ],
      downloads: ['/prefix/big.bin', '/router/static/big.bin', ...routed.downloads],
    },
  ];
}
