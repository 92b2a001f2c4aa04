//! The per-router dashboard: an HTML page (uptime, traffic relayed, coins, the live latency
//! matrix colour-scaled, active paths with expected latency and the reason for each switch),
//! JSON under `/api/*`, Prometheus text at `/metrics`, and `/live` / `/ready` probes.
//!
//! [`router`] builds the app from shared state, so tests call it without a server. It reads the
//! core only through [`view::CoreView`] copies, never through the lock the data plane takes.

pub mod view;

use crate::{net::TunnelStatus, proto::wire::NodeId};
use axum::{
	extract::State,
	http::{header, StatusCode},
	response::{Html, IntoResponse, Response},
	routing::get,
	Json, Router,
};
use prometheus_client::{
	encoding::{text::encode, EncodeLabelSet},
	metrics::{counter::Counter, family::Family, gauge::Gauge},
	registry::Registry,
};
use serde::Serialize;
use std::{
	sync::{Arc, Mutex},
	time::Instant,
};
pub use view::CoreView;

/// What the dashboard reads.
#[derive(Clone)]
pub struct DashState {
	/// The relay's core as [`view::publish`] last copied it.
	pub view: tokio::sync::watch::Receiver<Arc<CoreView>>,
	/// The tunnels' live status.
	pub tunnels: Arc<Mutex<Vec<TunnelStatus>>>,
	/// This relay's name.
	pub name: String,
	/// When the agent started.
	pub started: Instant,
	/// The chain as the agent follows it (absent in static mode).
	pub chain: Option<ChainDash>,
	/// Members' names from the configuration (static mode), by id.
	pub names: Arc<std::collections::HashMap<NodeId, String>>,
}

/// What the dashboard shows of the chain.
#[derive(Clone)]
pub struct ChainDash {
	/// This router's account (SS58).
	pub account: String,
	/// The chain as followed.
	pub state: tokio::sync::watch::Receiver<crate::chain::ChainState>,
	/// The claim journal.
	pub journal: Arc<Mutex<crate::chain::duties::Journal>>,
	/// The signer (its queue).
	pub submitter: crate::chain::Submitter,
}

/// The chain as this relay sees it.
#[derive(Serialize)]
pub struct ChainStatus {
	/// This router's account (SS58).
	pub account: String,
	/// Whether the agent follows a live node.
	pub connected: bool,
	/// The best block.
	pub best_block: u64,
	/// The metering epoch of the best block (stamped in the data packets it originates).
	pub epoch: Option<u32>,
	/// The group as of the epoch's start, if this router is in one.
	pub group: Option<u32>,
	/// Whether the chain had it quarantined at the epoch's start.
	pub quarantined: bool,
	/// Extrinsics waiting for the signer.
	pub submissions_queued: usize,
	/// The latest claims, newest first: epoch, figures and outcome.
	pub claims: Vec<ClaimView>,
}

/// One epoch's claim.
#[derive(Serialize)]
pub struct ClaimView {
	/// The epoch.
	pub epoch: u32,
	/// The claim and its outcome.
	#[serde(flatten)]
	pub record: crate::chain::duties::ClaimRecord,
}

fn chain_status(chain: &ChainDash) -> ChainStatus {
	let state = chain.state.borrow().clone();
	let journal = chain.journal.lock().unwrap_or_else(|p| p.into_inner());
	ChainStatus {
		account: chain.account.clone(),
		connected: state.connected,
		best_block: state.best,
		epoch: state.epoch(),
		group: state.snapshot.as_ref().and_then(|s| s.group),
		quarantined: state.snapshot.as_ref().is_some_and(|s| s.quarantined),
		submissions_queued: chain.submitter.queued(),
		claims: journal
			.iter()
			.rev()
			.take(10)
			.map(|(epoch, record)| ClaimView { epoch: *epoch, record: record.clone() })
			.collect(),
	}
}

/// Builds the dashboard app.
pub fn router(state: DashState) -> Router {
	Router::new()
		.route("/", get(page))
		.route("/live", get(|| async { "live\n" }))
		.route("/ready", get(ready))
		.route("/metrics", get(metrics))
		.route("/api/status", get(status))
		.route("/api/matrix", get(matrix))
		.route("/api/paths", get(paths))
		.with_state(state)
}

