// A runtime upgrade enacted on a running chain from polkadot.js, as an operator does it: root
// sends `sudo(system.setCode)` with the runtime's `next-spec` twin (the same runtime one
// `spec_version` later, built beside the real one by runtime/build.rs), the node switches to it,
// and the first block under the new code runs the runtime's migrations.
//
// Something must be left to migrate: in the block of the `setCode`, root also puts coin voting
// back at storage version 1 with two candidates in their v1 shape (a bare commission, no
// deposit held), as on a chain started before candidates held a deposit. After the upgrade the
// funded one reads back as a v2 `CandidateInfo` with its deposit on hold, the one that cannot pay
// is evicted, and the chain keeps finalizing.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { u8aToHex } from '@polkadot/util';
import { xxhashAsHex } from '@polkadot/util-crypto';
import { connect, freshAccount, keyring, sendAndFinalize, SRW } from '../lib/chain.js';
import { waitFor } from '../lib/nodes.js';

/** Where runtime/build.rs leaves the twin: beside the node, in the wasm builder's directory. */
const NEXT_SPEC_WASM = process.env.SRWAN_NEXT_SPEC_WASM_PATH
  ?? join(dirname(process.env.SRWAN_NODE ?? '.'), 'wbuild', 'srwan-runtime',
    'srwan_runtime_next_spec.compact.compressed.wasm');

let api;
let alice;
let ring;

before(async () => {
  api = await connect();
  ring = keyring();
  alice = ring.addFromUri('//Alice');
});

after(async () => {
  await api?.disconnect();
});

/** The key of a pallet's storage version (`:__STORAGE_VERSION__:` under its prefix). */
function storageVersionKey(pallet) {
  return xxhashAsHex(pallet, 128) + xxhashAsHex(':__STORAGE_VERSION__:', 128).slice(2);
}

test('setCode with the next spec is enacted on the running chain and migrates coin voting v1 candidates', async () => {
  assert.ok(existsSync(NEXT_SPEC_WASM),
    `no next-spec wasm at ${NEXT_SPEC_WASM}: build with scripts/lib.sh's settings (SRWAN_NEXT_SPEC_WASM=1)`);
  const code = readFileSync(NEXT_SPEC_WASM);
  const before = api.runtimeVersion.specVersion.toNumber();
  const deposit = api.consts.coinVoting.candidateDeposit.toBigInt();

  // A funded wallet and one with nothing, both v1 candidates.
  const keeper = freshAccount(ring);
  const broke = freshAccount(ring);
  const funding = await sendAndFinalize(api, api.tx.balances.transferKeepAlive(keeper.address, 100n * SRW), alice);
  assert.equal(funding.error, null);
  const commission = (percent) => u8aToHex(api.createType('Perbill', percent * 10_000_000).toU8a());
  const v1 = [
    [storageVersionKey('CoinVoting'), u8aToHex(api.createType('u16', 1).toU8a())],
    [api.query.coinVoting.candidates.key(keeper.address), commission(5)],
    [api.query.coinVoting.candidates.key(broke.address), commission(7)],
    [api.query.coinVoting.counterForCandidates.key(), u8aToHex(api.createType('u32', 2).toU8a())],
  ];

  // setCode first, then the v1 state, back to back so both land in one block: the migrations
  // run in the next block, and the old runtime's hooks never see the v1 shape.
  const nonce = (await api.rpc.system.accountNextIndex(alice.address)).toNumber();
  const setCode = api.tx.sudo.sudoUncheckedWeight(api.tx.system.setCode(u8aToHex(code)), { refTime: 0, proofSize: 0 });
  const setStorage = api.tx.sudo.sudo(api.tx.system.setStorage(v1));
  const [upgraded, stored] = await Promise.all([
    sendAndFinalize(api, setCode, alice, { nonce }),
    sendAndFinalize(api, setStorage, alice, { nonce: nonce + 1 }),
  ]);
  for (const [name, result] of [['setCode', upgraded], ['setStorage', stored]]) {
    assert.equal(result.error, null, name);
    const sudid = result.events.find(({ event }) => api.events.sudo.Sudid.is(event));
    assert.ok(sudid?.event.data.sudoResult.isOk, `${name} dispatched as root: ${sudid?.event.data.sudoResult}`);
  }
  assert.ok(upgraded.events.some(({ event }) => api.events.system.CodeUpdated.is(event)), 'CodeUpdated');
  assert.equal(upgraded.blockHash.toHex(), stored.blockHash.toHex(), 'setCode and the v1 state share a block');
  // The block of setCode ran the old code and left the new one in its state, beside the v1
  // candidates.
  const setCodeHeader = await api.rpc.chain.getHeader(upgraded.blockHash);
  const specAt = async (hash) => (await api.rpc.state.getRuntimeVersion(hash)).specVersion.toNumber();
  assert.equal(await specAt(setCodeHeader.parentHash), before);
  assert.equal(await specAt(upgraded.blockHash), before + 1);
  const atSetCode = await api.at(upgraded.blockHash);
  assert.equal((await atSetCode.query.coinVoting.counterForCandidates()).toNumber(), 2);

  // The new code runs from the next block on: the chain reports it and keeps finalizing.
  const head = await waitFor('a finalized block past the one of setCode', async () => {
    const finalized = await api.rpc.chain.getFinalizedHead();
    const number = (await api.rpc.chain.getHeader(finalized)).number.toNumber();
    return number > setCodeHeader.number.toNumber() && finalized;
  }, 120_000);
  assert.equal(await specAt(head), before + 1);
  assert.equal(api.runtimeVersion.specVersion.toNumber(), before + 1, 'polkadot.js follows the upgrade');
  const at = await api.at(head);
  const last = await at.query.system.lastRuntimeUpgrade();
  assert.equal(last.unwrap().specVersion.toNumber(), before + 1);

  // Migrated: the funded candidate in the v2 shape with its deposit held, the other evicted.
  assert.equal(u8aToHex((await api.rpc.state.getStorage(storageVersionKey('CoinVoting'), head)).unwrap()), '0x0200');
  const info = (await at.query.coinVoting.candidates(keeper.address)).unwrap();
  assert.equal(info.commission.toNumber(), 50_000_000);
  assert.equal(info.deposit.toBigInt(), deposit);
  const holds = await at.query.balances.holds(keeper.address);
  const held = holds.filter((hold) => JSON.stringify(hold.id.toJSON()).includes('andidateDeposit'));
  assert.deepEqual(held.map((hold) => hold.amount.toBigInt()), [deposit]);
  assert.ok((await at.query.coinVoting.candidates(broke.address)).isNone, 'the unfunded candidate is evicted');
  assert.equal((await at.query.coinVoting.counterForCandidates()).toNumber(), 1);

  // The first block under the new code evicted it: the migration's event.
  const firstNumber = setCodeHeader.number.toNumber() + 1;
  const first = await api.at(await api.rpc.chain.getBlockHash(firstNumber));
  const evicted = (await first.query.system.events()).find(({ event }) =>
    api.events.coinVoting.CandidateEvicted.is(event) && event.data.who.toString() === broke.address);
  assert.ok(evicted, 'CandidateEvicted in the first block of the new spec');

  // Signed transactions go on under the new transaction version.
  const after = await sendAndFinalize(api, api.tx.balances.transferKeepAlive(broke.address, SRW), alice);
  assert.equal(after.error, null);
});
