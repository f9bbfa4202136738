// Slow clients: one client per adapter, all at once, reads a 100 MiB file at 10 KiB/s
// for READ_SECONDS, then goes away. The server must not buffer the file: resident memory stays within a
// few MiB of the baseline (buffering even one of the four would add 100 MiB), and the descriptors return.
import assert from 'node:assert/strict';
import { openSync, closeSync, ftruncateSync, writeSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RunningServer } from '../conformance/scenarios.ts';
import { ADAPTERS } from '../hardening/adapters.ts';
import { buildRequest, exchange } from '../hardening/raw.ts';
import { type Fixtures, makeFixtures } from '../helpers/fixtures.ts';
import { collectGarbage, eventually, fdCount, rssMiB } from './resources.ts';

const SIZE = 100 * 1024 * 1024;
const RATE = 10 * 1024; // bytes per second
const READ_SECONDS = Number(process.env.SLOW_READ_SECONDS ?? 20);
/** Allowed growth of resident memory over the baseline, for all four servers together. */
const RSS_LIMIT_MIB = 16;

/** Reads `target` at `RATE` for `seconds`, then destroys the socket; resolves with the bytes read. */
function slowRead(baseUrl: string, target: string, seconds: number): Promise<number> {
  const url = new URL(baseUrl);
  return new Promise((resolve) => {
    const socket = net.connect(Number(url.port), url.hostname, () => socket.write(buildRequest(target)));
    const start = Date.now();
    let received = 0;
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      socket.pause();
      // Resume when the average rate is back down to RATE.
      const due = start + (received / RATE) * 1000;
      setTimeout(() => socket.resume(), Math.max(0, due - Date.now()));
    });
    setTimeout(() => {
      socket.destroy();
      resolve(received);
    }, seconds * 1000);
  });
}

describe(`a 100 MiB file read at 10 KiB/s for ${READ_SECONDS} s through every adapter at once`, () => {
  let fx: Fixtures;
  const servers: RunningServer[] = [];
  before(async () => {
    fx = makeFixtures();
    // A sparse file with data at both ends: 100 MiB to read, nothing to write.
    const fd = openSync(path.join(fx.root, 'huge.bin'), 'w');
    ftruncateSync(fd, SIZE);
    writeSync(fd, Buffer.from('start'), 0, 5, 0);
    writeSync(fd, Buffer.from('end'), 0, 3, SIZE - 3);
    closeSync(fd);
    for (const adapter of ADAPTERS) servers.push(await adapter.factory({ root: fx.root }));
  });
  after(async () => {
    for (const s of servers) await s.close();
    fx.remove();
  });

  it('resident memory stays within a few MiB of the baseline, and the descriptors return', async () => {
    for (const s of servers) {
      const res = await exchange(s.baseUrl, buildRequest('/huge.bin', [['Range', `bytes=0-4,${SIZE - 3}-`]]));
      assert.equal(res.status, 206);
      // Warm-up at full speed, so the baseline includes the heap a fast 8 MiB read leaves behind.
      const warm = await exchange(s.baseUrl, buildRequest('/huge.bin', [['Range', 'bytes=0-8388607']]));
      assert.equal(warm.body.length, 8 * 1024 * 1024);
    }
    collectGarbage();
    await sleep(200);
    const baseRss = rssMiB();
    const baseFds = fdCount();
    let peakRss = baseRss;
    const timeline: string[] = [];
    const t0 = Date.now();
    const sampler = setInterval(() => {
      const rss = rssMiB();
      peakRss = Math.max(peakRss, rss);
      if (timeline.length < (Date.now() - t0) / 2000) timeline.push(rss.toFixed(1));
    }, 100);
    const read = await Promise.all(servers.map((s) => slowRead(s.baseUrl, '/huge.bin', READ_SECONDS)));
    clearInterval(sampler);
    peakRss = Math.max(peakRss, rssMiB());
    const fdsBack = await eventually(() => fdCount() <= baseFds, 5_000);
    console.log(
      `  RSS baseline ${baseRss.toFixed(1)} MiB, peak ${peakRss.toFixed(1)} MiB (+${(peakRss - baseRss).toFixed(1)}); ` +
        `every 2 s: ${timeline.join(' ')}; read ${read.map((n) => `${(n / 1024).toFixed(0)} KiB`).join(', ')}; fds ${baseFds} -> ${fdCount()}`,
    );
    for (const n of read) {
      // About RATE * seconds, give or take one socket read: the clients really were slow, and really read.
      assert.ok(n > RATE * READ_SECONDS * 0.5 && n < RATE * READ_SECONDS + 256 * 1024, `read ${n} bytes`);
    }
    assert.ok(peakRss - baseRss < RSS_LIMIT_MIB, `resident memory grew by ${(peakRss - baseRss).toFixed(1)} MiB`);
    assert.ok(fdsBack, `descriptors ${fdCount()}, baseline ${baseFds}`);
  });
});
