// A bill is fixed by what was in force when its epoch started. A consumer whose agent signed a
// receipt for two relays' traffic zeroes its spending cap and removes its receipt key before the
// relays claim: both relays are still paid in full, because the changes only take effect from
// the next epoch and the receipt was signed with the key in force for its own.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { u8aToHex } from '@polkadot/util';
import {
  bestNumber, claimOf, clocks, connect, epochOf, freshAccount, fundFromDevAccounts, keyring,
  sectionEvents, sendAndFinalize, SRW, twoRoutersAndAnEscrow, waitForBlock,
} from '../lib/chain.js';
import { signedReceipt } from '../lib/receipt.js';

const GB = 1_000_000_000n;
const PRICE = SRW; // per GB
const INFRA_PERCENT = 5n;

let api;
let ring;

before(async () => {
  api = await connect();
  ring = keyring();
});

after(async () => {
  await api?.disconnect();
});

test('a consumer that zeroes its cap and removes its key before settlement still pays both relays in full', { timeout: 360_000 }, async () => {
  const { epoch: EPOCH, claimWindow: CLAIM_WINDOW } = await clocks(api);
  const [relayA, relayB, consumer] = [freshAccount(ring), freshAccount(ring), freshAccount(ring)];
  const agent = freshAccount(ring); // the consumer's always-online agent: its receipt key
  const funded = await fundFromDevAccounts(api, ring, [
    [relayA, 1_000n * SRW], [relayB, 1_000n * SRW], [consumer, 100n * SRW],
  ]);
  funded.forEach((r) => assert.equal(r.error, null));
  const setup = await twoRoutersAndAnEscrow(api, [relayA, relayB], consumer, PRICE, 20n * SRW);
  setup.forEach((r) => assert.equal(r.error, null));
  const keySet = await sendAndFinalize(api, api.tx.escrow.setReceiptKey(u8aToHex(agent.publicKey)), consumer);
  assert.equal(keySet.error, null);

  // The key is in force from the epoch after the one it was set in.
  const epoch = (await epochOf(api, keySet.blockHash, EPOCH)) + 1;
  const keyEvent = keySet.events.find(({ event }) => api.events.escrow.ReceiptKeySet.is(event));
  assert.equal(keyEvent.event.data.fromEpoch.toNumber(), epoch, 'a key change waits for the next epoch');
  await waitForBlock(api, epoch * EPOCH);
  const { signed } = signedReceipt(api.genesisHash.toHex(), {
    consumer, signer: agent, path: [relayA, relayB], epoch, fwdOctets: 2n * GB, revOctets: GB, maxPricePerGb: 2n * PRICE,
  });

  // The traffic is done: the consumer tries to void its bill before anyone has claimed.
  const nonce = (await api.rpc.system.accountNextIndex(consumer.address)).toNumber();
  const voiding = Promise.all([
    sendAndFinalize(api, api.tx.escrow.setSpendingCap(0), consumer, { nonce }),
    sendAndFinalize(api, api.tx.escrow.setReceiptKey(null), consumer, { nonce: nonce + 1 }),
  ]);

  const end = (epoch + 1) * EPOCH;
  await waitForBlock(api, end - 1);
  const claims = await Promise.all([
    sendAndFinalize(api, api.tx.tickets.claim(claimOf(epoch, relayB, GB, 2n * GB, [signed])), relayA),
    sendAndFinalize(api, api.tx.tickets.claim(claimOf(epoch, relayA, 2n * GB, GB, [signed])), relayB),
  ]);
  for (const result of claims) {
    assert.equal(result.error, null);
    assert.ok(!result.events.some(({ event }) => api.events.tickets.ReceiptSkipped.is(event)),
      'the receipt counts: signed with the key in force for its epoch');
  }
  for (const result of await voiding) {
    assert.equal(result.error, null);
    const changed = result.events.find(({ event }) =>
      api.events.escrow.SpendingCapSet.is(event) || api.events.escrow.ReceiptKeySet.is(event));
    assert.ok(changed.event.data.fromEpoch.toNumber() > epoch, 'too late for the epoch already used');
  }

  const deadline = end + CLAIM_WINDOW;
  await waitForBlock(api, deadline + 1);
  const events = await sectionEvents(api, 'tickets', deadline, deadline + 1);
  assert.ok(events.some((e) => api.events.tickets.EpochSettled.is(e) && e.data.epoch.toNumber() === epoch));
  const hop = 3n * PRICE;
  const infra = (hop * INFRA_PERCENT) / 100n;
  for (const relay of [relayA, relayB]) {
    const payout = events.find((e) => api.events.tickets.Paid.is(e) && e.data.relay.toString() === relay.address);
    assert.ok(payout, `a payout to ${relay.address}`);
    assert.equal(payout.data.amount.toBigInt(), hop - infra, 'paid in full');
  }
  assert.ok(!events.some((e) => api.events.tickets.ChargeShortfall.is(e)), 'no shortfall: the cap of 0 came too late');
  const escrow = (await api.query.escrow.accounts(consumer.address)).unwrap();
  assert.equal(escrow.held.toBigInt(), 20n * SRW - 2n * hop);
  assert.ok(await bestNumber(api) > deadline);
});
