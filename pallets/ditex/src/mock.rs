//! A test runtime: System, Balances (holds), Timestamp and the exchange.

use crate::{self as pallet_ditex, DitexParams};
use frame_support::{
	derive_impl,
	traits::{ConstU128, ConstU32, Hooks},
};
use sp_runtime::BuildStorage;
use srwan_primitives::{
	currency::Balance,
	ditex::{Endpoint, Geo},
};

type Block = frame_system::mocking::MockBlock<Test>;

frame_support::construct_runtime!(
	pub enum Test {
		System: frame_system,
		Balances: pallet_balances,
		Timestamp: pallet_timestamp,
		Ditex: pallet_ditex,
	}
);

#[derive_impl(frame_system::config_preludes::TestDefaultConfig)]
impl frame_system::Config for Test {
	type Block = Block;
	type AccountData = pallet_balances::AccountData<Balance>;
	// Blocks as large as the runtime's (2 s of compute), for the health sweep's integrity test.
	type BlockWeights = MockBlockWeights;
}

frame_support::parameter_types! {
	/// 2 s of compute a block, like the runtime's.
	pub MockBlockWeights: frame_system::limits::BlockWeights =
		frame_system::limits::BlockWeights::simple_max(frame_support::weights::Weight::from_parts(
			2 * frame_support::weights::constants::WEIGHT_REF_TIME_PER_SECOND,
			u64::MAX,
		));
}

#[derive_impl(pallet_balances::config_preludes::TestDefaultConfig)]
impl pallet_balances::Config for Test {
	type Balance = Balance;
	type AccountStore = System;
	type ExistentialDeposit = ConstU128<1>;
	type RuntimeHoldReason = RuntimeHoldReason;
}

impl pallet_timestamp::Config for Test {
	type Moment = u64;
	type OnTimestampSet = ();
	type MinimumPeriod = frame_support::traits::ConstU64<1>;
	type WeightInfo = ();
}

/// The deposit every router puts on hold.
pub const DEPOSIT: Balance = 100;
/// Every funded account starts with this.
pub const INITIAL: Balance = 1_000_000;
/// Block time of the mock chain, ms.
pub const BLOCK_MS: u64 = 6_000;
/// Monday 2026-11-23 00:00 UTC: block 0's time, so minute-of-week = block × 0.1.
pub const GENESIS_MS: u64 = 1_795_392_000_000;

impl pallet_ditex::Config for Test {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type UnixTime = Timestamp;
	type RouterDeposit = ConstU128<DEPOSIT>;
	type MaxGroupSize = ConstU32<100>;
	type MaxGroups = ConstU32<64>;
	type MaxPremiumWindows = ConstU32<4>;
	type OnRemoved = ();
	type MaxRebalanceSteps = ConstU32<16>;
	type WeightInfo = ();
}

/// The dev-chain parameters of DESIGN.md, with short quarantine clocks.
pub fn test_params() -> DitexParams {
	DitexParams {
		epoch_length: 10,
		report_period: 10,
		stale_after: 3,
		missed_reports_limit: 3,
		poor_periods: 2,
		quarantine_cooldown: 2,
		max_rtt_us: 200_000,
		max_loss_ppm: 50_000,
		unbond_delay: 20,
	}
}

/// Builds test externalities with `accounts` funded accounts (1..=accounts).
pub struct ExtBuilder {
	accounts: u64,
}

impl Default for ExtBuilder {
	fn default() -> Self {
		Self { accounts: 20 }
	}
}

impl ExtBuilder {
	/// Funds accounts `1..=n`.
	pub fn accounts(mut self, n: u64) -> Self {
		self.accounts = n;
		self
	}

	/// The externalities at block 1.
	pub fn build(self) -> sp_io::TestExternalities {
		let mut storage = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
		pallet_balances::GenesisConfig::<Test> {
			balances: (1..=self.accounts).map(|a| (a, INITIAL)).collect(),
			..Default::default()
		}
		.assimilate_storage(&mut storage)
		.unwrap();
		pallet_ditex::GenesisConfig::<Test> { params: test_params(), ..Default::default() }
			.assimilate_storage(&mut storage)
			.unwrap();
		let mut ext = sp_io::TestExternalities::new(storage);
		ext.execute_with(|| run_to_block(1));
		ext
	}

	/// Runs `test`, then checks the pallet's invariants.
	pub fn build_and_execute(self, test: impl FnOnce()) {
		self.build().execute_with(|| {
			test();
			Ditex::do_try_state().expect("invariants hold after every test");
		})
	}
}

/// Runs blocks up to `n` with their hooks and a 6 s clock.
pub fn run_to_block(n: u64) {
	while System::block_number() < n {
		let next = System::block_number() + 1;
		if next > 1 {
			Ditex::on_finalize(System::block_number());
		}
		System::set_block_number(next);
		System::reset_events();
		Ditex::on_initialize(next);
		pallet_timestamp::Now::<Test>::put(GENESIS_MS + next * BLOCK_MS);
	}
	// The current block's `on_finalize` records its epoch start like a real block would.
	Ditex::on_finalize(System::block_number());
}

/// Runs to the first block of report period `period`.
pub fn run_to_period(period: u32) {
	run_to_block(u64::from(period) * u64::from(test_params().report_period));
}

/// A valid endpoint that differs per router.
pub fn endpoint(who: u64) -> Endpoint {
	// One per router (endpoints are unique): the port tells them apart.
	Endpoint::V4 { ip: [192, 0, 2, 1], port: 4500u16.saturating_add(who as u16) }
}

/// A valid location in `country`.
pub fn geo(country: &[u8; 2]) -> Geo {
	Geo { country: *country, asn: 64_500, lat: 48_8566, lon: 2_3522 }
}

/// A non-zero pulse key.
pub fn key(who: u64) -> [u8; 32] {
	let mut key = [7u8; 32];
	key[..8].copy_from_slice(&who.to_le_bytes());
	key
}

/// Registers `who` in `country` with `price`.
pub fn register(who: u64, country: &[u8; 2], price: Option<Balance>) {
	frame_support::assert_ok!(Ditex::register_router(
		RuntimeOrigin::signed(who),
		endpoint(who),
		geo(country),
		key(who),
		price
	));
}
