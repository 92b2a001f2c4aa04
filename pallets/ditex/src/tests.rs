//! Unit tests: every call's success and each of its errors, groups, prices, quarantine, views.

use crate::{
	mock::*, views, EndpointOwners, Error, Event, GroupMembers, GroupSizes, Listings,
	NextPulseKeys, Params, PulseKeyOwners, QuarantineReason, RouterStatus, Routers, Rows,
};
use frame_support::{
	assert_noop, assert_ok,
	dispatch::Pays,
	traits::fungible::{Inspect, InspectHold},
	BoundedVec,
};
use sp_runtime::{DispatchError, TokenError};
use srwan_primitives::{
	ditex::{Endpoint, Geo, PeerMeasurement, PremiumWindow, PriceInForce},
	traits::{Quarantine, RouterRegistry},
};

fn held(who: u64) -> u128 {
	Balances::balance_on_hold(&crate::HoldReason::RouterDeposit.into(), &who)
}

fn measurement(peer: u64, owd_us: i32, rtt_us: u32, loss_ppm: u32) -> PeerMeasurement<u64> {
	PeerMeasurement { peer, owd_us, rtt_us, jitter_us: 100, loss_ppm, samples: 60 }
}

fn row(entries: Vec<PeerMeasurement<u64>>) -> crate::RowOf<Test> {
	BoundedVec::truncate_from(entries)
}

fn report(who: u64, entries: Vec<PeerMeasurement<u64>>) {
	assert_ok!(Ditex::report(RuntimeOrigin::signed(who), Ditex::current_period(), row(entries)));
}

fn window(weekdays: u8, start: u16, end: u16, price: u128) -> PremiumWindow {
	PremiumWindow {
		weekdays,
		start_minute: start,
		end_minute: end,
		price_per_gb: price,
		max_rtt_us: 40_000,
	}
}

fn windows(list: Vec<PremiumWindow>) -> crate::WindowsOf<Test> {
	BoundedVec::truncate_from(list)
}

fn last_event() -> RuntimeEvent {
	System::events().pop().expect("an event").event
}

// ---- register_router ----

#[test]
fn registering_holds_the_deposit_and_joins_group_zero() {
	ExtBuilder::default().build_and_execute(|| {
		register(1, b"DE", Some(5));
		assert_eq!(held(1), DEPOSIT);
		assert_eq!(Balances::balance(&1), INITIAL - DEPOSIT);
		let info = Routers::<Test>::get(1).unwrap();
		assert_eq!((info.group, info.status, info.deposit), (0, RouterStatus::Active, DEPOSIT));
		assert_eq!(GroupMembers::<Test>::get(0).len(), 1);
		assert!(System::events().iter().any(
			|r| r.event == RuntimeEvent::Ditex(Event::RouterRegistered { router: 1, group: 0 })
		));
		// A first registration's price applies in the current epoch.
		assert_eq!(Ditex::listing_at(&1, Ditex::current_epoch()).unwrap().price_per_gb, Some(5));
	});
}

#[test]
fn bad_endpoints_each_have_their_own_error() {
	ExtBuilder::default().build_and_execute(|| {
		let try_register = |endpoint: Endpoint| {
			Ditex::register_router(RuntimeOrigin::signed(1), endpoint, geo(b"DE"), key(1), None)
		};
		assert_noop!(
			try_register(Endpoint::V4 { ip: [0; 4], port: 9 }),
			Error::<Test>::EndpointUnspecified
		);
		assert_noop!(
			try_register(Endpoint::V6 { ip: [0; 16], port: 9 }),
			Error::<Test>::EndpointUnspecified
		);
		assert_noop!(
			try_register(Endpoint::V4 { ip: [224, 0, 0, 1], port: 9 }),
			Error::<Test>::EndpointMulticast
		);
		assert_noop!(
			try_register(Endpoint::V4 { ip: [192, 0, 2, 1], port: 0 }),
			Error::<Test>::EndpointZeroPort
		);
	});
}

#[test]
fn bad_locations_and_keys_each_have_their_own_error() {
	ExtBuilder::default().build_and_execute(|| {
		let try_register = |geo: Geo, key: [u8; 32]| {
			Ditex::register_router(RuntimeOrigin::signed(1), endpoint(1), geo, key, None)
		};
		let ok = geo(b"DE");
		assert_noop!(
			try_register(Geo { country: *b"D1", ..ok }, key(1)),
			Error::<Test>::InvalidCountry
		);
		assert_noop!(try_register(Geo { asn: 0, ..ok }, key(1)), Error::<Test>::InvalidAsn);
		assert_noop!(
			try_register(Geo { lat: 900_001, ..ok }, key(1)),
			Error::<Test>::InvalidLatitude
		);
		assert_noop!(
			try_register(Geo { lon: -1_800_001, ..ok }, key(1)),
			Error::<Test>::InvalidLongitude
		);
		assert_noop!(try_register(ok, [0; 32]), Error::<Test>::InvalidPulseKey);
	});
}

#[test]
fn registering_without_funds_for_the_deposit_fails() {
	ExtBuilder::default().build_and_execute(|| {
		// Account 500 has no funds.
		assert_noop!(
			Ditex::register_router(
				RuntimeOrigin::signed(500),
				endpoint(500),
				geo(b"DE"),
				key(500),
				None
			),
			TokenError::FundsUnavailable
		);
		assert_eq!(GroupSizes::<Test>::get().len(), 0, "no group opened for a failed registration");
	});
}

#[test]
fn re_registration_updates_fields_and_schedules_the_price_for_the_next_epoch() {
	ExtBuilder::default().build_and_execute(|| {
		register(1, b"DE", Some(5));
		let now = Ditex::current_epoch();
		let moved =
			Endpoint::V6 { ip: [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], port: 7 };
		assert_ok!(Ditex::register_router(
			RuntimeOrigin::signed(1),
			moved,
			geo(b"FR"),
			key(2),
			Some(9)
		));
		let info = Routers::<Test>::get(1).unwrap();
		assert_eq!((info.endpoint, info.geo.country), (moved, *b"FR"));
		assert_eq!(Ditex::pulse_key_in(&1, &info, now), key(1), "the old key signs until then");
		assert_eq!(Ditex::pulse_key_in(&1, &info, now + 1), key(2));
		assert_eq!(GroupMembers::<Test>::get(0)[0].country, *b"FR");
		assert_eq!(held(1), DEPOSIT, "no second deposit");
		assert_eq!(Ditex::listing_at(&1, now).unwrap().price_per_gb, Some(5));
		assert_eq!(Ditex::listing_at(&1, now + 1).unwrap().price_per_gb, Some(9));
		assert_eq!(last_event(), RuntimeEvent::Ditex(Event::RouterUpdated { router: 1 }));
		assert!(System::events().iter().any(|r| r.event
			== RuntimeEvent::Ditex(Event::PulseKeyScheduled { router: 1, from_epoch: now + 1 })));
	});
}

