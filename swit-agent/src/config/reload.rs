//! What a SIGHUP takes from a re-read file, and what waits for a restart.
//!
//! A SIGHUP applies `tracing.enabled` and `agent.targets`. The rest is
//! built into the running agent (exporter, sampler, redaction, buffers,
//! the metrics listener); an operator who edits it and sends SIGHUP is
//! told which keys wait, rather than left to think they took effect.
use super::Settings;

/// What a SIGHUP does with a key whose value changed in the file.
pub enum Applies {
    /// Applied at once.
    Live,
    /// Waits for a restart; the function tells whether the running and the
    /// re-read settings differ in this key.
    Restart(fn(&Settings, &Settings) -> bool),
}

/// `KEY live;`, or `KEY restart FIELD, ...;`: waits for a restart, and
/// changed when any of these fields of [`Settings`] differs.
macro_rules! keys {
    ($($key:literal $applies:ident $($($field:ident).+),*;)*) => {
        &[$(($key, keys!(@$applies $($($field).+),*))),*]
    };
    (@live) => { Applies::Live };
    (@restart $($($field:ident).+),+) => {
        Applies::Restart(|a, b| false $(|| a.$($field).+ != b.$($field).+)+)
    };
}

/// Every key of `tracing:` and `agent:`, in the file's order, and how a
/// SIGHUP applies it. A key added to the file's structs without a row here
/// fails `every_key_of_the_file_has_a_row`.
pub const KEYS: &[(&str, Applies)] = keys! {
    "tracing.enabled" live;
    "tracing.service_name" restart tracing.service_name;
    "tracing.sampling" restart tracing.sampler;
    "tracing.exporter" restart tracing.exporter;
    "tracing.resource_attributes" restart tracing.resource_attributes;
    "tracing.propagators" restart tracing.propagators;
    "tracing.redaction" restart tracing.redaction;
    "agent.targets" live;
    "agent.services" restart agent.services;
    "agent.capture" restart agent.capture_bytes, agent.ring_bytes, agent.disabled_kernel_features;
    "agent.console" restart agent.console_format;
    "agent.export" restart agent.export_queue;
    "agent.metrics_addr" restart agent.metrics_addr;
    "agent.metrics_export_interval" restart agent.metrics_export_interval;
    "agent.limits" restart agent.memory_limit, agent.idle_timeout, agent.metric_series;
    "agent.routes" restart agent.routes;
};

/// The keys a SIGHUP applies at once, as the warning names them:
/// `tracing.enabled and agent.targets`.
pub fn live_keys() -> String {
    let live: Vec<&str> = KEYS
        .iter()
        .filter(|(_, a)| matches!(a, Applies::Live))
        .map(|(k, _)| *k)
        .collect();
    live.join(" and ")
}

/// The keys whose value in `file` differs from the `running` one and that a
/// SIGHUP does not apply, in the order the file documents them.
pub fn needs_restart(running: &Settings, file: &Settings) -> Vec<&'static str> {
    let waits =
        |applies: &Applies| matches!(applies, Applies::Restart(changed) if changed(running, file));
    KEYS.iter()
        .filter(|(_, a)| waits(a))
        .map(|(key, _)| *key)
        .collect()
}

#[cfg(test)]
#[path = "reload_tests.rs"]
mod tests;
