// A consumer lets its escrow run out: relay a's operator deposits a little more than the
// chain's minimum (1 SRW on the `ci` chain), sends traffic through its tunnel to relay b, and
// then asks for most of it back. From the next epoch its escrow backs less than the minimum:
// its own ingress refuses the tunnel's traffic, says why in its log and in the tunnel's status
// (`/api/paths`), and no more traffic reaches b; b is paid for what was receipted before,
// from the escrow, exactly. Read back through polkadot.js.
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

before(async () => {
  api = await connect();
  lab = new Relays('srwan-relay-escrow-');
  unsubscribe = await api.rpc.chain.subscribeNewHeads(async (header) => {
    const records = await (await api.at(header.hash)).query.system.events();
    for (const { event } of records) {
      if (['tickets', 'escrow'].includes(event.section)) {
        event.blockNumber = header.number.toNumber();
        event.blockHash = header.hash;
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

test('a consumer whose escrow runs low is refused at its ingress and its relays are paid for what was receipted', async () => {
  const ring = keyring();
  const [a, b] = ['//Charlie', '//Dave'].map((uri) => ring.addFromUri(uri));
  const ports = [await freePort('udp'), await freePort('udp')];
  const [tunnelPort, echoPort] = [await freePort('udp'), await freePort('udp')];
  echo = await echoServer(echoPort);

  const listing = (uri, port) => chainRelayConfig({ ws: WS, uri, port, destinations: [`127.0.0.1:${echoPort}`] });
  const relays = [
    await lab.start(
      'a',
      listing('//Charlie', ports[0]),
      async () => { await lab.cli('a', 'escrow', 'deposit', '1.5'); },
      ['tunnel', '--listen', `127.0.0.1:${tunnelPort}`, '--via', b.address, '--to', `127.0.0.1:${echoPort}`],
    ),
    await lab.start('b', listing('//Dave', ports[1])),
  ];
  await lab.waitFor(
    'the two relays did not relay for a group of two from the chain',
    async () => (await Promise.all(relays.map((r) => lab.api(r)))).every((s) => s?.group_size === 2),
    150,
  );

  client = createSocket('udp4');
  await new Promise((resolve) => client.bind(0, '127.0.0.1', resolve));
  let echoed = 0;
  client.on('message', () => { echoed += 1; });
  const payload = Buffer.alloc(1000, 7);
  const sender = setInterval(() => {
    for (let i = 0; i < 5; i += 1) client.send(payload, tunnelPort, '127.0.0.1');
  }, 20);
  try {
    await lab.waitFor('no echo came back through the tunnel', async () => echoed > 0, 60);
    const paidB = () => events.filter((e) => e.method === 'Paid' && e.data.relay.toString() === b.address);
    await lab.waitFor('relay b was not paid for the tunnel\'s traffic', async () => paidB().length > 0, 150);

    // The consumer asks for 1 SRW back: 0.5 SRW backs the next epoch, half the minimum.
    const requested = (await api.rpc.chain.getHeader()).number.toNumber();
    await lab.cli('a', 'escrow', 'request-withdraw', '1');
    const refusal = await lab.waitFor(
      'the ingress did not refuse the tunnel\'s traffic',
      async () => (await lab.api(relays[0], 'paths'))?.[0]?.refused,
      90,
    );
    assert.match(refusal, /escrow backs less than the chain's minimum/);
    assert.match(relays[0].log(), /tunnel traffic refused/);
    // Nothing more reaches the destination (what was in flight excepted).
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const before = echo.seen();
    await new Promise((resolve) => setTimeout(resolve, 8_000));
    assert.ok(echo.seen() - before <= 5, `${echo.seen() - before} datagrams delivered after the refusal`);
    const { escrow } = JSON.parse(await lab.cli('a', 'status', '--json'));
    assert.ok(BigInt(escrow.available) < BigInt(escrow.min_escrow), JSON.stringify(escrow));

    // Every epoch that carried traffic is settled and paid; the escrow paid exactly that.
    const lastCarried = Math.floor(requested / 4) + 1;
    await lab.waitFor(
      'relay b was not paid for the epochs before the refusal',
      async () => events.some((e) => e.method === 'EpochSettled' && e.data.epoch.toNumber() >= lastCarried),
      150,
    );
    const latest = events.reduce((x, y) => (y.blockNumber > x.blockNumber ? y : x));
    const account = (await (await api.at(latest.blockHash)).query.escrow.accounts(a.address)).unwrap();
    const charged = paidB()
      .filter((e) => e.blockNumber <= latest.blockNumber)
      .reduce((sum, e) => sum + e.data[3].toBigInt() + e.data[4].toBigInt(), 0n);
    assert.ok(charged > 0n);
    assert.equal(15n * 10n ** 11n - account.held.toBigInt(), charged, 'the escrow paid exactly the payouts');
  } finally {
    clearInterval(sender);
  }
});