#[test]
fn a_new_pulse_key_takes_over_at_the_next_epochs_start_and_both_stay_its_own() {
	ExtBuilder::default().build_and_execute(|| {
		register(1, b"DE", Some(5));
		let rotate = |who: u64, k| {
			Ditex::register_router(
				RuntimeOrigin::signed(who),
				endpoint(who),
				geo(b"DE"),
				k,
				Some(5),
			)
		};
		let view_keys = || {
			let view = Ditex::router_view(&1).unwrap();
			(view.pulse_key, view.next_pulse_key.map(|next| (next.key, next.from_epoch)))
		};
		let now = Ditex::current_epoch();
		assert_ok!(rotate(1, key(2)));
		assert_eq!(view_keys(), (key(1), Some((key(2), now + 1))));
		// A lying router cannot take either key while the switch is pending.
		register(3, b"DE", Some(5));
		assert_noop!(rotate(3, key(1)), Error::<Test>::PulseKeyTaken);
		assert_noop!(rotate(3, key(2)), Error::<Test>::PulseKeyTaken);
		// Naming the scheduled key again changes nothing; another one replaces it.
		assert_ok!(rotate(1, key(2)));
		assert_eq!(view_keys(), (key(1), Some((key(2), now + 1))));
		assert_ok!(rotate(1, key(4)));
		assert_eq!(view_keys(), (key(1), Some((key(4), now + 1))));
		assert_eq!(PulseKeyOwners::<Test>::get(key(2)), None, "a replaced key is released");
		// Naming the current key cancels the switch.
		assert_ok!(rotate(1, key(1)));
		assert_eq!(view_keys(), (key(1), None));
		assert_eq!(PulseKeyOwners::<Test>::get(key(4)), None);
		assert_ok!(rotate(1, key(2)));
		Ditex::do_try_state().unwrap();

		// At the next epoch's first block the view (what relays read) names the new key.
		run_to_block(u64::from(now + 1) * 10);
		assert_eq!(Ditex::current_epoch(), now + 1);
		assert_eq!(view_keys(), (key(2), None));
		Ditex::do_try_state().unwrap();
		// The old key is released when the router next registers.
		assert_noop!(rotate(3, key(1)), Error::<Test>::PulseKeyTaken);
		assert_ok!(rotate(1, key(2)));
		assert_eq!(Routers::<Test>::get(1).unwrap().pulse_key, key(2));
		assert_eq!(NextPulseKeys::<Test>::get(1), None);
		assert_ok!(rotate(3, key(1)));
		Ditex::do_try_state().unwrap();
	});
}

#[test]
fn withdrawing_the_deposit_releases_the_current_and_the_scheduled_pulse_key() {
	ExtBuilder::default().build_and_execute(|| {
		register(1, b"DE", Some(1));
		assert_ok!(Ditex::register_router(
			RuntimeOrigin::signed(1),
			endpoint(1),
			geo(b"DE"),
			key(2),
			None
		));
		assert_ok!(Ditex::unregister(RuntimeOrigin::signed(1)));
		let until = match Routers::<Test>::get(1).unwrap().status {
			RouterStatus::Unbonding { until } => until,
			other => panic!("unbonding expected, got {other:?}"),
		};
		run_to_block(until.into());
		assert_ok!(Ditex::withdraw_deposit(RuntimeOrigin::signed(1)));
		assert_eq!(PulseKeyOwners::<Test>::get(key(1)), None);
		assert_eq!(PulseKeyOwners::<Test>::get(key(2)), None);
		assert_eq!(NextPulseKeys::<Test>::get(1), None);
		Ditex::do_try_state().unwrap();
	});
}

// ---- prices and premium windows ----

#[test]
fn set_price_takes_effect_at_the_next_epoch_and_none_means_not_for_sale() {
	ExtBuilder::default().build_and_execute(|| {
		register(1, b"DE", Some(5));
		run_to_block(12); // epoch 1
		assert_ok!(Ditex::set_price(RuntimeOrigin::signed(1), None));
		assert_eq!(Ditex::price_at_epoch_start(&1, 1).unwrap().price_per_gb, Some(5));
		run_to_block(20); // epoch 2 starts
		assert_eq!(Ditex::price_at_epoch_start(&1, 2).unwrap().price_per_gb, None);
		assert_eq!(
			Ditex::price_at_epoch_start(&1, 1).unwrap().price_per_gb,
			Some(5),
			"history kept"
		);
		assert_noop!(
			Ditex::set_price(RuntimeOrigin::signed(2), Some(1)),
			Error::<Test>::NotRegistered
		);
	});
}

#[test]
fn changing_twice_in_one_epoch_keeps_one_scheduled_listing() {
	ExtBuilder::default().build_and_execute(|| {
		register(1, b"DE", Some(5));
		assert_ok!(Ditex::set_price(RuntimeOrigin::signed(1), Some(6)));
		assert_ok!(Ditex::set_price(RuntimeOrigin::signed(1), Some(7)));
		assert_eq!(Listings::<Test>::get(1).len(), 2);
		assert_eq!(Ditex::listing_at(&1, 1).unwrap().price_per_gb, Some(7));
	});
}

#[test]
fn listing_history_is_pruned_to_its_bound() {
	ExtBuilder::default().build_and_execute(|| {
		register(1, b"DE", Some(1));
		for epoch in 1..40u64 {
			run_to_block(epoch * 10 + 1);
			assert_ok!(Ditex::set_price(RuntimeOrigin::signed(1), Some(u128::from(epoch as u32))));
			assert!(Listings::<Test>::get(1).len() <= crate::LISTING_RETENTION_EPOCHS as usize + 2);
		}
		// Prices of the last retained epochs are still answered exactly.
		let now = Ditex::current_epoch();
		for back in 0..crate::LISTING_RETENTION_EPOCHS {
			let epoch = now - back;
			assert_eq!(
				Ditex::listing_at(&1, epoch).unwrap().price_per_gb,
				Some(u128::from(epoch - 1))
			);
		}
	});
}

