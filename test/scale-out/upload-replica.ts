/**
 * One upload replica for the replicated-upload test, run as a child process:
 *   node --import tsx upload-replica.ts <express|koa> <directory> <port or 0> <options as JSON>
 * It mounts `resumableUploads()` of the built package at `/files` with the given options (`redis`
 * among them), prints `{"port":N}` once listening, and one `{"complete":id,"pid":N}` line each time
 * its `onComplete` runs, so the test can count completions across replicas. With
 * `UPLOAD_REPLICA_CLOCK_AHEAD_MS` set, its clock (`Date.now`) runs that far ahead of the machine's.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { resumableUploads as expressUploads, type ResumableUploadOptions } from '@range-serve/express';
import { resumableUploads as koaUploads } from '@range-serve/koa';
import express from 'express';
import Koa from 'koa';
import mount from 'koa-mount';

const [adapter, directory, portArg, json] = process.argv.slice(2);
if ((adapter !== 'express' && adapter !== 'koa') || directory === undefined || json === undefined) {
  console.error('usage: upload-replica.ts <express|koa> <directory> <port> <options as JSON>');
  process.exit(2);
}
const clockAhead = Number(process.env.UPLOAD_REPLICA_CLOCK_AHEAD_MS ?? 0);
if (clockAhead !== 0) {
  const machineNow = Date.now.bind(Date);
  Date.now = () => machineNow() + clockAhead;
}
const options: ResumableUploadOptions = {
  ...(JSON.parse(json) as Omit<ResumableUploadOptions, 'directory'>),
  directory,
  onComplete: (_req, upload) => {
    process.stdout.write(`${JSON.stringify({ complete: upload.id, pid: process.pid, length: upload.length })}\n`);
  },
};

let listener: http.RequestListener;
if (adapter === 'express') {
  const app = express();
  app.use('/files', expressUploads(options));
  app.use((err: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    console.error(err);
    if (!res.headersSent) res.status(500).end();
  });
  listener = app;
} else {
  const app = new Koa();
  app.use(mount('/files', koaUploads(options)));
  app.on('error', (err: NodeJS.ErrnoException) => {
    if (!['ECONNRESET', 'EPIPE', 'ERR_STREAM_PREMATURE_CLOSE', 'HPE_INVALID_EOF_STATE'].includes(err.code ?? ''))
      console.error(err);
  });
  listener = app.callback();
}

const server = http.createServer(listener);
server.listen(Number(portArg ?? 0), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  process.exit(0);
});
