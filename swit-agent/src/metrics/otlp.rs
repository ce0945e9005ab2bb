//! The families as an OTLP `ExportMetricsServiceRequest`: counters as
//! monotonic cumulative Sums since the agent started, gauges as Gauges,
//! under one resource `service.name = swit-agent` with the host's name.
use opentelemetry_proto::tonic::{
    collector::metrics::v1::ExportMetricsServiceRequest,
    common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value},
    metrics::v1::{
        AggregationTemporality, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
        metric, number_data_point,
    },
    resource::v1::Resource,
};

use super::family::{Family, Kind};

/// The agent's own resource.
pub const SERVICE_NAME: &str = "swit-agent";

fn kv(k: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..KeyValue::default()
    }
}

fn text(k: &str, v: &str) -> KeyValue {
    kv(k, any_value::Value::StringValue(v.into()))
}

/// `service.name`, `service.version`, `host.name`, `process.pid`.
pub fn resource(host: &str, pid: u32) -> Resource {
    Resource {
        attributes: vec![
            text("service.name", SERVICE_NAME),
            text("service.version", env!("CARGO_PKG_VERSION")),
            text("host.name", host),
            kv("process.pid", any_value::Value::IntValue(i64::from(pid))),
        ],
        ..Resource::default()
    }
}

/// One request with every family; `start_ns` is when the counters began
/// (the agent's start), `now_ns` when they were read.
pub fn request(
    families: &[Family],
    resource: Resource,
    start_ns: u64,
    now_ns: u64,
) -> ExportMetricsServiceRequest {
    let metrics = families
        .iter()
        .map(|f| {
            let points = f
                .samples
                .iter()
                .map(|(label_value, n)| NumberDataPoint {
                    attributes: f
                        .label
                        .map(|l| vec![text(l, label_value)])
                        .unwrap_or_default(),
                    start_time_unix_nano: match f.kind {
                        Kind::Counter => start_ns,
                        Kind::Gauge => 0,
                    },
                    time_unix_nano: now_ns,
                    value: Some(number_data_point::Value::AsInt(
                        i64::try_from(*n).unwrap_or(i64::MAX),
                    )),
                    ..NumberDataPoint::default()
                })
                .collect();
            let data = match f.kind {
                Kind::Counter => metric::Data::Sum(Sum {
                    data_points: points,
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                    is_monotonic: true,
                }),
                Kind::Gauge => metric::Data::Gauge(Gauge {
                    data_points: points,
                }),
            };
            Metric {
                name: f.name.into(),
                description: f.help.into(),
                data: Some(data),
                ..Metric::default()
            }
        })
        .collect();
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(resource),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: SERVICE_NAME.into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..InstrumentationScope::default()
                }),
                metrics,
                ..ScopeMetrics::default()
            }],
            ..ResourceMetrics::default()
        }],
    }
}

#[cfg(test)]
#[path = "otlp_tests.rs"]
mod tests;
