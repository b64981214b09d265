//! What to inject: faults, request matchers, rules and the seeded plan.
//!
//! A [`FaultPlan`] is an ordered list of [`Rule`]s. For every request the
//! rules are tried in order; the first one that matches *and fires* picks
//! the fault, and a request no rule fires on is forwarded unchanged.
//!
//! Random decisions (a rule's [`Rule::rate`], the choice among
//! [`Rule::one_of`] faults) are a pure function of the seed, the rule's
//! position, the request (method, path, query without the `uploadId`
//! value, `x-amz-target`) and how many times that same request was seen
//! before. Concurrent requests therefore get the same decisions whatever
//! order they arrive in, and a retry of a request is a fresh draw. The
//! counters of [`Rule::skip`], [`Rule::times`] and [`Match::nth`] count
//! arrivals, so they are exact only for requests sent one after another.

use std::collections::HashMap;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// One injected failure.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Fault {
    /// Answer with this HTTP status and an S3-style XML error body
    /// (`InternalError` for 500, `ServiceUnavailable` for 503,
    /// `InjectedFault` otherwise). The request body is read and discarded;
    /// nothing reaches the upstream.
    Status(u16),
    /// Answer `503 Slow Down` with S3's `SlowDown` XML error, the code the
    /// SDK classifies as throttling. Nothing reaches the upstream.
    SlowDown,
    /// Answer `400` with KMS's JSON `{"__type":"ThrottlingException"}`.
    /// Nothing reaches the upstream.
    KmsThrottling,
    /// Read this many bytes of the request body (fewer if it is shorter),
    /// then reset the client connection (TCP RST). Nothing reaches the
    /// upstream.
    ResetRequest {
        /// Request body bytes read before the reset.
        after_bytes: u64,
    },
    /// Forward the request and wait for the whole response, then reset the
    /// client connection without answering: the upstream did the work, the
    /// client never hears of it.
    DropResponse,
    /// Forward the request, send the response head and this many body
    /// bytes, then reset the client connection (TCP RST). Capped at the
    /// body length minus one, so something is always cut.
    ResetResponse {
        /// Response body bytes sent before the reset.
        after_bytes: u64,
    },
    /// Wait this long, then forward the request normally.
    Stall {
        /// The delay in milliseconds.
        ms: u64,
    },
    /// Forward the request, send the response head (with the upstream's
    /// `Content-Length`) and only this many body bytes, then close the
    /// connection (FIN). Capped at the body length minus one.
    Truncate {
        /// Response body bytes sent.
        keep_bytes: u64,
    },
    /// Forward the request and invert every bit of one response body byte,
    /// at `offset` modulo the body length. Length and headers are unchanged.
    FlipByte {
        /// Byte offset in the response body.
        offset: u64,
    },
    /// Answer as S3 would, but with another object: these bytes under this
    /// ETag (a swapped or replayed object, what a malicious endpoint or
    /// storage operator can serve). A `Range` of `bytes=a-b`, `bytes=a-`
    /// or `bytes=-n` gets a `206` with `Content-Range`; a range starting
    /// past the end gets S3's `416 InvalidRange`. `If-Match` and the other
    /// conditions are ignored, as such an endpoint would ignore them. A
    /// `HEAD` gets the headers only. Nothing reaches the upstream.
    Serve {
        /// The object's bytes.
        body: bytes::Bytes,
        /// The `ETag` header sent, as S3 sends it (quoted: `"abc..."`).
        etag: String,
    },
    /// Answer with this status and body (`Content-Type: application/xml`):
    /// an answer the real server cannot be made to give, such as a
    /// `200 DeleteObjects` result that refuses some keys. The request body
    /// is read and discarded; nothing reaches the upstream.
    Reply {
        /// The HTTP status.
        status: u16,
        /// The response body.
        body: bytes::Bytes,
    },
}

