// Loaded with --import before a docs snippet runs: every server the snippet starts listens on 127.0.0.1 at
// a port the system picks, whatever port the docs wrote, and the port asked for and the one it got are
// written as a JSON line to file descriptor 3, where the snippet suite reads them. The snippet itself is
// run exactly as the docs print it.
import { writeSync } from 'node:fs';
import net from 'node:net';

const listen = net.Server.prototype.listen;

net.Server.prototype.listen = function listenOnLoopback(...args) {
  const [first] = args;
  const callback = args.find((arg) => typeof arg === 'function');
  let asked = 0;
  if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) asked = Number(first);
  else if (first !== null && typeof first === 'object' && 'port' in first) asked = Number(first.port);
  else if (first !== undefined && typeof first !== 'function')
    throw new Error(`the docs snippet listens on ${String(first)}, which the snippet suite cannot move to loopback`);
  this.once('listening', () => {
    const address = this.address();
    writeSync(3, `${JSON.stringify({ asked, port: typeof address === 'object' && address ? address.port : 0 })}\n`);
  });
  return callback === undefined ? listen.call(this, 0, '127.0.0.1') : listen.call(this, 0, '127.0.0.1', callback);
};
