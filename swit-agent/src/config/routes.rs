//! `agent.routes` resolved: `http.route` patterns such as `/orders/{id}`,
//! checked when the configuration is read. The routes themselves are named
//! in `trace::route`.

/// One pattern's segment: a literal, or `{name}` (any one segment).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Lit(String),
    Param,
}

/// A validated `agent.routes` pattern such as `/orders/{id}/items`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    segs: Vec<Seg>,
}

impl Pattern {
    /// Parses a pattern; the error says what to fix, for one config line.
    pub fn parse(p: &str) -> Result<Pattern, String> {
        let Some(rest) = p.strip_prefix('/') else {
            return Err(format!("{p:?} must start with / (e.g. \"/orders/{{id}}\")"));
        };
        if p.contains(['?', '#', ' ']) {
            return Err(format!(
                "{p:?} is a path pattern: no query, fragment or space (e.g. \"/orders/{{id}}\")"
            ));
        }
        let mut segs = Vec::new();
        if !rest.is_empty() {
            for s in rest.split('/') {
                if let Some(name) = s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    if name.is_empty()
                        || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                    {
                        return Err(format!(
                            "{p:?}: {s:?} is not a placeholder; name it with letters, digits or _ (e.g. {{id}})"
                        ));
                    }
                    segs.push(Seg::Param);
                } else if s.contains(['{', '}']) {
                    return Err(format!(
                        "{p:?}: a placeholder must be a whole segment, as in /orders/{{id}}, not {s:?}"
                    ));
                } else {
                    segs.push(Seg::Lit(s.to_string()));
                }
            }
        }
        Ok(Pattern {
            text: p.to_string(),
            segs,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `path` (without its query) has the pattern's shape.
    pub fn matches(&self, path: &str) -> bool {
        let Some(rest) = path.strip_prefix('/') else {
            return false;
        };
        if rest.is_empty() {
            return self.segs.is_empty();
        }
        let mut it = rest.split('/');
        for seg in &self.segs {
            match (seg, it.next()) {
                (Seg::Lit(l), Some(s)) if l == s => {}
                (Seg::Param, Some(s)) if !s.is_empty() => {}
                _ => return false,
            }
        }
        it.next().is_none()
    }
}

/// `agent.routes` resolved: patterns for every service, patterns of named
/// services (tried first), and the bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSettings {
    pub patterns: Vec<Pattern>,
    pub services: Vec<(String, Vec<Pattern>)>,
    pub max_per_service: usize,
}

/// Series each request metric holds by default
/// (`agent.limits.metric_series`).
pub const DEFAULT_METRIC_SERIES: usize = 2000;

/// Distinct routes each service keeps before the rest fold.
pub const DEFAULT_MAX_PER_SERVICE: usize = 1000;

impl Default for RouteSettings {
    fn default() -> Self {
        RouteSettings {
            patterns: Vec::new(),
            services: Vec::new(),
            max_per_service: DEFAULT_MAX_PER_SERVICE,
        }
    }
}

#[cfg(test)]
#[path = "routes_tests.rs"]
mod tests;
