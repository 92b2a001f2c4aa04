//! When to leave the direct Internet path for a detour through other relays, and when to
//! come back. Without hysteresis, noise makes traffic flap between paths; so a switch needs a
//! gain that is large in both absolute and relative terms *and* lasts `sustain_probes`
//! consecutive probe outcomes, while a lost active path fails over at once to the cheapest
//! path still alive. Figures are costs in µs (round trip plus a loss penalty, see
//! [`super::path_control`]): every path between the same two relays is judged the same way.

use serde::Serialize;

/// The thresholds (from `[routing]` in the config).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hysteresis {
	/// Minimum relative gain, percent of the current path's latency.
	pub min_gain_pct: u32,
	/// Minimum absolute gain, µs.
	pub min_gain_us: u64,
	/// Consecutive probes a condition must hold before acting on it.
	pub sustain_probes: u32,
	/// Consecutive lost probes of the active path that trigger an immediate failover.
	pub failover_lost_probes: u32,
}

impl Hysteresis {
	/// Whether moving from `current_us` to something `gain_us` faster is worth it.
	fn significant(&self, gain_us: i64, current_us: u64) -> bool {
		gain_us > 0
			&& gain_us as u64 >= self.min_gain_us
			&& (gain_us as u128) * 100 >= (current_us as u128) * u128::from(self.min_gain_pct)
	}
}

/// Which path traffic takes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Route<P> {
	/// The default Internet route from ingress to egress.
	Direct,
	/// Through relays.
	Detour(P),
}

/// One probe outcome of the active path and what is known of the others: costs in µs,
/// `None` where the path is not alive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe<P> {
	/// The direct path.
	pub direct: Option<u64>,
	/// The active detour, when traffic is on one.
	pub active_detour: Option<u64>,
	/// Detours known now with their costs, cheapest first (the active one may be among them).
	pub detours: Vec<(P, u64)>,
}

/// Why traffic moved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum SwitchReason {
	/// The new path was faster by `gain_us` for the sustain period.
	Faster {
		/// Latency gained, µs.
		gain_us: u64,
	},
	/// The direct path is as good as the detour again.
	DirectRecovered,
	/// The active path lost this many probes in a row.
	Failover {
		/// Consecutive lost probes.
		lost: u32,
	},
	/// The active detour crosses a member the chain no longer lets carry it (quarantined, or
	/// not for sale): its relays would refuse the traffic while still answering probes.
	Barred,
}

/// A decision to move traffic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Switch<P> {
	/// Where traffic goes now.
	pub to: Route<P>,
	/// Why.
	pub reason: SwitchReason,
}

/// Path selection state of one ingress → egress pair.
#[derive(Clone, Debug)]
pub struct PathSelector<P> {
	config: Hysteresis,
	active: Route<P>,
	faster_streak: u32,
	recovered_streak: u32,
	lost_streak: u32,
	switches: u64,
	/// Consecutive probes direct must be as good as the detour before traffic returns
	/// (`sustain_probes`, or more for a direct path that keeps failing).
	revert_probes: u32,
}

impl<P: Clone + PartialEq> PathSelector<P> {
	/// Starts on the direct path.
	pub fn new(config: Hysteresis) -> Self {
		Self {
			config,
			active: Route::Direct,
			faster_streak: 0,
			recovered_streak: 0,
			lost_streak: 0,
			switches: 0,
			revert_probes: config.sustain_probes,
		}
	}

	/// Sets how many consecutive probes direct must be as good as the detour before traffic
	/// returns to it (at least `sustain_probes`).
	pub fn set_revert_probes(&mut self, probes: u32) {
		self.revert_probes = probes.max(self.config.sustain_probes);
	}

	/// The path traffic takes now.
	pub fn active(&self) -> &Route<P> {
		&self.active
	}

	/// How many times traffic has moved.
	pub fn switches(&self) -> u64 {
		self.switches
	}

	fn switch(&mut self, to: Route<P>, reason: SwitchReason) -> Option<Switch<P>> {
		self.active = to.clone();
		self.faster_streak = 0;
		self.recovered_streak = 0;
		self.lost_streak = 0;
		self.switches = self.switches.saturating_add(1);
		Some(Switch { to, reason })
	}

	/// Moves traffic to `to` at once, whatever the probes say (the active path may not be
	/// used any more).
	pub fn leave_for(&mut self, to: Route<P>, reason: SwitchReason) -> Option<Switch<P>> {
		self.switch(to, reason)
	}

