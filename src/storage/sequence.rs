//! Sequences: PostgreSQL's counters behind `SERIAL` and identity columns,
//! `nextval`, `currval`'s values and `setval`.
//!
//! A sequence lives in a schema beside its tables (they share one set of
//! names). As in PostgreSQL, advancing it is logged ahead: a `SequenceValue`
//! record says that values up to some point may have been handed out, and
//! the next [`LOG_AHEAD`] calls log nothing. After a crash the sequence goes
//! on from the logged point, so it skips values but never hands one out
//! twice. A value is handed out before its record is durable; whoever
//! acknowledges it waits for the ticket ([`Sequence::next_values`]).

use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use super::error::{Error, Result};
use super::journal::{Durable, Journal};
use super::record::Record;
use super::schema::{SequenceOptions, SequenceOwner};

/// How many values one logged record covers beyond the one asked for
/// (PostgreSQL's `SEQ_LOG_VALS`).
const LOG_AHEAD: u32 = 32;

/// Where a sequence stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SequenceState {
    /// The last value handed out, or the next one when not `called`.
    pub last: i64,
    pub called: bool,
}

#[derive(Debug)]
struct Counter {
    state: SequenceState,
    /// Values that the last logged record already covers.
    logged_ahead: u32,
    /// The ticket of that record: a value it covers is durable with it.
    logged: Durable<()>,
}

/// One sequence.
#[derive(Debug)]
pub struct Sequence {
    id: u64,
    name: String,
    options: SequenceOptions,
    /// Changed when its table or column is renamed.
    owner: RwLock<Option<SequenceOwner>>,
    counter: Mutex<Counter>,
    journal: Option<Arc<Journal>>,
}

