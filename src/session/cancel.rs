//! Cancelling a session's running statement: the handle other connections
//! use, and the row stream that ends once its statement is cancelled or its
//! `statement_timeout` passes.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::error::DataFusionError;
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream};
use futures::Stream;
use parking_lot::Mutex;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use super::error::Error;

/// Cancels the statement a session is running; cloned into the registry
/// that cancel requests from other connections look in.
#[derive(Debug, Clone, Default)]
pub struct Canceller {
    pub(super) current: Arc<Mutex<CancellationToken>>,
}

impl Canceller {
    /// Cancels the running statement, if any. A session between statements
    /// is not affected: the next statement starts afresh.
    pub fn cancel(&self) {
        self.current.lock().cancel();
    }

    /// A fresh token for a statement that starts now.
    pub(super) fn start(&self) -> CancellationToken {
        let token = CancellationToken::new();
        *self.current.lock() = token.clone();
        token
    }
}

/// A row stream that ends in an error once its statement is cancelled or its
/// deadline passes.
pub(super) struct Interruptible {
    inner: SendableRecordBatchStream,
    deadline: Option<Pin<Box<Sleep>>>,
    cancelled: Pin<Box<WaitForCancellationFutureOwned>>,
    ended: bool,
}

impl Interruptible {
    pub(super) fn new(
        inner: SendableRecordBatchStream,
        deadline: Option<Instant>,
        token: CancellationToken,
    ) -> Self {
        Self {
            inner,
            deadline: deadline.map(|d| Box::pin(tokio::time::sleep_until(d))),
            cancelled: Box::pin(token.cancelled_owned()),
            ended: false,
        }
    }
}

impl Stream for Interruptible {
    type Item = datafusion::error::Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        let interrupted = if self.cancelled.as_mut().poll(cx).is_ready() {
            Some(Error::Canceled)
        } else if let Some(sleep) = self.deadline.as_mut()
            && sleep.as_mut().poll(cx).is_ready()
        {
            Some(Error::StatementTimeout)
        } else {
            None
        };
        if let Some(error) = interrupted {
            self.ended = true;
            return Poll::Ready(Some(Err(DataFusionError::External(Box::new(error)))));
        }
        self.inner.as_mut().poll_next(cx)
    }
}

impl RecordBatchStream for Interruptible {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }
}