/// Totals and health of this relay.
#[derive(Serialize)]
pub struct Status {
	/// Relay name.
	pub name: String,
	/// Member index in the group.
	pub member_index: u16,
	/// Seconds since the agent started.
	pub uptime_s: u64,
	/// Boot time (unix s).
	pub boot_time: u64,
	/// Octets received, all unclaimed epochs.
	pub in_octets: u64,
	/// Octets sent, all unclaimed epochs.
	pub out_octets: u64,
	/// Coins paid to this router for relaying, from the chain's payouts (none in static
	/// mode).
	pub coins_earned: Option<String>,
	/// Coins charged to this router's account for its own traffic (as a consumer).
	pub coins_applied: Option<String>,
	/// Peers with current measurements.
	pub peers_measured: usize,
	/// Group size.
	pub group_size: usize,
	/// Dropped datagrams by reason.
	pub drops: Vec<(String, u64)>,
	/// The wire protocol version this agent speaks.
	pub protocol_version: u8,
	/// Members whose datagrams carry another protocol version (dropped), with that version.
	pub members_on_other_versions: Vec<(u16, u8)>,
	/// The chain: account, epoch, group, claims (absent in static mode).
	pub chain: Option<ChainStatus>,
}

fn status_of(view: &CoreView, state: &DashState) -> Status {
	Status {
		name: state.name.clone(),
		member_index: view.me,
		uptime_s: state.started.elapsed().as_secs(),
		boot_time: view.boot_time,
		in_octets: view.totals.in_octets,
		out_octets: view.totals.out_octets,
		coins_earned: state
			.chain
			.as_ref()
			.map(|chain| crate::config::format_srw(chain.state.borrow().ledger.total.earned)),
		coins_applied: state
			.chain
			.as_ref()
			.map(|chain| crate::config::format_srw(chain.state.borrow().ledger.total.applied)),
		peers_measured: view.peers_measured,
		group_size: view.group_size,
		drops: view.drops.clone(),
		protocol_version: crate::proto::wire::VERSION,
		members_on_other_versions: view.members_on_other_versions.clone(),
		chain: state.chain.as_ref().map(chain_status),
	}
}

async fn status(State(state): State<DashState>) -> Json<Status> {
	let view = state.view.borrow().clone();
	Json(status_of(&view, &state))
}

async fn ready(State(state): State<DashState>) -> Response {
	let view = state.view.borrow().clone();
	// Ready once it measures at least one peer (or is alone in its group).
	if view.group_size <= 1 || view.peers_measured > 0 {
		(StatusCode::OK, "ready\n").into_response()
	} else {
		(StatusCode::SERVICE_UNAVAILABLE, "waiting for the first peer measurements\n")
			.into_response()
	}
}

/// The matrix as JSON: `owd_us[from][to]`, `rtt_us[from][to]`, `loss_ppm[from][to]`.
#[derive(Serialize)]
pub struct MatrixView {
	/// Member names: configured names, or account, country and endpoint from the chain.
	pub members: Vec<String>,
	/// One-way delays, µs, offset-relative; `null` where unmeasured or excluded.
	pub owd_us: Vec<Vec<Option<i64>>>,
	/// Round-trip times, µs.
	pub rtt_us: Vec<Vec<Option<u32>>>,
	/// Loss, ppm.
	pub loss_ppm: Vec<Vec<Option<u32>>>,
}

/// How the dashboard names a member: its configured name (static mode); with a chain, its
/// account (shortened), country and endpoint as the chain lists them; else its id's first bytes.
fn member_label(state: &DashState, id: &NodeId) -> String {
	if let Some(chain) = &state.chain {
		let snapshot = chain.state.borrow().snapshot.clone();
		if let Some(member) =
			snapshot.as_ref().and_then(|s| s.members.iter().find(|m| m.account == *id))
		{
			let account = subxt::utils::AccountId32(member.account).to_string();
			let country = String::from_utf8_lossy(&member.country).into_owned();
			return format!("{}… {country} {}", account.get(..8).unwrap_or(&account), member.addr);
		}
	}
	match state.names.get(id) {
		Some(name) => name.clone(),
		None => crate::hex::encode(&id[..4]),
	}
}

