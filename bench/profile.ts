/**
 * A CPU profile of one benchmark server under one conditional or range workload, summarised per request
 * (bench/profiles/304.md was made this way):
 *
 *   node --import tsx bench/profile.ts SERVER [304|if-range|range] [SECONDS]
 *
 * Starts `bench/servers.ts SERVER` under `node --cpu-prof` pinned to cpu 1, loads it from cpu 0 with wrk
 * (64 connections; 2 s of warm-up, then SECONDS, default 6), stops it with SIGTERM so that the profile
 * is written, and prints bench/profile-summary.ts's tables for the main thread, divided by every
 * request wrk sent. The .cpuprofile stays in .bench-fixtures/profiles/SERVER/ (for Chrome's DevTools).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { BENCH, freePort, REPO, startServer, stop, wrk } from './lib/processes.ts';

const [name, workload = '304', secondsArg = '6'] = process.argv.slice(2);
if (name === undefined) {
  console.error('usage: profile.ts SERVER [304|if-range|range] [SECONDS]');
  process.exit(2);
}
const FIXTURES = path.join(REPO, '.bench-fixtures');
const file = workload === '304' ? '4k.bin' : '1m.bin';
if (!fs.existsSync(path.join(FIXTURES, file))) {
  console.error(`.bench-fixtures/${file} is missing: run npm run bench:http once first`);
  process.exit(2);
}
const out = path.join(FIXTURES, 'profiles', name.replace(/[^\w.+-]/g, '_'));
fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(out, { recursive: true });

const port = await freePort();
const argv = [process.execPath, '--cpu-prof', `--cpu-prof-dir=${out}`, '--import', 'tsx'];
const { child } = await startServer({
  name,
  argv: [...argv, path.join(BENCH, 'servers.ts'), name, String(port), FIXTURES],
  ready: port,
});
const etag = await new Promise<string>((resolve, reject) => {
  http
    .request({ host: '127.0.0.1', port, path: `/${file}`, method: 'HEAD' }, (res) => {
      res.resume();
      resolve(String(res.headers.etag ?? ''));
    })
    .on('error', reject)
    .end();
});
const headers: Record<string, string> =
  workload === '304'
    ? { 'if-none-match': etag }
    : workload === 'if-range'
      ? { 'if-range': etag, range: 'bytes=1000-1999' }
      : { range: 'bytes=1000-1999' };
const load = (seconds: number) =>
  wrk({
    url: `http://127.0.0.1:${port}/${file}`,
    connections: 64,
    seconds,
    script: path.join(BENCH, 'wrk-report.lua'),
    headers,
    timeoutSeconds: 30,
  });
const warm = await load(2);
const main = await load(Number(secondsArg));
await stop(child);
const requests = warm.requests + main.requests;
console.log(
  `${name} ${workload}: ${(main.requests / (main.duration_us / 1e6)).toFixed(0)} req/s; ${requests} requests while profiled`,
);
// The main thread is thread 0 (the others are tsx's loader and the platform's workers).
const profile = fs.readdirSync(out).find((f) => /\.0\.\d+\.cpuprofile$/.test(f));
if (profile === undefined) throw new Error(`no profile of the main thread in ${out}`);
const summary = spawnSync(
  process.execPath,
  ['--import', 'tsx', path.join(BENCH, 'profile-summary.ts'), path.join(out, profile), String(requests)],
  { cwd: REPO, encoding: 'utf8' },
);
process.stdout.write(summary.stdout + summary.stderr);
