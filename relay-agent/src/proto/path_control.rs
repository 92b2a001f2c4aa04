//! The path controller of one tunnel, sans IO: when to probe, when a probe counts as lost,
//! which path traffic takes, when to (re)announce the flow's setup. Time is passed in
//! ([`PathController::handle_timeout`]) and what to send comes out
//! ([`PathController::poll_transmit`]), as in quinn's connection state machine, so every rule
//! runs in tests on simulated time (WAN round trips, jitter, loss, outages, clock offsets).
//!
//! # How paths are judged
//!
//! - Every figure is a **round trip**, which needs no synchronized clocks: fast probes go
//!   along the active path (and, while traffic takes a detour, along the direct one) and
//!   come back; paths nobody probes are judged by the sum of their segments' pulse RTTs.
//!   One-way delays (offset-relative) never enter a decision.
//! - A probe is **lost** when it has not come back within a timeout derived from the path's
//!   own round trips (RFC 6298: `srtt + 4·rttvar`, at least [`MIN_PROBE_TIMEOUT_NS`]), not
//!   within one probe interval: a 150 ms path is probed every 100 ms without every probe
//!   counting as lost. A late answer still teaches the round trip, so the timeout follows a
//!   congestion step.
//! - **Loss costs on every side**: a path's cost is its round trip plus
//!   `loss_penalty_us_per_pct` per percent lost (probe outcomes over the last
//!   [`LOSS_WINDOW`] probes for probed paths, pulse loss for the others).
//! - Each **probe outcome** of the active path is one step of the hysteresis
//!   ([`super::hysteresis`]): `sustain_probes` means that many fresh measurements, and
//!   `failover_lost_probes` that many probes lost in a row, after which traffic moves to the
//!   cheapest live path of all known ones.

use super::hysteresis::{Hysteresis, PathSelector, Probe, Route, Switch, SwitchReason};
use srwan_primitives::routing::{loss_penalty_us, MemberIndex};
use std::collections::VecDeque;

/// Routers of a path, ingress and egress included.
pub type Hops = Vec<MemberIndex>;

/// Probes of the direct path (sent while traffic takes a detour) carry this bit in their
/// sequence number; probes of the active path do not.
pub const DIRECT_PROBE: u64 = 1 << 63;
/// Probe outcomes a probed path's loss is measured over.
pub const LOSS_WINDOW: u32 = 64;
/// No probe times out sooner: scheduling hiccups of a loaded host are not losses.
pub const MIN_PROBE_TIMEOUT_NS: u64 = 200_000_000;
/// No probe waits longer.
pub const MAX_PROBE_TIMEOUT_NS: u64 = 3_000_000_000;
/// Timeout of a path with no round trip known at all (RFC 6298's initial RTO).
pub const INITIAL_PROBE_TIMEOUT_NS: u64 = 1_000_000_000;
/// Probes in flight per path, at most (older ones count as lost).
const MAX_OUTSTANDING: usize = 64;
/// Timed-out probes whose late answer is still used for the round trip.
const MAX_LATE: usize = 64;

/// A path the live matrix knows, with what pulses measured along it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
	/// Routers of the path.
	pub hops: Hops,
	/// Sum of its segments' round trips, µs.
	pub rtt_us: u64,
	/// End-to-end loss, ppm.
	pub loss_ppm: u32,
}

/// What the live matrix says about the paths between this tunnel's ingress and egress.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MatrixView {
	/// The direct segment, if measured.
	pub direct: Option<Candidate>,
	/// Detours (at least one intermediate), any order.
	pub detours: Vec<Candidate>,
	/// Members no detour may cross (quarantined, or not for sale), as the chain lists them.
	pub barred: Vec<MemberIndex>,
}

/// The controller's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControllerConfig {
	/// Interval between probes of each probed path, ns.
	pub probe_interval_ns: u64,
	/// Interval between re-announcements of the active path's setup, ns.
	pub setup_interval_ns: u64,
	/// The switching thresholds.
	pub hysteresis: Hysteresis,
	/// Cost in µs of one percent of loss.
	pub loss_penalty_us_per_pct: u32,
	/// How long a detour that failed stays out of the choice the first time, ns (doubling
	/// with each failure it repeats): the matrix may still list it as healthy until its
	/// segments expire, and nobody probes it meanwhile.
	pub holddown_ns: u64,
	/// The longest holddown, ns; also that of a detour whose probes broke the matrix's
	/// promise (a member lying in its rows, or figures lagging behind).
	pub max_holddown_ns: u64,
}

/// What a held-down detour costs: it is taken only when no other path is alive.
const HELD_DOWN_PENALTY_US: u64 = 60_000_000;
/// Held-down detours remembered, at most.
const MAX_HELD_DOWN: usize = 32;

/// A detour out of the choice for a while.
#[derive(Clone, Debug)]
struct HeldDown {
	hops: Hops,
	until_ns: u64,
	/// Times it was held down lately (its holddown doubles with each).
	strikes: u32,
}

/// Something the driver must send now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transmit {
	/// A fast probe with sequence number `seq`, along the direct path when `direct`, else
	/// along the active path.
	Probe {
		/// Sequence number (echoed in the answer).
		seq: u64,
		/// Whether it goes along the direct path rather than the active one.
		direct: bool,
	},
	/// The flow's setup along the active path: a new path, the periodic refresh, or a lost
	/// probe (the setup may be what was lost, or the egress restarted).
	Setup,
}

/// A summary of one probed path, for the dashboard.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct LaneStatus {
	/// Smoothed round trip, µs.
	pub srtt_us: Option<u64>,
	/// Loss over the last probes, ppm.
	pub loss_ppm: u32,
	/// Probes lost in a row just now.
	pub lost_streak: u32,
}

#[derive(Clone, Copy, Debug)]
struct Outstanding {
	seq: u64,
	deadline_ns: u64,
}

