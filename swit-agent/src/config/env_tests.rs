//! Tests of env.rs: `${VAR}` expansion and `KEY=VALUE` pairs.
use super::*;

#[test]
fn expansion() {
    let env = |k: &str| match k {
        "HOST" => Some("web-1".to_owned()),
        "EMPTY" => Some(String::new()),
        _ => None,
    };
    let cases = [
        ("plain", "plain"),
        ("${HOST}", "web-1"),
        ("a-${HOST}-b", "a-web-1-b"),
        ("${UNSET}", ""),
        ("${UNSET:-localhost}", "localhost"),
        ("${HOST:-localhost}", "web-1"),
        ("${EMPTY:-dflt}", "dflt"),
        ("${EMPTY}", ""),
        ("${UNSET:-}", ""),
        ("${UNSET:-a:b/c}", "a:b/c"),
        ("$${HOST}", "${HOST}"),
        ("cost $5", "cost $5"),
        ("$$", "$"),
        ("end$", "end$"),
        ("${HOST}${HOST}", "web-1web-1"),
    ];
    for (input, want) in cases {
        assert_eq!(expand(input, &env).as_deref(), Ok(want), "{input:?}");
    }
    for bad in ["${HOST", "${}", "${1X}", "${A B}"] {
        assert!(expand(bad, &env).is_err(), "{bad:?}");
    }
}

#[test]
fn pairs() {
    let got = parse_pairs("V", "a=1, b = x%20y ,c=k%3Dv,,").unwrap();
    let want: BTreeMap<String, String> = [("a", "1"), ("b", "x y"), ("c", "k=v")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert_eq!(got, want);
    assert_eq!(
        parse_pairs("V", "a=1,b").unwrap_err().to_string(),
        "V: \"b\" is not key=value"
    );
    assert_eq!(
        parse_pairs("V", "=1").unwrap_err().to_string(),
        "V: \"=1\" has an empty key"
    );
}

/// The list, what `apply` asks for and what the docs name are one set:
/// a variable added to `apply` alone fails here.
#[test]
fn every_variable_read_is_listed_and_documented() {
    let asked = std::cell::RefCell::new(std::collections::BTreeSet::new());
    let lookup = |k: &str| {
        asked.borrow_mut().insert(k.to_owned());
        None
    };
    apply(&mut Layered::default(), &lookup, &mut Vec::new());
    let listed: std::collections::BTreeSet<String> =
        VARIABLES.iter().map(|v| v.to_string()).collect();
    assert_eq!(*asked.borrow(), listed);
    let doc = include_str!("../../../docs/configuration.md");
    for v in VARIABLES {
        assert!(doc.contains(v), "{v} is not in docs/configuration.md");
    }
}
