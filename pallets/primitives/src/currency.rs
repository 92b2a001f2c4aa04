//! The SRW token: 12 decimals, so one SRW is 10^12 base units.

/// An amount of SRW in base units (10^-12 SRW).
pub type Balance = u128;

/// Decimals of SRW (chain property `tokenDecimals`).
pub const DECIMALS: u8 = 12;
/// Ticker of the token (chain property `tokenSymbol`).
pub const SYMBOL: &str = "SRW";
/// SS58 address prefix of the chain (chain property `ss58Format`): generic Substrate.
pub const SS58_FORMAT: u16 = 42;

/// One SRW in base units.
pub const SRW: Balance = 10u128.pow(DECIMALS as u32);
/// One thousandth of an SRW.
pub const MILLI_SRW: Balance = SRW / 1_000;
/// One millionth of an SRW.
pub const MICRO_SRW: Balance = SRW / 1_000_000;

/// Minimum balance an account must keep to exist: one thousandth of an SRW.
pub const EXISTENTIAL_DEPOSIT: Balance = MILLI_SRW;

// The units must nest exactly; checked at compile time.
const _: () = assert!(MILLI_SRW * 1_000 == SRW && MICRO_SRW * 1_000_000 == SRW);
const _: () = assert!(EXISTENTIAL_DEPOSIT > 0);