/// The probe state of one probed path.
#[derive(Clone, Debug)]
struct Lane {
	srtt_ns: Option<u64>,
	rttvar_ns: u64,
	/// The matrix's round trip when the path was taken: the timeout before any sample.
	expected_rtt_ns: Option<u64>,
	/// Sequence numbers below this were sent along an earlier path: their answers say
	/// nothing about this one.
	first_seq: u64,
	outstanding: VecDeque<Outstanding>,
	late: VecDeque<u64>,
	/// Bit i set = the i-th newest outcome was a loss.
	lost_bits: u64,
	outcomes: u32,
	lost_streak: u32,
	/// Probes lost in a row that make an outage (the failover threshold) rather than a loss
	/// rate: once the path answers again they leave its loss window.
	outage_run: u32,
}

impl Lane {
	fn new(first_seq: u64, expected_rtt_ns: Option<u64>, outage_run: u32) -> Self {
		Self {
			outage_run: outage_run.max(1),
			srtt_ns: None,
			rttvar_ns: 0,
			expected_rtt_ns,
			first_seq,
			outstanding: VecDeque::new(),
			late: VecDeque::new(),
			lost_bits: 0,
			outcomes: 0,
			lost_streak: 0,
		}
	}

	/// Keeps what was learnt about the path, forgets the probes in flight (their answers
	/// will carry sequence numbers of another lane).
	fn renumbered(mut self, first_seq: u64) -> Self {
		self.first_seq = first_seq;
		self.outstanding.clear();
		self.late.clear();
		self
	}

	fn timeout_ns(&self, probe_interval_ns: u64) -> u64 {
		let floor = MIN_PROBE_TIMEOUT_NS.max(probe_interval_ns.saturating_mul(2));
		let raw = match self.srtt_ns {
			Some(srtt) => srtt.saturating_add(self.rttvar_ns.saturating_mul(4)),
			None => {
				self.expected_rtt_ns.map_or(INITIAL_PROBE_TIMEOUT_NS, |rtt| rtt.saturating_mul(2))
			}
		};
		raw.clamp(floor, MAX_PROBE_TIMEOUT_NS.max(floor))
	}

	/// RFC 6298 smoothing (α = 1/8, β = 1/4).
	fn sample(&mut self, rtt_ns: u64) {
		match self.srtt_ns {
			None => {
				self.srtt_ns = Some(rtt_ns);
				self.rttvar_ns = rtt_ns / 2;
			}
			Some(srtt) => {
				let deviation = srtt.abs_diff(rtt_ns);
				self.rttvar_ns = (self.rttvar_ns.saturating_mul(3) + deviation) / 4;
				self.srtt_ns = Some((srtt.saturating_mul(7) + rtt_ns) / 8);
			}
		}
	}

	fn record(&mut self, lost: bool) {
		if !lost && self.lost_streak >= self.outage_run {
			// The path was down, and is back: the outage says nothing about the loss rate
			// from here on (a dead path is already judged as dead while it is).
			let forgotten = self.lost_streak.min(self.outcomes);
			self.lost_bits = self.lost_bits.checked_shr(forgotten).unwrap_or(0);
			self.outcomes -= forgotten;
		}
		self.lost_bits = (self.lost_bits << 1) | u64::from(lost);
		self.outcomes = (self.outcomes + 1).min(LOSS_WINDOW);
		self.lost_streak = if lost { self.lost_streak.saturating_add(1) } else { 0 };
	}

	fn loss_ppm(&self) -> u32 {
		if self.outcomes == 0 {
			return 0;
		}
		let window = if self.outcomes >= 64 { u64::MAX } else { (1u64 << self.outcomes) - 1 };
		let lost = (self.lost_bits & window).count_ones();
		(u64::from(lost) * 1_000_000 / u64::from(self.outcomes)) as u32
	}

	/// Whether the newest outcome was an answer.
	fn alive(&self) -> bool {
		self.srtt_ns.is_some() && self.lost_streak == 0 && self.outcomes > 0
	}

	fn cost_us(&self, penalty_us_per_pct: u32) -> Option<u64> {
		let srtt_us = self.srtt_ns? / 1_000;
		Some(srtt_us.saturating_add(loss_penalty_us(self.loss_ppm(), penalty_us_per_pct)))
	}

	/// The cost with the loss at the top of its confidence interval (mean + 2 standard
	/// errors): a path traffic left for its loss comes back only once the loss is surely
	/// gone, not whenever a lucky run of answers dips the estimate.
	fn cautious_cost_us(&self, penalty_us_per_pct: u32) -> Option<u64> {
		let srtt_us = self.srtt_ns? / 1_000;
		let n = f64::from(self.outcomes.max(1));
		let p = f64::from(self.loss_ppm()) / 1e6;
		let upper = (p + 2.0 * (p * (1.0 - p) / n).sqrt()).min(1.0);
		let upper_ppm = (upper * 1e6) as u32;
		Some(srtt_us.saturating_add(loss_penalty_us(upper_ppm, penalty_us_per_pct)))
	}

	fn status(&self) -> LaneStatus {
		LaneStatus {
			srtt_us: self.srtt_ns.map(|ns| ns / 1_000),
			loss_ppm: self.loss_ppm(),
			lost_streak: self.lost_streak,
		}
	}

	/// Removes probes past their deadline; returns how many.
	fn expire(&mut self, now_ns: u64) -> u32 {
		let mut lost = 0;
		while self.outstanding.front().is_some_and(|p| p.deadline_ns <= now_ns) {
			if let Some(probe) = self.outstanding.pop_front() {
				self.remember_late(probe.seq);
				lost += 1;
			}
		}
		lost
	}

	fn remember_late(&mut self, seq: u64) {
		if self.late.len() >= MAX_LATE {
			self.late.pop_front();
		}
		self.late.push_back(seq);
	}

	/// Sends one more probe; a full window makes the oldest count as lost.
	fn send(&mut self, seq: u64, now_ns: u64, probe_interval_ns: u64) -> bool {
		let mut overflowed = false;
		if self.outstanding.len() >= MAX_OUTSTANDING {
			if let Some(oldest) = self.outstanding.pop_front() {
				self.remember_late(oldest.seq);
				overflowed = true;
			}
		}
		let deadline_ns = now_ns.saturating_add(self.timeout_ns(probe_interval_ns));
		self.outstanding.push_back(Outstanding { seq, deadline_ns });
		overflowed
	}

