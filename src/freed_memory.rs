//! Memory freed in bulk, given back to the system at once.
//!
//! The allocator (mimalloc) keeps memory freed by a thread other than the one that
//! allocated it on that thread's lists, and a thread that has ended leaves its lists to
//! be collected by a later one: the memory goes back to the system only when some thread
//! next collects, a second or more later. After freeing hundreds of megabytes decoded by
//! other threads (a table's files joined into one, a released table), the next step would
//! otherwise run with both in memory.

/// Collects every thread's freed memory now. A few milliseconds; call it after freeing a
/// large amount, not per row.
pub fn give_back() {
    // SAFETY: mi_collect only walks the allocator's own free lists.
    unsafe { libmimalloc_sys::mi_collect(true) };
}

/// Drops `value` (a catalog, an export) and gives its memory back at once.
pub fn drop_and_give_back<T>(value: T) {
    drop(value);
    give_back();
}
