//! The OpenTelemetry Python SDK in a venv under target/otel-venv, every
//! package pinned to one version (mismatched unpinned installs break).
use std::path::PathBuf;

use crate::pyenv::Venv;

/// The version of every OpenTelemetry Python package installed.
pub const OTEL_PYTHON_VERSION: &str = "1.45.1";

const SDK: Venv = Venv {
    dir: "otel-venv",
    packages: &[
        "opentelemetry-api==1.45.1",
        "opentelemetry-sdk==1.45.1",
        "opentelemetry-exporter-otlp-proto-http==1.45.1",
    ],
    check: "import opentelemetry.sdk.trace, opentelemetry.propagate, \
            opentelemetry.exporter.otlp.proto.http.trace_exporter",
    what: "the OpenTelemetry Python SDK",
};

/// The venv's python with the OpenTelemetry SDK and its OTLP/HTTP exporter,
/// installed on first use (needs python3 and PyPI then).
pub fn python() -> PathBuf {
    SDK.python()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_package_is_pinned_to_one_version() {
        for p in super::SDK.packages {
            assert!(
                p.ends_with(&format!("=={}", super::OTEL_PYTHON_VERSION)),
                "{p}"
            );
        }
    }
}
