/**
 * Contention: 200 appends racing on 20 uploads (ten clients per upload, each resuming from the offset
 * it last heard) store exactly the bytes sent, never state an offset below one already acknowledged,
 * and never answer 5xx: each append is stored whole, answered 409 with the current offset, or cut off by
 * the newer request that took the upload over.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import Koa from 'koa';
import { expressUploadFactory, koaUploadFactory, type RunningServer, type UploadServerFactory } from './factory.ts';
import { openRequest, send, type UploadReply } from './raw.ts';

const UPLOADS = 20;
const CLIENTS = 10;
const SIZE = 96 * 1024;
const TUS = { 'tus-resumable': '1.0.0' };

const FACTORIES: readonly [string, UploadServerFactory][] = [
  ['Express 5', expressUploadFactory(express)],
  ['Koa 3', koaUploadFactory(Koa)],
];

for (const [name, factory] of FACTORIES) {
  describe(`${name}: ${UPLOADS * CLIENTS} appends racing on ${UPLOADS} uploads`, () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'range-serve-upload-race-'));
    let server: RunningServer;
    before(async () => {
      server = await factory({ options: { directory: dir } });
    });
    after(async () => {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('store exactly the bytes sent, keep every offset consistent, and never answer 5xx', async () => {
      const statuses = new Map<string, number>();
      const count = (key: string): void => void statuses.set(key, (statuses.get(key) ?? 0) + 1);
      const uploads = await Promise.all(
        Array.from({ length: UPLOADS }, async () => {
          const created = await send(server.baseUrl, '/files', 'POST', { ...TUS, 'upload-length': String(SIZE) });
          assert.equal(created.status, 201);
          return { location: created.headers.location ?? '', content: randomBytes(SIZE), acknowledged: 0 };
        }),
      );
      const client = async (upload: (typeof uploads)[number]): Promise<void> => {
        let offset = 0;
        // Bounded: each turn either moves the offset, learns a newer one, or loses the race.
        for (let turn = 0; turn < 400 && offset < SIZE; turn++) {
          const floor = upload.acknowledged;
          const size = Math.min(SIZE - offset, 1 + Math.floor(Math.random() * 24 * 1024));
          let res: UploadReply;
          try {
            res = await send(
              server.baseUrl,
              upload.location,
              'PATCH',
              { ...TUS, 'content-type': 'application/offset+octet-stream', 'upload-offset': String(offset) },
              upload.content.subarray(offset, offset + size),
            );
          } catch {
            // Taken over: a newer request for the upload ended this one's connection.
            count('cut off');
            const head = await send(server.baseUrl, upload.location, 'HEAD', TUS);
            assert.equal(head.status, 200);
            offset = Number(head.headers['upload-offset']);
            assert.ok(offset >= floor, `HEAD stated ${offset} after ${floor} was acknowledged`);
            continue;
          }
          count(String(res.status));
          assert.ok(res.status === 204 || res.status === 409, `append answered ${res.status}: ${res.body}`);
          const stated = Number(res.headers['upload-offset']);
          assert.ok(stated >= floor, `${res.status} stated ${stated} after ${floor} was acknowledged`);
          assert.ok(stated <= SIZE);
          if (res.status === 204) {
            assert.equal(stated, offset + size, 'a stored append moves the offset by its own length');
            upload.acknowledged = Math.max(upload.acknowledged, stated);
          }
          offset = stated;
        }
        assert.equal(offset, SIZE, 'the client got to the end');
      };
      await Promise.all(uploads.flatMap((upload) => Array.from({ length: CLIENTS }, () => client(upload))));
      for (const upload of uploads) {
        const id = upload.location.slice('/files/'.length);
        const head = await send(server.baseUrl, upload.location, 'HEAD', TUS);
        assert.equal(head.headers['upload-offset'], String(SIZE));
        assert.ok(
          readFileSync(path.join(dir, id)).equals(upload.content),
          'the stored bytes differ from the bytes sent',
        );
        const got = await send(server.baseUrl, upload.location, 'GET');
        assert.equal(got.status, 200);
        assert.ok(got.body.equals(upload.content));
      }
      console.log(`  ${name}: answers ${JSON.stringify(Object.fromEntries(statuses))}`);
      assert.ok((statuses.get('409') ?? 0) > 0, 'the appends raced');
    });

    it('complete a tus upload whose last byte came in a request that was then cut off', async () => {
      const content = randomBytes(SIZE);
      const created = await send(server.baseUrl, '/files', 'POST', { ...TUS, 'upload-length': String(SIZE) });
      const location = created.headers.location ?? '';
      // Every byte of the upload, in a chunked request that is cut off before its last chunk.
      const open = await openRequest(
        server.baseUrl,
        location,
        'PATCH',
        {
          ...TUS,
          'content-type': 'application/offset+octet-stream',
          'upload-offset': '0',
        },
        content,
      );
      await new Promise((resolve) => setTimeout(resolve, 100));
      open.cut();
      await open.reply;
      const head = await send(server.baseUrl, location, 'HEAD', TUS);
      assert.equal(head.headers['upload-offset'], String(SIZE));
      // A tus client stops at HEAD's offset = length: the upload must already be downloadable.
      const got = await send(server.baseUrl, location, 'GET');
      assert.equal(got.status, 200);
      assert.ok(got.body.equals(content));
    });
  });
}
