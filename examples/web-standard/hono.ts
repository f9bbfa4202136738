/**
 * Hono on Node with @range-serve/fetch: `node --import tsx examples/web-standard/hono.ts` serves
 * examples/public under /static at http://127.0.0.1:8081/ (try `curl -r 0-99 http://127.0.0.1:8081/static/index.html`),
 * and a route of its own at /report.csv whose body answers ranges and preconditions too. The same app runs on
 * Bun (`export default app`) and Deno (`Deno.serve(app.fetch)`).
 */
import { fileURLToPath } from 'node:url';
import { serve } from '@hono/node-server';
import { rangeServe, withRanges } from '@range-serve/fetch';
import { Hono } from 'hono';

const app = new Hono();

// The three lines: a directory under /static; a path that is not a file there goes on to the next handler.
const files = rangeServe(fileURLToPath(new URL('../public', import.meta.url)), { maxAge: '1h' });
app.use('/static/*', async (c, next) => (await files(c.req.raw, '/static')) ?? next());

// A route's own 200: bytes, a string or a Blob (or a stream with a Content-Length) get ranges, a strong ETag,
// 304 and 412. Hono's handlers take the context, so the Web-standard handler is called with c.req.raw.
const report = withRanges(
  () => new Response('id,name\n1,range-serve\n2,fetch\n', { headers: { 'content-type': 'text/csv; charset=utf-8' } }),
);
app.get('/report.csv', (c) => report(c.req.raw));

serve({ fetch: app.fetch, port: 8081, hostname: '127.0.0.1' }, (info) =>
  console.log(`http://127.0.0.1:${info.port}/static/`),
);
