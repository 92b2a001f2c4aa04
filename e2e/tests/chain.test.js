// The foundation's contract with wallets: token properties, transfers that are included and
// finalized with exact balance changes, and the exact error of an overdraft.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, freeAt, freshAccount, keyring, sendAndFinalize, SRW } from '../lib/chain.js';

let api;
let ring;
let alice;

before(async () => {
  api = await connect();
  ring = keyring();
  alice = ring.addFromUri('//Alice');
});

after(async () => {
  await api?.disconnect();
});

test('chain properties are SRW / 12 decimals / ss58 42', async () => {
  const props = await api.rpc.system.properties();
  assert.deepEqual(props.tokenSymbol.unwrap().map((s) => s.toString()), ['SRW']);
  assert.deepEqual(props.tokenDecimals.unwrap().map((d) => d.toNumber()), [12]);
  assert.equal(props.ss58Format.unwrap().toNumber(), 42);
  assert.equal(api.runtimeVersion.specName.toString(), 'srwan');
});

test('a transfer is finalized and moves exactly amount + actual fee', async () => {
  const sender = freshAccount(ring);
  const receiver = freshAccount(ring);
  const funded = await sendAndFinalize(
    api, api.tx.balances.transferKeepAlive(sender.address, 100n * SRW), alice);
  assert.equal(funded.error, null);

  const amount = 12_345_678_901n;
  const tip = 1_000_000n;
  const result = await sendAndFinalize(
    api, api.tx.balances.transferKeepAlive(receiver.address, amount), sender, { tip });
  assert.equal(result.error, null, 'the transfer must succeed');

  const block = await api.rpc.chain.getBlock(result.blockHash);
  const parent = block.block.header.parentHash;
  const index = block.block.extrinsics.findIndex((x) => x.hash.toHex() === result.txHash);
  assert.ok(index >= 0, 'the extrinsic is in its finalized block');

  const feePaid = result.events
    .map(({ event }) => event)
    .find((e) => api.events.transactionPayment.TransactionFeePaid.is(e));
  assert.ok(feePaid, 'a TransactionFeePaid event is emitted');
  const [who, actualFee, paidTip] = feePaid.data;
  assert.equal(who.toString(), sender.address);
  assert.equal(paidTip.toBigInt(), tip);
  const fee = actualFee.toBigInt();
  assert.ok(fee > tip, 'the actual fee includes the tip and a base fee');

  const senderBefore = await freeAt(api, parent, sender.address);
  const senderAfter = await freeAt(api, result.blockHash, sender.address);
  const receiverBefore = await freeAt(api, parent, receiver.address);
  const receiverAfter = await freeAt(api, result.blockHash, receiver.address);
  assert.equal(receiverBefore, 0n);
  assert.equal(receiverAfter - receiverBefore, amount);
  assert.equal(senderBefore - senderAfter, amount + fee);
});

test('a transfer of more than the free balance fails with Token(FundsUnavailable)', async () => {
  const sender = freshAccount(ring);
  const receiver = freshAccount(ring);
  await sendAndFinalize(api, api.tx.balances.transferKeepAlive(sender.address, 10n * SRW), alice);

  const result = await sendAndFinalize(
    api, api.tx.balances.transferAllowDeath(receiver.address, 20n * SRW), sender);
  assert.equal(result.error, '{"token":"FundsUnavailable"}');
  const failed = result.events.find(({ event }) => api.events.system.ExtrinsicFailed.is(event));
  assert.ok(failed, 'ExtrinsicFailed is emitted');
  assert.equal(await freeAt(api, result.blockHash, receiver.address), 0n);
});

test('every tunable is readable by a wallet: parameters in storage, bounds as constants', async () => {
  const [ditex, tickets, withdrawDelay, minEscrow, schedule, period] = await Promise.all([
    api.query.ditex.params(), api.query.tickets.params(), api.query.escrow.withdrawDelay(),
    api.query.escrow.minEscrow(), api.query.feeSplit.scheduleOf(), api.query.coinVoting.period(),
  ]);
  const epoch = ditex.epochLength.toNumber();
  assert.ok(epoch > 0 && ditex.reportPeriod.toNumber() >= 4, 'clocks are set');
  assert.ok(tickets.claimWindow.toNumber() > 0 && tickets.claimWindow.toNumber() <= epoch);
  assert.ok(withdrawDelay.toNumber() >= epoch + tickets.claimWindow.toNumber(),
    'a withdrawal waits for an epoch and its claims');
  assert.ok(schedule.payoutPeriod.toNumber() > 0 && period.toNumber() > 0);
  assert.equal(minEscrow.toBigInt(), SRW, 'the dev minimum escrow (production: 10 SRW)');
  assert.equal(api.consts.ditex.routerDeposit.toBigInt(), 100n * SRW);
  assert.equal(api.consts.ditex.maxGroupSize.toNumber(), 100);
  assert.ok(api.consts.tickets.settlementBudget.refTime.toBigInt() > 0n);
  assert.ok(api.consts.escrow.spendingRetention.toNumber() > 0);
  assert.ok(api.consts.coinVoting.maxVoters.toNumber() > 0);
});
