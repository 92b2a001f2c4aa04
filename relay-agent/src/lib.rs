//! # srwan-relay
//!
//! The relay agent of srwan. It joins a group of relays, pulses its peers to measure one-way
//! latency, keeps the group's live latency matrix, reroutes traffic around degraded Internet
//! paths through other relays, forwards packets in a UDP segment-routing data plane, counts
//! octets per peer and reports to the chain.
//!
//! This crate is a library (the sans-IO protocol core and the drivers) with a thin binary,
//! `srwan-relay`: [`config`] loads and validates the TOML file; [`proto`] is the sans-IO core
//! (wire formats, pulse measurement, path hysteresis); the UDP driver and dashboard build on it;
//! [`chain`] is the client of the srwan chain (account, listing, one signer task).

pub mod chain;
pub mod config;
pub mod dash;
#[doc(hidden)]
pub mod fuzzing;
pub mod geo;
pub mod hex;
pub mod identity;
pub mod launch;
pub mod net;
pub mod proto;
pub mod store;
