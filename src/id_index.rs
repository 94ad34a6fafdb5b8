//! A table's ids: the index (each id → the first row that has it) of a table other
//! tables refer to, and the duplicate check of any other.
//!
//! The index is built once per table and shared by the duplicate check, every child
//! table's reference check and the row keys, so nothing is looked up twice, and no step
//! depends on the order the export lists its rows in: sorted, split by year or
//! shuffled, a lookup costs the same.
//!
//! Open addressing with linear probing over `u64` slots, each holding an id's length, 24
//! bits of its hash and its row + 1 (0 is empty), then the id's last 8 bytes in the same
//! cache line. At a million ids the index is larger than the caches, and reading an id
//! from the table's string column costs two more cache misses (offset, then bytes),
//! which were most of the lookup time when rows came in no order: an id of up to 8 bytes
//! (`C1000000`, most integers) is compared without reading the column, a longer one (a
//! UUID) reads it only when length, hash bits and last bytes all agree. Lookups run in
//! batches that first prefetch their slots and then probe, waiting for the memory once
//! per batch rather than once per id.
//!
//! A table no other table refers to needs no index, only its repeated ids
//! (`repeated_ids`): its rows are grouped by the hash's top bits first, and each group
//! checked in a small table that stays in cache, comparing 32 bits of their hashes and
//! reading an id only when those agree (8 bytes a row while it runs). Filling one table
//! of all 17M posting ids instead waited for memory at every row, three times as long.

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

/// Words per slot: the slot's word, then its id's last bytes.
const STRIDE: usize = 2;

