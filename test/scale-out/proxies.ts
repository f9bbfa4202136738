/**
 * The proxies of the scale-out test, configured from docs/deploying.md: each block marked
 * `<!-- scale-out: name -->` is read as written there, its documented loopback ports and paths replaced
 * by the test's own, and run with Debian's nginx and Varnish. Each proxy runs in the foreground as a
 * child, with its pid, logs, cache and work files in the test's temporary folder, and is stopped by
 * its own pid.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const DOCS = fileURLToPath(new URL('../../docs/deploying.md', import.meta.url));

/** The fenced block after `<!-- scale-out: name -->` in docs/deploying.md. */
export function docsBlock(name: string): string {
  const docs = readFileSync(DOCS, 'utf8');
  const marker = `<!-- scale-out: ${name} -->`;
  const at = docs.indexOf(marker);
  if (at === -1) throw new Error(`docs/deploying.md has no block marked ${marker}`);
  const fence = /```[a-z]*\n([\s\S]*?)\n```/.exec(docs.slice(at + marker.length));
  if (fence === null) throw new Error(`no fenced block after ${marker} in docs/deploying.md`);
  return fence[1] as string;
}

/**
 * `text` with each documented value replaced by the test's; a value the docs no longer contain throws,
 * so that the docs and the test cannot drift apart silently.
 */
export function substitute(text: string, replacements: Readonly<Record<string, string>>, where: string): string {
  let out = text;
  for (const [documented, actual] of Object.entries(replacements)) {
    if (!out.includes(documented))
      throw new Error(`the ${where} block of docs/deploying.md no longer has ${documented}`);
    out = out.split(documented).join(actual);
  }
  return out;
}

/** A free TCP port on 127.0.0.1 (closed again at once, for a proxy to listen on). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Fails with the Debian package to install when a proxy is missing; the test never skips it. */
export function requireCommand(command: string, versionArgs: readonly string[], aptPackage: string): void {
  const result = spawnSync(command, versionArgs, { stdio: 'ignore', timeout: 15_000 });
  if (result.error !== undefined || result.status !== 0) {
    throw new Error(
      `${command} is missing (${result.error?.message ?? `exit ${result.status}`}): the scale-out test needs it. ` +
        `Install it with \`apt-get install ${aptPackage}\` (.ci/run does so when it is missing).`,
    );
  }
}

/** A proxy running in the foreground: its output so far, and a stop by its own pid. */
export interface RunningProcess {
  readonly pid: number;
  /** True once the process has exited. */
  exited(): boolean;
  output(): string;
  stop(): Promise<void>;
}

