//! The core's metering of other ingresses' flows (chain mode): receipts along the path, the
//! credit window, refused consumers. What a lying consumer or member could gain, as tests.

use super::*;
use crate::chain::receipts::ReceiptSigner;
use srwan_primitives::receipts::SignedReceipt;
use std::sync::Arc;
use subxt_signer::sr25519::Keypair;

const GENESIS: [u8; 32] = [7; 32];
const EPOCH: u32 = 9;
/// The consumer: member 0's account (its id), whose delegate key signs.
const CONSUMER: [u8; 32] = [0; 32];
/// Every relay's price per GB; the consumer's receipts allow up to twice that.
const PRICE: u128 = 10;

fn addr(i: u8) -> SocketAddr {
	SocketAddr::from(([127, 0, 0, 1], 7500 + u16::from(i)))
}

fn index_of(to: SocketAddr) -> usize {
	usize::from(to.port() - 7500)
}

fn delegate() -> Keypair {
	Keypair::from_secret_key([42; 32]).unwrap()
}

fn terms(escrow_ok: bool) -> ConsumerTerms {
	ConsumerTerms { receipt_keys: vec![(0, Some(delegate().public_key().0))], escrow_ok }
}

/// `n` metered cores with `credit_window`, a flow 0 → 2 → 1 → 3 installed everywhere, the
/// consumer known (with enough escrow) at every relay.
fn metered_group(n: u8, credit_window: u64) -> Vec<RelayCore> {
	let keys: Vec<SigningKey> = (0..n).map(|i| SigningKey::from_bytes(&[i + 1; 32])).collect();
	let members: Vec<Member> = keys
		.iter()
		.enumerate()
		.map(|(i, k)| Member {
			id: [i as u8; 32],
			addr: addr(i as u8),
			pulse_key: k.verifying_key(),
		})
		.collect();
	let flow = Flow {
		id: 77,
		version: 1,
		key: [5; 32],
		path: vec![0, 2, 1, 3],
		destination: SocketAddr::from(([127, 0, 0, 1], 9000)),
	};
	keys.into_iter()
		.map(|key| {
			let mut core = RelayCore::new(CoreConfig {
				allowed_destinations: vec![flow.destination],
				metering: Some(MeteringConfig {
					genesis: GENESIS,
					credit_window,
					price_per_gb: Some(PRICE),
				}),
				..CoreConfig::new(key, members.clone())
			})
			.unwrap();
			core.install_flow(flow.clone()).unwrap();
			core.set_epoch(EPOCH);
			core.set_consumer(CONSUMER, terms(true));
			core
		})
		.collect()
}

/// Sends `buf[..len]` from member `from` to `to` and on along the path; the last action.
fn travel(g: &mut [RelayCore], mut from: SocketAddr, mut to: SocketAddr, buf: &mut [u8]) -> Action {
	loop {
		match g[index_of(to)].on_datagram(from, buf, 0) {
			Action::Forward { to: next } => {
				from = to;
				to = addr(next as u8);
			}
			other => return other,
		}
	}
}

/// One forward data packet from the ingress to the egress; the last action and its length.
fn send_data(g: &mut [RelayCore]) -> (Action, usize) {
	let mut buf = [0u8; 1500];
	let (to, len) = g[0].encapsulate(77, false, &[1; 100], &mut buf).unwrap();
	(travel(g, addr(0), to, &mut buf[..len]), len)
}

fn signer(key: &Keypair, nonce: u64) -> ReceiptSigner<'_> {
	ReceiptSigner { consumer: CONSUMER, key, genesis: GENESIS, max_price_per_gb: 2 * PRICE, nonce }
}

/// The ingress's receipt of what it sent so far this epoch.
fn signed(g: &[RelayCore], signer: &ReceiptSigner<'_>) -> (UsageKey, SignedReceipt<NodeId>) {
	signer.signed(&g[0].counters().flow_usage_of(EPOCH), EPOCH).pop().expect("a receipt")
}

