/** Starts test/uploads/crash-child.ts (an upload server a test may SIGKILL) on `dir`, once it listens. */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CHILD = fileURLToPath(new URL('./crash-child.ts', import.meta.url));

/** The child process and its base URL, after it printed its port. */
export async function startCrashChild(dir: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
    output += chunk.toString();
    if (output.includes('\n')) break;
  }
  const { port } = JSON.parse(output) as { port: number };
  return { child, url: `http://127.0.0.1:${port}` };
}
