//! Tests of http.rs: error details, header names and values, gzip.
use super::*;

#[test]
fn error_details() {
    let status = RpcStatus {
        code: 3,
        message: "bad span id".into(),
    }
    .encode_to_vec();
    for (body, want) in [
        (status.as_slice(), ": bad span id"),
        (b"".as_slice(), ""),
        (
            b"upstream connect error".as_slice(),
            ": upstream connect error",
        ),
        (b"  \n".as_slice(), ""),
        (b"line\nbreak".as_slice(), ": linebreak"),
    ] {
        assert_eq!(error_detail(body), want, "{body:?}");
    }
    assert_eq!(error_detail(&[b'x'; 1000]).len(), 2 + MAX_DETAIL_CHARS);
}

#[test]
fn header_names_and_values() {
    for (k, v, ok) in [
        ("authorization", "Bearer x", true),
        ("X-Tenant", "a", true),
        ("bad key", "v", false),
        ("", "v", false),
        ("x-ok", "line\nbreak", false),
    ] {
        let got = header_map(&[(k.to_string(), v.to_string())]);
        assert_eq!(got.is_ok(), ok, "{k:?}: {v:?}");
    }
}

#[test]
fn gzip_round_trips() {
    use std::io::Read;
    let data = b"spans spans spans spans".repeat(50);
    let packed = gzip(&data).unwrap();
    assert!(packed.len() < data.len());
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(packed.as_slice())
        .read_to_end(&mut out)
        .unwrap();
    assert_eq!(out, data);
}
