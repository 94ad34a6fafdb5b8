//! One memory budget for the whole server. Every connection's queries draw from the
//! server's pool (`--memory-limit`), each at most its share (`--query-memory`): a query
//! over its share, or one that finds the server's pool spent, spills what can spill and
//! fails with "resources exhausted" otherwise; the other connections go on.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::common::{DataFusionError, Result};
use datafusion::execution::memory_pool::{FairSpillPool, MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation};

/// The server's pool: fair to every spilling operator of every connection.
pub fn server_pool(limit: usize) -> Arc<dyn MemoryPool> {
    Arc::new(FairSpillPool::new(limit))
}

/// A connection's share of the server's pool (a connection runs one query at a time).
#[derive(Debug)]
pub struct QueryShare {
    server: Arc<dyn MemoryPool>,
    share: usize,
    used: AtomicUsize,
}

impl QueryShare {
    pub fn new(server: Arc<dyn MemoryPool>, share: usize) -> QueryShare {
        QueryShare { server, share, used: AtomicUsize::new(0) }
    }
}

impl fmt::Display for QueryShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a query's share ({} bytes) of the server's memory", self.share)
    }
}

impl MemoryPool for QueryShare {
    fn name(&self) -> &str {
        "cwkpi query share"
    }

    fn register(&self, consumer: &MemoryConsumer) {
        self.server.register(consumer)
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        self.server.unregister(consumer)
    }

    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        self.server.grow(reservation, additional);
        self.used.fetch_add(additional, Ordering::Relaxed);
    }

    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        self.server.shrink(reservation, shrink);
        self.used.fetch_sub(shrink, Ordering::Relaxed);
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> Result<()> {
        let used = self.used.load(Ordering::Relaxed);
        if used + additional > self.share {
            return Err(DataFusionError::ResourcesExhausted(format!(
                "the query needs more than its share of the server's memory ({} MiB; {} MiB in use, {} MiB more asked for by {})",
                self.share >> 20,
                used >> 20,
                additional.div_ceil(1 << 20),
                reservation.consumer().name()
            )));
        }
        self.server.try_grow(reservation, additional)?;
        self.used.fetch_add(additional, Ordering::Relaxed);
        Ok(())
    }

    fn reserved(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn memory_limit(&self) -> MemoryLimit {
        MemoryLimit::Finite(self.share)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_gets_its_share_and_the_server_its_limit() {
        let server = server_pool(100);
        let a: Arc<dyn MemoryPool> = Arc::new(QueryShare::new(Arc::clone(&server), 60));
        let b: Arc<dyn MemoryPool> = Arc::new(QueryShare::new(Arc::clone(&server), 60));
        let ra = MemoryConsumer::new("a").register(&a);
        let rb = MemoryConsumer::new("b").register(&b);
        ra.try_grow(50).unwrap();
        assert!(ra.try_grow(20).is_err(), "past its share");
        assert!(rb.try_grow(60).is_err(), "past what the server has left");
        rb.try_grow(50).unwrap();
        assert_eq!(server.reserved(), 100);
        drop(ra);
        assert_eq!(server.reserved(), 50, "freed memory goes back to the server");
        rb.try_grow(10).unwrap();
    }
}
