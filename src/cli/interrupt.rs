//! Ctrl-C during a long command: the first asks the work to stop starting new objects (the
//! future [`first_interrupt`] returns completes) and lets those in flight finish; the second
//! ends the process at once (exit status 130). What is cut short then is safe: every write is
//! conditional, a multipart copy recorded in `COPY_STATE` is resumed by the next run, and an
//! unrecorded upload is removed by the bucket's abort-incomplete-upload lifecycle rule.

use std::future::Future;

/// Exit status of a command stopped by Ctrl-C (128 + SIGINT), as shells report it.
pub const INTERRUPTED: u8 = 130;

/// Completes at the first Ctrl-C (never, where no handler can be installed); a second Ctrl-C
/// exits the process.
pub fn first_interrupt() -> impl Future<Output = ()> {
    let (first, first_seen) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        eprintln!(
            "interrupt: finishing the objects in flight and starting no new one; Ctrl-C again to stop at once"
        );
        let _ = first.send(());
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!(
                "interrupt: stopping now; a multipart copy cut short is resumed from COPY_STATE by the next run, or its upload removed by the bucket's lifecycle rule"
            );
            std::process::exit(i32::from(INTERRUPTED));
        }
    });
    async move {
        if first_seen.await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
