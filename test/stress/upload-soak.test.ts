// A bounded upload soak: Express 5 and Koa 3 serve uploads from this process at once while workers
// create uploads, append to them, cut appends off and resume from a HEAD, ask for offsets, and download
// finished uploads (whole and ranged). No error beyond the cut-offs injected on purpose, every stored
// and downloaded byte exact, descriptors and memory flat from the first window to the last. Figures printed.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import Koa from 'koa';
import {
  expressUploadFactory,
  koaUploadFactory,
  type RunningServer,
  type UploadServerFactory,
} from '../uploads/factory.ts';
import { openRequest, pause, send } from '../uploads/raw.ts';
import { collectGarbage, eventually, fdCount, median, outsideHeapMiB, rssMiB } from './resources.ts';

const SECONDS = Number(process.env.UPLOAD_SOAK_SECONDS ?? 60);
const WINDOW = Math.min(10, SECONDS / 4);
const WORKERS_PER_ADAPTER = 6;
const MAX_SIZE = 1024 * 1024;
const FD_SLACK = 8;
const RSS_SLACK_MIB = 48;
const LIVE_SLACK_MIB = 8;
const TUS = { 'tus-resumable': '1.0.0' };
const PATCH = { ...TUS, 'content-type': 'application/offset+octet-stream' };

const FACTORIES: readonly [string, UploadServerFactory][] = [
  ['Express 5', expressUploadFactory(express)],
  ['Koa 3', koaUploadFactory(Koa)],
];

