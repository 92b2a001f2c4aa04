// Helpers for e2e files that run nodes of their own (several validators on one machine).
import { spawn, execFileSync } from 'node:child_process';
import { connect as tcpConnect } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const NODE = process.env.SRWAN_NODE;

/** Resolves once `child` has exited; a node still flushing its database must not lose its
 * directory underneath it (that raced and failed CI once with ENOTEMPTY). */
export function exited(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('exit', () => { clearTimeout(killer); resolve(); });
  });
}

/** Stops every child and waits for them all to exit. */
export async function stopAll(children) {
  for (const child of children) child.kill('SIGTERM');
  await Promise.all(children.map(exited));
}

/** Resolves once something accepts TCP connections on 127.0.0.1:`port`. */
export function portOpen(port) {
  return new Promise((resolve) => {
    const socket = tcpConnect(port, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => { socket.destroy(); resolve(false); });
  });
}

/** Polls `predicate` every second until it returns something truthy (returned), or throws. */
export async function waitFor(what, predicate, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/**
 * A persistent network key for node `index` (validators need one) in `dir`, and the peer id it
 * gives: `{ file, peerId }`.
 */
export function nodeKey(dir, index) {
  const file = join(dir, `node${index}.key`);
  writeFileSync(file, '00'.repeat(31) + index.toString(16).padStart(2, '0'));
  const peerId = execFileSync(NODE, ['key', 'inspect-node-key', '--file', file]).toString().trim();
  return { file, peerId };
}

/**
 * Starts `srwan-node` with `args`; its last 4 kB of log are `child.lastLog()`. The child is
 * pushed to `children` so that the file's `after` stops it.
 */
export function startNode(children, args) {
  const child = spawn(NODE, [...args, '--no-prometheus', '--no-telemetry', '--no-mdns'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr.on('data', (d) => { log = (log + d).slice(-4000); });
  child.lastLog = () => log;
  children.push(child);
  return child;
}

/** The finalized block's number as the node at `api` sees it. */
export async function finalizedNumber(api) {
  const head = await api.rpc.chain.getFinalizedHead();
  return (await api.rpc.chain.getHeader(head)).number.toNumber();
}
