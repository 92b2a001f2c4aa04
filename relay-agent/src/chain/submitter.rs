//! One task signs and submits every extrinsic of the relay, so one place owns the account's
//! nonce (subxt would read it at the latest finalized block, and back-to-back submissions would
//! collide: the task asks the node's pool, `system_accountNextIndex`, before each one).
//! Submissions wait in a queue and are never silently dropped: a lost connection is reopened
//! with backoff and the submission retried; a transaction the pool rejects is retried, and
//! reported after three attempts. Once the pool has taken a transaction, the task goes on with
//! the next while a watcher waits for the first to be final: a report and a claim due at the
//! same block boundary both make it into the next blocks (the `ci` claim window is two blocks).
//! Every outcome is logged: in a finalized block, or failed with the module error's name.

use super::{listing::Registration, srwan, ChainConfig, Client};
use std::time::Duration;
use subxt::{
	config::{DefaultExtrinsicParamsBuilder, RpcConfigFor},
	rpcs::{methods::LegacyRpcMethods, RpcClient},
	transactions::Payload,
};
use subxt_signer::sr25519::Keypair;
use tokio::sync::{mpsc, oneshot};

/// Submissions a queue holds before `submit` waits for room.
const QUEUE: usize = 64;
/// Attempts at a transaction the pool rejects before giving up on it.
const ATTEMPTS: u32 = 3;
/// Blocks a transaction stays valid for.
const MORTALITY: u64 = 64;
/// How long opening a connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a submitted transaction may take to be final: past its mortality (64 blocks of
/// 6 s) it can no longer be included.
const FINALITY_TIMEOUT: Duration = Duration::from_secs(600);

/// A call the relay puts on chain.
#[derive(Clone, Debug, PartialEq)]
pub enum ChainCall {
	/// Registers the router, or updates its listing.
	Register(Registration),
	/// Sets the price per GB from the next epoch (`None`: not for sale).
	SetPrice(Option<u128>),
	/// Leaves the exchange (the deposit comes back after the unbonding period).
	Unregister,
	/// Reports the inbound row of a report period.
	Report {
		/// The period.
		period: u32,
		/// One entry per measured peer.
		row: Vec<Measurement>,
	},
	/// Claims an epoch's octets.
	Claim(EpochClaim),
	/// Adds receipts to an epoch's claim (those one claim extrinsic could not hold).
	ClaimMoreReceipts {
		/// The epoch.
		epoch: u32,
		/// The receipts.
		receipts: Vec<srwan_primitives::receipts::SignedReceipt<[u8; 32]>>,
	},
	/// Puts plancks into the consumer escrow (on hold).
	Deposit(u128),
	/// Asks for plancks back from the escrow (after the withdraw delay).
	RequestWithdraw(u128),
	/// Takes back a requested withdrawal once its delay passed.
	Withdraw,
	/// Caps what the escrow pays per epoch (`None`: no cap), from the next epoch.
	SetSpendingCap(Option<u128>),
	/// Sets (or removes) the delegate key that signs the consumer's receipts, from the next
	/// epoch.
	SetReceiptKey(Option<[u8; 32]>),
}

/// One peer of a reported inbound row: what this relay measured of the segment peer → us.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Measurement {
	/// The peer's account.
	pub peer: [u8; 32],
	/// Median one-way delay, µs (offset-relative).
	pub owd_us: i32,
	/// Median round trip, µs.
	pub rtt_us: u32,
	/// Jitter, µs.
	pub jitter_us: u32,
	/// Loss, parts per million.
	pub loss_ppm: u32,
	/// Pulses the figures rest on.
	pub samples: u32,
}

/// A relay's octets with one peer in one epoch (summed over its boots).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerClaim {
	/// The peer's account.
	pub peer: [u8; 32],
	/// Octets received from it.
	pub in_octets: u64,
	/// Octets sent to it.
	pub out_octets: u64,
	/// The distinct boots its data carried in the epoch (two or more: it restarted).
	pub boots: Vec<u64>,
}

/// What a relay claims for one ended epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EpochClaim {
	/// The epoch.
	pub epoch: u32,
	/// Whether the relay crashed and restarted during it.
	pub restarted: bool,
	/// Octets per peer.
	pub peers: Vec<PeerClaim>,
	/// The consumer's receipts for the flows this relay originated (at its ingress).
	pub receipts: Vec<srwan_primitives::receipts::SignedReceipt<[u8; 32]>>,
}

