/**
 * The demo's command line (`npm start`):
 *
 *   npm start                              examples/public on Express, http://127.0.0.1:8080/
 *   npm start -- <dir> --port N --koa      another directory, another port, on Koa
 *   options: --host H (default 127.0.0.1), --quiet (no access log),
 *            --uploads DIR (where uploads to /files are kept; default <tmp>/range-serve-demo/uploads)
 */
import { existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type Adapter, startDemo } from './app.ts';
import { ensureBigFile, ensurePrecompressedScript } from './generated.ts';

const PUBLIC = fileURLToPath(new URL('./public', import.meta.url));

function usage(message: string): never {
  console.error(`${message}\nusage: npm start -- [dir] [--port N] [--host H] [--koa] [--quiet] [--uploads DIR]`);
  process.exit(2);
}

let parsed;
try {
  parsed = parseArgs({
    allowPositionals: true,
    options: {
      port: { type: 'string', default: '8080' },
      host: { type: 'string', default: '127.0.0.1' },
      koa: { type: 'boolean', default: false },
      express: { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
      // A fixed folder, so that an upload interrupted by a restart of the demo can still be resumed.
      uploads: { type: 'string', default: path.join(tmpdir(), 'range-serve-demo', 'uploads') },
    },
  });
} catch (err) {
  usage((err as Error).message);
}
const { values, positionals } = parsed;
if (positionals.length > 1) usage('give at most one directory');
const port = Number(values.port);
if (!/^\d+$/.test(values.port) || port > 65535) usage(`--port must be a number from 0 to 65535, not ${values.port}`);
if (values.koa && values.express) usage('choose one of --koa and --express');
const root = path.resolve(positionals[0] ?? PUBLIC);
if (!existsSync(root) || !statSync(root).isDirectory()) usage(`not a directory: ${root}`);
const adapter: Adapter = values.koa ? 'koa' : 'express';

// The page's large download is generated, not committed; it belongs to the demo's own directory only.
if (root === PUBLIC) {
  const big = await ensureBigFile(PUBLIC);
  ensurePrecompressedScript(PUBLIC);
  if (!values.quiet) console.log(`big.bin sha256 ${big.sha256}`);
}

const demo = await startDemo({
  root,
  adapter,
  port,
  host: values.host,
  uploadDirectory: path.resolve(values.uploads),
  onResponse: values.quiet
    ? undefined
    : (e) =>
        console.log(
          `${e.method} ${e.url} ${e.range === undefined ? '' : `range=${e.range} `}${e.ifRange === undefined ? '' : `if-range=${e.ifRange} `}${e.uploadOffset === undefined ? '' : `upload-offset=${e.uploadOffset} `}-> ${e.status}${e.answeredOffset === undefined ? '' : ` upload-offset=${e.answeredOffset}`}${e.complete ? '' : ' (aborted)'}`,
        ),
}).catch((err: NodeJS.ErrnoException) => {
  console.error(
    `could not start: ${err.code === 'EADDRINUSE' ? `port ${port} is in use (try --port 0)` : err.message}`,
  );
  process.exit(1);
});
console.log(`range-serve demo (${adapter === 'koa' ? 'Koa' : 'Express'}) serving ${root} at ${demo.url}`);
console.log(`uploads to ${demo.url}files are kept in ${path.resolve(values.uploads)}`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void demo.close().then(() => process.exit(0));
  });
}
