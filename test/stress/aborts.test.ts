// Aborts: 2,000 requests per adapter whose clients go away in random states (while
// sending the request head, before the answer, after the response head, mid-body, mid multipart part,
// after stalling the server with a full socket, with a reset). Afterwards the process's descriptors
// (/proc/self/fd) are back at the baseline and no socket or file request is left open.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RunningServer } from '../conformance/scenarios.ts';
import { ADAPTERS } from '../hardening/adapters.ts';
import { buildRequest, exchange } from '../hardening/raw.ts';
import { type Fixtures, makeFixtures } from '../helpers/fixtures.ts';
import { activeResources, eventually, fdCount } from './resources.ts';

const REQUESTS = Number(process.env.ABORT_REQUESTS ?? 2_000);
const CONCURRENCY = 32;
const SIZE = 4 * 1024 * 1024;

type State = 'request-head' | 'before-answer' | 'response-head' | 'mid-body' | 'mid-part' | 'stalled' | 'reset';
const STATES: readonly State[] = [
  'request-head',
  'before-answer',
  'response-head',
  'mid-body',
  'mid-part',
  'stalled',
  'reset',
];

/** One request abandoned in `state`; resolves once the client socket is closed. */
function abandon(baseUrl: string, state: State): Promise<void> {
  const url = new URL(baseUrl);
  const range: [string, string][] =
    state === 'mid-part' ? [['Range', `bytes=0-99,${SIZE / 4}-${SIZE / 2},${SIZE - 1000}-`]] : [];
  const request = buildRequest('/big.bin', range);
  const cut = Math.floor(Math.random() * (SIZE / 2)) + 200;
  return new Promise((resolve) => {
    const socket = net.connect(Number(url.port), url.hostname);
    let received = 0;
    socket.on('error', () => {});
    socket.on('close', () => resolve());
    socket.on('connect', () => {
      if (state === 'request-head') {
        socket.write(request.subarray(0, 1 + Math.floor(Math.random() * (request.length - 4))));
        setTimeout(() => socket.destroy(), Math.random() * 5);
        return;
      }
      socket.write(request);
      if (state === 'before-answer') socket.destroy();
      if (state === 'stalled') {
        // Read nothing: the server's writes back up; then leave.
        socket.pause();
        setTimeout(() => socket.destroy(), 20 + Math.random() * 60);
      }
    });
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (state === 'response-head') socket.destroy();
      else if ((state === 'mid-body' || state === 'mid-part') && received >= cut) socket.destroy();
      else if (state === 'reset' && received >= cut) socket.resetAndDestroy();
    });
  });
}

for (const adapter of ADAPTERS) {
  describe(`${adapter.name}: ${REQUESTS} aborted requests`, () => {
    let fx: Fixtures;
    let server: RunningServer;
    let content: Buffer;
    before(async () => {
      fx = makeFixtures();
      content = randomBytes(SIZE);
      writeFileSync(path.join(fx.root, 'big.bin'), content);
      server = await adapter.factory({ root: fx.root });
    });
    after(async () => {
      await server.close();
      fx.remove();
    });

    it('descriptors return to the baseline and no socket or file request is left open', async () => {
      // Warm up (the root's realpath is resolved once), then take the baseline.
      const warm = await exchange(server.baseUrl, buildRequest('/big.bin', [['Range', 'bytes=0-9']]));
      assert.equal(warm.status, 206);
      await sleep(100);
      const baseline = fdCount();
      const baseResources = activeResources();
      const counts = new Map<State, number>();
      let next = 0;
      let peak = baseline;
      const worker = async () => {
        while (next < REQUESTS) {
          const state = STATES[next++ % STATES.length] as State;
          counts.set(state, (counts.get(state) ?? 0) + 1);
          await abandon(server.baseUrl, state);
          peak = Math.max(peak, fdCount());
        }
      };
      const start = Date.now();
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
      const settled = await eventually(() => fdCount() <= baseline, 10_000);
      const after = fdCount();
      console.log(
        `  ${adapter.name}: ${REQUESTS} aborts in ${Date.now() - start} ms (${JSON.stringify([...counts])}); fds baseline ${baseline}, peak ${peak}, after ${after}`,
      );
      assert.ok(settled, `descriptors ${after} after the aborts, baseline ${baseline}`);
      assert.ok(peak > baseline, 'the load opened descriptors, or the measure proves nothing');
      const resources = activeResources();
      for (const kind of ['TCPSocketWrap', 'FSReqCallback', 'FileHandle']) {
        assert.equal(resources[kind] ?? 0, baseResources[kind] ?? 0, `${kind} left: ${JSON.stringify(resources)}`);
      }
      // And the server still serves the exact bytes.
      const res = await exchange(server.baseUrl, buildRequest('/big.bin'));
      assert.ok(res.body.equals(content));
    });
  });
}
