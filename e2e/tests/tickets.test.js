// The payment path end to end: a consumer funds its escrow from a wallet and signs a usage
// receipt in JavaScript (the golden-vector format); the two relays of its path put the receipt
// in their claims with matching link counters; after the claim window the chain settles and
// each relay is paid for its hop, minus the infrastructure's share.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { stringToU8a, u8aToHex } from '@polkadot/util';
import { randomAsU8a } from '@polkadot/util-crypto';
import { clocks, connect, freshAccount, keyring, sendAndFinalize, SRW } from '../lib/chain.js';
import { signingPayload } from '../lib/receipt.js';

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
  const funded = await Promise.all([
    ['//Alice', relayA, 1_000n * SRW],
    ['//Bob', relayB, 1_000n * SRW],
    ['//Charlie', consumer, 100n * SRW],
  ].map(([uri, who, amount]) => sendAndFinalize(
    api, api.tx.balances.transferKeepAlive(who.address, amount), ring.addFromUri(uri))));
  funded.forEach((r) => assert.equal(r.error, null));
});

after(async () => {
  await api?.disconnect();
});

async function bestNumber() {
  return (await api.rpc.chain.getHeader()).number.toNumber();
}

async function waitForBlock(number) {
  while ((await bestNumber()) < number) await new Promise((r) => setTimeout(r, 1000));
}

/** Every event of pallet-tickets in blocks `from..=to`. */
async function ticketEvents(from, to) {
  const found = [];
  for (let n = from; n <= to; n += 1) {
    const hash = await api.rpc.chain.getBlockHash(n);
    const events = await (await api.at(hash)).query.system.events();
    events.filter(({ event }) => event.section === 'tickets').forEach(({ event }) => found.push(event));
  }
  return found;
}

test('a receipt signed in JavaScript is accepted in both relays\' claims and paid after settlement', { timeout: 300_000 }, async () => {
  const geo = { country: stringToU8a('DE'), asn: 3320, lat: 525_200, lon: 134_050 };
  const setup = await Promise.all([
    sendAndFinalize(api, api.tx.ditex.registerRouter({ V4: { ip: [198, 51, 100, 1], port: 4500 } }, geo, randomAsU8a(32), PRICE), relayA),
    sendAndFinalize(api, api.tx.ditex.registerRouter({ V4: { ip: [198, 51, 100, 2], port: 4500 } }, geo, randomAsU8a(32), PRICE), relayB),
    sendAndFinalize(api, api.tx.escrow.deposit(20n * SRW), consumer),
  ]);
  setup.forEach((r) => assert.equal(r.error, null));

  // The flow's epoch: the current one (both routers are listed from the epoch they registered in).
  const epoch = Math.floor((await bestNumber()) / EPOCH);
  const receipt = {
    consumer: u8aToHex(consumer.publicKey),
    flow: u8aToHex(randomAsU8a(16)),
    path: [u8aToHex(relayA.publicKey), u8aToHex(relayB.publicKey)],
    epoch,
    fwdOctets: (2n * GB).toString(),
    revOctets: GB.toString(),
    maxPricePerGb: (2n * PRICE).toString(),
    nonce: 3,
  };
  const signature = u8aToHex(consumer.sign(signingPayload(receipt, api.genesisHash.toHex())));
  const signed = { receipt: { ...receipt, path: [relayA.address, relayB.address], consumer: consumer.address }, signature };

  // Claims are accepted once the epoch has ended, until its claim window closes.
  const end = (epoch + 1) * EPOCH;
  await waitForBlock(end - 1);
  const claimOf = (peer, inOctets, outOctets) => ({
    epoch, bootTime: 1_700_000_000, peers: [{ peer: peer.address, inOctets, outOctets }], receipts: [signed],
  });
  const claims = await Promise.all([
    sendAndFinalize(api, api.tx.tickets.claim(claimOf(relayB, GB, 2n * GB)), relayA),
    sendAndFinalize(api, api.tx.tickets.claim(claimOf(relayA, 2n * GB, GB)), relayB),
  ]);
  for (const result of claims) {
    assert.equal(result.error, null);
    assert.ok(result.events.some(({ event }) => api.events.tickets.ClaimAccepted.is(event)));
  }
  // Read at a claim's block: with short epochs settlement may have drained it since.
  const atClaim = await api.at(claims[0].blockHash);
  const recorded = await atClaim.query.tickets.receipts(epoch, consumer.address, receipt.flow);
  assert.equal(recorded.unwrap().nonce.toNumber(), 3, 'the chain verified and stored the JS-signed receipt');

  const deadline = end + CLAIM_WINDOW;
  await waitForBlock(deadline + 1);
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
