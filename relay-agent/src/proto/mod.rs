//! The sans-IO protocol core: wire formats and state machines with time passed in. Nothing
//! here touches a socket or a clock, so every rule is testable exactly (and property-tested).
//!
//! - [`consent`]: the consumer's signature binding each flow version to the account that pays;
//! - [`counters`]: octets per (boot, epoch, peer), what a relay claims;
//! - [`data_mac`]: the MAC construction of each link's tag on data packets;
//! - [`data_path`]: data packets without the core's lock: the view workers read, the windows
//!   and sequences all senders share, each worker's own counts;
//! - [`link`]: per-link MAC keys between neighbours and the replay window of each link;
//! - [`gate`]: a control datagram's sender, budget and signature, checked before the core;
//! - [`e2e`]: the payload's end-to-end encryption between a flow's ingress and egress;
//! - [`wire`]: byte layouts of pulses and data packets (see `docs/PROTOCOL.md`);
//! - [`relay`]: the packet logic of one relay (pulses in and out, forwarding, encapsulation);
//! - [`pulse`]: per-peer measurement (OWD median, RTT, jitter, loss) and replay protection;
//! - [`hysteresis`]: when to leave the direct path for a detour and when to come back;
//! - [`path_control`]: a tunnel's probes, their timeouts and losses, its path and setups;
//! - [`matrix`]: the group's live latency matrix with expiry and the OWD/RTT cross-check;
//! - [`metering`]: consumers' receipts along a flow's path, their keys, the credit window.

pub mod consent;
pub mod counters;
pub mod data_mac;
pub mod data_path;
pub mod e2e;
pub mod gate;
pub mod hysteresis;
pub mod link;
pub mod matrix;
pub mod metering;
pub mod path_control;
pub mod pulse;
pub mod relay;
pub mod wire;
