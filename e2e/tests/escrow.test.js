// Consumer escrow from a wallet: deposit on hold, a spending cap and a delegate receipt key,
// then a withdrawal that waits for its delay.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomAsU8a } from '@polkadot/util-crypto';
import { u8aToHex } from '@polkadot/util';
import { connect, freshAccount, keyring, sendAndFinalize, SRW } from '../lib/chain.js';

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

test('a consumer deposits, caps its spending, sets a receipt key and withdraws after the delay', async () => {
  const key = randomAsU8a(32);
  const batch = [
    api.tx.escrow.deposit(40n * SRW),
    api.tx.escrow.setSpendingCap(5n * SRW),
    // A hex string: polkadot.js reads a Uint8Array given for an Option as already SCALE-encoded.
    api.tx.escrow.setReceiptKey(u8aToHex(key)),
  ];
  for (const tx of batch) {
    const result = await sendAndFinalize(api, tx, consumer);
    assert.equal(result.error, null);
  }
  const account = (await api.query.escrow.accounts(consumer.address)).unwrap();
  assert.equal(account.held.toBigInt(), 40n * SRW);
  assert.equal(account.spendingCap.unwrap().toBigInt(), 5n * SRW);
  assert.equal(u8aToHex(account.receiptKey.unwrap()), u8aToHex(key));
  assert.equal(await held(), 40n * SRW, 'the deposit is a hold');

  const zero = await sendAndFinalize(api, api.tx.escrow.requestWithdraw(0), consumer);
  assert.equal(zero.error, 'escrow.ZeroAmount');
  const requested = await sendAndFinalize(api, api.tx.escrow.requestWithdraw(15n * SRW), consumer);
  assert.equal(requested.error, null);
  const event = requested.events.find(({ event }) => api.events.escrow.WithdrawRequested.is(event));
  const unlockAt = event.event.data.unlockAt.toNumber();
  const early = await sendAndFinalize(api, api.tx.escrow.withdraw(), consumer);
  assert.equal(early.error, 'escrow.TooEarly');

  while ((await api.rpc.chain.getHeader()).number.toNumber() < unlockAt) {
    await new Promise((r) => setTimeout(r, 3000));
  }
  const withdrawn = await sendAndFinalize(api, api.tx.escrow.withdraw(), consumer);
  assert.equal(withdrawn.error, null);
  assert.equal(await held(withdrawn.blockHash), 25n * SRW, 'the rest stays on hold');
});
