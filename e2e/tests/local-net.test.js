// e2e-node: none (starts two validators of its own)
// Two validators (`--chain local`: Alice and Bob, each with its own base path and ports)
// connect to each other and finalize blocks; GRANDPA needs both of them for that.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '../lib/chain.js';
import { NODE, finalizedNumber, nodeKey, portOpen, startNode, stopAll, waitFor } from '../lib/nodes.js';

const dir = mkdtempSync(join(tmpdir(), 'srwan-local-'));
const children = [];

after(async () => {
  await stopAll(children);
  rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
});

function startValidator(name, p2pPort, rpcPort, extra) {
  return startNode(children, [
    '--chain', 'local', `--${name}`, '--validator',
    '--base-path', join(dir, name), '--port', String(p2pPort), '--rpc-port', String(rpcPort), ...extra,
  ]);
}

test('Alice and Bob connect and finalize blocks together', { skip: !NODE && 'SRWAN_NODE not set', timeout: 420_000 }, async () => {
  // Validators need a persistent network key; each gets its own.
  const aliceKey = nodeKey(dir, 1);
  assert.match(aliceKey.peerId, /^12D3Koo/);

  const alice = startValidator('alice', 30433, 19945, ['--node-key-file', aliceKey.file]);
  const bob = startValidator('bob', 30434, 19946, [
    '--node-key-file', nodeKey(dir, 2).file,
    '--bootnodes', `/ip4/127.0.0.1/tcp/30433/p2p/${aliceKey.peerId}`,
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
    const finalized = finalizedNumber;
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
