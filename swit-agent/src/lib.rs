//! swit's agent: loads the kernel programs, rebuilds the traffic of traced
//! processes, and exports it as OpenTelemetry spans.
pub mod agent;
pub mod capture;
pub mod check;
pub mod config;
pub mod export;
pub mod memory;
pub mod metrics;
pub mod preflight;
pub mod probe;
pub mod protocol;
pub mod redact;
pub mod selection;
pub mod trace;

#[cfg(test)]
#[path = "folders_tests.rs"]
mod folders_tests;
