//! Chooses and builds the sink the settings ask for.
use std::{io, sync::Arc};

use super::{
    SpanSink,
    console::PrettySink,
    otlp::{OtlpCounters, OtlpError, OtlpOptions, OtlpProtocol, OtlpSink, OtlpTls},
    otlp_json::OtlpJsonSink,
    redact::RedactingSink,
};
use crate::config::{ConsoleFormat, ExporterKind, Protocol, Settings};

/// The sink, and the OTLP counters when it sends to a collector.
pub struct BuiltSink {
    pub sink: Box<dyn SpanSink>,
    pub otlp: Option<Arc<OtlpCounters>>,
    /// For the startup log: where spans go.
    pub description: String,
}

/// The OTLP options for `otlp` and `jaeger` exporters (Jaeger's collector
/// takes OTLP natively).
pub fn otlp_options(settings: &Settings) -> OtlpOptions {
    let e = &settings.tracing.exporter;
    OtlpOptions {
        endpoint: e.endpoint.clone(),
        protocol: match e.protocol {
            Protocol::Grpc => OtlpProtocol::Grpc,
            Protocol::HttpProtobuf => OtlpProtocol::HttpProtobuf,
        },
        headers: e
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        timeout: e.timeout,
        gzip: e.gzip,
        tls: OtlpTls {
            ca_file: e.tls.ca_file.clone(),
            cert_file: e.tls.cert_file.clone(),
            key_file: e.tls.key_file.clone(),
            insecure: e.tls.insecure,
        },
        // One bound for both places spans wait: the export queue and, while
        // the collector is away, the retry buffer.
        retry_buffer_spans: settings.agent.export_queue,
        retry_buffer_bytes: settings.agent.span_queue_bytes(),
        ..OtlpOptions::default()
    }
}

/// The sink the settings ask for, behind the redaction policy.
pub fn build(settings: &Settings) -> Result<BuiltSink, OtlpError> {
    let mut built = build_inner(settings)?;
    built.sink = Box::new(RedactingSink::new(&settings.tracing.redaction, built.sink));
    Ok(built)
}

fn build_inner(settings: &Settings) -> Result<BuiltSink, OtlpError> {
    let e = &settings.tracing.exporter;
    match e.kind {
        ExporterKind::Console => Ok(match settings.agent.console_format {
            ConsoleFormat::Pretty => BuiltSink {
                sink: Box::new(PrettySink::new(io::stdout())),
                otlp: None,
                description: "the console".into(),
            },
            ConsoleFormat::OtlpJson => BuiltSink {
                sink: Box::new(OtlpJsonSink::new(io::stdout())),
                otlp: None,
                description: "the console as OTLP/JSON".into(),
            },
        }),
        ExporterKind::Otlp | ExporterKind::Jaeger => {
            let sink = OtlpSink::new(otlp_options(settings))?;
            let proto = match e.protocol {
                Protocol::Grpc => "grpc",
                Protocol::HttpProtobuf => "http/protobuf",
            };
            Ok(BuiltSink {
                otlp: Some(sink.counters()),
                sink: Box::new(sink),
                description: format!("OTLP {proto} {}", e.endpoint),
            })
        }
    }
}