	/// Takes one probe round; returns a switch when traffic should move.
	pub fn on_probe(&mut self, probe: Probe<P>) -> Option<Switch<P>> {
		let active_latency = match self.active {
			Route::Direct => probe.direct,
			Route::Detour(_) => probe.active_detour,
		};
		let Some(current) = active_latency else {
			self.lost_streak = self.lost_streak.saturating_add(1);
			self.faster_streak = 0;
			self.recovered_streak = 0;
			if self.lost_streak < self.config.failover_lost_probes {
				return None;
			}
			let lost = self.lost_streak;
			// Any path still alive will do; the cheapest wins.
			let direct = match self.active {
				Route::Detour(_) => probe.direct.map(|cost| (Route::Direct, cost)),
				Route::Direct => None,
			};
			let detours = probe
				.detours
				.into_iter()
				.map(|(path, cost)| (Route::Detour(path), cost))
				.filter(|(route, _)| *route != self.active);
			let fallback = direct.into_iter().chain(detours).min_by_key(|(_, cost)| *cost);
			return fallback.and_then(|(to, _)| self.switch(to, SwitchReason::Failover { lost }));
		};
		self.lost_streak = 0;

		if let Route::Detour(_) = self.active {
			let direct_back = probe
				.direct
				.is_some_and(|d| !self.config.significant(d as i64 - current as i64, d));
			if direct_back {
				self.recovered_streak = self.recovered_streak.saturating_add(1);
				if self.recovered_streak >= self.revert_probes {
					return self.switch(Route::Direct, SwitchReason::DirectRecovered);
				}
			} else {
				self.recovered_streak = 0;
			}
		}
		// A detour other than the active path, faster by both margins, for the sustain period.
		let better = probe
			.detours
			.into_iter()
			.find(|(path, _)| self.active != Route::Detour(path.clone()))
			.filter(|(_, alt)| self.config.significant(current as i64 - *alt as i64, current));
		match better {
			Some((path, alt)) => {
				self.faster_streak = self.faster_streak.saturating_add(1);
				if self.faster_streak >= self.config.sustain_probes {
					let gain_us = current.saturating_sub(alt);
					return self.switch(Route::Detour(path), SwitchReason::Faster { gain_us });
				}
			}
			None => self.faster_streak = 0,
		}
		None
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use proptest::prelude::*;

	const MS: u64 = 1_000;

	fn config() -> Hysteresis {
		Hysteresis {
			min_gain_pct: 10,
			min_gain_us: 5 * MS,
			sustain_probes: 3,
			failover_lost_probes: 3,
		}
	}

	fn probe(direct: Option<u64>, active: Option<u64>, best: Option<(u8, u64)>) -> Probe<u8> {
		Probe { direct, active_detour: active, detours: best.into_iter().collect() }
	}

	#[test]
	fn switches_after_sustained_gain_and_reverts_after_recovery() {
		let mut s = PathSelector::new(config());
		for _ in 0..2 {
			assert_eq!(s.on_probe(probe(Some(100 * MS), None, Some((1, 40 * MS)))), None);
		}
		let switch = s.on_probe(probe(Some(100 * MS), None, Some((1, 40 * MS)))).unwrap();
		assert_eq!(switch.to, Route::Detour(1));
		assert_eq!(switch.reason, SwitchReason::Faster { gain_us: 60 * MS });
		for _ in 0..2 {
			assert_eq!(s.on_probe(probe(Some(42 * MS), Some(40 * MS), Some((1, 40 * MS)))), None);
		}
		let back = s.on_probe(probe(Some(42 * MS), Some(40 * MS), Some((1, 40 * MS)))).unwrap();
		assert_eq!(back, Switch { to: Route::Direct, reason: SwitchReason::DirectRecovered });
		assert_eq!(s.switches(), 2);
	}

	#[test]
	fn both_margins_are_required() {
		let mut s = PathSelector::new(config());
		// 4 ms better: 20% but under 5 ms.
		for _ in 0..10 {
			assert_eq!(s.on_probe(probe(Some(20 * MS), None, Some((1, 16 * MS)))), None);
		}
		// 8 ms better: above 5 ms but only 4% of 200 ms.
		for _ in 0..10 {
			assert_eq!(s.on_probe(probe(Some(200 * MS), None, Some((1, 192 * MS)))), None);
		}
	}

	#[test]
	fn lost_active_path_fails_over_at_once_after_n_probes() {
		let mut s = PathSelector::new(config());
		assert_eq!(s.on_probe(probe(None, None, Some((2, 90 * MS)))), None);
		assert_eq!(s.on_probe(probe(None, None, Some((2, 90 * MS)))), None);
		let failover = s.on_probe(probe(None, None, Some((2, 90 * MS)))).unwrap();
		assert_eq!(
			failover,
			Switch { to: Route::Detour(2), reason: SwitchReason::Failover { lost: 3 } }
		);
		// A detour that dies falls back to direct if direct answers.
		for _ in 0..2 {
			assert_eq!(s.on_probe(probe(Some(50 * MS), None, Some((2, 90 * MS)))), None);
		}
		let back = s.on_probe(probe(Some(50 * MS), None, Some((2, 90 * MS)))).unwrap();
		assert_eq!(back.to, Route::Direct);
	}

	#[test]
	fn failover_takes_the_cheapest_live_path_of_all_known_ones() {
		let mut s = PathSelector::new(config());
		for _ in 0..3 {
			s.on_probe(probe(Some(100 * MS), None, Some((1, 60 * MS))));
		}
		assert_eq!(s.active(), &Route::Detour(1));
		// Detour 1 dies; the matrix still ranks it first. Direct (150) and detour 2 (120)
		// answer: the cheaper one wins, whatever its rank.
		let dying = |s: &mut PathSelector<u8>| {
			s.on_probe(Probe {
				direct: Some(150 * MS),
				active_detour: None,
				detours: vec![(1, 60 * MS), (2, 120 * MS)],
			})
		};
		assert_eq!(dying(&mut s), None);
		assert_eq!(dying(&mut s), None);
		let failover = dying(&mut s).unwrap();
		assert_eq!(
			failover,
			Switch { to: Route::Detour(2), reason: SwitchReason::Failover { lost: 3 } }
		);
	}

	#[test]
	fn nowhere_to_go_means_staying() {
		let mut s: PathSelector<u8> = PathSelector::new(config());
		for _ in 0..10 {
			assert_eq!(s.on_probe(probe(None, None, None)), None);
		}
		assert_eq!(s.active(), &Route::Direct);
	}

	#[test]
	fn moves_to_a_much_better_detour() {
		let mut s = PathSelector::new(config());
		for _ in 0..3 {
			s.on_probe(probe(Some(100 * MS), None, Some((1, 60 * MS))));
		}
		assert_eq!(s.active(), &Route::Detour(1));
		for _ in 0..2 {
			assert_eq!(s.on_probe(probe(Some(100 * MS), Some(60 * MS), Some((2, 30 * MS)))), None);
		}
		let to_two = s.on_probe(probe(Some(100 * MS), Some(60 * MS), Some((2, 30 * MS)))).unwrap();
		assert_eq!(to_two.to, Route::Detour(2));
	}

	/// Latency with bounded noise: base ± noise/2.
	fn noisy(base: u64, noise: u64, r: u64) -> u64 {
		base - noise / 2 + r % (noise + 1)
	}

	proptest! {
		#![proptest_config(ProptestConfig::with_cases(16))]

		/// 10^4 probes of a stable network: noise below the margins, spikes shorter than the
		/// sustain period. Traffic never moves.
		#[test]
		fn no_flapping_on_a_stable_network(seed in any::<u64>()) {
			let mut s = PathSelector::new(config());
			let mut rng = seed;
			let mut next = || { rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407); rng >> 33 };
			let (mut spike_left, mut calm) = (0u32, 0u32);
			for _ in 0..10_000 {
				// Spikes of 1 or 2 probes (< sustain = 3), separated by calm periods.
				if spike_left == 0 && calm >= 3 && next() % 50 == 0 {
					spike_left = 1 + (next() % 2) as u32;
					calm = 0;
				}
				calm += u32::from(spike_left == 0);
				let mut direct = noisy(50 * MS, 4 * MS, next());
				if spike_left > 0 {
					direct += 80 * MS;
					spike_left -= 1;
				}
				let detour = noisy(52 * MS, 4 * MS, next());
				prop_assert_eq!(s.on_probe(probe(Some(direct), None, Some((1, detour)))), None);
			}
			prop_assert_eq!(s.switches(), 0);
		}

		/// A step change of the direct path moves traffic exactly once.
		#[test]
		fn one_switch_on_a_step_change(seed in any::<u64>(), step_at in 100u32..9_000) {
			let mut s = PathSelector::new(config());
			let mut rng = seed;
			let mut next = || { rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407); rng >> 33 };
			for i in 0..10_000u32 {
				let base = if i < step_at { 50 * MS } else { 150 * MS };
				let direct = noisy(base, 4 * MS, next());
				let detour = noisy(60 * MS, 4 * MS, next());
				let active = matches!(s.active(), Route::Detour(_)).then_some(detour);
				s.on_probe(probe(Some(direct), active, Some((1, detour))));
			}
			prop_assert_eq!(s.switches(), 1);
			prop_assert_eq!(s.active(), &Route::Detour(1));
		}
	}
}
