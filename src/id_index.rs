//! An index of a table's ids: each id → the first row that has it.
//!
//! Built once per table and shared by the duplicate check, every child table's
//! reference check and the row keys, so nothing is looked up twice, and no step depends
//! on the order the export lists its rows in: sorted, split by year or shuffled, a
//! lookup costs the same.
//!
//! Open addressing with linear probing over an array of `u64` slots, each holding an
//! id's length, 24 bits of its hash and its row + 1 (0 is empty). At a million ids the
//! index is larger than the caches, and reading an id from the table's string column
//! costs two more cache misses (offset, then bytes), which were most of the lookup time
//! when rows came in no order. So an index that serves lookups keeps each slot's id's
//! last 8 bytes beside it: an id of up to 8 bytes (`C1000000`, most integers) is then
//! compared without reading the column, a longer one (a UUID) reads it only when length,
//! hash bits and last bytes all agree. Lookups run in batches that first prefetch their
//! slots and then probe, waiting for the memory once per batch rather than once per id.

use std::hash::BuildHasher;
use std::ops::Range;

use datafusion::arrow::array::{Array, StringArray};
// foldhash with a fixed seed: fast on short strings, and the same slots on every run.
use datafusion::common::hash_utils::RandomState as FoldHash;

/// "No row": a null or unknown key.
pub const NO_ROW: u32 = u32::MAX;

/// Lookups prefetched together: enough to keep the memory busy, few enough that the
/// slots are still in cache when probed.
const BATCH: usize = 16;

/// The low half of a slot: the row + 1.
const ROW_BITS: u64 = 0xFFFF_FFFF;

/// Ids up to this many bytes fit in a tail whole.
const TAIL_BYTES: usize = 8;

pub struct IdIndex<'a> {
    ids: &'a StringArray,
    hasher: FoldHash,
    /// Per slot: length (8 bits, at most 255), hash bits (24) and row + 1 (32) of its id;
    /// then, in an index that serves lookups, the id's last 8 bytes (fewer: padded with
    /// zeros) in the same cache line.
    slots: Vec<u64>,
    /// Words per slot: 1, or 2 with the last bytes.
    stride: usize,
    capacity: usize,
}

/// A row whose id an earlier row already has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repeat {
    pub row: u32,
    pub first: u32,
}

/// A key prepared for probing: its first slot, the word a slot holding it starts with
/// (row bits aside), its last bytes and length.
#[derive(Debug, Clone, Copy, Default)]
struct Probe {
    slot: usize,
    check: u64,
    tail: u64,
    len: usize,
}

/// The probes of a batch of rows.
type Probes = (Range<usize>, [Probe; BATCH]);

