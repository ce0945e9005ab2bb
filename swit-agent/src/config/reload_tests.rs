//! Tests of reload.rs: every key of the file has a row, and what a reload applies.
use super::*;
use crate::config::{Overrides, file};
use serde::{Deserialize, Deserializer, de};

/// The keys serde reads in a struct of the file: its derive hands them
/// to `deserialize_struct`, which here keeps them and reads nothing.
struct Keys(&'static [&'static str]);

impl<'de> Deserializer<'de> for &mut Keys {
    type Error = de::value::Error;
    fn deserialize_any<V: de::Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not a struct"))
    }
    fn deserialize_struct<V: de::Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Self::Error> {
        self.0 = fields;
        Err(de::Error::custom("keys taken"))
    }
    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map
        enum identifier ignored_any
    }
}

fn keys<'de, T: Deserialize<'de>>(section: &str) -> Vec<String> {
    let mut k = Keys(&[]);
    let _ = T::deserialize(&mut k);
    k.0.iter().map(|f| format!("{section}.{f}")).collect()
}

#[test]
fn every_key_of_the_file_has_a_row() {
    let mut file = keys::<file::RawTracing>("tracing");
    file.extend(keys::<file::RawAgent>("agent"));
    let table: Vec<&str> = KEYS.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        table, file,
        "config/reload.rs KEYS: one row per key, in the file's order"
    );
    // A new section of the file needs its rows too.
    assert_eq!(
        keys::<file::RawConfig>("file"),
        ["file.tracing", "file.agent"]
    );
    // The SIGHUP warning names them; tests/tests/ops.rs reads that line.
    assert_eq!(live_keys(), "tracing.enabled and agent.targets");
}

fn load(yaml: &str) -> Settings {
    Settings::from_parts(Some(yaml), None, &|_| None, &Overrides::default())
        .unwrap_or_else(|e| panic!("{yaml}: {e}"))
}

const BASE: &str = "tracing:\n  sampling: { type: always_on }\nagent:\n  targets: { pids: [1] }\n";

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
