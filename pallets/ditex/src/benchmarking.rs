//! Benchmarks (v2) of every call and of the two period hooks, at their worst cases.

use super::*;
use crate::Pallet as Ditex;
use alloc::vec::Vec;
use frame_benchmarking::v2::*;
use frame_support::{
	traits::{fungible::Mutate, Get},
	BoundedVec,
};
use frame_system::RawOrigin;
use srwan_primitives::{
	currency::SRW,
	ditex::{Endpoint, Geo, PeerMeasurement, PremiumWindow},
};

fn router<T: Config>(index: u32) -> T::AccountId {
	let who: T::AccountId = account("router", index, 0);
	T::Currency::set_balance(&who, T::RouterDeposit::get().saturating_mul(10).saturating_add(SRW));
	who
}

fn geo(index: u32) -> Geo {
	// One country per hundred routers: each group starts with a single country, which is the
	// most spreading work rebalancing can face.
	let letter = b'A' + ((index / 100) % 26) as u8;
	Geo { country: [letter, b'Z'], asn: 64_500, lat: 10_0000, lon: 20_0000 }
}

fn register<T: Config>(index: u32) -> T::AccountId {
	let who = router::<T>(index);
	let mut key = [1u8; 32];
	key[..4].copy_from_slice(&index.to_le_bytes());
	let endpoint = Endpoint::V4 { ip: [10, 0, (index >> 8) as u8, index as u8], port: 4500 };
	let registered = Ditex::<T>::register_router(
		RawOrigin::Signed(who.clone()).into(),
		endpoint,
		geo(index),
		key,
		Some(1),
	);
	assert!(registered.is_ok(), "benchmark setup registers router {index}");
	who
}

fn full_row<T: Config>(who: &T::AccountId, peers: &[T::AccountId], rtt_us: u32) -> RowOf<T> {
	let entries: Vec<_> = peers
		.iter()
		.filter(|peer| *peer != who)
		.map(|peer| PeerMeasurement {
			peer: peer.clone(),
			owd_us: -1_000,
			rtt_us,
			jitter_us: 500,
			loss_ppm: 100,
			samples: 60,
		})
		.collect();
	BoundedVec::truncate_from(entries)
}

#[benchmarks]
mod benchmarks {
	use super::*;

