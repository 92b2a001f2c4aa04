// Helpers shared by the e2e tests: connecting, signing and waiting for finality.
import { ApiPromise, WsProvider } from '@polkadot/api';
import { Keyring } from '@polkadot/keyring';
import { cryptoWaitReady, mnemonicGenerate } from '@polkadot/util-crypto';

export const WS = process.env.SRWAN_WS ?? 'ws://127.0.0.1:9944';
export const SRW = 10n ** 12n;

/** Connects polkadot.js to the node at `url`. */
export async function connect(url = WS) {
  await cryptoWaitReady();
  const provider = new WsProvider(url, 1000, {}, 30_000);
  return ApiPromise.create({ provider, throwOnConnect: true, noInitWarn: true });
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
  return new Promise((resolve, reject) => {
    let unsub = () => {};
    tx.signAndSend(signer, options, (result) => {
      const { status, events, dispatchError } = result;
      if (status.isInvalid || status.isDropped || status.isUsurped) {
        unsub();
        reject(new Error(`transaction ${status.type}`));
      } else if (status.isFinalized) {
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
        resolve({ blockHash: status.asFinalized, events, error, txHash: tx.hash.toHex() });
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
