/**
 * One range-serve replica for the scale-out test, run as a child process:
 *   node --import tsx replica.ts <express|koa> <root> <options as JSON>
 * It listens on 127.0.0.1 with a free port, prints `{"port":N}`, then one JSON line per response with
 * the request's range and validator fields and the status it got, so the test sees what each replica answered.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type ExpressRangeOptions, rangeServe as expressRangeServe } from '@range-serve/express';
import { type KoaRangeOptions, rangeServe as koaRangeServe } from '@range-serve/koa';
import express from 'express';
import Koa from 'koa';

/** One response as a replica answered it. */
export interface ReplicaLogEntry {
  readonly replica: string;
  readonly method: string;
  readonly url: string;
  readonly status: number;
  readonly range?: string;
  readonly ifRange?: string;
  readonly ifNoneMatch?: string;
  readonly ifModifiedSince?: string;
  readonly etag?: string;
}

const [adapter, root, json] = process.argv.slice(2);
if ((adapter !== 'express' && adapter !== 'koa') || root === undefined || json === undefined) {
  console.error('usage: replica.ts <express|koa> <root> <options as JSON>');
  process.exit(2);
}
const options: unknown = JSON.parse(json);

let listener: (req: IncomingMessage, res: ServerResponse) => void;
if (adapter === 'express') {
  const app = express();
  app.use(expressRangeServe(root, options as ExpressRangeOptions));
  listener = app;
} else {
  const app = new Koa();
  app.use(koaRangeServe(root, options as KoaRangeOptions));
  app.on('error', (err: NodeJS.ErrnoException) => {
    if (!['ECONNRESET', 'EPIPE', 'ERR_STREAM_PREMATURE_CLOSE'].includes(err.code ?? '')) console.error(err);
  });
  listener = app.callback();
}

const text = (value: string | string[] | number | undefined) =>
  value === undefined ? undefined : Array.isArray(value) ? value.join(', ') : String(value);

const server = http.createServer((req, res) => {
  res.once('close', () => {
    const entry: ReplicaLogEntry = {
      replica: adapter,
      method: req.method ?? '',
      url: req.url ?? '',
      status: res.statusCode,
      range: req.headers.range,
      ifRange: text(req.headers['if-range']),
      ifNoneMatch: req.headers['if-none-match'],
      ifModifiedSince: req.headers['if-modified-since'],
      etag: text(res.getHeader('etag')),
    };
    process.stdout.write(`${JSON.stringify(entry)}\n`);
  });
  listener(req, res);
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
});