fn matrix_of(view: &CoreView, state: &DashState) -> MatrixView {
	let segs = &view.segments;
	MatrixView {
		members: view.members.iter().map(|id| member_label(state, id)).collect(),
		owd_us: segs.iter().map(|r| r.iter().map(|s| s.map(|s| s.owd_us)).collect()).collect(),
		rtt_us: segs.iter().map(|r| r.iter().map(|s| s.map(|s| s.rtt_us)).collect()).collect(),
		loss_ppm: segs.iter().map(|r| r.iter().map(|s| s.map(|s| s.loss_ppm)).collect()).collect(),
	}
}

async fn matrix(State(state): State<DashState>) -> Json<MatrixView> {
	let view = state.view.borrow().clone();
	Json(matrix_of(&view, &state))
}

async fn paths(State(state): State<DashState>) -> Json<Vec<TunnelStatus>> {
	Json(state.tunnels.lock().unwrap_or_else(|p| p.into_inner()).clone())
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PeerLabel {
	peer: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
	reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FlowLabel {
	flow: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
	status: String,
}

async fn metrics(State(state): State<DashState>) -> Response {
	let mut registry = Registry::with_prefix("srwan_relay");
	let octets_in = Family::<PeerLabel, Counter>::default();
	let octets_out = Family::<PeerLabel, Counter>::default();
	let drops = Family::<ReasonLabel, Counter>::default();
	let uptime = Gauge::<i64>::default();
	let measured = Gauge::<i64>::default();
	let (owd, rtt, jitter, loss) = (
		Family::<PeerLabel, Gauge>::default(),
		Family::<PeerLabel, Gauge>::default(),
		Family::<PeerLabel, Gauge>::default(),
		Family::<PeerLabel, Gauge>::default(),
	);
	let (switches, probe_rtt) =
		(Family::<FlowLabel, Counter>::default(), Family::<FlowLabel, Gauge>::default());
	{
		let view = state.view.borrow().clone();
		for (peer, metrics) in &view.inbound {
			let label = PeerLabel { peer: crate::hex::encode(&peer[..8]) };
			owd.get_or_create(&label).set(metrics.owd_us);
			if let Some(value) = metrics.rtt_us {
				rtt.get_or_create(&label).set(i64::from(value));
			}
			jitter.get_or_create(&label).set(i64::from(metrics.jitter_us));
			loss.get_or_create(&label).set(i64::from(metrics.loss_ppm));
		}
		for (peer, octets) in &view.by_peer {
			let label = PeerLabel { peer: crate::hex::encode(&peer[..8]) };
			octets_in.get_or_create(&label).inc_by(octets.in_octets);
			octets_out.get_or_create(&label).inc_by(octets.out_octets);
		}
		for (reason, count) in &view.drops {
			drops.get_or_create(&ReasonLabel { reason: reason.clone() }).inc_by(*count);
		}
		uptime.set(state.started.elapsed().as_secs() as i64);
		measured.set(view.peers_measured as i64);
	}
	registry.register("octets_in", "Octets received per peer since the agent started", octets_in);
	registry.register("octets_out", "Octets sent per peer since the agent started", octets_out);
	registry.register("dropped_datagrams", "Datagrams dropped, by reason", drops);
	for tunnel in state.tunnels.lock().unwrap_or_else(|p| p.into_inner()).iter() {
		let label = FlowLabel { flow: tunnel.flow.to_string() };
		switches.get_or_create(&label).inc_by(tunnel.switches);
		if let Some(value) = tunnel.measured_rtt_us {
			probe_rtt.get_or_create(&label).set(i64::try_from(value).unwrap_or(i64::MAX));
		}
	}
	registry.register("peer_owd_us", "One-way delay from each peer, µs (offset-relative)", owd);
	registry.register("peer_rtt_us", "Round trip to each peer, µs", rtt);
	registry.register("peer_jitter_us", "Jitter of each peer's pulses, µs", jitter);
	registry.register("peer_loss_ppm", "Loss of each peer's pulses, ppm", loss);
	registry.register("path_switches", "Path switches of each tunnel's flow", switches);
	registry.register(
		"probe_rtt_us",
		"Smoothed round trip of each tunnel's active path, µs",
		probe_rtt,
	);
	if let Some(chain) = &state.chain {
		let queued = Gauge::<i64>::default();
		queued.set(i64::try_from(chain.submitter.queued()).unwrap_or(i64::MAX));
		registry.register("chain_submissions_queued", "Extrinsics waiting for the signer", queued);
		let claims = Family::<StatusLabel, Gauge>::default();
		for record in chain.journal.lock().unwrap_or_else(|p| p.into_inner()).values() {
			let status = serde_json::to_value(&record.status)
				.ok()
				.and_then(|v| v.get("status").and_then(|s| s.as_str()).map(String::from))
				.unwrap_or_default();
			claims.get_or_create(&StatusLabel { status }).inc();
		}
		registry.register(
			"claims",
			"Claims in the journal (the latest 64 epochs), by outcome",
			claims,
		);
		let ledger = chain.state.borrow().ledger.total;
		let (earned, applied) = (
			Gauge::<f64, std::sync::atomic::AtomicU64>::default(),
			Gauge::<f64, std::sync::atomic::AtomicU64>::default(),
		);
		earned.set(ledger.earned as f64 / crate::config::PLANCKS_PER_SRW as f64);
		applied.set(ledger.applied as f64 / crate::config::PLANCKS_PER_SRW as f64);
		registry.register("coins_earned_srw", "SRW paid to this router for relaying", earned);
		registry.register(
			"coins_applied_srw",
			"SRW charged to this account as a consumer",
			applied,
		);
	}
	registry.register("uptime_seconds", "Seconds since the agent started", uptime);
	registry.register("peers_measured", "Peers with current measurements", measured);
	let mut body = String::new();
	if encode(&mut body, &registry).is_err() {
		return StatusCode::INTERNAL_SERVER_ERROR.into_response();
	}
	([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], body)
		.into_response()
}

async fn page(State(state): State<DashState>) -> Html<String> {
	Html(PAGE.replace("{{name}}", &html_escape(&state.name)))
}

fn html_escape(text: &str) -> String {
	text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

const PAGE: &str = include_str!("page.html");

#[cfg(test)]
mod tests {
	use super::*;
	use crate::{
		net::{lock, SharedCore},
		proto::{
			counters::Counters,
			relay::{CoreConfig, Member, RelayCore},
		},
	};
	use axum::body::{to_bytes, Body};
	use ed25519_dalek::SigningKey;
	use std::time::Duration;
	use tower::ServiceExt;

	/// The dashboard's state over a core of two members, with the core itself.
	fn state_and_core() -> (DashState, SharedCore) {
		let key = SigningKey::from_bytes(&[1; 32]);
		let other = SigningKey::from_bytes(&[2; 32]);
		let members = vec![
			Member {
				id: [0; 32],
				addr: "127.0.0.1:1".parse().unwrap(),
				pulse_key: key.verifying_key(),
			},
			Member {
				id: [1; 32],
				addr: "127.0.0.1:2".parse().unwrap(),
				pulse_key: other.verifying_key(),
			},
		];
		let mut counters = Counters::default();
		counters.record_in(5, 1, [1; 32], 1_500);
		let core = RelayCore::new(CoreConfig {
			key,
			group: 1,
			members,
			boot_time: 5,
			window: 8,
			stale_after_ns: u64::MAX,
			cross_check_tolerance_us: 1_000,
			silence_ns: u64::MAX,
			counters,
			allowed_destinations: vec![],
			flow_idle_ns: u64::MAX,
			link_marks: Vec::new(),
			metering: None,
			consumer: None,
		})
		.unwrap();
		let core: SharedCore = Arc::new(Mutex::new(core));
		let (_, view) = view::channel(&core);
		let state = DashState {
			view,
			tunnels: Arc::new(Mutex::new(vec![])),
			name: "relay-<a>".into(),
			started: Instant::now(),
			chain: None,
			names: Arc::new([([1; 32], "relay-b".to_string())].into_iter().collect()),
		};
		(state, core)
	}

	async fn get_from(state: DashState, path: &str) -> (StatusCode, String) {
		let response = router(state)
			.oneshot(axum::http::Request::get(path).body(Body::empty()).unwrap())
			.await
			.unwrap();
		let status = response.status();
		let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
		(status, String::from_utf8(body.to_vec()).unwrap())
	}

	async fn get(path: &str) -> (StatusCode, String) {
		get_from(state_and_core().0, path).await
	}

	#[test]
	fn requests_never_wait_for_the_core() {
		let (state, core) = state_and_core();
		// The data plane holds the core (or a flood of forged pulses keeps it busy): every
		// endpoint still answers, from the last view. Asked from another thread, so that a
		// handler stuck on the lock shows as a timeout here rather than a hung test.
		let held = lock(&core);
		let (answers, answered) = std::sync::mpsc::channel();
		std::thread::spawn(move || {
			let runtime =
				tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
			for path in ["/ready", "/api/status", "/api/matrix", "/metrics"] {
				let (code, _) = runtime.block_on(get_from(state.clone(), path));
				let _ = answers.send((path, code));
			}
		});
		for _ in 0..4 {
			let (path, code) = answered
				.recv_timeout(Duration::from_secs(10))
				.expect("an endpoint waited for the core's lock");
			assert_ne!(code, StatusCode::INTERNAL_SERVER_ERROR, "{path}");
		}
		drop(held);
	}

	#[tokio::test]
	async fn the_view_follows_the_core() {
		let (mut state, core) = state_and_core();
		let (views, view) = view::channel(&core);
		state.view = view;
		let (stop_tx, stop) = tokio::sync::watch::channel(false);
		let every = Duration::from_millis(20);
		let publisher = tokio::spawn(view::publish(core.clone(), views, every, stop));
		lock(&core).counters_mut().record_in(5, 1, [1; 32], 500);
		let in_octets = |state: &DashState| state.view.borrow().totals.in_octets;
		// A copy: the core's new count reaches it with the next publication, not before.
		let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
		while in_octets(&state) != 2_000 {
			assert!(tokio::time::Instant::now() < deadline, "the view never caught up");
			tokio::time::sleep(every).await;
		}
		let (_, body) = get_from(state.clone(), "/api/status").await;
		let status: serde_json::Value = serde_json::from_str(&body).unwrap();
		assert_eq!(status["in_octets"], 2_000);
		stop_tx.send(true).unwrap();
		publisher.await.unwrap();
	}

	#[tokio::test]
	async fn page_shows_the_sections_and_escapes_the_name() {
		let (code, html) = get("/").await;
		assert_eq!(code, StatusCode::OK);
		for section in
			["Uptime", "Traffic relayed", "Coins earned", "Latency matrix", "Active paths"]
		{
			assert!(html.contains(section), "page lacks {section}");
		}
		assert!(html.contains("relay-&lt;a&gt;"));
		assert!(!html.contains("relay-<a>"));
	}

	#[tokio::test]
	async fn probes_and_api() {
		assert_eq!(get("/live").await.0, StatusCode::OK);
		// No peer measured yet: not ready.
		assert_eq!(get("/ready").await.0, StatusCode::SERVICE_UNAVAILABLE);
		let (code, body) = get("/api/status").await;
		assert_eq!(code, StatusCode::OK);
		let status: serde_json::Value = serde_json::from_str(&body).unwrap();
		assert_eq!(status["in_octets"], 1_500);
		assert_eq!(status["group_size"], 2);
		assert_eq!(status["protocol_version"], crate::proto::wire::VERSION);
		assert_eq!(status["members_on_other_versions"], serde_json::json!([]));
		let (_, body) = get("/api/matrix").await;
		let matrix: serde_json::Value = serde_json::from_str(&body).unwrap();
		assert_eq!(
			matrix["members"],
			serde_json::json!(["00000000", "relay-b"]),
			"configured names where known, else the id's first bytes"
		);
		assert_eq!(get("/api/paths").await.1, "[]");
	}

	#[tokio::test]
	async fn metrics_are_prometheus_text() {
		let (code, body) = get("/metrics").await;
		assert_eq!(code, StatusCode::OK);
		assert!(
			body.contains("srwan_relay_octets_in_total{peer=\"0101010101010101\"} 1500"),
			"{body}"
		);
		assert!(body.contains("# TYPE srwan_relay_uptime_seconds gauge"), "{body}");
		assert!(body.trim_end().ends_with("# EOF"));
	}
}
