// A relay rotates its pulse key while it relays traffic: `srwan-relay key rotate` on relay b
// registers a new key, which the chain keeps beside the old one until the next epoch's first
// block (read back through polkadot.js and `ditex_router`); then b signs with it, its data dir
// holds it as the pulse key, and relay a, which took the group (with b's new key) from the
// chain at the same epoch start, measures b again and its tunnel's echoes keep coming back
// through b (pulse signatures and the link keys derived from the new key both work).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { u8aToHex } from '@polkadot/util';
import { chainRelayConfig, closeSockets, echoServer, freePort, Relays } from '../lib/relay.js';
import { bestNumber, connect, keyring, WS } from '../lib/chain.js';

let api;
let lab;
let echo;
let client;

before(async () => {
  api = await connect();
  lab = new Relays('srwan-relay-rotate-');
});

after(async () => {
  await lab?.stop();
  closeSockets(client, echo);
  await api?.disconnect();
});

test('a relay rotates its pulse key at an epoch start and its group and tunnel follow', async () => {
  const b = keyring().addFromUri('//Dave');
  const ports = [await freePort('udp'), await freePort('udp')];
  const [tunnelPort, echoPort] = [await freePort('udp'), await freePort('udp')];
  echo = await echoServer(echoPort);
  const listing = (uri, port) => chainRelayConfig({ ws: WS, uri, port, destinations: [`127.0.0.1:${echoPort}`] });
  const relays = [
    // Relay a's operator pays for the tunnel: an escrow first.
    await lab.start('a', listing('//Charlie', ports[0]), async () => { await lab.cli('a', 'escrow', 'deposit', '10'); }, [
      'tunnel', '--listen', `127.0.0.1:${tunnelPort}`, '--via', b.address, '--to', `127.0.0.1:${echoPort}`,
    ]),
    await lab.start('b', listing('//Dave', ports[1])),
  ];
  const statuses = async () => Promise.all(relays.map((r) => lab.api(r)));
  await lab.waitFor(
    'the two relays did not measure each other in a group of two from the chain',
    async () => (await statuses()).every((s) => s?.group_size === 2 && s.peers_measured === 1),
    150,
  );

  client = createSocket('udp4');
  await new Promise((resolve) => client.bind(0, '127.0.0.1', resolve));
  let echoed = 0;
  client.on('message', () => { echoed += 1; });
  const sender = setInterval(() => client.send(Buffer.alloc(200, 1), tunnelPort, '127.0.0.1'), 50);
  try {
    await lab.waitFor('no echo came back through the tunnel', async () => echoed > 0, 60);

    const oldKey = (await lab.cli('b', 'key', '--pulse')).trim();
    const rotated = await lab.cli('b', 'key', 'rotate');
    const [, newKey, fromEpoch] = rotated.match(/pulse key (0x[0-9a-f]{64}) signs from epoch (\d+)/) ?? [];
    assert.ok(newKey, rotated);
    assert.notEqual(newKey, oldKey);
    assert.match(await lab.cli('b', 'key'), new RegExp(`^next key\\s+${newKey}`, 'm'));
    // The chain keeps both: the old key in force, the new one scheduled.
    const next = (await api.query.ditex.nextPulseKeys(b.address)).unwrap();
    assert.equal(u8aToHex(next.key), newKey);
    assert.equal(next.fromEpoch.toNumber(), Number(fromEpoch));
    const view = (await api.rpc.ditex.router(b.address)).toJSON();
    const epochLength = (await api.query.ditex.params()).epochLength.toNumber();
    if (Math.floor((await bestNumber(api)) / epochLength) < Number(fromEpoch)) {
      assert.equal(view.pulseKey, oldKey, JSON.stringify(view));
      assert.equal(view.nextPulseKey?.key, newKey, JSON.stringify(view));
    }
    const bootBefore = (await lab.api(relays[0])).boot_time;

    // At that epoch's start b signs with the new key and keeps it as its pulse key.
    await lab.waitFor(
      'b did not switch to its new pulse key',
      async () => /new pulse key in force: signing with it from now/.test(relays[1].log()),
      90,
    );
    assert.equal((await lab.cli('b', 'key', '--pulse')).trim(), newKey);
    assert.doesNotMatch(await lab.cli('b', 'key'), /^next key/m);
    const inForce = (await api.rpc.ditex.router(b.address)).toJSON();
    assert.equal(inForce.pulseKey, newKey);
    assert.equal(inForce.nextPulseKey, null);

    // a took b's new key from the chain (a new generation) and measures b again, and data
    // still goes through b both ways.
    await lab.waitFor(
      'a did not measure b under its new key',
      async () => {
        const s = await lab.api(relays[0]);
        return s && s.boot_time !== bootBefore && s.peers_measured === 1;
      },
      60,
    );
    const echoedAtSwitch = echoed;
    await lab.waitFor('no echo came back through b after the switch', async () => echoed > echoedAtSwitch + 20, 30);
    const badSignatures = (await lab.api(relays[0])).drops.find(([reason]) => reason === 'BadSignature');
    assert.ok(!badSignatures || badSignatures[1] < 10, `a dropped ${badSignatures?.[1]} datagrams of b's as badly signed`);
  } finally {
    clearInterval(sender);
  }
});
