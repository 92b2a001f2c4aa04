//! One task signs and submits every extrinsic of the relay, so one counter owns the account's
//! nonce (subxt would read it at the latest finalized block, and back-to-back submissions would
//! collide). Submissions wait in a queue and are never silently dropped: a lost connection is
//! reopened with backoff and the submission retried; a transaction the pool rejects is retried
//! with the nonce read again, and reported after three attempts. Every outcome is logged: in a
//! finalized block, or failed with the module error's name.

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
}

impl ChainCall {
	/// The call's name on chain.
	pub fn name(&self) -> &'static str {
		match self {
			ChainCall::Register(_) => "ditex.register_router",
			ChainCall::SetPrice(_) => "ditex.set_price",
			ChainCall::Unregister => "ditex.unregister",
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
}

/// A live connection and the account's next nonce.
struct Connection {
	client: Client,
	rpc: LegacyRpcMethods<RpcConfigFor<ChainConfig>>,
	nonce: u64,
}

/// Why one attempt failed.
enum Attempt {
	/// The node cannot be reached: reconnect and try again.
	Connection(String),
	/// The node answered but refused the transaction.
	Rejected(String),
	/// The transaction went out with `nonce`, then the connection was lost: it is sent again
	/// only if the account's nonce shows it was not taken.
	LostAfterSubmit {
		/// The nonce it was signed with.
		nonce: u64,
		/// What broke.
		reason: String,
	},
}

impl Connection {
	async fn open(url: &str, signer: &Keypair) -> Result<Self, String> {
		let rpc_client = RpcClient::from_insecure_url(url).await.map_err(|e| e.to_string())?;
		let client =
			Client::from_rpc_client(rpc_client.clone()).await.map_err(|e| e.to_string())?;
		let rpc = LegacyRpcMethods::new(rpc_client);
		let mut connection = Self { client, rpc, nonce: 0 };
		connection.nonce = connection.next_nonce(signer).await?;
		Ok(connection)
	}

	/// The account's next nonce as the node sees it (pool included).
	async fn next_nonce(&self, signer: &Keypair) -> Result<u64, String> {
		let account = signer.public_key().to_account_id();
		self.rpc.system_account_next_index(&account).await.map_err(|e| e.to_string())
	}

	async fn submit(&mut self, call: &ChainCall, signer: &Keypair) -> Result<Outcome, Attempt> {
		let ditex = srwan::transactions().ditex();
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
		}
	}

	async fn send<P: Payload>(
		&mut self,
		payload: &P,
		signer: &Keypair,
	) -> Result<Outcome, Attempt> {
		let params = DefaultExtrinsicParamsBuilder::<ChainConfig>::new()
			.nonce(self.nonce)
			.mortal(MORTALITY)
			.build();
		let at =
			self.client.at_current_block().await.map_err(|e| Attempt::Connection(e.to_string()))?;
		let progress =
			match at.transactions().sign_and_submit_then_watch(payload, signer, params).await {
				Ok(progress) => progress,
				Err(error) => return Err(self.classify(error.to_string(), signer).await),
			};
		let nonce = self.nonce;
		let in_block =
			match tokio::time::timeout(FINALITY_TIMEOUT, progress.wait_for_finalized()).await {
				Ok(Ok(in_block)) => in_block,
				Ok(Err(subxt::error::TransactionProgressError::TransactionStatusError(status))) => {
					return Err(self.classify(status.to_string(), signer).await);
				}
				Ok(Err(error)) => {
					return Err(Attempt::LostAfterSubmit { nonce, reason: error.to_string() });
				}
				Err(_) => {
					let reason = format!("not final within {FINALITY_TIMEOUT:?}");
					return Err(Attempt::LostAfterSubmit { nonce, reason });
				}
			};
		// In a finalized block: the nonce is used, whatever the call did.
		self.nonce = self.nonce.saturating_add(1);
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

	/// Whether a failed submission means a lost connection (the node does not answer) or a
	/// refusal (it answers: the nonce is read again for the next attempt).
	async fn classify(&mut self, reason: String, signer: &Keypair) -> Attempt {
		match self.next_nonce(signer).await {
			Ok(nonce) => {
				self.nonce = nonce;
				Attempt::Rejected(reason)
			}
			Err(_) => Attempt::Connection(reason),
		}
	}
}

/// Opens a connection, or says why not within [`CONNECT_TIMEOUT`].
async fn open(url: &str, signer: &Keypair) -> Result<Connection, String> {
	tokio::time::timeout(CONNECT_TIMEOUT, Connection::open(url, signer))
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

async fn signer_task(url: String, signer: Keypair, mut jobs: mpsc::Receiver<Job>) {
	let mut connection: Option<Connection> = None;
	while let Some(job) = jobs.recv().await {
		let name = job.call.name();
		let (mut failures, mut rejected) = (0u32, 0u32);
		// The nonce of a copy that went out before the connection was lost.
		let mut sent_with: Option<u64> = None;
		let result = loop {
			let live = match connection.as_mut() {
				Some(live) => live,
				None => match open(&url, &signer).await {
					Ok(opened) => connection.insert(opened),
					Err(error) => {
						tracing::warn!(%url, %error, retry_in = ?backoff(failures), "chain node unreachable");
						back_off(&mut failures).await;
						continue;
					}
				},
			};
			if let Some(nonce) = sent_with {
				if live.nonce > nonce {
					let reason = "the connection was lost after it went out".to_string();
					break Err(SubmitError::OutcomeUnknown { call: name, reason });
				}
			}
			match live.submit(&job.call, &signer).await {
				Ok(outcome) => break Ok(outcome),
				Err(Attempt::Connection(error)) => {
					tracing::warn!(call = name, %error, "connection to the chain lost; resubmitting");
					connection = None;
					back_off(&mut failures).await;
				}
				Err(Attempt::LostAfterSubmit { nonce, reason }) => {
					tracing::warn!(call = name, %reason, "connection lost after submitting; checking the nonce");
					sent_with = Some(nonce);
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
		match &result {
			Ok(Outcome { block, error: None }) => tracing::info!(call = name, %block, "finalized"),
			Ok(Outcome { block, error: Some(error) }) => {
				tracing::warn!(call = name, %block, %error, "failed on chain")
			}
			Err(error) => tracing::warn!(call = name, %error, "no outcome"),
		}
		// The caller may have gone away; the outcome is logged either way.
		let _ = job.reply.send(result);
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