/// The ingress's receipt of what it sent so far this epoch, signed by `key`, as a datagram
/// for the path's second router.
fn receipt(g: &[RelayCore], key: &Keypair, nonce: u64) -> (SocketAddr, Vec<u8>) {
	let (usage_key, signed) = signed(g, &signer(key, nonce));
	datagram(g, &usage_key, signed)
}

fn datagram(
	g: &[RelayCore],
	key: &UsageKey,
	signed: SignedReceipt<NodeId>,
) -> (SocketAddr, Vec<u8>) {
	let mut buf = vec![0u8; wire::MAX_RECEIPT_LEN];
	let (to, len) = g[0].receipt_datagram(key, signed, &mut buf).unwrap();
	assert_eq!(to, vec![addr(2), addr(1), addr(3)], "every other router, the second first");
	buf.truncate(len);
	(to[0], buf)
}

fn held(core: &RelayCore) -> Vec<SignedReceipt<NodeId>> {
	core.counters().held_receipts(EPOCH)
}

#[test]
fn receipts_travel_the_path_and_every_relay_holds_the_newest() {
	let mut g = metered_group(4, 1 << 20);
	for _ in 0..3 {
		assert!(matches!(send_data(&mut g).0, Action::Deliver { .. }));
	}
	let (to, mut bytes) = receipt(&g, &delegate(), 1);
	assert_eq!(to, addr(2), "the receipt goes to the path's second router");
	assert_eq!(travel(&mut g, addr(0), to, &mut bytes), Action::Consumed);
	for relay in [2, 1, 3] {
		let held = held(&g[relay]);
		assert_eq!(held.len(), 1, "relay {relay} holds the receipt");
		assert_eq!(
			held[0].receipt.fwd_octets,
			g[0].counters().flow_usage_of(EPOCH)[0].1.fwd_octets
		);
	}
	assert!(held(&g[0]).is_empty(), "the ingress signs its own; it holds none");

	// Replayed: the same receipt again (an on-path copy) changes nothing.
	let (_, mut again) = receipt(&g, &delegate(), 1);
	assert_eq!(g[2].on_datagram(addr(0), &mut again, 0), Action::Dropped(DropReason::Replayed));

	// A newer one replaces it everywhere.
	assert!(matches!(send_data(&mut g).0, Action::Deliver { .. }));
	let (to, mut newer) = receipt(&g, &delegate(), 2);
	assert_eq!(travel(&mut g, addr(0), to, &mut newer), Action::Consumed);
	assert_eq!(held(&g[3])[0].receipt.nonce, 2);
}

#[test]
fn forged_misdirected_or_foreign_receipts_are_dropped_and_hold_nothing() {
	let mut g = metered_group(4, 1 << 20);
	assert!(matches!(send_data(&mut g).0, Action::Deliver { .. }));

	// Signed by someone else (a member on the path making up receipts).
	let (to, mut forged) = receipt(&g, &Keypair::from_secret_key([9; 32]).unwrap(), 5);
	assert_eq!(
		g[index_of(to)].on_datagram(addr(0), &mut forged, 0),
		Action::Dropped(DropReason::BadSignature)
	);

	// Inflated on the way: the consumer's signature no longer matches.
	let (key, mut inflated) = signed(&g, &signer(&delegate(), 6));
	inflated.receipt.fwd_octets *= 10;
	let (to, mut bytes) = datagram(&g, &key, inflated);
	assert_eq!(
		g[index_of(to)].on_datagram(addr(0), &mut bytes, 0),
		Action::Dropped(DropReason::BadSignature)
	);

	// From a member that is neither the router before this one on the path nor the ingress.
	let (_, mut skipped) = receipt(&g, &delegate(), 7);
	assert_eq!(g[3].on_datagram(addr(2), &mut skipped, 0), Action::Dropped(DropReason::BadReceipt));

	// For a version this relay never carried.
	let (key, receipt_of_v1) = signed(&g, &signer(&delegate(), 8));
	let (_, mut unknown) = datagram(&g, &UsageKey { version: 2, ..key }, receipt_of_v1);
	assert_eq!(g[2].on_datagram(addr(0), &mut unknown, 0), Action::Dropped(DropReason::BadReceipt));

	// Naming another consumer than the ingress's account (a throwaway account to bill).
	let stranger = Keypair::from_secret_key([11; 32]).unwrap();
	let other_consumer =
		ReceiptSigner { consumer: stranger.public_key().0, ..signer(&stranger, 9) };
	let (key, signed_by_other) = signed(&g, &other_consumer);
	let (_, mut billed_elsewhere) = datagram(&g, &key, signed_by_other);
	assert_eq!(
		g[2].on_datagram(addr(0), &mut billed_elsewhere, 0),
		Action::Dropped(DropReason::BadReceipt)
	);

	// Of a consumer this relay does not know yet: dropped, and asked about.
	let mut fresh = metered_group(4, 1 << 20);
	for core in fresh.iter_mut().skip(1) {
		// Metering that knows no consumer.
		core.metering = Some(Metering::new(MeteringConfig {
			genesis: GENESIS,
			credit_window: 1 << 20,
			price_per_gb: Some(PRICE),
		}));
	}
	assert!(matches!(send_data(&mut fresh).0, Action::Deliver { .. }));
	let (to, mut first) = receipt(&fresh, &delegate(), 1);
	assert_eq!(
		fresh[index_of(to)].on_datagram(addr(0), &mut first, 0),
		Action::Dropped(DropReason::UnknownConsumer)
	);
	assert_eq!(fresh[index_of(to)].consumers_to_fetch(false), vec![CONSUMER]);

	for relay in [1, 2, 3] {
		assert!(held(&g[relay]).is_empty(), "relay {relay} holds nothing");
	}
}

