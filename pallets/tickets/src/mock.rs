//! A test runtime: System, Balances, the real escrow and the tickets pallet, with a registry of
//! routers, prices and quarantine that the tests drive (pallet-ditex has its own tests), and
//! accounts that are real sr25519 keys so receipts are really signed and verified.

use crate::{self as pallet_tickets, TicketParams};
use frame_support::{
	derive_impl, parameter_types,
	traits::{ConstU128, ConstU32, Hooks},
	weights::Weight,
};
use sp_core::{sr25519, Pair};
use sp_runtime::{traits::IdentityLookup, AccountId32, BuildStorage, DispatchResult};
use srwan_primitives::{
	currency::Balance,
	ditex::{EpochIndex, GroupId, PriceInForce},
	receipts::{Claim, PeerOctets, SignedReceipt, UsageReceipt},
};
use std::collections::{BTreeMap, BTreeSet};

type Block = frame_system::mocking::MockBlock<Test>;

frame_support::construct_runtime!(
	pub enum Test {
		System: frame_system,
		Balances: pallet_balances,
		Escrow: pallet_escrow,
		Tickets: pallet_tickets,
	}
);

#[derive_impl(frame_system::config_preludes::TestDefaultConfig)]
impl frame_system::Config for Test {
	type Block = Block;
	type AccountId = AccountId32;
	type Lookup = IdentityLookup<AccountId32>;
	type AccountData = pallet_balances::AccountData<u128>;
}

#[derive_impl(pallet_balances::config_preludes::TestDefaultConfig)]
impl pallet_balances::Config for Test {
	type Balance = u128;
	type AccountStore = System;
	type ExistentialDeposit = ConstU128<1>;
	type RuntimeHoldReason = RuntimeHoldReason;
}

/// Blocks per epoch.
pub const EPOCH: u32 = 10;
/// Blocks after an epoch during which claims are accepted.
pub const WINDOW: u32 = 5;
/// The price of every router unless a test changes it: 10^6 per GB, 1 per 1,000 octets.
pub const PRICE: Balance = 1_000_000;

/// The registry's state lives in storage (not thread-locals) so that the benchmarks' rollbacks
/// undo it like they undo the exchange's storage in a runtime.
mod state {
	use frame_support::storage::unhashed;

	pub const REGISTERED: &[u8] = b"mock:registered";
	pub const QUARANTINED: &[u8] = b"mock:quarantined";
	pub const PRICES: &[u8] = b"mock:prices";
	pub const REPORTED: &[u8] = b"mock:reported";
	pub const UNJUDGED: &[u8] = b"mock:unjudged";
	pub const GROUPS: &[u8] = b"mock:groups";
	pub const REGISTERED_EPOCHS: &[u8] = b"mock:registered-epochs";

	pub fn get<V: codec::Decode + Default>(key: &[u8]) -> V {
		unhashed::get_or_default(key)
	}

	pub fn update<V: codec::Codec + Default>(key: &[u8], f: impl FnOnce(&mut V)) {
		let mut value = get(key);
		f(&mut value);
		unhashed::put(key, &value);
	}
}

type Schedule = BTreeMap<AccountId32, Vec<(EpochIndex, Option<Balance>)>>;
type Groups = BTreeMap<AccountId32, Vec<(EpochIndex, Option<GroupId>)>>;

