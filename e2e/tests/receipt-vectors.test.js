// e2e-node: none (no chain: golden vectors only)
// The golden receipt vector of srwan-primitives, checked from JavaScript: polkadot.js encodes the
// same SCALE bytes and signing payload as Rust, and the stored sr25519 signature verifies (the
// Rust side: pallets/primitives/tests/receipt_vectors.rs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { cryptoWaitReady, signatureVerify } from '@polkadot/util-crypto';
import { hexToU8a, u8aToHex } from '@polkadot/util';
import { encodeClaim, encodeReceipt, signingPayload } from '../lib/receipt.js';

const vectorFile = (name) => JSON.parse(
  readFileSync(new URL(`../../pallets/primitives/tests/vectors/${name}`, import.meta.url)));
const vector = vectorFile('receipt_v1.json');
const claimVector = vectorFile('claim_v2.json');

test('polkadot.js encodes the golden receipt and payload byte for byte', () => {
  assert.equal(u8aToHex(encodeReceipt(vector.receipt)), vector.receiptScale);
  assert.equal(u8aToHex(signingPayload(vector.receipt, vector.genesisHash)), vector.payload);
});

test('the stored signature verifies for exactly these bytes', async () => {
  await cryptoWaitReady();
  const payload = hexToU8a(vector.payload);
  assert.equal(signatureVerify(payload, vector.signature, vector.signer).isValid, true);
  const tampered = payload.slice();
  tampered[60] ^= 1;
  assert.equal(signatureVerify(tampered, vector.signature, vector.signer).isValid, false);
});

test('polkadot.js encodes the golden per-epoch claim byte for byte', () => {
  assert.equal(u8aToHex(encodeClaim(claimVector.claim)), claimVector.claimScale);
  const honest = { ...claimVector.claim, restarted: false };
  assert.notEqual(u8aToHex(encodeClaim(honest)), claimVector.claimScale, 'the restart flag is encoded');
});
