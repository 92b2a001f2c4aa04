// Consumer escrow from a wallet: deposit on hold, a spending cap and a delegate receipt key that
// take effect from the next epoch, what the escrow backs (runtime API), then a withdrawal that
// waits for its delay and backs nothing after its epoch.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomAsU8a } from '@polkadot/util-crypto';
import { u8aToHex } from '@polkadot/util';
import {
  clocks, connect, epochOf, freshAccount, keyring, sendAndFinalize, SRW,
} from '../lib/chain.js';

let api;
let consumer;

before(async () => {
  api = await connect();
  const ring = keyring();
  consumer = freshAccount(ring);
  const funded = await sendAndFinalize(
    api, api.tx.balances.transferKeepAlive(consumer.address, 100n * SRW), ring.addFromUri('//Alice'));
  assert.equal(funded.error, null);
});

after(async () => {
  await api?.disconnect();
});

const held = async (at) => {
  const holds = await (at ? (await api.at(at)).query : api.query).balances.holds(consumer.address);
  return holds.reduce((sum, h) => sum + h.amount.toBigInt(), 0n);
};

/** The epoch of the block `hash`, from the chain's epoch length. */
const epochOfBlock = async (hash) => epochOf(api, hash, (await clocks(api)).epoch);

/** The `fromEpoch` of the escrow event `name` among a result's events. */
const fromEpoch = (result, name) => {
  const found = result.events.find(({ event }) => api.events.escrow[name].is(event));
  assert.ok(found, `a ${name} event`);
  return found.event.data.fromEpoch.toNumber();
};

test('a consumer deposits, caps its spending, sets a receipt key and withdraws after the delay', async () => {
  const key = randomAsU8a(32);
  const deposited = await sendAndFinalize(api, api.tx.escrow.deposit(40n * SRW), consumer);
  assert.equal(deposited.error, null);
  const capped = await sendAndFinalize(api, api.tx.escrow.setSpendingCap(30n * SRW), consumer);
  assert.equal(capped.error, null);
  // A hex string: polkadot.js reads a Uint8Array given for an Option as already SCALE-encoded.
  const keyed = await sendAndFinalize(api, api.tx.escrow.setReceiptKey(u8aToHex(key)), consumer);
  assert.equal(keyed.error, null);
  // A bill is fixed by the terms its epoch started with: changes apply from the next epoch.
  assert.equal(fromEpoch(capped, 'SpendingCapSet'), (await epochOfBlock(capped.blockHash)) + 1);
  const keyFrom = fromEpoch(keyed, 'ReceiptKeySet');
  assert.equal(keyFrom, (await epochOfBlock(keyed.blockHash)) + 1);

  const account = (await api.query.escrow.accounts(consumer.address)).unwrap();
  assert.equal(account.held.toBigInt(), 40n * SRW);
  const [since, latest] = account.terms[account.terms.length - 1];
  assert.equal(since.toNumber(), keyFrom, 'the latest terms start with the key');
  assert.equal(latest.spendingCap.unwrap().toBigInt(), 30n * SRW);
  assert.equal(u8aToHex(latest.receiptKey.unwrap()), u8aToHex(key));
  assert.equal(account.terms[0][1].receiptKey.isNone, true, 'earlier epochs keep their terms');
  assert.equal(await held(), 40n * SRW, 'the deposit is a hold');
  assert.equal((await api.call.meteringApi.minEscrow()).toBigInt(), SRW, 'the dev minimum escrow');

  const zero = await sendAndFinalize(api, api.tx.escrow.requestWithdraw(0), consumer);
  assert.equal(zero.error, 'escrow.ZeroAmount');
  const requested = await sendAndFinalize(api, api.tx.escrow.requestWithdraw(15n * SRW), consumer);
  assert.equal(requested.error, null);
  const event = requested.events.find(({ event }) => api.events.escrow.WithdrawRequested.is(event));
  const unlockAt = event.event.data.unlockAt.toNumber();
  // The requested amount backs the epoch it was requested in, and no later one; the cap (in
  // force by then) limits both.
  const requestEpoch = await epochOfBlock(requested.blockHash);
  const metering = (await api.at(requested.blockHash)).call.meteringApi;
  const capFrom = fromEpoch(capped, 'SpendingCapSet');
  // An epoch is backed by what its start saw: a deposit backs the epochs after its own.
  const depositEpoch = await epochOfBlock(deposited.blockHash);
  const startedWith = requestEpoch === depositEpoch ? 0n : 40n * SRW;
  const capAtRequest = requestEpoch >= capFrom ? 30n * SRW : startedWith;
  const atRequest = startedWith < capAtRequest ? startedWith : capAtRequest;
  assert.equal((await metering.escrowAvailable(consumer.address, requestEpoch)).toBigInt(), atRequest);
  assert.equal((await metering.escrowAvailable(consumer.address, requestEpoch + 1)).toBigInt(), 25n * SRW);
  const settlement = await metering.settlement();
  assert.equal(settlement.currentEpoch.toNumber(), requestEpoch);
  assert.ok(settlement.lagEpochs.toNumber() <= 1, 'settlement keeps up on an idle chain');
  const early = await sendAndFinalize(api, api.tx.escrow.withdraw(), consumer);
  assert.equal(early.error, 'escrow.TooEarly');

  while ((await api.rpc.chain.getHeader()).number.toNumber() < unlockAt) {
    await new Promise((r) => setTimeout(r, 3000));
  }
  const withdrawn = await sendAndFinalize(api, api.tx.escrow.withdraw(), consumer);
  assert.equal(withdrawn.error, null);
  assert.equal(await held(withdrawn.blockHash), 25n * SRW, 'the rest stays on hold');
});