/// The registry the tests drive: epoch = block / 10.
pub struct Registry;
impl srwan_primitives::traits::RouterRegistry<AccountId32> for Registry {
	fn current_epoch() -> EpochIndex {
		(System::block_number() as u32) / EPOCH
	}
	fn epoch_length() -> u32 {
		EPOCH
	}
	fn is_registered(router: &AccountId32) -> bool {
		state::get::<BTreeSet<AccountId32>>(state::REGISTERED).contains(router)
	}
	fn is_quarantined(router: &AccountId32) -> bool {
		state::get::<BTreeMap<AccountId32, EpochIndex>>(state::QUARANTINED).contains_key(router)
	}
	fn price_at_epoch_start(router: &AccountId32, epoch: EpochIndex) -> Option<PriceInForce> {
		let schedule: Schedule = state::get(state::PRICES);
		let (_, price) = schedule.get(router)?.iter().rev().find(|(from, _)| *from <= epoch)?;
		Some(PriceInForce { price_per_gb: *price, premium: None })
	}
	fn epoch_judged(epoch: EpochIndex) -> bool {
		!state::get::<BTreeSet<EpochIndex>>(state::UNJUDGED).contains(&epoch)
	}
	fn group_at(router: &AccountId32, epoch: EpochIndex) -> Option<GroupId> {
		if !Self::is_registered(router) {
			return None;
		}
		let groups: Groups = state::get(state::GROUPS);
		match groups.get(router) {
			// Every registered router counts in group 0 unless a test moved it.
			None => Some(0),
			Some(schedule) => schedule.iter().rev().find(|(from, _)| *from <= epoch)?.1,
		}
	}
	fn registered_epoch(router: &AccountId32) -> Option<EpochIndex> {
		let epochs: BTreeMap<AccountId32, EpochIndex> = state::get(state::REGISTERED_EPOCHS);
		Self::is_registered(router).then(|| epochs.get(router).copied().unwrap_or(0))
	}
	fn quarantined_for(router: &AccountId32, epoch: EpochIndex) -> bool {
		state::get::<BTreeMap<AccountId32, EpochIndex>>(state::QUARANTINED)
			.get(router)
			.is_some_and(|since| *since < epoch)
	}
}

/// Puts `router` in `group` (`None`: in none) from `epoch` on.
pub fn set_group(router: &AccountId32, epoch: EpochIndex, group: Option<GroupId>) {
	state::update(state::GROUPS, |g: &mut Groups| {
		g.entry(router.clone()).or_insert_with(|| vec![(0, Some(0))]).push((epoch, group))
	});
}

/// Records that `router` registered in `epoch` (its age counts from there).
pub fn set_registered_epoch(router: &AccountId32, epoch: EpochIndex) {
	state::update(state::REGISTERED_EPOCHS, |e: &mut BTreeMap<AccountId32, EpochIndex>| {
		e.insert(router.clone(), epoch);
	});
}

/// Holds back the exchange's verdict on `epoch` (`judged = false`) or gives it.
pub fn set_judged(epoch: EpochIndex, judged: bool) {
	state::update(state::UNJUDGED, |unjudged: &mut BTreeSet<EpochIndex>| {
		if judged {
			unjudged.remove(&epoch);
		} else {
			unjudged.insert(epoch);
		}
	});
}

impl srwan_primitives::traits::Quarantine<AccountId32> for Registry {
	fn quarantine_for_disputes(router: &AccountId32) -> DispatchResult {
		state::update(state::REPORTED, |r: &mut Vec<AccountId32>| r.push(router.clone()));
		quarantine(router);
		Ok(())
	}
}

/// Registers `router` at [`PRICE`].
pub fn register(router: &AccountId32) {
	state::update(state::REGISTERED, |r: &mut BTreeSet<AccountId32>| {
		r.insert(router.clone());
	});
	set_price(router, 0, Some(PRICE));
}

/// Schedules `price` for `router` from `epoch` on.
pub fn set_price(router: &AccountId32, epoch: EpochIndex, price: Option<Balance>) {
	state::update(state::PRICES, |p: &mut Schedule| {
		p.entry(router.clone()).or_default().push((epoch, price))
	});
}

/// Quarantines `router` from now on (as the exchange would: it counts from the next epoch).
pub fn quarantine(router: &AccountId32) {
	let epoch = (System::block_number() as u32) / EPOCH;
	state::update(state::QUARANTINED, |q: &mut BTreeMap<AccountId32, EpochIndex>| {
		q.entry(router.clone()).or_insert(epoch);
	});
}

/// Routers reported for disputes so far.
pub fn reported() -> Vec<AccountId32> {
	state::get(state::REPORTED)
}

parameter_types! {
	pub Infra: AccountId32 = AccountId32::new([0xee; 32]);
	pub const Budget: Weight = Weight::from_parts(2_000_000_000_000, u64::MAX);
}

impl pallet_escrow::Config for Test {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type Epochs = Registry;
	type Settlement = Tickets;
	type SpendingRetention = ConstU32<4>;
	type WeightInfo = ();
}

