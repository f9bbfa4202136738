/**
 * The demo server: a directory served with range-serve on Express or Koa, plus one route handler whose
 * in-memory body range-serve makes resumable. `examples/server.ts` is its command line; the end-to-end
 * tests start it in-process to see every request it answers.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { rangeServe } from '@range-serve/express';
import express from 'express';
import { makeReport } from './generated.ts';

export type Adapter = 'express' | 'koa';

/** One request as the server answered it. */
export interface LogEntry {
  readonly method: string;
  readonly url: string;
  readonly range: string | undefined;
  readonly ifRange: string | undefined;
  readonly status: number;
  readonly contentRange: string | undefined;
  /** False when the connection closed before the whole response was written (a client killed mid-way). */
  readonly complete: boolean;
}

export interface DemoOptions {
  /** The directory to serve. */
  readonly root: string;
  readonly adapter: Adapter;
  /** Port to listen on; 0 picks a free one. */
  readonly port: number;
  readonly host: string;
  /** Called once for every response, when its connection is done with it. */
  readonly onResponse?: (entry: LogEntry) => void;
}

export interface RunningDemo {
  readonly url: string;
  close(): Promise<void>;
}

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

function expressApp(root: string, report: Buffer): Listener {
  const app = express();
  app.use(rangeServe(root, { extensions: ['html'], wantReprDigest: true, precompressed: true }));
  // A route handler that knows nothing about ranges: the middleware above makes its 200 resumable.
  app.get('/report.csv', (_req, res) => {
    res.type('text/csv').send(report);
  });
  return app;
}

/** Starts the demo and resolves once it listens. */
export async function startDemo(options: DemoOptions): Promise<RunningDemo> {
  const report = makeReport();
  const listener =
    options.adapter === 'koa'
      ? (await import('./koa-app.ts')).koaApp(options.root, report)
      : expressApp(options.root, report);
  const server = http.createServer((req, res) => {
    if (options.onResponse !== undefined) {
      const log = options.onResponse;
      res.once('close', () =>
        log({
          method: req.method ?? '',
          url: req.url ?? '',
          range: req.headers.range,
          ifRange: typeof req.headers['if-range'] === 'string' ? req.headers['if-range'] : undefined,
          status: res.statusCode,
          contentRange: header(res, 'content-range'),
          complete: res.writableFinished,
        }),
      );
    }
    listener(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  return {
    url: `http://${host}:${port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function header(res: ServerResponse, name: string): string | undefined {
  const value = res.getHeader(name);
  return value === undefined ? undefined : String(value);
}
