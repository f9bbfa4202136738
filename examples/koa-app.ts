/** The demo on Koa: the same directory, the same in-memory route and the same uploads as on Express. */
import { rangeServe, resumableUploads } from '@range-serve/koa';
import Koa from 'koa';
import mount from 'koa-mount';
import { demoUploadOptions, type Listener, VENDOR } from './app.ts';

export function koaApp(root: string, report: Buffer, uploadDirectory: string): Listener {
  const app = new Koa();
  // Uploads first: a request that is not an upload request goes on downstream to the files.
  app.use(mount('/files', resumableUploads(demoUploadOptions(uploadDirectory))));
  for (const [prefix, dir] of Object.entries(VENDOR)) app.use(mount(prefix, rangeServe(dir, { fallthrough: false })));
  app.use(rangeServe(root, { extensions: ['html'], wantReprDigest: true, precompressed: true }));
  // Downstream of rangeServe: a plain ctx.body that the middleware makes resumable.
  app.use((ctx) => {
    if (ctx.path === '/report.csv' && (ctx.method === 'GET' || ctx.method === 'HEAD')) {
      ctx.type = 'text/csv';
      ctx.body = report;
    }
  });
  // A client that goes away mid-download (a paused or killed download) or mid-upload (its body cut
  // short: Node's parser reports HPE_INVALID_EOF_STATE on the socket) is routine, not an error to print.
  app.on('error', (err: NodeJS.ErrnoException) => {
    const routine = ['ERR_CLIENT_GONE', 'ECONNRESET', 'EPIPE', 'ERR_STREAM_PREMATURE_CLOSE', 'HPE_INVALID_EOF_STATE'];
    if (!routine.includes(err.code ?? '')) console.error(err);
  });
  return app.callback();
}
