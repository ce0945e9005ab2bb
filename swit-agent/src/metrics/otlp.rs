//! The families as an OTLP `ExportMetricsServiceRequest`: counters as
//! monotonic cumulative Sums since the agent started, gauges as Gauges,
//! under one resource `service.name = swit-agent` with the host's name.
use opentelemetry_proto::tonic::{
    collector::metrics::v1::ExportMetricsServiceRequest,
    common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value},
    metrics::v1::{
        AggregationTemporality, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
        ResourceMetrics, ScopeMetrics, Sum, metric, number_data_point,
    },
    resource::v1::Resource,
};

use super::family::{Family, Kind};
use crate::trace::requests::{BUCKETS_S, Hist, Instrument, RequestsSnapshot, ValueRef};

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
                scope: Some(scope()),
                metrics,
                ..ScopeMetrics::default()
            }],
            ..ResourceMetrics::default()
        }],
    }
}

fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: SERVICE_NAME.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        ..InstrumentationScope::default()
    }
}

fn point(attributes: Vec<KeyValue>, h: &Hist, start_ns: u64, now_ns: u64) -> HistogramDataPoint {
    HistogramDataPoint {
        attributes,
        start_time_unix_nano: start_ns,
        time_unix_nano: now_ns,
        count: h.count,
        sum: Some(h.sum_seconds()),
        bucket_counts: h.buckets.to_vec(),
        explicit_bounds: BUCKETS_S.to_vec(),
        ..HistogramDataPoint::default()
    }
}

fn histogram(inst: Instrument, points: Vec<HistogramDataPoint>) -> Metric {
    Metric {
        name: inst.name().into(),
        description: inst.description().into(),
        unit: "s".into(),
        data: Some(metric::Data::Histogram(Histogram {
            data_points: points,
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        })),
        ..Metric::default()
    }
}

/// Adds the request histograms to `req`: one resource per traced service
/// (`service.name`, `host.name`), cumulative since `start_ns`. The series
/// past the bound go under the agent's own resource (the first one),
/// attributed `otel.metric.overflow=true` as the SDKs do.
pub fn add_requests(
    req: &mut ExportMetricsServiceRequest,
    snap: &RequestsSnapshot,
    host: &str,
    start_ns: u64,
    now_ns: u64,
) {
    let mut services: Vec<&str> = snap
        .metrics
        .iter()
        .flat_map(|m| m.series.iter().map(|(k, _)| &*k.service))
        .collect();
    services.sort_unstable();
    services.dedup();
    for service in services {
        let metrics: Vec<Metric> = snap
            .metrics
            .iter()
            .filter_map(|m| {
                let points: Vec<_> = m
                    .series
                    .iter()
                    .filter(|(k, _)| &*k.service == service)
                    .map(|(k, h)| {
                        let attributes = m
                            .instrument
                            .keys()
                            .iter()
                            .zip(k.values.iter())
                            .filter_map(|(key, v)| match v.as_ref() {
                                ValueRef::None => None,
                                ValueRef::Str(s) => Some(text(key, s)),
                                ValueRef::Int(i) => Some(kv(key, any_value::Value::IntValue(i))),
                            })
                            .collect();
                        point(attributes, h, start_ns, now_ns)
                    })
                    .collect();
                (!points.is_empty()).then(|| histogram(m.instrument, points))
            })
            .collect();
        req.resource_metrics.push(ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![text("service.name", service), text("host.name", host)],
                ..Resource::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(scope()),
                metrics,
                ..ScopeMetrics::default()
            }],
            ..ResourceMetrics::default()
        });
    }
    let overflow: Vec<Metric> = snap
        .metrics
        .iter()
        .filter(|m| m.overflow.count > 0)
        .map(|m| {
            let attrs = vec![kv(
                "otel.metric.overflow",
                any_value::Value::BoolValue(true),
            )];
            histogram(
                m.instrument,
                vec![point(attrs, &m.overflow, start_ns, now_ns)],
            )
        })
        .collect();
    if let Some(own) = req
        .resource_metrics
        .first_mut()
        .and_then(|r| r.scope_metrics.first_mut())
    {
        own.metrics.extend(overflow);
    }
}

#[cfg(test)]
#[path = "otlp_tests.rs"]
mod tests;