impl ChainCall {
	/// The call's name on chain.
	pub fn name(&self) -> &'static str {
		match self {
			ChainCall::Register(_) => "ditex.register_router",
			ChainCall::SetPrice(_) => "ditex.set_price",
			ChainCall::Unregister => "ditex.unregister",
			ChainCall::Report { .. } => "ditex.report",
			ChainCall::Claim(_) => "tickets.claim",
			ChainCall::ClaimMoreReceipts { .. } => "tickets.claim_more_receipts",
			ChainCall::Deposit(_) => "escrow.deposit",
			ChainCall::RequestWithdraw(_) => "escrow.request_withdraw",
			ChainCall::Withdraw => "escrow.withdraw",
			ChainCall::SetSpendingCap(_) => "escrow.set_spending_cap",
			ChainCall::SetReceiptKey(_) => "escrow.set_receipt_key",
		}
	}
}

/// How a submission ended: in a finalized block, with the call's result there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
	/// The finalized block (hex).
	pub block: String,
	/// Why the call failed in it (`Ditex::NotRegistered`), or `None` when it succeeded.
	pub error: Option<String>,
}

/// Why a submission has no outcome.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
	/// The signer task has stopped (the agent is shutting down).
	#[error("the chain signer has stopped")]
	Stopped,
	/// The node's pool rejected the transaction on every attempt.
	#[error("the node rejected {call}: {reason}")]
	Rejected {
		/// The call.
		call: &'static str,
		/// What the node said last.
		reason: String,
	},
	/// The connection was lost after the transaction went out, and the account's nonce has
	/// moved since: it may be in a block. It is not signed again (that could run it twice).
	#[error("{call} went out but its outcome is unknown ({reason}): look at the account's recent extrinsics")]
	OutcomeUnknown {
		/// The call.
		call: &'static str,
		/// What broke.
		reason: String,
	},
}

struct Job {
	call: ChainCall,
	reply: oneshot::Sender<Result<Outcome, SubmitError>>,
}

/// Handle to the signer task; cloned freely.
#[derive(Clone)]
pub struct Submitter {
	queue: mpsc::Sender<Job>,
}

impl Submitter {
	/// Starts the signer task for `signer` on the node at `url` (connecting when the first
	/// submission comes, and again whenever the connection is lost).
	pub fn spawn(url: String, signer: Keypair) -> Self {
		let (queue, jobs) = mpsc::channel(QUEUE);
		tokio::spawn(signer_task(url, signer, jobs));
		Self { queue }
	}

	/// Submits `call` and waits for its outcome.
	pub async fn submit(&self, call: ChainCall) -> Result<Outcome, SubmitError> {
		let (reply, outcome) = oneshot::channel();
		self.queue.send(Job { call, reply }).await.map_err(|_| SubmitError::Stopped)?;
		outcome.await.map_err(|_| SubmitError::Stopped)?
	}

	/// Submissions waiting for the signer (not yet handed to the node).
	pub fn queued(&self) -> usize {
		QUEUE.saturating_sub(self.queue.capacity())
	}
}

/// A live connection.
struct Connection {
	client: Client,
	rpc: LegacyRpcMethods<RpcConfigFor<ChainConfig>>,
}

/// Why one attempt failed.
enum Attempt {
	/// The node cannot be reached: reconnect and try again.
	Connection(String),
	/// The transaction, signed with this nonce, may have reached the node before the
	/// connection broke: sent again only if the account's nonce shows it was not taken.
	MaybeSent(u64, String),
	/// The node answered but refused the transaction.
	Rejected(String),
}

/// A transaction in the pool, with the nonce it took.
struct InPool {
	progress: subxt::transactions::TransactionProgress<
		ChainConfig,
		subxt::client::OnlineClientAtBlockImpl<ChainConfig>,
	>,
	nonce: u64,
}

impl Connection {
	async fn open(url: &str) -> Result<Self, String> {
		let rpc_client = RpcClient::from_insecure_url(url).await.map_err(|e| e.to_string())?;
		let client =
			Client::from_rpc_client(rpc_client.clone()).await.map_err(|e| e.to_string())?;
		let rpc = LegacyRpcMethods::new(rpc_client);
		Ok(Self { client, rpc })
	}

