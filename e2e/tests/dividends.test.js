// Where the chain's income goes, seen from wallets: a tipped transfer's fee is split exactly
// 25/75 between the validator and dividend pools; a candidate holds a deposit; dust cannot
// vote; a candidate and its voter both receive dividends after a tally.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, freshAccount, keyring, sendAndFinalize, SRW } from '../lib/chain.js';

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

async function funded(amount) {
  const who = freshAccount(ring);
  const result = await sendAndFinalize(api, api.tx.balances.transferKeepAlive(who.address, amount), alice);
  assert.equal(result.error, null);
  return who;
}

test('a tipped transfer pays exactly a quarter of its actual fee to validators, the rest to dividends', async () => {
  const sender = await funded(10n * SRW);
  const receiver = freshAccount(ring);
  const tip = 7_777_777n;
  const result = await sendAndFinalize(
    api, api.tx.balances.transferKeepAlive(receiver.address, SRW), sender, { tip });
  assert.equal(result.error, null);
  const paid = result.events.find(({ event }) => api.events.transactionPayment.TransactionFeePaid.is(event));
  const split = result.events.find(({ event }) => api.events.feeSplit.FeesSplit.is(event));
  assert.ok(paid && split, 'both events belong to the extrinsic');
  const actualFee = paid.event.data.actualFee.toBigInt();
  const validators = split.event.data.validators.toBigInt();
  const dividends = split.event.data.dividends.toBigInt();
  assert.equal(paid.event.data.tip.toBigInt(), tip);
  assert.equal(validators, actualFee / 4n, 'floor(actual_fee / 4)');
  assert.equal(dividends, actualFee - validators);
});

/** Resolves with the hash of the first finalized block whose events make `pick` true. */
function waitForEvents(pick, timeoutMs) {
  return new Promise((resolve, reject) => {
    let unsub = () => {};
    const timer = setTimeout(() => { unsub(); reject(new Error('timed out waiting for events')); }, timeoutMs);
    api.rpc.chain.subscribeFinalizedHeads(async (header) => {
      const events = await (await api.at(header.hash)).query.system.events();
      if (pick(events.map((r) => r.event))) {
        clearTimeout(timer);
        unsub();
        resolve(header.hash);
      }
    }).then((u) => { unsub = u; }).catch(reject);
  });
}

test('registering a candidate holds its deposit; a vote from dust is refused with a clear error', async () => {
  const deposit = api.consts.coinVoting.candidateDeposit.toBigInt();
  const minVoterBalance = api.consts.coinVoting.minVoterBalance.toBigInt();
  const ed = api.consts.balances.existentialDeposit.toBigInt();
  assert.equal(deposit, 10n * SRW, 'DESIGN.md dev value');
  assert.equal(minVoterBalance, SRW, 'DESIGN.md dev value');

  const candidate = await funded(deposit + 10n * SRW);
  const registered = await sendAndFinalize(api, api.tx.coinVoting.registerCandidate(0), candidate);
  assert.equal(registered.error, null);
  const event = registered.events.find(({ event }) => api.events.coinVoting.CandidateRegistered.is(event));
  assert.ok(event, 'CandidateRegistered event');
  assert.equal(event.event.data.deposit.toBigInt(), deposit);
  const at = await api.at(registered.blockHash);
  const holds = await at.query.balances.holds(candidate.address);
  assert.equal(holds.length, 1, 'one hold: the candidate deposit');
  assert.deepEqual(holds[0].id.toJSON(), { coinVoting: 'CandidateDeposit' });
  assert.equal(holds[0].amount.toBigInt(), deposit);
  const info = (await at.query.coinVoting.candidates(candidate.address)).unwrap();
  assert.equal(info.deposit.toBigInt(), deposit);
  const { data } = await at.query.system.account(candidate.address);
  assert.equal(data.reserved.toBigInt(), deposit, 'the deposit is out of the free balance');

  // A fresh account with a few existential deposits besides the vote's fee: its vote is
  // dispatched (the fee is paid) and refused for its balance.
  const dust = freshAccount(ring);
  const fee = (await api.tx.coinVoting.vote([candidate.address]).paymentInfo(dust.address))
    .partialFee.toBigInt();
  const funding = 2n * fee + 5n * ed;
  assert.ok(funding < minVoterBalance, `the fee (${fee}) leaves the account below the minimum`);
  const fundedDust = await sendAndFinalize(api, api.tx.balances.transferKeepAlive(dust.address, funding), alice);
  assert.equal(fundedDust.error, null);
  const refused = await sendAndFinalize(api, api.tx.coinVoting.vote([candidate.address]), dust);
  assert.equal(refused.error, 'coinVoting.VoterBalanceTooLow');
  assert.ok((await api.query.coinVoting.votes(dust.address)).isNone, 'no vote stored');
});

test('a candidate and its voter both receive dividends after a tally', async () => {
  // Enough for the candidate deposit and the fees.
  const candidate = await funded(api.consts.coinVoting.candidateDeposit.toBigInt() + 10n * SRW);
  const voter = await funded(1_000n * SRW);
  const registered = await sendAndFinalize(
    api, api.tx.coinVoting.registerCandidate(100_000_000 /* Perbill: 10 % */), candidate);
  assert.equal(registered.error, null);
  const voted = await sendAndFinalize(api, api.tx.coinVoting.vote([candidate.address]), voter);
  assert.equal(voted.error, null);
  // Balances pinned to blocks: at the vote's block (no tally has counted it yet) and at the
  // block of the last payout.
  const freeAt = async (hash, who) =>
    (await (await api.at(hash)).query.system.account(who.address)).data.free.toBigInt();
  const before = { candidate: await freeAt(voted.blockHash, candidate), voter: await freeAt(voted.blockHash, voter) };

  const paid = new Map();
  const paidAt = await waitForEvents((events) => {
    for (const event of events) {
      if (api.events.coinVoting.DividendPaid.is(event)) {
        const who = event.data.who.toString();
        paid.set(who, (paid.get(who) ?? 0n) + event.data.amount.toBigInt());
      }
    }
    return paid.has(candidate.address) && paid.has(voter.address);
  }, 180_000);

  const afterFree = { candidate: await freeAt(paidAt, candidate), voter: await freeAt(paidAt, voter) };
  assert.ok(paid.get(candidate.address) > 0n && paid.get(voter.address) > 0n);
  assert.equal(afterFree.candidate - before.candidate, paid.get(candidate.address));
  assert.equal(afterFree.voter - before.voter, paid.get(voter.address));
  // The voter backed with ~1,000 SRW, 90 % of the share is the voters'.
  assert.ok(paid.get(voter.address) > paid.get(candidate.address), 'voters get the larger part');
});
