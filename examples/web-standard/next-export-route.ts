/**
 * A Next.js App Router route handler whose own body answers ranges, as it would sit in
 * `app/exports/[id]/route.ts`: `withRanges` wraps the handler, and the context Next.js passes as the second
 * argument reaches it unchanged. Typechecked by `npm run typecheck`, without Next.js installed.
 */
import { withRanges } from '@range-serve/fetch';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

/** The export as CSV: a 200 of bytes, so `Range`, `If-Range`, `If-None-Match` and `If-Match` are answered. */
export const GET = withRanges(async (_request: Request, context: { params: Promise<{ id: string }> }) => {
  const { id } = await context.params;
  const csv = `id,export\n${id},${new Date(0).toISOString()}\n`;
  return new Response(csv, { headers: { 'content-type': 'text/csv; charset=utf-8' } });
});
export const HEAD = GET;