impl pallet_tickets::Config for Test {
	type Currency = Balances;
	type Registry = Registry;
	type Quarantine = Registry;
	type Escrow = Escrow;
	type InfraAccount = Infra;
	type SettlementBudget = Budget;
	type WeightInfo = ();
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = BenchHelper;
}

/// Benchmark setup against the mock registry and the real escrow.
#[cfg(feature = "runtime-benchmarks")]
pub struct BenchHelper;
#[cfg(feature = "runtime-benchmarks")]
impl crate::BenchmarkHelper<AccountId32> for BenchHelper {
	fn register_router(who: &AccountId32, price_per_gb: Balance) {
		register(who);
		set_price(who, 0, Some(price_per_gb));
	}
	fn start_epoch(_: EpochIndex) {}
	fn fund_escrow(consumer: &AccountId32, amount: Balance) {
		use frame_support::traits::fungible::Mutate;
		Balances::set_balance(consumer, amount.saturating_mul(2));
		Escrow::deposit(RuntimeOrigin::signed(consumer.clone()), amount).expect("escrow deposit");
	}
	fn set_receipt_key(consumer: &AccountId32, key: [u8; 32]) {
		Escrow::set_receipt_key(RuntimeOrigin::signed(consumer.clone()), Some(key))
			.expect("receipt key");
	}
}

/// A relay: `AccountId32([n; 32])`.
pub fn relay(n: u8) -> AccountId32 {
	AccountId32::new([n; 32])
}

/// A consumer's key pair (its account is the public key).
pub fn consumer_pair(n: u8) -> sr25519::Pair {
	sr25519::Pair::from_seed(&[100 + n; 32])
}

/// A consumer's account.
pub fn consumer(n: u8) -> AccountId32 {
	consumer_pair(n).public().into()
}

/// The escrow a consumer needs for its receipts to count (small, so the tests' escrows cover it).
pub const MIN_ESCROW: Balance = 1_000;

/// Every funded account starts with this.
pub const INITIAL: Balance = 1_000_000_000;

/// Relays 1..=9 registered; relays, consumers 1..=3 and the infrastructure funded; block 1.
pub fn new_test_ext() -> sp_io::TestExternalities {
	let mut storage = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
	let funded = (1..=9).map(relay).chain((1..=3).map(consumer)).chain([Infra::get()]);
	pallet_balances::GenesisConfig::<Test> {
		balances: funded.map(|a| (a, INITIAL)).collect(),
		..Default::default()
	}
	.assimilate_storage(&mut storage)
	.unwrap();
	pallet_escrow::GenesisConfig::<Test> {
		withdraw_delay: 20,
		min_escrow: MIN_ESCROW,
		..Default::default()
	}
	.assimilate_storage(&mut storage)
	.unwrap();
	pallet_tickets::GenesisConfig::<Test> {
		// Every router counts against others from its registration (the tests of ages set
		// `min_age_epochs` themselves).
		params: Some(TicketParams {
			claim_window: WINDOW,
			min_age_epochs: 0,
			// The tests' figures are small: disagreements are judged by the relative tolerance
			// (the slack has tests of its own).
			loss_slack_octets: 0,
			..Default::default()
		}),
		..Default::default()
	}
	.assimilate_storage(&mut storage)
	.unwrap();
	let mut ext = sp_io::TestExternalities::new(storage);
	ext.register_extension(sp_keystore::KeystoreExt::new(
		sp_keystore::testing::MemoryKeystore::new(),
	));
	ext.execute_with(|| {
		(1..=9).map(relay).for_each(|r| register(&r));
		System::set_block_number(1);
	});
	ext
}

/// Runs `test`, then checks the invariants.
pub fn build_and_execute(test: impl FnOnce()) {
	new_test_ext().execute_with(|| {
		test();
		Tickets::do_try_state().expect("tickets invariants hold after every test");
		Escrow::do_try_state().expect("escrow invariants hold after every test");
	})
}

/// Moves to block `n`, running the tickets hook in every block on the way.
pub fn run_to_block(n: u64) {
	while System::block_number() < n {
		System::set_block_number(System::block_number() + 1);
		Tickets::on_initialize(System::block_number());
	}
}

