/**
 * The Bun and Deno binaries the npm packages `bun` and `deno` (dev dependencies) install. Each package's
 * binary rides in a platform package (`@oven/bun-linux-x64`, `@deno/linux-x64-glibc`, ...) and a
 * postinstall script links it into place; where install scripts are blocked (npm's `allowScripts`,
 * `--ignore-scripts`) `npx bun` finds only a placeholder, so the platform package's binary is used directly.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);

/** A runtime found on this machine: its binary and the version it reports. */
export interface RuntimeBinary {
  readonly path: string;
  readonly version: string;
}

/** The binary of `name`, or the reason there is none (printed by the suite that skips). */
export function findRuntime(name: 'bun' | 'deno'): RuntimeBinary | { readonly missing: string } {
  const candidates = name === 'bun' ? bunCandidates() : denoCandidates();
  for (const candidate of candidates) {
    // A placeholder left by a blocked postinstall is a small text file; the real binaries are tens of MB.
    if (!existsSync(candidate) || statSync(candidate).size < 1_000_000) continue;
    const run = spawnSync(candidate, ['--version'], { encoding: 'utf8', timeout: 30_000 });
    if (run.status === 0) return { path: candidate, version: run.stdout.trim().split('\n')[0] as string };
  }
  return {
    missing: `no working ${name} binary in node_modules (looked at ${candidates.join(', ') || 'nothing'}): run npm ci`,
  };
}

/** Where the package lives, or undefined when it is not installed (an optional platform package elsewhere). */
function packageDir(name: string): string | undefined {
  try {
    return path.dirname(require.resolve(`${name}/package.json`));
  } catch {
    return undefined;
  }
}

function bunCandidates(): string[] {
  const exe = process.platform === 'win32' ? 'bun.exe' : 'bun';
  const platform = `@oven/bun-${process.platform}-${process.arch}`;
  const out: string[] = [];
  for (const name of [platform, `${platform}-baseline`, `${platform}-musl`, `${platform}-musl-baseline`]) {
    const dir = packageDir(name);
    if (dir !== undefined) out.push(path.join(dir, 'bin', exe));
  }
  // The postinstall moves the platform binary here (in place of a placeholder).
  const main = packageDir('bun');
  if (main !== undefined) out.push(path.join(main, 'bin', 'bun.exe'));
  return out;
}

function denoCandidates(): string[] {
  const exe = process.platform === 'win32' ? 'deno.exe' : 'deno';
  const family = process.platform === 'linux' ? '-glibc' : '';
  const out: string[] = [];
  const dir = packageDir(`@deno/${process.platform}-${process.arch}${family}`);
  if (dir !== undefined) out.push(path.join(dir, exe));
  // The postinstall hard-links the platform binary here.
  const main = packageDir('deno');
  if (main !== undefined) out.push(path.join(main, exe));
  return out;
}
