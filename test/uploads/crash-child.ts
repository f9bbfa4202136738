/** A child upload server for the SIGKILL test: serves `argv[2]` under `/files` and prints its port. */
import { startNodeServer } from './node-server.ts';

const server = await startNodeServer({ directory: process.argv[2] ?? '' });
process.stdout.write(`${JSON.stringify({ port: server.port })}\n`);
