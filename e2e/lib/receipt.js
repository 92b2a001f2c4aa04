// The usage receipt format of srwan-primitives (`receipts.rs`), for wallets and consumer
// agents: SCALE layout and the signing payload `b"srwan/receipt/v1" ‖ genesis_hash ‖
// SCALE(receipt)`, signed raw (no <Bytes> wrapper).
import { TypeRegistry } from '@polkadot/types';
import { stringToU8a, u8aConcat, u8aToHex, hexToU8a } from '@polkadot/util';
import { randomAsU8a } from '@polkadot/util-crypto';

export const RECEIPT_DOMAIN = stringToU8a('srwan/receipt/v1');

export const RECEIPT_TYPES = {
  UsageReceipt: {
    consumer: '[u8; 32]',
    flow: '[u8; 16]',
    path: 'Vec<[u8; 32]>',
    epoch: 'u32',
    fwdOctets: 'u64',
    revOctets: 'u64',
    maxPricePerGb: 'u128',
    nonce: 'u64',
  },
  SignedReceipt: { receipt: 'UsageReceipt', signature: '[u8; 64]' },
  PeerOctets: { peer: '[u8; 32]', inOctets: 'u64', outOctets: 'u64', peerBoots: 'Vec<u64>' },
  Claim: {
    epoch: 'u32',
    restarted: 'bool',
    peers: 'Vec<PeerOctets>',
    receipts: 'Vec<SignedReceipt>',
  },
};

const registry = new TypeRegistry();
registry.register(RECEIPT_TYPES);

/** SCALE bytes of a receipt given as JSON (hex accounts, decimal-string amounts). */
export function encodeReceipt(receipt) {
  return registry.createType('UsageReceipt', receipt).toU8a();
}

/** SCALE bytes of a relay's claim given as JSON (the `tickets.claim` argument). */
export function encodeClaim(claim) {
  return registry.createType('Claim', claim).toU8a();
}

/** The bytes a consumer's receipt key signs. */
export function signingPayload(receipt, genesisHash) {
  return u8aConcat(RECEIPT_DOMAIN, hexToU8a(genesisHash), encodeReceipt(receipt));
}

/**
 * A receipt for a new flow of `consumer` (a keyring pair) over `path` (pairs, ingress first) in
 * `epoch`, signed by `signer` (its account key or its receipt key) for the chain of
 * `genesisHash`. Returns the golden-format JSON that was signed (`receipt`) and the
 * `tickets.claim` form of the signed receipt (`signed`).
 */
export function signedReceipt(genesisHash, {
  consumer, signer = consumer, path, epoch, fwdOctets, revOctets, maxPricePerGb, nonce = 1,
}) {
  const receipt = {
    consumer: u8aToHex(consumer.publicKey),
    flow: u8aToHex(randomAsU8a(16)),
    path: path.map((router) => u8aToHex(router.publicKey)),
    epoch,
    fwdOctets: fwdOctets.toString(),
    revOctets: revOctets.toString(),
    maxPricePerGb: maxPricePerGb.toString(),
    nonce,
  };
  const signature = u8aToHex(signer.sign(signingPayload(receipt, genesisHash)));
  const claimed = { ...receipt, path: path.map((router) => router.address), consumer: consumer.address };
  return { receipt, signed: { receipt: claimed, signature } };
}

export { u8aToHex };
