/**
 * A Next.js App Router route handler serving a directory with @range-serve/fetch, as it would sit in
 * `app/downloads/[...path]/route.ts`: `/downloads/a/b.iso` serves `<project>/downloads/a/b.iso` with ranges,
 * multipart, If-Range, 304 and 412. Only the Web-standard types are used, so `npm run typecheck` checks it
 * without Next.js installed (no Next.js server runs in CI).
 */
import path from 'node:path';
import { rangeServe } from '@range-serve/fetch';

// range-serve reads files with node:fs: the route runs on the Node.js runtime, and every request is answered
// fresh (its Range and validators are its own), never prerendered.
export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

const files = rangeServe(path.join(process.cwd(), 'downloads'), { maxAge: '1h' });

/** GET and HEAD of a file under /downloads; anything that is not a file there is a 404. */
export async function GET(request: Request): Promise<Response> {
  return (await files(request, '/downloads')) ?? new Response('Not Found', { status: 404 });
}
export const HEAD = GET;
