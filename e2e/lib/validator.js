// Standing as a validator (master node), as an operator does it: the validator's own node
// makes its session keys, the account sets them with their proof of possession, stands as a
// coin-voting candidate and bonds. Used by `tools/stand.js` and the validators e2e.
import { WsProvider } from '@polkadot/api';
import { u8aToHex } from '@polkadot/util';
import { sendAndInclude } from './chain.js';

/**
 * Whether `url` reaches the node without crossing a network an attacker could sit on: the keys
 * a node returns are trusted as its own, so someone on the path could hand over keys of theirs
 * (with a valid proof for the account) instead.
 */
export function isPrivateRpc(url) {
  const { protocol, hostname } = new URL(url);
  return protocol === 'wss:' || ['127.0.0.1', 'localhost', '[::1]', '::1'].includes(hostname);
}

/**
 * Runs `use(provider)` against the validator's own node at `nodeUrl` (its RPC must allow
 * unsafe methods: keep it local). Refuses a plain `ws://` to another host unless
 * `allowRemote`; gives up after 30 s without an answer.
 */
export async function withNode(nodeUrl, use, { allowRemote = false } = {}) {
  if (!allowRemote && !isPrivateRpc(nodeUrl)) {
    throw new Error(`${nodeUrl} is neither local nor wss://: someone on the way could swap the keys`);
  }
  const provider = new WsProvider(nodeUrl, false);
  let timer;
  const silent = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from the node at ${nodeUrl} within 30 s`)), 30_000);
  });
  try {
    await provider.connect();
    await Promise.race([provider.isReady, silent]);
    return await use(provider);
  } finally {
    clearTimeout(timer);
    await provider.disconnect().catch(() => {});
  }
}

/**
 * Asks the node at `nodeUrl` for new session keys made for `owner` (a keyring pair):
 * `{ keys, proof }`, as `session.setKeys` takes them.
 */
export function makeSessionKeys(nodeUrl, owner, options = {}) {
  return withNode(nodeUrl, (node) => node.send('author_rotateKeysWithOwner', [u8aToHex(owner.publicKey)]), options);
}

/**
 * Whether the node at `nodeUrl` holds the private halves of the session keys the chain has
 * for `who` (then there is nothing to rotate).
 */
export async function nodeHoldsKeysOf(api, nodeUrl, who, options = {}) {
  const onChain = await api.query.session.nextKeys(who.address);
  if (onChain.isNone) return false;
  const held = await withNode(nodeUrl, (node) => node.send('author_hasSessionKeys', [onChain.unwrap().toHex()]), options);
  return held === true;
}

/**
 * `who` sets `sessionKeys` (from [`makeSessionKeys`]; `null` keeps the keys on chain) and,
 * unless already done, stands as a candidate with `commission` (a Perbill in parts per
 * billion) and bonds. One call at a time, each waiting for its block, so a refused call stops
 * the rest (none is left queued behind it). Resolves with `{ step, error }` for each call
 * made, `error` null when it went through.
 */
export async function stand(api, who, sessionKeys, commission = 0) {
  const [candidate, bonded] = await Promise.all([
    api.query.coinVoting.candidates(who.address),
    api.query.validators.bonded(who.address),
  ]);
  const steps = [];
  if (sessionKeys) steps.push(['session.setKeys', () => api.tx.session.setKeys(sessionKeys.keys, sessionKeys.proof)]);
  if (candidate.isNone) steps.push(['coinVoting.registerCandidate', () => api.tx.coinVoting.registerCandidate(commission)]);
  if (bonded.isNone) steps.push(['validators.bond', () => api.tx.validators.bond()]);
  const done = [];
  for (const [step, call] of steps) {
    const { error } = await sendAndInclude(api, call(), who).catch((e) => ({ error: e.message }));
    done.push({ step, error });
    if (error) break;
  }
  return done;
}
