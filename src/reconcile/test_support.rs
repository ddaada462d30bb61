//! What the reconcile tests over the in-memory store share: the store they count calls on
//! (with injectable faults), and the options they run with.

use std::time::Duration;

use super::Options;
use crate::apply::copy::CopySettings;
use crate::store::counting::CountingStore;
use crate::store::faults::FaultInjectingStore;
use crate::store::memory::MemoryStore;
use crate::store::server::ServerSupport;

/// The in-memory store with injectable faults and a call counter.
pub(super) type Store = CountingStore<FaultInjectingStore<MemoryStore>>;

/// Wraps `memory` for a test.
pub(super) fn store(memory: MemoryStore) -> Store {
    CountingStore::new(FaultInjectingStore::new(memory))
}

/// The in-memory store inside.
pub(super) fn memory(store: &Store) -> &MemoryStore {
    store.inner().inner()
}

/// Applying options: copies in parts above `multipart_threshold`, of `part_size`, two at a
/// time, not recorded, no deadline, on a server that does what `server` says.
pub(super) fn options(multipart_threshold: u64, part_size: u64, server: ServerSupport) -> Options {
    Options {
        dry_run: false,
        copy: CopySettings {
            multipart_threshold,
            part_size,
            parts_in_flight: 2,
            deadline_margin: Duration::from_secs(1),
            state: None,
        },
        deadline: None,
        server,
        facts: Default::default(),
    }
}
