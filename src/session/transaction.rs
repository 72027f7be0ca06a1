//! PostgreSQL's transaction states for one session.
//!
//! A session is idle, in a transaction block, or in a failed block: after an
//! error inside a block every statement but `COMMIT`, `ROLLBACK` and
//! `ROLLBACK TO SAVEPOINT` fails with 25P02. Writes inside a block are staged
//! in the session's [`PendingWrites`] and applied by `COMMIT`; DDL and `SET`
//! take effect at once.

use std::sync::Arc;

use crate::query::{PendingWrites, WriteMark};

use super::error::{Error, Result};

/// Where a session stands, as ReadyForQuery reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionState {
    /// No transaction block: every statement applies on its own.
    Idle,
    /// Inside `BEGIN ... COMMIT`.
    InBlock,
    /// Inside a block in which a statement failed.
    Failed,
}

/// A transaction control statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransactionCommand {
    Begin,
    Commit,
    Rollback,
    Savepoint(String),
    Release(String),
    RollbackTo(String),
}

impl TransactionCommand {
    /// Whether the command may run in a failed block.
    pub(super) fn ends_failure(&self) -> bool {
        matches!(
            self,
            TransactionCommand::Commit
                | TransactionCommand::Rollback
                | TransactionCommand::RollbackTo(_)
        )
    }
}

/// What a transaction command did, for the protocol to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionEffect {
    /// A block began (`BEGIN`).
    Began,
    /// The block ended (`COMMIT`, `ROLLBACK`).
    Ended,
    /// The block goes on (savepoints, and commands that changed nothing).
    Continued,
}

/// A warning PostgreSQL sends as a NoticeResponse, not as an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub code: &'static str,
    pub message: String,
}

#[derive(Debug)]
struct Savepoint {
    name: String,
    mark: WriteMark,
}

/// The transaction state of one session.
#[derive(Debug)]
pub(super) struct Transaction {
    state: TransactionState,
    savepoints: Vec<Savepoint>,
    writes: Arc<PendingWrites>,
}

/// The result of a command: its tag, its effect and any warning.
pub(super) struct Applied {
    pub tag: &'static str,
    pub effect: TransactionEffect,
    pub notice: Option<Notice>,
    /// `COMMIT` of a block with staged writes: apply them, then report.
    pub commit: bool,
}

impl Transaction {
    pub(super) fn new(writes: Arc<PendingWrites>) -> Self {
        Self {
            state: TransactionState::Idle,
            savepoints: Vec::new(),
            writes,
        }
    }

    pub(super) fn state(&self) -> TransactionState {
        self.state
    }

    /// An error happened: a block becomes failed.
    pub(super) fn fail(&mut self) {
        if self.state == TransactionState::InBlock {
            self.state = TransactionState::Failed;
        }
    }

    /// Fails with 25P02 if the block has failed and `command` may not run.
    pub(super) fn check(&self, command: Option<&TransactionCommand>) -> Result<()> {
        if self.state == TransactionState::Failed && !command.is_some_and(|c| c.ends_failure()) {
            return Err(Error::TransactionAborted);
        }
        Ok(())
    }

    /// Applies a command. A `COMMIT` of a live block leaves the staged
    /// writes for the caller to apply (outside any lock), with `commit` set.
    pub(super) fn apply(&mut self, command: &TransactionCommand) -> Result<Applied> {
        use TransactionCommand as C;
        use TransactionState as S;
        let applied = |tag, effect| Applied {
            tag,
            effect,
            notice: None,
            commit: false,
        };
        let no_transaction = |tag| Applied {
            notice: Some(Notice {
                code: "25P01",
                message: "there is no transaction in progress".to_owned(),
            }),
            ..applied(tag, TransactionEffect::Ended)
        };
        self.check(Some(command))?;
        Ok(match (command, self.state) {
            (C::Begin, S::Idle) => {
                self.writes.begin();
                self.state = S::InBlock;
                applied("BEGIN", TransactionEffect::Began)
            }
            (C::Begin, _) => Applied {
                notice: Some(Notice {
                    code: "25001",
                    message: "there is already a transaction in progress".to_owned(),
                }),
                ..applied("BEGIN", TransactionEffect::Continued)
            },
            (C::Commit, S::Idle) => no_transaction("COMMIT"),
            (C::Rollback, S::Idle) => no_transaction("ROLLBACK"),
            (C::Commit, S::InBlock) => {
                self.end();
                Applied {
                    commit: true,
                    ..applied("COMMIT", TransactionEffect::Ended)
                }
            }
            // COMMIT of a failed block rolls it back, as PostgreSQL does.
            (C::Commit | C::Rollback, _) => {
                self.writes.discard();
                self.end();
                applied("ROLLBACK", TransactionEffect::Ended)
            }
            (C::Savepoint(_), S::Idle) => return Err(Error::NoTransaction("SAVEPOINT")),
            (C::Release(_), S::Idle) => return Err(Error::NoTransaction("RELEASE SAVEPOINT")),
            (C::RollbackTo(_), S::Idle) => {
                return Err(Error::NoTransaction("ROLLBACK TO SAVEPOINT"));
            }
            (C::Savepoint(name), _) => {
                let mark = self.writes.savepoint();
                self.savepoints.push(Savepoint {
                    name: name.clone(),
                    mark,
                });
                applied("SAVEPOINT", TransactionEffect::Continued)
            }
            (C::Release(name), _) => {
                let at = self.find(name)?;
                // Releasing keeps the writes; they now belong to the enclosing level.
                self.savepoints.truncate(at);
                applied("RELEASE", TransactionEffect::Continued)
            }
            (C::RollbackTo(name), _) => {
                let at = self.find(name)?;
                self.savepoints.truncate(at + 1);
                self.writes.rollback_to(self.savepoints[at].mark);
                self.state = S::InBlock;
                applied("ROLLBACK", TransactionEffect::Continued)
            }
        })
    }