#[test]
fn a_consumer_that_stops_receipting_gets_at_most_the_credit_window_carried() {
	let (_, len) = send_data(&mut metered_group(4, u64::MAX));
	// Room for three packets beyond the newest receipt.
	let mut g = metered_group(4, 3 * len as u64 + 10);
	for _ in 0..3 {
		assert!(matches!(send_data(&mut g).0, Action::Deliver { .. }));
	}
	assert_eq!(send_data(&mut g).0, Action::Dropped(DropReason::Unreceipted));
	assert_eq!(send_data(&mut g).0, Action::Dropped(DropReason::Unreceipted));
	// The first relay stopped it: the others carried three packets each, no more.
	for relay in [2, 1, 3] {
		let carried = g[relay].counters().carried_flows().map(|(_, f)| f.fwd_octets).sum::<u64>();
		assert_eq!(carried, 3 * len as u64, "relay {relay}");
	}
	// Replies count too: the egress sends none beyond the window.
	let mut buf = [0u8; 1500];
	assert_eq!(
		g[3].encapsulate(77, true, &[1; 100], &mut buf).map(|_| ()),
		Err(DropReason::Unreceipted)
	);

	// A receipt for what the ingress sent (five packets, two of them dropped on the way)
	// opens the window again.
	let (to, mut bytes) = receipt(&g, &delegate(), 1);
	assert_eq!(travel(&mut g, addr(0), to, &mut bytes), Action::Consumed);
	assert!(matches!(send_data(&mut g).0, Action::Deliver { .. }));
	assert!(g[3].encapsulate(77, true, &[1; 100], &mut buf).is_ok());
}

#[test]
fn a_consumer_whose_escrow_is_too_low_is_refused_at_every_relay_and_at_its_ingress() {
	let mut g = metered_group(4, 1 << 20);
	for core in g.iter_mut().skip(1) {
		core.set_consumer(CONSUMER, terms(false));
	}
	assert!(
		matches!(send_data(&mut g).0, Action::Deliver { .. }),
		"carried until a receipt names it"
	);
	let (to, mut bytes) = receipt(&g, &delegate(), 1);
	assert_eq!(travel(&mut g, addr(0), to, &mut bytes), Action::Consumed);
	assert_eq!(held(&g[3]).len(), 1, "what was carried is still claimed");
	assert_eq!(send_data(&mut g).0, Action::Dropped(DropReason::ConsumerRefused));

	// The ingress knows its own escrow: it refuses the tunnel's traffic itself.
	assert!(!g[0].own_escrow_low());
	g[0].set_consumer(CONSUMER, terms(false));
	assert!(g[0].own_escrow_low());
	let mut buf = [0u8; 1500];
	assert_eq!(
		g[0].encapsulate(77, false, &[1; 100], &mut buf).map(|_| ()),
		Err(DropReason::ConsumerRefused)
	);
	g[0].set_consumer(CONSUMER, terms(true));
	assert!(g[0].encapsulate(77, false, &[1; 100], &mut buf).is_ok());
}

