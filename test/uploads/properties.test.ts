/**
 * Property: whatever sequence of whole, cut-off and taken-over appends a client sends, resuming each
 * time from the offset the server reports, the stored upload is exactly the bytes sent, in order.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { startNodeServer } from './node-server.ts';
import { openRequest, pause, send } from './raw.ts';

type Step = { readonly kind: 'whole' | 'cut' | 'take-over'; readonly size: number; readonly sent: number };

const step = fc.record({
  kind: fc.constantFrom<Step['kind']>('whole', 'cut', 'take-over'),
  size: fc.integer({ min: 1, max: 40_000 }),
  sent: fc.integer({ min: 0, max: 40_000 }),
});

describe('interrupted and resumed appends', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'range-serve-upload-props-'));
  let server: Awaited<ReturnType<typeof startNodeServer>>;
  before(async () => {
    server = await startNodeServer({ directory: dir });
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const protocol of ['tus', 'draft'] as const) {
    it(`store exactly the bytes sent, once each, in order (${protocol})`, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.uint8Array({ minLength: 1, maxLength: 120_000 }),
          fc.array(step, { maxLength: 6 }),
          async (bytes, steps) => {
            const content = Buffer.from(bytes);
            const common: Record<string, string> =
              protocol === 'tus' ? { 'tus-resumable': '1.0.0' } : { 'upload-draft-interop-version': '8' };
            const type = protocol === 'tus' ? 'application/offset+octet-stream' : 'application/partial-upload';
            const created = await send(
              server.baseUrl,
              '/files',
              'POST',
              protocol === 'tus'
                ? { ...common, 'upload-length': String(content.length) }
                : { ...common, 'upload-complete': '?0', 'upload-length': String(content.length) },
            );
            assert.equal(created.status, 201);
            const location = created.headers.location ?? '';
            const offsetNow = async (): Promise<number> => {
              const head = await send(server.baseUrl, location, 'HEAD', common);
              return Number(head.headers['upload-offset']);
            };
            const headers = (offset: number, length: number, last: boolean): Record<string, string> => ({
              ...common,
              'content-type': type,
              'upload-offset': String(offset),
              'content-length': String(length),
              ...(protocol === 'draft' ? { 'upload-complete': last ? '?1' : '?0' } : {}),
            });
            let previous = 0;
            // Bounded: at most the generated steps, then one final whole append.
            for (const s of [...steps, { kind: 'whole', size: content.length, sent: 0 } as Step]) {
              const offset = await offsetNow();
              assert.ok(offset >= previous, 'the offset never goes back');
              previous = offset;
              if (offset === content.length) break;
              const end = Math.min(content.length, offset + s.size);
              const chunk = content.subarray(offset, end);
              if (s.kind === 'whole') {
                const res = await send(
                  server.baseUrl,
                  location,
                  'PATCH',
                  headers(offset, chunk.length, end === content.length),
                  chunk,
                );
                assert.equal(res.status, 204);
                assert.equal(res.headers['upload-offset'], String(end));
                continue;
              }
              const first = chunk.subarray(0, Math.min(chunk.length, s.sent));
              const open = await openRequest(
                server.baseUrl,
                location,
                'PATCH',
                headers(offset, chunk.length + 1, false),
                first,
              );
              await pause(20);
              if (s.kind === 'cut') {
                open.cut();
                await open.reply;
              }
              // take-over: the HEAD of the next round ends the open request.
            }
            assert.equal(await offsetNow(), content.length);
            const got = await send(server.baseUrl, location, 'GET');
            assert.equal(got.status, 200);
            assert.ok(got.body.equals(content), 'stored bytes differ from the bytes sent');
          },
        ),
        { numRuns: 25 },
      );
    });
  }
});
