// Standing as a validator (master node), as an operator does it: the validator's own node
// makes its session keys, the account sets them with their proof of possession, stands as a
// coin-voting candidate and bonds. Used by `tools/stand.js` and the validators e2e.
import { WsProvider } from '@polkadot/api';
import { u8aToHex } from '@polkadot/util';
import { sendAndFinalize } from './chain.js';

/**
 * Asks the node at `nodeUrl` (its RPC must allow unsafe methods: keep it local) for new session
 * keys made for `owner` (a keyring pair): `{ keys, proof }`, as `session.setKeys` takes them.
 */
export async function makeSessionKeys(nodeUrl, owner) {
  const provider = new WsProvider(nodeUrl, false);
  let timer;
  const silent = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from the node at ${nodeUrl} within 30 s`)), 30_000);
  });
  try {
    await provider.connect();
    await Promise.race([provider.isReady, silent]);
    return await provider.send('author_rotateKeysWithOwner', [u8aToHex(owner.publicKey)]);
  } finally {
    clearTimeout(timer);
    await provider.disconnect().catch(() => {});
  }
}

/**
 * `who` sets `sessionKeys` (from [`makeSessionKeys`]) and, unless already done, stands as a
 * candidate with `commission` (a Perbill in parts per billion) and bonds. The calls go out
 * together (consecutive nonces); resolves with `{ step, error }` for each, `error` null when
 * it went through.
 */
export async function stand(api, who, sessionKeys, commission = 0) {
  const [candidate, bonded] = await Promise.all([
    api.query.coinVoting.candidates(who.address),
    api.query.validators.bonded(who.address),
  ]);
  const steps = [['session.setKeys', api.tx.session.setKeys(sessionKeys.keys, sessionKeys.proof)]];
  if (candidate.isNone) steps.push(['coinVoting.registerCandidate', api.tx.coinVoting.registerCandidate(commission)]);
  if (bonded.isNone) steps.push(['validators.bond', api.tx.validators.bond()]);
  const nonce = (await api.rpc.system.accountNextIndex(who.address)).toNumber();
  const results = await Promise.all(steps.map(([, tx], i) => sendAndFinalize(api, tx, who, { nonce: nonce + i })));
  return results.map((result, i) => ({ step: steps[i][0], error: result.error }));
}
