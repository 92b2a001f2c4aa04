// e2e-node: none (starts five nodes of its own: the four staging validators and Eve's)
// Master nodes chosen by coin voting, on a network of real nodes: the `staging` chain's four
// validators (GRANDPA finalizes with any three) and a fifth node, Eve's. Eve's node makes her
// session keys (`author_rotateKeysWithOwner`, their proof of possession for her account); she
// sets them (`session.setKeys`), stands as a candidate and bonds; Ferdie votes for her. She
// joins at a session boundary, replacing Dave (the last unvoted validator: one change a
// session), and her node is seen sealing blocks. Then Ferdie's votes move to Dave, who stood
// at the start, and Eve is voted out at the next boundary but one. The chain finalizes
// throughout. Sessions are shortened to 8 blocks (twice the set) in the chain spec.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { u8aToHex } from '@polkadot/util';
import { connect, keyring, sendAndFinalize } from '../lib/chain.js';
import { NODE, finalizedNumber, nodeKey, portOpen, startNode, stopAll, waitFor } from '../lib/nodes.js';
import { makeSessionKeys, stand } from '../lib/validator.js';

const SESSION_LENGTH = 8;
const RPC_PORT = 19921; // 19921..19925 (e2e/run.sh hands out 19950 and up)
const P2P_PORT = 30521;
const dir = mkdtempSync(join(tmpdir(), 'srwan-validators-'));
const children = [];

after(async () => {
  await stopAll(children);
  rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
});

/** The staging chain spec with short sessions and tallies, as a file. */
function chainSpec() {
  const spec = JSON.parse(execFileSync(NODE, ['export-chain-spec', '--chain', 'staging'], { maxBuffer: 64 << 20 }).toString());
  const patch = spec.genesis.runtimeGenesis.patch;
  patch.validators.sessionLength = SESSION_LENGTH;
  patch.coinVoting.period = SESSION_LENGTH / 2;
  const file = join(dir, 'staging-short.json');
  writeFileSync(file, JSON.stringify(spec));
  return file;
}

/** Waits for the next new head that satisfies `predicate(header)`; resolves with it. */
function nextHead(api, what, predicate, timeoutMs) {
  return new Promise((resolve, reject) => {
    let unsub = () => {};
    const timer = setTimeout(() => { unsub(); reject(new Error(`timed out waiting for ${what}`)); }, timeoutMs);
    api.rpc.chain.subscribeNewHeads(async (header) => {
      try {
        if (await predicate(header)) {
          clearTimeout(timer);
          unsub();
          resolve(header);
        }
      } catch (e) {
        clearTimeout(timer);
        unsub();
        reject(e);
      }
    }).then((u) => { unsub = u; }).catch(reject);
  });
}

/** The first block, walking back from `header`, from which `holds(hash)` held on. */
async function firstBlockWhere(api, header, holds) {
  let n = header.number.toNumber();
  while (n > 0 && (await holds(await api.rpc.chain.getBlockHash(n - 1)))) n -= 1;
  return n;
}

/** The Aura key that sealed `header`: the parent state's authority for the block's slot. */
async function sealer(api, header) {
  const preRuntime = header.digest.logs.find((log) => log.isPreRuntime && log.asPreRuntime[0].toString() === 'aura');
  if (!preRuntime) return null;
  const slot = api.createType('u64', preRuntime.asPreRuntime[1]).toBigInt();
  const authorities = await (await api.at(header.parentHash)).query.aura.authorities();
  return authorities[Number(slot % BigInt(authorities.length))].toHex();
}

