// docs/behaviour.md "Paths": a corpus of traversal attempts never opens or sends the canary that lies
// outside the root, and each is answered with 400, 403, 404 (ours or the app's fallthrough), a 301 that
// stays on this host, or Node's own 400/414/431 for a request it cannot parse; never 500. Dot segments
// that stay inside the root are resolved and served exactly; a `..` above the root is 403.
import assert from 'node:assert/strict';
import fs, { symlinkSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RunningServer } from '../conformance/scenarios.ts';
import { type Fixtures, makeFixtures } from '../helpers/fixtures.ts';
import { ADAPTERS } from './adapters.ts';
import { buildRequest, exchange, type RawReply } from './raw.ts';

/** Every way of writing `..` we try: plain, percent-encoded (once, twice), overlong UTF-8, mixed case, fullwidth. */
const DOTDOT = [
  '..',
  '%2e%2e',
  '%2E%2e',
  '.%2E',
  '%2e.',
  '%252e%252e',
  '%25%32%65%25%32%65',
  '%c0%ae%c0%ae',
  '%C0%AE.',
  '%e0%80%ae%e0%80%ae',
  '%f0%80%80%ae%f0%80%80%ae',
  '%c0%2e%c0%2e',
  '%uff0e%uff0e',
  '%ef%bc%8e%ef%bc%8e',
  '..%00',
  '..%20',
  '...',
  '.. ',
];
/** Every way of writing a separator after it. */
const SEPARATORS = [
  '/',
  '\\',
  '%2f',
  '%2F',
  '%5c',
  '%5C',
  '%252f',
  '%255c',
  '%c0%af',
  '%c1%9c',
  '%e0%80%af',
  '//',
  '/./',
];

function corpus(fx: Fixtures): string[] {
  const out = new Set<string>();
  for (const dots of DOTDOT) {
    for (const sep of SEPARATORS) {
      for (const depth of [1, 2, 6]) {
        const climb = `${dots}${sep}`.repeat(depth);
        out.add(`/${climb}outside${sep}canary.txt`);
        out.add(`/dir/${climb}${climb}outside/canary.txt`);
      }
      out.add(`/${dots}${sep}${path.basename(fx.dir)}${sep}outside${sep}canary.txt`);
    }
  }
  const abs = path.join(fx.dir, 'outside', 'canary.txt');
  const absEncoded = abs.split('/').map(encodeURIComponent).join('%2f');
  out.add(`/${abs}`);
  out.add(`//${abs.slice(1)}`);
  out.add(`/%2f${abs.slice(1)}`);
  out.add(`/${absEncoded}`);
  out.add(`/.${abs}`);
  out.add(`/\\${abs.slice(1)}`);
  out.add(`/file:${abs}`);
  out.add(`/file:%2f%2f${abs}`);
  for (const drive of ['C:', 'c:', 'C%3A', 'c%3a', 'C:%5c', 'C|', '%43%3a']) {
    out.add(`/${drive}/Windows/win.ini`);
    out.add(`/${drive}\\Windows\\win.ini`);
    out.add(`/${drive}${abs}`);
  }
  for (const host of ['//evil.example', '/\\evil.example', '/%5cevil.example', '/%2fevil.example', '///evil.example']) {
    out.add(host);
    out.add(`${host}/`);
    out.add(`${host}/%2e%2e`);
    out.add(`${host}?q=1`);
  }
  out.add('/\\\\host\\share\\canary.txt');
  out.add('//host/share/canary.txt');
  for (const nul of ['%00', '%2500', '%c0%80']) {
    out.add(`/hello.txt${nul}`);
    out.add(`/hello.txt${nul}.html`);
    out.add(`/${nul}`);
    out.add(`/..${nul}/outside/canary.txt`);
  }
  out.add(`/${'a/'.repeat(3000)}canary.txt`);
  out.add(`/${'x'.repeat(5000)}`);
  out.add(`/${'../'.repeat(5000)}outside/canary.txt`);
  out.add(`/${'%2e%2e%2f'.repeat(3000)}outside/canary.txt`);
  out.add(`/${'x'.repeat(200_000)}`);
  // Symbolic links: one leaving the root (file and directory), and loops.
  out.add('/escape.txt');
  out.add('/escape-dir/canary.txt');
  out.add('/escape-dir/');
  out.add('/escape-dir');
  out.add('/escape-dir/..%2fcanary.txt');
  out.add('/loop-a');
  out.add('/loop-a/');
  out.add('/loop-a/x');
  out.add('/self/self/self');
  out.add('/dir/loop-up/loop-up/loop-up/../outside/canary.txt');
  out.add('/dir/loop-up/');
  for (const [target] of insideTheRoot(fx)) out.add(target);
  for (const target of ABOVE_THE_ROOT_COMING_BACK) out.add(target);
  return [...out];
}

