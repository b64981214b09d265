//! What the proxy saw and did: counters and a request log.
//!
//! The log keeps the method, the path, the query (presigned-URL signature,
//! credential and token values replaced by `REDACTED`), `x-amz-target` and
//! `Range`; no header that carries credentials is ever recorded.

use std::collections::BTreeMap;
use std::fmt;

use crate::plan::Fault;

/// Counters of one proxy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FaultStats {
    /// The seed of the plan in force.
    pub seed: u64,
    /// Requests received.
    pub requests: u64,
    /// Requests sent on to the upstream (including those whose response a
    /// fault then damaged).
    pub forwarded: u64,
    /// Requests the upstream could not be reached for (answered `502`).
    pub upstream_errors: u64,
    /// Faults injected, by [`Fault::name`].
    pub injected: BTreeMap<String, u64>,
}

impl FaultStats {
    /// Faults injected, all kinds together.
    pub fn injected_total(&self) -> u64 {
        self.injected.values().sum()
    }

    /// Faults injected of the kind named (`status-503`, `truncate`, ...).
    pub fn count(&self, name: &str) -> u64 {
        self.injected.get(name).copied().unwrap_or(0)
    }
}

impl fmt::Display for FaultStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seed {:#018x} ({}): {} requests, {} forwarded, {} upstream errors, injected:",
            self.seed, self.seed, self.requests, self.forwarded, self.upstream_errors
        )?;
        if self.injected.is_empty() {
            return f.write_str(" none");
        }
        for (name, n) in &self.injected {
            write!(f, " {name} x{n}")?;
        }
        Ok(())
    }
}

/// One request as the proxy saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestRecord {
    /// 1-based arrival number.
    pub seq: u64,
    /// The HTTP method.
    pub method: String,
    /// Path and query, with signature, credential and token values
    /// redacted.
    pub uri: String,
    /// The `x-amz-target` header (KMS operations), if any.
    pub target: Option<String>,
    /// The `Range` header, if any.
    pub range: Option<String>,
    /// The fault injected, if any.
    pub fault: Option<Fault>,
    /// The status the client was sent (injected or the upstream's); `None`
    /// when the connection was reset instead, or while in flight.
    pub status: Option<u16>,
}

impl fmt::Display for RequestRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{} {} {}", self.seq, self.method, self.uri)?;
        if let Some(t) = &self.target {
            write!(f, " [{t}]")?;
        }
        if let Some(r) = &self.range {
            write!(f, " (range {r})")?;
        }
        match self.status {
            Some(s) => write!(f, " -> {s}")?,
            None => f.write_str(" -> (no answer)")?,
        }
        if let Some(fault) = &self.fault {
            write!(f, " (injected: {fault})")?;
        }
        Ok(())
    }
}

/// `query` with the values of signature, credential and token parameters
/// replaced by `REDACTED` (the workspace's one list and function,
/// [`sealstream_s3::redact`]).
pub(crate) fn redact_query(query: &str) -> String {
    sealstream_s3::redact::redact_query(query)
}

/// The decoded `name=value` pairs of a query string.
pub(crate) fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// Decodes `%XX` escapes; a malformed escape is kept as it is.
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_presigned_secrets() {
        let q = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F2026&X-Amz-Signature=abc&x-amz-security-token=t&partNumber=1";
        assert_eq!(
            redact_query(q),
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED&x-amz-security-token=REDACTED&partNumber=1"
        );
        assert_eq!(redact_query("uploads"), "uploads");
    }

    #[test]
    fn parses_queries() {
        assert_eq!(
            parse_query("uploadId=a%2Fb%3D&partNumber=2&uploads&bad=%zz%4"),
            [
                ("uploadId".to_owned(), "a/b=".to_owned()),
                ("partNumber".to_owned(), "2".to_owned()),
                ("uploads".to_owned(), String::new()),
                ("bad".to_owned(), "%zz%4".to_owned()),
            ]
        );
        assert!(parse_query("").is_empty());
    }

    #[test]
    fn stats_display() {
        let mut s = FaultStats {
            seed: 255,
            requests: 3,
            forwarded: 2,
            ..FaultStats::default()
        };
        assert!(s.to_string().ends_with("injected: none"));
        s.injected.insert("status-500".into(), 2);
        s.injected.insert("truncate".into(), 1);
        assert_eq!(s.injected_total(), 3);
        assert_eq!(s.count("truncate"), 1);
        assert_eq!(s.count("stall"), 0);
        assert_eq!(
            s.to_string(),
            "seed 0x00000000000000ff (255): 3 requests, 2 forwarded, 0 upstream errors, \
             injected: status-500 x2 truncate x1"
        );
    }
}
