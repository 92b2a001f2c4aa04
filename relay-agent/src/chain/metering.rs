//! A relay's metering on chain (the rules are in `proto::metering`): as an ingress, the
//! receipts of its flows sent along their paths about every second, and at once when an epoch
//! ends (its final figures reach every relay before they claim); as a relay on others' paths,
//! the terms of the consumers whose receipts it checks, fetched when a receipt names an
//! unknown one and refreshed every epoch, its own among them (an ingress whose escrow runs low
//! stops sending traffic the relays would not carry).

use super::{follow::ChainState, receipts::ReceiptKeys, Client};
use crate::{
	net::{lock, SharedCore},
	proto::wire::MAX_RECEIPT_LEN,
};
use std::{
	collections::HashMap,
	net::SocketAddr,
	sync::{Arc, Mutex},
	time::{Duration, Instant},
};
use tokio::sync::{mpsc, watch};

/// How often the loop looks at the epoch.
const TICK: Duration = Duration::from_millis(250);
/// How often an active flow's receipt goes out.
const RECEIPT_EVERY: Duration = Duration::from_secs(1);
/// Rounds after the one at an epoch's end that send its final receipts again (one may be lost).
const FINAL_REPEATS: u32 = 2;
/// Receipts per second to one second router: well inside a member's receipt budget
/// (`proto::relay::RECEIPTS_PER_SECOND`), which also carries the receipts that router passes
/// on. The largest flows go first; a flow beyond it is receipted only while it is among them.
pub const MAX_RECEIPTS_PER_HOP: usize = 128;
/// Ended epochs whose final receipts a jump of the chain's head still sends.
const MAX_ENDED: u32 = 2;
/// How long fetching one consumer's terms may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Datagrams for the data plane's socket to send (receipts leave from the relay's address).
pub type Outbox = mpsc::Sender<(Vec<u8>, SocketAddr)>;

/// What the metering loop needs.
pub struct Metering {
	/// The relay (replaced in place when the group changes).
	pub core: SharedCore,
	/// The chain as followed.
	pub chain: watch::Receiver<ChainState>,
	/// The keys that sign this account's receipts.
	pub keys: Arc<ReceiptKeys>,
	/// The receipts' price limit per GB.
	pub max_price_per_gb: u128,
	/// Where the datagrams go.
	pub outbox: Outbox,
	/// Whether this relay originates tunnels (only then does its own escrow matter to it).
	pub has_tunnels: bool,
	/// Whether this account's escrow was last seen below the minimum (`None`: not read yet):
	/// kept here rather than in the core, which a regroup rebuilds, so each change is said
	/// once.
	pub own_escrow_was_low: Mutex<Option<bool>>,
}

impl Metering {
	/// Runs until `stop`: the receipts here, the consumers' terms in a task of their own (a
	/// slow read never delays a receipt).
	pub async fn run(self, stop: watch::Receiver<bool>) {
		let this = Arc::new(self);
		tokio::join!(this.clone().send_loop(stop.clone()), this.fetch_loop(stop));
	}

	/// Sends this account's receipts: every [`RECEIPT_EVERY`], and at once when an epoch
	/// ends with its final figures (again for [`FINAL_REPEATS`] rounds).
	async fn send_loop(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
		let mut ticker = tokio::time::interval(TICK);
		ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
		let mut last_epoch: Option<u32> = None;
		let mut last_sent: Option<Instant> = None;
		// Ended epochs, and how many more rounds send their final receipts.
		let mut ended: Vec<(u32, u32)> = Vec::new();
		loop {
			tokio::select! {
				_ = ticker.tick() => {}
				_ = stop.wait_for(|stop| *stop) => return,
			}
			let epoch = lock(&self.core).epoch();
			let changed = last_epoch != Some(epoch);
			if let Some(previous) = last_epoch.filter(|previous| *previous < epoch) {
				// Every epoch the core went through (usually one).
				let first = previous.max(epoch.saturating_sub(MAX_ENDED));
				ended.extend((first..epoch).map(|e| (e, FINAL_REPEATS + 1)));
			}
			last_epoch = Some(epoch);
			if !changed && last_sent.is_some_and(|sent| sent.elapsed() < RECEIPT_EVERY) {
				continue;
			}
			last_sent = Some(Instant::now());
			let (client, genesis) = {
				let state = self.chain.borrow();
				(state.client.clone(), state.genesis)
			};
			let Some(genesis) = genesis else { continue };
			for (ended_epoch, rounds) in ended.iter_mut() {
				*rounds -= 1;
				self.send_receipts(client.as_ref(), genesis, *ended_epoch).await;
			}
			ended.retain(|(_, rounds)| *rounds > 0);
			self.send_receipts(client.as_ref(), genesis, epoch).await;
		}
	}