#[test]
fn without_a_chain_nothing_is_metered_and_receipts_are_dropped() {
	let mut g = metered_group(4, 1);
	for core in g.iter_mut() {
		core.metering = None;
		core.sync();
	}
	for _ in 0..5 {
		assert!(matches!(send_data(&mut g).0, Action::Deliver { .. }));
	}
	assert_eq!(g[2].counters().carried_flows().count(), 0);
}

/// `receipt` with its figures changed, signed again by the consumer's delegate.
fn resigned(
	mut receipt: SignedReceipt<NodeId>,
	change: impl FnOnce(&mut srwan_primitives::receipts::UsageReceipt<NodeId>),
) -> SignedReceipt<NodeId> {
	change(&mut receipt.receipt);
	receipt.signature = delegate().sign(&receipt.receipt.signing_payload(&GENESIS)).0;
	receipt
}

#[test]
fn a_later_receipt_cannot_shrink_the_bill_nor_cover_one_direction_with_the_other() {
	let (_, len) = send_data(&mut metered_group(4, u64::MAX));
	let len = len as u64;
	let mut g = metered_group(4, 3 * len + 10);
	for _ in 0..3 {
		assert!(matches!(send_data(&mut g).0, Action::Deliver { .. }));
	}
	let (key, honest) = signed(&g, &signer(&delegate(), 1));
	let (to, mut bytes) = datagram(&g, &key, honest.clone());
	assert_eq!(travel(&mut g, addr(0), to, &mut bytes), Action::Consumed);

	// At the epoch's end the consumer signs a newer receipt that says it sent nothing.
	let shrunk = resigned(honest.clone(), |r| {
		r.nonce = 2;
		r.fwd_octets = 0;
	});
	let (_, mut bytes) = datagram(&g, &key, shrunk);
	assert_eq!(g[2].on_datagram(addr(0), &mut bytes, 0), Action::Dropped(DropReason::BadReceipt));
	assert_eq!(held(&g[2])[0].receipt.fwd_octets, 3 * len, "the larger receipt stays");

	// Forward octets receipted as replies cover no forward traffic.
	let mut fresh = metered_group(4, 3 * len + 10);
	for _ in 0..3 {
		assert!(matches!(send_data(&mut fresh).0, Action::Deliver { .. }));
	}
	let (key, honest) = signed(&fresh, &signer(&delegate(), 1));
	let swapped = resigned(honest, |r| {
		r.rev_octets = r.fwd_octets;
		r.fwd_octets = 0;
	});
	let (to, mut bytes) = datagram(&fresh, &key, swapped);
	assert_eq!(travel(&mut fresh, addr(0), to, &mut bytes), Action::Consumed);
	assert_eq!(send_data(&mut fresh).0, Action::Dropped(DropReason::Unreceipted));
}

#[test]
fn new_setup_versions_open_no_new_credit() {
	let (_, len) = send_data(&mut metered_group(4, u64::MAX));
	let mut g = metered_group(4, 3 * len as u64 + 10);
	for _ in 0..3 {
		assert!(matches!(send_data(&mut g).0, Action::Deliver { .. }));
	}
	assert_eq!(send_data(&mut g).0, Action::Dropped(DropReason::Unreceipted));
	// The ingress rekeys (a new version, as every setup may be): the same origin's credit.
	let rekeyed = Flow { version: 2, key: [6; 32], ..g[0].flow(77).unwrap().clone() };
	for core in g.iter_mut() {
		core.install_flow(rekeyed.clone()).unwrap();
	}
	assert_eq!(send_data(&mut g).0, Action::Dropped(DropReason::Unreceipted));
}

