// The DITEX from a wallet: register routers, read them back from storage, report a row
// (free), and read the exchange through the runtime API (`api.call`) and the node's
// `ditex_*` RPC; bad input gets its specific error.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { stringToU8a } from '@polkadot/util';
import { randomAsU8a } from '@polkadot/util-crypto';
import { clocks, connect, freshAccount, keyring, sendAndFinalize, SRW } from '../lib/chain.js';

const DEPOSIT = 100n * SRW;

let api;
let REPORT_PERIOD; // blocks, from the chain's genesis parameters
let a;
let b;

const endpoint = (last, port = 4500) => ({ V4: { ip: [192, 0, 2, last], port } });
const geo = (country) => ({ country: stringToU8a(country), asn: 3320, lat: 525_200, lon: 134_050 });

/** polkadot.js's `Json` codec turns a JSON array into an object keyed by index. */
function jsonList(codec) {
  const value = codec.toJSON();
  return Array.isArray(value) ? value : Object.values(value ?? {});
}

function register(who, { ep = endpoint(10), price = 1_000_000n } = {}) {
  return sendAndFinalize(api, api.tx.ditex.registerRouter(ep, geo('DE'), randomAsU8a(32), price), who);
}

before(async () => {
  api = await connect();
  ({ reportPeriod: REPORT_PERIOD } = await clocks(api));
  const ring = keyring();
  const alice = ring.addFromUri('//Alice');
  a = freshAccount(ring);
  b = freshAccount(ring);
  for (const who of [a, b]) {
    const funded = await sendAndFinalize(api, api.tx.balances.transferKeepAlive(who.address, 1_000n * SRW), alice);
    assert.equal(funded.error, null);
  }
});

after(async () => {
  await api?.disconnect();
});

test('a wallet registers a router; storage shows it with its deposit on hold', async () => {
  const result = await register(a, { price: 2_000_000n });
  assert.equal(result.error, null);
  const registered = result.events.find(({ event }) => api.events.ditex.RouterRegistered.is(event));
  assert.ok(registered, 'RouterRegistered event');
  const info = (await api.query.ditex.routers(a.address)).unwrap();
  assert.deepEqual(info.endpoint.toJSON(), { v4: { ip: '0xc000020a', port: 4500 } });
  assert.equal(info.deposit.toBigInt(), DEPOSIT);
  assert.equal(info.status.type, 'Active');
  const holds = await api.query.balances.holds(a.address);
  assert.equal(holds.length, 1);
  assert.equal(holds[0].amount.toBigInt(), DEPOSIT);
  // One router per endpoint: b cannot list a's, and lists its own.
  assert.equal((await register(b)).error, 'ditex.EndpointTaken');
  assert.equal((await register(b, { ep: endpoint(11) })).error, null);
});

test('a bad endpoint gets its own error', async () => {
  const zeroPort = await register(a, { ep: endpoint(10, 0) });
  assert.equal(zeroPort.error, 'ditex.EndpointZeroPort');
  const multicast = await register(a, { ep: { V4: { ip: [239, 1, 2, 3], port: 1 } } });
  assert.equal(multicast.error, 'ditex.EndpointMulticast');
});

test('a report is free and shows up in the runtime API and the ditex RPC', async () => {
  // Submit early in a period so the report lands in the period it names.
  let best = (await api.rpc.chain.getHeader()).number.toNumber();
  while ((best + 1) % REPORT_PERIOD > REPORT_PERIOD - 4) {
    await new Promise((r) => setTimeout(r, 2000));
    best = (await api.rpc.chain.getHeader()).number.toNumber();
  }
  const period = Math.floor((best + 1) / REPORT_PERIOD);
  const row = [{ peer: a.address, owdUs: -1500, rttUs: 21_000, jitterUs: 300, lossPpm: 0, samples: 60 }];
  const result = await sendAndFinalize(api, api.tx.ditex.report(period, row), b);
  assert.equal(result.error, null);
  const paid = result.events.find(({ event }) => api.events.transactionPayment.TransactionFeePaid.is(event));
  assert.equal(paid.event.data.actualFee.toBigInt(), 0n, 'the first report per period is free');

  const router = (await api.call.ditexApi.router(a.address)).unwrap();
  const group = router.group.toNumber();
  assert.equal(router.deposit.toBigInt(), DEPOSIT);
  const members = (await api.call.ditexApi.groupMembers(group)).map((m) => m.toString());
  assert.ok(members.includes(a.address) && members.includes(b.address));
  const segment = (await api.call.ditexApi.segment(a.address, b.address)).unwrap();
  assert.equal(segment.owdUs.toNumber(), -1500);

  const matrix = (await api.rpc.ditex.matrix(group)).toJSON();
  const index = (who) => matrix.members.findIndex((m) => m.account === who.address);
  const cell = matrix.cells.find((c) => c.from === index(a) && c.to === index(b));
  assert.equal(cell.segment.rttUs, 21_000);
  assert.equal(matrix.members[index(a)].pricePerGb, '2000000', 'balances are strings');

  const viaRpc = (await api.rpc.ditex.segment(a.address, b.address)).toJSON();
  assert.equal(viaRpc.owdUs, -1500);
  const rpcRouter = (await api.rpc.ditex.router(a.address)).toJSON();
  assert.equal(rpcRouter.deposit, DEPOSIT.toString());
  assert.match(rpcRouter.pulseKey, /^0x[0-9a-f]{64}$/);

  const paths = jsonList(await api.rpc.ditex.bestPaths(a.address, b.address, 2, null, null));
  assert.equal(paths.length, 1, 'only the direct segment is measured');
  assert.deepEqual(paths[0].hops, [a.address, b.address]);
  assert.equal(paths[0].latencyUs, -1500);
  assert.equal(paths[0].pricePerGb, '3000000');
  const capped = jsonList(await api.rpc.ditex.bestPaths(a.address, b.address, 1, '2999999', null));
  assert.deepEqual(capped, [], 'maxPrice filters');
});

test('ditex_bestPaths names unknown routers', async () => {
  const stranger = freshAccount(keyring());
  await assert.rejects(
    api.rpc.ditex.bestPaths(a.address, stranger.address, 1, null, null),
    /UnknownRouter/,
  );
});