	/// Fetches the terms of the consumers the core asks about, and at each epoch those of
	/// every consumer it knows and of this account.
	async fn fetch_loop(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
		let mut ticker = tokio::time::interval(TICK);
		ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
		let mut last_epoch: Option<u32> = None;
		loop {
			tokio::select! {
				_ = ticker.tick() => {}
				_ = stop.wait_for(|stop| *stop) => return,
			}
			let Some(client) = self.chain.borrow().client.clone() else { continue };
			// The chain's epoch, never the core's before the first block is read (epoch 0 would
			// find no escrow deposited yet).
			let Some(chain_epoch) = self.chain.borrow().epoch() else { continue };
			let epoch = lock(&self.core).epoch().max(chain_epoch);
			let refresh = last_epoch != Some(epoch);
			last_epoch = Some(epoch);
			let mut wanted = lock(&self.core).consumers_to_fetch(refresh);
			if refresh {
				wanted.push(self.keys.account);
			}
			wanted.sort_unstable();
			wanted.dedup();
			for consumer in wanted {
				let fetch = super::follow::consumer_terms(&client, consumer, epoch);
				match tokio::time::timeout(FETCH_TIMEOUT, fetch).await {
					Ok(Ok(terms)) => {
						if consumer == self.keys.account {
							self.note_own_escrow(terms.escrow_ok);
						}
						lock(&self.core).set_consumer(consumer, terms);
					}
					Ok(Err(error)) => {
						tracing::debug!(%error, "cannot read a consumer's terms; asking again later")
					}
					Err(_) => tracing::debug!("reading a consumer's terms timed out"),
				}
			}
		}
	}

	/// Says when this account's escrow falls below the minimum and when it is back.
	fn note_own_escrow(&self, ok: bool) {
		let low = !ok;
		let was_low = {
			let mut noted = self.own_escrow_was_low.lock().unwrap_or_else(|p| p.into_inner());
			noted.replace(low)
		};
		// A relay without tunnels spends nothing; the first reading of a healthy escrow is
		// no news.
		if !self.has_tunnels || was_low == Some(low) || (was_low.is_none() && ok) {
			return;
		}
		if ok {
			tracing::info!(
				"this account's escrow covers the minimum again: its tunnels' traffic flows"
			);
		} else {
			tracing::warn!("this account's escrow backs less than the chain's minimum: its tunnels' new traffic is refused (deposit with `srwan-relay escrow deposit`)");
		}
	}

	/// Signs this account's receipts of `epoch` (off the data plane's lock) and queues them
	/// for every other router of their paths, at most [`MAX_RECEIPTS_PER_HOP`] per second
	/// router (the largest flows first).
	async fn send_receipts(&self, client: Option<&Client>, genesis: [u8; 32], epoch: u32) {
		let usages = lock(&self.core).counters().flow_usage_of(epoch);
		if usages.is_empty() {
			return;
		}
		let key = self.keys.for_epoch(client, epoch).await;
		let signer = super::receipts::ReceiptSigner {
			consumer: self.keys.account,
			key: &key,
			genesis,
			max_price_per_gb: self.max_price_per_gb,
			nonce: super::receipts::fresh_nonce(),
		};
		let signed = signer.signed(&usages, epoch);
		let datagrams: Vec<(Vec<u8>, Vec<SocketAddr>)> = {
			let core = lock(&self.core);
			let mut per_hop: HashMap<SocketAddr, usize> = HashMap::new();
			signed
				.into_iter()
				.filter_map(|(key, receipt)| {
					let mut datagram = vec![0u8; MAX_RECEIPT_LEN];
					let (to, len) = core.receipt_datagram(&key, receipt, &mut datagram).ok()?;
					let sent = per_hop.entry(*to.first()?).or_default();
					*sent += 1;
					datagram.truncate(len);
					(*sent <= MAX_RECEIPTS_PER_HOP).then_some((datagram, to))
				})
				.collect()
		};
		for (datagram, to) in datagrams {
			for addr in to {
				if self.outbox.try_send((datagram.clone(), addr)).is_err() {
					tracing::debug!("the data plane's outbox is full; receipts go next round");
					return;
				}
			}
		}
	}
}