#[test]
fn premium_windows_apply_from_the_next_epoch_and_wrap_at_midnight() {
	ExtBuilder::default().build_and_execute(|| {
		register(1, b"DE", Some(5));
		// Genesis is Monday 00:00 UTC and a block is 6 s, so epoch e starts at minute e.
		// Sunday 23:59 → Monday 00:04 (wraps at midnight and at the end of the week).
		let night = window(1 << 6, 23 * 60 + 59, 4, 50);
		assert_ok!(Ditex::set_premium_windows(RuntimeOrigin::signed(1), windows(vec![night])));
		assert_eq!(
			Ditex::price_at_epoch_start(&1, 0).unwrap(),
			PriceInForce { price_per_gb: Some(5), premium: None },
			"not before the next epoch"
		);
		run_to_block(20);
		assert_eq!(
			Ditex::price_at_epoch_start(&1, 2).unwrap(),
			PriceInForce { price_per_gb: Some(50), premium: Some((0, 40_000)) },
			"Monday 00:02 is inside Sunday night's window"
		);
		run_to_block(30);
		assert_eq!(Ditex::price_at_epoch_start(&1, 3).unwrap().price_per_gb, Some(50));
		run_to_block(40);
		assert_eq!(
			Ditex::price_at_epoch_start(&1, 4).unwrap().premium,
			None,
			"minute 4 is the exclusive end"
		);
	});
}

#[test]
fn a_window_ends_at_the_weekday_boundary() {
	ExtBuilder::default().build_and_execute(|| {
		register(1, b"DE", Some(4));
		// Tuesday-only window from 00:00: Monday's minutes are outside it.
		let tuesday = window(1 << 1, 0, 60, 9);
		assert_ok!(Ditex::set_premium_windows(RuntimeOrigin::signed(1), windows(vec![tuesday])));
		run_to_block(20);
		assert_eq!(
			Ditex::price_at_epoch_start(&1, 2).unwrap(),
			PriceInForce { price_per_gb: Some(4), premium: None },
			"Monday: the base price"
		);
	});
}

#[test]
fn premium_windows_need_a_base_price() {
	ExtBuilder::default().build_and_execute(|| {
		let night = window(0x7f, 0, 60, 9);
		register(1, b"DE", None);
		assert_noop!(
			Ditex::set_premium_windows(RuntimeOrigin::signed(1), windows(vec![night])),
			Error::<Test>::WindowsNeedAPrice
		);
		register(2, b"DE", Some(4));
		assert_ok!(Ditex::set_premium_windows(RuntimeOrigin::signed(2), windows(vec![night])));
		assert_noop!(
			Ditex::set_price(RuntimeOrigin::signed(2), None),
			Error::<Test>::WindowsNeedAPrice
		);
		assert_noop!(
			Ditex::register_router(RuntimeOrigin::signed(2), endpoint(2), geo(b"DE"), key(2), None),
			Error::<Test>::WindowsNeedAPrice
		);
		assert_ok!(Ditex::set_premium_windows(RuntimeOrigin::signed(2), windows(vec![])));
		assert_ok!(Ditex::set_price(RuntimeOrigin::signed(2), None));
	});
}

#[test]
fn fraud_a_premium_window_whose_rtt_promise_is_broken_is_charged_at_the_base_price() {
	ExtBuilder::default().build_and_execute(|| {
		for who in 1..=4 {
			register(who, b"DE", Some(5));
		}
		// Router 1 sells Monday 00:00–01:00 at 50 promising 40 ms (epoch e starts at minute e).
		let morning = window(1, 0, 60, 50);
		assert_ok!(Ditex::set_premium_windows(RuntimeOrigin::signed(1), windows(vec![morning])));
		// Epoch 1 (= period 1): its peers measure 60 ms to it; epoch 2: 20 ms.
		for (period, rtt_us) in [(1, 60_000), (2, 20_000)] {
			run_to_period(period);
			for peer in 2..=4 {
				report(peer, vec![measurement(1, 1_000, rtt_us, 0)]);
			}
		}
		run_to_period(3);
		assert!(Ditex::epoch_judged(2) && !Ditex::epoch_judged(3));
		assert_eq!(
			Ditex::price_at_epoch_start(&1, 1).unwrap(),
			PriceInForce { price_per_gb: Some(5), premium: None },
			"the promise was broken: base price"
		);
		assert_eq!(
			Ditex::price_at_epoch_start(&1, 2).unwrap(),
			PriceInForce { price_per_gb: Some(50), premium: Some((0, 40_000)) },
			"the promise was kept"
		);
		let verdicts = crate::PremiumRtt::<Test>::get(1);
		let judged: Vec<_> = verdicts.iter().map(|v| (v.epoch, v.breaches, v.judged)).collect();
		assert_eq!(judged, vec![(1, 1, 1), (2, 0, 1)]);
		assert!(crate::PremiumRtt::<Test>::get(2).is_empty(), "only premium sellers are tracked");
		// Its verdicts go with its record.
		assert_ok!(Ditex::set_premium_windows(RuntimeOrigin::signed(1), windows(vec![])));
		assert_ok!(Ditex::unregister(RuntimeOrigin::signed(1)));
		run_to_block(System::block_number() + u64::from(test_params().unbond_delay));
		assert_ok!(Ditex::withdraw_deposit(RuntimeOrigin::signed(1)));
		assert!(crate::PremiumRtt::<Test>::get(1).is_empty());
	});
}

#[test]
fn fraud_a_broken_promise_never_charges_more_than_the_window_asked() {
	ExtBuilder::default().build_and_execute(|| {
		// Bait: a cheap all-morning window with an impossible promise over a dear base.
		for who in 1..=3 {
			register(who, b"DE", Some(1_000));
		}
		let bait = PremiumWindow { max_rtt_us: 1, ..window(1, 0, 60, 1) };
		assert_ok!(Ditex::set_premium_windows(RuntimeOrigin::signed(1), windows(vec![bait])));
		run_to_period(1);
		for peer in 2..=3 {
			report(peer, vec![measurement(1, 1_000, 20_000, 0)]);
		}
		run_to_period(2);
		assert_eq!(
			Ditex::price_at_epoch_start(&1, 1).unwrap(),
			PriceInForce { price_per_gb: Some(1), premium: None },
			"the lower of window and base"
		);
	});
}

#[test]
fn fraud_one_lying_peer_of_two_cannot_void_a_kept_promise() {
	ExtBuilder::default().build_and_execute(|| {
		for who in 1..=3 {
			register(who, b"DE", Some(5));
		}
		let morning = window(1, 0, 60, 50);
		assert_ok!(Ditex::set_premium_windows(RuntimeOrigin::signed(1), windows(vec![morning])));
		run_to_period(1);
		report(2, vec![measurement(1, 1_000, 20_000, 0)]);
		report(3, vec![measurement(1, 1_000, 900_000, 0)]);
		run_to_period(2);
		assert_eq!(Ditex::price_at_epoch_start(&1, 1).unwrap().price_per_gb, Some(50));
	});
}