	/// The account's next nonce as the node sees it, pool included: the transactions this
	/// task handed over before are counted, and one the pool dropped leaves no gap.
	async fn next_nonce(&self, signer: &Keypair) -> Result<u64, String> {
		let account = signer.public_key().to_account_id();
		self.rpc.system_account_next_index(&account).await.map_err(|e| e.to_string())
	}

	async fn submit(&mut self, call: &ChainCall, signer: &Keypair) -> Result<InPool, Attempt> {
		let ditex = srwan::transactions().ditex();
		let escrow = srwan::transactions().escrow();
		match call {
			ChainCall::Register(r) => {
				let payload = ditex.register_router(
					r.chain_endpoint(),
					r.chain_geo(),
					r.pulse_key,
					r.price_per_gb,
				);
				self.send(&payload, signer).await
			}
			ChainCall::SetPrice(price) => self.send(&ditex.set_price(*price), signer).await,
			ChainCall::Unregister => self.send(&ditex.unregister(), signer).await,
			ChainCall::Report { period, row } => {
				let row = super::encode::row(row);
				self.send(&ditex.report(*period, row), signer).await
			}
			ChainCall::Claim(claim) => {
				let claim = super::encode::claim(claim);
				self.send(&srwan::transactions().tickets().claim(claim), signer).await
			}
			ChainCall::ClaimMoreReceipts { epoch, receipts } => {
				let receipts = super::encode::receipts(receipts);
				let call = srwan::transactions().tickets().claim_more_receipts(*epoch, receipts);
				self.send(&call, signer).await
			}
			ChainCall::Deposit(amount) => self.send(&escrow.deposit(*amount), signer).await,
			ChainCall::RequestWithdraw(amount) => {
				self.send(&escrow.request_withdraw(*amount), signer).await
			}
			ChainCall::Withdraw => self.send(&escrow.withdraw(), signer).await,
			ChainCall::SetSpendingCap(cap) => {
				self.send(&escrow.set_spending_cap(*cap), signer).await
			}
			ChainCall::SetReceiptKey(key) => self.send(&escrow.set_receipt_key(*key), signer).await,
		}
	}

	/// Signs `payload` with the account's next nonce and hands it to the node's pool.
	async fn send<P: Payload>(&mut self, payload: &P, signer: &Keypair) -> Result<InPool, Attempt> {
		let nonce = self.next_nonce(signer).await.map_err(Attempt::Connection)?;
		let params = DefaultExtrinsicParamsBuilder::<ChainConfig>::new()
			.nonce(nonce)
			.mortal(MORTALITY)
			.build();
		let at =
			self.client.at_current_block().await.map_err(|e| Attempt::Connection(e.to_string()))?;
		match at.transactions().sign_and_submit_then_watch(payload, signer, params).await {
			Ok(progress) => Ok(InPool { progress, nonce }),
			Err(error) => Err(self.classify(nonce, error.to_string(), signer).await),
		}
	}

	/// Whether a failed submission means a lost connection (the node does not answer) or a
	/// refusal (it answers).
	async fn classify(&mut self, nonce: u64, reason: String, signer: &Keypair) -> Attempt {
		match self.next_nonce(signer).await {
			Ok(_) => Attempt::Rejected(reason),
			Err(_) => Attempt::MaybeSent(nonce, reason),
		}
	}
}

/// Waits until the transaction is in a finalized block and reads its result there.
async fn outcome(name: &'static str, in_pool: InPool) -> Result<Outcome, SubmitError> {
	let InPool { progress, nonce } = in_pool;
	let unknown = |reason: String| SubmitError::OutcomeUnknown { call: name, reason };
	let in_block = match tokio::time::timeout(FINALITY_TIMEOUT, progress.wait_for_finalized()).await
	{
		Ok(Ok(in_block)) => in_block,
		Ok(Err(subxt::error::TransactionProgressError::TransactionStatusError(status))) => {
			// The pool dropped or invalidated it: it is in no block.
			return Err(SubmitError::Rejected { call: name, reason: status.to_string() });
		}
		Ok(Err(error)) => return Err(unknown(format!("nonce {nonce}: {error}"))),
		Err(_) => {
			return Err(unknown(format!("nonce {nonce}: not final within {FINALITY_TIMEOUT:?}")))
		}
	};
	let block = format!("{:?}", in_block.block_hash());
	let error = match in_block.wait_for_success().await {
		Ok(_) => None,
		Err(subxt::error::TransactionEventsError::ExtrinsicFailed(
			subxt::error::DispatchError::Module(module),
		)) => Some(module.to_string()),
		Err(other) => Some(format!("outcome unknown: its events could not be read ({other})")),
	};
	Ok(Outcome { block, error })
}

