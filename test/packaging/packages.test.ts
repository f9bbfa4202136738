// The four packages as users get them: `npm pack`, installed from the tarballs into a project of its own
// (outside the workspace, each package's dependencies nested under it, so only what a package declares
// can be found) with Express 4 and 5, Koa 2 and 3 and @hono/node-server at the lockfile's versions, then
// one range request through each, from an ESM `import` and from a CommonJS `require`. publint and arethetypeswrong check each
// tarball. Run with `npm run test:packaging` (it builds first); npm's cache is preferred over the network.
// KEEP_PACKAGING=1 keeps the temporary project for a look afterwards.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

const repo = path.resolve(import.meta.dirname, '..', '..');
const PACKAGES = ['core', 'express', 'koa', 'fetch'] as const;
type PackageDir = (typeof PACKAGES)[number];

/** The bytes of the file every server is asked for, and the range asked. */
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz';
const RANGE = { header: 'bytes=2-9', contentRange: `bytes 2-9/${ALPHABET.length}`, body: ALPHABET.slice(2, 10) };

/** Every server the scripts start, in the order they report. */
const SERVERS = ['Express 4', 'Express 5', 'Koa 2', 'Koa 3', 'node:http', 'fetch'];

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to its end (never through a shell) and resolves with its exit code and output. */
function run(command: string, args: readonly string[], cwd: string, timeout = 90_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd, timeout, maxBuffer: 32 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

function binary(name: string): string {
  return path.join(repo, 'node_modules', '.bin', name);
}

/** The version the workspace lockfile installs for `node_modules/<name>`. */
function lockedVersion(name: string): string {
  const lock = JSON.parse(readFileSync(path.join(repo, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { version?: string }>;
  };
  const version = lock.packages[`node_modules/${name}`]?.version;
  if (version === undefined) throw new Error(`${name} is not in package-lock.json`);
  return version;
}

/** The one script body both module systems run: starts each server, asks for one range, prints the answers. */
const SCRIPT_BODY = `
const root = process.argv[2];
const file = path.join(root, 'alphabet.txt');
const servers = {
  'Express 4': () => { const app = express4(); app.use(expressRangeServe(root)); return http.createServer(app); },
  'Express 5': () => { const app = express5(); app.use(expressRangeServe(root)); return http.createServer(app); },
  'Koa 2': () => { const app = new Koa2(); app.use(koaRangeServe(root)); return http.createServer(app.callback()); },
  'Koa 3': () => { const app = new Koa3(); app.use(koaRangeServe(root)); return http.createServer(app.callback()); },
  'node:http': () => http.createServer(async (req, res) => {
    serveRepresentation(req, res, await openFile(file, { contentType: 'text/plain; charset=utf-8' }));
  }),
  'fetch': () => {
    const files = fetchRangeServe(root);
    return http.createServer(getRequestListener(async (request) => (await files(request)) ?? new Response(null, { status: 404 })));
  },
};
function ask(server) {
  return new Promise((resolve, reject) => {
    server.listen(0, '127.0.0.1', () => {
      const req = http.get({ host: '127.0.0.1', port: server.address().port, path: '/alphabet.txt',
        headers: { range: ${JSON.stringify(RANGE.header)} }, agent: false }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => server.close(() => resolve({ status: res.statusCode, contentRange: res.headers['content-range'],
          contentLength: res.headers['content-length'], body: Buffer.concat(chunks).toString('latin1') })));
      });
      req.on('error', reject);
    });
  });
}
(async () => {
  const answers = {};
  for (const [name, make] of Object.entries(servers)) answers[name] = await ask(make());
  console.log(JSON.stringify({ resolved, answers }));
})().catch((err) => { console.error(err); process.exit(1); });
`;

const ESM_SCRIPT = `import http from 'node:http';
import path from 'node:path';
import express4 from 'express4';
import express5 from 'express';
import Koa2 from 'koa2';
import Koa3 from 'koa';
import { openFile, serveRepresentation } from '@range-serve/core';
import { rangeServe as expressRangeServe } from '@range-serve/express';
import { rangeServe as koaRangeServe } from '@range-serve/koa';
import { rangeServe as fetchRangeServe } from '@range-serve/fetch';
import { getRequestListener } from '@hono/node-server';
const resolved = Object.fromEntries(['@range-serve/core', '@range-serve/express', '@range-serve/koa', '@range-serve/fetch']
  .map((name) => [name, new URL(import.meta.resolve(name)).pathname]));
${SCRIPT_BODY}`;

const CJS_SCRIPT = `'use strict';
const http = require('node:http');
const path = require('node:path');
const express4 = require('express4');
const express5 = require('express');
const Koa2 = require('koa2');
const Koa3 = require('koa');
const { openFile, serveRepresentation } = require('@range-serve/core');
const { rangeServe: expressRangeServe } = require('@range-serve/express');
const { rangeServe: koaRangeServe } = require('@range-serve/koa');
const { rangeServe: fetchRangeServe } = require('@range-serve/fetch');
const { getRequestListener } = require('@hono/node-server');
const resolved = Object.fromEntries(['@range-serve/core', '@range-serve/express', '@range-serve/koa', '@range-serve/fetch']
  .map((name) => [name, require.resolve(name)]));
${SCRIPT_BODY}`;

interface PackResult {
  readonly name: string;
  readonly filename: string;
  readonly files: readonly { readonly path: string }[];
}

describe('the packages as users install them', { timeout: 240_000 }, () => {
  let work: string;
  let project: string;
  let packed: Record<PackageDir, PackResult>;
  let installed = false;

  before(async () => {
    work = mkdtempSync(path.join(tmpdir(), 'range-serve-packaging-'));
    const tarballs = path.join(work, 'tarballs');
    mkdirSync(tarballs);
    const workspaces = PACKAGES.flatMap((dir) => ['-w', `packages/${dir}`]);
    const pack = await run('npm', ['pack', '--json', '--pack-destination', tarballs, ...workspaces], repo);
    assert.equal(pack.code, 0, `npm pack failed:\n${pack.stderr}`);
    const results = JSON.parse(pack.stdout) as PackResult[];
    packed = Object.fromEntries(
      PACKAGES.map((dir) => {
        const found = results.find((r) => r.name === `@range-serve/${dir}`);
        assert.ok(found, `npm pack made no tarball for @range-serve/${dir}`);
        return [dir, { ...found, filename: path.join(tarballs, path.basename(found.filename)) }];
      }),
    ) as Record<PackageDir, PackResult>;

    project = path.join(work, 'project');
    mkdirSync(project);
    const tarball = (dir: PackageDir): string => `file:${packed[dir].filename}`;
    writeFileSync(
      path.join(project, 'package.json'),
      JSON.stringify(
        {
          name: 'range-serve-packaging-check',
          private: true,
          dependencies: {
            '@range-serve/core': tarball('core'),
            '@range-serve/express': tarball('express'),
            '@range-serve/koa': tarball('koa'),
            '@range-serve/fetch': tarball('fetch'),
            '@hono/node-server': lockedVersion('@hono/node-server'),
            hono: lockedVersion('hono'),
            express: lockedVersion('express'),
            express4: `npm:express@${lockedVersion('express4')}`,
            koa: lockedVersion('koa'),
            koa2: `npm:koa@${lockedVersion('koa2')}`,
          },
          // The adapters' dependency on the core is this tarball, not a version from the registry.
          overrides: { '@range-serve/core': '$@range-serve/core' },
        },
        null,
        2,
      ),
    );
    const install = await run(
      'npm',
      [
        'install',
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        '--ignore-scripts',
        '--install-strategy=nested',
        '--loglevel=error',
      ],
      project,
      180_000,
    );
    assert.equal(install.code, 0, `npm install of the tarballs failed:\n${install.stderr}`);
    installed = true;
    mkdirSync(path.join(project, 'public'));
    writeFileSync(path.join(project, 'public', 'alphabet.txt'), ALPHABET);
    writeFileSync(path.join(project, 'esm.mjs'), ESM_SCRIPT);
    writeFileSync(path.join(project, 'cjs.cjs'), CJS_SCRIPT);
  });
  after(() => {
    if (work !== undefined && process.env.KEEP_PACKAGING === undefined) rmSync(work, { recursive: true, force: true });
  });

  for (const dir of PACKAGES) {
    it(`@range-serve/${dir}: the tarball holds its README, LICENSE, every file its package.json names, and only dist besides`, () => {
      const files = new Set(packed[dir].files.map((f) => f.path));
      const manifest = JSON.parse(readFileSync(path.join(repo, 'packages', dir, 'package.json'), 'utf8')) as {
        main: string;
        module: string;
        types: string;
        exports: unknown;
      };
      const named = new Set<string>([manifest.main, manifest.module, manifest.types]);
      const walk = (value: unknown): void => {
        if (typeof value === 'string') named.add(value);
        else if (value !== null && typeof value === 'object') Object.values(value).forEach(walk);
      };
      walk(manifest.exports);
      const required = [...named].map((p) => path.posix.normalize(p));
      required.push('README.md', 'LICENSE', 'package.json', 'dist/cjs/package.json');
      assert.deepEqual(
        required.filter((p) => !files.has(p)),
        [],
        'files missing from the tarball',
      );
      assert.deepEqual(
        [...files].filter((p) => !p.startsWith('dist/') && !['README.md', 'LICENSE', 'package.json'].includes(p)),
        [],
        'files in the tarball that users do not need',
      );
      assert.match(
        readFileSync(path.join(repo, 'packages', dir, 'LICENSE'), 'utf8'),
        /^MIT License\n\nCopyright \(c\) 2026 range-serve contributors\n/,
      );
    });
  }

  it('publint --strict finds nothing in any tarball', async () => {
    for (const dir of PACKAGES) {
      const res = await run(binary('publint'), ['run', packed[dir].filename, '--strict'], repo);
      assert.equal(res.code, 0, `publint on @range-serve/${dir}:\n${res.stdout}${res.stderr}`);
      assert.match(res.stdout, /All good!/, `publint on @range-serve/${dir}:\n${res.stdout}`);
    }
  });

  it('arethetypeswrong finds no problem in any tarball, for node10, node16 (ESM and CJS) and bundlers', async () => {
    for (const dir of PACKAGES) {
      const res = await run(binary('attw'), [packed[dir].filename, '--format', 'ascii'], repo);
      assert.equal(res.code, 0, `attw on @range-serve/${dir}:\n${res.stdout}${res.stderr}`);
      assert.match(res.stdout, /No problems found/, `attw on @range-serve/${dir}:\n${res.stdout}`);
    }
  });

  for (const [label, script, dist] of [
    ['an ESM import', 'esm.mjs', 'esm'],
    ['a CommonJS require', 'cjs.cjs', 'cjs'],
  ] as const) {
    it(`${label}: one range request through Express 4, Express 5, Koa 2, Koa 3, node:http and the fetch adapter`, async () => {
      assert.ok(installed, 'the tarballs were not installed');
      const res = await run(process.execPath, [script, path.join(project, 'public')], project, 30_000);
      assert.equal(res.code, 0, `${script} failed:\n${res.stderr}`);
      const { resolved, answers } = JSON.parse(res.stdout) as {
        resolved: Record<string, string>;
        answers: Record<string, { status: number; contentRange: string; contentLength: string; body: string }>;
      };
      for (const dir of PACKAGES) {
        const expected = path.join(project, 'node_modules', '@range-serve', dir, 'dist', dist, 'index.js');
        assert.equal(resolved[`@range-serve/${dir}`], expected, `@range-serve/${dir} resolved to the wrong file`);
      }
      assert.deepEqual(Object.keys(answers), SERVERS);
      for (const name of SERVERS) {
        assert.deepEqual(
          answers[name],
          { status: 206, contentRange: RANGE.contentRange, contentLength: String(RANGE.body.length), body: RANGE.body },
          name,
        );
      }
    });
  }
});