	/// An answer to probe `seq`: `None` if nobody asked (unknown, answered already, or sent
	/// along an earlier path); otherwise whether it came in time, and how many older probes
	/// it overtook (they count as lost now, before it: probes 100 ms apart do not reorder,
	/// and outcomes must be recorded in the order the probes were sent).
	fn answer(&mut self, seq: u64, rtt_ns: u64) -> Option<Answered> {
		if seq < self.first_seq {
			return None;
		}
		if let Some(at) = self.outstanding.iter().position(|p| p.seq == seq) {
			let mut overtaken = 0;
			for _ in 0..at {
				if let Some(older) = self.outstanding.pop_front() {
					self.remember_late(older.seq);
					overtaken += 1;
				}
			}
			self.outstanding.pop_front();
			self.sample(rtt_ns);
			return Some(Answered { in_time: true, overtaken });
		}
		let at = self.late.iter().position(|s| *s == seq)?;
		self.late.remove(at);
		self.sample(rtt_ns);
		Some(Answered { in_time: false, overtaken: 0 })
	}
}

/// What an answer to a probe means for its path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Answered {
	/// Within the timeout (else it only teaches the round trip).
	in_time: bool,
	/// Older probes still waiting, now counted as lost.
	overtaken: u32,
}

/// The path controller of one tunnel.
#[derive(Clone, Debug)]
pub struct PathController {
	config: ControllerConfig,
	selector: PathSelector<Hops>,
	direct_hops: Hops,
	/// The path traffic takes now (the direct one too, while traffic is on it).
	active: Lane,
	/// The direct path while traffic takes a detour.
	direct: Lane,
	view: MatrixView,
	/// Detours that failed recently.
	held_down: Vec<HeldDown>,
	/// The matrix's round trip (µs) of the detour traffic moved to for being faster: its
	/// probes must keep that promise.
	promise: Option<u64>,
	/// Failovers away from the direct path lately, and when the last one was: a direct path
	/// that keeps failing must stay up longer before traffic returns (each doubles it).
	direct_failures: u32,
	last_direct_failure_ns: u64,
	next_seq: u64,
	next_direct_seq: u64,
	next_probe_ns: u64,
	next_setup_ns: u64,
	now_ns: u64,
	/// A setup is already queued: lost probes in one round ask for one.
	setup_queued: bool,
	transmits: VecDeque<Transmit>,
	switches: VecDeque<Switch<Hops>>,
	last_switch: Option<SwitchReason>,
}

impl PathController {
	/// A controller for the tunnel `ingress → egress`, starting on the direct path at `now_ns`:
	/// the first setup and probe go out at once.
	pub fn new(
		config: ControllerConfig,
		ingress: MemberIndex,
		egress: MemberIndex,
		now_ns: u64,
	) -> Self {
		let outage_run = config.hysteresis.failover_lost_probes;
		let mut controller = Self {
			config,
			selector: PathSelector::new(config.hysteresis),
			direct_hops: vec![ingress, egress],
			active: Lane::new(1, None, outage_run),
			direct: Lane::new(DIRECT_PROBE | 1, None, outage_run),
			view: MatrixView::default(),
			held_down: Vec::new(),
			promise: None,
			direct_failures: 0,
			last_direct_failure_ns: 0,
			next_seq: 1,
			next_direct_seq: DIRECT_PROBE | 1,
			next_probe_ns: now_ns,
			next_setup_ns: now_ns.saturating_add(config.setup_interval_ns),
			now_ns,
			setup_queued: false,
			transmits: VecDeque::new(),
			switches: VecDeque::new(),
			last_switch: None,
		};
		controller.queue_setup();
		controller
	}

	/// The path traffic takes now.
	pub fn active(&self) -> &Route<Hops> {
		self.selector.active()
	}

	/// The routers of the path traffic takes now.
	pub fn active_hops(&self) -> &Hops {
		match self.selector.active() {
			Route::Direct => &self.direct_hops,
			Route::Detour(hops) => hops,
		}
	}

	/// How many times traffic has moved.
	pub fn switches(&self) -> u64 {
		self.selector.switches()
	}

	/// Why traffic last moved.
	pub fn last_switch(&self) -> Option<&SwitchReason> {
		self.last_switch.as_ref()
	}

	/// The active path's probe figures.
	pub fn active_status(&self) -> LaneStatus {
		self.active.status()
	}

	/// The direct path's probe figures while traffic takes a detour.
	pub fn direct_status(&self) -> Option<LaneStatus> {
		matches!(self.selector.active(), Route::Detour(_)).then(|| self.direct.status())
	}

	/// Takes the live matrix's current figures (the driver passes them at every timeout).
	/// Traffic leaves at once a detour that crosses a member now barred: to the direct path
	/// while it answers, else to the best detour the matrix allows.
	pub fn update_view(&mut self, view: MatrixView) {
		self.view = view;
		let Route::Detour(hops) = self.selector.active() else { return };
		let crosses_barred = hops
			.get(1..hops.len().saturating_sub(1))
			.unwrap_or_default()
			.iter()
			.any(|member| self.view.barred.contains(member));
		if !crosses_barred {
			return;
		}
		let previous = self.selector.active().clone();
		let best_detour = self
			.view
			.detours
			.iter()
			.min_by_key(|candidate| self.matrix_cost(candidate))
			.map(|candidate| candidate.hops.clone());
		// The direct path unless it is in an outage (one late probe is not one), or has
		// never been heard from.
		let direct_up =
			self.direct.srtt_ns.is_some() && self.direct.lost_streak < self.outage_run();
		let to = match best_detour {
			Some(hops) if !direct_up => Route::Detour(hops),
			_ => Route::Direct,
		};
		if let Some(switch) = self.selector.leave_for(to, SwitchReason::Barred) {
			self.take(switch, previous);
		}
	}

