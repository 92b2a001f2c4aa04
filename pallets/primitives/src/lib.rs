//! # srwan primitives
//!
//! What the runtime, the node and the relay agent share, in `no_std` SCALE form so that all
//! three agree byte for byte: the currency and its units today; ids, geo, metrics rows,
//! receipts, claims and the `routing` module as the DITEX and relay issues land.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod currency;
pub mod ditex;
pub mod routing;
#[cfg(feature = "std")]
pub mod serde_balance;