impl<'a> IdIndex<'a> {
    /// Indexes the ids of `ids` (nulls are left out), with the rows that repeat an id.
    /// `for_lookups`: other tables will look their references up here (then the index
    /// keeps the last bytes). At most `u32::MAX - 1` rows.
    pub fn build(ids: &'a StringArray, for_lookups: bool) -> (IdIndex<'a>, Vec<Repeat>) {
        // At most 60 % of the slots are used, so probe runs stay short.
        let capacity = ids.len() + ids.len() * 2 / 3 + 16;
        let stride = if for_lookups { 2 } else { 1 };
        let mut index = IdIndex { ids, hasher: FoldHash::default(), slots: vec![0; capacity * stride], stride, capacity };
        let mut repeats = Vec::new();
        let mut insert = |index: &mut IdIndex<'a>, (batch, probes): Probes| {
            for (row, probe) in batch.zip(probes).filter(|&(row, _)| ids.is_valid(row)) {
                if let Some(first) = index.insert(row as u32, &probe) {
                    repeats.push(Repeat { row: row as u32, first });
                }
            }
        };
        // Each batch is probed one batch ahead, so its slots arrive while the batch
        // before is inserted.
        let mut ahead: Option<Probes> = None;
        for batch in batches(0..ids.len()) {
            let probes = index.probe_batch(ids, batch.clone());
            if let Some(probed) = ahead.replace((batch, probes)) {
                insert(&mut index, probed);
            }
        }
        if let Some(probed) = ahead {
            insert(&mut index, probed);
        }
        (index, repeats)
    }

    /// The row of each key of `keys[first..first + found.len()]` into `found` (`NO_ROW`
    /// for a null or unknown key).
    pub fn find_rows(&self, keys: &StringArray, first: usize, found: &mut [u32]) {
        let rows = first..first + found.len();
        let mut find = |(batch, probes): Probes| {
            for (row, probe) in batch.zip(probes) {
                found[row - first] = if keys.is_valid(row) { self.find_probed(keys.value(row), &probe) } else { NO_ROW };
            }
        };
        // As in `build`: probed one batch ahead.
        let mut ahead: Option<Probes> = None;
        for batch in batches(rows) {
            if let Some(probed) = ahead.replace((batch.clone(), self.probe_batch(keys, batch))) {
                find(probed);
            }
        }
        if let Some(probed) = ahead {
            find(probed);
        }
    }

    /// The row of `key`, if indexed.
    pub fn find(&self, key: &str) -> Option<u32> {
        let row = self.find_probed(key, &self.probe(key));
        (row != NO_ROW).then_some(row)
    }

    fn probe(&self, key: &str) -> Probe {
        let hash = self.hasher.hash_one(key);
        // The hash's high bits pick the slot (multiply-shift: any number of slots), its
        // low bits are kept in the slot.
        let slot = ((u128::from(hash) * self.capacity as u128) >> 64) as usize;
        let len = key.len();
        let check = ((hash & 0xFF_FFFF) << 40) | ((len.min(255) as u64) << 32);
        Probe { slot, check, tail: tail(key), len }
    }

    /// The probes of the keys of a batch (default for a null), their slots prefetched.
    fn probe_batch(&self, keys: &StringArray, batch: Range<usize>) -> [Probe; BATCH] {
        let mut probes = [Probe::default(); BATCH];
        for (probe, row) in probes.iter_mut().zip(batch).filter(|&(_, row)| keys.is_valid(row)) {
            *probe = self.probe(keys.value(row));
            prefetch(&self.slots[probe.slot * self.stride]);
        }
        probes
    }

    fn next(&self, slot: usize) -> usize {
        if slot + 1 == self.capacity { 0 } else { slot + 1 }
    }

    /// Whether the id in `slot` (of row `row`, with the probe's length and hash bits) is `key`.
    fn holds(&self, slot: usize, row: u32, key: &str, probe: &Probe) -> bool {
        if self.stride == 2 {
            if self.slots[slot * 2 + 1] != probe.tail {
                return false;
            }
            if probe.len <= TAIL_BYTES {
                // Same length, and the whole id in the last bytes.
                return true;
            }
        }
        self.ids.value(row as usize) == key
    }

    fn find_probed(&self, key: &str, probe: &Probe) -> u32 {
        let mut slot = probe.slot;
        loop {
            let s = self.slots[slot * self.stride];
            if s == 0 {
                return NO_ROW;
            }
            let row = (s & ROW_BITS) as u32 - 1;
            if s & !ROW_BITS == probe.check && self.holds(slot, row, key, probe) {
                return row;
            }
            slot = self.next(slot);
        }
    }

    /// Adds `row` unless its id is indexed already; then returns that id's row.
    fn insert(&mut self, row: u32, probe: &Probe) -> Option<u32> {
        let key = self.ids.value(row as usize);
        let mut slot = probe.slot;
        loop {
            let s = self.slots[slot * self.stride];
            if s == 0 {
                self.slots[slot * self.stride] = probe.check | (u64::from(row) + 1);
                if self.stride == 2 {
                    self.slots[slot * 2 + 1] = probe.tail;
                }
                return None;
            }
            let first = (s & ROW_BITS) as u32 - 1;
            if s & !ROW_BITS == probe.check && self.holds(slot, first, key, probe) {
                return Some(first);
            }
            slot = self.next(slot);
        }
    }
}

/// The last 8 bytes of `key` as a number (a shorter key's bytes, padded with zeros).
fn tail(key: &str) -> u64 {
    let bytes = key.as_bytes();
    let last = &bytes[bytes.len().saturating_sub(TAIL_BYTES)..];
    let mut tail = [0u8; TAIL_BYTES];
    tail[..last.len()].copy_from_slice(last);
    u64::from_le_bytes(tail)
}

/// `rows` in consecutive batches of at most `BATCH` rows.
fn batches(rows: Range<usize>) -> impl Iterator<Item = Range<usize>> {
    let end = rows.end;
    rows.step_by(BATCH).map(move |start| start..(start + BATCH).min(end))
}