impl Fault {
    /// [`Fault::Serve`] with `body` (any byte container) and `etag`.
    pub fn serve(body: impl Into<bytes::Bytes>, etag: impl Into<String>) -> Self {
        Fault::Serve {
            body: body.into(),
            etag: etag.into(),
        }
    }

    /// [`Fault::Reply`] with `status` and `body`.
    pub fn reply(status: u16, body: impl Into<bytes::Bytes>) -> Self {
        Fault::Reply {
            status,
            body: body.into(),
        }
    }

    /// A short stable name, the key of [`crate::FaultStats::injected`]:
    /// `status-500`, `slow-down`, `kms-throttling`, `reset-request`,
    /// `drop-response`, `reset-response`, `stall`, `truncate`, `flip-byte`,
    /// `serve`, `reply-200`.
    pub fn name(&self) -> String {
        match self {
            Fault::Status(s) => format!("status-{s}"),
            Fault::SlowDown => "slow-down".into(),
            Fault::KmsThrottling => "kms-throttling".into(),
            Fault::ResetRequest { .. } => "reset-request".into(),
            Fault::DropResponse => "drop-response".into(),
            Fault::ResetResponse { .. } => "reset-response".into(),
            Fault::Stall { .. } => "stall".into(),
            Fault::Truncate { .. } => "truncate".into(),
            Fault::FlipByte { .. } => "flip-byte".into(),
            Fault::Serve { .. } => "serve".into(),
            Fault::Reply { status, .. } => format!("reply-{status}"),
        }
    }

    /// Whether the fault acts on the upstream's response body (and so needs
    /// a forwarded request).
    pub fn is_response_body_fault(&self) -> bool {
        matches!(
            self,
            Fault::ResetResponse { .. } | Fault::Truncate { .. } | Fault::FlipByte { .. }
        )
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Status(s) => write!(f, "HTTP {s}"),
            Fault::SlowDown => f.write_str("503 SlowDown"),
            Fault::KmsThrottling => f.write_str("400 ThrottlingException"),
            Fault::ResetRequest { after_bytes } => {
                write!(f, "reset after {after_bytes} request body bytes")
            }
            Fault::DropResponse => f.write_str("forward, then reset instead of answering"),
            Fault::ResetResponse { after_bytes } => {
                write!(f, "reset after {after_bytes} response body bytes")
            }
            Fault::Stall { ms } => write!(f, "stall {ms} ms"),
            Fault::Truncate { keep_bytes } => {
                write!(f, "truncate the response body to {keep_bytes} bytes")
            }
            Fault::FlipByte { offset } => write!(f, "flip response body byte {offset}"),
            Fault::Serve { body, etag } => {
                write!(
                    f,
                    "answer with another object ({} bytes, ETag {etag})",
                    body.len()
                )
            }
            Fault::Reply { status, body } => {
                write!(f, "answer HTTP {status} with {} given bytes", body.len())
            }
        }
    }
}

/// Which requests a [`Rule`] applies to. Every criterion set must hold; an
/// empty matcher ([`Match::any`]) matches every request.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Match {
    method: Option<String>,
    path_contains: Option<String>,
    query: Vec<(String, Option<String>)>,
    target_contains: Option<String>,
    headers: Vec<(String, String)>,
    nth: Option<u64>,
}

impl Match {
    /// Matches every request.
    pub fn any() -> Self {
        Match::default()
    }

    /// The HTTP method (`GET`, `PUT`, `POST`, `DELETE`, `HEAD`), compared
    /// without regard to case.
    #[must_use]
    pub fn method(mut self, method: impl Into<String>) -> Self {
        self.method = Some(method.into().to_ascii_uppercase());
        self
    }

    /// The URL path contains this substring (for S3: `/bucket/key`).
    #[must_use]
    pub fn path(mut self, substring: impl Into<String>) -> Self {
        self.path_contains = Some(substring.into());
        self
    }

