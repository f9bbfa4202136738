// Upload clients that go away: 2,000 appends per adapter whose clients disconnect at a random point
// (while sending the request head, right after it, mid-body, after the whole body, with a reset), mixed
// with appends that finish. Afterwards the descriptors are back at the baseline, and every offset that
// was acknowledged was on disk (metadata) when its answer came, with the exact bytes below it.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import express from 'express';
import Koa from 'koa';
import {
  expressUploadFactory,
  koaUploadFactory,
  type RunningServer,
  type UploadServerFactory,
} from '../uploads/factory.ts';
import { send } from '../uploads/raw.ts';
import { activeResources, eventually, fdCount } from './resources.ts';

const APPENDS = Number(process.env.UPLOAD_ABORT_APPENDS ?? 2_000);
const UPLOADS = 40;
const CONCURRENCY = 16;
const SIZE = 4 * 1024 * 1024;
const TUS = { 'tus-resumable': '1.0.0' };

type Ending = 'request-head' | 'after-head' | 'mid-body' | 'whole-body' | 'reset' | 'finished';
const ENDINGS: readonly Ending[] = [
  'request-head',
  'after-head',
  'mid-body',
  'mid-body',
  'whole-body',
  'reset',
  'finished',
];

const FACTORIES: readonly [string, UploadServerFactory][] = [
  ['Express 5', expressUploadFactory(express)],
  ['Koa 3', koaUploadFactory(Koa)],
];

interface Upload {
  readonly location: string;
  readonly id: string;
  readonly content: Buffer;
  acknowledged: number;
  busy: boolean;
}

/** One PATCH of `length` bytes from `offset`, written raw and ended as `ending` says; the answer's status and offset. */
function append(
  baseUrl: string,
  upload: Upload,
  offset: number,
  length: number,
  ending: Ending,
): Promise<{ status: number; offset: number | undefined } | undefined> {
  const url = new URL(baseUrl);
  const head = Buffer.from(
    `PATCH ${upload.location} HTTP/1.1\r\nHost: ${url.host}\r\nTus-Resumable: 1.0.0\r\n` +
      `Content-Type: application/offset+octet-stream\r\nUpload-Offset: ${offset}\r\nContent-Length: ${length}\r\n` +
      'Connection: close\r\n\r\n',
  );
  const body = upload.content.subarray(offset, offset + length);
  return new Promise((resolve) => {
    const socket = net.connect(Number(url.port), url.hostname);
    let text = '';
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    socket.on('close', () => {
      const status = /^HTTP\/1\.1 (\d{3})/.exec(text);
      const stated = /\r\nupload-offset: (\d+)\r\n/i.exec(text);
      resolve(
        status === null ? undefined : { status: Number(status[1]), offset: stated ? Number(stated[1]) : undefined },
      );
    });
    socket.on('connect', () => {
      switch (ending) {
        case 'request-head':
          socket.write(head.subarray(0, 1 + Math.floor(Math.random() * (head.length - 2))));
          setTimeout(() => socket.destroy(), Math.random() * 5);
          return;
        case 'after-head':
          socket.write(head, () => setTimeout(() => socket.destroy(), Math.random() * 5));
          return;
        case 'mid-body':
          socket.write(head);
          socket.write(body.subarray(0, Math.floor(Math.random() * length)), () =>
            setTimeout(() => socket.destroy(), Math.random() * 10),
          );
          return;
        case 'whole-body':
          socket.write(head);
          socket.write(body, () => socket.destroy());
          return;
        case 'reset':
          socket.write(head);
          socket.write(body.subarray(0, Math.floor(Math.random() * length)), () => socket.resetAndDestroy());
          return;
        case 'finished':
          socket.write(head);
          socket.write(body);
      }
    });
  });
}

