/** The engine on a plain node:http server (no framework), mounted at `/files`, for the property and crash tests. */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createUploadHandler, type ResumableUploadOptions } from '@range-serve/core/upload';
import type { RunningServer } from './factory.ts';

/** Starts `createUploadHandler(options)` under `/files` on 127.0.0.1:0. */
export async function startNodeServer(
  options: ResumableUploadOptions,
  port = 0,
): Promise<RunningServer & { port: number }> {
  const engine = createUploadHandler(options);
  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    const fail = (): void => {
      if (!res.headersSent) res.writeHead(500, { 'content-length': '5' }).end('error');
      else res.destroy();
    };
    if (url !== '/files' && !url.startsWith('/files/') && !url.startsWith('/files?')) {
      res.writeHead(404, { 'content-length': '0' }).end();
      return;
    }
    engine.handle(req, res, { prefix: '/files', path: url.slice('/files'.length) }).then((handled) => {
      if (!handled) res.writeHead(404, { 'content-length': '0' }).end();
    }, fail);
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address() as AddressInfo;
  return {
    port: address.port,
    baseUrl: `http://127.0.0.1:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        engine.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