impl Sequence {
    pub(super) fn new(
        id: u64,
        name: String,
        options: SequenceOptions,
        owner: Option<SequenceOwner>,
        journal: Option<Arc<Journal>>,
    ) -> Self {
        Self {
            id,
            name,
            counter: Mutex::new(Counter {
                state: SequenceState {
                    last: options.start,
                    called: false,
                },
                logged_ahead: 0,
                logged: Durable::new((), None),
            }),
            options,
            owner: RwLock::new(owner),
            journal,
        }
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn options(&self) -> &SequenceOptions {
        &self.options
    }

    /// The table column that owns it, if any.
    pub fn owner(&self) -> Option<SequenceOwner> {
        self.owner.read().clone()
    }

    /// Follows a rename of its owner's table (`table`) or column.
    pub(super) fn rename_owner(&self, table: &str, new_table: &str, columns: &[(String, String)]) {
        let mut owner = self.owner.write();
        if let Some(owner) = owner.as_mut().filter(|o| o.table == table) {
            owner.table = new_table.to_owned();
            if let Some((_, to)) = columns.iter().find(|(from, _)| *from == owner.column) {
                owner.column = to.clone();
            }
        }
    }

    pub fn state(&self) -> SequenceState {
        self.counter.lock().state
    }

    /// The next `n` values (`nextval` called `n` times), and the ticket
    /// that says when they can no longer be handed out again after a
    /// crash. All or none: past the end of a sequence that does not cycle,
    /// nothing is taken.
    pub fn next_values(&self, n: usize) -> Result<(Vec<i64>, Durable<()>)> {
        let options = &self.options;
        // A snapshot sees a sequence between changes, not inside one.
        let _change = self.journal.as_ref().map(|j| j.change());
        let mut counter = self.counter.lock();
        let mut state = counter.state;
        let mut values = Vec::with_capacity(n);
        for _ in 0..n {
            let value = if state.called {
                options
                    .after(state.last)
                    .ok_or_else(|| Error::SequenceLimit {
                        name: self.name.clone(),
                        maximum: options.increment > 0,
                        bound: if options.increment > 0 {
                            options.max
                        } else {
                            options.min
                        },
                    })?
            } else {
                state.last
            };
            state = SequenceState {
                last: value,
                called: true,
            };
            values.push(value);
        }
        let taken = u32::try_from(n).unwrap_or(u32::MAX);
        if taken <= counter.logged_ahead {
            counter.logged_ahead -= taken;
            counter.state = state;
            return Ok((values, counter.logged.again()));
        }
        // Log a point up to LOG_AHEAD values further on, short of the end.
        let mut logged = state.last;
        let mut ahead = 0;
        while ahead < LOG_AHEAD {
            match options.after(logged) {
                Some(next) => logged = next,
                None => break,
            }
            ahead += 1;
        }
        let ticket = self.log(SequenceState {
            last: logged,
            called: true,
        })?;
        counter.state = state;
        counter.logged_ahead = ahead;
        counter.logged = ticket.again();
        Ok((values, ticket))
    }

    /// `setval`: the sequence's next value follows `value` (`called`) or
    /// is `value`.
    pub fn set(&self, value: i64, called: bool) -> Result<Durable<()>> {
        let options = &self.options;
        if !(options.min..=options.max).contains(&value) {
            return Err(Error::SequenceValueOutOfBounds {
                name: self.name.clone(),
                value,
                min: options.min,
                max: options.max,
            });
        }
        let _change = self.journal.as_ref().map(|j| j.change());
        let mut counter = self.counter.lock();
        let state = SequenceState {
            last: value,
            called,
        };
        let ticket = self.log(state)?;
        counter.state = state;
        counter.logged_ahead = 0;
        counter.logged = ticket.again();
        Ok(ticket)
    }

    /// Back to its start, as `TRUNCATE ... RESTART IDENTITY` and `ALTER
    /// SEQUENCE ... RESTART` leave it: the next value is the start.
    pub fn restart(&self) -> Result<Durable<()>> {
        self.set(self.options.start, false)
    }

    /// Where recovery found the sequence.
    pub(super) fn restore(&self, state: SequenceState) {
        let mut counter = self.counter.lock();
        counter.state = state;
        counter.logged_ahead = 0;
    }

    /// What a snapshot writes, taken while no change runs: where the
    /// sequence stands. The next value is logged again, in the WAL after
    /// the snapshot, so a restart from the snapshot skips nothing and a
    /// crash after it hands out nothing twice.
    pub(super) fn snapshot_state(&self) -> SequenceState {
        let mut counter = self.counter.lock();
        counter.logged_ahead = 0;
        counter.state
    }

    /// Where a restart from the log alone would find the sequence.
    #[cfg(test)]
    fn logged_state(&self) -> SequenceState {
        let counter = self.counter.lock();
        let mut state = counter.state;
        for _ in 0..counter.logged_ahead {
            match self.options.after(state.last) {
                Some(next) => state.last = next,
                None => break,
            }
        }
        state
    }

    fn log(&self, state: SequenceState) -> Result<Durable<()>> {
        let Some(journal) = &self.journal else {
            return Ok(Durable::new((), None));
        };
        let record = Record::SequenceValue {
            id: self.id,
            last: state.last,
            called: state.called,
        };
        journal.log(&[record.encode()], ())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::storage::schema::{SequenceSpec, SequenceType};

    fn sequence(spec: SequenceSpec) -> Sequence {
        Sequence::new(
            1,
            "s".into(),
            SequenceOptions::new(&spec).unwrap(),
            None,
            None,
        )
    }

    fn next(s: &Sequence) -> Result<i64> {
        Ok(s.next_values(1)?.0[0])
    }

    #[test]
    fn counts_as_postgres_counts() {
        let s = sequence(SequenceSpec::default());
        assert_eq!(s.next_values(3).unwrap().0, vec![1, 2, 3]);
        let _ = s.set(10, true).unwrap();
        assert_eq!(next(&s).unwrap(), 11);
        let _ = s.set(10, false).unwrap();
        assert_eq!(next(&s).unwrap(), 10);
        assert!(matches!(
            s.set(0, true),
            Err(Error::SequenceValueOutOfBounds { .. })
        ));

        let down = sequence(SequenceSpec {
            data_type: Some(SequenceType::Int32),
            increment: Some(-2),
            ..SequenceSpec::default()
        });
        assert_eq!(down.next_values(2).unwrap().0, vec![-1, -3]);

        let short = sequence(SequenceSpec {
            max: Some(2),
            ..SequenceSpec::default()
        });
        assert_eq!(short.next_values(2).unwrap().0, vec![1, 2]);
        assert!(matches!(
            next(&short),
            Err(Error::SequenceLimit { bound: 2, .. })
        ));
        // All or none.
        let short = sequence(SequenceSpec {
            max: Some(2),
            ..SequenceSpec::default()
        });
        assert!(short.next_values(3).is_err());
        assert_eq!(next(&short).unwrap(), 1);

        let cycling = sequence(SequenceSpec {
            max: Some(2),
            cycle: true,
            ..SequenceSpec::default()
        });
        assert_eq!(cycling.next_values(3).unwrap().0, vec![1, 2, 1]);

        let low = sequence(SequenceSpec {
            min: Some(i64::MIN),
            start: Some(i64::MIN),
            increment: Some(-1),
            ..SequenceSpec::default()
        });
        assert_eq!(next(&low).unwrap(), i64::MIN);
        assert!(next(&low).is_err());
    }

    #[test]
    fn definitions_are_checked() {
        let reason = |spec: SequenceSpec| match SequenceOptions::new(&spec) {
            Err(Error::InvalidSequence { reason }) => reason,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            reason(SequenceSpec {
                increment: Some(0),
                ..SequenceSpec::default()
            }),
            "INCREMENT must not be zero"
        );
        assert_eq!(
            reason(SequenceSpec {
                min: Some(5),
                max: Some(3),
                ..SequenceSpec::default()
            }),
            "MINVALUE (5) must be less than MAXVALUE (3)"
        );
        assert_eq!(
            reason(SequenceSpec {
                start: Some(0),
                ..SequenceSpec::default()
            }),
            "START value (0) cannot be less than MINVALUE (1)"
        );
        assert_eq!(
            reason(SequenceSpec {
                data_type: Some(SequenceType::Int16),
                max: Some(100_000),
                ..SequenceSpec::default()
            }),
            "MAXVALUE (100000) is out of range for sequence data type smallint"
        );
    }

    proptest! {
        /// The logged point is never behind a value handed out, so a
        /// restart from it never hands one out again.
        #[test]
        fn the_logged_point_covers_every_value_handed_out(
            increment in prop_oneof![1i64..5, -5i64..-1],
            takes in prop::collection::vec(1usize..50, 1..20),
        ) {
            let s = sequence(SequenceSpec { increment: Some(increment), ..SequenceSpec::default() });
            let mut seen = Vec::new();
            for n in takes {
                seen.extend(s.next_values(n).unwrap().0);
                let restarted = sequence(SequenceSpec { increment: Some(increment), ..SequenceSpec::default() });
                restarted.restore(s.logged_state());
                let after = next(&restarted).unwrap();
                let unseen = |v: &i64| if increment > 0 { *v < after } else { *v > after };
                prop_assert!(seen.iter().all(unseen), "{after} was handed out");
            }
            prop_assert!(seen.windows(2).all(|w| w[1] == w[0] + increment));
        }
    }
}
