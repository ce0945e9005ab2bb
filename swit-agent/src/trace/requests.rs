//! Request metrics (RED) under the OpenTelemetry semantic conventions:
//! duration histograms recorded from every finished exchange, whatever the
//! trace sampler kept, on the stage's thread.
//!
//! A series is found by a hash of its borrowed label values, so recording
//! allocates only when a series is born. Each metric holds at most
//! `max_series` series; what comes past that is recorded in one overflow
//! series (`otel.metric.overflow=true`, as the SDKs' cardinality limit
//! does) and counted. A store lives beside the correlator's other state
//! and is published as a [`RequestsSnapshot`] with the agent's counters;
//! the service graph's edges can be a second store of the same shape.
use std::{
    collections::hash_map::RandomState,
    hash::{BuildHasher, Hasher},
    sync::Arc,
};

use crate::capture::hash::FxHashMap;

/// The conventions' advisory bucket bounds for `http.*.request.duration`,
/// in seconds, used for rpc and db too.
pub const BUCKETS_S: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];
const BOUNDS_NS: [u64; 14] = [
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    75_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    750_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    7_500_000_000,
    10_000_000_000,
];

/// The five duration histograms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instrument {
    HttpServer,
    HttpClient,
    RpcServer,
    RpcClient,
    DbClient,
}

impl Instrument {
    pub const ALL: [Instrument; 5] = [
        Instrument::HttpServer,
        Instrument::HttpClient,
        Instrument::RpcServer,
        Instrument::RpcClient,
        Instrument::DbClient,
    ];

    /// The OpenTelemetry name.
    pub fn name(self) -> &'static str {
        match self {
            Instrument::HttpServer => "http.server.request.duration",
            Instrument::HttpClient => "http.client.request.duration",
            Instrument::RpcServer => "rpc.server.duration",
            Instrument::RpcClient => "rpc.client.duration",
            Instrument::DbClient => "db.client.operation.duration",
        }
    }

    /// The Prometheus name: dots to underscores, the unit's suffix.
    pub fn prometheus_name(self) -> &'static str {
        match self {
            Instrument::HttpServer => "http_server_request_duration_seconds",
            Instrument::HttpClient => "http_client_request_duration_seconds",
            Instrument::RpcServer => "rpc_server_duration_seconds",
            Instrument::RpcClient => "rpc_client_duration_seconds",
            Instrument::DbClient => "db_client_operation_duration_seconds",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Instrument::HttpServer => "Duration of HTTP server requests",
            Instrument::HttpClient => "Duration of HTTP client requests",
            Instrument::RpcServer => "Duration of inbound RPCs",
            Instrument::RpcClient => "Duration of outbound RPCs",
            Instrument::DbClient => "Duration of database client operations",
        }
    }

    /// The attributes of a series besides `service.name`, in order: the
    /// conventions' low-cardinality ones.
    pub fn keys(self) -> &'static [&'static str] {
        match self {
            Instrument::HttpServer => &[
                "http.request.method",
                "http.route",
                "http.response.status_code",
                "error.type",
            ],
            Instrument::HttpClient => &[
                "http.request.method",
                "http.response.status_code",
                "error.type",
                "server.address",
                "server.port",
            ],
            Instrument::RpcServer | Instrument::RpcClient => &[
                "rpc.system",
                "rpc.service",
                "rpc.method",
                "rpc.grpc.status_code",
            ],
            Instrument::DbClient => &["db.system.name", "db.operation.name", "db.collection.name"],
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The most keys an instrument has.
pub const MAX_KEYS: usize = 5;

/// A label value as recorded, borrowed from the span's attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueRef<'a> {
    /// The attribute is absent: no label.
    None,
    Str(&'a str),
    Int(i64),
}

/// A label value as held by a series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    None,
    Str(Box<str>),
    Int(i64),
}

impl Value {
    pub fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Value::None => ValueRef::None,
            Value::Str(s) => ValueRef::Str(s),
            Value::Int(i) => ValueRef::Int(*i),
        }
    }
}

impl From<ValueRef<'_>> for Value {
    fn from(v: ValueRef<'_>) -> Self {
        match v {
            ValueRef::None => Value::None,
            ValueRef::Str(s) => Value::Str(s.into()),
            ValueRef::Int(i) => Value::Int(i),
        }
    }
}