#[test]
fn a_quarantined_router_cannot_leave_its_quarantine_behind_by_unregistering() {
	ExtBuilder::default().build_and_execute(|| {
		register(1, b"DE", Some(1));
		assert_ok!(Ditex::quarantine(RuntimeOrigin::root(), 1));
		assert_noop!(
			Ditex::unregister(RuntimeOrigin::signed(1)),
			Error::<Test>::QuarantinedCannotLeave
		);
		assert_ok!(Ditex::release(RuntimeOrigin::root(), 1));
		assert_ok!(Ditex::unregister(RuntimeOrigin::signed(1)));
	});
}

#[test]
fn premium_verdicts_keep_only_the_retained_epochs() {
	let mut verdicts = crate::PremiumVerdicts::default();
	for epoch in 0..20 {
		verdicts.record(epoch, epoch % 2 == 0);
		verdicts.record(epoch, false);
	}
	let epochs: Vec<_> = verdicts.iter().map(|v| v.epoch).collect();
	let oldest = 19 - crate::LISTING_RETENTION_EPOCHS;
	assert_eq!(epochs, (oldest..=19).collect::<Vec<_>>());
	assert!(
		verdicts.iter().all(|v| v.judged == 2 && !v.broken()),
		"one breach of two is no majority"
	);
}

#[test]
fn bad_premium_windows_each_have_their_own_error() {
	ExtBuilder::default().build_and_execute(|| {
		register(1, b"DE", Some(5));
		let set = |list| Ditex::set_premium_windows(RuntimeOrigin::signed(1), windows(list));
		assert_noop!(set(vec![window(0, 1, 2, 1)]), Error::<Test>::InvalidWeekdays);
		assert_noop!(set(vec![window(1, 1, 1440, 1)]), Error::<Test>::InvalidMinute);
		assert_noop!(set(vec![window(1, 9, 9, 1)]), Error::<Test>::EmptyWindow);
		assert_noop!(
			set(vec![window(0x7f, 22 * 60, 6 * 60, 1), window(1, 5 * 60, 7 * 60, 2)]),
			Error::<Test>::OverlappingWindows
		);
		assert_noop!(
			Ditex::set_premium_windows(RuntimeOrigin::signed(2), windows(vec![])),
			Error::<Test>::NotRegistered
		);
	});
}

// ---- report ----

#[test]
fn a_valid_report_is_free_and_stored() {
	ExtBuilder::default().build_and_execute(|| {
		for who in 1..=3 {
			register(who, b"DE", Some(1));
		}
		let period = Ditex::current_period();
		let result = Ditex::report(
			RuntimeOrigin::signed(2),
			period,
			row(vec![measurement(1, -1_500, 20_000, 0), measurement(3, 900, 21_000, 10)]),
		);
		assert_eq!(result.unwrap().pays_fee, Pays::No);
		let stored = Rows::<Test>::get(2).unwrap();
		assert_eq!((stored.period, stored.entries.len()), (period, 2));
		assert_eq!(Routers::<Test>::get(2).unwrap().last_report, Some(period));
		let segment = Ditex::segment(&1, &2).unwrap();
		assert_eq!((segment.owd_us, segment.rtt_us), (-1_500, 20_000), "A→B is what B measured");
		assert_eq!(Ditex::segment(&2, &1), None, "1 did not report");
	});
}

#[test]
fn bad_reports_each_have_their_own_error() {
	ExtBuilder::default().build_and_execute(|| {
		register(1, b"DE", Some(1));
		register(2, b"DE", Some(1));
		let period = Ditex::current_period();
		let send = |who: u64, period: u32, entries| {
			Ditex::report(RuntimeOrigin::signed(who), period, row(entries))
		};
		assert_noop!(send(3, period, vec![]), Error::<Test>::NotRegistered);
		assert_noop!(send(1, period + 1, vec![]), Error::<Test>::WrongPeriod);
		assert_noop!(
			send(1, period, vec![measurement(1, 0, 1, 0)]),
			Error::<Test>::SelfMeasurement
		);
		assert_noop!(
			send(1, period, vec![measurement(2, 0, 1, 0), measurement(2, 0, 1, 0)]),
			Error::<Test>::DuplicatePeer
		);
		assert_noop!(send(1, period, vec![measurement(7, 0, 1, 0)]), Error::<Test>::PeerNotInGroup);
		assert_ok!(send(1, period, vec![measurement(2, 0, 1, 0)]));
		assert_noop!(send(1, period, vec![]), Error::<Test>::AlreadyReported);
		assert_ok!(Ditex::unregister(RuntimeOrigin::signed(2)));
		assert_noop!(send(2, period, vec![]), Error::<Test>::Unbonding);
	});
}

#[test]
fn stale_rows_are_ignored() {
	ExtBuilder::default().build_and_execute(|| {
		register(1, b"DE", Some(1));
		register(2, b"DE", Some(1));
		report(2, vec![measurement(1, 10, 20_000, 0)]);
		let reported = Ditex::current_period();
		run_to_period(reported + 3);
		assert!(Ditex::segment(&1, &2).is_some(), "stale_after = 3 periods");
		run_to_period(reported + 4);
		assert_eq!(Ditex::segment(&1, &2), None);
	});
}

// ---- groups ----

fn sizes() -> Vec<u32> {
	GroupSizes::<Test>::get().into_inner()
}

#[test]
fn one_router_makes_one_group() {
	ExtBuilder::default().build_and_execute(|| {
		register(1, b"DE", None);
		assert_eq!(sizes(), vec![1]);
	});
}

#[test]
fn a_hundred_routers_fill_one_group_and_the_next_opens_a_second_which_is_levelled() {
	ExtBuilder::default().accounts(101).build_and_execute(|| {
		for who in 1..=100 {
			register(who, b"DE", None);
		}
		assert_eq!(sizes(), vec![100]);
		register(101, b"FR", None);
		assert_eq!(sizes(), vec![100, 1], "a group opens only when all are full");
		assert_eq!(Routers::<Test>::get(101).unwrap().group, 1);
		// Bounded steps at each period boundary (16 per period).
		let mut period = Ditex::current_period();
		while crate::RebalancePending::<Test>::get() {
			period += 1;
			run_to_period(period);
			assert!(period < 20, "rebalancing converges");
		}
		assert_eq!(sizes(), vec![51, 50]);
	});
}