    /// The query has a parameter of this name (`uploadId`, `partNumber`,
    /// `uploads`), whatever its value.
    #[must_use]
    pub fn query(mut self, name: impl Into<String>) -> Self {
        self.query.push((name.into(), None));
        self
    }

    /// The query has this parameter with exactly this (decoded) value
    /// (`partNumber` = `2`).
    #[must_use]
    pub fn query_eq(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((name.into(), Some(value.into())));
        self
    }

    /// The `x-amz-target` header contains this substring (KMS operations:
    /// `TrentService.GenerateDataKey`, or just `Decrypt`).
    #[must_use]
    pub fn target(mut self, substring: impl Into<String>) -> Self {
        self.target_contains = Some(substring.into());
        self
    }

    /// The request has header `name` (any case) whose value contains
    /// `substring` (`range` containing `bytes=65592-` picks one ranged GET).
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, substring: impl Into<String>) -> Self {
        self.headers
            .push((name.into().to_ascii_lowercase(), substring.into()));
        self
    }

    /// Only the proxy's `n`-th request (1-based, counting every request
    /// the proxy received, in arrival order).
    #[must_use]
    pub fn nth(mut self, n: u64) -> Self {
        self.nth = Some(n);
        self
    }

    pub(crate) fn matches(&self, req: &RequestInfo) -> bool {
        if let Some(m) = &self.method
            && !req.method.eq_ignore_ascii_case(m)
        {
            return false;
        }
        if let Some(p) = &self.path_contains
            && !req.path.contains(p.as_str())
        {
            return false;
        }
        for (name, value) in &self.query {
            let found = req
                .query
                .iter()
                .any(|(k, v)| k == name && value.as_ref().is_none_or(|want| want == v));
            if !found {
                return false;
            }
        }
        if let Some(t) = &self.target_contains
            && !req
                .target
                .as_deref()
                .is_some_and(|h| h.contains(t.as_str()))
        {
            return false;
        }
        for (name, want) in &self.headers {
            let found = req
                .headers
                .iter()
                .any(|(k, v)| k == name && v.contains(want.as_str()));
            if !found {
                return false;
            }
        }
        if let Some(n) = self.nth
            && req.seq != n
        {
            return false;
        }
        true
    }
}

/// A matcher, the faults it injects, and how often.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    matcher: Match,
    faults: Vec<Fault>,
    rate: f64,
    skip: u64,
    times: Option<u64>,
}

impl Rule {
    /// Injects `fault` into every matching request (see [`Rule::rate`],
    /// [`Rule::skip`], [`Rule::times`] to thin it out).
    pub fn new(matcher: Match, fault: Fault) -> Self {
        Rule::one_of(matcher, vec![fault])
    }

    /// Injects one of `faults`, chosen by the seed, into every matching
    /// request. An empty list never fires.
    pub fn one_of(matcher: Match, faults: Vec<Fault>) -> Self {
        Rule {
            matcher,
            faults,
            rate: 1.0,
            skip: 0,
            times: None,
        }
    }

    /// Fires on this fraction (0 to 1) of matching requests, decided by the
    /// seed. Values outside 0..=1 are clamped; NaN counts as 0.
    #[must_use]
    pub fn rate(mut self, rate: f64) -> Self {
        self.rate = if rate.is_nan() {
            0.0
        } else {
            rate.clamp(0.0, 1.0)
        };
        self
    }

    /// Lets the first `n` matching requests through before firing. Only
    /// requests that reach this rule count: a request an earlier rule fired
    /// on never does. To inject a sequence of faults, list one rule per
    /// fault, each with `times(1)`, rather than skipping.
    #[must_use]
    pub fn skip(mut self, n: u64) -> Self {
        self.skip = n;
        self
    }

    /// Fires at most `n` times in all.
    #[must_use]
    pub fn times(mut self, n: u64) -> Self {
        self.times = Some(n);
        self
    }
}