/// Moves to the first block of `epoch`.
pub fn run_to_epoch(epoch: EpochIndex) {
	run_to_block(u64::from(epoch * EPOCH));
}

/// Moves past `epoch`'s claim window, so it settles.
pub fn settle_epoch(epoch: EpochIndex) {
	run_to_block(u64::from((epoch + 1) * EPOCH + WINDOW + 1));
}

/// A receipt for `flow` of `consumer n` along `path`.
pub fn receipt(
	n: u8,
	flow: u8,
	path: &[AccountId32],
	epoch: EpochIndex,
	fwd_octets: u64,
	rev_octets: u64,
	nonce: u64,
) -> UsageReceipt<AccountId32> {
	UsageReceipt {
		consumer: consumer(n),
		flow: [flow; 16],
		path: path.to_vec().try_into().expect("path within bounds"),
		epoch,
		fwd_octets,
		rev_octets,
		max_price_per_gb: PRICE * 10,
		nonce,
	}
}

/// Signs `receipt` with `pair` for this chain.
pub fn sign_with(
	receipt: UsageReceipt<AccountId32>,
	pair: &sr25519::Pair,
) -> SignedReceipt<AccountId32> {
	let payload = receipt.signing_payload(&Tickets::genesis_hash());
	SignedReceipt { receipt, signature: pair.sign(&payload).0 }
}

/// Signs `receipt` with its consumer's account key.
pub fn signed(receipt: UsageReceipt<AccountId32>) -> SignedReceipt<AccountId32> {
	let pair = (1..=3u8)
		.map(consumer_pair)
		.find(|p| AccountId32::from(p.public()) == receipt.consumer)
		.expect("a known consumer");
	sign_with(receipt, &pair)
}

/// The boot value every relay runs under unless a test restarts one.
pub const BOOT: u64 = 1_700_000_000;

/// A claim of a relay that ran through the epoch: `(peer, in, out)` counters of the epoch, each
/// peer seen under one boot, and signed receipts.
pub fn claim(
	epoch: EpochIndex,
	peers: &[(AccountId32, u64, u64)],
	receipts: Vec<SignedReceipt<AccountId32>>,
) -> Claim<AccountId32> {
	claim_with_boots(epoch, false, peers, &BTreeMap::new(), receipts)
}

/// A claim that says whether the relay restarted, and the boot values it saw per peer (a peer
/// not in `boots` was seen under [`BOOT`] only).
pub fn claim_with_boots(
	epoch: EpochIndex,
	restarted: bool,
	peers: &[(AccountId32, u64, u64)],
	boots: &BTreeMap<AccountId32, Vec<u64>>,
	receipts: Vec<SignedReceipt<AccountId32>>,
) -> Claim<AccountId32> {
	Claim {
		epoch,
		restarted,
		peers: peers
			.iter()
			.map(|(peer, in_octets, out_octets)| PeerOctets {
				peer: peer.clone(),
				in_octets: *in_octets,
				out_octets: *out_octets,
				peer_boots: boots
					.get(peer)
					.cloned()
					.unwrap_or_else(|| vec![BOOT])
					.try_into()
					.expect("boots within bounds"),
			})
			.collect::<Vec<_>>()
			.try_into()
			.expect("peers within bounds"),
		receipts: receipts.try_into().expect("receipts within bounds"),
	}
}

/// Puts `amount` of consumer `n`'s funds into escrow, as if before the current epoch began (the
/// tests meter the epoch they fund in; a deposit made during an epoch backs its receipts only
/// from the next one, see `fraud_a_deposit_made_during_an_epoch_backs_it_from_the_next`).
pub fn fund(n: u8, amount: Balance) {
	fund_now(n, amount);
	pallet_escrow::Accounts::<Test>::mutate(consumer(n), |account| {
		if let Some(account) = account {
			account.starts.clear();
		}
	});
}

/// Puts `amount` of consumer `n`'s funds into escrow now.
pub fn fund_now(n: u8, amount: Balance) {
	Escrow::deposit(RuntimeOrigin::signed(consumer(n)), amount).expect("escrow deposit");
}