for (const [name, factory] of FACTORIES) {
  describe(`${name}: ${APPENDS} upload appends whose clients go away`, () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'range-serve-upload-aborts-'));
    let server: RunningServer;
    before(async () => {
      server = await factory({ options: { directory: dir, idleTimeout: 2_000 } });
    });
    after(async () => {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('descriptors return to the baseline and every acknowledged offset is durable with its exact bytes', async () => {
      const uploads: Upload[] = [];
      for (let i = 0; i < UPLOADS; i++) {
        const created = await send(server.baseUrl, '/files', 'POST', { ...TUS, 'upload-length': String(SIZE) });
        assert.equal(created.status, 201);
        const location = created.headers.location ?? '';
        uploads.push({
          location,
          id: location.slice('/files/'.length),
          content: randomBytes(SIZE),
          acknowledged: 0,
          busy: false,
        });
      }
      await sleep(100);
      // A FileHandle left open is closed by the garbage collector with a warning: a leak even if the count recovers.
      const leaks: string[] = [];
      const onWarning = (w: Error): void => void (/file descriptor/i.test(w.message) && leaks.push(w.message));
      process.on('warning', onWarning);
      const baseline = fdCount();
      const baseResources = activeResources();
      const durable = (upload: Upload): number =>
        (JSON.parse(readFileSync(path.join(dir, `${upload.id}.json`), 'utf8')) as { offset: number }).offset;
      const counts = new Map<string, number>();
      const count = (key: string): void => void counts.set(key, (counts.get(key) ?? 0) + 1);
      let next = 0;
      let peak = baseline;
      const problems: string[] = [];
      const worker = async (): Promise<void> => {
        while (next < APPENDS) {
          const n = next++;
          const upload = uploads.find((u) => !u.busy && u.acknowledged < SIZE) ?? uploads[n % UPLOADS];
          if (upload === undefined || upload.busy || upload.acknowledged >= SIZE) {
            count('no upload free');
            continue;
          }
          upload.busy = true;
          try {
            const head = await send(server.baseUrl, upload.location, 'HEAD', TUS);
            const offset = Number(head.headers['upload-offset']);
            if (offset < upload.acknowledged) problems.push(`${upload.id}: HEAD ${offset} < ${upload.acknowledged}`);
            const length = Math.min(SIZE - offset, 1 + Math.floor(Math.random() * 128 * 1024));
            if (length === 0) {
              count('upload already full');
              continue;
            }
            const ending = ENDINGS[n % ENDINGS.length] as Ending;
            count(ending);
            const answer = await append(server.baseUrl, upload, offset, length, ending);
            peak = Math.max(peak, fdCount());
            if (answer !== undefined) count(String(answer.status));
            if (answer?.status === 204 && answer.offset !== undefined) {
              // Acknowledged: its metadata was durable before the answer was sent.
              const onDisk = durable(upload);
              if (onDisk < answer.offset)
                problems.push(`${upload.id}: acknowledged ${answer.offset}, on disk ${onDisk}`);
              upload.acknowledged = Math.max(upload.acknowledged, answer.offset);
            } else if (ending === 'finished') problems.push(`finished append answered ${answer?.status}`);
          } finally {
            upload.busy = false;
          }
        }
      };
      const start = Date.now();
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
      const settled = await eventually(() => fdCount() <= baseline, 10_000);
      const fds = fdCount();
      console.log(
        `  ${name}: ${APPENDS} appends in ${Date.now() - start} ms (${JSON.stringify(Object.fromEntries(counts))}); fds baseline ${baseline}, peak ${peak}, after ${fds}`,
      );
      process.off('warning', onWarning);
      assert.deepEqual(leaks.slice(0, 3), [], 'descriptors closed by the garbage collector');
      assert.deepEqual(problems.slice(0, 5), []);
      assert.ok(settled, `descriptors ${fds} after the appends, baseline ${baseline}`);
      assert.ok(peak > baseline, 'the load opened descriptors, or the measure proves nothing');
      const resources = activeResources();
      for (const kind of ['TCPSocketWrap', 'FSReqCallback', 'FileHandle']) {
        assert.equal(resources[kind] ?? 0, baseResources[kind] ?? 0, `${kind} left: ${JSON.stringify(resources)}`);
      }
      for (const upload of uploads) {
        const offset = durable(upload);
        assert.ok(
          offset >= upload.acknowledged,
          `${upload.id}: durable ${offset} < acknowledged ${upload.acknowledged}`,
        );
        const stored = readFileSync(path.join(dir, upload.id));
        assert.ok(stored.subarray(0, offset).equals(upload.content.subarray(0, offset)), `${upload.id}: wrong bytes`);
      }
    });
  });
}
