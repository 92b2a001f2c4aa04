// A relay that inflates its counters is disputed by every peer it exchanged traffic with and
// quarantined. Five agents register themselves on chain and form a group; the consumer a sends
// three tunnels, each pinned through relay l to an egress of its own (c, d, e), so l exchanges
// receipted traffic with four aged peers. For one epoch l lies: its agent is paused (SIGSTOP)
// around the epoch's end while the test signs l's claim with l's key, every counter inflated
// a thousandfold, then resumed (its own claim is refused as a second). Read back through
// polkadot.js: every link touching l is disputed and unpaid for that epoch, l alone is reported
// for disputes and quarantined — in `ditex_router`, its `status --json` and on its dashboard —
// and its honest peers are paid again in the epochs after.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { chainRelayConfig, closeSockets, echoServer, freePort, Relays } from '../lib/relay.js';
import { connect, keyring, WS } from '../lib/chain.js';

let api;
let lab;
const events = [];
let echo;
let client;
let unsubscribe = () => {};
/** Callbacks waiting for new heads: `(number) => done?`. */
const headWaiters = new Set();

before(async () => {
  api = await connect();
  lab = new Relays('srwan-relay-quarantine-');
  unsubscribe = await api.rpc.chain.subscribeNewHeads(async (header) => {
    const number = header.number.toNumber();
    for (const waiter of [...headWaiters]) waiter(number);
    const records = await (await api.at(header.hash)).query.system.events();
    for (const { event } of records) {
      if (['tickets', 'ditex'].includes(event.section)) {
        event.blockNumber = number;
        events.push(event);
      }
    }
  });
});

after(async () => {
  await lab?.stop();
  closeSockets(client, echo);
  unsubscribe();
  await api?.disconnect();
});

/** Resolves with the number of the first new head for which `wanted(number)` holds. */
function nextHead(wanted) {
  return new Promise((resolve) => {
    const waiter = (number) => {
      if (wanted(number)) {
        headWaiters.delete(waiter);
        resolve(number);
      }
    };
    headWaiters.add(waiter);
  });
}

/** Signs and sends `tx` as `signer`; resolves once it is in a block, with its error if any. */
function sendToBlock(tx, signer) {
  return new Promise((resolve, reject) => {
    let unsub = () => {};
    tx.signAndSend(signer, ({ status, dispatchError }) => {
      if (status.isInvalid || status.isDropped || status.isUsurped) {
        unsub();
        reject(new Error(`transaction ${status.type}`));
      } else if (status.isInBlock) {
        unsub();
        const error = dispatchError?.isModule ? api.registry.findMetaError(dispatchError.asModule).name : dispatchError?.toString();
        resolve(error ?? null);
      }
    }).then((u) => { unsub = u; }).catch(reject);
  });
}