/**
 * Dot segments, plain and percent-encoded, that stay inside the root once resolved (RFC 3986 §5.2.4):
 * each is served as the file it resolves to, with exactly that file's bytes.
 */
function insideTheRoot(fx: Fixtures): [string, Buffer][] {
  const hello = fx.hello;
  const index = Buffer.from(fx.indexHtml);
  const out: [string, Buffer][] = [];
  for (const dots of ['..', '%2e%2e', '%2E%2e', '.%2E', '%2e.']) {
    for (const dot of ['.', '%2e', '%2E']) {
      out.push([`/dir/${dots}/hello.txt`, hello]);
      out.push([`/${dot}/hello.txt`, hello]);
      out.push([`/dir/${dot}/${dots}/${dot}/hello.txt`, hello]);
      out.push([`/dir/${dots}/dir/index.html`, index]);
      out.push([`/empty-dir/${dots}/dir/${dot}/index.html`, index]);
      out.push([`/dir/missing/${dots}/${dots}/hello.txt`, hello]);
      out.push([`/dir/${dots}/dir/${dots}/dir/${dot}/`, index]);
      // A directory named with a trailing dot segment is redirected to its path with the slash first.
      out.push([`/dir/${dots}/dir/${dots}/dir/${dot}`, index]);
      out.push([`//dir//${dots}//hello.txt`, hello]);
    }
  }
  return out;
}

/** A `..` that climbs above the root is refused even when the rest of the path leads back in. */
const ABOVE_THE_ROOT_COMING_BACK = [
  '/../root/hello.txt',
  '/%2e%2e/root/hello.txt',
  '/dir/../../root/hello.txt',
  '/dir/%2e%2e/%2e%2e/root/dir/index.html',
  '/./../root/hello.txt',
];

/** Requests that Node cannot even parse (raw control bytes in the request line). */
const UNPARSEABLE = [Buffer.from('/hello.txt\0'), Buffer.from('/..\0/x'), Buffer.from('/a\x7fb'), Buffer.from('/a\tb')];