#[test]
fn a_thousand_routers_make_ten_full_groups_with_countries_spread() {
	ExtBuilder::default().accounts(1000).build_and_execute(|| {
		let countries = [b"DE", b"FR", b"US", b"JP", b"BR"];
		// Countries arrive in blocks (the worst case for spread): 200 DE first, then FR...
		for who in 1..=1000u64 {
			register(who, countries[((who - 1) / 200) as usize], None);
		}
		let mut period = Ditex::current_period();
		while crate::RebalancePending::<Test>::get() {
			period += 1;
			run_to_period(period);
			assert!(period < 400, "rebalancing converges");
		}
		assert_eq!(sizes(), vec![100; 10]);
		for group in 0..10 {
			let members = GroupMembers::<Test>::get(group);
			for country in countries {
				let n = members.iter().filter(|m| &m.country == country).count();
				assert!(n <= 200usize.div_ceil(10) + 1, "group {group} has {n} of {country:?}");
			}
		}
	});
}

#[test]
fn when_every_group_is_full_registration_fails() {
	ExtBuilder::default().accounts(6401).build_and_execute(|| {
		for who in 1..=6400 {
			register(who, b"DE", None);
		}
		assert_eq!(sizes(), vec![100; 64]);
		assert_noop!(
			Ditex::register_router(
				RuntimeOrigin::signed(6401),
				endpoint(6401),
				geo(b"DE"),
				key(6401),
				None
			),
			Error::<Test>::NoRoomInGroups
		);
	});
}

// ---- membership by epoch (what metering checks claims against) ----

fn group_at(who: u64, epoch: u32) -> Option<u32> {
	<Ditex as RouterRegistry<u64>>::group_at(&who, epoch)
}

#[test]
fn a_new_router_measures_at_once_but_counts_in_its_group_from_the_next_epoch() {
	ExtBuilder::default().build_and_execute(|| {
		register(1, b"DE", Some(1));
		assert_eq!(GroupMembers::<Test>::get(0).len(), 1, "it pulses its group at once");
		assert_eq!(group_at(1, 0), None, "its registration epoch is not metered");
		assert_eq!(group_at(1, 1), Some(0));
		assert_eq!(<Ditex as RouterRegistry<u64>>::registered_epoch(&1), Some(0));
		assert_eq!(group_at(9, 1), None, "an unknown router is in no group");
	});
}

#[test]
fn a_move_counts_from_the_epoch_whose_first_block_made_it() {
	ExtBuilder::default().accounts(101).build_and_execute(|| {
		for who in 1..=100 {
			register(who, b"DE", None);
		}
		register(101, b"FR", None);
		// Moves happen only at epoch boundaries (10 blocks here): none before block 10.
		run_to_block(9);
		assert_eq!(sizes(), vec![100, 1]);
		run_to_block(10);
		let moved: Vec<u64> =
			(1..=100).filter(|who| Routers::<Test>::get(who).unwrap().group == 1).collect();
		assert!(!moved.is_empty(), "the first boundary moved routers");
		for who in moved {
			// Epoch 0 (its registration epoch) no group, epoch 1 the new group at once.
			assert_eq!(group_at(who, 0), None);
			assert_eq!(group_at(who, 1), Some(1));
		}
		// A router moved at the next boundary answers for the epoch before with its old group.
		run_to_block(20);
		let later: Vec<u64> = (1..=100)
			.filter(|who| {
				let info = Routers::<Test>::get(who).unwrap();
				info.group == 1 && info.membership.since == 2
			})
			.collect();
		assert!(!later.is_empty(), "the second boundary moved more");
		for who in later {
			assert_eq!(group_at(who, 1), Some(0), "claims of epoch 1 still see group 0");
			assert_eq!(group_at(who, 2), Some(1));
		}
	});
}

#[test]
fn an_unregistered_router_counts_through_the_epoch_it_left_in() {
	ExtBuilder::default().build_and_execute(|| {
		register(1, b"DE", Some(1));
		run_to_block(25);
		assert_ok!(Ditex::unregister(RuntimeOrigin::signed(1)));
		assert_eq!((group_at(1, 1), group_at(1, 2)), (Some(0), Some(0)));
		assert_eq!(group_at(1, 3), None);
	});
}

#[test]
fn a_quarantine_counts_from_the_next_epoch() {
	ExtBuilder::default().build_and_execute(|| {
		register(1, b"DE", Some(1));
		run_to_block(25);
		assert_ok!(Ditex::quarantine(RuntimeOrigin::root(), 1));
		let quarantined_for = |epoch| <Ditex as RouterRegistry<u64>>::quarantined_for(&1, epoch);
		assert!(!quarantined_for(2), "the epoch under way was served");
		assert!(quarantined_for(3));
		assert_ok!(Ditex::release(RuntimeOrigin::root(), 1));
		assert!(!quarantined_for(3));
		assert_eq!(<Ditex as RouterRegistry<u64>>::registered_epoch(&1), Some(0), "kept");
	});
}

// ---- unregister / withdraw ----

#[test]
fn unregistering_leaves_the_group_and_releases_the_deposit_after_the_delay() {
	ExtBuilder::default().build_and_execute(|| {
		register(1, b"DE", Some(1));
		register(2, b"DE", Some(1));
		assert_noop!(
			Ditex::withdraw_deposit(RuntimeOrigin::signed(1)),
			Error::<Test>::NotUnbonding
		);
		assert_ok!(Ditex::unregister(RuntimeOrigin::signed(1)));
		assert_eq!(GroupMembers::<Test>::get(0).len(), 1);
		// Until its deposit is withdrawn it may still claim the epochs it served.
		assert!(<Ditex as RouterRegistry<u64>>::is_registered(&1));
		assert_noop!(Ditex::unregister(RuntimeOrigin::signed(1)), Error::<Test>::Unbonding);
		assert_noop!(
			Ditex::register_router(RuntimeOrigin::signed(1), endpoint(1), geo(b"DE"), key(1), None),
			Error::<Test>::Unbonding
		);
		assert_noop!(Ditex::set_price(RuntimeOrigin::signed(1), None), Error::<Test>::Unbonding);
		assert_noop!(
			Ditex::withdraw_deposit(RuntimeOrigin::signed(1)),
			Error::<Test>::StillBonding
		);
		run_to_block(1 + 20);
		assert_ok!(Ditex::withdraw_deposit(RuntimeOrigin::signed(1)));
		assert_eq!((held(1), Balances::balance(&1)), (0, INITIAL));
		assert!(Routers::<Test>::get(1).is_none() && Listings::<Test>::get(1).is_empty());
		assert!(!<Ditex as RouterRegistry<u64>>::is_registered(&1));
		assert_noop!(
			Ditex::withdraw_deposit(RuntimeOrigin::signed(1)),
			Error::<Test>::NotRegistered
		);
		assert_noop!(Ditex::unregister(RuntimeOrigin::signed(1)), Error::<Test>::NotRegistered);
		// It may come back as a new router.
		register(1, b"DE", Some(1));
	});
}