test('a relay inflating its counters is disputed by its peers and quarantined', async () => {
  const ring = keyring();
  const [a, l, c, d, e] = ['//Charlie', '//Dave', '//Eve', '//Ferdie', '//Bob'].map((uri) => ring.addFromUri(uri));
  const uris = { a: '//Charlie', l: '//Dave', c: '//Eve', d: '//Ferdie', e: '//Bob' };
  const ports = Object.fromEntries(await Promise.all(Object.keys(uris).map(async (n) => [n, await freePort('udp')])));
  const echoPort = await freePort('udp');
  const tunnelPorts = [await freePort('udp'), await freePort('udp'), await freePort('udp')];
  echo = await echoServer(echoPort);

  const listing = (name) => chainRelayConfig({
    ws: WS, uri: uris[name], port: ports[name], destinations: [`127.0.0.1:${echoPort}`],
  });
  const tunnels = [c, d, e].flatMap((egress, i) => [
    '[[tunnels]]',
    `listen = "127.0.0.1:${tunnelPorts[i]}"`,
    `egress = "${egress.address}"`,
    `to = "127.0.0.1:${echoPort}"`,
    `through = ["${l.address}"]`,
  ]);
  const relays = {};
  relays.a = await lab.start('a', [...listing('a'), ...tunnels], async () => {
    await lab.cli('a', 'escrow', 'deposit', '50');
  });
  for (const name of ['l', 'c', 'd', 'e']) relays[name] = await lab.start(name, listing(name));
  const all = Object.values(relays);
  await lab.waitFor(
    'the five relays did not relay for a group of five from the chain',
    async () => (await Promise.all(all.map((r) => lab.api(r)))).every((s) => s?.group_size === 5),
    180,
  );

  client = createSocket('udp4');
  await new Promise((resolve) => client.bind(0, '127.0.0.1', resolve));
  let echoed = 0;
  client.on('message', () => { echoed += 1; });
  const payload = Buffer.alloc(1000, 7);
  const sender = setInterval(() => {
    for (const port of tunnelPorts) for (let i = 0; i < 2; i += 1) client.send(payload, port, '127.0.0.1');
  }, 20);
  try {
    await lab.waitFor('no echo came back through the tunnels', async () => echoed > 0, 60);
    // Disputes count only against peers registered for `min_age_epochs` (2 on `ci`): wait
    // until every router is old enough, and an epoch of traffic has run since.
    const params = await api.query.tickets.params();
    const registered = await Promise.all([a, l, c, d, e].map(async (who) => (await api.query.ditex.routers(who.address)).unwrap().registeredEpoch.toNumber()));
    const liarEpoch = Math.max(...registered) + params.minAgeEpochs.toNumber() + 1;
    // l is paused during the epoch's last block and its claim signed by the test at once.
    await nextHead((n) => n >= liarEpoch * 4 + 3);
    relays.l.child.kill('SIGSTOP');
    let resumed = false;
    try {
      await nextHead((n) => n >= (liarEpoch + 1) * 4);
      const inflated = (peer) => ({ peer: peer.address, inOctets: 10n ** 13n, outOctets: 10n ** 13n, peerBoots: [] });
      const claim = { epoch: liarEpoch, restarted: false, peers: [a, c, d, e].map(inflated), receipts: [] };
      assert.equal(await sendToBlock(api.tx.tickets.claim(claim), l), null, 'the inflated claim is accepted');
    } finally {
      relays.l.child.kill('SIGCONT');
      resumed = true;
    }
    assert.ok(resumed);

    const reported = await lab.waitFor(
      'relay l was not reported for disputes',
      async () => events.find((ev) => ev.method === 'ReportedForDisputes'),
      120,
    );
    assert.equal(reported.data.router.toString(), l.address);
    assert.ok(reported.data.counterparties.toNumber() >= params.disputeCounterparties.toNumber());
    // The liar's epoch: every link touching l disputed, none forgiven, nobody on them paid.
    const judged = events.filter((ev) => ev.method === 'DisputeJudged' && ev.data.epoch.toNumber() === liarEpoch);
    for (const peer of [a, c, d, e]) {
      assert.ok(
        judged.some((ev) => [ev.data.from.toString(), ev.data.to.toString()].sort().join() === [l.address, peer.address].sort().join()),
        `the link between l and ${peer.address} was judged`,
      );
    }
    assert.ok(judged.every((ev) => ev.data.forgiven.isFalse));
    const paidThen = events.filter((ev) => ev.method === 'Paid' && ev.data.epoch.toNumber() === liarEpoch);
    assert.deepEqual(paidThen.map((ev) => ev.data.relay.toString()), [], 'links touching l are unpaid');
    assert.equal(events.filter((ev) => ev.method === 'ReportedForDisputes').length, 1, 'nobody else is reported');

    // Quarantined: in the exchange's RPC, in its own status and (from the next epoch's
    // snapshot) on its dashboard.
    const viaRpc = (await api.rpc.ditex.router(l.address)).toJSON();
    assert.match(JSON.stringify(viaRpc.status), /quarantined/i, JSON.stringify(viaRpc));
    // `status` reads the finalized chain, a few blocks behind.
    await lab.waitFor(
      'l\'s status does not show the quarantine',
      async () => JSON.parse(await lab.cli('l', 'status', '--json')).state === 'quarantined',
      60,
    );
    await lab.waitFor(
      'l\'s dashboard does not show the quarantine',
      async () => (await lab.api(relays.l))?.chain?.quarantined === true,
      90,
    );
    // Its honest peers are paid again for an epoch after the liar's.
    await lab.waitFor(
      'the egresses were not paid after the liar\'s epoch',
      async () => events.some((ev) => ev.method === 'Paid' && ev.data.epoch.toNumber() > liarEpoch && ev.data.relay.toString() !== l.address),
      150,
    );
  } finally {
    clearInterval(sender);
  }
});