	/// A new router joining a group of `MaxGroupSize − 1`.
	#[benchmark]
	fn register_router() {
		for i in 0..T::MaxGroupSize::get().saturating_sub(1) {
			register::<T>(i);
		}
		let who = router::<T>(u32::MAX);
		let endpoint =
			Endpoint::V6 { ip: [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9], port: 9 };
		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), endpoint, geo(0), [9u8; 32], Some(5));
		assert!(Routers::<T>::contains_key(&who));
	}

	/// A registered router, last in a full group, moving to another country (`geo(100)`) and endpoint and
	/// naming a new pulse key just after its previous new key came into force: the most a
	/// re-registration reads and writes.
	#[benchmark]
	fn update_router() {
		let size = T::MaxGroupSize::get();
		for i in 0..size.saturating_sub(1) {
			register::<T>(i);
		}
		let who = register::<T>(size.saturating_sub(1));
		let info = Routers::<T>::get(&who).expect("registered");
		let scheduled = Ditex::<T>::register_router(
			RawOrigin::Signed(who.clone()).into(),
			info.endpoint,
			info.geo,
			[0xaa; 32],
			Some(1),
		);
		assert!(scheduled.is_ok(), "a new pulse key is scheduled");
		let next_epoch = Ditex::<T>::current_epoch().saturating_add(1);
		let first_block = next_epoch.saturating_mul(Params::<T>::get().epoch_length);
		frame_system::Pallet::<T>::set_block_number(first_block.into());
		let moved =
			Endpoint::V6 { ip: [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7], port: 7 };
		#[extrinsic_call]
		register_router(RawOrigin::Signed(who.clone()), moved, geo(100), [0xbb; 32], Some(5));
		let info = Routers::<T>::get(&who).expect("still registered");
		assert_eq!(info.pulse_key, [0xaa; 32], "the key in force became the router's own");
		assert_eq!(NextPulseKeys::<T>::get(&who).map(|next| next.key), Some([0xbb; 32]));
	}

	#[benchmark]
	fn set_price() {
		let who = register::<T>(0);
		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), Some(7));
		assert_eq!(Listings::<T>::get(&who).len(), 2);
	}

	#[benchmark]
	fn set_premium_windows(w: Linear<0, { T::MaxPremiumWindows::get() }>) {
		let who = register::<T>(0);
		let windows: Vec<_> = (0..w)
			.map(|i| PremiumWindow {
				weekdays: 0x7f,
				start_minute: (i * 60) as u16,
				end_minute: (i * 60 + 30) as u16,
				price_per_gb: 9,
				max_rtt_us: 30_000,
			})
			.collect();
		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), BoundedVec::truncate_from(windows));
		assert_eq!(Listings::<T>::get(&who).len(), 2);
	}

	/// A row of `n` peers in a full group.
	#[benchmark]
	fn report(n: Linear<0, { T::MaxGroupSize::get().saturating_sub(1) }>) {
		let members: Vec<_> = (0..T::MaxGroupSize::get()).map(register::<T>).collect();
		let who = members[0].clone();
		let mut row = full_row::<T>(&who, &members, 20_000);
		row.truncate(n as usize);
		let period = Ditex::<T>::current_period();
		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), period, row);
		assert_eq!(Rows::<T>::get(&who).map(|r| r.entries.len() as u32), Some(n));
	}

	#[benchmark]
	fn quarantine() {
		let who = register::<T>(0);
		#[extrinsic_call]
		_(RawOrigin::Root, who.clone());
		assert!(matches!(
			Routers::<T>::get(&who).map(|r| r.status),
			Some(RouterStatus::Quarantined { .. })
		));
	}

	#[benchmark]
	fn release() {
		let who = register::<T>(0);
		assert!(Ditex::<T>::quarantine(RawOrigin::Root.into(), who.clone()).is_ok());
		#[extrinsic_call]
		_(RawOrigin::Root, who.clone());
		assert_eq!(Routers::<T>::get(&who).map(|r| r.status), Some(RouterStatus::Active));
	}

	/// Leaving a full group.
	#[benchmark]
	fn unregister() {
		let members: Vec<_> = (0..T::MaxGroupSize::get()).map(register::<T>).collect();
		let who = members[0].clone();
		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()));
		assert_eq!(GroupMembers::<T>::get(0).len() as u32, T::MaxGroupSize::get() - 1);
	}

	#[benchmark]
	fn withdraw_deposit() {
		let who = register::<T>(0);
		assert!(Ditex::<T>::unregister(RawOrigin::Signed(who.clone()).into()).is_ok());
		let until = Ditex::<T>::block_number().saturating_add(Params::<T>::get().unbond_delay);
		frame_system::Pallet::<T>::set_block_number(until.into());
		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()));
		assert!(!Routers::<T>::contains_key(&who));
	}

	#[benchmark]
	fn set_params() {
		let mut params = Params::<T>::get();
		params.max_rtt_us = 1;
		#[extrinsic_call]
		_(RawOrigin::Root, params);
		assert_eq!(Params::<T>::get().max_rtt_us, 1);
	}

	/// One rebalancing round over `n` routers, each group of a single country (so every step
	/// is a swap) and the last group small (so size steps come first).
	#[benchmark]
	fn rebalance(n: Linear<2, { T::MaxGroups::get() * T::MaxGroupSize::get() }>) {
		for i in 0..n {
			register::<T>(i);
		}
		RebalancePending::<T>::put(true);
		#[block]
		{
			Ditex::<T>::rebalance_step();
		}
		assert_eq!(RouterCount::<T>::get(), n);
	}

	/// Health of a group of `n` routers that all reported full rows of poor segments, so
	/// every member is evaluated against every row and quarantined; every member sells the
	/// period under a premium window, so each one's RTT verdict is recorded too.
	#[benchmark]
	fn evaluate_group(n: Linear<1, { T::MaxGroupSize::get() }>) {
		let members: Vec<_> = (0..n).map(register::<T>).collect();
		let period = Ditex::<T>::current_period();
		let epoch = Ditex::<T>::current_epoch();
		EpochStarts::<T>::insert(epoch, 0);
		let all_week = PremiumWindow {
			weekdays: 0x7f,
			start_minute: 0,
			end_minute: 24 * 60 - 1,
			price_per_gb: 2,
			max_rtt_us: 1,
		};
		for who in &members {
			Listings::<T>::mutate(who, |listings| {
				if let Some(listing) = listings.last_mut() {
					listing.windows = BoundedVec::truncate_from(alloc::vec![all_week]);
				}
			});
		}
		let poor = Params::<T>::get().max_rtt_us.saturating_add(1);
		for who in &members {
			let row = full_row::<T>(who, &members, poor);
			assert!(Ditex::<T>::report(RawOrigin::Signed(who.clone()).into(), period, row).is_ok());
			Routers::<T>::mutate(who, |info| {
				if let Some(info) = info {
					info.poor_streak = Params::<T>::get().poor_periods;
				}
			});
		}
		#[block]
		{
			Ditex::<T>::evaluate_group(0, period);
		}
		let quarantined = members
			.iter()
			.filter(|who| {
				matches!(
					Routers::<T>::get(*who).map(|r| r.status),
					Some(RouterStatus::Quarantined { .. })
				)
			})
			.count() as u32;
		assert_eq!(quarantined, if n > 1 { n } else { 0 });
		if n > 1 {
			let verdicts = PremiumRtt::<T>::get(&members[0]);
			assert!(verdicts.iter().any(|v| v.epoch == epoch && v.broken()), "a broken promise");
		}
	}

	impl_benchmark_test_suite!(
		Ditex,
		crate::mock::ExtBuilder::default().build(),
		crate::mock::Test
	);
}
