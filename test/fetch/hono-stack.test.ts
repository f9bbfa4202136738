/**
 * The fetch adapter in the Hono stack users write: `compress()` from hono/compress in front of the
 * directory middleware, on @hono/node-server; and what a `Request`'s `Headers` make of a date field sent in
 * two lines. Exact statuses, fields and bytes over raw node:http.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { serve } from '@hono/node-server';
import { rangeServe } from '@range-serve/fetch';
import { Hono } from 'hono';
import { compress } from 'hono/compress';
import type { RunningServer } from '../conformance/scenarios.ts';
import { type Fixtures, makeFixtures } from '../helpers/fixtures.ts';
import { request } from '../helpers/http.ts';
import { running } from '../helpers/server.ts';

describe('fetch adapter behind hono/compress on @hono/node-server', () => {
  let fx: Fixtures;
  let server: RunningServer;
  const text = Buffer.from('range-serve on Hono, compressed on the fly by another layer.\n'.repeat(200));
  const get = (headers: Record<string, string>) => request(server.baseUrl, '/static/page.txt', { headers });

  before(async () => {
    fx = makeFixtures();
    writeFileSync(path.join(fx.root, 'page.txt'), text);
    const app = new Hono();
    app.use(compress());
    const files = rangeServe(fx.root);
    app.use('/static/*', async (c, next) => (await files(c.req.raw, '/static')) ?? next());
    server = await running(serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server);
  });
  after(async () => {
    await server.close();
    fx.remove();
  });

  it('a compressed 200 carries the weak form of the ETag and Vary: Accept-Encoding', async () => {
    const identity = await get({});
    const strong = identity.headers.etag as string;
    assert.match(strong, /^"/);
    const res = await get({ 'accept-encoding': 'gzip' });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-encoding'], 'gzip');
    assert.equal(res.headers.etag, `W/${strong}`);
    assert.match(res.headers.vary ?? '', /accept-encoding/i);
    assert.deepEqual(gunzipSync(res.body), text);
  });

  it('a range is a 206 of identity bytes, never compressed', async () => {
    const res = await get({ 'accept-encoding': 'gzip', range: 'bytes=100-199' });
    assert.equal(res.status, 206);
    assert.equal(res.headers['content-encoding'], undefined);
    assert.equal(res.headers['content-range'], `bytes 100-199/${text.length}`);
    assert.equal(res.headers['content-length'], '100');
    assert.deepEqual(res.body, text.subarray(100, 200));
  });

  it('If-Range with the weak ETag of the compressed body never selects identity bytes: the whole body', async () => {
    const weak = (await get({ 'accept-encoding': 'gzip' })).headers.etag as string;
    const res = await get({ 'accept-encoding': 'gzip', range: 'bytes=100-199', 'if-range': weak });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-range'], undefined);
    assert.deepEqual(gunzipSync(res.body), text);
  });

  it('If-None-Match with the weak ETag of the compressed body is a 304', async () => {
    const weak = (await get({ 'accept-encoding': 'gzip' })).headers.etag as string;
    const res = await get({ 'accept-encoding': 'gzip', 'if-none-match': weak });
    assert.equal(res.status, 304);
    assert.equal(res.body.length, 0);
  });
});

describe('fetch adapter on @hono/node-server: a date field sent in two lines', () => {
  let fx: Fixtures;
  let server: RunningServer;

  before(async () => {
    fx = makeFixtures();
    const app = new Hono();
    const files = rangeServe(fx.root);
    app.use('*', async (c, next) => (await files(c.req.raw)) ?? next());
    server = await running(serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server);
  });
  after(async () => {
    await server.close();
    fx.remove();
  });

  it('two If-Modified-Since lines reach the handler joined, and a field holding two dates is ignored', async () => {
    const { headers } = await request(server.baseUrl, '/hello.txt');
    const lastModified = headers['last-modified'] as string;
    const one = await request(server.baseUrl, '/hello.txt', { headers: { 'if-modified-since': lastModified } });
    assert.equal(one.status, 304);
    const two = await request(server.baseUrl, '/hello.txt', {
      // Two field lines (a list under a name Node's types leave open).
      headers: { 'If-Modified-Since': [lastModified, 'Thu, 01 Jan 1970 00:00:00 GMT'] },
    });
    assert.equal(two.status, 200);
    assert.deepEqual(two.body, fx.hello);
  });
});