/// Asks the CPU to start loading `value`'s cache line; a hint that never faults.
#[inline(always)]
fn prefetch<T>(value: &T) {
    // SAFETY: a prefetch reads nothing the program sees and cannot fault; SSE, which it
    // needs, is part of every x86_64 CPU.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>((value as *const T).cast())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(prefix: &str, numbers: impl Iterator<Item = usize>) -> Vec<String> {
        numbers.map(|n| format!("{prefix}{n}")).collect()
    }

    /// Ids of every length around the tail's 8 bytes, some sharing their last bytes.
    fn mixed_ids() -> Vec<String> {
        let mut all = ids("C", (0..5003).map(|n| n * 7919 % 5003).filter(|n| n % 3 != 0));
        all.extend(ids("KOMMUNE-2024-", 0..300));
        all.extend(ids("X-", 0..300).into_iter().map(|s| format!("{s}-00000001")));
        all.extend(["a", "ab", "abcdefg", "abcdefgh", "abcdefghi", "zbcdefghi", "ü", "üü"].map(String::from));
        all
    }

    #[test]
    fn finds_what_a_hash_map_finds() {
        let present = mixed_ids();
        let array = StringArray::from(present.clone());
        for for_lookups in [false, true] {
            let (index, repeats) = IdIndex::build(&array, for_lookups);
            assert!(repeats.is_empty());
            let map: std::collections::HashMap<&str, u32> = present.iter().enumerate().map(|(i, s)| (s.as_str(), i as u32)).collect();
            // Every id, and keys that differ from one only in length, hash or first bytes.
            let mut keys = ids("C", 0..=5010);
            keys.extend(ids("KOMMUNE-2025-", 0..300));
            keys.extend(ids("Y-", 0..300).into_iter().map(|s| format!("{s}-00000001")));
            keys.extend(present.iter().cloned());
            keys.extend(["", "C", "C01", "\0a", "a\0", "bbcdefgh", "bcdefghi", "abcdefgh\0"].map(String::from));
            let keys = StringArray::from_iter(keys.iter().map(Some).chain([None]));
            let mut rows = vec![0; keys.len()];
            index.find_rows(&keys, 0, &mut rows);
            for (i, row) in rows.iter().enumerate() {
                let expected = keys.is_valid(i).then(|| map.get(keys.value(i)).copied()).flatten();
                assert_eq!(*row, expected.unwrap_or(NO_ROW), "lookup of key {i}");
                if keys.is_valid(i) {
                    assert_eq!(index.find(keys.value(i)), expected, "find of key {i}");
                }
            }
            // A slice of the keys is numbered from its start.
            let mut slice = vec![0; 100];
            index.find_rows(&keys, 100, &mut slice);
            assert_eq!(slice, rows[100..200]);
        }
    }

    #[test]
    fn repeated_ids_name_their_first_row_and_nulls_are_left_out() {
        let long = "0123456789-0123456789";
        let array =
            StringArray::from(vec![Some("a"), Some(long), None, Some("a"), None, Some("c"), Some("a"), Some(long), Some("")]);
        for for_lookups in [false, true] {
            let (index, repeats) = IdIndex::build(&array, for_lookups);
            assert_eq!(repeats, vec![Repeat { row: 3, first: 0 }, Repeat { row: 6, first: 0 }, Repeat { row: 7, first: 1 }]);
            assert_eq!(index.find("a"), Some(0));
            assert_eq!(index.find("c"), Some(5));
            assert_eq!(index.find(""), Some(8));
            assert_eq!(index.find("b"), None);
        }
    }

    #[test]
    fn an_empty_column_finds_nothing() {
        let array = StringArray::from(Vec::<&str>::new());
        let (index, repeats) = IdIndex::build(&array, true);
        assert!(repeats.is_empty());
        assert_eq!(index.find("a"), None);
    }

    #[test]
    fn tails_are_the_last_eight_bytes() {
        assert_eq!(tail(""), 0);
        assert_eq!(tail("a"), u64::from(b'a'));
        assert_eq!(tail("abcdefgh"), u64::from_le_bytes(*b"abcdefgh"));
        assert_eq!(tail("xabcdefgh"), u64::from_le_bytes(*b"abcdefgh"));
        // Equal tails, told apart by their lengths.
        assert_eq!(tail("a"), tail("a\0\0"));
    }
}
