//! Slowing password guessing without locking anyone out, as PostgreSQL's
//! `auth_delay` does.
//!
//! - [`AuthDelay`]: a failed login is answered only after a delay, which
//!   doubles with each failure of the same role from the same address (up
//!   to a cap) and is forgotten after a quiet spell or a success. A correct
//!   password is never refused or delayed: behind a NAT, Docker's port
//!   mapping or a shared application host, every client has one address,
//!   and one misconfigured client must not lock out the others.
//! - [`PendingLogins`]: connections from one address that have not yet
//!   authenticated are capped, and one beyond the cap is refused at once
//!   (53300). Waiting out delays in parallel is what would make guessing
//!   fast; with the cap, a guesser gets at most that many guesses per delay.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// After this long without a failure, a (address, role) pair starts over.
const QUIET: Duration = Duration::from_secs(600);
/// Pairs tracked at most; beyond it, quiet ones are forgotten first, and
/// if none is, a failure waits the longest delay.
const MAX_TRACKED: usize = 65_536;

/// Delays of failed logins; see the module documentation.
#[derive(Debug)]
pub(super) struct AuthDelay {
    first: Duration,
    max: Duration,
    failures: parking_lot::Mutex<HashMap<(IpAddr, String), Failures>>,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

impl AuthDelay {
    /// The first failure waits `first`, each further one twice the last,
    /// never more than `max`. A zero `first` never waits.
    pub(super) fn new(first: Duration, max: Duration) -> Self {
        Self {
            first,
            max: max.max(first),
            failures: parking_lot::Mutex::new(HashMap::new()),
        }
    }

    /// Counts a failed login of `role` from `address`; returns how long to
    /// wait before answering it.
    pub(super) fn failed(&self, address: IpAddr, role: &str) -> Duration {
        if self.first.is_zero() {
            return Duration::ZERO;
        }
        let now = Instant::now();
        let mut failures = self.failures.lock();
        let key = (address, role.to_owned());
        if failures.len() >= MAX_TRACKED && !failures.contains_key(&key) {
            failures.retain(|_, f| now.duration_since(f.last) < QUIET);
            if failures.len() >= MAX_TRACKED {
                return self.max;
            }
        }
        let entry = failures.entry(key).or_insert(Failures {
            count: 0,
            last: now,
        });
        if now.duration_since(entry.last) >= QUIET {
            entry.count = 0;
        }
        entry.count = entry.count.saturating_add(1);
        entry.last = now;
        let doublings = (entry.count - 1).min(31);
        self.first
            .checked_mul(1u32 << doublings)
            .map_or(self.max, |delay| delay.min(self.max))
    }

    /// A successful login of `role` from `address` forgets its failures.
    /// (Only that pair's: a guesser who holds one account cannot clear the
    /// count of another.)
    pub(super) fn succeeded(&self, address: IpAddr, role: &str) {
        self.failures.lock().remove(&(address, role.to_owned()));
    }
}

/// Connections per address that have not authenticated yet; see the module
/// documentation.
#[derive(Debug)]
pub(super) struct PendingLogins {
    limit: usize,
    counts: Arc<parking_lot::Mutex<HashMap<IpAddr, usize>>>,
}

/// One unauthenticated connection, counted until dropped.
#[derive(Debug)]
pub(super) struct PendingLogin {
    address: IpAddr,
    counts: Arc<parking_lot::Mutex<HashMap<IpAddr, usize>>>,
}

impl PendingLogins {
    /// At most `limit` per address; 0 for no cap.
    pub(super) fn new(limit: usize) -> Self {
        Self {
            limit,
            counts: Arc::new(parking_lot::Mutex::new(HashMap::new())),
        }
    }

    /// Counts a connection from `address` until it authenticates (the
    /// returned value is dropped), or `None` if the address has its limit.
    pub(super) fn begin(&self, address: IpAddr) -> Option<PendingLogin> {
        let mut counts = self.counts.lock();
        let count = counts.entry(address).or_insert(0);
        if self.limit != 0 && *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(PendingLogin {
            address,
            counts: self.counts.clone(),
        })
    }
}

impl Drop for PendingLogin {
    fn drop(&mut self) {
        let mut counts = self.counts.lock();
        if let Some(count) = counts.get_mut(&self.address) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_per_address_and_role_and_a_success_forgets_them() {
        let delay = AuthDelay::new(Duration::from_millis(100), Duration::from_millis(1000));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let waits: Vec<u128> = (0..6)
            .map(|_| delay.failed(a, "grafana").as_millis())
            .collect();
        assert_eq!(waits, vec![100, 200, 400, 800, 1000, 1000]);
        assert_eq!(delay.failed(a, "app").as_millis(), 100, "another role");
        assert_eq!(
            delay.failed(b, "grafana").as_millis(),
            100,
            "another address"
        );
        delay.succeeded(a, "grafana");
        assert_eq!(delay.failed(a, "grafana").as_millis(), 100);
        let never = AuthDelay::new(Duration::ZERO, Duration::from_secs(10));
        for _ in 0..100 {
            assert_eq!(never.failed(a, "grafana"), Duration::ZERO);
        }
    }

    #[test]
    fn pending_logins_are_capped_per_address_and_released_on_drop() {
        let pending = PendingLogins::new(2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let first = pending.begin(a).unwrap();
        let _second = pending.begin(a).unwrap();
        assert!(pending.begin(a).is_none(), "a third from one address");
        assert!(pending.begin(b).is_some(), "another address");
        drop(first);
        assert!(pending.begin(a).is_some(), "a slot freed");
        let unlimited = PendingLogins::new(0);
        let held: Vec<_> = (0..100).map(|_| unlimited.begin(a)).collect();
        assert!(held.iter().all(Option::is_some));
    }
}