#[test]
fn a_receipt_capping_the_price_below_a_relays_stops_the_flow_there() {
	let mut g = metered_group(4, 1 << 20);
	assert!(matches!(send_data(&mut g).0, Action::Deliver { .. }));
	let key = delegate();
	let cheap = ReceiptSigner { max_price_per_gb: PRICE - 1, ..signer(&key, 1) };
	let (key, receipt) = signed(&g, &cheap);
	let (to, mut bytes) = datagram(&g, &key, receipt);
	assert_eq!(travel(&mut g, addr(0), to, &mut bytes), Action::Consumed);
	assert_eq!(held(&g[2]).len(), 1, "kept: what was carried is claimed at the capped price");
	assert_eq!(send_data(&mut g).0, Action::Dropped(DropReason::ConsumerRefused));
}

#[test]
fn a_relay_not_for_sale_carries_no_one_elses_flow() {
	let mut g = metered_group(4, 1 << 20);
	let config = MeteringConfig { genesis: GENESIS, credit_window: 1 << 20, price_per_gb: None };
	g[2].metering = Some(Metering::new(config));
	g[2].sync();
	assert_eq!(send_data(&mut g).0, Action::Dropped(DropReason::ConsumerRefused));
}

/// Member 0 sets up its flow `n` along 0 → 2 → 1 → 3 for `consumer`; what relay 2 (the
/// setup's first stop) makes of it, and the flow id.
fn set_up_for(g: &mut [RelayCore], consumer: Consumer, n: u32) -> (Action, u64) {
	g[0].set_own_consumer(consumer);
	let id = new_flow_id(&[0; 32], n);
	let flow = Flow {
		id,
		version: 1,
		key: [8; 32],
		path: vec![0, 2, 1, 3],
		destination: SocketAddr::from(([127, 0, 0, 1], 9000)),
	};
	let mut buf = [0u8; 512];
	let len = g[0].originate_flow(flow, [6; 32], 0, &mut buf).unwrap();
	(travel(g, addr(0), addr(2), &mut buf[..len]), id)
}

#[test]
fn a_version_is_paid_by_the_consumer_that_consented_and_by_no_other() {
	let mut g = metered_group(4, 1 << 20);
	let payer_key = Arc::new(Keypair::from_secret_key([60; 32]).unwrap());
	let payer = Consumer::new(payer_key.clone());

	// Consent by the account key: installed without reading the chain, on every relay.
	let (action, id) = set_up_for(&mut g, payer.clone(), 1);
	assert_eq!(action, Action::Consumed);
	for relay in [2, 1, 3] {
		assert!(g[relay].flow(id).is_some(), "relay {relay}");
		assert!(g[relay].consumers_to_fetch(false).is_empty(), "nothing to look up");
	}

	// Data of the version is carried; its receipts must name the payer.
	let mut buf = [0u8; 1500];
	let (to, len) = g[0].encapsulate(id, false, &[1; 100], &mut buf).unwrap();
	assert!(matches!(travel(&mut g, addr(0), to, &mut buf[..len]), Action::Deliver { .. }));
	let usage = g[0].counters().flow_usage_of(EPOCH);
	let (nonce, origin_key) = (1, delegate());
	let origin_pays = signer(&origin_key, nonce);
	let (key, signed) = origin_pays.signed(&usage, EPOCH).pop().unwrap();
	let (to, mut bytes) = datagram(&g, &key, signed);
	assert_eq!(
		g[index_of(to)].on_datagram(addr(0), &mut bytes, 0),
		Action::Dropped(DropReason::BadReceipt),
		"the origin's own account did not consent to this version: its receipt pays nothing"
	);
	// Its receipts are checked against what the chain says of it (its escrow): read first.
	let (to, mut early) = {
		let signer = ReceiptSigner {
			consumer: payer.account(),
			key: &payer_key,
			..signer(&origin_key, nonce)
		};
		let (key, signed) = signer.signed(&usage, EPOCH).pop().unwrap();
		datagram(&g, &key, signed)
	};
	assert_eq!(
		g[index_of(to)].on_datagram(addr(0), &mut early, 0),
		Action::Dropped(DropReason::UnknownConsumer)
	);
	for core in g.iter_mut() {
		core.set_consumer(payer.account(), ConsumerTerms { receipt_keys: vec![], escrow_ok: true });
	}
	let payer_pays = ReceiptSigner {
		consumer: payer.account(),
		key: &payer_key,
		..signer(&origin_key, nonce + 1)
	};
	let (key, signed) = payer_pays.signed(&usage, EPOCH).pop().unwrap();
	let (to, mut bytes) = datagram(&g, &key, signed);
	assert_eq!(travel(&mut g, addr(0), to, &mut bytes), Action::Consumed);
	for relay in [2, 1, 3] {
		assert_eq!(held(&g[relay]).len(), 1, "relay {relay} holds the payer's receipt");
		assert_eq!(held(&g[relay])[0].receipt.consumer, payer.account());
	}
}