/// The seed and the rules of one proxy.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultPlan {
    seed: u64,
    rules: Vec<Rule>,
}

impl FaultPlan {
    /// A plan with no rules (every request forwarded) and this seed.
    pub fn new(seed: u64) -> Self {
        FaultPlan {
            seed,
            rules: Vec::new(),
        }
    }

    /// Forwards everything (seed 0).
    pub fn passthrough() -> Self {
        FaultPlan::new(0)
    }

    /// Appends a rule; earlier rules are tried first.
    #[must_use]
    pub fn rule(mut self, rule: Rule) -> Self {
        self.rules.push(rule);
        self
    }

    /// The seed of every random decision.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The rules, in the order they are tried.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }
}

/// A seed from the environment variable `var` (decimal, or hex with `0x`),
/// or else a fresh one from the clock and the process id. Print it with
/// the test's failure so the run can be repeated.
pub fn seed_from_env(var: &str) -> u64 {
    if let Some(seed) = std::env::var(var).ok().as_deref().and_then(parse_seed) {
        return seed;
    }
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    // Both halves of the nanosecond count feed the mix; truncation is the point.
    let low = u64::try_from(nanos & u128::from(u64::MAX)).unwrap_or(0);
    mix(low ^ u64::from(std::process::id()).rotate_left(32))
}