describe(`upload soak: ${SECONDS} s of creations, appends, resumes, HEADs and downloads on both adapters`, () => {
  const root = mkdtempSync(path.join(tmpdir(), 'range-serve-upload-soak-'));
  const servers: RunningServer[] = [];
  before(async () => {
    for (const [name, factory] of FACTORIES) {
      servers.push(
        await factory({ options: { directory: path.join(root, name.replace(' ', '-')), idleTimeout: 2_000 } }),
      );
    }
  });
  after(async () => {
    for (const s of servers) await s.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('no errors beyond the injected ones; descriptors and memory flat; figures printed', async () => {
    const liveMemory = () => {
      collectGarbage();
      const m = process.memoryUsage();
      return { heap: m.heapUsed / 2 ** 20, buffers: m.arrayBuffers / 2 ** 20 };
    };
    // Warm up each adapter once (module caches, first directory scans), then take the baselines.
    for (const s of servers) {
      const created = await send(s.baseUrl, '/files', 'POST', { ...TUS, 'upload-length': '1' });
      await send(
        s.baseUrl,
        created.headers.location ?? '',
        'PATCH',
        { ...PATCH, 'upload-offset': '0' },
        Buffer.from('x'),
      );
    }
    // A FileHandle left open is closed by the garbage collector with a warning: a leak even if the count recovers.
    const leaks: string[] = [];
    const onWarning = (w: Error): void => void (/file descriptor/i.test(w.message) && leaks.push(w.message));
    process.on('warning', onWarning);
    const baselineFds = fdCount();
    const before = liveMemory();
    const counts = new Map<string, number>();
    const count = (key: string): void => void counts.set(key, (counts.get(key) ?? 0) + 1);
    const errors: string[] = [];
    let bytes = 0;
    const start = Date.now();
    const deadline = start + SECONDS * 1000;
    const samples: { t: number; fds: number; rss: number; outside: number }[] = [];
    const sampler = setInterval(
      () => samples.push({ t: (Date.now() - start) / 1000, fds: fdCount(), rss: rssMiB(), outside: outsideHeapMiB() }),
      500,
    );

    const offsetOf = async (baseUrl: string, location: string): Promise<number> => {
      const head = await send(baseUrl, location, 'HEAD', TUS);
      assert.equal(head.status, 200, `HEAD ${head.status}`);
      count('head');
      return Number(head.headers['upload-offset']);
    };

    /** One upload from creation to a checked download, with appends, cut-offs and resumes on the way. */
    const oneUpload = async (baseUrl: string): Promise<void> => {
      const content = randomBytes(1 + Math.floor(Math.random() * MAX_SIZE));
      // Creation, sometimes with the first bytes in it (creation-with-upload).
      const first = Math.random() < 0.3 ? Math.floor(Math.random() * content.length) : 0;
      const created = await send(
        baseUrl,
        '/files',
        'POST',
        { ...(first > 0 ? PATCH : TUS), 'upload-length': String(content.length) },
        first > 0 ? content.subarray(0, first) : undefined,
      );
      assert.equal(created.status, 201, `creation ${created.status}`);
      count('create');
      const location = created.headers.location ?? '';
      let offset = Number(created.headers['upload-offset']);
      assert.equal(offset, first);
      // Bounded: every turn stores bytes or cuts an append off (at most three in a row).
      for (let turn = 0; offset < content.length && turn < 50; turn++) {
        const size = Math.min(content.length - offset, 1 + Math.floor(Math.random() * 256 * 1024));
        if (Math.random() < 0.25 && turn % 4 !== 3) {
          // Injected: an append cut off part-way, then a resume from the offset a HEAD reports.
          const open = await openRequest(
            baseUrl,
            location,
            'PATCH',
            { ...PATCH, 'upload-offset': String(offset), 'content-length': String(size) },
            content.subarray(offset, offset + Math.floor(size / 2)),
          );
          await pause(5);
          open.cut();
          await open.reply;
          count('cut (injected)');
          const resumed = await offsetOf(baseUrl, location);
          assert.ok(resumed >= offset, `offset went back from ${offset} to ${resumed}`);
          offset = resumed;
          count('resume');
          continue;
        }
        const res = await send(
          baseUrl,
          location,
          'PATCH',
          { ...PATCH, 'upload-offset': String(offset) },
          content.subarray(offset, offset + size),
        );
        assert.equal(res.status, 204, `append ${res.status}`);
        count('append');
        offset += size;
        assert.equal(res.headers['upload-offset'], String(offset));
        if (Math.random() < 0.3) assert.equal(await offsetOf(baseUrl, location), offset);
      }
      assert.equal(offset, content.length, 'the upload finished');
      // Downloads: whole, and a range.
      const whole = await send(baseUrl, location, 'GET');
      assert.equal(whole.status, 200);
      assert.ok(whole.body.equals(content), 'downloaded bytes differ');
      bytes += whole.body.length;
      count('download');
      const a = Math.floor(Math.random() * content.length);
      const ranged = await send(baseUrl, location, 'GET', { range: `bytes=${a}-` });
      assert.equal(ranged.status, 206);
      assert.ok(ranged.body.equals(content.subarray(a)), 'ranged bytes differ');
      count('ranged download');
      // Termination now and then, so the directory does not only grow.
      if (Math.random() < 0.5) {
        const gone = await send(baseUrl, location, 'DELETE', TUS);
        assert.equal(gone.status, 204);
        count('delete');
      }
    };

    const worker = async (baseUrl: string): Promise<void> => {
      while (Date.now() < deadline) {
        try {
          await oneUpload(baseUrl);
        } catch (err) {
          errors.push((err as Error).message);
        }
      }
    };
    await Promise.all(servers.flatMap((s) => Array.from({ length: WORKERS_PER_ADAPTER }, () => worker(s.baseUrl))));
    clearInterval(sampler);
    const elapsed = (Date.now() - start) / 1000;
    const first = samples.filter((s) => s.t < WINDOW);
    const last = samples.filter((s) => s.t >= elapsed - WINDOW);
    const fig = (xs: typeof samples, k: 'fds' | 'rss' | 'outside') => {
      const v = xs.map((s) => s[k]);
      return { median: median(v), min: Math.min(...v), max: Math.max(...v) };
    };
    const f = {
      fdsFirst: fig(first, 'fds'),
      fdsLast: fig(last, 'fds'),
      rssFirst: fig(first, 'rss'),
      rssLast: fig(last, 'rss'),
      outsideFirst: fig(first, 'outside'),
      outsideLast: fig(last, 'outside'),
    };
    const settled = await eventually(() => fdCount() <= baselineFds, 5_000);
    let live = liveMemory();
    await eventually(() => {
      live = liveMemory();
      return live.heap <= before.heap + LIVE_SLACK_MIB && live.buffers <= before.buffers + LIVE_SLACK_MIB;
    }, 3_000);
    const r = (x: { median: number; min: number; max: number }, d = 0) =>
      `median ${x.median.toFixed(d)} (min ${x.min.toFixed(d)}, max ${x.max.toFixed(d)})`;
    const requests = [...counts.values()].reduce((a, b) => a + b, 0);
    console.log(
      [
        `  upload soak: ${elapsed.toFixed(1)} s, ${servers.length} adapters x ${WORKERS_PER_ADAPTER} workers, ${requests} requests (${(requests / elapsed).toFixed(0)}/s), ${(bytes / 2 ** 20).toFixed(0)} MiB downloaded`,
        `  mix: ${JSON.stringify(Object.fromEntries(counts))}`,
        `  errors: ${errors.length}`,
        `  fds: baseline ${baselineFds}; first ${WINDOW} s ${r(f.fdsFirst)}; last ${WINDOW} s ${r(f.fdsLast)}; after the load ${fdCount()}`,
        `  RSS MiB: first ${WINDOW} s ${r(f.rssFirst, 1)}; last ${WINDOW} s ${r(f.rssLast, 1)}`,
        `  outside the V8 heap (RSS - heapTotal), MiB: first ${WINDOW} s ${r(f.outsideFirst, 1)}; last ${WINDOW} s ${r(f.outsideLast, 1)}`,
        `  after a GC, MiB: before the load heap ${before.heap.toFixed(1)}, ArrayBuffers ${before.buffers.toFixed(1)}; after it heap ${live.heap.toFixed(1)}, ArrayBuffers ${live.buffers.toFixed(1)}`,
      ].join('\n'),
    );
    process.off('warning', onWarning);
    assert.deepEqual(leaks.slice(0, 3), [], 'descriptors closed by the garbage collector');
    assert.deepEqual(errors.slice(0, 10), []);
    assert.ok((counts.get('download') ?? 0) > 10 && (counts.get('cut (injected)') ?? 0) > 0, 'the load ran');
    assert.ok(f.fdsLast.median <= f.fdsFirst.max + FD_SLACK, 'descriptors grew from the first window to the last');
    assert.ok(
      f.outsideLast.median <= f.outsideFirst.median + RSS_SLACK_MIB,
      'resident memory outside the V8 heap grew from the first window to the last',
    );
    assert.ok(
      live.heap <= before.heap + LIVE_SLACK_MIB,
      `live heap ${before.heap.toFixed(1)} -> ${live.heap.toFixed(1)} MiB`,
    );
    assert.ok(
      live.buffers <= before.buffers + LIVE_SLACK_MIB,
      `ArrayBuffers ${before.buffers.toFixed(1)} -> ${live.buffers.toFixed(1)} MiB`,
    );
    assert.ok(settled, `descriptors ${fdCount()} after the load, baseline ${baselineFds}`);
  });
});