#[test]
fn a_rekey_that_names_another_consumer_leaves_the_old_versions_packets_to_the_old_one() {
	let mut g = metered_group(4, 1 << 20);
	let first = Consumer::new(Arc::new(Keypair::from_secret_key([60; 32]).unwrap()));
	let second = Consumer::new(Arc::new(Keypair::from_secret_key([61; 32]).unwrap()));
	let (_, id) = set_up_for(&mut g, first.clone(), 1);
	// A packet sealed under version 1, still on its way when version 2 (same path, a new
	// key and another consumer) is installed everywhere.
	let mut old = [0u8; 1500];
	let (to, len) = g[0].encapsulate(id, false, &[1; 100], &mut old).unwrap();
	g[0].set_own_consumer(second);
	let flow = g[0].flow(id).unwrap().clone();
	let mut setup = [0u8; 512];
	let v2 = Flow { version: 2, key: [9; 32], ..flow };
	let setup_len = g[0].originate_flow(v2, [7; 32], 0, &mut setup).unwrap();
	assert_eq!(travel(&mut g, addr(0), addr(2), &mut setup[..setup_len]), Action::Consumed);
	assert!(matches!(travel(&mut g, addr(0), to, &mut old[..len]), Action::Deliver { .. }));
	let key = UsageKey { epoch: EPOCH, flow: id, version: 1 };
	for relay in [2, 1, 3] {
		let carried = g[relay].counters().carried(&key).map(|flow| flow.consumer);
		assert_eq!(carried, Some(first.account()), "relay {relay}");
	}
}

#[test]
fn workers_together_carry_no_more_than_the_credit_window() {
	let (_, len) = send_data(&mut metered_group(4, u64::MAX));
	let len = len as u64;
	let window = 7 * len;
	let mut g = metered_group(4, window);
	// The path's first transit relay, with two workers; its core syncs between rounds.
	let mut workers = [g[2].data_shard(), g[2].data_shard()];
	let mut forwarded = 0;
	for _round in 0..3 {
		for worker in workers.iter_mut() {
			for _ in 0..4 {
				let mut buf = [0u8; 1500];
				let (_, n) = g[0].encapsulate(77, false, &[1; 100], &mut buf).unwrap();
				match worker.pass().handle(addr(0), &mut buf[..n], 0) {
					Handled::Done(Action::Forward { .. }) => forwarded += 1,
					Handled::Done(Action::Dropped(DropReason::Unreceipted)) => {}
					other => panic!("{other:?}"),
				}
			}
		}
		g[2].sync();
	}
	let carried =
		|core: &RelayCore| core.counters().carried_flows().map(|(_, f)| f.fwd_octets).sum::<u64>();
	// The window, however the workers shared the traffic and the syncs fell: no more.
	assert_eq!(forwarded, 7);
	assert_eq!(carried(&g[2]), window, "every forwarded packet is metered");
	assert_eq!(g[2].drops().get(DropReason::Unreceipted), 24 - forwarded);

	// A receipt for what the ingress sent gives the credit back to every worker at once.
	let (to, mut bytes) = receipt(&g, &delegate(), 1);
	assert_eq!(to, addr(2));
	assert_eq!(g[2].on_datagram(addr(0), &mut bytes, 0), Action::Forward { to: 1 });
	let mut buf = [0u8; 1500];
	let (_, n) = g[0].encapsulate(77, false, &[1; 100], &mut buf).unwrap();
	let handled = workers[1].pass().handle(addr(0), &mut buf[..n], 0);
	assert_eq!(handled, Handled::Done(Action::Forward { to: 1 }));
}

