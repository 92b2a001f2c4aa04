// Two validators (`--chain local`: Alice and Bob, each with its own base path and ports)
// connect to each other and finalize blocks; GRANDPA needs both of them for that.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '../lib/chain.js';

const NODE = process.env.SRWAN_NODE;
const dir = mkdtempSync(join(tmpdir(), 'srwan-local-'));
const children = [];

after(() => {
  for (const child of children) child.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
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

async function waitFor(what, predicate, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

test('Alice and Bob connect and finalize blocks together', { skip: !NODE && 'SRWAN_NODE not set', timeout: 180_000 }, async () => {
  const keyFile = join(dir, 'alice.key');
  writeFileSync(keyFile, '0000000000000000000000000000000000000000000000000000000000000001');
  const alicePeerId = execFileSync(NODE, ['key', 'inspect-node-key', '--file', keyFile]).toString().trim();
  assert.match(alicePeerId, /^12D3Koo/);

  const alice = startValidator('alice', 30433, 19945, ['--node-key-file', keyFile]);
  const bob = startValidator('bob', 30434, 19946,
    ['--bootnodes', `/ip4/127.0.0.1/tcp/30433/p2p/${alicePeerId}`]);

  let apiA, apiB;
  try {
    apiA = await waitFor('alice rpc', () => connect('ws://127.0.0.1:19945').catch(() => null), 60_000);
    apiB = await waitFor('bob rpc', () => connect('ws://127.0.0.1:19946').catch(() => null), 60_000);

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