// ---- quarantine ----

#[test]
fn root_quarantines_and_releases() {
	ExtBuilder::default().build_and_execute(|| {
		register(1, b"DE", Some(1));
		assert_noop!(Ditex::quarantine(RuntimeOrigin::signed(1), 1), DispatchError::BadOrigin);
		assert_noop!(Ditex::quarantine(RuntimeOrigin::root(), 2), Error::<Test>::NotRegistered);
		assert_noop!(Ditex::release(RuntimeOrigin::root(), 1), Error::<Test>::NotQuarantined);
		assert_ok!(Ditex::quarantine(RuntimeOrigin::root(), 1));
		assert!(<Ditex as RouterRegistry<u64>>::is_quarantined(&1));
		assert_noop!(
			Ditex::quarantine(RuntimeOrigin::root(), 1),
			Error::<Test>::AlreadyQuarantined
		);
		// Root's quarantine does not end by itself, however clean the router is.
		for period in 1..6 {
			run_to_period(period);
			report(1, vec![]);
		}
		assert!(<Ditex as RouterRegistry<u64>>::is_quarantined(&1));
		assert_noop!(Ditex::release(RuntimeOrigin::signed(1), 1), DispatchError::BadOrigin);
		assert_ok!(Ditex::release(RuntimeOrigin::root(), 1));
		assert_eq!(Routers::<Test>::get(1).unwrap().status, RouterStatus::Active);
	});
}

#[test]
fn a_silent_router_is_quarantined_and_released_after_clean_periods() {
	ExtBuilder::default().build_and_execute(|| {
		register(1, b"DE", Some(1));
		register(2, b"DE", Some(1));
		// Router 2 reports every period, router 1 never.
		for period in 0..4 {
			run_to_period(period);
			report(2, vec![]);
		}
		run_to_period(4); // evaluates period 3: 1 silent since period 0 → 3 periods
		run_to_block(41);
		assert!(matches!(
			Routers::<Test>::get(1).unwrap().status,
			RouterStatus::Quarantined { reason: QuarantineReason::Silent, .. }
		));
		assert_eq!(Routers::<Test>::get(2).unwrap().status, RouterStatus::Active);
		// Two clean periods (cooldown 2) release it.
		for period in 4..6 {
			run_to_period(period);
			report(1, vec![]);
			report(2, vec![]);
		}
		run_to_period(6);
		run_to_block(61);
		assert_eq!(Routers::<Test>::get(1).unwrap().status, RouterStatus::Active);
	});
}

#[test]
fn a_router_whose_segments_are_poor_for_long_enough_is_quarantined() {
	ExtBuilder::default().build_and_execute(|| {
		for who in 1..=4 {
			register(who, b"DE", Some(1));
		}
		// Everyone measures router 1 at 300 ms RTT (threshold 200 ms); the rest are fine.
		for period in 0..3 {
			run_to_period(period);
			for who in 1..=4u64 {
				let entries = (1..=4u64)
					.filter(|peer| *peer != who)
					.map(|peer| measurement(peer, 0, if peer == 1 { 300_000 } else { 20_000 }, 0))
					.collect();
				report(who, entries);
			}
		}
		run_to_period(3);
		run_to_block(31);
		assert!(matches!(
			Routers::<Test>::get(1).unwrap().status,
			RouterStatus::Quarantined { reason: QuarantineReason::Poor, .. }
		));
		for who in 2..=4 {
			assert_eq!(Routers::<Test>::get(who).unwrap().status, RouterStatus::Active);
		}
	});
}

#[test]
fn tickets_quarantine_for_disputes_through_the_trait() {
	ExtBuilder::default().build_and_execute(|| {
		register(1, b"DE", Some(1));
		assert_ok!(<Ditex as Quarantine<u64>>::quarantine_for_disputes(&1));
		assert!(matches!(
			Routers::<Test>::get(1).unwrap().status,
			RouterStatus::Quarantined { reason: QuarantineReason::Disputes, .. }
		));
		// Quarantine takes no money: the deposit stays whole.
		assert_eq!(held(1), DEPOSIT);
		assert_noop!(
			<Ditex as Quarantine<u64>>::quarantine_for_disputes(&2),
			Error::<Test>::NotRegistered
		);
	});
}

#[test]
fn automatic_release_works_in_every_group_when_routers_report_as_soon_as_a_period_starts() {
	ExtBuilder::default().accounts(101).build_and_execute(|| {
		for who in 1..=101 {
			register(who, b"DE", Some(1));
		}
		let first_of = |group| GroupMembers::<Test>::get(group)[0].account;
		let (a, b) = (first_of(0), first_of(1));
		for who in [a, b] {
			assert_ok!(<Ditex as Quarantine<u64>>::quarantine_for_disputes(&who));
		}
		// Both report in each period's first block, after group 0's health ran and before
		// group 1's: group 1 is judged for the period before, which they also reported.
		let period = test_params().report_period as u64;
		for p in 1..=3 {
			run_to_period(p);
			report(a, vec![]);
			report(b, vec![]);
			run_to_block(u64::from(p) * period + 2);
		}
		assert_eq!(Routers::<Test>::get(b).unwrap().group, 1);
		for who in [a, b] {
			assert_eq!(Routers::<Test>::get(who).unwrap().status, RouterStatus::Active, "{who}");
		}
	});
}

#[test]
fn every_group_is_judged_when_there_are_more_groups_than_blocks_in_a_period() {
	ExtBuilder::default().accounts(1_100).build_and_execute(|| {
		for who in 1..=1_100 {
			register(who, b"DE", None);
		}
		let groups = sizes().len() as u32;
		assert!(groups > test_params().report_period, "{groups} groups");
		// Nobody reports: once the silence limit is reached, every router of every group is
		// quarantined within the next period's sweep.
		run_to_period(test_params().missed_reports_limit + 2);
		for group in 0..groups {
			for member in GroupMembers::<Test>::get(group) {
				assert!(
					matches!(
						Routers::<Test>::get(member.account).unwrap().status,
						RouterStatus::Quarantined { reason: QuarantineReason::Silent, .. }
					),
					"router {} of group {group}",
					member.account
				);
			}
		}
	});
}

