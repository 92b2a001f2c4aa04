//! The golden receipt vector (`tests/vectors/receipt_v1.json`, produced with polkadot.js and
//! checked by `e2e/tests/receipt-vectors.test.js` too): Rust encodes the same bytes and verifies
//! the stored signature. The golden claim vector (`tests/vectors/claim_v2.json`, encoded by hand
//! from the SCALE rules) carries that receipt: Rust and polkadot.js encode the same claim bytes.

use codec::{Decode, Encode};
use sp_core::{sr25519, Pair as _};
use srwan_primitives::receipts::{Claim, PeerOctets, SignedReceipt, UsageReceipt, RECEIPT_DOMAIN};

fn hex(s: &str) -> Vec<u8> {
	let s = s.trim_start_matches("0x");
	(0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn array<const N: usize>(s: &str) -> [u8; N] {
	hex(s).try_into().expect("right length")
}

/// A decimal string or a JSON number.
fn number(v: &serde_json::Value) -> u128 {
	v.as_str().map(|s| s.parse().unwrap()).or_else(|| v.as_u64().map(u128::from)).unwrap()
}

/// The receipt of a vector's JSON.
fn receipt_of(r: &serde_json::Value) -> UsageReceipt<[u8; 32]> {
	UsageReceipt::<[u8; 32]> {
		consumer: array(r["consumer"].as_str().unwrap()),
		flow: array(r["flow"].as_str().unwrap()),
		path: r["path"]
			.as_array()
			.unwrap()
			.iter()
			.map(|p| array::<32>(p.as_str().unwrap()))
			.collect::<Vec<_>>()
			.try_into()
			.unwrap(),
		epoch: number(&r["epoch"]) as u32,
		fwd_octets: number(&r["fwdOctets"]) as u64,
		rev_octets: number(&r["revOctets"]) as u64,
		max_price_per_gb: number(&r["maxPricePerGb"]),
		nonce: number(&r["nonce"]) as u64,
	}
}

#[test]
fn rust_encodes_the_golden_bytes_and_verifies_the_stored_signature() {
	let vector: serde_json::Value =
		serde_json::from_str(include_str!("vectors/receipt_v1.json")).unwrap();
	let receipt = receipt_of(&vector["receipt"]);
	assert_eq!(receipt.encode(), hex(vector["receiptScale"].as_str().unwrap()));
	let genesis: [u8; 32] = array(vector["genesisHash"].as_str().unwrap());
	let payload = receipt.signing_payload(&genesis);
	assert_eq!(payload, hex(vector["payload"].as_str().unwrap()));
	assert_eq!(&payload[..16], RECEIPT_DOMAIN);

	let signer = sr25519::Public::from_raw(array(vector["signer"].as_str().unwrap()));
	let signature = sr25519::Signature::from_raw(array(vector["signature"].as_str().unwrap()));
	assert!(sr25519::Pair::verify(&signature, &payload, &signer), "the stored signature verifies");
	let mut tampered = payload.clone();
	tampered[60] ^= 1;
	assert!(!sr25519::Pair::verify(&signature, &tampered, &signer), "and only for these bytes");
}

#[test]
fn rust_encodes_the_golden_claim_bytes() {
	let vector: serde_json::Value =
		serde_json::from_str(include_str!("vectors/claim_v2.json")).unwrap();
	let c = &vector["claim"];
	let peers: Vec<PeerOctets<[u8; 32]>> = c["peers"]
		.as_array()
		.unwrap()
		.iter()
		.map(|p| PeerOctets {
			peer: array(p["peer"].as_str().unwrap()),
			in_octets: number(&p["inOctets"]) as u64,
			out_octets: number(&p["outOctets"]) as u64,
			peer_boots: p["peerBoots"]
				.as_array()
				.unwrap()
				.iter()
				.map(|b| number(b) as u64)
				.collect::<Vec<_>>()
				.try_into()
				.unwrap(),
		})
		.collect();
	let receipts: Vec<SignedReceipt<[u8; 32]>> = c["receipts"]
		.as_array()
		.unwrap()
		.iter()
		.map(|r| SignedReceipt {
			receipt: receipt_of(&r["receipt"]),
			signature: array(r["signature"].as_str().unwrap()),
		})
		.collect();
	let claim = Claim::<[u8; 32]> {
		epoch: number(&c["epoch"]) as u32,
		restarted: c["restarted"].as_bool().unwrap(),
		peers: peers.try_into().unwrap(),
		receipts: receipts.try_into().unwrap(),
	};
	let golden = hex(vector["claimScale"].as_str().unwrap());
	assert_eq!(claim.encode(), golden);
	assert_eq!(Claim::<[u8; 32]>::decode(&mut &golden[..]).unwrap(), claim);
}
