//! An [`super::ObjectStore`] wrapper that injects failures (in the style of mountpoint-s3's failure
//! client): "fail the Nth call of operation X with error E". Used by tests to prove that a
//! failure at any step leaves no partial state (e.g. no orphaned multipart upload) and is
//! reported with the right classification.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use super::StoreError;
use super::intercept::{CallHook, Intercepted, Operation};

#[derive(Debug, Default)]
struct State {
    calls: HashMap<Operation, usize>,
    faults: Vec<(Operation, usize, StoreError)>,
}

/// Fails chosen calls: "the Nth call of operation X fails with error E".
#[derive(Debug, Default)]
pub struct FaultPlan {
    state: Mutex<State>,
}

impl FaultPlan {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl CallHook for FaultPlan {
    fn before(&self, operation: Operation) -> Result<(), StoreError> {
        let mut state = self.lock();
        let call = {
            let count = state.calls.entry(operation).or_insert(0);
            *count += 1;
            *count
        };
        match state
            .faults
            .iter()
            .position(|(op, n, _)| *op == operation && *n == call)
        {
            Some(index) => Err(state.faults.remove(index).2),
            None => Ok(()),
        }
    }
}

/// Wraps a store and fails chosen calls.
pub type FaultInjectingStore<S> = Intercepted<S, FaultPlan>;

impl<S> FaultInjectingStore<S> {
    /// No faults until [`Self::fail_call`] adds some.
    pub fn new(inner: S) -> Self {
        Self::with_hook(inner, FaultPlan::default())
    }

    /// Makes the `nth` (1-based, counted from now on) call of `operation` fail with `error`.
    pub fn fail_call(&self, operation: Operation, nth: usize, error: StoreError) {
        let mut state = self.hook().lock();
        let seen = state.calls.get(&operation).copied().unwrap_or(0);
        state.faults.push((operation, seen + nth, error));
    }
}