#[test]
fn what_was_carried_before_a_refusal_was_known_still_loads_the_origin() {
	let (_, len) = send_data(&mut metered_group(4, u64::MAX));
	let window = 3 * len as u64;
	let mut g = metered_group(4, window);
	assert!(matches!(send_data(&mut g).0, Action::Deliver { .. }));
	// A worker carries the rest of the window before the core takes in its counts...
	let mut worker = g[2].data_shard();
	for _ in 0..2 {
		let mut buf = [0u8; 1500];
		let (_, n) = g[0].encapsulate(77, false, &[1; 100], &mut buf).unwrap();
		let handled = worker.pass().handle(addr(0), &mut buf[..n], 0);
		assert_eq!(handled, Handled::Done(Action::Forward { to: 1 }));
	}
	// ... and the consumer then has the version refused (a receipt capping the price).
	let (usage_key, signed) = signed(&g, &signer(&delegate(), 1));
	let capped = resigned(signed, |r| r.max_price_per_gb = PRICE - 1);
	let (_, mut bytes) = datagram(&g, &usage_key, capped);
	assert_eq!(g[2].on_datagram(addr(0), &mut bytes, 0), Action::Forward { to: 1 });
	g[2].sync();
	// The worker's octets are metered all the same (they load the origin's credit), and the
	// version is carried no more.
	let carried = g[2].counters().carried_flows().map(|(_, f)| f.fwd_octets).sum::<u64>();
	assert_eq!(carried, window);
	let mut buf = [0u8; 1500];
	let (_, n) = g[0].encapsulate(77, false, &[1; 100], &mut buf).unwrap();
	let handled = worker.pass().handle(addr(0), &mut buf[..n], 0);
	assert_eq!(handled, Handled::Done(Action::Dropped(DropReason::ConsumerRefused)));
}

#[test]
fn a_receipt_of_a_version_only_a_worker_carried_is_held_and_one_of_no_version_syncs_nothing() {
	let mut g = metered_group(4, 1 << 20);
	// The first transit relay carries the version in a worker only: its core has not synced.
	let mut worker = g[2].data_shard();
	let mut buf = [0u8; 1500];
	let (_, n) = g[0].encapsulate(77, false, &[1; 100], &mut buf).unwrap();
	let handled = worker.pass().handle(addr(0), &mut buf[..n], 0);
	assert_eq!(handled, Handled::Done(Action::Forward { to: 1 }));
	assert!(g[2].counters().carried_flows().next().is_none(), "still the worker's");

	// A receipt of a version no worker carried: dropped, and no sync for it (a member cannot
	// make the core take every shard's lock by sending receipts of made-up versions).
	let (usage_key, signed) = signed(&g, &signer(&delegate(), 1));
	let made_up = UsageKey { version: usage_key.version + 1, ..usage_key };
	let (_, mut bytes) = datagram(&g, &made_up, signed.clone());
	assert_eq!(g[2].on_datagram(addr(0), &mut bytes, 0), Action::Dropped(DropReason::BadReceipt));
	assert!(g[2].counters().carried_flows().next().is_none(), "no sync");

	// The receipt of the version the worker carried: the core takes the worker's counts in
	// and holds it.
	let (_, mut bytes) = datagram(&g, &usage_key, signed);
	assert_eq!(g[2].on_datagram(addr(0), &mut bytes, 0), Action::Forward { to: 1 });
	assert_eq!(held(&g[2]).len(), 1);
	let carried = g[2].counters().carried(&usage_key).map(|flow| flow.fwd_octets);
	assert_eq!(carried, Some(n as u64));
}
