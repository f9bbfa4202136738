/**
 * Absolute URLs in a final upload's `Upload-Concat` are checked against the origin the app sees: behind
 * a proxy the app trusts (Express `trust proxy`, Koa `app.proxy`), the scheme and host the proxy
 * forwarded; otherwise the request's own `Host`. Express 4/5 and Koa 2/3 answer alike.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import express4 from 'express4';
import express5 from 'express';
import Koa2 from 'koa2';
import Koa3 from 'koa';
import { expressUploadFactory, koaUploadFactory, type UploadServerFactory } from './factory.ts';
import { send } from './raw.ts';

const TUS = { 'tus-resumable': '1.0.0' };
const FORWARDED = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'uploads.example' };

const adapters: Array<[string, UploadServerFactory]> = [
  ['Express 4', expressUploadFactory(express4 as never)],
  ['Express 5', expressUploadFactory(express5)],
  ['Koa 2', koaUploadFactory(Koa2 as never)],
  ['Koa 3', koaUploadFactory(Koa3)],
];

for (const [name, factory] of adapters) {
  describe(`the origin absolute Upload-Concat URLs are checked against (${name})`, () => {
    const dirs: string[] = [];
    const closers: Array<() => Promise<void>> = [];
    after(async () => {
      for (const close of closers) await close();
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    });
    const start = async (trustProxy: boolean) => {
      const dir = mkdtempSync(path.join(tmpdir(), 'range-serve-concat-origin-'));
      dirs.push(dir);
      const server = await factory({ options: { directory: dir }, trustProxy });
      closers.push(() => server.close());
      return server.baseUrl;
    };
    const partial = async (base: string): Promise<string> => {
      const res = await send(
        base,
        '/files',
        'POST',
        { ...TUS, 'content-type': 'application/offset+octet-stream', 'upload-concat': 'partial', 'upload-length': '2' },
        Buffer.from('ok'),
      );
      assert.equal(res.status, 201);
      return res.headers.location ?? '';
    };

    it('behind a trusted proxy, the URL of the forwarded origin names a part and the Host one does not', async () => {
      const base = await start(true);
      const part = await partial(base);
      const own = `https://uploads.example${part}`;
      const made = await send(base, '/files', 'POST', { ...TUS, ...FORWARDED, 'upload-concat': `final;${own}` });
      assert.equal(made.status, 201, made.body.toString());
      const direct = `${base}${part}`;
      const refused = await send(base, '/files', 'POST', { ...TUS, ...FORWARDED, 'upload-concat': `final;${direct}` });
      assert.equal(refused.status, 400);
      assert.equal(refused.body.toString(), `Upload-Concat: ${direct} is on another origin`);
    });

    it('without a trusted proxy, X-Forwarded-* is ignored: only the request’s own Host counts', async () => {
      const base = await start(false);
      const part = await partial(base);
      const forged = `https://uploads.example${part}`;
      const refused = await send(base, '/files', 'POST', { ...TUS, ...FORWARDED, 'upload-concat': `final;${forged}` });
      assert.equal(refused.status, 400);
      assert.equal(refused.body.toString(), `Upload-Concat: ${forged} is on another origin`);
      const made = await send(base, '/files', 'POST', {
        ...TUS,
        ...FORWARDED,
        'upload-concat': `final;${base}${part}`,
      });
      assert.equal(made.status, 201, made.body.toString());
    });
  });
}
