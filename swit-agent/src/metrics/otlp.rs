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
mod tests {
    use super::*;
    use crate::metrics::{Snapshot, family::families};

    #[test]
    fn counters_are_cumulative_sums_and_gauges_gauges() {
        let s = Snapshot {
            spans: 3,
            rss_bytes: 1 << 20,
            parse_errors_by: [0, 0, 2, 0, 0],
            ..Snapshot::default()
        };
        let req = request(&families(&s), resource("h", 7), 100, 200);
        let rm = &req.resource_metrics[0];
        let attrs = &rm.resource.as_ref().unwrap().attributes;
        assert!(attrs.contains(&text("service.name", "swit-agent")));
        assert!(attrs.contains(&text("host.name", "h")));
        let m = &rm.scope_metrics[0].metrics;
        let find = |n: &str| m.iter().find(|x| x.name == n).unwrap();
        let Some(metric::Data::Sum(sum)) = &find("swit_spans").data else {
            panic!("spans is a sum")
        };
        assert!(sum.is_monotonic);
        assert_eq!(
            sum.aggregation_temporality,
            AggregationTemporality::Cumulative as i32
        );
        let p = &sum.data_points[0];
        assert_eq!((p.start_time_unix_nano, p.time_unix_nano), (100, 200));
        assert_eq!(p.value, Some(number_data_point::Value::AsInt(3)));
        let Some(metric::Data::Gauge(g)) = &find("swit_memory_rss_bytes").data else {
            panic!("rss is a gauge")
        };
        assert_eq!(
            g.data_points[0].value,
            Some(number_data_point::Value::AsInt(1 << 20))
        );
        let Some(metric::Data::Sum(pe)) = &find("swit_parse_errors").data else {
            panic!("parse errors are a sum")
        };
        let pg = pe
            .data_points
            .iter()
            .find(|p| p.attributes == vec![text("protocol", "postgresql")])
            .unwrap();
        assert_eq!(pg.value, Some(number_data_point::Value::AsInt(2)));
    }
}