	/// When [`Self::handle_timeout`] must run next.
	pub fn poll_timeout(&self) -> u64 {
		let deadlines = [&self.active, &self.direct]
			.into_iter()
			.filter_map(|lane| lane.outstanding.front().map(|p| p.deadline_ns));
		deadlines.fold(self.next_probe_ns.min(self.next_setup_ns), u64::min)
	}

	/// The next thing to send, if any.
	pub fn poll_transmit(&mut self) -> Option<Transmit> {
		let transmit = self.transmits.pop_front();
		if transmit == Some(Transmit::Setup) {
			self.setup_queued = false;
		}
		transmit
	}

	/// The next move of traffic, if any (the driver installs the new path; its setup is
	/// queued as a [`Transmit::Setup`] right after).
	pub fn poll_switch(&mut self) -> Option<Switch<Hops>> {
		self.switches.pop_front()
	}

	/// Advances to `now_ns`: probes past their deadline count as lost, probes and setups
	/// that are due are queued.
	pub fn handle_timeout(&mut self, now_ns: u64) {
		self.now_ns = self.now_ns.max(now_ns);
		let now_ns = self.now_ns;
		let lost = self.active.expire(now_ns);
		for _ in 0..self.direct.expire(now_ns) {
			self.direct.record(true);
		}
		for _ in 0..lost {
			self.active_outcome(true);
		}
		if now_ns >= self.next_probe_ns {
			self.send_probes(now_ns);
			let next = self.next_probe_ns.saturating_add(self.config.probe_interval_ns);
			// After a stall, probe again one interval from now rather than in a burst.
			self.next_probe_ns = if next <= now_ns {
				now_ns.saturating_add(self.config.probe_interval_ns)
			} else {
				next
			};
		}
		if now_ns >= self.next_setup_ns {
			self.queue_setup();
		}
	}

	/// A probe answer arrived: `seq` as sent, `rtt_ns` the round trip it took.
	pub fn handle_probe_reply(&mut self, seq: u64, rtt_ns: u64) {
		if seq & DIRECT_PROBE != 0 {
			if matches!(self.selector.active(), Route::Detour(_)) {
				if let Some(answered) = self.direct.answer(seq, rtt_ns) {
					for _ in 0..answered.overtaken {
						self.direct.record(true);
					}
					if answered.in_time {
						self.direct.record(false);
					}
				}
			}
			return;
		}
		if let Some(answered) = self.active.answer(seq, rtt_ns) {
			for _ in 0..answered.overtaken {
				self.active_outcome(true);
			}
			if answered.in_time {
				self.active_outcome(false);
			}
		}
	}

	fn send_probes(&mut self, now_ns: u64) {
		let interval = self.config.probe_interval_ns;
		let seq = self.next_seq;
		self.next_seq = self.next_seq.saturating_add(1);
		if self.active.send(seq, now_ns, interval) {
			self.active_outcome(true);
		}
		self.transmits.push_back(Transmit::Probe { seq, direct: false });
		if matches!(self.selector.active(), Route::Detour(_)) {
			let seq = self.next_direct_seq;
			self.next_direct_seq = self.next_direct_seq.saturating_add(1);
			if self.direct.send(seq, now_ns, interval) {
				self.direct.record(true);
			}
			self.transmits.push_back(Transmit::Probe { seq, direct: true });
		}
	}

	fn queue_setup(&mut self) {
		self.next_setup_ns = self.now_ns.saturating_add(self.config.setup_interval_ns);
		if !self.setup_queued {
			self.setup_queued = true;
			self.transmits.push_back(Transmit::Setup);
		}
	}

	fn matrix_cost(&self, candidate: &Candidate) -> u64 {
		candidate.rtt_us.saturating_add(loss_penalty_us(
			candidate.loss_ppm,
			self.config.loss_penalty_us_per_pct,
		))
	}

