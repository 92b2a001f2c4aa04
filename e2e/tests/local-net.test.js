// e2e-node: none (starts two validators of its own)
// Two validators (`--chain local`: Alice and Bob, each with its own base path and ports)
// connect to each other and finalize blocks; GRANDPA needs both of them for that.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { connect as tcpConnect } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '../lib/chain.js';

const NODE = process.env.SRWAN_NODE;
const dir = mkdtempSync(join(tmpdir(), 'srwan-local-'));
const children = [];

/** Resolves once `child` has exited; a node still flushing its database must not lose its
 * directory underneath it (that raced and failed CI once with ENOTEMPTY). */
function exited(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('exit', () => { clearTimeout(killer); resolve(); });
  });
}

after(async () => {
  for (const child of children) child.kill('SIGTERM');
  await Promise.all(children.map(exited));
  rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
});

function startValidator(name, p2pPort, rpcPort, extra) {
  const child = spawn(NODE, [
    '--chain', 'local', `--${name}`, '--validator',
    '--base-path', join(dir, name), '--port', String(p2pPort), '--rpc-port', String(rpcPort),
    '--no-prometheus', '--no-telemetry', '--no-mdns', ...extra,
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (d) => { log = (log + d).slice(-4000); });
  child.lastLog = () => log;
  children.push(child);
  return child;
}

/** Resolves once something accepts TCP connections on 127.0.0.1:`port`. */
function portOpen(port) {
  return new Promise((resolve) => {
    const socket = tcpConnect(port, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => { socket.destroy(); resolve(false); });
  });
}

async function waitFor(what, predicate, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

test('Alice and Bob connect and finalize blocks together', { skip: !NODE && 'SRWAN_NODE not set', timeout: 420_000 }, async () => {
  // Validators need a persistent network key; each gets its own.
  const keyFile = (name, last) => {
    const file = join(dir, `${name}.key`);
    writeFileSync(file, '00'.repeat(31) + last);
    return file;
  };
  const aliceKey = keyFile('alice', '01');
  const alicePeerId = execFileSync(NODE, ['key', 'inspect-node-key', '--file', aliceKey]).toString().trim();
  assert.match(alicePeerId, /^12D3Koo/);

  const alice = startValidator('alice', 30433, 19945, ['--node-key-file', aliceKey]);
  const bob = startValidator('bob', 30434, 19946, [
    '--node-key-file', keyFile('bob', '02'),
    '--bootnodes', `/ip4/127.0.0.1/tcp/30433/p2p/${alicePeerId}`,
  ]);

  let apiA, apiB;
  try {
    // Generous: the whole suite starts at once on two cores, and a node compiles its runtime
    // before it opens its RPC port (over 60 s once on a cold, loaded machine).
    await waitFor('alice rpc port', () => portOpen(19945), 150_000);
    await waitFor('bob rpc port', () => portOpen(19946), 150_000);
    apiA = await connect('ws://127.0.0.1:19945');
    apiB = await connect('ws://127.0.0.1:19946');

    const authorities = await apiA.call.grandpaApi.grandpaAuthorities();
    assert.equal(authorities.length, 2, 'local has exactly two GRANDPA authorities');

    await waitFor('peers', async () => (await apiA.rpc.system.health()).peers.toNumber() >= 1, 60_000);
    const finalized = async (api) => {
      const head = await api.rpc.chain.getFinalizedHead();
      return (await api.rpc.chain.getHeader(head)).number.toNumber();
    };
    await waitFor('finality on both', async () => (await finalized(apiA)) >= 2 && (await finalized(apiB)) >= 2, 120_000);

    // Both see the same finalized chain.
    const n = Math.min(await finalized(apiA), await finalized(apiB));
    const [hashA, hashB] = await Promise.all([apiA.rpc.chain.getBlockHash(n), apiB.rpc.chain.getBlockHash(n)]);
    assert.equal(hashA.toHex(), hashB.toHex());
  } catch (e) {
    e.message += `\n--- alice log ---\n${alice.lastLog()}\n--- bob log ---\n${bob.lastLog()}`;
    throw e;
  } finally {
    await apiA?.disconnect();
    await apiB?.disconnect();
  }
});
