//! The runtime's benchmark list: `srwan-node benchmark pallet` and `scripts/bench.sh` read it.
//! Each srwan pallet adds itself here when it lands.

frame_benchmarking::define_benchmarks!(
	[frame_benchmarking, BaselineBench::<Runtime>]
	[frame_system, SystemBench::<Runtime>]
	[pallet_balances, Balances]
	[pallet_timestamp, Timestamp]
	[pallet_sudo, Sudo]
	[pallet_ditex, Ditex]
	[pallet_escrow, Escrow]
	[pallet_tickets, Tickets]
	[pallet_fee_split, FeeSplit]
	[pallet_coin_voting, CoinVoting]
	[pallet_validators, Validators]
);

pub use crate::{
	Balances, CoinVoting, Ditex, Escrow, FeeSplit, Runtime, Sudo, Tickets, Timestamp, Validators,
};
pub use frame_benchmarking::baseline::Pallet as BaselineBench;
pub use frame_system_benchmarking::Pallet as SystemBench;
