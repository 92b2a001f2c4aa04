// Five relay agents meet on chain and are paid: each lists itself from its own
// `[chain.router]`, takes its group, the members' endpoints and pulse keys from the chain at an
// epoch's start, reports its inbound row every period, carries a tunnel's traffic stamped with
// the chain's epoch, and claims that epoch after it ends. The tunnel's operator (relay a's
// account) deposited escrow and registered a receipt key with the CLI; its tunnel is pinned
// through relays b and d to the egress c, and its receipts travel that path in-band, so b and c claim
// them too. Read back through polkadot.js: every relay reported, both ends of both links
// claimed the same epoch and agree (no dispute), b, d and c were each paid price × octets of
// their inbound link from the escrow and the escrow went down by exactly the payouts; relay e,
// in the group but on no path, is paid nothing; a kill -9 of the transit relay b is forgiven
// and paid; the dashboards and `status --json` show it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { chainRelayConfig, closeSockets, echoServer, freePort, Relays } from '../lib/relay.js';
import { connect, keyring, WS } from '../lib/chain.js';

let api;
let lab;
const events = [];
const fees = [];
/** The test's UDP sockets: closed after it, whatever happens (open ones keep node alive). */
let echo;
let client;
let unsubscribe = () => {};

before(async () => {
  api = await connect();
  lab = new Relays('srwan-relay-group-');
  // Every block's events, with the block they are in (a single authority: no forks).
  unsubscribe = await api.rpc.chain.subscribeNewHeads(async (header) => {
    const apiAt = await api.at(header.hash);
    const [records, extrinsics] = await Promise.all([
      apiAt.query.system.events(),
      api.rpc.chain.getBlock(header.hash).then((b) => b.block.extrinsics),
    ]);
    for (const { event, phase } of records) {
      // The fee of each relay's extrinsic, with its call and size (for docs/PERFORMANCE.md).
      if (event.section === 'transactionPayment' && phase.isApplyExtrinsic) {
        const xt = extrinsics[phase.asApplyExtrinsic.toNumber()];
        fees.push({
          who: event.data[0].toString(),
          call: `${xt.method.section}.${xt.method.method}`,
          fee: event.data[1].toBigInt(),
          bytes: xt.encodedLength,
        });
      }
      if (['tickets', 'ditex'].includes(event.section)) {
        event.blockHash = header.hash;
        event.blockNumber = header.number.toNumber();
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

test('relays form their group from the chain, report, carry stamped traffic and claim it', async () => {
  const ring = keyring();
  const [a, b, c, d, idle] = ['//Charlie', '//Dave', '//Eve', '//Ferdie', '//Bob'].map((uri) => ring.addFromUri(uri));
  const ports = await Promise.all([1, 2, 3, 4, 5].map(() => freePort('udp')));
  const [tunnelPort, echoPort] = [await freePort('udp'), await freePort('udp')];

  // The destination: a UDP echo server.
  echo = await echoServer(echoPort);

  const listing = (uri, port, country, price) => chainRelayConfig({
    ws: WS, uri, port, destinations: [`127.0.0.1:${echoPort}`], country, price,
  });
  const relays = [
    // Relay a's operator is the consumer: it deposits escrow and registers a receipt key
    // with the CLI, then runs the relay with an ad hoc tunnel to relay c, pinned through b
    // and d.
    await lab.start(
      'a',
      listing('//Charlie', ports[0], 'DE', '0.5'),
      async () => {
        await lab.cli('a', 'escrow', 'deposit', '50');
        await lab.cli('a', 'escrow', 'set-receipt-key');
      },
      [
        'tunnel', '--listen', `127.0.0.1:${tunnelPort}`, '--via', c.address, '--through', b.address,
        '--through', d.address, '--to', `127.0.0.1:${echoPort}`,
      ],
    ),
    await lab.start('b', listing('//Dave', ports[1], 'FR', '0.2')),
    await lab.start('c', listing('//Eve', ports[2], 'NL', '0.3')),
    await lab.start('d', listing('//Ferdie', ports[3], 'BE', '0.4')),
    // The cheapest relay, on no path: the pinned path does not cross it.
    await lab.start('e', listing('//Bob', ports[4], 'AT', '0.1')),
  ];

  // They register themselves, and relay from the next epoch's start in the chain's group.
  await lab.waitFor(
    'the five relays did not relay for a group of five from the chain',
    async () => {
      const seen = await Promise.all(relays.map((r) => lab.api(r)));
      return seen.every((s) => s?.group_size === 5);
    },
    150,
  );
  for (const who of [a, b, c, d, idle]) {
    assert.ok((await api.query.ditex.routers(who.address)).isSome, `${who.address} registered itself`);
  }

  // Traffic through the tunnel: a → b → d → c (the pinned path), echoed back c → d → b → a.
  client = createSocket('udp4');
  await new Promise((resolve) => client.bind(0, '127.0.0.1', resolve));
  let echoed = 0;
  client.on('message', () => { echoed += 1; });
  const payload = Buffer.alloc(1000, 7);
  let sent = 0;
  const sender = setInterval(() => {
    for (let i = 0; i < 5; i += 1) {
      client.send(payload, tunnelPort, '127.0.0.1');
      sent += 1;
    }
  }, 20);
  try {
    await lab.waitFor('no echo came back through the tunnel', async () => echoed > 0, 60);
    // Traffic runs through at least one whole epoch; then every relay of the path claims it.
    const claimed = await lab.waitFor(
      'relays a, b, d and c did not all claim an epoch',
      async () => {
        const accepted = events.filter((x) => x.method === 'ClaimAccepted');
        const by = (who) => new Set(accepted.filter((x) => x.data.relay.toString() === who.address).map((x) => x.data.epoch.toNumber()));
        const [ofA, ofB, ofC, ofD] = [by(a), by(b), by(c), by(d)];
        const all = [...ofA].filter((epoch) => ofB.has(epoch) && ofC.has(epoch) && ofD.has(epoch));
        return all.length >= 2 ? all : null;
      },
      150,
    );
    // The last of the epochs they all claimed ran with traffic throughout. Both figures of
    // each link are on chain from the block of the last claim until settlement.
    const epoch = Math.max(...claimed);
    const claims = events.filter((e) => e.method === 'ClaimAccepted' && e.data.epoch.toNumber() === epoch);
    const blocks = await Promise.all(
      claims.map(async (e) => ({ hash: e.blockHash, number: (await api.rpc.chain.getHeader(e.blockHash)).number.toNumber() })),
    );
    const later = blocks.reduce((x, y) => (y.number > x.number ? y : x));
    const at = await api.at(later.hash);
    const link = async (from, to) => (await at.query.tickets.links(epoch, from.address, to.address)).toJSON();
    const links = {
      ab: await link(a, b), bd: await link(b, d), dc: await link(d, c),
      cd: await link(c, d), db: await link(d, b), ba: await link(b, a),
    };
    for (const [name, figures] of Object.entries(links)) {
      // Both ends counted the link, and agree within the chain's tolerance (no dispute).
      assert.ok(figures.sent > 0 && figures.received > 0, `${name} ${JSON.stringify(figures)}`);
      assert.ok(Math.abs(figures.sent - figures.received) <= figures.sent * 0.02, `${name} ${JSON.stringify(figures)}`);
    }
    assert.equal(events.filter((e) => e.method === 'LinkDisputed').length, 0, 'no link disputed');
    // An epoch is 4 blocks of 6 s: 24 s of 250 datagrams a second (1000 B of payload each,
    // a header on top) is about 6 MB each way; the figures are of that order.
    assert.ok(links.ab.sent > 1_000_000 && links.ab.sent < 40_000_000, `forward ${links.ab.sent}`);
    // Every relay of the path claimed receipts: a signs its own, b and c hold the ones that
    // came along the path (ClaimAccepted { relay, epoch, restarted, peers, receipts, .. }).
    for (const who of [a, b, d, c]) {
      const claim = claims.find((e) => e.data.relay.toString() === who.address);
      assert.ok(claim && claim.data[4].toNumber() > 0, `${who.address} claimed receipts: ${JSON.stringify(claim?.data.toJSON())}`);
    }

    // After settlement b, d and c are paid from the consumer's escrow for that epoch (relay a,
    // the consumer's own, is not, nor is relay e, on no path): each its price times the octets of its inbound link, both
    // ways, as the receipts vouch for them (the ingress's own counts), shared with the
    // infrastructure; the escrow went down by exactly what was paid out.
    const paidFor = (who) => events.filter(
      (e) => e.method === 'Paid' && e.data.relay.toString() === who.address && e.data.epoch.toNumber() === epoch,
    );
    await lab.waitFor(
      'relays b, d and c were not all paid for the epoch',
      async () => paidFor(b).length > 0 && paidFor(d).length > 0 && paidFor(c).length > 0,
      120,
    );
    const PLANCKS = 10n ** 12n;
    for (const [who, price, forward, backward] of [
      [b, PLANCKS / 5n, links.ab, links.ba],
      [d, (2n * PLANCKS) / 5n, links.bd, links.db],
      [c, (3n * PLANCKS) / 10n, links.dc, links.cd],
    ]) {
      const charged = paidFor(who).reduce((sum, e) => sum + e.data[3].toBigInt() + e.data[4].toBigInt(), 0n);
      const octets = BigInt(Math.min(forward.sent, forward.received) + Math.min(backward.sent, backward.received));
      const most = (price * octets) / 10n ** 9n;
      // Receipts count what left (and came back to) the ingress: at most what the links
      // carried, short of it only by what was lost or still in flight at the epoch's end.
      assert.ok(charged <= most + 2n && charged * 100n >= most * 97n, `${who.address}: charged ${charged}, links ${octets} octets at ${price} → ${most}`);
    }
    const payouts = events.filter((e) => e.method === 'Paid');
    assert.ok(payouts.every((x) => x.data.consumer.toString() === a.address && ![a.address, idle.address].includes(x.data.relay.toString())));
    const latest = events.reduce((x, y) => (y.blockNumber > x.blockNumber ? y : x));
    const held = (await (await api.at(latest.blockHash)).query.escrow.accounts(a.address)).unwrap().held.toBigInt();
    const charged = payouts
      .filter((e) => e.blockNumber <= latest.blockNumber)
      .reduce((sum, e) => sum + e.data[3].toBigInt() + e.data[4].toBigInt(), 0n);
    assert.ok(charged > 0n);
    assert.equal(50n * 10n ** 12n - held, charged, 'the escrow paid exactly the payouts');
    // Each payout gave the infrastructure its share (`InfraShare`, 5 %, rounded down) and the
    // relay the rest.
    for (const e of payouts) {
      const [amount, infra] = [e.data[3].toBigInt(), e.data[4].toBigInt()];
      assert.equal(infra, (amount + infra) / 20n, JSON.stringify(e.data.toJSON()));
    }
    // Relay c's `status --json` shows exactly what the chain paid it, up to the block its
    // ledger has counted.
    await lab.waitFor(
      'relay c\'s status did not show what the chain paid it',
      async () => {
        const shown = JSON.parse(await lab.cli('c', 'status', '--json'));
        const through = shown.ledger_through_block ?? -1;
        const paid = events
          .filter((e) => e.method === 'Paid' && e.data.relay.toString() === c.address && e.blockNumber <= through)
          .reduce((sum, e) => sum + e.data[3].toBigInt(), 0n);
        return paid > 0n && BigInt(shown.earned) === paid;
      },
      60,
    );
    // Relay c's dashboard shows what it earned, relay a's what its account applied.
    await lab.waitFor(
      'the dashboards did not show the coins',
      async () => {
        const [ofA, ofC] = [await lab.api(relays[0]), await lab.api(relays[2])];
        return ofC?.coins_earned !== '0 SRW' && ofA?.coins_applied !== '0 SRW';
      },
      60,
    );

    // The transit relay b is killed -9 in the middle of an epoch and restarted at once: its
    // claim for that epoch declares the restart, its neighbours' claims corroborate it (they
    // saw two boots of b), and b is paid for that epoch; no dispute counts against it.
    const blockNow = async () => (await api.rpc.chain.getHeader()).number.toNumber();
    await lab.waitFor('no epoch started', async () => (await blockNow()) % 4 === 1, 60);
    await lab.kill(relays[1]);
    relays[1] = await lab.start('b', listing('//Dave', ports[1], 'FR', '0.2'));
    const restartedClaim = await lab.waitFor(
      'relay b did not claim the epoch of its crash as a restart',
      async () =>
        events.find(
          (e) => e.method === 'ClaimAccepted' && e.data.relay.toString() === b.address && e.data[2].isTrue,
        ),
      150,
    );
    const crashEpoch = restartedClaim.data.epoch.toNumber();
    await lab.waitFor(
      'relay b was not paid for the epoch of its crash',
      async () =>
        events.some(
          (e) => e.method === 'Paid' && e.data.relay.toString() === b.address && e.data.epoch.toNumber() === crashEpoch,
        ),
      120,
    );
    const judged = events.filter((e) => e.method === 'DisputeJudged' && e.data.epoch.toNumber() === crashEpoch);
    assert.ok(judged.every((e) => e.data.forgiven.isTrue), JSON.stringify(judged.map((e) => e.data.toJSON())));
    assert.equal(events.filter((e) => e.method === 'ReportedForDisputes').length, 0, 'nobody reported for disputes');
    assert.equal((await api.query.ditex.routers(b.address)).unwrap().status.isActive, true, 'b is not quarantined');
    // What the relays' own extrinsics cost them (reported, not asserted: docs/PERFORMANCE.md).
    const byCall = new Map();
    for (const { call, fee, bytes } of fees.filter((f) => [a, b, c, d, idle].some((w) => w.address === f.who))) {
      const entry = byCall.get(call) ?? { count: 0, fee: 0n, bytes: 0 };
      byCall.set(call, { count: entry.count + 1, fee: entry.fee + fee, bytes: entry.bytes + bytes });
    }
    for (const [call, { count, fee, bytes }] of byCall) {
      console.log(`${call}: ${count} extrinsics, mean ${bytes / count} B, mean fee ${fee / BigInt(count)} plancks`);
    }
    console.log(`crash epoch ${crashEpoch}: disputes judged ${judged.length}, restart forgiven ${events.some((e) => e.method === 'RestartForgiven')}`);
  } finally {
    clearInterval(sender);
  }

  // Every relay put its inbound row on chain, naming the two others.
  const reported = events.filter((e) => e.method === 'Reported');
  for (const who of [a, b, c, d, idle]) {
    const rows = reported.filter((x) => x.data.router.toString() === who.address);
    // Reported { router, period, entries } (`entries` is also a method name: by position).
    assert.ok(rows.some((x) => x.data[2].toNumber() === 4), `${who.address} reported its four peers: ${JSON.stringify(rows.map((x) => x.data.toJSON()))}`);
  }
  // Relay a shows the chain as it follows it, and its claims with their outcomes, on its
  // dashboard and from `srwan-relay status --json`.
  const shown = (await lab.api(relays[0])).chain;
  assert.equal(shown.account, a.address);
  assert.equal(typeof shown.group, 'number');
  assert.ok(shown.claims.some((claim) => claim.status === 'accepted' && claim.out_octets > 0), JSON.stringify(shown.claims));
  assert.equal(shown.quarantined, false);
  // Its matrix names the members as the chain lists them (account, country, endpoint).
  const matrix = await (await fetch(`${relays[0].dashboard}/api/matrix`)).json();
  for (const [who, country] of [[a, 'DE'], [b, 'FR'], [c, 'NL'], [d, 'BE'], [idle, 'AT']]) {
    assert.ok(
      matrix.members.some((label) => label.startsWith(who.address.slice(0, 8)) && label.includes(` ${country} `)),
      JSON.stringify(matrix.members),
    );
  }
  const stdout = await lab.cli('a', 'status', '--json');
  const viaCli = JSON.parse(stdout);
  assert.equal(viaCli.registered, true);
  assert.equal(viaCli.state, 'active');
  assert.equal(viaCli.group, shown.group);
  assert.ok(viaCli.last_claim && ['accepted', 'submitted'].includes(viaCli.last_claim.status), stdout);
  assert.ok(viaCli.last_report_period > 0, stdout);
  assert.ok(BigInt(viaCli.applied) > 0n, stdout);
});
