//! What a SIGHUP takes from a re-read file, and what waits for a restart.
//!
//! A SIGHUP applies `tracing.enabled` and `agent.targets`. The rest is
//! built into the running agent (exporter, sampler, redaction, buffers,
//! the metrics listener); an operator who edits it and sends SIGHUP is
//! told which keys wait, rather than left to think they took effect.
use super::Settings;

/// The keys whose value in `file` differs from the `running` one and that a
/// SIGHUP does not apply, in the order the file documents them.
pub fn needs_restart(running: &Settings, file: &Settings) -> Vec<&'static str> {
    let (t, u) = (&running.tracing, &file.tracing);
    let (a, b) = (&running.agent, &file.agent);
    [
        (t.service_name != u.service_name, "tracing.service_name"),
        (t.sampler != u.sampler, "tracing.sampling"),
        (t.exporter != u.exporter, "tracing.exporter"),
        (
            t.resource_attributes != u.resource_attributes,
            "tracing.resource_attributes",
        ),
        (t.propagators != u.propagators, "tracing.propagators"),
        (t.redaction != u.redaction, "tracing.redaction"),
        (a.services != b.services, "agent.services"),
        (
            (a.capture_bytes, a.ring_bytes, &a.disabled_kernel_features)
                != (b.capture_bytes, b.ring_bytes, &b.disabled_kernel_features),
            "agent.capture",
        ),
        (a.console_format != b.console_format, "agent.console"),
        (a.export_queue != b.export_queue, "agent.export"),
        (a.metrics_addr != b.metrics_addr, "agent.metrics_addr"),
        (
            a.metrics_export_interval != b.metrics_export_interval,
            "agent.metrics_export_interval",
        ),
        (
            (a.memory_limit, a.idle_timeout) != (b.memory_limit, b.idle_timeout),
            "agent.limits",
        ),
    ]
    .into_iter()
    .filter_map(|(changed, key)| changed.then_some(key))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Overrides;

    fn load(yaml: &str) -> Settings {
        Settings::from_parts(Some(yaml), None, &|_| None, &Overrides::default())
            .unwrap_or_else(|e| panic!("{yaml}: {e}"))
    }

    const BASE: &str =
        "tracing:\n  sampling: { type: always_on }\nagent:\n  targets: { pids: [1] }\n";

    #[test]
    fn targets_and_enabled_apply_the_rest_waits() {
        let base = load(BASE);
        let cases: &[(&str, &[&str])] = &[
            (BASE, &[]),
            (
                "tracing:\n  enabled: false\n  sampling: { type: always_on }\nagent:\n  targets: { pids: [2, 3] }\n",
                &[],
            ),
            (
                "tracing:\n  sampling: { type: traceidratio, rate: 0.5 }\nagent:\n  targets: { pids: [1] }\n",
                &["tracing.sampling"],
            ),
            (
                "tracing:\n  service_name: shop\n  sampling: { type: always_on }\n  exporter: { type: otlp, endpoint: \"http://127.0.0.1:4317\" }\nagent:\n  targets: { pids: [1] }\n  metrics_addr: \"127.0.0.1:9464\"\n  limits: { memory: 512MiB }\n",
                &[
                    "tracing.service_name",
                    "tracing.exporter",
                    "agent.metrics_addr",
                    "agent.limits",
                ],
            ),
            (
                "tracing:\n  sampling: { type: always_on }\nagent:\n  targets: { pids: [1] }\n  capture: { bytes: 1024 }\n",
                &["agent.capture"],
            ),
        ];
        for (yaml, want) in cases {
            assert_eq!(needs_restart(&base, &load(yaml)), *want, "{yaml}");
        }
    }
}