#[test]
fn version_1_routers_migrate_to_version_3_once() {
	use crate::migrations::{v1, V1ToV2, V2ToV3};
	use frame_support::traits::{GetStorageVersion, OnRuntimeUpgrade, StorageVersion};
	ExtBuilder::default().build_and_execute(|| {
		register(1, b"DE", Some(1));
		register(2, b"DE", Some(1));
		run_to_period(1);
		report(2, vec![]);
		// Rewrite both routers in the old layout, as a chain at version 1 holds them.
		#[frame_support::storage_alias]
		type Routers = StorageMap<Ditex, frame_support::Blake2_128Concat, u64, v1::RouterInfo>;
		for who in [1, 2] {
			let new = crate::Routers::<Test>::get(who).unwrap();
			let old = v1::RouterInfo {
				endpoint: new.endpoint,
				geo: new.geo,
				pulse_key: new.pulse_key,
				group: new.group,
				deposit: new.deposit,
				registered_in: new.registered_in,
				last_report: new.last_report,
				status: new.status,
				poor_streak: new.poor_streak,
				clean_streak: new.clean_streak,
			};
			Routers::insert(who, old);
		}
		StorageVersion::new(1).put::<Ditex>();

		// The runtime runs both, in order.
		type Both = (V1ToV2<Test>, V2ToV3<Test>);
		#[cfg(feature = "try-runtime")]
		assert_ok!(Both::try_on_runtime_upgrade(true));
		#[cfg(not(feature = "try-runtime"))]
		Both::on_runtime_upgrade();

		assert_eq!(Ditex::on_chain_storage_version(), StorageVersion::new(3));
		let two = crate::Routers::<Test>::get(2).unwrap();
		assert_eq!((two.last_report, two.previous_report), (Some(1), None));
		assert_eq!(two.membership, crate::Membership { since: 0, previous: None, until: None });
		assert_eq!(two.registered_epoch, 0);
		assert_eq!(crate::Routers::<Test>::get(1).unwrap().deposit, DEPOSIT);
		// At version 3 they do nothing.
		let before = crate::Routers::<Test>::get(2);
		Both::on_runtime_upgrade();
		assert_eq!(crate::Routers::<Test>::get(2), before);
	});
}

#[test]
fn version_3_routers_get_their_endpoints_and_keys_recorded_once() {
	use crate::migrations::V3ToV4;
	use frame_support::traits::{GetStorageVersion, OnRuntimeUpgrade, StorageVersion};
	ExtBuilder::default().build_and_execute(|| {
		register(1, b"DE", Some(1));
		register(2, b"DE", Some(1));
		// A chain at version 3 has no records of who owns what.
		let _ = EndpointOwners::<Test>::clear(u32::MAX, None);
		let _ = crate::PulseKeyOwners::<Test>::clear(u32::MAX, None);
		StorageVersion::new(3).put::<Ditex>();

		#[cfg(feature = "try-runtime")]
		assert_ok!(V3ToV4::<Test>::try_on_runtime_upgrade(true));
		#[cfg(not(feature = "try-runtime"))]
		V3ToV4::<Test>::on_runtime_upgrade();

		assert_eq!(Ditex::on_chain_storage_version(), StorageVersion::new(4));
		for who in [1, 2] {
			assert_eq!(EndpointOwners::<Test>::get(endpoint(who)), Some(who));
			assert_eq!(crate::PulseKeyOwners::<Test>::get(key(who)), Some(who));
		}
		// The rule holds from then on.
		assert_noop!(
			Ditex::register_router(RuntimeOrigin::signed(3), endpoint(1), geo(b"DE"), key(3), None),
			Error::<Test>::EndpointTaken
		);
		// At version 4 it does nothing.
		let _ = EndpointOwners::<Test>::clear(u32::MAX, None);
		V3ToV4::<Test>::on_runtime_upgrade();
		assert_eq!(EndpointOwners::<Test>::iter_keys().count(), 0);
		// (Put them back for the state checks after the test.)
		for who in [1, 2] {
			EndpointOwners::<Test>::insert(endpoint(who), who);
		}
	});
}

// ---- parameters ----

#[test]
fn root_tunes_thresholds_but_not_clocks() {
	ExtBuilder::default().build_and_execute(|| {
		let mut params = test_params();
		params.max_rtt_us = 1;
		assert_noop!(Ditex::set_params(RuntimeOrigin::signed(1), params), DispatchError::BadOrigin);
		assert_ok!(Ditex::set_params(RuntimeOrigin::root(), params));
		assert_eq!(Params::<Test>::get().max_rtt_us, 1);
		let clock = crate::DitexParams { epoch_length: 11, ..params };
		assert_noop!(Ditex::set_params(RuntimeOrigin::root(), clock), Error::<Test>::InvalidParams);
		let zero = crate::DitexParams { stale_after: 0, ..params };
		assert_noop!(Ditex::set_params(RuntimeOrigin::root(), zero), Error::<Test>::InvalidParams);
		// The report period has a floor (one block's share of the health sweep is bounded).
		let short = crate::DitexParams { report_period: crate::MIN_REPORT_PERIOD - 1, ..params };
		assert!(!short.is_valid());
		// A router's record outlives the epoch it left and that epoch's claims.
		let hasty = crate::DitexParams { unbond_delay: 2 * params.epoch_length - 1, ..params };
		assert_noop!(Ditex::set_params(RuntimeOrigin::root(), hasty), Error::<Test>::InvalidParams);
		let strict = crate::DitexParams { max_loss_ppm: 0, ..params };
		assert_noop!(
			Ditex::set_params(RuntimeOrigin::root(), strict),
			Error::<Test>::InvalidParams
		);
	});
}

// ---- views and paths ----

/// Four routers; direct 1→4 is slow, 1→2→4 better, 1→2→3→4 best; 3's clock is far behind, so
/// its segments look negative (offsets cancel along any path between the same endpoints).
fn detour_group() {
	for who in 1..=4 {
		register(who, b"DE", Some(u128::from(who as u32)));
	}
	let offset3 = -50_000; // router 3's clock offset, µs
	report(2, vec![measurement(1, 10_000, 20_000, 0), measurement(3, 5_000 - offset3, 10_000, 0)]);
	report(
		3,
		vec![
			measurement(2, 5_000 + offset3, 10_000, 0),
			measurement(1, 60_000 + offset3, 120_000, 0),
		],
	);
	report(
		4,
		vec![
			measurement(1, 80_000, 160_000, 0),
			measurement(2, 30_000, 60_000, 0),
			measurement(3, 5_000 - offset3, 10_000, 0),
		],
	);
}