/// Opens a connection, or says why not within [`CONNECT_TIMEOUT`].
async fn open(url: &str) -> Result<Connection, String> {
	tokio::time::timeout(CONNECT_TIMEOUT, Connection::open(url))
		.await
		.unwrap_or_else(|_| Err(format!("no answer within {CONNECT_TIMEOUT:?}")))
}

/// Waits [`backoff`] after `failures` failures, and counts one more.
pub(crate) async fn back_off(failures: &mut u32) {
	tokio::time::sleep(backoff(*failures)).await;
	*failures = failures.saturating_add(1);
}

/// Delay before reconnecting: 1 s, doubling up to 30 s.
pub(crate) fn backoff(failures: u32) -> Duration {
	Duration::from_secs(1u64 << failures.min(5)).min(Duration::from_secs(30))
}

/// Logs how a submission ended.
fn log_outcome(name: &'static str, result: &Result<Outcome, SubmitError>) {
	match result {
		Ok(Outcome { block, error: None }) => tracing::info!(call = name, %block, "finalized"),
		Ok(Outcome { block, error: Some(error) }) => {
			tracing::warn!(call = name, %block, %error, "failed on chain")
		}
		Err(error) => tracing::warn!(call = name, %error, "no outcome"),
	}
}

async fn signer_task(url: String, signer: Keypair, mut jobs: mpsc::Receiver<Job>) {
	let mut connection: Option<Connection> = None;
	while let Some(job) = jobs.recv().await {
		let name = job.call.name();
		let (mut failures, mut rejected) = (0u32, 0u32);
		// The nonce of a copy that may have reached the node before the connection broke.
		let mut maybe_sent: Option<u64> = None;
		let handed_over = loop {
			let live = match connection.as_mut() {
				Some(live) => live,
				None => match open(&url).await {
					Ok(opened) => connection.insert(opened),
					Err(error) => {
						tracing::warn!(%url, %error, retry_in = ?backoff(failures), "chain node unreachable");
						back_off(&mut failures).await;
						continue;
					}
				},
			};
			if let Some(nonce) = maybe_sent {
				match live.next_nonce(&signer).await {
					Ok(next) if next > nonce => {
						let reason = "the connection broke as it went out, and the account's nonce has moved since".to_string();
						break Err(SubmitError::OutcomeUnknown { call: name, reason });
					}
					Ok(_) => maybe_sent = None,
					Err(error) => {
						tracing::warn!(call = name, %error, "connection to the chain lost; checking again");
						connection = None;
						back_off(&mut failures).await;
						continue;
					}
				}
			}
			match live.submit(&job.call, &signer).await {
				Ok(in_pool) => break Ok(in_pool),
				Err(Attempt::MaybeSent(nonce, error)) => {
					tracing::warn!(call = name, %error, "connection to the chain lost as it went out; checking the nonce");
					maybe_sent = Some(nonce);
					connection = None;
					back_off(&mut failures).await;
				}
				Err(Attempt::Connection(error)) => {
					tracing::warn!(call = name, %error, "connection to the chain lost; resubmitting");
					connection = None;
					back_off(&mut failures).await;
				}
				Err(Attempt::Rejected(reason)) => {
					rejected += 1;
					tracing::warn!(call = name, %reason, attempt = rejected, "transaction rejected");
					if rejected >= ATTEMPTS {
						break Err(SubmitError::Rejected { call: name, reason });
					}
				}
			}
		};
		match handed_over {
			// The pool has it: the next job goes out while this one is watched.
			Ok(in_pool) => {
				tokio::spawn(async move {
					let result = outcome(name, in_pool).await;
					log_outcome(name, &result);
					// The caller may have gone away; the outcome is logged either way.
					let _ = job.reply.send(result);
				});
			}
			Err(error) => {
				let result = Err(error);
				log_outcome(name, &result);
				let _ = job.reply.send(result);
			}
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn reconnects_back_off_to_half_a_minute() {
		assert_eq!(backoff(0), Duration::from_secs(1));
		assert_eq!(backoff(3), Duration::from_secs(8));
		assert_eq!(backoff(40), Duration::from_secs(30));
	}
}
