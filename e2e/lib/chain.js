// Helpers shared by the e2e tests: connecting, signing and waiting for finality.
import { ApiPromise, WsProvider } from '@polkadot/api';
import { Keyring } from '@polkadot/keyring';
import { cryptoWaitReady, mnemonicGenerate } from '@polkadot/util-crypto';

export const WS = process.env.SRWAN_WS ?? 'ws://127.0.0.1:9944';
export const SRW = 10n ** 12n;

/**
 * The node's `ditex_*` RPC methods for polkadot.js (custom RPCs are not in the metadata).
 * Results are plain JSON; balances in them are decimal strings.
 */
const at = { name: 'at', type: 'BlockHash', isHistoric: true, isOptional: true };
export const DITEX_RPC = {
  ditex: {
    router: { description: 'A router', params: [{ name: 'who', type: 'AccountId' }, at], type: 'Json' },
    groupMembers: { description: 'Members of a group', params: [{ name: 'group', type: 'u32' }, at], type: 'Json' },
    segment: {
      description: 'Segment from -> to',
      params: [{ name: 'from', type: 'AccountId' }, { name: 'to', type: 'AccountId' }, at],
      type: 'Json',
    },
    matrix: { description: "A group's matrix", params: [{ name: 'group', type: 'u32' }, at], type: 'Json' },
    bestPaths: {
      description: 'k best paths src -> dst',
      params: [
        { name: 'src', type: 'AccountId' },
        { name: 'dst', type: 'AccountId' },
        { name: 'k', type: 'Option<u8>', isOptional: true },
        { name: 'maxPrice', type: 'Option<Text>', isOptional: true },
        { name: 'maxHops', type: 'Option<u8>', isOptional: true },
        at,
      ],
      type: 'Json',
    },
  },
};

/** Connects polkadot.js to the node at `url`, with the `ditex_*` RPC definitions. */
export async function connect(url = WS) {
  await cryptoWaitReady();
  const provider = new WsProvider(url, 1000, {}, 30_000);
  return ApiPromise.create({ provider, throwOnConnect: true, noInitWarn: true, rpc: DITEX_RPC });
}

/** A keyring of sr25519 keys with the chain's SS58 prefix (42). */
export function keyring() {
  return new Keyring({ type: 'sr25519', ss58Format: 42 });
}

/** A fresh account nobody else uses: it authors no blocks and gets no payouts. */
export function freshAccount(ring) {
  return ring.addFromUri(mnemonicGenerate());
}

/**
 * Signs and sends `tx`, resolves when its block is finalized with the inclusion block hash,
 * the extrinsic's events and its dispatch error (decoded), if any.
 */
export function sendAndFinalize(api, tx, signer, options = {}) {
  return send(api, tx, signer, options, (status) => status.isFinalized && status.asFinalized);
}

/** As [`sendAndFinalize`], but resolves as soon as a block includes `tx`. */
export function sendAndInclude(api, tx, signer, options = {}) {
  return send(api, tx, signer, options,
    (status) => (status.isInBlock && status.asInBlock) || (status.isFinalized && status.asFinalized));
}

/** Sends `tx`; resolves once `blockOf(status)` names a block (see the two above). */
function send(api, tx, signer, options, blockOf) {
  return new Promise((resolve, reject) => {
    let unsub = () => {};
    tx.signAndSend(signer, options, (result) => {
      const { status, events, dispatchError } = result;
      const block = blockOf(status);
      if (status.isInvalid || status.isDropped || status.isUsurped) {
        unsub();
        reject(new Error(`transaction ${status.type}`));
      } else if (block) {
        unsub();
        let error = null;
        if (dispatchError) {
          if (dispatchError.isModule) {
            const meta = api.registry.findMetaError(dispatchError.asModule);
            error = `${meta.section}.${meta.name}`;
          } else {
            error = dispatchError.toString();
          }
        }
        resolve({ blockHash: block, events, error, txHash: tx.hash.toHex() });
      }
    }).then((u) => { unsub = u; }).catch(reject);
  });
}

/** Free balance of `address` at block `hash`. */
export async function freeAt(api, hash, address) {
  const at = await api.at(hash);
  const { data } = await at.query.system.account(address);
  return data.free.toBigInt();
}

/**
 * The chain's clocks in blocks, read from its genesis-set parameters (the `ci` preset that the
 * test command uses has shorter ones than `--dev`): metering epoch, claim window, report period.
 */
export async function clocks(api) {
  const [ditex, tickets] = await Promise.all([api.query.ditex.params(), api.query.tickets.params()]);
  return {
    epoch: ditex.epochLength.toNumber(),
    reportPeriod: ditex.reportPeriod.toNumber(),
    claimWindow: tickets.claimWindow.toNumber(),
  };
}

/** The epoch of the block `hash` for epochs of `epochLength` blocks. */
export async function epochOf(api, hash, epochLength) {
  const header = await api.rpc.chain.getHeader(hash);
  return Math.floor(header.number.toNumber() / epochLength);
}

/** The best block's number. */
export async function bestNumber(api) {
  return (await api.rpc.chain.getHeader()).number.toNumber();
}

/** Resolves once the best block is at least `number`. */
export async function waitForBlock(api, number) {
  while ((await bestNumber(api)) < number) await new Promise((r) => setTimeout(r, 1000));
}

/** Every event of pallet `section` in blocks `from..=to`. */
export async function sectionEvents(api, section, from, to) {
  const found = [];
  for (let n = from; n <= to; n += 1) {
    const hash = await api.rpc.chain.getBlockHash(n);
    const events = await (await api.at(hash)).query.system.events();
    events.filter(({ event }) => event.section === section).forEach(({ event }) => found.push(event));
  }
  return found;
}

/**
 * Registers two routers at `price` per GB (German test addresses `198.51.100.{a,b}`) and gives
 * `consumer` an escrow of `deposit`; returns the results.
 */
export async function twoRoutersAndAnEscrow(api, [relayA, relayB], consumer, price, deposit) {
  const geo = { country: [0x44, 0x45], asn: 3320, lat: 525_200, lon: 134_050 };
  const key = () => Array.from({ length: 32 }, () => Math.floor(Math.random() * 256));
  const register = (relay, last) => api.tx.ditex.registerRouter(
    { V4: { ip: [198, 51, 100, last], port: 4500 } }, geo, key(), price);
  return Promise.all([
    sendAndFinalize(api, register(relayA, 1), relayA),
    sendAndFinalize(api, register(relayB, 2), relayB),
    sendAndFinalize(api, api.tx.escrow.deposit(deposit), consumer),
  ]);
}

/** A relay's claim for `epoch` with one peer seen under one boot and the given receipts. */
export function claimOf(epoch, peer, inOctets, outOctets, receipts) {
  return {
    epoch,
    restarted: false,
    peers: [{ peer: peer.address, inOctets, outOctets, peerBoots: [1_700_000_000] }],
    receipts,
  };
}

/**
 * Funds each `[pair, amount]` from a dev account of its own (//Alice, //Bob, //Charlie, ...), so
 * that the transfers share a block; asserts nothing, returns the results.
 */
export function fundFromDevAccounts(api, ring, grants) {
  const funders = ['//Alice', '//Bob', '//Charlie', '//Dave', '//Eve', '//Ferdie'];
  return Promise.all(grants.map(([who, amount], i) => sendAndFinalize(
    api, api.tx.balances.transferKeepAlive(who.address, amount), ring.addFromUri(funders[i]))));
}