/// A seed written in decimal or in hex with `0x`.
pub fn parse_seed(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// What the plan looks at in a request.
#[derive(Clone, Debug, Default)]
pub(crate) struct RequestInfo {
    /// 1-based arrival number.
    pub(crate) seq: u64,
    pub(crate) method: String,
    pub(crate) path: String,
    /// Decoded query pairs, in order.
    pub(crate) query: Vec<(String, String)>,
    pub(crate) target: Option<String>,
    /// Lower-case names and values of the headers a matcher asks about.
    pub(crate) headers: Vec<(String, String)>,
}

impl RequestInfo {
    /// The identity of a request for random draws: stable across runs and
    /// retries (the per-upload `uploadId` value is left out).
    fn key(&self) -> u64 {
        let mut pairs: Vec<(&str, &str)> = self
            .query
            .iter()
            .map(|(k, v)| {
                let v = if k == "uploadId" { "" } else { v.as_str() };
                (k.as_str(), v)
            })
            .collect();
        pairs.sort_unstable();
        let mut h = Fnv::new();
        h.write(self.method.as_bytes());
        h.write(b"\0");
        h.write(self.path.as_bytes());
        for (k, v) in pairs {
            h.write(b"\0");
            h.write(k.as_bytes());
            h.write(b"=");
            h.write(v.as_bytes());
        }
        h.write(b"\0");
        h.write(self.target.as_deref().unwrap_or("").as_bytes());
        h.finish()
    }
}

/// The plan plus its counters: decides the fault of each request.
#[derive(Debug)]
pub(crate) struct Decider {
    plan: FaultPlan,
    matched: Vec<u64>,
    fired: Vec<u64>,
    seen: HashMap<u64, u64>,
}

impl Decider {
    pub(crate) fn new(plan: FaultPlan) -> Self {
        let n = plan.rules.len();
        Decider {
            plan,
            matched: vec![0; n],
            fired: vec![0; n],
            seen: HashMap::new(),
        }
    }

    pub(crate) fn seed(&self) -> u64 {
        self.plan.seed
    }

    pub(crate) fn decide(&mut self, req: &RequestInfo) -> Option<Fault> {
        let key = req.key();
        let seen = self.seen.entry(key).or_insert(0);
        let occurrence = *seen;
        *seen += 1;
        let seed = self.plan.seed;
        for (i, rule) in self.plan.rules.iter().enumerate() {
            if rule.faults.is_empty() || !rule.matcher.matches(req) {
                continue;
            }
            let (Some(matched), Some(fired)) = (self.matched.get_mut(i), self.fired.get_mut(i))
            else {
                continue;
            };
            *matched += 1;
            if *matched <= rule.skip || rule.times.is_some_and(|t| *fired >= t) {
                continue;
            }
            let index = u64::try_from(i).unwrap_or(u64::MAX);
            let draw = mix(seed ^ mix(key ^ mix(occurrence ^ mix(index))));
            if rule.rate < 1.0 && unit(draw) >= rule.rate {
                continue;
            }
            let len = u64::try_from(rule.faults.len()).unwrap_or(u64::MAX);
            let pick = usize::try_from(mix(draw) % len).unwrap_or(0);
            let fault = rule.faults.get(pick)?.clone();
            *fired += 1;
            return Some(fault);
        }
        None
    }
}

/// SplitMix64's finalizer: a bijective 64-bit mix.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A uniform draw in [0, 1) from the top 53 bits.
fn unit(x: u64) -> f64 {
    const SCALE: f64 = 1.0 / (1u64 << 53) as f64;
    #[allow(clippy::cast_precision_loss)] // 53 bits fit an f64 exactly
    let top = (x >> 11) as f64;
    top * SCALE
}

/// FNV-1a, 64 bits.
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    fn req(seq: u64, method: &str, path: &str, query: &[(&str, &str)]) -> RequestInfo {
        RequestInfo {
            seq,
            method: method.into(),
            path: path.into(),
            query: query
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            target: None,
            headers: Vec::new(),
        }
    }

    #[test]
    fn matchers() {
        let put = req(3, "PUT", "/b/k", &[("partNumber", "2"), ("uploadId", "u")]);
        assert!(Match::any().matches(&put));
        assert!(Match::any().method("put").matches(&put));
        assert!(!Match::any().method("GET").matches(&put));
        assert!(Match::any().path("/k").matches(&put));
        assert!(!Match::any().path("/other").matches(&put));
        assert!(Match::any().query("uploadId").matches(&put));
        assert!(Match::any().query_eq("partNumber", "2").matches(&put));
        assert!(!Match::any().query_eq("partNumber", "3").matches(&put));
        assert!(!Match::any().query("uploads").matches(&put));
        assert!(Match::any().nth(3).matches(&put));
        assert!(!Match::any().nth(2).matches(&put));
        assert!(!Match::any().target("Decrypt").matches(&put));
        let kms = RequestInfo {
            target: Some("TrentService.Decrypt".into()),
            ..req(1, "POST", "/", &[])
        };
        assert!(Match::any().target("Decrypt").matches(&kms));
        assert!(!Match::any().target("GenerateDataKey").matches(&kms));
        let ranged = RequestInfo {
            headers: vec![("range".into(), "bytes=100-199".into())],
            ..req(1, "GET", "/b/k", &[])
        };
        assert!(Match::any().header("Range", "bytes=100-").matches(&ranged));
        assert!(!Match::any().header("range", "bytes=0-").matches(&ranged));
        assert!(!Match::any().header("if-match", "").matches(&ranged));
    }

    #[test]
    fn skip_and_times() {
        let plan = FaultPlan::new(1).rule(
            Rule::new(Match::any().method("GET"), Fault::Status(500))
                .skip(1)
                .times(2),
        );
        let mut d = Decider::new(plan);
        let got: Vec<bool> = (1..=6)
            .map(|i| d.decide(&req(i, "GET", "/x", &[])).is_some())
            .collect();
        assert_eq!(got, [false, true, true, false, false, false]);
        assert_eq!(d.decide(&req(7, "PUT", "/x", &[])), None);
    }

    #[test]
    fn first_firing_rule_wins() {
        let plan = FaultPlan::new(1)
            .rule(Rule::new(Match::any().nth(2), Fault::SlowDown))
            .rule(Rule::new(Match::any(), Fault::Status(503)).times(1));
        let mut d = Decider::new(plan);
        assert_eq!(d.decide(&req(1, "GET", "/", &[])), Some(Fault::Status(503)));
        assert_eq!(d.decide(&req(2, "GET", "/", &[])), Some(Fault::SlowDown));
        assert_eq!(d.decide(&req(3, "GET", "/", &[])), None);
    }

    fn draws(seed: u64, rate: f64, n: u64) -> Vec<Option<Fault>> {
        let faults = vec![Fault::Status(500), Fault::Status(503), Fault::SlowDown];
        let plan = FaultPlan::new(seed).rule(Rule::one_of(Match::any(), faults).rate(rate));
        let mut d = Decider::new(plan);
        (1..=n)
            .map(|i| d.decide(&req(i, "GET", &format!("/obj/{}", i % 50), &[])))
            .collect()
    }

    #[test]
    fn rates() {
        assert!(draws(7, 0.0, 1000).iter().all(Option::is_none));
        assert!(draws(7, 1.0, 1000).iter().all(Option::is_some));
        let fired = draws(7, 0.1, 10_000).iter().flatten().count();
        assert!((800..1200).contains(&fired), "{fired} of 10000 at rate 0.1");
        let all = draws(7, 1.0, 3000);
        for f in [Fault::Status(500), Fault::Status(503), Fault::SlowDown] {
            let n = all.iter().flatten().filter(|g| **g == f).count();
            assert!((800..1200).contains(&n), "{f}: {n} of 3000");
        }
    }

    #[test]
    fn seeded_draws_repeat_and_differ() {
        assert_eq!(draws(42, 0.3, 500), draws(42, 0.3, 500));
        assert_ne!(draws(42, 0.3, 500), draws(43, 0.3, 500));
    }

    #[test]
    fn draws_ignore_arrival_order_and_upload_id() {
        let plan = FaultPlan::new(9).rule(Rule::new(Match::any(), Fault::Status(500)).rate(0.5));
        let parts: Vec<RequestInfo> = (1..=40)
            .map(|p| {
                req(
                    p,
                    "PUT",
                    "/b/k",
                    &[("partNumber", &p.to_string()), ("uploadId", "first")],
                )
            })
            .collect();
        let mut d = Decider::new(plan.clone());
        let forward: Vec<_> = parts.iter().map(|r| d.decide(r)).collect();
        let mut d = Decider::new(plan);
        let mut backward: Vec<_> = parts
            .iter()
            .rev()
            .map(|r| {
                let mut r = r.clone();
                r.query[1].1 = "second".into();
                d.decide(&r)
            })
            .collect();
        backward.reverse();
        assert_eq!(forward, backward);
        assert!(forward.iter().any(Option::is_some) && forward.iter().any(Option::is_none));
    }

    #[test]
    fn retries_are_fresh_draws() {
        let plan = FaultPlan::new(5).rule(Rule::new(Match::any(), Fault::Status(500)).rate(0.5));
        let mut d = Decider::new(plan);
        let same: Vec<_> = (1..=64)
            .map(|i| d.decide(&req(i, "GET", "/same", &[])).is_some())
            .collect();
        assert!(same.iter().any(|f| *f) && same.iter().any(|f| !*f));
    }

    #[test]
    fn rate_clamps() {
        let r = Rule::new(Match::any(), Fault::SlowDown);
        assert_eq!(r.clone().rate(f64::NAN).rate, 0.0);
        assert_eq!(r.clone().rate(2.0).rate, 1.0);
        assert_eq!(r.rate(-1.0).rate, 0.0);
    }

    #[test]
    fn seeds_parse() {
        assert_eq!(parse_seed("42"), Some(42));
        assert_eq!(parse_seed(" 0x2a\n"), Some(42));
        assert_eq!(parse_seed("0XFFFFFFFFFFFFFFFF"), Some(u64::MAX));
        assert_eq!(parse_seed("forty-two"), None);
        assert_eq!(parse_seed(""), None);
    }
}