/// A cumulative histogram over [`BUCKETS_S`], in nanoseconds (integers:
/// sums stay exact, and snapshots compare).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hist {
    /// Per bucket, not cumulative; the last is past 10 s.
    pub buckets: [u64; BOUNDS_NS.len() + 1],
    pub sum_ns: u64,
    pub count: u64,
}

impl Hist {
    pub fn record(&mut self, ns: u64) {
        let i = BOUNDS_NS.partition_point(|&b| b < ns);
        self.buckets[i] += 1;
        self.sum_ns = self.sum_ns.saturating_add(ns);
        self.count += 1;
    }

    pub fn sum_seconds(&self) -> f64 {
        self.sum_ns as f64 / 1e9
    }
}

/// Who a series is about: the service, and the instrument's label values
/// in [`Instrument::keys`] order.
#[derive(Debug, PartialEq, Eq)]
pub struct SeriesKey {
    pub service: Box<str>,
    pub values: Box<[Value]>,
}

impl SeriesKey {
    fn is(&self, service: &str, values: &[ValueRef<'_>]) -> bool {
        *self.service == *service
            && self.values.len() == values.len()
            && self
                .values
                .iter()
                .zip(values)
                .all(|(a, b)| a.as_ref() == *b)
    }
}

struct Table {
    /// Hash of (service, values) to indices in `series`: collisions chain.
    index: FxHashMap<u64, Vec<u32>>,
    series: Vec<(Arc<SeriesKey>, Hist)>,
    overflow: Hist,
}

/// The recording side, owned by the correlator.
pub struct RequestMetrics {
    max_series: usize,
    hasher: RandomState,
    tables: [Table; Instrument::ALL.len()],
}

impl RequestMetrics {
    pub fn new(max_series: usize) -> Self {
        RequestMetrics {
            max_series,
            hasher: RandomState::new(),
            tables: std::array::from_fn(|_| Table {
                index: FxHashMap::default(),
                series: Vec::new(),
                overflow: Hist::default(),
            }),
        }
    }

    /// Records one exchange of `ns` nanoseconds. `values` are in
    /// [`Instrument::keys`] order.
    pub fn record(&mut self, inst: Instrument, service: &str, values: &[ValueRef<'_>], ns: u64) {
        // SipHash, keyed per run: routes and addresses come from peers.
        // One write per value, tagged so that no two keys run together.
        let mut h = self.hasher.build_hasher();
        h.write(service.as_bytes());
        for v in values {
            match v {
                ValueRef::None => h.write_u8(0),
                ValueRef::Str(s) => {
                    h.write_u8(1);
                    h.write(s.as_bytes());
                }
                ValueRef::Int(i) => h.write_u64(*i as u64 ^ (2 << 56)),
            }
        }
        let hash = h.finish();
        let t = &mut self.tables[inst.index()];
        if let Some(ids) = t.index.get(&hash)
            && let Some(&i) = ids
                .iter()
                .find(|&&i| t.series[i as usize].0.is(service, values))
        {
            t.series[i as usize].1.record(ns);
            return;
        }
        if t.series.len() >= self.max_series {
            t.overflow.record(ns);
            return;
        }
        let key = SeriesKey {
            service: service.into(),
            values: values.iter().map(|&v| v.into()).collect(),
        };
        let mut hist = Hist::default();
        hist.record(ns);
        t.index.entry(hash).or_default().push(t.series.len() as u32);
        t.series.push((Arc::new(key), hist));
    }

    /// What the exposition threads read: label values shared, counts copied.
    pub fn snapshot(&self) -> RequestsSnapshot {
        RequestsSnapshot {
            metrics: Instrument::ALL
                .iter()
                .zip(&self.tables)
                .map(|(&instrument, t)| MetricSnapshot {
                    instrument,
                    series: t.series.clone(),
                    overflow: t.overflow,
                })
                .collect(),
        }
    }

    /// Series held, over all metrics.
    pub fn held(&self) -> usize {
        self.tables.iter().map(|t| t.series.len()).sum()
    }
}

/// One metric's series at a moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricSnapshot {
    pub instrument: Instrument,
    pub series: Vec<(Arc<SeriesKey>, Hist)>,
    /// Exchanges past the series bound, recorded together.
    pub overflow: Hist,
}

/// Every request metric at a moment; empty when request metrics are off.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestsSnapshot {
    pub metrics: Vec<MetricSnapshot>,
}

#[cfg(test)]
#[path = "requests_tests.rs"]
mod tests;
