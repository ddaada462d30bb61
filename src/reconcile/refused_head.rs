//! Why S3 refused a HEAD with 400. A HEAD's error has no body, so the status alone says
//! nothing: S3 answers 400 for an SSE-C object HEADed without its key, but also for an expired
//! token, a malformed version id or a request signed for another region. The evidence is a
//! one-byte GET of the same object, whose error carries S3's code and message: only S3's
//! answer for an SSE-C object (`InvalidRequest`, "…stored using a form of Server Side
//! Encryption…") makes the object `skipped`; anything else fails it with what S3 said.

use crate::object::ObjectLocation;
use crate::store::{ObjectStore, StoreError};

use super::{ObjectReport, Outcome};

/// Whether S3's error is its answer for an SSE-C object read without the customer's key.
pub(super) fn means_customer_key(err: &StoreError) -> bool {
    matches!(err, StoreError::Service { code, message, .. }
        if code == "InvalidRequest" && message.contains("Server Side Encryption"))
}

/// The report for an object whose HEAD answered 400.
pub(super) async fn explain<S: ObjectStore>(
    store: &S,
    location: &ObjectLocation,
    report: ObjectReport,
) -> ObjectReport {
    match store.probe_read(location).await {
        Err(err) if means_customer_key(&err) => report.with_note(
            Outcome::Skipped,
            "the object is encrypted with a customer-provided key (SSE-C): HEAD answered 400 and a GET without the key was refused with InvalidRequest (\"stored using a form of Server Side Encryption\"); the function never has that key, so it can neither read nor copy the object",
        ),
        Ok(()) => {
            let mut report = report.failed(
                "HeadRefused",
                "HEAD answered 400 Bad Request, but a GET of the same object succeeded, so it is not an SSE-C object; retried",
            );
            report.transient = true;
            report
        }
        Err(err) => {
            let mut report = report.failed_store(&err);
            report.error = Some(format!(
                "HEAD answered 400 Bad Request; a GET of the object says why: {err}"
            ));
            report
        }
    }
}
