// What a client can make the upload engine hold in memory: thousands of creations each carrying almost
// the most Upload-Metadata allowed, and finished uploads, cost a bounded heap. The engine keeps an index
// of unfinished uploads and a bounded cache of states; everything else is read from disk when asked for.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { startNodeServer } from '../uploads/node-server.ts';
import { send } from '../uploads/raw.ts';
import { collectGarbage } from './resources.ts';

const CREATIONS = Number(process.env.UPLOAD_MEMORY_CREATIONS ?? 6_000);
const FINISHED = 2_000;
const TUS = { 'tus-resumable': '1.0.0' };
const MiB = 1024 * 1024;
/** The heap the engine may keep for all of them (measured 7 MiB; 30 MiB when every state stayed in memory). */
const BOUND_MiB = 16;

function heapMiB(): number {
  collectGarbage();
  collectGarbage();
  return process.memoryUsage().heapUsed / MiB;
}

/** `count` requests, `concurrency` at a time. */
async function inParallel(count: number, concurrency: number, one: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await one(next++);
    }),
  );
}

describe('upload state held in memory', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'range-serve-upload-memory-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('thousands of creations with nearly 4 KiB of metadata and thousands of finished uploads hold a bounded heap', async (t) => {
    if ((globalThis as { gc?: unknown }).gc === undefined) {
      t.skip('measuring the heap needs node --expose-gc (npm run test:stress passes it)');
      return;
    }
    const server = await startNodeServer({ directory: dir, maxUploads: CREATIONS + FINISHED });
    try {
      // Different values each, so no string is shared between uploads.
      const metadata = (i: number): string => `k ${Buffer.from(`${i}:`.padEnd(3000, 'x')).toString('base64')}`;
      await send(server.baseUrl, '/files', 'POST', { ...TUS, 'upload-length': '1', 'upload-metadata': metadata(-1) });
      const baseline = heapMiB();
      await inParallel(CREATIONS, 16, async (i) => {
        const res = await send(server.baseUrl, '/files', 'POST', {
          ...TUS,
          'upload-length': '10',
          'upload-metadata': metadata(i),
        });
        assert.equal(res.status, 201);
      });
      await inParallel(FINISHED, 16, async (i) => {
        const res = await send(
          server.baseUrl,
          '/files',
          'POST',
          {
            ...TUS,
            'upload-length': '3',
            'upload-metadata': metadata(CREATIONS + i),
            'content-type': 'application/offset+octet-stream',
          },
          Buffer.from('abc'),
        );
        assert.equal(res.status, 201);
      });
      const grown = heapMiB() - baseline;
      console.log(`  heap after ${CREATIONS} creations and ${FINISHED} finished uploads: +${grown.toFixed(1)} MiB`);
      assert.ok(grown < BOUND_MiB, `the heap grew by ${grown.toFixed(1)} MiB`);
    } finally {
      await server.close();
    }
  });
});
