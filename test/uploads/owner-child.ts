/**
 * A process running the upload engine on a directory without `redis`, for the owner-file test:
 *   node --import tsx owner-child.ts <directory>
 * Prints `ready` once the engine has opened the directory, or `refused: <message>` and exits 3.
 */
import { createUploadHandler } from '@range-serve/core/upload';

const directory = process.argv[2];
if (directory === undefined) process.exit(2);
const handler = createUploadHandler({ directory });
handler.ready.then(
  () => {
    process.stdout.write('ready\n');
    setInterval(() => {}, 1000);
  },
  (err: Error) => {
    process.stdout.write(`refused: ${err.name}: ${err.message}\n`);
    process.exit(3);
  },
);