    /// Opens the implicit block a multi-statement query runs in, as
    /// PostgreSQL does; `false` (and nothing opened) inside a block.
    pub(super) fn begin_implicit(&mut self) -> bool {
        if self.state != TransactionState::Idle {
            return false;
        }
        self.writes.begin();
        self.state = TransactionState::InBlock;
        true
    }

    /// Closes the implicit block: `true` when its staged writes are to be
    /// applied; after a failure they are dropped.
    pub(super) fn end_implicit(&mut self) -> bool {
        let commit = self.state == TransactionState::InBlock;
        if !commit {
            self.writes.discard();
        }
        self.end();
        commit
    }

    /// Leaves the block. The staged writes stay for `COMMIT` to take.
    fn end(&mut self) {
        self.state = TransactionState::Idle;
        self.savepoints.clear();
    }

    /// The innermost savepoint called `name`.
    fn find(&self, name: &str) -> Result<usize> {
        self.savepoints
            .iter()
            .rposition(|s| s.name == name)
            .ok_or_else(|| Error::SavepointNotFound {
                name: name.to_owned(),
            })
    }

    /// `DISCARD ALL` may not run inside a block.
    pub(super) fn check_outside(&self, command: &'static str) -> Result<()> {
        match self.state {
            TransactionState::Idle => Ok(()),
            _ => Err(Error::InTransaction(command)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(t: &mut Transaction, c: TransactionCommand) -> Result<&'static str> {
        t.apply(&c).map(|a| a.tag)
    }

    #[test]
    fn an_error_fails_the_block_until_rollback() {
        let mut t = Transaction::new(Arc::default());
        t.fail();
        assert_eq!(t.state(), TransactionState::Idle, "outside a block");
        assert_eq!(apply(&mut t, TransactionCommand::Begin).ok(), Some("BEGIN"));
        t.fail();
        assert_eq!(t.state(), TransactionState::Failed);
        assert!(matches!(t.check(None), Err(Error::TransactionAborted)));
        assert!(matches!(
            apply(&mut t, TransactionCommand::Savepoint("a".into())),
            Err(Error::TransactionAborted)
        ));
        assert_eq!(
            apply(&mut t, TransactionCommand::Commit).ok(),
            Some("ROLLBACK")
        );
        assert_eq!(t.state(), TransactionState::Idle);
    }

    #[test]
    fn rollback_to_savepoint_recovers_a_failed_block() {
        let mut t = Transaction::new(Arc::default());
        assert!(apply(&mut t, TransactionCommand::Begin).is_ok());
        assert!(apply(&mut t, TransactionCommand::Savepoint("a".into())).is_ok());
        assert!(apply(&mut t, TransactionCommand::Savepoint("b".into())).is_ok());
        t.fail();
        assert!(matches!(
            apply(&mut t, TransactionCommand::RollbackTo("c".into())),
            Err(Error::SavepointNotFound { .. })
        ));
        assert_eq!(t.state(), TransactionState::Failed);
        assert_eq!(
            apply(&mut t, TransactionCommand::RollbackTo("a".into())).ok(),
            Some("ROLLBACK")
        );
        assert_eq!(t.state(), TransactionState::InBlock);
        // "b" went with the rollback; "a" stays until released.
        assert!(apply(&mut t, TransactionCommand::Release("b".into())).is_err());
        assert_eq!(
            apply(&mut t, TransactionCommand::Release("a".into())).ok(),
            Some("RELEASE")
        );
        assert!(apply(&mut t, TransactionCommand::Release("a".into())).is_err());
    }

    #[test]
    fn commands_outside_a_block() {
        let mut t = Transaction::new(Arc::default());
        let commit = t.apply(&TransactionCommand::Commit).ok();
        assert_eq!(commit.and_then(|a| a.notice).map(|n| n.code), Some("25P01"));
        assert!(matches!(
            apply(&mut t, TransactionCommand::Savepoint("a".into())),
            Err(Error::NoTransaction("SAVEPOINT"))
        ));
        assert!(t.check_outside("DISCARD ALL").is_ok());
        assert!(apply(&mut t, TransactionCommand::Begin).is_ok());
        assert!(matches!(
            t.check_outside("DISCARD ALL"),
            Err(Error::InTransaction("DISCARD ALL"))
        ));
        let begin = t.apply(&TransactionCommand::Begin).ok();
        assert_eq!(begin.and_then(|a| a.notice).map(|n| n.code), Some("25001"));
    }
}
