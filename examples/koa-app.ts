/** The demo on Koa: the same directory and the same in-memory route as on Express. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { rangeServe } from '@range-serve/koa';
import Koa from 'koa';

export function koaApp(root: string, report: Buffer): (req: IncomingMessage, res: ServerResponse) => void {
  const app = new Koa();
  app.use(rangeServe(root, { extensions: ['html'], wantReprDigest: true, precompressed: true }));
  // Downstream of rangeServe: a plain ctx.body that the middleware makes resumable.
  app.use((ctx) => {
    if (ctx.path === '/report.csv' && (ctx.method === 'GET' || ctx.method === 'HEAD')) {
      ctx.type = 'text/csv';
      ctx.body = report;
    }
  });
  // A client that goes away mid-download (a paused or killed download) is routine, not an error to print.
  app.on('error', (err: NodeJS.ErrnoException) => {
    if (!['ECONNRESET', 'EPIPE', 'ERR_STREAM_PREMATURE_CLOSE'].includes(err.code ?? '')) console.error(err);
  });
  return app.callback();
}