	/// One outcome of the active path's probes: a step of the hysteresis.
	fn active_outcome(&mut self, lost: bool) {
		self.active.record(lost);
		if lost && self.active.lost_streak.is_power_of_two() {
			// The setup may be what was lost: repeat it now rather than at the next refresh,
			// so that a missed setup costs one probe, not a failover and a switch back; after
			// 1, 2, 4, 8… lost probes, not after each (a dead path is not flooded).
			self.queue_setup();
		}
		let penalty = self.config.loss_penalty_us_per_pct;
		let active_cost = self.active.alive().then(|| self.active.cost_us(penalty)).flatten();
		let on_detour = matches!(self.selector.active(), Route::Detour(_));
		let direct = if on_detour {
			self.direct.alive().then(|| self.direct.cautious_cost_us(penalty)).flatten()
		} else {
			active_cost
		};
		self.check_promise();
		let now_ns = self.now_ns;
		let forget_after = self.config.max_holddown_ns;
		self.held_down.retain(|held| held.until_ns.saturating_add(forget_after) > now_ns);
		let mut detours: Vec<(Hops, u64)> = self
			.view
			.detours
			.iter()
			.map(|candidate| {
				let held = self
					.held_down
					.iter()
					.any(|held| held.hops == candidate.hops && held.until_ns > now_ns);
				let cost = self.matrix_cost(candidate);
				(
					candidate.hops.clone(),
					if held { cost.saturating_add(HELD_DOWN_PENALTY_US) } else { cost },
				)
			})
			.collect();
		detours.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.len().cmp(&b.0.len())));
		let probe =
			Probe { direct, active_detour: if on_detour { active_cost } else { None }, detours };
		let previous = self.selector.active().clone();
		if let Some(switch) = self.selector.on_probe(probe) {
			self.take(switch, previous);
		}
	}

	fn outage_run(&self) -> u32 {
		self.config.hysteresis.failover_lost_probes
	}

	/// A detour taken for being faster must measure up to the matrix's round trip once it has
	/// been probed for the sustain period; one that does not (by both margins) is held down
	/// for the longest holddown, so traffic does not keep going back to it. (Round trips only:
	/// a first probe lost to a setup still on its way breaks no promise.)
	fn check_promise(&mut self) {
		let measured = self.active.srtt_ns.map(|ns| ns / 1_000);
		let (Some(promised), Some(measured), Route::Detour(hops)) =
			(self.promise, measured, self.selector.active())
		else {
			return;
		};
		if self.active.outcomes < self.config.hysteresis.sustain_probes {
			return;
		}
		let hysteresis = self.config.hysteresis;
		let shortfall = measured.saturating_sub(promised);
		let broken = shortfall >= hysteresis.min_gain_us
			&& u128::from(shortfall) * 100
				>= u128::from(measured) * u128::from(hysteresis.min_gain_pct);
		if broken {
			let hops = hops.clone();
			self.hold_down(hops, true);
		}
		self.promise = None;
	}

	/// The direct path failed (again): returning to it takes `sustain_probes` doubled per
	/// failure since it was last stable for the longest holddown, at most 64 times as many.
	fn direct_failed(&mut self) {
		let stable_for = self.now_ns.saturating_sub(self.last_direct_failure_ns);
		if self.direct_failures > 0 && stable_for > self.config.max_holddown_ns {
			self.direct_failures = 0;
		}
		self.direct_failures = self.direct_failures.saturating_add(1);
		self.last_direct_failure_ns = self.now_ns;
		let doubling = 1u32 << self.direct_failures.saturating_sub(1).min(6);
		let sustain = self.config.hysteresis.sustain_probes;
		self.selector.set_revert_probes(sustain.saturating_mul(doubling));
	}

	/// Takes `hops` out of the choice: for the longest holddown if `long`, else for the base
	/// holddown doubled per recent strike.
	fn hold_down(&mut self, hops: Hops, long: bool) {
		let at = match self.held_down.iter().position(|held| held.hops == hops) {
			Some(at) => at,
			None => {
				if self.held_down.len() >= MAX_HELD_DOWN {
					// The one whose holddown ends first goes.
					if let Some(first) =
						(0..self.held_down.len()).min_by_key(|i| self.held_down[*i].until_ns)
					{
						self.held_down.swap_remove(first);
					}
				}
				self.held_down.push(HeldDown { hops, until_ns: 0, strikes: 0 });
				self.held_down.len() - 1
			}
		};
		let (base, max) =
			(self.config.holddown_ns, self.config.max_holddown_ns.max(self.config.holddown_ns));
		let now_ns = self.now_ns;
		if let Some(held) = self.held_down.get_mut(at) {
			held.strikes = held.strikes.saturating_add(1);
			let doubled = base.saturating_mul(1u64 << held.strikes.saturating_sub(1).min(20));
			let duration = if long { max } else { doubled.min(max) };
			held.until_ns = now_ns.saturating_add(duration);
		}
	}

	/// Moves the probe lanes to the new path and queues its setup.
	fn take(&mut self, switch: Switch<Hops>, previous: Route<Hops>) {
		let first_seq = self.next_seq;
		let was_direct = previous == Route::Direct;
		match (&switch.reason, &previous) {
			(SwitchReason::Failover { .. }, Route::Detour(failed)) => {
				self.hold_down(failed.clone(), false);
			}
			(SwitchReason::Failover { .. }, Route::Direct) => self.direct_failed(),
			_ => {}
		}
		// What the matrix says of the new detour: its first timeout, and the promise a
		// detour taken for being faster must keep.
		let matrix_rtt_us = match &switch.to {
			Route::Detour(hops) => self
				.view
				.detours
				.iter()
				.find(|candidate| candidate.hops == *hops)
				.map(|candidate| candidate.rtt_us),
			Route::Direct => None,
		};
		self.promise = match switch.reason {
			SwitchReason::Faster { .. } => matrix_rtt_us,
			_ => None,
		};
		match &switch.to {
			Route::Direct => {
				// What the direct lane learnt while traffic was away carries over.
				let fresh = Lane::new(self.next_direct_seq, None, self.outage_run());
				let direct = std::mem::replace(&mut self.direct, fresh);
				self.active = direct.renumbered(first_seq);
			}
			Route::Detour(_) => {
				let expected = matrix_rtt_us.map(|us| us.saturating_mul(1_000));
				let fresh = Lane::new(first_seq, expected, self.outage_run());
				let previous = std::mem::replace(&mut self.active, fresh);
				if was_direct {
					// Leaving the direct path: what its probes learnt (a dead link among it)
					// keeps judging it.
					self.direct = previous.renumbered(self.next_direct_seq);
				}
			}
		}
		self.last_switch = Some(switch.reason.clone());
		self.switches.push_back(switch);
		self.queue_setup();
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	const MS: u64 = 1_000_000;
	const S: u64 = 1_000 * MS;

	fn config() -> ControllerConfig {
		ControllerConfig {
			probe_interval_ns: 100 * MS,
			setup_interval_ns: 5 * S,
			hysteresis: Hysteresis {
				min_gain_pct: 10,
				min_gain_us: 5_000,
				sustain_probes: 3,
				failover_lost_probes: 3,
			},
			loss_penalty_us_per_pct: 10_000,
			holddown_ns: 10 * S,
			max_holddown_ns: 900 * S,
		}
	}

	/// One path of the simulated WAN: round trip with uniform jitter, random loss, outage.
	#[derive(Clone, Copy, Debug)]
	struct Model {
		rtt_ms: u64,
		jitter_ms: u64,
		loss_pct: u64,
		down: bool,
		/// When a detour went down (the matrix forgets it a little later).
		down_since: Option<u64>,
	}

	fn model(rtt_ms: u64, jitter_ms: u64) -> Model {
		Model { rtt_ms, jitter_ms, loss_pct: 0, down: false, down_since: None }
	}

	/// A tunnel 0 → 3 with detours through 1 and 2, on simulated time.
	struct Sim {
		controller: PathController,
		now: u64,
		rng: u64,
		direct: Model,
		detours: Vec<(Hops, Model)>,
		/// Answers on their way back: (arrival, seq, rtt).
		in_flight: Vec<(u64, u64, u64)>,
		/// Every switch with its time.
		moves: Vec<(u64, Route<Hops>)>,
		probes_sent: u64,
		setups_sent: u64,
		/// What the matrix claims for every detour's round trip instead of the truth.
		lie_about_detours_ms: Option<u64>,
		/// Members the chain bars from carrying the tunnel.
		barred: Vec<MemberIndex>,
	}

	impl Sim {
		fn new(seed: u64, direct: Model, detours: Vec<(Hops, Model)>) -> Self {
			Self {
				controller: PathController::new(config(), 0, 3, 0),
				now: 0,
				rng: seed | 1,
				direct,
				detours,
				in_flight: Vec::new(),
				moves: Vec::new(),
				probes_sent: 0,
				setups_sent: 0,
				lie_about_detours_ms: None,
				barred: Vec::new(),
			}
		}

		fn next_random(&mut self) -> u64 {
			self.rng = self.rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
			self.rng >> 33
		}

		/// What pulses report: the base round trips and losses, and the direct segment even
		/// while it is down (a matrix forgets a segment only after its expiry).
		fn view(&self) -> MatrixView {
			let candidate = |hops: &Hops, m: &Model| Candidate {
				hops: hops.clone(),
				rtt_us: m.rtt_ms * 1_000,
				loss_ppm: (m.loss_pct * 10_000) as u32,
			};
			// Detours whose segments went silent expire after a few seconds.
			let fresh = |m: &Model| m.down_since.is_none_or(|at| self.now < at + 3 * S);
			MatrixView {
				direct: Some(candidate(&vec![0, 3], &self.direct)),
				detours: self
					.detours
					.iter()
					.filter(|(_, m)| fresh(m))
					.filter(|(h, _)| !h.iter().any(|m| self.barred.contains(m)))
					.map(|(h, m)| {
						let mut c = candidate(h, m);
						if let Some(lie) = self.lie_about_detours_ms {
							c.rtt_us = lie * 1_000;
						}
						c
					})
					.collect(),
				barred: self.barred.clone(),
			}
		}

		fn model_of(&self, direct: bool) -> Model {
			match self.controller.active() {
				_ if direct => self.direct,
				Route::Direct => self.direct,
				Route::Detour(hops) => {
					self.detours.iter().find(|(h, _)| h == hops).map(|(_, m)| *m).unwrap()
				}
			}
		}

		fn run_for(&mut self, duration: u64) {
			let end = self.now + duration;
			loop {
				let next_answer = self.in_flight.iter().map(|f| f.0).min().unwrap_or(u64::MAX);
				let next = self.controller.poll_timeout().min(next_answer).max(self.now);
				if next > end {
					self.now = end;
					return;
				}
				self.now = next;
				let (due, later): (Vec<_>, Vec<_>) =
					self.in_flight.drain(..).partition(|f| f.0 <= self.now);
				self.in_flight = later;
				for (_, seq, rtt) in due {
					self.controller.handle_probe_reply(seq, rtt);
					self.drain();
				}
				let view = self.view();
				self.controller.update_view(view);
				self.controller.handle_timeout(self.now);
				self.drain();
			}
		}

		fn drain(&mut self) {
			while let Some(switch) = self.controller.poll_switch() {
				self.moves.push((self.now, switch.to));
			}
			while let Some(transmit) = self.controller.poll_transmit() {
				match transmit {
					Transmit::Setup => self.setups_sent += 1,
					Transmit::Probe { seq, direct } => {
						self.probes_sent += 1;
						let m = self.model_of(direct);
						let lost = m.down || self.next_random() % 100 < m.loss_pct;
						if !lost {
							let spread = self.next_random() % (2 * m.jitter_ms * MS + 1);
							let rtt = m.rtt_ms * MS + spread - m.jitter_ms * MS;
							self.in_flight.push((self.now + rtt, seq, rtt));
						}
					}
				}
			}
		}

		fn route(&self) -> &Route<Hops> {
			self.controller.active()
		}
	}

	fn detour_via(via: MemberIndex) -> Hops {
		vec![0, via, 3]
	}

	#[test]
	fn a_stable_wan_with_150ms_round_trips_and_jitter_never_switches() {
		for seed in 0..4 {
			let mut sim = Sim::new(
				seed,
				model(150, 15),
				vec![(detour_via(1), model(180, 15)), (detour_via(2), model(190, 15))],
			);
			sim.run_for(600 * S);
			assert_eq!(sim.moves, vec![], "seed {seed}");
			assert!(sim.probes_sent >= 5_900, "probed every 100 ms: {}", sim.probes_sent);
			let status = sim.controller.active_status();
			assert_eq!(status.loss_ppm, 0, "no probe of a 150 ms path counts as lost");
			assert!(status.srtt_us.is_some_and(|us| (140_000..=160_000).contains(&us)));
		}
	}

	#[test]
	fn an_outage_fails_over_within_a_second_and_one_rtt_and_reverts_after_repair() {
		let mut sim = Sim::new(7, model(150, 5), vec![(detour_via(1), model(180, 5))]);
		for round in 0..2u64 {
			sim.run_for(20 * S);
			assert_eq!(sim.route(), &Route::Direct);
			let cut = sim.now;
			sim.direct.down = true;
			sim.run_for(20 * S);
			// The matrix still lists the direct segment, and earlier answers of direct probes
			// exist: neither brings traffic back to a dead path.
			let during: Vec<_> = sim.moves.iter().filter(|(at, _)| *at > cut).collect();
			assert_eq!(
				during.len(),
				1,
				"round {round}: one move during the outage: {:?}",
				sim.moves
			);
			let (at, to) = during[0];
			assert_eq!(to, &Route::Detour(detour_via(1)));
			assert!(
				at - cut <= S + 150 * MS,
				"round {round}: failover took {} ms",
				(at - cut) / MS
			);
			let repaired = sim.now;
			sim.direct.down = false;
			sim.run_for(20 * S);
			assert_eq!(sim.route(), &Route::Direct, "round {round}: back to direct after repair");
			let back = sim.moves.last().unwrap().0;
			assert!(back > repaired);
		}
		assert_eq!(sim.controller.switches(), 4);
	}

	#[test]
	fn ten_percent_loss_on_direct_moves_traffic_and_it_comes_back_when_the_loss_ends() {
		for seed in 0..4 {
			let mut sim = Sim::new(seed, model(150, 5), vec![(detour_via(1), model(180, 5))]);
			sim.run_for(20 * S);
			sim.direct.loss_pct = 10;
			sim.run_for(60 * S);
			assert_eq!(sim.route(), &Route::Detour(detour_via(1)), "seed {seed}");
			assert_eq!(sim.moves.len(), 1, "seed {seed}: no flapping while the loss lasts");
			sim.direct.loss_pct = 0;
			sim.run_for(30 * S);
			assert_eq!(sim.route(), &Route::Direct, "seed {seed}");
			assert_eq!(sim.moves.len(), 2, "seed {seed}: {:?}", sim.moves);
		}
	}

	#[test]
	fn a_congestion_step_moves_traffic_once_and_back_once() {
		let mut sim = Sim::new(3, model(150, 5), vec![(detour_via(1), model(180, 5))]);
		sim.run_for(20 * S);
		sim.direct.rtt_ms = 450;
		sim.run_for(40 * S);
		assert_eq!(sim.route(), &Route::Detour(detour_via(1)));
		// Late answers taught the direct lane the longer round trip: it is judged at 450 ms
		// rather than counted lost for ever.
		let direct = sim.controller.direct_status().unwrap();
		assert!(direct.srtt_us.is_some_and(|us| us > 400_000), "{direct:?}");
		assert_eq!(direct.lost_streak, 0);
		sim.direct.rtt_ms = 150;
		sim.run_for(30 * S);
		assert_eq!(sim.route(), &Route::Direct);
		assert_eq!(sim.moves.len(), 2, "{:?}", sim.moves);
	}

	#[test]
	fn a_detour_through_a_member_the_chain_bars_is_left_at_once() {
		// Faster through 1, so traffic goes there; then the chain bars 1 (quarantined or no
		// longer for sale): its relay would refuse the data while still answering probes.
		let detours = vec![(detour_via(1), model(100, 2)), (detour_via(2), model(260, 2))];
		let mut sim = Sim::new(13, model(200, 2), detours);
		sim.run_for(10 * S);
		assert_eq!(sim.route(), &Route::Detour(detour_via(1)));
		sim.barred = vec![1];
		sim.run_for(S);
		assert_eq!(sim.route(), &Route::Direct, "back to the live direct path");
		assert_eq!(sim.controller.last_switch(), Some(&SwitchReason::Barred));
		sim.run_for(30 * S);
		assert!(sim.moves.iter().skip(2).all(|(_, route)| *route != Route::Detour(detour_via(1))));

		// With the direct path down, traffic leaves for the best detour still allowed.
		let mut direct = model(200, 2);
		direct.down = true;
		let detours = vec![(detour_via(1), model(100, 2)), (detour_via(2), model(260, 2))];
		let mut sim = Sim::new(17, direct, detours);
		sim.run_for(10 * S);
		assert_eq!(sim.route(), &Route::Detour(detour_via(1)));
		sim.barred = vec![1];
		sim.run_for(S);
		assert_eq!(sim.route(), &Route::Detour(detour_via(2)));
	}

	#[test]
	fn a_much_faster_detour_is_taken_only_after_sustained_probes() {
		let mut sim = Sim::new(5, model(300, 5), vec![(detour_via(1), model(120, 5))]);
		sim.run_for(10 * S);
		assert_eq!(sim.route(), &Route::Detour(detour_via(1)));
		let (at, _) = sim.moves[0];
		// Three probe outcomes of the direct path come first (the first answers after 300 ms).
		assert!(at >= 3 * 100 * MS, "switched after {} ms", at / MS);
		assert!(matches!(sim.controller.last_switch(), Some(SwitchReason::Faster { .. })));
		sim.run_for(60 * S);
		assert_eq!(sim.moves.len(), 1);
	}

	#[test]
	fn failover_takes_any_live_path_when_the_active_detour_dies() {
		let mut direct = model(150, 5);
		direct.down = true;
		let mut sim = Sim::new(
			11,
			direct,
			vec![(detour_via(1), model(180, 5)), (detour_via(2), model(200, 5))],
		);
		sim.run_for(10 * S);
		assert_eq!(sim.route(), &Route::Detour(detour_via(1)));
		sim.detours[0].1.down = true;
		sim.detours[0].1.down_since = Some(sim.now);
		sim.run_for(10 * S);
		assert_eq!(sim.route(), &Route::Detour(detour_via(2)), "{:?}", sim.moves);
		// Nowhere better to go: it stays, and keeps re-announcing its setup to the dead path's
		// successor rather than flapping.
		sim.run_for(30 * S);
		assert_eq!(sim.moves.len(), 2, "{:?}", sim.moves);
	}

	#[test]
	fn a_flapping_direct_link_is_returned_to_less_and_less() {
		let mut sim = Sim::new(8, model(150, 5), vec![(detour_via(1), model(180, 5))]);
		sim.run_for(10 * S);
		// Up 2 s, down 2 s, for two minutes: without damping, two moves per cycle (60).
		for _ in 0..30 {
			sim.direct.down = true;
			sim.run_for(2 * S);
			sim.direct.down = false;
			sim.run_for(2 * S);
		}
		assert!(sim.moves.len() <= 10, "{} moves: {:?}", sim.moves.len(), sim.moves);
		// Stable again: traffic does return, after the longer proof.
		sim.run_for(60 * S);
		assert_eq!(sim.route(), &Route::Direct);
	}

	#[test]
	fn a_detour_slower_than_the_matrix_promised_is_not_taken_again_and_again() {
		// The matrix says 120 ms (a member lies in its rows, or figures lag); the detour takes
		// 180 ms, direct 150 ms.
		let mut sim = Sim::new(9, model(150, 5), vec![(detour_via(1), model(180, 5))]);
		sim.lie_about_detours_ms = Some(120);
		sim.run_for(60 * S);
		assert!(sim.moves.len() <= 2, "{:?}", sim.moves);
		assert_eq!(sim.route(), &Route::Direct);
	}

	#[test]
	fn a_held_down_detour_is_still_the_last_resort() {
		let mut direct = model(150, 5);
		direct.down = true;
		let mut sim = Sim::new(
			4,
			direct,
			vec![(detour_via(1), model(180, 5)), (detour_via(2), model(200, 5))],
		);
		sim.run_for(5 * S);
		assert_eq!(sim.route(), &Route::Detour(detour_via(1)));
		// Detour 1 fails for a moment: traffic moves to 2, and 1 is held down for 10 s.
		sim.detours[0].1.down = true;
		sim.run_for(2 * S);
		sim.detours[0].1.down = false;
		assert_eq!(sim.route(), &Route::Detour(detour_via(2)));
		// Detour 2 fails while 1 is still held down: 1 is the only live path left, and
		// traffic goes there at once rather than staying on a dead path.
		let cut = sim.now;
		sim.detours[1].1.down = true;
		sim.run_for(3 * S);
		assert_eq!(sim.route(), &Route::Detour(detour_via(1)), "{:?}", sim.moves);
		let (at, _) = *sim.moves.last().unwrap();
		assert!(at - cut <= S + 200 * MS, "failover took {} ms", (at - cut) / MS);
	}

	#[test]
	fn lost_probes_re_announce_the_setup_with_backoff() {
		let mut direct = model(150, 5);
		direct.down = true;
		let mut sim = Sim::new(1, direct, vec![]);
		sim.run_for(10 * S);
		assert_eq!(sim.route(), &Route::Direct, "nowhere to go");
		// One at start, after the 1st, 2nd, 4th, … 64th lost probe (7), and the refreshes
		// every 5 s (2): a dead path is not flooded with setups.
		assert!((8..=12).contains(&sim.setups_sent), "{}", sim.setups_sent);
	}

	#[test]
	fn timeouts_follow_the_round_trip_and_late_answers_teach_it() {
		let mut lane = Lane::new(1, None, 3);
		assert_eq!(lane.timeout_ns(100 * MS), INITIAL_PROBE_TIMEOUT_NS);
		let expected = Lane::new(1, Some(400 * MS), 3);
		assert_eq!(expected.timeout_ns(100 * MS), 800 * MS);
		for _ in 0..50 {
			lane.sample(150 * MS);
		}
		// srtt 150 ms, no variance: the floor of 200 ms.
		assert_eq!(lane.timeout_ns(100 * MS), MIN_PROBE_TIMEOUT_NS);
		for _ in 0..50 {
			lane.sample(500 * MS);
		}
		assert!(lane.timeout_ns(100 * MS) >= 500 * MS);
		// A slower probe interval raises the floor: two intervals.
		assert_eq!(Lane::new(1, Some(MS), 3).timeout_ns(10 * S), 20 * S);

		// Probe 1 times out, its late answer still counts as a round trip, not as an answer.
		let mut lane = Lane::new(1, None, 3);
		assert!(!lane.send(1, 0, 100 * MS));
		assert_eq!(lane.expire(2 * S), 1);
		assert_eq!(lane.answer(1, 1_500 * MS), Some(Answered { in_time: false, overtaken: 0 }));
		assert_eq!(lane.srtt_ns, Some(1_500 * MS));
		assert_eq!(lane.answer(1, 1_500 * MS), None, "an answer counts once");
		assert_eq!(lane.answer(0, MS), None, "answers from before the path count not at all");
		// Probe 4 answered while 2 and 3 still wait: they were overtaken, hence lost.
		for seq in 2..=4 {
			lane.send(seq, 3 * S, 100 * MS);
		}
		assert_eq!(lane.answer(4, 150 * MS), Some(Answered { in_time: true, overtaken: 2 }));
		assert!(lane.outstanding.is_empty());
		assert_eq!(lane.answer(3, 160 * MS), Some(Answered { in_time: false, overtaken: 0 }));
	}

	#[test]
	fn loss_is_measured_over_the_window() {
		let mut lane = Lane::new(1, None, 3);
		for i in 0..LOSS_WINDOW * 2 {
			lane.record(i % 10 == 0);
		}
		let ppm = lane.loss_ppm();
		assert!((93_000..=110_000).contains(&ppm), "{ppm}");
		for _ in 0..LOSS_WINDOW {
			lane.record(false);
		}
		assert_eq!(lane.loss_ppm(), 0);
		assert_eq!(loss_penalty_us(100_000, 10_000), 100_000, "10 % at 10 ms per % = 100 ms");
	}

	#[test]
	fn an_outage_leaves_no_loss_rate_behind_but_random_loss_does() {
		let mut lane = Lane::new(1, None, 3);
		for _ in 0..20 {
			lane.record(false);
		}
		for _ in 0..30 {
			lane.record(true);
		}
		assert!(lane.loss_ppm() > 500_000);
		lane.record(false);
		assert_eq!(lane.loss_ppm(), 0, "the outage is over: 21 answers, no loss rate");
		for _ in 0..2 {
			lane.record(true);
		}
		lane.record(false);
		assert!(lane.loss_ppm() > 0, "two in a row are loss, not an outage");
		for i in 0..LOSS_WINDOW {
			lane.record(i % 4 == 0);
		}
		let _ = lane.loss_ppm();
		assert_eq!(lane.loss_ppm(), 250_000, "short runs are loss, kept");
	}

	#[test]
	fn answers_nobody_asked_for_change_nothing() {
		let mut sim = Sim::new(2, model(150, 5), vec![(detour_via(1), model(180, 5))]);
		sim.run_for(5 * S);
		let before = sim.controller.active_status();
		// Forged or replayed answers: unknown sequence numbers, direct probes while on direct.
		for seq in [0, 10_000, u64::MAX >> 1, DIRECT_PROBE | 1, DIRECT_PROBE | 99] {
			sim.controller.handle_probe_reply(seq, MS);
		}
		assert_eq!(sim.controller.active_status(), before);
	}
}