/** Starts `command` in the foreground, its output collected; `stop()` sends SIGTERM, then SIGKILL after 10 s. */
export function startForeground(command: string, args: readonly string[]): RunningProcess {
  const child: ChildProcess = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let done = false;
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<void>((resolve) => {
    child.once('close', () => {
      done = true;
      resolve();
    });
  });
  return {
    pid: child.pid ?? -1,
    exited: () => done,
    output: () => output,
    stop: async () => {
      // SIGTERM to the master process we started: nginx and varnishd stop their own workers.
      if (done) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Waits until something accepts TCP connections on 127.0.0.1:`port`, or fails with the process output. */
export async function waitForPort(port: number, proc: RunningProcess, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (proc.exited()) throw new Error(`${what} exited before it listened on ${port}:\n${proc.output()}`);
    if (Date.now() > deadline)
      throw new Error(`${what} did not listen on ${port} within ${timeoutMs} ms:\n${proc.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The loopback ports of one nginx: the balancer (HTTP/1.1 and HTTP/2) and the slice cache. */
export interface NginxPorts {
  readonly balancer: number;
  readonly balancerHttp2: number;
  readonly sliceCache: number;
}

/** A running nginx with the docs' configurations, and where its logs are. */
export interface RunningNginx extends RunningProcess {
  readonly accessLog: string;
  readonly errorLog: string;
}

/** The docs' nginx blocks in a configuration of their own under `dir`, with its log and cache paths. */
export interface NginxConfig {
  readonly prefix: string;
  readonly file: string;
  readonly accessLog: string;
  readonly errorLog: string;
}

/**
 * Writes the docs' log format, balancer and slice-cache blocks into the `http` block of an nginx
 * configuration under `dir`, in front of replicas listening on `replicaPorts`, and has `nginx -t` check it.
 */
export function writeNginxConfig(dir: string, replicaPorts: readonly [number, number], ports: NginxPorts): NginxConfig {
  const prefix = path.join(dir, 'nginx');
  for (const sub of ['logs', 'cache', 'temp/client', 'temp/proxy', 'temp/fastcgi', 'temp/uwsgi', 'temp/scgi']) {
    mkdirSync(path.join(prefix, sub), { recursive: true });
  }
  const accessLog = path.join(prefix, 'logs', 'access.log');
  const errorLog = path.join(prefix, 'logs', 'error.log');
  const replacements = {
    '127.0.0.1:3001': `127.0.0.1:${replicaPorts[0]}`,
    '127.0.0.1:3002': `127.0.0.1:${replicaPorts[1]}`,
    '/var/log/nginx/range-serve.access.log': accessLog,
  };
  const balancer = substitute(
    docsBlock('nginx-balancer'),
    {
      ...replacements,
      '127.0.0.1:8080': `127.0.0.1:${ports.balancer}`,
      '127.0.0.1:8082': `127.0.0.1:${ports.balancerHttp2}`,
    },
    'nginx-balancer',
  );
  const sliceCache = substitute(
    docsBlock('nginx-slice-cache'),
    {
      '/var/cache/nginx/range-serve': path.join(prefix, 'cache'),
      '/var/log/nginx/range-serve.access.log': accessLog,
      '127.0.0.1:8081': `127.0.0.1:${ports.sliceCache}`,
    },
    'nginx-slice-cache',
  );
  // The frame around the docs' blocks: what a distribution's nginx.conf holds, here in the temp folder.
  const conf = [
    // As root the workers would switch to nobody, who cannot write into a private temp folder.
    process.getuid?.() === 0 ? 'user root;' : '',
    'daemon off;',
    'master_process on;',
    'worker_processes 1;',
    `pid ${path.join(prefix, 'nginx.pid')};`,
    `error_log ${errorLog} info;`,
    'events { worker_connections 256; }',
    'http {',
    `    client_body_temp_path ${path.join(prefix, 'temp/client')};`,
    `    proxy_temp_path ${path.join(prefix, 'temp/proxy')};`,
    `    fastcgi_temp_path ${path.join(prefix, 'temp/fastcgi')};`,
    `    uwsgi_temp_path ${path.join(prefix, 'temp/uwsgi')};`,
    `    scgi_temp_path ${path.join(prefix, 'temp/scgi')};`,
    docsBlock('nginx-log-format'),
    `    access_log ${accessLog} range_serve;`,
    balancer,
    sliceCache,
    '}',
    '',
  ].join('\n');
  const file = path.join(prefix, 'nginx.conf');
  writeFileSync(file, conf);
  const test = spawnSync('nginx', ['-t', '-p', `${prefix}/`, '-c', file], { encoding: 'utf8', timeout: 15_000 });
  if (test.status !== 0) throw new Error(`nginx -t refused the configuration:\n${test.stderr}\n${conf}`);
  return { prefix, file, accessLog, errorLog };
}

/**
 * Starts Debian's nginx in the foreground with the docs' log format, balancer and slice-cache blocks
 * in its `http` block, in front of replicas listening on `replicaPorts`.
 */
export async function startNginx(
  dir: string,
  replicaPorts: readonly [number, number],
  ports: NginxPorts,
): Promise<RunningNginx> {
  const { prefix, file, accessLog, errorLog } = writeNginxConfig(dir, replicaPorts, ports);
  const proc = startForeground('nginx', ['-p', `${prefix}/`, '-c', file]);
  await waitForPort(ports.balancer, proc, 'nginx');
  await waitForPort(ports.sliceCache, proc, 'nginx');
  return { ...proc, accessLog, errorLog };
}

/** Writes the docs' VCL under `dir/varnish`, its backends on `replicaPorts`, and returns its path. */
export function writeVcl(dir: string, replicaPorts: readonly [number, number]): string {
  const work = path.join(dir, 'varnish');
  mkdirSync(work, { recursive: true });
  // Started as root, varnishd reads the VCL as its own unprivileged user: the folder must be readable.
  chmodSync(dir, 0o755);
  chmodSync(work, 0o755);
  const vclFile = path.join(work, 'range-serve.vcl');
  writeFileSync(
    vclFile,
    substitute(
      docsBlock('varnish-vcl'),
      { '.port = "3001"': `.port = "${replicaPorts[0]}"`, '.port = "3002"': `.port = "${replicaPorts[1]}"` },
      'varnish-vcl',
    ),
  );
  return vclFile;
}

/** Starts Debian's varnishd in the foreground with the docs' VCL and command line, on its own work dir. */
export async function startVarnish(
  dir: string,
  replicaPorts: readonly [number, number],
  port: number,
): Promise<RunningProcess> {
  const work = path.join(dir, 'varnish');
  const vclFile = writeVcl(dir, replicaPorts);
  const command = substitute(
    docsBlock('varnishd'),
    {
      '/var/lib/varnish/range-serve': path.join(work, 'run'),
      '127.0.0.1:6081': `127.0.0.1:${port}`,
      '/etc/varnish/range-serve.vcl': vclFile,
      'malloc,256m': 'malloc,64m',
    },
    'varnishd',
  ).split(/\s+/);
  if (command[0] !== 'varnishd') throw new Error(`the varnishd block runs ${command[0]}`);
  // The management interface on loopback too (by default it listens on localhost at a random port).
  const proc = startForeground('varnishd', [...command.slice(1), '-T', '127.0.0.1:0']);
  await waitForPort(port, proc, 'varnishd');
  return proc;
}