pub struct IdIndex<'a> {
    ids: &'a StringArray,
    hasher: FoldHash,
    /// Per slot: length (8 bits, at most 255), hash bits (24) and row + 1 (32) of its id;
    /// then the id's last 8 bytes (fewer: padded with zeros).
    slots: Vec<u64>,
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
    /// At most `u32::MAX - 1` rows.
    pub fn build(ids: &'a StringArray) -> (IdIndex<'a>, Vec<Repeat>) {
        // At most 60 % of the slots are used, so probe runs stay short.
        let capacity = ids.len() + ids.len() * 2 / 3 + 16;
        let mut index = IdIndex { ids, hasher: FoldHash::default(), slots: written_zeros(capacity * STRIDE), capacity };
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
                found[row - first] =
                    if keys.is_valid(row) { self.find_probed(keys.value(row), &probe) } else { NO_ROW };
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
            prefetch(&self.slots[probe.slot * STRIDE]);
        }
        probes
    }

    fn next(&self, slot: usize) -> usize {
        if slot + 1 == self.capacity { 0 } else { slot + 1 }
    }

    /// Whether the id in `slot` (of row `row`, with the probe's length and hash bits) is `key`.
    fn holds(&self, slot: usize, row: u32, key: &str, probe: &Probe) -> bool {
        if self.slots[slot * STRIDE + 1] != probe.tail {
            return false;
        }
        // Same length, and the whole id in the last bytes; or compare the ids.
        probe.len <= TAIL_BYTES || self.ids.value(row as usize) == key
    }

    fn find_probed(&self, key: &str, probe: &Probe) -> u32 {
        let mut slot = probe.slot;
        loop {
            let s = self.slots[slot * STRIDE];
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
            let s = self.slots[slot * STRIDE];
            if s == 0 {
                self.slots[slot * STRIDE] = probe.check | (u64::from(row) + 1);
                self.slots[slot * STRIDE + 1] = probe.tail;
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

/// Rows per group of the duplicate check, about: a group's table (4 bytes a slot, two
/// slots a row) and its hashes then stay in the L2 cache.
const GROUP_ROWS: usize = 8 * 1024;

/// The rows of `ids` that repeat an earlier row's id (nulls left out), in row order.
pub fn repeated_ids(ids: &StringArray) -> Vec<Repeat> {
    let hasher = FoldHash::default();
    let groups = Groups::of(ids, &hasher);
    let largest = (0..groups.count()).map(|g| groups.bounds[g + 1] - groups.bounds[g]).max().unwrap_or(0);
    let mut table: Vec<u32> = vec![0; (largest * 2).next_power_of_two()];
    let mut repeats = Vec::new();
    for g in 0..groups.count() {
        let (hashes, rows) = groups.group(g);
        let mask = (rows.len() * 2).next_power_of_two() - 1;
        let table = &mut table[..=mask];
        table.fill(0);
        // A slot holds the position in the group + 1 of the first row with its id.
        for (at, (&hash, &row)) in hashes.iter().zip(rows).enumerate() {
            let mut slot = hash as usize & mask;
            loop {
                let s = table[slot] as usize;
                if s == 0 {
                    table[slot] = at as u32 + 1;
                    break;
                }
                if hashes[s - 1] == hash && ids.value(rows[s - 1] as usize) == ids.value(row as usize) {
                    repeats.push(Repeat { row, first: rows[s - 1] });
                    break;
                }
                slot = (slot + 1) & mask;
            }
        }
    }
    repeats.sort_unstable_by_key(|r| r.row);
    repeats
}

/// The non-null rows of a column grouped by the top bits of their ids' hashes (in row
/// order within a group), with the hashes' low 32 bits: enough to tell almost all ids of
/// a group apart, in two thirds of the memory of whole hashes.
struct Groups {
    hashes: Vec<u32>,
    rows: Vec<u32>,
    /// Group g is at `bounds[g]..bounds[g + 1]`.
    bounds: Vec<usize>,
}

impl Groups {
    /// Hashes every id twice (to count, then to place) rather than keep the hashes in
    /// row order too: at 17M rows the memory matters more.
    fn of(ids: &StringArray, hasher: &FoldHash) -> Groups {
        let bits = (ids.len() / GROUP_ROWS).next_power_of_two().trailing_zeros();
        let group = |hash: u64| if bits == 0 { 0 } else { (hash >> (64 - bits)) as usize };
        let valid = || (0..ids.len()).filter(|&row| ids.is_valid(row));
        let mut bounds = vec![0; (1 << bits) + 1];
        for row in valid() {
            bounds[group(hasher.hash_one(ids.value(row))) + 1] += 1;
        }
        for g in 1..bounds.len() {
            bounds[g] += bounds[g - 1];
        }
        let mut next = bounds.clone();
        let count = bounds[bounds.len() - 1];
        let (mut hashes, mut rows) = (vec![0; count], vec![0; count]);
        for row in valid() {
            let hash = hasher.hash_one(ids.value(row));
            let at = &mut next[group(hash)];
            (hashes[*at], rows[*at]) = (hash as u32, row as u32);
            *at += 1;
        }
        Groups { hashes, rows, bounds }
    }

    fn count(&self) -> usize {
        self.bounds.len() - 1
    }

    fn group(&self, g: usize) -> (&[u32], &[u32]) {
        let range = self.bounds[g]..self.bounds[g + 1];
        (&self.hashes[range.clone()], &self.rows[range])
    }
}

/// `len` zeros, written rather than mapped zero. `vec![0; len]` takes fresh pages the
/// kernel maps to its shared zero page on first read; the probes read a slot before
/// writing it, so every page then faulted a second time on the write, and a copy-on-write
/// fault in a process with threads flushes the other cores' TLBs: 18 % of the load's time
/// at scale 100. Writing the zeros first faults each page once (the very thing clippy's
/// lint would undo).
#[allow(clippy::slow_vector_initialization)]
fn written_zeros(len: usize) -> Vec<u64> {
    let mut slots = Vec::with_capacity(len);
    slots.resize(len, 0);
    slots
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

    /// Ids of every length around the tail's 8 bytes, some sharing their last bytes,
    /// enough of them for several groups of the duplicate check.
    fn mixed_ids() -> Vec<String> {
        let mut all = ids("C", (0..50_021).map(|n| n * 7919 % 50_021).filter(|n| n % 3 != 0));
        all.extend(ids("KOMMUNE-2024-", 0..300));
        all.extend(ids("X-", 0..300).into_iter().map(|s| format!("{s}-00000001")));
        all.extend(["a", "ab", "abcdefg", "abcdefgh", "abcdefghi", "zbcdefghi", "ü", "üü"].map(String::from));
        all
    }

    /// The rows that repeat an earlier row's id, with that row, by a hash map.
    fn expected_repeats(ids: &StringArray) -> Vec<Repeat> {
        let mut first: std::collections::HashMap<&str, u32> = std::collections::HashMap::new();
        (0..ids.len() as u32)
            .filter(|&row| ids.is_valid(row as usize))
            .filter_map(|row| {
                let id = ids.value(row as usize);
                let earlier = *first.entry(id).or_insert(row);
                (earlier != row).then_some(Repeat { row, first: earlier })
            })
            .collect()
    }

    #[test]
    fn finds_what_a_hash_map_finds() {
        let present = mixed_ids();
        let array = StringArray::from(present.clone());
        let (index, repeats) = IdIndex::build(&array);
        assert!(repeats.is_empty());
        let map: std::collections::HashMap<&str, u32> =
            present.iter().enumerate().map(|(i, s)| (s.as_str(), i as u32)).collect();
        // Every id, and keys that differ from one only in length, hash or first bytes.
        let mut keys = ids("C", 0..=50_030);
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

    #[test]
    fn repeated_ids_name_their_first_row_and_nulls_are_left_out() {
        let long = "0123456789-0123456789";
        let array = StringArray::from(vec![
            Some("a"),
            Some(long),
            None,
            Some("a"),
            None,
            Some("c"),
            Some("a"),
            Some(long),
            Some(""),
        ]);
        let expected = vec![Repeat { row: 3, first: 0 }, Repeat { row: 6, first: 0 }, Repeat { row: 7, first: 1 }];
        assert_eq!(expected_repeats(&array), expected);
        assert_eq!(repeated_ids(&array), expected);
        let (index, repeats) = IdIndex::build(&array);
        assert_eq!(repeats, expected);
        assert_eq!(index.find("a"), Some(0));
        assert_eq!(index.find("c"), Some(5));
        assert_eq!(index.find(""), Some(8));
        assert_eq!(index.find("b"), None);
    }

    #[test]
    fn repeats_are_found_across_groups() {
        // Every 7th id again further on, some of them twice; and nulls.
        let mut values: Vec<Option<String>> = mixed_ids().into_iter().map(Some).collect();
        let again: Vec<Option<String>> = values.iter().step_by(7).cloned().collect();
        values.extend(again.iter().cloned());
        values.extend(again.iter().step_by(3).cloned());
        values.extend([None, None]);
        let array = StringArray::from(values);
        let expected = expected_repeats(&array);
        assert!(expected.len() > 5_000);
        assert_eq!(repeated_ids(&array), expected);
        assert_eq!(IdIndex::build(&array).1, expected);
    }

    #[test]
    fn an_empty_column_finds_nothing() {
        let array = StringArray::from(Vec::<&str>::new());
        let (index, repeats) = IdIndex::build(&array);
        assert!(repeats.is_empty());
        assert!(repeated_ids(&array).is_empty());
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
