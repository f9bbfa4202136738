/**
 * Express's own body parsers in front of the uploads, in the order users write them: `express.json()`
 * leaves upload bodies alone, `express.raw({ type: '*' + '/*' })` reads them, which is reported to
 * `next(err)` and never stored as a short upload.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { resumableUploads } from '@range-serve/express';
import express5, { type Express, type NextFunction, type Request, type Response } from 'express';
import express4 from 'express4';
import { send } from './raw.ts';

const TUS = { 'tus-resumable': '1.0.0' };
const PATCH = { ...TUS, 'content-type': 'application/offset+octet-stream', 'upload-offset': '0' };

for (const [name, express] of [
  ['Express 4', express4 as unknown as typeof express5],
  ['Express 5', express5],
] as const) {
  describe(`${name} body parsers before resumableUploads`, () => {
    const dirs: string[] = [];
    after(() => {
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    });

    async function start(parser: 'json' | 'raw'): Promise<{ url: string; errors: unknown[]; close: () => void }> {
      const dir = mkdtempSync(path.join(tmpdir(), 'range-serve-parsers-'));
      dirs.push(dir);
      const app: Express = express();
      const errors: unknown[] = [];
      app.use(parser === 'json' ? express.json() : express.raw({ type: '*/*' }));
      app.use('/files', resumableUploads({ directory: dir }));
      app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
        errors.push(err);
        res.status(500).type('text/plain').send('error');
      });
      const server = app.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const { port } = server.address() as AddressInfo;
      return {
        url: `http://127.0.0.1:${port}`,
        errors,
        close: () => {
          server.closeAllConnections();
          server.close();
        },
      };
    }

    it('express.json() leaves upload bodies to the uploads', async () => {
      const s = await start('json');
      try {
        const created = await send(s.url, '/files', 'POST', { ...TUS, 'upload-length': '5' });
        const patch = await send(s.url, created.headers.location ?? '', 'PATCH', PATCH, Buffer.from('hello'));
        assert.equal(patch.status, 204);
        assert.equal((await send(s.url, created.headers.location ?? '', 'GET')).body.toString(), 'hello');
        assert.deepEqual(s.errors, []);
      } finally {
        s.close();
      }
    });

    it('express.raw() reading the body first is reported to next(err) and nothing is stored', async () => {
      const s = await start('raw');
      try {
        const created = await send(s.url, '/files', 'POST', { ...TUS, 'upload-length': '5' });
        const patch = await send(s.url, created.headers.location ?? '', 'PATCH', PATCH, Buffer.from('hello'));
        assert.equal(patch.status, 500);
        assert.equal(s.errors.length, 1);
        assert.equal((s.errors[0] as Error).name, 'ConsumedBodyError');
        const head = await send(s.url, created.headers.location ?? '', 'HEAD', TUS);
        assert.equal(head.headers['upload-offset'], '0');
      } finally {
        s.close();
      }
    });
  });
}