for (const adapter of ADAPTERS) {
  for (const config of [
    { label: 'default options', options: {} },
    { label: "fallthrough: false, dotfiles: 'allow'", options: { fallthrough: false, dotfiles: 'allow' as const } },
  ]) {
    describe(`${adapter.name}, ${config.label}: traversal corpus`, () => {
      let fx: Fixtures;
      let server: RunningServer;
      const opened: string[] = [];
      const realOpen = fs.open;

      before(async () => {
        fx = makeFixtures();
        symlinkSync('loop-b', path.join(fx.root, 'loop-a'));
        symlinkSync('loop-a', path.join(fx.root, 'loop-b'));
        symlinkSync('self', path.join(fx.root, 'self'));
        symlinkSync('..', path.join(fx.root, 'dir', 'loop-up'));
        server = await adapter.factory({ root: fx.root, options: config.options });
        // Every open(2) in this process is recorded, so a read of the canary is seen even if no byte of it is sent.
        fs.open = ((...args: Parameters<typeof fs.open>) => {
          opened.push(String(args[0]));
          return Reflect.apply(realOpen, fs, args);
        }) as typeof fs.open;
      });
      after(async () => {
        fs.open = realOpen;
        await server.close();
        fx.remove();
      });

      it('never opens or sends the canary, and answers 400, 403, 404, a same-host 301, a parse error, or a file of the root', async () => {
        const targets: (string | Buffer)[] = [...corpus(fx), ...UNPARSEABLE];
        const statuses = new Map<number, number>();
        const inside = [fx.hello, fx.indexHtml, fx.pageHtml, fx.defaultHtm].map((b) => Buffer.from(b));
        for (const target of targets) {
          const res = await exchange(server.baseUrl, buildRequest(target));
          const what = `GET ${String(target).slice(0, 120)} -> ${res.status}`;
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          assert.equal(res.body.includes(fx.canary), false, `${what}: the canary was sent`);
          // A 200 is allowed only for a file inside the root (`//evil.example/` is the root's own directory).
          if (res.status === 200)
            assert.ok(
              inside.some((b) => b.equals(res.body)),
              `${what}: not a file of the root`,
            );
          else assert.ok([301, 400, 403, 404, 414, 431].includes(res.status), `${what}: not an allowed answer`);
          if (res.status === 301) {
            const location = res.headers.location ?? '';
            assert.match(location, /^\/(?![/\\])/, `${what}: Location ${location} leaves this host`);
          }
          if (res.status === 404) assert.match(res.body.toString(), /^(fallthrough|Not Found)$/, what);
        }
        const outside = path.join(fx.dir, 'outside');
        const escaped = opened.filter((p) => p !== fx.root && !path.resolve(p).startsWith(fx.root + path.sep));
        assert.deepEqual(escaped, [], 'a file outside the root was opened');
        assert.ok(
          opened.every((p) => !p.startsWith(outside)),
          'the canary directory was opened',
        );
        // The corpus must have reached the file system at least sometimes, or the spy proves nothing.
        assert.ok(targets.length > 500, `corpus of ${targets.length}`);
        console.log(`  ${adapter.name}: ${targets.length} targets, statuses ${JSON.stringify([...statuses])}`);
      });

      /**
       * A host that resolves dot segments itself (the URL standard's way: an empty segment counts) hands
       * the adapter another target: the answer must then be exactly the one for that target.
       */
      async function assertAnsweredAsDelivered(target: string, res: RawReply): Promise<boolean> {
        const to = adapter.host?.deliveredTarget?.(target) ?? target;
        if (to === target) return false;
        if (typeof to === 'number') {
          assert.equal(res.status, to, `${target}: answered by the host`);
          return true;
        }
        const direct = await exchange(server.baseUrl, buildRequest(to));
        assert.equal(res.status, direct.status, `${target} arrives as ${to}`);
        assert.deepEqual(res.body, direct.body, `${target} arrives as ${to}`);
        return true;
      }

      it('dot segments that stay inside the root are served with exactly the file they resolve to (a directory after its 301)', async () => {
        const cases = insideTheRoot(fx);
        for (const [target, body] of cases) {
          let res = await exchange(server.baseUrl, buildRequest(target));
          if (await assertAnsweredAsDelivered(target, res)) continue;
          if (/\/(\.|%2e){1,2}$/i.test(target)) {
            assert.equal(res.status, 301, target);
            assert.equal(res.headers.location, '/dir/', target);
            res = await exchange(server.baseUrl, buildRequest(res.headers.location as string));
          }
          assert.equal(res.status, 200, target);
          assert.deepEqual(res.body, body, target);
          assert.equal(res.headers['content-length'], String(body.length), target);
        }
        assert.ok(cases.length >= 100, `${cases.length} cases`);
      });

      it('a .. above the root is 403 even when the path leads back into the root, and nothing is opened', async () => {
        for (const target of ABOVE_THE_ROOT_COMING_BACK) {
          const before = opened.length;
          const res = await exchange(server.baseUrl, buildRequest(target));
          assert.equal(res.body.includes(fx.canary), false, target);
          if (await assertAnsweredAsDelivered(target, res)) continue;
          assert.equal(res.status, 403, target);
          assert.equal(res.body.includes(fx.hello), false, target);
          assert.deepEqual(opened.slice(before), [], `${target}: a refused path was opened`);
        }
      });

      it('the same server still serves a file inside the root, and follows a link that stays inside', async () => {
        const res = await exchange(server.baseUrl, buildRequest('/inside-link.txt'));
        assert.equal(res.status, 200);
        assert.deepEqual(res.body, fx.hello);
        assert.ok(
          opened.some((p) => p.endsWith(`${path.sep}hello.txt`)),
          'the open spy saw the legitimate open',
        );
      });
    });
  }
}
