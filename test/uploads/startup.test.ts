/**
 * An upload directory that cannot be opened at start-up (a file in its place, a volume not mounted yet)
 * fails the requests that arrive meanwhile with a 500 through the framework's error handling, and the
 * first request after the cause is gone opens it: a passing failure needs no restart.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import express4 from 'express4';
import express5 from 'express';
import Koa2 from 'koa2';
import Koa3 from 'koa';
import { expressUploadFactory, koaUploadFactory, type UploadServerFactory } from './factory.ts';
import { send } from './raw.ts';

const CREATE = { 'tus-resumable': '1.0.0', 'upload-length': '5' };

const adapters: Array<[string, UploadServerFactory]> = [
  ['Express 4', expressUploadFactory(express4 as never)],
  ['Express 5', expressUploadFactory(express5)],
  ['Koa 2', koaUploadFactory(Koa2 as never)],
  ['Koa 3', koaUploadFactory(Koa3)],
];

for (const [name, factory] of adapters) {
  describe(`an upload directory that could not be opened at start-up (${name})`, () => {
    const parents: string[] = [];
    const closers: Array<() => Promise<void>> = [];
    after(async () => {
      for (const close of closers) await close();
      for (const dir of parents) rmSync(dir, { recursive: true, force: true });
    });

    it('is opened again by the first request after the cause is gone', async () => {
      const parent = mkdtempSync(path.join(tmpdir(), 'range-serve-startup-'));
      parents.push(parent);
      const directory = path.join(parent, 'uploads');
      writeFileSync(directory, 'a file where the directory should be');
      const server = await factory({ options: { directory } });
      closers.push(() => server.close());

      const refused = await send(server.baseUrl, '/files', 'POST', CREATE);
      assert.equal(refused.status, 500);
      assert.equal(refused.headers.location, undefined);

      rmSync(directory);
      const created = await send(server.baseUrl, '/files', 'POST', CREATE);
      assert.equal(created.status, 201, created.body.toString());
      assert.match(created.headers.location ?? '', /^\/files\/[A-Za-z0-9_-]{22}$/);
      const offset = await send(server.baseUrl, created.headers.location ?? '', 'HEAD', { 'tus-resumable': '1.0.0' });
      assert.equal(offset.status, 200);
      assert.equal(offset.headers['upload-offset'], '0');
      assert.equal(offset.headers['upload-length'], '5');
    });
  });
}
