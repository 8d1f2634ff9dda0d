//! [`BoxedWriter`]: "some backend" as one type, for code that picks the
//! backend at run time (a CLI, a panel with servers of several kinds).
//!
//! [`ConfigWriter`] has an associated error type, so writers of different
//! backends are different types. [`boxed`] erases it into [`WriterError`],
//! which keeps the backend's message, its causes and its [`ErrorKind`], and
//! can be downcast back to the backend's own error.
//!
//! ```
//! use smarthost_core::{boxed, BoxedWriter, ConfigWriter, Policy, RecordingWriter};
//!
//! let writers: Vec<BoxedWriter> = vec![boxed(RecordingWriter::default())];
//! for writer in &writers {
//!     let plan = writer.plan(&Policy::default())?;
//!     assert!(plan.is_empty(), "{}", writer.backend());
//! }
//! # Ok::<(), smarthost_core::WriterError>(())
//! ```

use std::fmt;

use crate::domain::DomainName;
use crate::error_kind::{Classify, ErrorKind};
use crate::plan::Plan;
use crate::policy::Policy;
use crate::transaction::{Recovered, SessionGuard};
use crate::writer::{Applied, ConfigWriter};

/// A backend's error with its type erased: shown as the backend shows it,
/// with the same causes ([`std::error::Error::source`]) and kind.
pub struct WriterError {
    kind: ErrorKind,
    inner: Box<dyn std::error::Error + Send + Sync + 'static>,
}

impl WriterError {
    /// Erases `error`, keeping its kind.
    pub fn new<E: std::error::Error + Classify + Send + Sync + 'static>(error: E) -> Self {
        WriterError {
            kind: error.kind(),
            inner: Box::new(error),
        }
    }

    /// The backend's own error, if it is an `E`.
    pub fn downcast_ref<E: std::error::Error + 'static>(&self) -> Option<&E> {
        self.inner.downcast_ref()
    }

    /// The backend's error, boxed.
    pub fn into_inner(self) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self.inner
    }
}

impl Classify for WriterError {
    fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl fmt::Debug for WriterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

impl fmt::Display for WriterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}

impl std::error::Error for WriterError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner.source()
    }
}

/// A writer of any backend, its errors erased into [`WriterError`].
pub type BoxedWriter<'a> = Box<dyn ConfigWriter<Error = WriterError> + 'a>;

/// Boxes a writer into a [`BoxedWriter`].
pub fn boxed<'a, W: ConfigWriter + 'a>(writer: W) -> BoxedWriter<'a> {
    Box::new(Erased(writer))
}

/// The adapter behind [`boxed`].
struct Erased<W>(W);

impl<W: ConfigWriter> ConfigWriter for Erased<W> {
    type Error = WriterError;

    fn backend(&self) -> &'static str {
        self.0.backend()
    }
    fn read(&self) -> Result<Policy, WriterError> {
        self.0.read().map_err(WriterError::new)
    }
    fn plan(&self, desired: &Policy) -> Result<Plan, WriterError> {
        self.0.plan(desired).map_err(WriterError::new)
    }
    fn read_for_domain(&self, domain: &DomainName) -> Result<Policy, WriterError> {
        self.0.read_for_domain(domain).map_err(WriterError::new)
    }
    fn plan_for_domain(&self, domain: &DomainName, desired: &Policy) -> Result<Plan, WriterError> {
        self.0.plan_for_domain(domain, desired).map_err(WriterError::new)
    }
    fn apply(&self, plan: &Plan) -> Result<Applied, WriterError> {
        self.0.apply(plan).map_err(WriterError::new)
    }
    fn converge(&self, desired: &Policy) -> Result<(Plan, Applied), WriterError> {
        self.0.converge(desired).map_err(WriterError::new)
    }
    fn hold(&self) -> Result<Option<SessionGuard<'_>>, WriterError> {
        self.0.hold().map_err(WriterError::new)
    }
    fn recover(&self) -> Result<Option<Recovered>, WriterError> {
        self.0.recover().map_err(WriterError::new)
    }
}

/// A boxed writer is a writer (so generic code takes a [`BoxedWriter`]).
impl<W: ConfigWriter + ?Sized> ConfigWriter for Box<W> {
    type Error = W::Error;

    fn backend(&self) -> &'static str {
        (**self).backend()
    }
    fn read(&self) -> Result<Policy, W::Error> {
        (**self).read()
    }
    fn plan(&self, desired: &Policy) -> Result<Plan, W::Error> {
        (**self).plan(desired)
    }
    fn read_for_domain(&self, domain: &DomainName) -> Result<Policy, W::Error> {
        (**self).read_for_domain(domain)
    }
    fn plan_for_domain(&self, domain: &DomainName, desired: &Policy) -> Result<Plan, W::Error> {
        (**self).plan_for_domain(domain, desired)
    }
    fn apply(&self, plan: &Plan) -> Result<Applied, W::Error> {
        (**self).apply(plan)
    }
    fn converge(&self, desired: &Policy) -> Result<(Plan, Applied), W::Error> {
        (**self).converge(desired)
    }
    fn hold(&self) -> Result<Option<SessionGuard<'_>>, W::Error> {
        (**self).hold()
    }
    fn recover(&self) -> Result<Option<Recovered>, W::Error> {
        (**self).recover()
    }
}
