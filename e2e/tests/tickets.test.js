// The payment path end to end: a consumer funds its escrow from a wallet and signs a usage
// receipt in JavaScript (the golden-vector format); the two relays of its path put the receipt
// in their claims with matching link counters; after the claim window the chain settles and
// each relay is paid for its hop, minus the infrastructure's share.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  claimOf, clocks, connect, epochOf, freshAccount, fundFromDevAccounts, keyring, sectionEvents,
  sendAndFinalize, SRW, twoRoutersAndAnEscrow, waitForBlock as waitFor,
} from '../lib/chain.js';
import { signedReceipt } from '../lib/receipt.js';

const GB = 1_000_000_000n;
const PRICE = SRW; // per GB
const INFRA_PERCENT = 5n;

let api;
let EPOCH; // blocks, from the chain's genesis parameters
let CLAIM_WINDOW; // blocks, likewise
let ring;
let relayA;
let relayB;
let consumer;

before(async () => {
  api = await connect();
  ({ epoch: EPOCH, claimWindow: CLAIM_WINDOW } = await clocks(api));
  ring = keyring();
  relayA = freshAccount(ring);
  relayB = freshAccount(ring);
  consumer = freshAccount(ring);
  // Three funders, so the three transfers share a block.
  const funded = await fundFromDevAccounts(api, ring, [
    [relayA, 1_000n * SRW], [relayB, 1_000n * SRW], [consumer, 100n * SRW],
  ]);
  funded.forEach((r) => assert.equal(r.error, null));
});

after(async () => {
  await api?.disconnect();
});

const waitForBlock = (number) => waitFor(api, number);
const ticketEvents = (from, to) => sectionEvents(api, 'tickets', from, to);

test('a receipt signed in JavaScript is accepted in both relays\' claims and paid after settlement', { timeout: 300_000 }, async () => {
  const setup = await twoRoutersAndAnEscrow(api, [relayA, relayB], consumer, PRICE, 20n * SRW);
  setup.forEach((r) => assert.equal(r.error, null));

  // The flow's epoch: the one after the registrations' (a new router counts in its group, and
  // may carry metered traffic, from the next epoch's start).
  const registeredIn = await Promise.all(setup.map(({ blockHash }) => epochOf(api, blockHash, EPOCH)));
  const epoch = Math.max(...registeredIn) + 1;
  const { receipt, signed } = signedReceipt(api.genesisHash.toHex(), {
    consumer, path: [relayA, relayB], epoch, fwdOctets: 2n * GB, revOctets: GB, maxPricePerGb: 2n * PRICE, nonce: 3,
  });

  // Claims are accepted once the epoch has ended, until its claim window closes.
  const end = (epoch + 1) * EPOCH;
  await waitForBlock(end - 1);
  const claims = await Promise.all([
    sendAndFinalize(api, api.tx.tickets.claim(claimOf(epoch, relayB, GB, 2n * GB, [signed])), relayA),
    sendAndFinalize(api, api.tx.tickets.claim(claimOf(epoch, relayA, 2n * GB, GB, [signed])), relayB),
  ]);
  for (const result of claims) {
    assert.equal(result.error, null);
    assert.ok(result.events.some(({ event }) => api.events.tickets.ClaimAccepted.is(event)));
  }
  const deadline = end + CLAIM_WINDOW;
  await waitForBlock(deadline + 1);
  // Read in the window's last block, before settlement drains it. One record per (flow, path):
  // the key's last part is the path's hash.
  const beforeSettlement = await api.at(await api.rpc.chain.getBlockHash(deadline - 1));
  const records = await beforeSettlement.query.tickets.receipts.entries(epoch, consumer.address, receipt.flow);
  assert.equal(records.length, 1);
  const recorded = records[0][1].unwrap();
  assert.equal(recorded.receipt.nonce.toNumber(), 3, 'the chain verified and stored the JS-signed receipt');
  assert.equal(recorded.vouched.toNumber(), 3, 'both ends of the path vouched for it');
  const events = await ticketEvents(deadline, deadline + 1);
  const settled = events.find((e) => api.events.tickets.EpochSettled.is(e) && e.data.epoch.toNumber() === epoch);
  assert.ok(settled, `epoch ${epoch} settled by block ${deadline + 1}`);

  // Each relay carried 3 GB on the link (2 forward, 1 back) at 1 SRW per GB.
  const hop = 3n * PRICE;
  const infra = (hop * INFRA_PERCENT) / 100n;
  const paid = events.filter((e) => api.events.tickets.Paid.is(e));
  for (const relay of [relayA, relayB]) {
    const payout = paid.find((e) => e.data.relay.toString() === relay.address);
    assert.ok(payout, `a payout to ${relay.address}`);
    assert.equal(payout.data.amount.toBigInt(), hop - infra);
    assert.equal(payout.data.infra.toBigInt(), infra);
  }
  const escrow = (await api.query.escrow.accounts(consumer.address)).unwrap();
  assert.equal(escrow.held.toBigInt(), 20n * SRW - 2n * hop, 'the escrow paid exactly both hops');
});
