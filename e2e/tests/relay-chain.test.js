// The relay agent on chain, from its own command line: `srwan-relay key` creates the relay's
// account in its data dir, a wallet funds it, `srwan-relay register` lists the router from the
// config's `[chain.router]` (read back here through polkadot.js), `set-price` schedules a new
// price, `unregister` leaves, and a call the chain refuses fails with the module error's name.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { u8aToHex } from '@polkadot/util';
import { freePort, RELAY } from '../lib/relay.js';
import { connect, keyring, sendAndFinalize, SRW, WS } from '../lib/chain.js';

const run = promisify(execFile);

let api;
let dir;
let config;

/** Runs `srwan-relay ARGS -c CONFIG`; resolves to { code, stdout, stderr }. */
async function relay(...args) {
  try {
    const { stdout, stderr } = await run(RELAY, [...args, '-c', config], { timeout: 200_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    return { code: error.code ?? 1, stdout: error.stdout ?? '', stderr: error.stderr ?? '' };
  }
}

before(async () => {
  api = await connect();
  dir = mkdtempSync(join(tmpdir(), 'srwan-relay-chain-'));
  config = join(dir, 'relay.toml');
  writeFileSync(
    config,
    [
      `data_dir = "${join(dir, 'data')}"`,
      'listen = "198.51.100.40:7400"',
      '[chain]',
      `url = "${WS}"`,
      '[chain.router]',
      'country = "NL"',
      'asn = 1136',
      'lat = 52.37',
      'lon = 4.9',
      'price_per_gb = "0.002"',
      '',
    ].join('\n'),
  );
});

after(async () => {
  await api?.disconnect();
  if (dir) rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
});

test('a relay registers, reprices and leaves from its own command line', async () => {
  const shown = await relay('key');
  assert.equal(shown.code, 0, shown.stderr);
  const address = shown.stdout.match(/^account\s+(\S+)/m)?.[1];
  const pulseKey = shown.stdout.match(/^pulse key\s+(0x[0-9a-f]{64})/m)?.[1];
  assert.ok(address && pulseKey, shown.stdout);
  // The same account the next time: it lives in the data dir.
  assert.match((await relay('key')).stdout, new RegExp(`^account\\s+${address}`, 'm'));

  const alice = keyring().addFromUri('//Alice');
  const funded = await sendAndFinalize(api, api.tx.balances.transferKeepAlive(address, 1_000n * SRW), alice);
  assert.equal(funded.error, null);

  const registered = await relay('register');
  assert.equal(registered.code, 0, registered.stderr);
  assert.match(registered.stdout, /ditex\.register_router from \S+: final in block 0x[0-9a-f]{64}/);
  const info = (await api.query.ditex.routers(address)).unwrap();
  // 198.51.100.40:7400 (polkadot.js shows the address bytes in hex).
  assert.deepEqual(info.endpoint.toJSON(), { v4: { ip: '0xc6336428', port: 7400 } });
  assert.equal(info.geo.asn.toNumber(), 1136);
  assert.equal(info.geo.lat.toNumber(), 523_700);
  assert.equal(info.geo.lon.toNumber(), 49_000);
  assert.equal(u8aToHex(info.pulseKey), pulseKey);
  const listings = await api.query.ditex.listings(address);
  assert.equal(listings[listings.length - 1].pricePerGb.unwrap().toBigInt(), 2_000_000_000n);

  // The account as a consumer: an escrow and a delegate receipt key, from the same CLI.
  const deposited = await relay('escrow', 'deposit', '5');
  assert.equal(deposited.code, 0, deposited.stderr);
  const keyed = await relay('escrow', 'set-receipt-key');
  assert.equal(keyed.code, 0, keyed.stderr);
  const withdrawing = await relay('escrow', 'request-withdraw', '2');
  assert.equal(withdrawing.code, 0, withdrawing.stderr);
  const escrow = (await api.query.escrow.accounts(address)).unwrap();
  assert.equal(escrow.held.toBigInt(), 5n * SRW);
  assert.equal(escrow.pending.unwrap().amount.toBigInt(), 2n * SRW);
  const terms = escrow.terms[escrow.terms.length - 1][1];
  assert.ok(terms.receiptKey.isSome, 'the receipt key is scheduled');
  const bad = await relay('escrow', 'deposit', 'lots');
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /amount: "lots" is not a price in SRW/);

  // `status --json` shows the router and the escrow as the chain has them.
  const shownStatus = await relay('status', '--json');
  assert.equal(shownStatus.code, 0, shownStatus.stderr);
  const status = JSON.parse(shownStatus.stdout);
  assert.equal(status.account, address);
  assert.equal(status.registered, true);
  assert.equal(status.state, 'active');
  assert.equal(status.escrow.held, (5n * SRW).toString());
  assert.equal(status.escrow.pending, (2n * SRW).toString());
  // The pending 2 SRW still back the epoch they were requested in, and no later one.
  assert.ok([3n, 5n].map((n) => (n * SRW).toString()).includes(status.escrow.available), status.escrow.available);
  assert.equal(status.last_claim, null, 'this relay never ran, so it claimed nothing');
  assert.match((await relay('status')).stdout, /^escrow\s+5 SRW held, [35] SRW available/m);

  const repriced = await relay('set-price', 'infinite');
  assert.equal(repriced.code, 0, repriced.stderr);
  const after = await api.query.ditex.listings(address);
  assert.ok(after[after.length - 1].pricePerGb.isNone, 'not for sale from the next epoch');

  const left = await relay('unregister');
  assert.equal(left.code, 0, left.stderr);
  assert.ok((await api.query.ditex.routers(address)).unwrap().status.isUnbonding);

  // The chain refuses a second unregister: the command fails and names the module error.
  const again = await relay('unregister');
  assert.notEqual(again.code, 0);
  assert.match(again.stderr, /ditex\.unregister from \S+ failed in block 0x[0-9a-f]+: Ditex::\w+/);
});

test('a running relay lists itself in the exchange as configured', async () => {
  const { spawn } = await import('node:child_process');
  const udpPort = await freePort('udp');
  const tcpPort = await freePort('tcp');
  const ferdie = keyring().addFromUri('//Ferdie');
  const runConfig = join(dir, 'run.toml');
  writeFileSync(
    runConfig,
    [
      `data_dir = "${join(dir, 'run-data')}"`,
      `listen = "127.0.0.1:${udpPort}"`,
      `dashboard = "127.0.0.1:${tcpPort}"`,
      '[chain]',
      `url = "${WS}"`,
      'account = "//Ferdie"',
      '[chain.router]',
      'endpoint = "198.51.100.41:7400"',
      'country = "FR"',
      'asn = 3215',
      'lat = 48.86',
      'lon = 2.35',
      'price_per_gb = "0.003"',
      '',
    ].join('\n'),
  );
  const child = spawn(RELAY, ['run', '-c', runConfig], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (chunk) => { log += chunk; });
  try {
    let info;
    for (let i = 0; i < 120 && !info; i += 1) {
      const found = await api.query.ditex.routers(ferdie.address);
      if (found.isSome) info = found.unwrap();
      else await new Promise((resolve) => setTimeout(resolve, 500));
    }
    assert.ok(info, `the relay did not register itself within 60 s; its log:\n${log}`);
    assert.deepEqual(info.endpoint.toJSON(), { v4: { ip: '0xc6336429', port: 7400 } });
    assert.equal(info.geo.asn.toNumber(), 3215);
    const listings = await api.query.ditex.listings(ferdie.address);
    assert.equal(listings[listings.length - 1].pricePerGb.unwrap().toBigInt(), 3_000_000_000n);
  } finally {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
});
