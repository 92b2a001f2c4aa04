// Escrow backs only what it can pay: a consumer that asks for most of its escrow back and keeps
// sending traffic is charged, from the epoch after its request, only from what it did not ask
// back (held − pending); the requested amount stays on hold until its epoch settles and then
// comes back whole.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  claimOf, clocks, connect, epochOf, freshAccount, fundFromDevAccounts, keyring, sectionEvents,
  sendAndFinalize, SRW, twoRoutersAndAnEscrow, waitForBlock,
} from '../lib/chain.js';
import { signedReceipt } from '../lib/receipt.js';

const GB = 1_000_000_000n;
const PRICE = SRW; // per GB

let api;
let ring;

before(async () => {
  api = await connect();
  ring = keyring();
});

after(async () => {
  await api?.disconnect();
});

const heldBy = async (address) => (await api.query.balances.holds(address))
  .reduce((sum, h) => sum + h.amount.toBigInt(), 0n);

test('a consumer withdrawing while it sends is charged only from held − pending and gets the rest back after settlement', { timeout: 360_000 }, async () => {
  const { epoch: EPOCH, claimWindow: CLAIM_WINDOW } = await clocks(api);
  const [relayA, relayB, consumer] = [freshAccount(ring), freshAccount(ring), freshAccount(ring)];
  const funded = await fundFromDevAccounts(api, ring, [
    [relayA, 1_000n * SRW], [relayB, 1_000n * SRW], [consumer, 100n * SRW],
  ]);
  funded.forEach((r) => assert.equal(r.error, null));
  const setup = await twoRoutersAndAnEscrow(api, [relayA, relayB], consumer, PRICE, 10n * SRW);
  setup.forEach((r) => assert.equal(r.error, null));

  const requested = await sendAndFinalize(api, api.tx.escrow.requestWithdraw(8n * SRW), consumer);
  assert.equal(requested.error, null);
  const unlockAt = requested.events
    .find(({ event }) => api.events.escrow.WithdrawRequested.is(event)).event.data.unlockAt.toNumber();
  const epoch = (await epochOf(api, requested.blockHash, EPOCH)) + 1;
  const available = await api.call.meteringApi.escrowAvailable(consumer.address, epoch);
  assert.equal(available.toBigInt(), 2n * SRW, 'the runtime API shows what backs the next epoch');

  // Traffic in the next epoch: 2 GB forward and 1 GB back through both relays, 6 SRW in all.
  await waitForBlock(api, epoch * EPOCH);
  const { signed } = signedReceipt(api.genesisHash.toHex(), {
    consumer, path: [relayA, relayB], epoch, fwdOctets: 2n * GB, revOctets: GB, maxPricePerGb: 2n * PRICE,
  });
  const end = (epoch + 1) * EPOCH;
  await waitForBlock(api, end - 1);
  const claims = await Promise.all([
    sendAndFinalize(api, api.tx.tickets.claim(claimOf(epoch, relayB, GB, 2n * GB, [signed])), relayA),
    sendAndFinalize(api, api.tx.tickets.claim(claimOf(epoch, relayA, 2n * GB, GB, [signed])), relayB),
  ]);
  claims.forEach((r) => assert.equal(r.error, null));

  const deadline = end + CLAIM_WINDOW;
  await waitForBlock(api, deadline + 1);
  const events = await sectionEvents(api, 'tickets', deadline, deadline + 1);
  const shortfall = events.find((e) => api.events.tickets.ChargeShortfall.is(e));
  assert.ok(shortfall, 'the bill exceeded what the escrow still backed');
  assert.equal(shortfall.data.owed.toBigInt(), 6n * PRICE);
  assert.equal(shortfall.data.payable.toBigInt(), 2n * SRW, 'charged only from held − pending');
  assert.equal(await heldBy(consumer.address), 8n * SRW, 'the pending amount is untouched');

  await waitForBlock(api, unlockAt);
  const withdrawn = await sendAndFinalize(api, api.tx.escrow.withdraw(), consumer);
  assert.equal(withdrawn.error, null);
  const released = withdrawn.events.find(({ event }) => api.events.escrow.Withdrawn.is(event));
  assert.equal(released.event.data.amount.toBigInt(), 8n * SRW, 'the whole request comes back');
  assert.equal(await heldBy(consumer.address), 0n);
});