test('a fifth node is voted into the validator set, seals blocks, and is voted out; finality never stops', {
  skip: !NODE && 'SRWAN_NODE not set',
  timeout: 900_000,
}, async () => {
  const spec = chainSpec();
  const names = ['alice', 'bob', 'charlie', 'dave', 'eve'];
  const keys = names.map((_, i) => nodeKey(dir, i + 1));
  const nodes = names.map((name, i) => {
    const bootnodes = keys.flatMap((k, j) => (j === i ? [] : [`/ip4/127.0.0.1/tcp/${P2P_PORT + j}/p2p/${k.peerId}`]));
    // The genesis validators' dev keys are put in their keystores (`--alice`, ...); Eve's node
    // starts with an empty keystore and makes her keys over RPC, which needs unsafe methods.
    const identity = name === 'eve' ? ['--name', 'Eve', '--validator', '--rpc-methods', 'unsafe'] : [`--${name}`];
    return startNode(children, [
      '--chain', spec, ...identity, '--base-path', join(dir, name),
      '--port', String(P2P_PORT + i), '--rpc-port', String(RPC_PORT + i),
      '--node-key-file', keys[i].file, '--allow-private-ip', '--bootnodes', ...bootnodes,
    ]);
  });
  const apis = [];
  try {
    for (let i = 0; i < names.length; i += 1) {
      // Nodes starting together on two cores compile the runtime before they open their ports.
      await waitFor(`${names[i]}'s rpc port`, () => portOpen(RPC_PORT + i), 180_000);
      apis.push(await connect(`ws://127.0.0.1:${RPC_PORT + i}`));
    }
    const [api] = apis;
    const eveApi = apis[4];
    const ring = keyring();
    const [alice, bob, charlie, dave, eve, ferdie] = ['//Alice', '//Bob', '//Charlie', '//Dave', '//Eve', '//Ferdie'].map((uri) => ring.addFromUri(uri));
    const validators = async (at) => {
      const state = at ? await api.at(at) : api;
      return (await state.query.session.validators()).map((v) => v.toString());
    };
    assert.deepEqual(await validators(), [alice, bob, charlie, dave].map((p) => p.address));
    await waitFor('every node connected to the four others', async () => {
      const peers = await Promise.all(apis.map(async (a) => (await a.rpc.system.health()).peers.toNumber()));
      return peers.every((p) => p >= 4);
    }, 120_000);

    // Finality is watched from here to the end: the largest distance between the best and the
    // finalized block any new head showed.
    let worstLag = 0;
    const unwatch = await api.rpc.chain.subscribeNewHeads(async (header) => {
      const lag = header.number.toNumber() - (await finalizedNumber(api));
      worstLag = Math.max(worstLag, lag);
    });

    // Eve's node makes her keys and proves them for her account; she sets them.
    const generated = await makeSessionKeys(`ws://127.0.0.1:${RPC_PORT + 4}`, eve);
    assert.ok(generated.proof, 'the runtime proves the keys are made for Eve');
    // SCALE: the Aura key (sr25519, 32 bytes), then the GRANDPA key.
    const sessionKeys = api.createType(api.tx.session.setKeys.meta.args[0].type.toString(), generated.keys);
    const eveAura = u8aToHex(sessionKeys.toU8a().slice(0, 32));
    assert.ok((await eveApi.rpc.author.hasSessionKeys(generated.keys)).isTrue, "Eve's node holds them");

    // A proof made for Eve does not let Ferdie take her keys (refused by the pool or at
    // dispatch).
    const stolen = await sendAndFinalize(api, api.tx.session.setKeys(generated.keys, generated.proof), ferdie)
      .then((r) => r.error, (e) => e.message);
    assert.ok(stolen, 'Ferdie cannot set keys proven for Eve');

    // She sets her keys, stands and bonds (one call at a time, as the operator's tool does);
    // Dave stands meanwhile (so his bond stays when he makes room for her); then Ferdie votes
    // for Eve, who is a candidate by now.
    const [stood, daveStands] = await Promise.all([
      stand(api, eve, generated),
      sendAndFinalize(api, api.tx.coinVoting.registerCandidate(0), dave),
    ]);
    assert.deepEqual(stood.map((s) => s.step), ['session.setKeys', 'coinVoting.registerCandidate', 'validators.bond']);
    const voted = await sendAndFinalize(api, api.tx.coinVoting.vote([eve.address]), ferdie);
    for (const r of [...stood, daveStands, voted]) assert.equal(r.error, null, `${r.error}`);

    // She joins at a session boundary, in Dave's place (one change a session).
    const joined = await nextHead(api, 'Eve in the session validators', async (h) => (await validators(h.hash)).includes(eve.address), 600_000);
    assert.deepEqual(await validators(joined.hash), [alice, bob, charlie, eve].map((p) => p.address));
    assert.equal((await firstBlockWhere(api, joined, async (hash) => (await validators(hash)).includes(eve.address))) % SESSION_LENGTH, 2,
      'sets change at session boundaries (blocks 2 + 8k)');
    const auraKeys = (await (await api.at(joined.hash)).query.aura.authorities()).map((k) => k.toHex());
    assert.ok(auraKeys.includes(eveAura), 'Aura seals with the key her node made');

    // Her node seals blocks (her Aura slots come every fourth slot).
    const sealed = await nextHead(api, 'a block sealed by Eve', async (h) => (await sealer(api, h)) === eveAura, 120_000);
    assert.ok(sealed.number.toNumber() > joined.number.toNumber());

    // Ferdie's votes move to Dave: at the next tally Eve is outranked, and she leaves.
    const moved = await sendAndFinalize(api, api.tx.coinVoting.vote([dave.address]), ferdie);
    assert.equal(moved.error, null, `${moved.error}`);
    const left = await nextHead(api, 'Eve out of the session validators', async (h) => !(await validators(h.hash)).includes(eve.address), 600_000);
    assert.deepEqual(await validators(left.hash), [alice, bob, charlie, dave].map((p) => p.address));
    assert.equal((await firstBlockWhere(api, left, async (hash) => !(await validators(hash)).includes(eve.address))) % SESSION_LENGTH, 2,
      'sets change at session boundaries');

    // The chain finalized across both changes, and never fell far behind.
    await waitFor('finality past the last change', async () => (await finalizedNumber(api)) > left.number.toNumber() + 2, 120_000);
    unwatch();
    assert.ok(worstLag <= 2 * SESSION_LENGTH, `finality lagged ${worstLag} blocks behind the best block`);
    const hashes = await Promise.all(apis.map((a) => a.rpc.chain.getBlockHash(left.number.toNumber())));
    assert.equal(new Set(hashes.map((h) => h.toHex())).size, 1, 'all five nodes agree on the chain');
  } catch (e) {
    e.message += names.map((name, i) => `\n--- ${name} log ---\n${nodes[i].lastLog()}`).join('');
    throw e;
  } finally {
    await Promise.all(apis.map((a) => a.disconnect()));
  }
});