#[test]
fn the_matrix_view_carries_members_roles_and_fresh_cells() {
	ExtBuilder::default().build_and_execute(|| {
		detour_group();
		assert_ok!(Ditex::quarantine(RuntimeOrigin::root(), 4));
		let matrix = Ditex::matrix(0).unwrap();
		assert_eq!(matrix.members.iter().map(|m| m.account).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
		assert!(matrix.members[3].quarantined && !matrix.members[0].quarantined);
		assert_eq!(matrix.members[1].price_per_gb, Some(2));
		assert_eq!(matrix.cells.len(), 7);
		assert_eq!(Ditex::group_accounts(0), vec![1, 2, 3, 4]);
		assert!(Ditex::matrix(1).is_none());
		let view = Ditex::router_view(&2).unwrap();
		assert_eq!((view.group, view.member_index, view.deposit), (0, Some(1), DEPOSIT));
	});
}

#[test]
fn best_paths_prefer_the_two_hop_detour_over_one_hop_and_direct() {
	ExtBuilder::default().build_and_execute(|| {
		detour_group();
		let matrix = Ditex::matrix(0).unwrap();
		let paths = views::best_paths(&matrix, &1, &4, 3, 2, None).unwrap();
		let hops: Vec<Vec<u64>> = paths.iter().map(|p| p.hops.clone()).collect();
		// Totals without offsets: 1→2→3→4 = 20 ms, 1→2→4 = 40 ms, 1→3→4 = 65 ms, 1→4 = 80 ms.
		assert_eq!(hops, vec![vec![1, 2, 3, 4], vec![1, 2, 4], vec![1, 3, 4]]);
		assert_eq!(paths[0].latency_us, 20_000);
		assert_eq!(paths[0].price_per_gb, 1 + 2 + 3 + 4);
		// A price cap drops the expensive detours.
		let cheap = views::best_paths(&matrix, &1, &4, 3, 2, Some(7)).unwrap();
		assert_eq!(
			cheap.iter().map(|p| p.hops.clone()).collect::<Vec<_>>(),
			vec![vec![1, 2, 4], vec![1, 4]]
		);
		// One intermediate at most: the 2-hop detour is out.
		let short = views::best_paths(&matrix, &1, &4, 1, 1, None).unwrap();
		assert_eq!(short[0].hops, vec![1, 2, 4]);
		assert_eq!(
			views::best_paths(&matrix, &1, &1, 1, 2, None),
			Err(views::PathError::SameEndpoints)
		);
		assert_eq!(
			views::best_paths(&matrix, &1, &9, 1, 2, None),
			Err(views::PathError::NotInGroup)
		);
	});
}

#[test]
fn unpriced_and_quarantined_routers_are_not_transit() {
	ExtBuilder::default().build_and_execute(|| {
		detour_group();
		assert_ok!(Ditex::set_price(RuntimeOrigin::signed(3), None));
		run_to_block(Ditex::block_number() as u64 + 10);
		let matrix = Ditex::matrix(0);
		// Rows may have gone stale? No: one epoch later they are fresh (stale_after = 3).
		let matrix = matrix.unwrap();
		let paths = views::best_paths(&matrix, &1, &4, 5, 2, None).unwrap();
		assert!(paths.iter().all(|p| !p.hops.contains(&3)), "3 sells nothing: {paths:?}");
		assert_ok!(Ditex::quarantine(RuntimeOrigin::root(), 2));
		let matrix = Ditex::matrix(0).unwrap();
		let paths = views::best_paths(&matrix, &1, &4, 5, 2, None).unwrap();
		assert_eq!(paths.iter().map(|p| p.hops.clone()).collect::<Vec<_>>(), vec![vec![1, 4]]);
		assert_eq!(
			views::best_paths(&matrix, &2, &4, 1, 2, None),
			Err(views::PathError::Quarantined)
		);
	});
}

#[test]
fn epoch_starts_are_recorded_and_pruned() {
	ExtBuilder::default().build_and_execute(|| {
		run_to_block(200);
		assert_eq!(crate::EpochStarts::<Test>::get(20), Some(GENESIS_MS + 200 * BLOCK_MS));
		assert_eq!(crate::EpochStarts::<Test>::get(5), None, "pruned");
		assert_eq!(<Ditex as RouterRegistry<u64>>::current_epoch(), 20);
		assert_eq!(<Ditex as RouterRegistry<u64>>::epoch_length(), 10);
	});
}

// ---- one router per endpoint and per pulse key ----

#[test]
fn no_router_can_list_another_routers_endpoint_or_pulse_key() {
	ExtBuilder::default().build_and_execute(|| {
		register(1, b"DE", Some(1));
		let taken = |endpoint, key| {
			Ditex::register_router(RuntimeOrigin::signed(2), endpoint, geo(b"DE"), key, None)
		};
		assert_noop!(taken(endpoint(1), key(2)), Error::<Test>::EndpointTaken);
		assert_noop!(taken(endpoint(2), key(1)), Error::<Test>::PulseKeyTaken);
		// Nor can a registered router move onto them.
		register(2, b"DE", Some(1));
		assert_noop!(taken(endpoint(1), key(2)), Error::<Test>::EndpointTaken);
		assert_noop!(taken(endpoint(2), key(1)), Error::<Test>::PulseKeyTaken);
		// Its own it may list again, and what it gives up is free for others (an endpoint at
		// once; a pulse key once the new one is in force and the router registers again).
		assert_ok!(taken(endpoint(3), key(3)));
		assert_eq!(EndpointOwners::<Test>::get(endpoint(3)), Some(2));
		assert_eq!(EndpointOwners::<Test>::get(endpoint(2)), None);
		run_to_block(u64::from(Ditex::current_epoch() + 1) * 10);
		assert_ok!(taken(endpoint(3), key(3)));
		assert_ok!(Ditex::register_router(
			RuntimeOrigin::signed(1),
			endpoint(2),
			geo(b"DE"),
			key(2),
			None
		));
	});
}

#[test]
fn an_endpoint_and_a_key_are_released_with_the_deposit_not_before() {
	ExtBuilder::default().build_and_execute(|| {
		register(1, b"DE", Some(1));
		assert_ok!(Ditex::unregister(RuntimeOrigin::signed(1)));
		let again = || {
			Ditex::register_router(RuntimeOrigin::signed(2), endpoint(1), geo(b"DE"), key(1), None)
		};
		assert_noop!(again(), Error::<Test>::EndpointTaken);
		let until = match Routers::<Test>::get(1).unwrap().status {
			RouterStatus::Unbonding { until } => until,
			other => panic!("unbonding expected, got {other:?}"),
		};
		run_to_block(until.into());
		assert_ok!(Ditex::withdraw_deposit(RuntimeOrigin::signed(1)));
		assert_ok!(again());
	});
}
